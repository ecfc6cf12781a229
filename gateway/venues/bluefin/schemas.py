"""Bluefin Pro wire types (seed 000, venues.md and the venue's current SDK),
one pre-built decoder each. E9 amounts are decimal-integer strings; times are
milliseconds. What the excerpts leave open and we chose (kept here so the
adapter and the simulator change together):

- the account stream lives at WS_PATH; the subscribe reply is a frame with
  event "Subscription";
- an AccountTradeUpdate payload carries `id`, `orderHash`, `priceE9`,
  `quantityE9`, `isMaker`, `tradingFeeE9`, `executedAtMillis` (the SDK's Trade);
- a zero price is refused with the reason INVALID_PRICE;
- an IOC/FOK/market order that trades nothing ends with ActiveOrderUpdate
  status CANCELLED (the seed: no dedicated cancel event for an IOC remainder).
"""
from __future__ import annotations

import msgspec

WS_PATH = "/ws/account"
LOGIN_PATH = "/auth/token"
REFRESH_PATH = "/auth/token/refresh"
EXCHANGE_INFO_PATH = "/v1/exchange/info"
ORDERS_PATH = "/api/v1/trade/orders"
CANCEL_PATH = "/api/v1/trade/orders/cancel"
OPEN_ORDERS_PATH = "/api/v1/trade/openOrders"
AUDIENCE = "api"
MAX_CANCEL_HASHES = 10
DATA_STREAMS = ["AccountOrderUpdate", "AccountTradeUpdate", "AccountPositionUpdate", "AccountUpdate"]

# events
ACTIVE_ORDER_UPDATE = "ActiveOrderUpdate"
ORDER_CANCELLATION_UPDATE = "OrderCancellationUpdate"
ACCOUNT_TRADE_UPDATE = "AccountTradeUpdate"

# order statuses; both spellings of the cancelled one are accepted (seed / SDK)
OPEN, PARTIALLY_FILLED_OPEN, FILLED = "OPEN", "PARTIALLY_FILLED_OPEN", "FILLED"
PARTIALLY_FILLED_CANCELLED = "PARTIALLY_FILLED_CANCELLED"
PARTIALLY_FILLED_CANCELLED_SPELLINGS = frozenset({
    "PARTIALLY_FILLED_CANCELLED", "PARTIALLY_FILLED_CANCELED", "PartiallyFilledCancelled"})
CANCELLED_SPELLINGS = frozenset({"CANCELLED", "CANCELED"})
EXPIRED_SPELLINGS = frozenset({"EXPIRED", "PARTIALLY_FILLED_EXPIRED"})
STANDBY = "STANDBY"

# cancellation reasons
USER_CANCELLED_ALL = "UserCancelledAllOnMarket"
USER_CANCELLED_ALL_SPELLINGS = frozenset({"UserCancelledAllOnMarket", "USER_CANCELLED_ALL_ON_MARKET"})
USER_CANCELLED = "USER_CANCELLED"
POST_ONLY_WOULD_TRADE = "POST_ONLY_WOULD_TRADE"
SELF_TRADE_PREVENTION = "SELF_TRADE_PREVENTION"
FAILURE_REASONS = ("ORDER_NOT_FOUND", "MARKET_NOT_FOUND", "ACCOUNT_NOT_FOUND", "NO_OPEN_ORDERS_ON_MARKET",
                   "NO_FAILURE", "UNSPECIFIED")

TIF = {"gtc": "GTT", "ioc": "IOC", "fok": "FOK"}


# auth

class Login(msgspec.Struct):
    accountAddress: str
    signedAtMillis: int
    audience: str = AUDIENCE


class Tokens(msgspec.Struct):
    accessToken: str
    accessTokenValidForSeconds: float
    refreshToken: str
    refreshTokenValidForSeconds: float


class Refresh(msgspec.Struct):
    refreshToken: str


