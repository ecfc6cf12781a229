"""Poloniex spot v3 wire types (seed 002, the venue's docs and public clients),
one pre-built decoder each.

Ids are strings end to end: they exceed 2^53, so a JSON number would lose
digits in any float-based reader. Amounts are decimal strings, except
`stopPrice`, which may come back as a JSON number: it is decoded from its raw
JSON text (exactly, never through a float).

Checked against ccxt / ccxt.pro (the client Poloniex users run; run against
our simulator in tests/integration/test_poloniex_ccxt.py):
- request signing (headers key / signTimestamp / signature, the signed
  payload for GET with a sorted query and for a body), Content-Type on every
  private call;
- market loading: /markets, /v2/currencies, /v3/market/allInstruments, all
  public; the bodies of POST /orders (LIMIT, LIMIT_MAKER, MARKET without
  timeInForce), POST /smartorders (STOP_LIMIT, STOP; stopPrice a JSON
  number), GET /orders and /smartorders with and without symbol, DELETE
  /orders/{id}, /smartorders/{id}, /orders/cancelByIds, /orders and
  /smartorders; POST /orders/batch (createOrders: a bare list of orders, a
  positional list of ids or errors back); the reply shapes ccxt parses;
- GET /orders/{id}/trades (ccxt's fetchOrderTrades, privateGetOrdersIdTrades, cost 4 as
  GET /orders/{id}): a bare list of the order's trades, each with id, orderId, price,
  quantity, amount, matchRole, createTime, feeAmount and feeCurrency;
- WS: the auth message (signTimestamp a string, signatureMethod HmacSHA256,
  signatureVersion "2"), its {"channel":"auth","data":{"success"...}} reply,
  the orders subscription and the orders channel's events as ccxt.pro parses them;
- reference data (reference.py; tests/integration/test_poloniex_reference.py runs
  ccxt against the simulator and compares with what the adapter reads): GET /markets
  as load_markets reads it (tick = 10^-priceScale, lot = 10^-quantityScale, min =
  minQuantity, state NORMAL = active); GET /markets/{symbol}/ticker24h as fetch_ticker
  reads it (bid, ask, markPrice); GET /timestamp (fetch_time), public;
- the public WebSocket (market_data.py; ccxt.pro's urls.api.ws.public is
  wss://ws.poloniex.com/ws/public, and tests/integration/test_poloniex_market_data.py runs
  its watch_order_book and watch_ticker against the simulator and compares with what the
  adapter reads): the subscribe message {"event":"subscribe","channel":[name],
  "symbols":[market ids]} (ccxt.pro's subscribe); the `book_lv2` channel (watch_order_book's
  default; its `book` alternative is not followed: ccxt.pro's handle_order_book only
  applies frames with an action and files them under book_lv2) with its frames
  {"channel":"book_lv2","action":"snapshot"|"update","data":[{"symbol","asks","bids",
  "lastId","id","ts","createTime"}]}, levels [price, quantity] as decimal strings, quantity 0
  removing the level, a snapshot replacing the book; the `ticker` channel's frames
  {"channel":"ticker","data":[{"symbol",...,"markPrice",...}]} with no bid or ask (ccxt.pro's
  handle_ticker); the ping {"event":"ping"} (ccxt.pro's ping) and the pong {"event":"pong"}.

Our assumption (the simulator follows it):

- a market state other than NORMAL (ccxt's active is state == NORMAL; the other names,
  PAUSE or POST_ONLY in the simulator, are ours) takes no new orders from us; a side of
  the book that is empty reads "0" in the ticker;
- the spot ticker's markPrice is the venue's mark (ccxt passes it through as
  markPrice; the simulator gives the mid): the price risk checks against;
- the public WS (the venue's docs as we read them, not ccxt.pro, which checks none of it):
  an update whose lastId is not the id of the frame before it means frames were lost, and
  the symbol is re-subscribed (unsubscribe, subscribe) for a new snapshot; the book_lv2
  channel sends a snapshot on every subscribe; frames and pongs of one connection come in
  the order the venue sent them, so a pong says the book and mark held are still the
  venue's (the price's age restarts on it); the ticker channel pushes when markPrice
  changes; the acks {"event":"subscribe"|"unsubscribe","channel":name,"symbols":[...]};
  the simulator's book_lv2 carries its top 20 levels a side (the docs' depth);

- WS pong `{"event":"pong"}` (the path /ws/private is ccxt.pro's);
- error codes CODE_BAD_REQUEST and CODE_POST_ONLY (the others are ccxt's);
  a refused signature answers HTTP 401; a post-only order that would take is
  refused in the reply, not accepted then rejected;
- a cancel-replace with proceedOnFailure answers 200 with the new ids even
  when its cancel half failed: the old order's fate is read with GET;
- a trade's `id` in GET /orders/{id}/trades is the `tradeId` of its event on the
  orders channel (one trade, one id, whichever way it is learned); that list is
  complete for the order (no paging asked for); it takes the venue's order id,
  not a `cid:` reference; a triggered smart order's trades are those of the
  regular order it became (its triggeredOrder.id).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

WS_PATH = "/ws/private"
PUBLIC_WS_PATH = "/ws/public"  # market data, no auth (ccxt.pro: wss://ws.poloniex.com/ws/public)
BOOK_CHANNEL = "book_lv2"  # ccxt.pro's watch_order_book default: a snapshot, then updates
TICKER_CHANNEL = "ticker"  # carries markPrice; no bid or ask
SNAPSHOT, UPDATE = "snapshot", "update"  # a book_lv2 frame's action
ORDERS_CHANNEL = "orders"
AUTH_CHANNEL = "auth"
CID_PREFIX = "cid:"
SIGNATURE_METHOD, SIGNATURE_VERSION = "HmacSHA256", "2"
CLIENT_ORDER_ID_MAX = 64
BATCH_MAX = 20  # orders one POST /orders/batch may carry (the venue's docs, as ccxt's createOrders links them)
TIMESTAMP_AHEAD_MS = 1000  # a signTimestamp further ahead of the venue's clock: 400
TIMESTAMP_VALID_MS = 60_000  # without recvWindow a signature is good for a minute: 408

# error codes: the ones ccxt's Poloniex error table names (its comments quote the venue's
# messages), and ours where it names none
CODE_OK = 200
CODE_NOT_FOUND = 21301  # ccxt: "Order not found" -> OrderNotFound
CODE_CANCEL_FAILED = 21307  # ccxt: "Error during Order Cancelation"
CODE_NOT_OPEN = 21359  # ccxt: "Order was already canceled or filled." -> OrderNotFound
CODE_BAD_REQUEST = 21001  # ours (a malformed request)
CODE_POST_ONLY = 21363  # ours (21360, used before, is ccxt's "Order size exceeds the limit")

# regular order states (venues.md) and smart order states (seed)
PENDING_NEW, NEW, PARTIALLY_FILLED, FILLED = "PENDING_NEW", "NEW", "PARTIALLY_FILLED", "FILLED"
PENDING_CANCEL, PARTIALLY_CANCELED, CANCELED = "PENDING_CANCEL", "PARTIALLY_CANCELED", "CANCELED"
CANCELLED = "CANCELLED"  # the cancel response's spelling
REJECTED, EXPIRED, FAILED, TRIGGERED = "REJECTED", "EXPIRED", "FAILED", "TRIGGERED"

SOURCE_SMART = "SMART"


def decimal_text(raw: msgspec.Raw | str | None) -> str | None:
    """A decimal that may be a JSON string or a JSON number, as exact text."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    text = bytes(raw).decode()
    if text == "null":
        return None
    if text.startswith('"'):
        return msgspec.json.decode(text, type=str)
    try:
        value = Decimal(text)  # exact: a Decimal from text never rounds
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    return format(value, "f")


