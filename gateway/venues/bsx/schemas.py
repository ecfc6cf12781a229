"""BSX wire types (seed 001 and the venue's official SDK), one pre-built decoder each.

Amounts on the wire are human decimal strings ("65000.5"); inside the
signature they are e18 integers. Times are nanoseconds as strings. Field
names are the venue's own.

Checked against the official Python SDK (bsx-sdk-py 0.0.1b19, run against
our simulator in tests/integration/test_bsx_sdk.py):
- every request body it sends (SDK_* field sets below): create, batch ops,
  bulk cancel, register, API-key renewal; REST auth as the raw bsx-key /
  bsx-secret headers; GET /chain/configs and GET /users/api-key at init;
- the EIP-712 structs Order, Register and SignKey over the chain-config
  domain; renewal with POST /users/api-key 5 minutes before expired_at;
- client_order_id: at most 32 letters and digits (SDK docs);
- only HTTP 200 is success, every error a JSON body with `code` (16 =
  unauthenticated).

Our assumption (the excerpts leave it open; the simulator follows it):
- WS_PATH "/ws", the WS auth/sub/ping messages and the pong reply
  `{"channel":"pong","type":"pong"}` (the SDK has no WS client);
- `stop_price` in a STOP create (the SDK sends none; the seed's replies carry it);
- GET /order?order_id= answers one order (the "Get an order" struct);
- error codes besides 16 follow the gRPC numbering BSX's 16 comes from
  (3 invalid argument, 5 not found, 6 already exists, 9 failed precondition);
- cancel_reason beyond user / stp / post only: "ioc", "fok", "market".

Reference data (gateway/venues/bsx/reference.py):
- checked against the SDK: GET /products (MarketClient.get_products, parsed by
  its GetProductsResponse / Product models): `{"products": [...]}`, each with
  `index` (the product_index orders sign, what the config's product_id names),
  `product_id` ("BTC-PERP"), base/quote asset symbols, `quote_increment` (the
  tick), `base_increment` (the lot), `min_order_size`, `enabled`, `post_only`
  and `mark_price`, all decimals as strings. The SDK sends its bsx-key headers
  on it; we send none (the venue's web clients read it without).
- assumption: best bid and ask from GET /products/{product_id}/book,
  `{"bids": [[price, size], ...], "asks": [...]}` best first. The SDK has no
  book call and the seed no market data; the path and shape are those BSX's
  public web clients use (a public `book` WS channel exists there too, but
  neither the seed nor the SDK shows it, so prices are polled).
- assumption: a product not `enabled`, or `post_only` (taking no orders that
  cross), is halted; one gone from the list is delisted.

The account's positions (gateway/venues/bsx/account.py, the positions' drift check):
- checked against the SDK (AccountClient.get_portfolio_detail, parsed by its
  Portfolio / Position models; run against our simulator in
  tests/integration/test_bsx_sdk.py): `GET /portfolio/detail` with the
  bsx-key / bsx-secret headers, answering `{"account", "summary", "positions":
  [...], "stats", "maker_fee", "taker_fee"}`; each position names its product
  by `product_index` and `product_id` and holds `net_size`, a decimal string.
- assumption: `net_size` is signed (a short is negative). The SDK's Position
  has no side field, so its sign is the only way a short could show; neither
  the seed nor the SDK shows a short position. A flat product is not listed.
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
API_KEY_RENEW_BEFORE_NS = 5 * 60 * 10**9  # the SDK renews a key this close to expired_at

# the fields the official SDK sends, per body
SDK_CREATE = frozenset({"side", "type", "product_index", "price", "size", "post_only", "reduce_only",
                        "time_in_force", "expired_at", "nonce", "signature", "client_order_id"})
SDK_CANCEL = frozenset({"order_id", "nonce", "client_order_id"})
SDK_CANCEL_BULK = frozenset({"order_ids", "nonces", "client_order_ids"})
SDK_CANCEL_ORDERS = frozenset({"product_ids", "order_ids", "nonces"})
SDK_CANCEL_ALL = frozenset({"product_id"})
SDK_REGISTER = frozenset({"user_wallet", "signer", "nonce", "wallet_signature", "signer_signature", "message"})
SDK_NEW_API_KEY = frozenset({"name"})
WS_AUTH = frozenset({"key", "timestamp", "signature"})  # assumption: the SDK has no WS client
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


# registration (the SDK's auth types): the wallet signs Register over the signer's
# address, the signer signs SignKey over the wallet's
REGISTER_TYPES = {"EIP712Domain": DOMAIN_TYPE, "Register": [
    {"name": "key", "type": "address"}, {"name": "message", "type": "string"}, {"name": "nonce", "type": "uint64"}]}
SIGN_KEY_TYPES = {"EIP712Domain": DOMAIN_TYPE, "SignKey": [{"name": "account", "type": "address"}]}


# requests (field order is the SDK's)

class CreateOrder(msgspec.Struct, omit_defaults=True):
    """The SDK's body; every field but stop_price is required, so always encoded (a null
    client_order_id too, as the SDK sends it); stop_price only on a STOP order."""
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


class CancelBulkRequest(msgspec.Struct):
    """A batch's CANCEL_BULK (the SDK's CancelOrdersParams: no product_ids here)."""
    order_ids: list[str] | None = None
    nonces: list[int] | None = None
    client_order_ids: list[str] | None = None


class Register(msgspec.Struct):
    user_wallet: str
    signer: str
    nonce: int
    wallet_signature: str
    signer_signature: str
    message: str = ""


class NewApiKey(msgspec.Struct):
    name: str = ""


class BatchOp(msgspec.Struct, omit_defaults=True):
    op_type: str  # CREATE | CANCEL | CANCEL_BULK | CANCEL_ALL
    create_order_request: CreateOrder | None = None
    cancel_request: CancelRequest | None = None
    cancel_orders_request: CancelBulkRequest | None = None
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


class ApiKeyReply(msgspec.Struct):
    """POST /users/api-key."""
    api_key: ApiKey


class WsMessage(msgspec.Struct):
    """Any inbound frame: auth reply, snapshot, update, error, pong."""
    channel: str = ""
    type: str = ""
    data: list[Order] | None = None
    timestamp: str = ""
    message: str = ""
    code: int = 0


# reference data: the public product list and book

class PerpetualProductConfig(msgspec.Struct):
    initial_margin: str = "0"
    maintenance_margin: str = "0"
    max_leverage: str = "0"


class Product(msgspec.Struct):
    """One entry of GET /products: the fields the SDK's Product model reads (its from_dict)."""
    index: int
    product_id: str
    base_asset_symbol: str
    quote_asset_symbol: str
    base_increment: str  # the lot
    quote_increment: str  # the tick
    min_order_size: str
    enabled: bool = True
    post_only: bool = False
    mark_price: str = "0"
    last_price: str = "0"
    index_price: str = "0"
    underlying: str = ""
    display_name: str = ""


