"""Bluefin Pro wire types (seed 000 and venues.md's notes on the venue's
current official SDK), one pre-built decoder each. E9 amounts are
decimal-integer strings; times are milliseconds.

Where each fact comes from. The official SDK is not on the package index (the
PyPI `bluefin-pro-api-client` 1.0.0 is a superseded format), so nothing here
was run against it: "SDK" below means the SDK's models as venues.md records
them, and tests/integration/test_bluefin_wire.py holds those payloads as data.

From the SDK (venues.md):
- CreateOrderRequest: `signedFields`, `signature`, `type`, `reduceOnly`
  required; `clientOrderId`, `postOnly`, `timeInForce` (none for market
  orders), `triggerPriceE9`, `selfTradePreventionType` optional;
- the order hash: blake2b-256 of the raw BCS bytes, lowercase hex, no `0x`;
- the account stream: Subscribe {method, dataStreams} answered by
  {success, message}; every event an envelope {event, reason, payload};
  AccountOrderUpdate carries an active-order or a cancellation payload (told
  apart by `status`), AccountTradeUpdate a {"trade": {...}};
- the order statuses and the exchange/info and open-order fields.

Reference data (reference.py), from the SDK's current models (openapi_client.models, read
in its repository; tests/integration/test_bluefin_reference.py holds them as data and checks
the simulator's payloads against them):
- GET /v1/exchange/info (ExchangeInfoResponse): assets[] (assetType, symbol, decimals, weight,
  marginAvailable, none null), markets[] (Market: symbol, status ACTIVE|BETA|MAINTENANCE|
  DELISTED, baseAssetSymbol, tickSizeE9, stepSizeE9, minOrderQuantityE9, ...);
- GET /v1/exchange/tickers (get_all_market_ticker: a list of TickerResponse) and
  GET /v1/exchange/ticker?symbol= (one): bestBidPriceE9, bestAskPriceE9, markPriceE9, ...
Our assumptions there: a market's quote is USDC (the Market model names none); a side with
no order, or no mark yet, is "0"; BETA and MAINTENANCE take no orders from the gateway.

The public market-data stream (reference.py follows it where `market_ws_url` is set; else the
tickers are polled every reference_poll_secs). Read in the official SDK's repository,
fireflyprotocol/pro-sdk:
- the path `/ws/market`, public: resources/websocket-api.yaml gives /ws/market no security
  and no Authorization header (/ws/account has bearerAuth), and rust/examples/ws-ticker-stream.rs
  connects with the bare URL; the host `wss://stream.api.{env}.bluefin.io/ws/market`
  (python/sdk/src/bluefin_pro_sdk.py, market_data_stream_url). The Python SDK's listener
  (python/sdk/src/websocket/listener.py) does send its Bearer token there too: the venue
  takes one, it does not need one;
- the subscription MarketSubscriptionMessage {method: Subscribe|Unsubscribe, dataStreams:
  [MarketSubscriptionStreams {symbol, streams: [MarketDataStreamName]}]}, both required, the
  stream per symbol `Ticker` (resources/websocket-api.yaml; python/sdk/src/openapi_client/
  models/market_subscription_message.py, market_subscription_streams.py,
  market_data_stream_name.py; sent exactly so by rust/examples/ws-ticker-stream.rs);
- the reply SubscriptionResponseMessage {success, message}, both required
  (resources/websocket-api.yaml; read by listener.py's subscribe);
- every event MarketStreamMessage {event, payload}, both required, no `reason` (the account
  stream has one); event `TickerUpdate` (MarketEventType) carries a TickerUpdate: the
  TickerResponse's fields without estimatedFundingRateE9, every one required, E9 values as
  strings, times as integers (resources/websocket-api.yaml; models/ticker_update.py and
  market_event_type.py at the generation whose times are `...AtMillis`, as the Rust crate
  bluefin_api 1.13.0 on docs.rs has them; an older generation named them `...AtUtcMillis`);
- the server pings and the client answers (ws-ticker-stream.rs answers Ping with Pong;
  listener.py pings every 10 s itself): the stream's own WebSocket pings keep it honest.
OUR ASSUMPTIONS there (the sources do not say; the simulator follows them): a Ticker
subscription is answered at once with the current ticker and then on every change and at
least every few seconds (ws-ticker-stream.rs gives up after 5 s without a message: its own
choice); a symbol or stream the venue does not serve is answered {success: false}; a
side with no order, or no mark yet, is "0", as in the REST ticker.

Our assumption (the excerpts leave it open; the simulator follows it):
- a bulk cancel answers with one cancellation payload per order it closed,
  reason OrdersForMarketCancelled and cancellationReason
  USER_CANCELLED_ALL_ON_MARKET; a failure that names no order carries
  orderHash "" (the SDK model makes orderHash a required string);
- a zero price is refused with the reason INVALID_PRICE;
- an IOC/FOK/market order that trades nothing ends with status CANCELLED;
- a stop (STOP_LIMIT / STOP_MARKET) triggers when the last trade price reaches
  triggerPriceE9 (the SDK names the field, not the price it watches), and a
  triggered stop is reported OPEN (or traded) with no event of its own;
- the subscribe reply's message text, the error body {error, message};
- the trade history's paging (ACCOUNT_TRADES_PATH below).
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
# the account's trade history (the official API client's AccountDataApi.get_account_trades), on the
# api host. Seed 000 and venues.md are silent on its query: what follows is OUR ASSUMPTION (the
# names are those the official SDK's generated docs give; the simulator serves exactly this):
# symbol, startTimeAtMillis and endTimeAtMillis (inclusive; end after start, less than 90 days
# apart), limit (default 500, at most 1000) and page (from 1), trades newest first, a fixed
# endTimeAtMillis keeps the pages still while they are read, and a page shorter than limit is the last.
ACCOUNT_TRADES_PATH = "/api/v1/account/trades"
TRADES_PAGE_LIMIT = 1000
TRADES_DEFAULT_LIMIT = 500
TRADES_MAX_WINDOW_MS = 90 * 86_400_000
AUDIENCE = "api"
MAX_CANCEL_HASHES = 10
DATA_STREAMS = ["AccountOrderUpdate", "AccountTradeUpdate"]

# events (the envelope's `event`)
ACCOUNT_ORDER_UPDATE = "AccountOrderUpdate"
ACCOUNT_TRADE_UPDATE = "AccountTradeUpdate"
# reasons
ORDER_CREATED, ORDER_MATCHED, ORDER_CANCELLED = "OrderCreated", "OrderMatched", "OrderCancelled"
ORDERS_FOR_MARKET_CANCELLED = "OrdersForMarketCancelled"

# order statuses; the seed's spellings of the partly filled cancel are accepted too
STANDBY, OPEN, PARTIALLY_FILLED_OPEN, FILLED = "STANDBY", "OPEN", "PARTIALLY_FILLED_OPEN", "FILLED"
CANCELLED, EXPIRED, UNSPECIFIED = "CANCELLED", "EXPIRED", "UNSPECIFIED"
PARTIALLY_FILLED_CANCELED = "PARTIALLY_FILLED_CANCELED"
PARTIALLY_FILLED_EXPIRED = "PARTIALLY_FILLED_EXPIRED"
PARTIALLY_FILLED_CANCELLED_SPELLINGS = frozenset({
    "PARTIALLY_FILLED_CANCELED", "PARTIALLY_FILLED_CANCELLED", "PartiallyFilledCancelled"})
CANCELLED_SPELLINGS = frozenset({"CANCELLED", "CANCELED"})
EXPIRED_SPELLINGS = frozenset({"EXPIRED", "PARTIALLY_FILLED_EXPIRED"})
STATUSES = frozenset({STANDBY, OPEN, PARTIALLY_FILLED_OPEN, PARTIALLY_FILLED_CANCELED, FILLED, CANCELLED,
                      EXPIRED, PARTIALLY_FILLED_EXPIRED, UNSPECIFIED})

# cancellation reasons
USER_CANCELLED_ALL = "USER_CANCELLED_ALL_ON_MARKET"
USER_CANCELLED_ALL_SPELLINGS = frozenset({"UserCancelledAllOnMarket", "USER_CANCELLED_ALL_ON_MARKET"})
USER_CANCELLED = "USER_CANCELLED"
POST_ONLY_WOULD_TRADE = "POST_ONLY_WOULD_TRADE"
SELF_TRADE_PREVENTION = "SELF_TRADE_PREVENTION"
FAILURE_REASONS = ("ORDER_NOT_FOUND", "MARKET_NOT_FOUND", "ACCOUNT_NOT_FOUND", "NO_OPEN_ORDERS_ON_MARKET",
                   "NO_FAILURE", "UNSPECIFIED")

ORDER_TYPES = frozenset({"LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET"})
TIME_IN_FORCE = frozenset({"GTT", "IOC", "FOK"})
STP_TYPES = frozenset({"TAKER", "MAKER", "BOTH"})
TIF = {"gtc": "GTT", "ioc": "IOC", "fok": "FOK"}


def norm_hash(text: str | None) -> str:
    """Hashes compare case-insensitively, with or without 0x (the SDK sends none)."""
    if not text:
        return ""
    text = text.lower()
    return text[2:] if text.startswith("0x") else text


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
    """GET /v1/exchange/info as start reads it: the IDS id orders are signed for. The markets
    are decoded on their own (markets_decoder), so a list the gateway cannot read costs the
    reference data its check, not the venue its start."""
    contractsConfig: ContractsConfig
    markets: msgspec.Raw = msgspec.Raw(b"[]")


# reference data: the public instrument list and prices (gateway/venues/bluefin/reference.py)

class MarketInfo(msgspec.Struct):
    """One of exchange/info's markets[] (the SDK's Market model), the fields the instrument
    check reads; the model's others (margins, fees, limits) are not read."""
    symbol: str
    status: str  # ACTIVE | BETA | MAINTENANCE | DELISTED (the SDK's MarketStatus)
    baseAssetSymbol: str
    tickSizeE9: str
    stepSizeE9: str
    minOrderQuantityE9: str