# requests (field order is the seed's)

class PlaceOrder(msgspec.Struct, omit_defaults=True):
    symbol: str
    side: str
    type: str
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    timeInForce: str | None = None  # none: GTC, the venue's default (ccxt sends none)
    clientOrderId: str | None = None
    accountType: str | None = None


class PlaceSmartOrder(msgspec.Struct, omit_defaults=True):
    symbol: str
    side: str
    type: str
    stopPrice: str
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    timeInForce: str | None = None  # none: GTC, the venue's default (ccxt sends none)
    clientOrderId: str | None = None
    accountType: str | None = None


class Replace(msgspec.Struct, omit_defaults=True):
    """PUT /orders/{id} and /smartorders/{id}: only the amendable fields."""
    clientOrderId: str | None = None
    price: str | None = None
    stopPrice: str | None = None
    quantity: str | None = None
    amount: str | None = None
    type: str | None = None
    timeInForce: str | None = None
    proceedOnFailure: str | None = None


class CancelByIds(msgspec.Struct, omit_defaults=True):
    orderIds: list[str] = []
    clientOrderIds: list[str] = []


class CancelAll(msgspec.Struct, omit_defaults=True):
    symbols: list[str] = []
    accountTypes: list[str] = []


# replies

class Ack(msgspec.Struct):
    id: str
    clientOrderId: str = ""


