"""Citrex wire types (seed 004 and the venue's SDKs), one pre-built decoder each.

Amounts are e18 integers written as decimal strings; times are milliseconds.
The WebSocket is JSON-RPC 2.0 with string ids. The venue's docs name the WS
methods for orders but the excerpts we have do not spell them: the names
below (WS_SUBSCRIBE, WS_ORDER_UPDATE, ORDERS_CHANNEL) are ours, kept in this
one place so they change here and in the simulator together.

Reference data (public, no session), as the venue's official TypeScript client
(citrex-sdk: getProducts, getTickers, getOrderBook) reads it:
- `GET /v1/products`: a bare list of Product. Checked against the client's
  own types and fixtures. The list carries the price step (`increment`) and
  `minQuantity` but no quantity step: taking `minQuantity` as the lot is OUR
  ASSUMPTION (the client sizes orders by it alone).
- `GET /v1/ticker/24hr`: a bare list of Ticker, with `markPrice` (checked
  against the client's types).
- `GET /v1/depth?symbol=ethperp&limit=5`: `{asks, bids}` of
  `[price, quantity, cumulative quantity]` rows, best first (checked against
  the client's fixtures): the best bid and ask.
The client shows no public market-data WebSocket, so prices are polled by REST
(ticker + depth each poll), not streamed.
"""
from __future__ import annotations

from typing import Any

import msgspec

from gateway.eip712 import DOMAIN_TYPE

WS_SUBSCRIBE = "subscribe"
WS_ORDER_UPDATE = "orderUpdate"
ORDERS_CHANNEL = "orders"
SESSION_COOKIE = "connectedAddress"

ORDER_TYPE = {"LIMIT": 0, "LIMIT_MAKER": 1, "MARKET": 2}
TIME_IN_FORCE = {"GTC": 0, "FOK": 1, "IOC": 2}

ORDER_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "subAccountId", "type": "uint8"},
    {"name": "productId", "type": "uint32"},
    {"name": "isBuy", "type": "bool"},
    {"name": "orderType", "type": "uint8"},
    {"name": "timeInForce", "type": "uint8"},
    {"name": "expiration", "type": "uint64"},
    {"name": "price", "type": "uint128"},
    {"name": "quantity", "type": "uint128"},
    {"name": "nonce", "type": "uint64"},
]
CANCEL_ORDER_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "subAccountId", "type": "uint8"},
    {"name": "productId", "type": "uint32"},
    {"name": "orderId", "type": "string"},
]
CANCEL_ORDERS_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "subAccountId", "type": "uint8"},
    {"name": "productId", "type": "uint32"},
]
LOGIN_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "message", "type": "string"},
    {"name": "timestamp", "type": "uint64"},
]


def eip712_types() -> dict[str, list[dict[str, str]]]:
    return {
        "EIP712Domain": DOMAIN_TYPE,
        "Order": ORDER_FIELDS,
        "CancelOrder": CANCEL_ORDER_FIELDS,
        "CancelOrders": CANCEL_ORDERS_FIELDS,
        "LoginMessage": LOGIN_FIELDS,
    }


# requests (field order is the venue's own)

class PlaceOrder(msgspec.Struct):
    account: str
    subAccountId: int
    productId: int
    isBuy: bool
    orderType: int
    timeInForce: int
    expiration: int
    price: str
    quantity: str
    nonce: int
    signature: str


class CancelOrder(msgspec.Struct):
    account: str
    subAccountId: int
    productId: int
    orderId: str
    signature: str


class CancelOrders(msgspec.Struct):
    account: str
    subAccountId: int
    productId: int
    signature: str


class CancelAndReplace(msgspec.Struct):
    idToCancel: str
    newOrder: PlaceOrder


class Login(msgspec.Struct):
    account: str
    message: str
    timestamp: int
    signature: str


# replies and stream messages

class Trade(msgspec.Struct):
    price: str
    quantity: str
    uid: str
    isTaker: bool = False
    fee: str = "0"
    createdAt: int = 0


class Order(msgspec.Struct):
    id: str
    productId: int
    account: str
    subAccountId: int
    isBuy: bool
    orderType: int
    timeInForce: int
    price: str
    quantity: str
    nonce: int
    status: str
    productSymbol: str = ""
    sender: str = ""
    signature: str = ""
    expiration: int = 0
    txHash: str = ""
    createdAt: int = 0
    residualQuantity: str = "0"
    trades: list[Trade] = []


class Result(msgspec.Struct):
    """Replies that carry no order: cancels, login errors, every error body."""
    success: bool = False
    error: str | None = None


class RpcError(msgspec.Struct):
    code: int = 0
    message: str = ""


class WsMessage(msgspec.Struct):
    """Any inbound JSON-RPC frame: a reply (id + result/error) or a notification."""
    jsonrpc: str = "2.0"
    id: str | None = None
    method: str | None = None
    params: Order | None = None
    result: Any = None
    error: RpcError | None = None


# reference data (public)

class Product(msgspec.Struct):
    """One entry of `GET /v1/products`. Sizes are e18 integers as decimal strings."""
    id: int
    symbol: str  # "ethperp"
    increment: str | int  # the price step (tick), e18
    minQuantity: str | int  # e18; also the quantity step (our assumption: the list has none)
    active: bool = True
    type: str = "PERP"
    baseAsset: str = ""  # "WETH": the wrapped token, so the base is read from the symbol
    quoteAsset: str = ""  # "USDC"
    maxQuantity: str | int | None = None
    markPrice: str | int | None = None


class Ticker(msgspec.Struct):
    """One entry of `GET /v1/ticker/24hr`."""
    productId: int
    productSymbol: str
    markPrice: str | int | None = None
    oraclePrice: str | int | None = None


class Depth(msgspec.Struct):
    """`GET /v1/depth`: rows of [price, quantity, cumulative quantity], e18 strings, best first."""
    asks: list[list[str | int]] = []
    bids: list[list[str | int]] = []


products_decoder = msgspec.json.Decoder(list[Product])
tickers_decoder = msgspec.json.Decoder(list[Ticker])
depth_decoder = msgspec.json.Decoder(Depth)
order_decoder = msgspec.json.Decoder(Order)
orders_decoder = msgspec.json.Decoder(list[Order])
result_decoder = msgspec.json.Decoder(Result)
ws_decoder = msgspec.json.Decoder(WsMessage)
encoder = msgspec.json.Encoder()