class ContractsConfig(msgspec.Struct):
    idsId: str


class ExchangeInfo(msgspec.Struct):
    contractsConfig: ContractsConfig
    markets: list[dict] = []


# orders (field order is the SDK's)

class SignedFields(msgspec.Struct):
    symbol: str
    accountAddress: str
    priceE9: str
    quantityE9: str
    side: str  # LONG | SHORT
    leverageE9: str
    isIsolated: bool
    salt: str
    idsId: str
    expiresAtMillis: int
    signedAtMillis: int


class CreateOrder(msgspec.Struct, omit_defaults=True):
    signedFields: SignedFields
    signature: str
    clientOrderId: str | None = None
    type: str = "LIMIT"  # LIMIT | MARKET
    reduceOnly: bool = False
    postOnly: bool = False
    timeInForce: str = "GTT"  # GTT | IOC | FOK
    triggerPriceE9: str | None = None
    selfTradePreventionType: str | None = None


class OrderAck(msgspec.Struct):
    orderHash: str


class CancelOrders(msgspec.Struct, omit_defaults=True):
    symbol: str
    orderHashes: list[str] | None = None


class Error(msgspec.Struct):
    error: str = ""
    message: str = ""
    code: str | int | None = None


# the account stream

class OrderPayload(msgspec.Struct):
    """An ActiveOrderUpdate payload, and one entry of GET /openOrders."""
    orderHash: str
    symbol: str = ""
    status: str = ""
    clientOrderId: str | None = None
    accountAddress: str = ""
    priceE9: str = "0"
    quantityE9: str = "0"
    filledQuantityE9: str = "0"
    side: str = ""
    leverageE9: str = "0"
    isIsolated: bool = False
    salt: str = ""
    expiresAtMillis: int = 0
    signedAtMillis: int = 0
    type: str = "LIMIT"
    reduceOnly: bool = False
    postOnly: bool = False
    timeInForce: str = "GTT"
    createdAtMillis: int = 0
    updatedAtMillis: int = 0


class CancellationPayload(msgspec.Struct):
    """A done cancel carries cancellationReason; a failed one null and failureToCancelReason.
    A bulk cancel (UserCancelledAllOnMarket) may name no order."""
    symbol: str = ""
    orderHash: str | None = None
    clientOrderId: str | None = None
    cancellationReason: str | None = None
    failureToCancelReason: str | None = None
    remainingQuantityE9: str = "0"
    createdAtMillis: int = 0


class TradePayload(msgspec.Struct):
    id: str
    orderHash: str
    priceE9: str
    quantityE9: str
    symbol: str = ""
    clientOrderId: str | None = None
    side: str = ""
    isMaker: bool = False
    tradingFeeE9: str = "0"
    executedAtMillis: int = 0


class Frame(msgspec.Struct):
    event: str = ""
    reason: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")


class Subscribe(msgspec.Struct):
    method: str
    dataStreams: list[str]


login_decoder = msgspec.json.Decoder(Login)
tokens_decoder = msgspec.json.Decoder(Tokens)
refresh_decoder = msgspec.json.Decoder(Refresh)
exchange_info_decoder = msgspec.json.Decoder(ExchangeInfo)
create_decoder = msgspec.json.Decoder(CreateOrder)
ack_decoder = msgspec.json.Decoder(OrderAck)
cancel_decoder = msgspec.json.Decoder(CancelOrders)
error_decoder = msgspec.json.Decoder(Error)
frame_decoder = msgspec.json.Decoder(Frame)
order_payload_decoder = msgspec.json.Decoder(OrderPayload)
orders_decoder = msgspec.json.Decoder(list[OrderPayload])
cancellation_decoder = msgspec.json.Decoder(CancellationPayload)
trade_decoder = msgspec.json.Decoder(TradePayload)
subscribe_decoder = msgspec.json.Decoder(Subscribe)
encoder = msgspec.json.Encoder()