class BatchPlaceResult(msgspec.Struct):
    """One entry of POST /orders/batch's reply, in the order of the request's: the order's ids,
    or the venue's error for it (ccxt's createOrders reads both)."""
    id: str | None = None
    clientOrderId: str = ""
    code: int | None = None
    message: str = ""


class CancelResult(msgspec.Struct):
    orderId: str = ""
    clientOrderId: str = ""
    state: str = ""
    code: int = CODE_OK
    message: str = ""


class Error(msgspec.Struct):
    code: int = 0
    message: str = ""


class Order(msgspec.Struct):
    id: str
    symbol: str
    state: str
    side: str
    type: str
    clientOrderId: str = ""
    accountType: str = "SPOT"
    timeInForce: str = "GTC"
    quantity: str = "0"
    price: str = "0"
    avgPrice: str = "0"
    amount: str = "0"
    filledQuantity: str = "0"
    filledAmount: str = "0"
    source: str = "API"
    createTime: int = 0
    updateTime: int = 0


class SmartOrder(msgspec.Struct):
    id: str
    symbol: str
    state: str
    side: str
    type: str
    clientOrderId: str = ""
    accountType: str = "SPOT"
    timeInForce: str = "GTC"
    quantity: str = "0"
    price: str = "0"
    amount: str = "0"
    stopPrice: msgspec.Raw = msgspec.Raw(b"null")  # a string or a JSON number: see decimal_text
    createTime: int = 0
    updateTime: int = 0
    triggeredOrder: Order | None = None


class Trade(msgspec.Struct):
    """One entry of GET /orders/{id}/trades."""
    id: str
    orderId: str = ""
    symbol: str = ""
    side: str = ""
    type: str = ""
    matchRole: str = ""
    createTime: int = 0
    price: str = "0"
    quantity: str = "0"
    amount: str = "0"
    feeCurrency: str = ""
    feeAmount: str = "0"
    pageId: str = ""
    clientOrderId: str = ""
    accountType: str = "SPOT"


# public market data (reference.py)

NORMAL = "NORMAL"  # a market's state when it trades (ccxt's active); any other is a halt for us


class SymbolTradeLimit(msgspec.Struct):
    """A market's sizes: decimals of price and quantity, the least quantity. None where the
    venue left one out: that market cannot be checked, so it is not taken (never guessed as 0)."""
    priceScale: int | None = None
    quantityScale: int | None = None
    amountScale: int | None = None
    minQuantity: str | None = None
    minAmount: str | None = None