class Ticker(msgspec.Struct):
    """One entry of GET /v1/exchange/tickers (the SDK's TickerResponse), the fields the
    reference price reads. A side with no order is "0"."""
    symbol: str
    bestBidPriceE9: str
    bestAskPriceE9: str
    markPriceE9: str
    updatedAtMillis: int = 0


MARKET_ACTIVE = "ACTIVE"
MARKET_DELISTED = "DELISTED"
# Perpetuals settle in USDC: the Market model names no quote asset, and the SDK's ticker gives
# quoteVolume24hrE9 "in USDC". OUR ASSUMPTION for every market the list carries.
SETTLEMENT_ASSET = "USDC"
TICKER_PATH = "/v1/exchange/ticker"  # ?symbol=: one market (the SDK's get_market_ticker)
TICKERS_PATH = "/v1/exchange/tickers"  # every market (the SDK's get_all_market_ticker)

# the public market-data stream (see the module's docstring for where each name is from)
MARKET_WS_PATH = "/ws/market"
TICKER_STREAM = "Ticker"  # MarketDataStreamName, one subscription per symbol
TICKER_UPDATE = "TickerUpdate"  # MarketEventType of its events


class MarketStreams(msgspec.Struct):
    """MarketSubscriptionStreams: one market's streams."""
    symbol: str
    streams: list[str]


