"""DXtrade `dxsca-web` wire types (seed 003), shared with the simulator.

Requests carry amounts as decimal strings (the seed's requests do); replies
carry them as JSON numbers (the seed's order lists do), decoded as Decimal
from their own text so no float ever rounds them. Venue messages allow
unknown fields: the platform adds fields between versions.

Reference data. No official DXtrade client is among our test dependencies and
the seed shows neither call, so BOTH are ASSUMPTIONS, taken from the platform's
published REST path list and third-party clients, not checked against an
official client:
- instruments: `GET /dxsca-web/instruments/query?symbols=*` (the path list also
  has a POST form) -> `{"instruments": [Instrument]}`; `priceIncrement` and
  `lotSize` are read as third-party clients read them. `minOrderSize` and
  `tradingStatus` (which the platform is said to give per account) are read
  where present; absent, the minimum is the lot and the instrument trades.
- prices: `POST /dxsca-web/marketdata` with `{"account", "symbols",
  "eventTypes": [{"type": "Quote", "format": "COMPACT"}]}` ->
  `{"events": [{"type": "Quote", "symbol", "bid", "ask", "time"}]}`. Polled:
  the platform's market-data push (`/dxsca-web/md`) is not in the excerpts. A
  quote carries no mark: the reference is the mid.
Both need the session (`Authorization: DXAPI <token>`), as every call does.

The account's positions (gateway/venues/dxtrade/account.py, the positions' drift
check). The seed shows NO positions call: it names positions only as the order
legs' `positionEffect` (OPEN/CLOSE) and `positionCode` (the orderId of the order
that opened the position). Not checked against an official client (none is among
our dependencies):
- from the platform's published REST specification (the seed's own host's,
  api.swaycharts.io `dxsca-web`, "GET List Open Positions" and its "Position"
  type): `GET /dxsca-web/accounts/{account code}/positions`, with the session;
  each Position has account, version, positionCode, symbol (the instrument),
  quantity ("in units (not in lots); unsigned"), quantityNotional, side (BUY
  long, SELL short), openTime, openPrice, lastUpdateTime.
- assumption: the reply wraps them as `{"positions": [...]}` (the specification
  says only "a list of open positions"); a bare list is read too, as the order
  list is.
- assumption: an account may hold several positions in one instrument (the
  positionCode of each opening order, a hedging account): they are summed,
  BUY +, SELL -. The simulator nets (one position per instrument).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Literal, Union

import msgspec

PREFIX = "/dxsca-web"
CONDITIONAL_REQUIRED = 99  # 403: no If-Match
NOT_FOUND = 2  # 404
INCORRECT_REQUEST = 33  # 400
CONTINGENCY = {"oco": "OCO", "if_then": "IF-THEN"}


class Login(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    domain: str
    password: str


class Session(msgspec.Struct):
    sessionToken: str
    timeout: str | int | None = None


class OrderRequest(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A single order (place, or the whole order again for a modify)."""
    orderCode: str
    type: Literal["MARKET", "LIMIT", "STOP", "STOP_LIMIT"]
    instrument: str
    quantity: str
    side: Literal["BUY", "SELL"]
    tif: str
    positionEffect: str = "OPEN"
    limitPrice: str | None = None
    stopPrice: str | None = None


class GroupRequest(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    orders: list[OrderRequest]
    contingencyType: Literal["OCO", "IF-THEN"]


class OrderResponse(msgspec.Struct):
    orderId: int
    updateOrderId: int


class GroupResponse(msgspec.Struct):
    orderResponses: list[OrderResponse]


class Error(msgspec.Struct):
    errorCode: int | str | None = None
    description: str | None = None


class Leg(msgspec.Struct):
    instrument: str
    positionEffect: str | None = None
    positionCode: str | None = None
    price: Decimal | None = None
    legRatio: Decimal | None = None
    quantity: Decimal | None = None
    filledQuantity: Decimal = Decimal(0)
    remainingQuantity: Decimal | None = None
    averagePrice: Decimal | None = None


class Link(msgspec.Struct):
    linkType: str
    linkedOrder: str | None = None
    linkedClientOrderId: str | None = None


class Execution(msgspec.Struct):
    executionCode: str
    orderCode: str
    updateOrderId: int
    version: int
    status: str
    finalStatus: bool = False
    filledQuantity: Decimal = Decimal(0)
    clientOrderId: str | None = None
    account: str | None = None
    actionCode: str | None = None
    transactionTime: str | None = None
    # a fill's own size and price (absent on executions that trade nothing)
    lastQuantity: Decimal | None = None
    lastPrice: Decimal | None = None


class Order(msgspec.Struct):
    version: int
    orderId: int
    orderCode: str
    type: str
    instrument: str
    status: str
    side: str
    account: str | None = None
    clientOrderId: str | None = None
    actionCode: str | None = None
    legCount: int = 1
    finalStatus: bool = False
    legs: list[Leg] = []
    tif: str | None = None
    issueTime: str | None = None
    transactionTime: str | None = None
    links: list[Link] = []
    executions: list[Execution] = []
    limitPrice: Decimal | None = None
    stopPrice: Decimal | None = None


class OrderList(msgspec.Struct):
    orders: list[Order]


# reference data (assumptions: see the module's docstring)

class Instrument(msgspec.Struct):
    symbol: str  # "ETH/USD": also what orders carry as `instrument`
    priceIncrement: Decimal
    lotSize: Decimal
    type: str | None = None
    currency: str | None = None  # the quote currency
    description: str | None = None
    minOrderSize: Decimal | None = None
    tradingStatus: str | None = None


class InstrumentList(msgspec.Struct):
    instruments: list[Instrument]


class EventType(msgspec.Struct):
    type: str
    format: str = "COMPACT"


class MarketDataRequest(msgspec.Struct, forbid_unknown_fields=True):
    account: str
    symbols: list[str]
    eventTypes: list[EventType]


class QuoteEvent(msgspec.Struct):
    symbol: str
    type: str = "Quote"
    bid: Decimal | None = None
    ask: Decimal | None = None
    time: str | None = None


class MarketData(msgspec.Struct):
    events: list[QuoteEvent] = []


# the account's positions (see the module's docstring)

class Position(msgspec.Struct):
    symbol: str  # the instrument, as orders name it ("ETH/USD")
    quantity: Decimal  # unsigned, in units
    side: Literal["BUY", "SELL"]
    positionCode: str | None = None
    account: str | None = None
    version: int | None = None
    quantityNotional: Decimal | None = None
    openTime: str | None = None
    openPrice: Decimal | None = None
    lastUpdateTime: str | None = None


class PositionList(msgspec.Struct):
    positions: list[Position]


encoder = msgspec.json.Encoder()
instruments_decoder = msgspec.json.Decoder(InstrumentList)
market_data_decoder = msgspec.json.Decoder(MarketData)
login_decoder = msgspec.json.Decoder(Session)
order_response_decoder = msgspec.json.Decoder(OrderResponse)
group_response_decoder = msgspec.json.Decoder(GroupResponse)
error_decoder = msgspec.json.Decoder(Error)
order_decoder = msgspec.json.Decoder(Order)
# the list endpoint: {"orders": [...]}, or a bare list as the seed prints it
orders_decoder = msgspec.json.Decoder(Union[OrderList, list[Order]])
# the positions: {"positions": [...]} (assumed), or a bare list
positions_decoder = msgspec.json.Decoder(Union[PositionList, list[Position]])