class Market(msgspec.Struct):
    """One entry of GET /markets."""
    symbol: str
    baseCurrencyName: str = ""
    quoteCurrencyName: str = ""
    displayName: str = ""
    state: str = ""
    symbolTradeLimit: SymbolTradeLimit | None = None


class Ticker24h(msgspec.Struct):
    """GET /markets/{symbol}/ticker24h (ccxt's fetch_ticker; GET /markets/ticker24h lists them):
    the best bid and ask, and the venue's markPrice. "0" or "" where the book has no side."""
    symbol: str
    bid: str = ""
    ask: str = ""
    markPrice: str = ""


# the private WebSocket

class OrderEvent(msgspec.Struct):
    """One entry of the orders channel's data."""
    symbol: str
    orderId: str
    eventType: str
    state: str
    side: str = ""
    type: str = ""
    clientOrderId: str = ""
    source: str = "API"
    quantity: str = "0"
    price: str = "0"
    orderAmount: str = "0"
    filledQuantity: str = "0"
    filledAmount: str = "0"
    tradeId: str = "0"
    tradeQty: str = "0"
    tradePrice: str = "0"
    tradeAmount: str = "0"
    tradeFee: str = "0"
    feeCurrency: str = ""
    matchRole: str = ""
    accountType: str = "SPOT"
    tradeTime: int = 0
    createTime: int = 0
    ts: int = 0


class AuthData(msgspec.Struct):
    success: bool = False
    message: str = ""
    ts: int = 0


class WsMessage(msgspec.Struct):
    channel: str | list[str] | None = None
    event: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    message: str = ""


# the public WebSocket (market_data.py)

class BookData(msgspec.Struct):
    """One entry of a book_lv2 frame's data: levels [price, quantity] as decimal strings
    (quantity 0: the level is gone); id numbers the frame, lastId the one before it."""
    symbol: str
    id: int
    lastId: int = -1
    asks: list[tuple[str, str]] = []
    bids: list[tuple[str, str]] = []
    ts: int = 0
    createTime: int = 0


class WsTicker(msgspec.Struct):
    """One entry of a ticker frame's data: the day's prices and markPrice; no bid or ask."""
    symbol: str
    markPrice: str = ""
    ts: int = 0


class PublicMessage(msgspec.Struct):
    """A public stream frame: channel data (channel, action, data), or an event (subscribe,
    unsubscribe, pong, error) with its message."""
    channel: str | list[str] | None = None
    event: str | None = None
    action: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    message: str = ""


ack_decoder = msgspec.json.Decoder(Ack)
cancel_result_decoder = msgspec.json.Decoder(CancelResult)
cancel_results_decoder = msgspec.json.Decoder(list[CancelResult])
batch_place_decoder = msgspec.json.Decoder(list[BatchPlaceResult])
error_decoder = msgspec.json.Decoder(Error)
order_decoder = msgspec.json.Decoder(Order)
orders_decoder = msgspec.json.Decoder(list[Order])
smart_order_decoder = msgspec.json.Decoder(SmartOrder)
smart_orders_decoder = msgspec.json.Decoder(list[SmartOrder])
trades_decoder = msgspec.json.Decoder(list[Trade])
markets_decoder = msgspec.json.Decoder(list[Market])
ticker_decoder = msgspec.json.Decoder(Ticker24h)
ws_decoder = msgspec.json.Decoder(WsMessage)
order_events_decoder = msgspec.json.Decoder(list[OrderEvent])
auth_decoder = msgspec.json.Decoder(AuthData)
public_decoder = msgspec.json.Decoder(PublicMessage)
book_data_decoder = msgspec.json.Decoder(list[BookData])
ws_tickers_decoder = msgspec.json.Decoder(list[WsTicker])
encoder = msgspec.json.Encoder()