class Products(msgspec.Struct):
    products: list[Product] = []  # the SDK reads a missing list as none


class Book(msgspec.Struct):
    """GET /products/{product_id}/book (assumption, see above): [price, size] levels, best first."""
    bids: list[tuple[str, str]] = []
    asks: list[tuple[str, str]] = []


# the account's positions: GET /portfolio/detail (see the module's docstring)

PORTFOLIO_PATH = "/portfolio/detail"


class PortfolioPosition(msgspec.Struct):
    """One of GET /portfolio/detail's positions: what the drift check reads of the SDK's Position."""
    product_index: int | str | None = None  # the SDK reads it with int(); a string is accepted too
    product_id: str | None = None  # "ETH-PERP"
    net_size: str = "0"  # signed decimal (see above); the SDK's default when absent
    avg_entry_price: str = "0"
    mark_price: str | None = None


class Portfolio(msgspec.Struct):
    account: str
    positions: list[PortfolioPosition] = []  # the SDK reads a missing list as none


order_decoder = msgspec.json.Decoder(Order)
orders_decoder = msgspec.json.Decoder(list[Order])
cancel_result_decoder = msgspec.json.Decoder(CancelResult)
cancel_requested_decoder = msgspec.json.Decoder(CancelRequested)
batch_reply_decoder = msgspec.json.Decoder(BatchReply)
error_decoder = msgspec.json.Decoder(Error)
chain_configs_decoder = msgspec.json.Decoder(ChainConfigs)
api_keys_decoder = msgspec.json.Decoder(ApiKeys)
api_key_reply_decoder = msgspec.json.Decoder(ApiKeyReply)
register_decoder = msgspec.json.Decoder(Register)
new_api_key_decoder = msgspec.json.Decoder(NewApiKey)
ws_decoder = msgspec.json.Decoder(WsMessage)
create_decoder = msgspec.json.Decoder(CreateOrder)
cancel_orders_decoder = msgspec.json.Decoder(CancelOrders)
batch_decoder = msgspec.json.Decoder(Batch)
products_decoder = msgspec.json.Decoder(Products)
book_decoder = msgspec.json.Decoder(Book)
portfolio_decoder = msgspec.json.Decoder(Portfolio)
encoder = msgspec.json.Encoder()
