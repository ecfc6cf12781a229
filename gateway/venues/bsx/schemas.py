"""BSX wire types (seed 001 and the venue's official SDK), one pre-built decoder each.

Amounts on the wire are human decimal strings ("65000.5"); inside the
signature they are e18 integers. Times are nanoseconds as strings. Field
names are the venue's own. What the excerpts leave open and we chose (kept
here so the adapter and the simulator change together):

- WS_PATH "/ws"; the pong reply `{"channel":"pong","type":"pong"}`;
- GET /order?order_id= answers one order (the "Get an order" struct);
- error codes besides 16 follow the gRPC numbering BSX's 16 comes from
  (3 invalid argument, 5 not found, 6 already exists, 9 failed precondition);
- cancel_reason beyond user / stp / post only: "ioc", "fok", "market".
"""
from __future__ import annotations

import msgspec

from gateway.eip712 import DOMAIN_TYPE

WS_PATH = "/ws"
ORDERS_CHANNEL = "orders"
AUTH_CHANNEL = "auth"

CODE_INVALID = 3
CODE_NOT_FOUND = 5
CODE_EXISTS = 6
CODE_PRECONDITION = 9
CODE_UNAUTHENTICATED = 16

ORDER_TYPE = {"LIMIT": 0, "MARKET": 1, "STOP": 2}
ORDER_SIDE = {"BUY": 0, "SELL": 1}
CLIENT_ORDER_ID_MAX = 32
NONCE_MAX_AGE_NS = 600 * 10**9

# statuses (seed): PENDING, OPEN, DONE, STOP_ACCEPTED
PENDING, OPEN, DONE, STOP_ACCEPTED = "PENDING", "OPEN", "DONE", "STOP_ACCEPTED"
# cancel_reason values
CANCEL_USER, CANCEL_STP, CANCEL_POST_ONLY = "user", "stp", "post only"

ORDER_FIELDS = [
    {"name": "sender", "type": "address"},
    {"name": "size", "type": "uint128"},
    {"name": "price", "type": "uint128"},
    {"name": "nonce", "type": "uint64"},
    {"name": "productIndex", "type": "uint8"},
    {"name": "orderSide", "type": "uint8"},
]


def eip712_types() -> dict[str, list[dict[str, str]]]:
    return {
        "EIP712Domain": DOMAIN_TYPE,
        "Order": ORDER_FIELDS,
    }


# requests (field order is the SDK's)

class CreateOrder(msgspec.Struct, omit_defaults=False):
    side: str
    type: int
    product_index: int
    price: str
    size: str
    post_only: bool
    reduce_only: bool
    time_in_force: str
    expired_at: int
    nonce: int  # above 2**53: a JSON integer, never a double
    signature: str
    client_order_id: str | None = None
    stop_price: str | None = None


class CancelRequest(msgspec.Struct):
    order_id: str | None = None
    nonce: int | None = None
    client_order_id: str | None = None


class CancelOrders(msgspec.Struct):
    product_ids: list[str] | None = None
    order_ids: list[str] | None = None
    nonces: list[int] | None = None


class CancelAllRequest(msgspec.Struct):
    product_id: str


class BatchOp(msgspec.Struct, omit_defaults=True):
    op_type: str  # CREATE | CANCEL | CANCEL_BULK | CANCEL_ALL
    create_order_request: CreateOrder | None = None
    cancel_request: CancelRequest | None = None
    cancel_orders_request: CancelOrders | None = None
    cancel_all_orders_request: CancelAllRequest | None = None


class Batch(msgspec.Struct):
    data: list[BatchOp]


# replies and stream messages

class Trade(msgspec.Struct):
    id: str
    price: str
    size: str
    liquidity_indicator: str = ""  # MAKER | TAKER
    time: str = "0"
    funding_payment: str = "0"
    trading_fee: str = "0"
    sequencer_fee: str = "0"


class Order(msgspec.Struct):
    id: str
    product_id: str
    side: str
    type: str
    status: str
    price: str
    size: str
    nonce: str | int  # a string in the stream, an integer in requests: both accepted
    avg_price: str = "0"
    cancel_reason: str = ""
    cancel_reject_reason: str = ""
    cancel_requested: bool = False
    cancel_requested_at: str = "0"
    client_order_id: str | None = ""
    created_at_ts: str = "0"
    filled_fees: str = "0"
    filled_size: str = "0"
    initial_margin: str = "0"
    is_liquidation: bool = False
    last_trades: list[Trade] | None = None  # absent on snapshots and cancels
    order_stop_type: str = "STOP_NONE"
    post_only: bool = False
    reduce_only: bool = False
    reject_reason: str = ""
    sender: str = ""
    stop_price: str = "0"
    stp: str = "CANCEL_TAKER"
    time_in_force: str = "GTC"
    updated_at: str = "0"


class CancelResult(msgspec.Struct):
    order_id: str | None = None
    id: str | None = None
    nonce: str | int | None = None
    client_order_id: str | None = None


class CancelRequested(msgspec.Struct):
    cancel_requested_orders: list[CancelResult] = []


class BatchResult(msgspec.Struct):
    code: int = 0
    message: str = ""
    create_order_response: Order | None = None
    cancel_response: CancelResult | None = None
    cancel_orders_response: CancelRequested | None = None


class BatchReply(msgspec.Struct):
    data: list[BatchResult]


class Error(msgspec.Struct):
    code: int = 0
    message: str = ""


class ChainConfig(msgspec.Struct):
    name: str
    version: str
    chain_id: int | str
    verifying_contract: str


class ChainConfigs(msgspec.Struct):
    main: ChainConfig


class ApiKey(msgspec.Struct):
    api_key: str
    sender: str = ""
    signer: str = ""
    name: str = ""
    expired_at: str = "0"
    api_secret: str = ""  # never logged


class ApiKeys(msgspec.Struct):
    api_keys: list[ApiKey] = []


class WsMessage(msgspec.Struct):
    """Any inbound frame: auth reply, snapshot, update, error, pong."""
    channel: str = ""
    type: str = ""
    data: list[Order] | None = None
    timestamp: str = ""
    message: str = ""
    code: int = 0


order_decoder = msgspec.json.Decoder(Order)
orders_decoder = msgspec.json.Decoder(list[Order])
cancel_result_decoder = msgspec.json.Decoder(CancelResult)
cancel_requested_decoder = msgspec.json.Decoder(CancelRequested)
batch_reply_decoder = msgspec.json.Decoder(BatchReply)
error_decoder = msgspec.json.Decoder(Error)
chain_configs_decoder = msgspec.json.Decoder(ChainConfigs)
api_keys_decoder = msgspec.json.Decoder(ApiKeys)
ws_decoder = msgspec.json.Decoder(WsMessage)
create_decoder = msgspec.json.Decoder(CreateOrder)
cancel_orders_decoder = msgspec.json.Decoder(CancelOrders)
batch_decoder = msgspec.json.Decoder(Batch)
encoder = msgspec.json.Encoder()