class MarketSubscribe(msgspec.Struct):
    """MarketSubscriptionMessage: no authToken here, unlike the account stream's."""
    method: str  # Subscribe | Unsubscribe
    dataStreams: list[MarketStreams]


class MarketFrame(msgspec.Struct):
    """A MarketStreamMessage {event, payload}, or the subscription reply {success, message}
    (no event). The payload is decoded by event: a TickerUpdate is read as a Ticker (the
    same field names)."""
    event: str = ""
    payload: msgspec.Raw = msgspec.Raw(b"null")
    success: bool | None = None
    message: str | None = None


MARKET_SUBSCRIBE_FIELDS = frozenset(MarketSubscribe.__struct_fields__)
MARKET_STREAMS_FIELDS = frozenset(MarketStreams.__struct_fields__)


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


class CreateOrder(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The SDK's CreateOrderRequest: type and reduceOnly have no default, so they are
    always encoded; None optionals are left out."""
    signedFields: SignedFields
    signature: str
    clientOrderId: str | None = None
    type: str  # LIMIT | MARKET | STOP_LIMIT | STOP_MARKET
    reduceOnly: bool
    postOnly: bool | None = None
    timeInForce: str | None = None  # GTT | IOC | FOK; none for market orders
    triggerPriceE9: str | None = None
    selfTradePreventionType: str | None = None


CREATE_ORDER_FIELDS = frozenset(CreateOrder.__struct_fields__)
SIGNED_FIELDS = frozenset(SignedFields.__struct_fields__)


class OrderAck(msgspec.Struct):
    orderHash: str


class CancelOrders(msgspec.Struct, omit_defaults=True):
    symbol: str
    orderHashes: list[str] | None = None


CANCEL_FIELDS = frozenset(CancelOrders.__struct_fields__)


class Error(msgspec.Struct):
    error: str = ""
    message: str = ""
    code: str | int | None = None


# the account stream

class OrderPayload(msgspec.Struct):
    """An AccountOrderUpdate payload: an ActiveOrderUpdate (has `status`) or an
    OrderCancellationUpdate (has none; a done cancel carries cancellationReason, a failed
    one null and failureToCancelReason). Also one entry of GET /openOrders."""
    orderHash: str | None = None
    symbol: str = ""
    status: str | None = None
    clientOrderId: str | None = None
    accountAddress: str = ""
    priceE9: str = "0"
    quantityE9: str = "0"
    filledQuantityE9: str = "0"
    remainingQuantityE9: str = "0"
    side: str = ""
    leverageE9: str = "0"
    isIsolated: bool = False
    salt: str = ""
    expiresAtMillis: int = 0
    signedAtMillis: int = 0
    signerAddress: str = ""
    type: str = "LIMIT"
    reduceOnly: bool = False
    postOnly: bool = False
    timeInForce: str | None = None
    triggerPriceE9: str | None = None
    selfTradePreventionType: str | None = None
    cancellationReason: str | None = None
    failureToCancelReason: str | None = None
    createdAtMillis: int = 0
    updatedAtMillis: int = 0
    orderTimeAtMillis: int = 0


class TradePayload(msgspec.Struct):
    id: str
    orderHash: str
    priceE9: str
    quantityE9: str
    symbol: str = ""
    clientOrderId: str | None = None
    orderType: str | None = None
    tradeType: str | None = None
    side: str = ""
    isMaker: bool = False
    quoteQuantityE9: str = "0"
    tradingFeeE9: str | None = None
    executedAtMillis: int = 0


class TradeUpdate(msgspec.Struct):
    trade: TradePayload


trades_decoder = msgspec.json.Decoder(list[TradePayload])


class Frame(msgspec.Struct):
    """An event envelope, or the subscribe reply ({success, message}, no event)."""
    event: str = ""
    reason: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")
    success: bool | None = None
    message: str | None = None


class Subscribe(msgspec.Struct, omit_defaults=True):
    method: str
    dataStreams: list[str]
    authToken: str | None = None


SUBSCRIBE_FIELDS = frozenset(Subscribe.__struct_fields__)

login_decoder = msgspec.json.Decoder(Login)
tokens_decoder = msgspec.json.Decoder(Tokens)
refresh_decoder = msgspec.json.Decoder(Refresh)
exchange_info_decoder = msgspec.json.Decoder(ExchangeInfo)
markets_decoder = msgspec.json.Decoder(list[MarketInfo])
tickers_decoder = msgspec.json.Decoder(list[Ticker])
ticker_decoder = msgspec.json.Decoder(Ticker)
market_frame_decoder = msgspec.json.Decoder(MarketFrame)
market_subscribe_decoder = msgspec.json.Decoder(MarketSubscribe)
create_decoder = msgspec.json.Decoder(CreateOrder)
ack_decoder = msgspec.json.Decoder(OrderAck)
cancel_decoder = msgspec.json.Decoder(CancelOrders)
error_decoder = msgspec.json.Decoder(Error)
frame_decoder = msgspec.json.Decoder(Frame)
order_payload_decoder = msgspec.json.Decoder(OrderPayload)
orders_decoder = msgspec.json.Decoder(list[OrderPayload])
cancellation_decoder = order_payload_decoder
trade_update_decoder = msgspec.json.Decoder(TradeUpdate)
subscribe_decoder = msgspec.json.Decoder(Subscribe)
encoder = msgspec.json.Encoder()
