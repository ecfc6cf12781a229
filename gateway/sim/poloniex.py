"""Poloniex spot v3 simulator: regular and smart orders over REST, the
private `orders` channel over WS, on the shared matching engine.

Checks what the venue checks: every private request carries `key`,
`signTimestamp` and a signature the simulator rebuilds on its own (for a GET
it re-sorts the query and adds signTimestamp, which the URL never carries);
a timestamp more than a second ahead is 400, one older than recvWindow (or a
minute without it) is 408; Content-Type must be application/json. Smart
orders rest in the engine as stop orders, untriggered until the last trade
price crosses their stopPrice; the triggered order then gets an id of its
own, trades on the book and is pushed with source "SMART". Ids are decimal
strings above 2^53, as the venue's are.

Every trade carries the fee the venue takes from what the account receives (the
base currency on a buy, the quote on a sell: ccxt's feeSide "get"), at ccxt's
listed rate; the stream's trade events and GET /orders/{id}/trades (the
order's trades, as ccxt's fetchOrderTrades reads them) say the same trade id,
price, quantity and fee.

Market data is public, as on the venue (ccxt loads markets before anything
else: /markets, /v2/currencies, /v3/market/allInstruments; fetch_ticker reads
/markets/{symbol}/ticker24h); a path the venue does not have answers 404 with
a JSON body, never 401. The markets are the simulator's own catalogue
(CATALOGUE, the venue's real products), never the gateway's config, so a
wrong config meets a venue that disagrees; the tickers are its own book (best
bid and ask, markPrice the mid), which its market maker and every trade move.
Test hooks change the catalogue at run time (halt, resume, delist, set_sizes)
and break the market data (markets_fault, prices_fault). The public WebSocket
(/ws/public: book_lv2 and ticker, pushed on every change of the book) is
poloniex_public.py, with its own hooks (sim.public). Request fields
the venue's documented models (the ones ccxt passes through) do not have are
accepted and counted in unknown_fields.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import itertools
import logging
import time
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

import msgspec
from aiohttp import web

from gateway._core.fixedpoint import FixedPointError, format_scaled
from gateway.sim.base import Refused, SimServer, scaled
from gateway.sim.engine import (EngineError, MatchingEngine, Order, OrderType, Reason, Side, Status, Stp,
                                TimeInForce, Trade, Update)
from gateway.sim.market_maker import MarketMaker
from gateway.sim.poloniex_public import PublicMarketData
from gateway.venues.poloniex import schemas as s

log = logging.getLogger("gateway.sim.poloniex")

FIRST_ID = 2**60 + 1  # above 2^53: a float reader would round them
# ccxt's Poloniex trading fee (maker and taker 0.0009), e18, taken from what the account receives
FEE_RATE = 9 * 10**14
# market data: public on the venue; everything else here is private
PUBLIC = frozenset({"/markets", "/v2/currencies", "/currencies", "/timestamp", "/v3/market/allInstruments"})
PUBLIC_PREFIX = "/markets/"  # /markets/{symbol}/ticker24h, /markets/ticker24h
# what the venue's documented request models hold (ccxt sends these and passes others through)
ORDER_FIELDS = frozenset({"symbol", "side", "type", "timeInForce", "accountType", "price", "quantity", "amount",
                          "clientOrderId", "allowBorrow", "stpMode", "slippageTolerance"})
SMART_FIELDS = frozenset({"symbol", "side", "type", "timeInForce", "accountType", "price", "stopPrice", "quantity",
                          "amount", "clientOrderId"})
REPLACE_FIELDS = frozenset({"clientOrderId", "price", "stopPrice", "quantity", "amount", "type", "timeInForce",
                            "allowBorrow", "proceedOnFailure", "slippageTolerance"})
CANCEL_BY_IDS_FIELDS = frozenset({"orderIds", "clientOrderIds"})
CANCEL_ALL_FIELDS = frozenset({"symbols", "accountTypes"})
WS_AUTH_FIELDS = frozenset({"key", "signTimestamp", "signature", "signatureMethod", "signatureVersion"})
ACCOUNT = web.RequestKey("account", str)


@dataclass(frozen=True)
class Product:
    symbol: str  # the venue's, e.g. "ETH_USDT"
    tick: int  # e18
    lot: int  # e18
    min_quantity: int = 0
    state: str = s.NORMAL  # another (POST_ONLY, PAUSE) takes no orders here


def _product(symbol: str, tick: str, lot: str, min_quantity: str) -> Product:
    return Product(symbol, scaled(tick), scaled(lot), scaled(min_quantity))


# the venue's spot markets the simulator lists: what config/gateway.toml trades (ETH_USDT,
# BTC_USDT, same sizes), and a base listed against a second quote (ETH_BTC), as the venue
# lists many, so "ETH-PERP" has to mean ETH_USDT by the adapter's default quote, not by luck
CATALOGUE = (
    _product("ETH_USDT", "0.01", "0.0001", "0.0001"),
    _product("BTC_USDT", "0.01", "0.000001", "0.000001"),
    _product("SOL_USDT", "0.001", "0.001", "0.001"),
    _product("ETH_BTC", "0.00001", "0.0001", "0.0001"),
)
DEFAULT_QUOTE = "USDT"  # what a unified "ETH-PERP" means here (the adapter's default_quote)

class _Reject(Refused):
    def __init__(self, message: str, status: int = 400, code: int = s.CODE_BAD_REQUEST):
        super().__init__(message, status)
        self.code = code


class _SmartBody(msgspec.Struct):
    symbol: str
    side: str
    stopPrice: msgspec.Raw = msgspec.Raw(b"null")
    type: str | None = None
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    timeInForce: str = "GTC"
    clientOrderId: str | None = None
    accountType: str | None = None


class _ReplaceBody(msgspec.Struct):
    clientOrderId: str | None = None
    price: str | None = None
    stopPrice: msgspec.Raw = msgspec.Raw(b"null")
    quantity: str | None = None
    amount: str | None = None
    type: str | None = None
    timeInForce: str | None = None
    proceedOnFailure: str | bool | None = None


_place_decoder = msgspec.json.Decoder(s.PlaceOrder)
_smart_decoder = msgspec.json.Decoder(_SmartBody)
_replace_decoder = msgspec.json.Decoder(_ReplaceBody)
_by_ids_decoder = msgspec.json.Decoder(s.CancelByIds)
_all_decoder = msgspec.json.Decoder(s.CancelAll)
_encoder = msgspec.json.Encoder()


def _dec(value: int) -> str:
    return format_scaled(value, 18)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _hmac_b64(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


class PoloniexSim(SimServer):
    ws_path = s.WS_PATH

    def __init__(self, products: list[Product], *, aliases: dict[str, str] | None = None,
                 mid_prices: dict[str, int] | None = None, market_maker: bool = True,
                 mm_levels: int = 5, mm_quantity: int = 10**18):
        self.products = {p.symbol: p for p in products}
        self.aliases = dict(aliases or {})  # unified symbol -> venue symbol, for the test hooks
        ids = itertools.count(FIRST_ID)
        trade_ids = itertools.count(FIRST_ID + 7)
        self.engine = MatchingEngine(stp=Stp.CANCEL_TAKER, id_factory=lambda: str(next(ids)),
                                     trade_id_factory=lambda: str(next(trade_ids)))
        super().__init__()
        self.keys: dict[str, str] = {}  # api key -> secret
        self.regular: dict[str, Order] = {}  # venue id (a triggered order's own) -> engine order
        self.smart: dict[str, Order] = {}
        self.regular_cid: dict[tuple[str, str], Order] = {}
        self.smart_cid: dict[tuple[str, str], Order] = {}
        if market_maker:
            self.mm = MarketMaker.quoting(
                self.engine, "market-maker",
                {symbol: (mid, self.products[symbol].tick) for symbol, mid in (mid_prices or {}).items()},
                levels=mm_levels, quantity=mm_quantity)
        self.refused_signatures = 0
        # test hook: this many GET /orders/{id}/trades answers list nothing yet (a venue whose
        # trade history runs behind its order state)
        self.trades_lag = 0
        # test hooks: GET /markets answers "garbage" (not JSON) or "empty" (no markets); the
        # tickers answer "garbage" or are "silent" (no answer until the fault is cleared)
        self.markets_fault: str | None = None
        self._prices_fault: str | None = None
        self._prices_back = asyncio.Event()
        # the public WebSocket (/ws/public): book_lv2 and ticker from the book, its own test hooks
        self.public = PublicMarketData(self)
        self.ticker_requests = 0  # GET .../ticker24h answered (public: not in requests)

    def register(self, api_key: str, api_secret: str) -> None:
        self.keys[api_key] = api_secret

    # server

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if request.match_info.http_exception is not None:
            # no such path (or method): the venue's JSON error, not an authentication failure
            status = request.match_info.http_exception.status
            return web.json_response({"code": status, "message": f"{request.method} {request.path}: not found"
                                      if status == 404 else "method not allowed"}, status=status)
        if request.path in PUBLIC or request.path.startswith(PUBLIC_PREFIX) \
                or request.path in (self.ws_path, s.PUBLIC_WS_PATH) \
                or request.path.startswith("/_sim"):
            return await handler(request)
        self.count_request(request)
        try:
            request[ACCOUNT] = await self._authenticate(request)
        except _Reject as exc:
            return self._error(exc)
        if request.method != "GET":
            if self.refuse_next():
                return self.too_many_requests({"code": 429, "message": "too many requests"})
            await self.slow_reply()
        try:
            return await handler(request)
        except _Reject as exc:
            return self._error(exc)

    async def _authenticate(self, request: web.Request) -> str:
        key, ts, signature = (request.headers.get(h) for h in ("key", "signTimestamp", "signature"))
        if not key or not ts or not signature:
            raise _Reject("missing key, signTimestamp or signature header", 401, 401)
        secret = self.keys.get(key)
        if secret is None:
            raise _Reject("unknown API key", 401, 401)
        if request.content_type != "application/json":
            raise _Reject("Content-Type must be application/json")
        try:
            stamp = int(ts)
        except ValueError:
            raise _Reject("signTimestamp must be milliseconds") from None
        now = _now_ms()
        if stamp - now > s.TIMESTAMP_AHEAD_MS:
            raise _Reject("signTimestamp is more than 1 second ahead of the system time", 400, 400)
        window = request.headers.get("recvWindow")
        limit = int(window) if window and window.isdigit() else s.TIMESTAMP_VALID_MS
        if now - stamp > limit:
            raise _Reject("request timeout: signTimestamp is outside the receive window", 408, 408)
        body = await request.read()
        # rebuilt here, not by the client's code: the URL's order and encoding are not the signed ones
        if body:
            params = f"requestBody={body.decode()}&signTimestamp={ts}"
        else:
            pairs = sorted([*request.query.items(), ("signTimestamp", ts)], key=lambda kv: kv[0])
            params = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        path = request.raw_path.partition("?")[0]
        expected = _hmac_b64(secret, f"{request.method}\n{path}\n{params}")
        if not hmac.compare_digest(expected, signature):
            self.refused_signatures += 1
            raise _Reject("invalid signature", 401, 401)
        return key

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes([
            web.get("/markets", self._markets),
            web.get("/v2/currencies", self._currencies),
            web.get("/v3/market/allInstruments", self._instruments),
            web.get("/timestamp", self._timestamp),
            web.get("/markets/ticker24h", self._tickers),
            web.get("/markets/{symbol}/ticker24h", self._ticker),
            web.post("/orders", self._place),
            web.post("/orders/batch", self._place_batch),
            web.get("/orders", self._list),
            web.delete("/orders/cancelByIds", partial(self._cancel_by_ids, smart=False)),
            web.delete("/orders", partial(self._cancel_all, smart=False)),
            web.get("/orders/{ref}", self._get),
            web.get("/orders/{ref}/trades", self._order_trades),
            web.delete("/orders/{ref}", self._cancel),
            web.put("/orders/{ref}", partial(self._cancel_replace, smart=False)),
            web.post("/smartorders", self._place_smart),
            web.get("/smartorders", self._list_smart),
            web.delete("/smartorders/cancelByIds", partial(self._cancel_by_ids, smart=True)),
            web.delete("/smartorders", partial(self._cancel_all, smart=True)),
            web.get("/smartorders/{ref}", self._get_smart),
            web.delete("/smartorders/{ref}", self._cancel_smart),
            web.put("/smartorders/{ref}", partial(self._cancel_replace, smart=True)),
            web.get(self.ws_path, self._ws),
            web.get(s.PUBLIC_WS_PATH, self.public.handle),
        ])
        return app

    # helpers

    @staticmethod
    def _error(exc: _Reject) -> web.Response:
        return web.json_response({"code": exc.code, "message": str(exc)}, status=exc.status)

    def invalid_body(self, exc: Exception) -> _Reject:
        return _Reject(f"invalid request: {exc}")

    def _product(self, symbol: str) -> Product:
        product = self.products.get(symbol)
        if product is None:
            raise _Reject(f"unknown symbol {symbol}")
        if product.state != s.NORMAL:
            raise _Reject(f"symbol {symbol} is {product.state}: it takes no orders")
        return product

    @staticmethod
    def _amount(name: str, text: str | None, step: int) -> int:
        if text is None:
            raise _Reject(f"{name} is required")
        try:
            value = scaled(text)
        except FixedPointError:
            raise _Reject(f"{name} {text!r} is not a decimal") from None
        if value <= 0 or value % step:
            raise _Reject(f"{name} {text} is not a positive multiple of {_dec(step)}")
        return value

    def _client_id(self, account: str, cid: str | None, table: dict) -> str:
        cid = cid or ""
        if len(cid) > s.CLIENT_ORDER_ID_MAX:
            raise _Reject(f"clientOrderId longer than {s.CLIENT_ORDER_ID_MAX}")
        if cid and (account, cid) in table:
            raise _Reject(f"clientOrderId {cid} is already used")
        return cid

    def _new_order(self, account: str, symbol: str, side: str, kind: str, tif: str | None, quantity: str | None,
                   price: str | None, amount: str | None, cid: str, stop: int | None = None) -> Order:
        product = self._product(symbol)
        try:
            side_e, tif_e = Side(side), TimeInForce(tif or "GTC")
        except ValueError:
            raise _Reject(f"invalid side {side} or timeInForce {tif}") from None
        engine_type = {"LIMIT": OrderType.LIMIT, "LIMIT_MAKER": OrderType.LIMIT_MAKER, "MARKET": OrderType.MARKET,
                       "STOP": OrderType.MARKET, "STOP_LIMIT": OrderType.LIMIT}.get(kind)
        if engine_type is None:
            raise _Reject(f"invalid type {kind}")
        if engine_type is OrderType.MARKET and side_e is Side.BUY and quantity is None:
            raise _Reject("a market buy by quote amount is not simulated: send quantity")
        if amount is not None and quantity is None:
            raise _Reject("amount-sized orders are not simulated: send quantity")
        qty = self._amount("quantity", quantity, product.lot)
        if qty < product.min_quantity:
            raise _Reject(f"quantity {quantity} is below the minimum {_dec(product.min_quantity)}")
        px = None
        if engine_type is not OrderType.MARKET:
            px = self._amount("price", price, product.tick)
        elif price is not None:
            raise _Reject(f"a {kind} order takes no price")
        return Order(order_id=self.engine.new_id(), account=account, product=symbol, side=side_e, type=engine_type,
                     tif=tif_e, price=px, quantity=qty, stop_price=stop, client_id=cid,
                     extra={"type": kind, "smart": stop is not None})

    def _note_triggers(self, updates: list[Update]) -> None:
        """A smart order that left UNTRIGGERED is on the book now, as a regular order with its own id."""
        for update in updates:
            order = update.order
            if order.extra.get("smart") and "triggered_id" not in order.extra \
                    and order.status is not Status.UNTRIGGERED and not order.extra.get("canceled_untriggered"):
                tid = self.engine.new_id()
                order.extra["triggered_id"] = tid
                order.extra["type"] = "MARKET" if order.price is None else "LIMIT"
                self.regular[tid] = order
                if order.client_id:
                    self.regular_cid[(order.account, order.client_id)] = order

    def _regular(self, account: str, ref: str) -> Order:
        return self._lookup(account, ref, self.regular, self.regular_cid, "order")

    def _smart_order(self, account: str, ref: str) -> Order:
        return self._lookup(account, ref, self.smart, self.smart_cid, "smart order")

    @staticmethod
    def _lookup(account: str, ref: str, by_id: dict[str, Order], by_cid: dict[tuple[str, str], Order],
                what: str) -> Order:
        """ref is the venue's id, or "cid:" and the client's id (the account's own)."""
        if ref.startswith(s.CID_PREFIX):
            order = by_cid.get((account, ref[len(s.CID_PREFIX):]))
        else:
            order = by_id.get(ref)
        if order is None or order.account != account:
            raise _Reject(f"{what} {ref} not found", 404, s.CODE_NOT_FOUND)
        return order

    # the venue's JSON

    @staticmethod
    def _state(order: Order) -> str:
        status = order.status
        if status is Status.OPEN:
            return s.NEW
        if status is Status.CANCELLED:
            return s.PARTIALLY_CANCELED if order.filled else s.CANCELED
        return status.value  # PARTIALLY_FILLED, FILLED, REJECTED

    @staticmethod
    def _smart_state(order: Order) -> str:
        if order.status is Status.UNTRIGGERED:
            return s.PENDING_NEW
        if order.extra.get("canceled_untriggered"):
            return s.CANCELED
        return s.TRIGGERED

    def _wire(self, order: Order) -> dict:
        return {
            "id": order.extra.get("triggered_id", order.order_id), "clientOrderId": order.client_id or "",
            "symbol": order.product, "state": self._state(order), "accountType": "SPOT",
            "side": order.side.value, "type": order.extra.get("type", order.type.value),
            "timeInForce": order.tif.value, "quantity": _dec(order.quantity), "price": _dec(order.price or 0),
            "avgPrice": _dec(order.notional // order.filled if order.filled else 0), "amount": "0",
            "filledQuantity": _dec(order.filled), "filledAmount": _dec(order.notional // 10**18),
            "source": s.SOURCE_SMART if order.extra.get("smart") else "API",
            "createTime": order.created_ns // 1_000_000, "updateTime": order.updated_ns // 1_000_000,
        }

    @staticmethod
    def fee_of(order: Order, trade: Trade) -> int:
        """The fee the order's account pays on this trade (e18), in the currency it receives."""
        received = trade.quantity if order.side is Side.BUY else trade.price * trade.quantity // 10**18
        return received * FEE_RATE // 10**18

    @staticmethod
    def fee_currency(order: Order) -> str:
        base, _, quote = order.product.partition("_")
        return base if order.side is Side.BUY else quote

    def _trade_wire(self, order: Order, trade: Trade) -> dict:
        """One of the order's trades as GET /orders/{id}/trades lists it (ccxt's fetchOrderTrades)."""
        return {
            "id": trade.trade_id, "symbol": order.product, "accountType": "SPOT",
            "orderId": order.extra.get("triggered_id", order.order_id), "side": order.side.value,
            "type": order.extra.get("type", order.type.value),
            "matchRole": "TAKER" if trade.taker_order_id == order.order_id else "MAKER",
            "createTime": trade.ts_ns // 1_000_000, "price": _dec(trade.price), "quantity": _dec(trade.quantity),
            "amount": _dec(trade.price * trade.quantity // 10**18), "feeCurrency": self.fee_currency(order),
            "feeAmount": _dec(self.fee_of(order, trade)), "pageId": trade.trade_id,
            "clientOrderId": order.client_id or "",
        }

    def _smart_wire(self, order: Order) -> dict:
        record = {
            "id": order.order_id, "clientOrderId": order.client_id or "", "symbol": order.product,
            "state": self._smart_state(order), "accountType": "SPOT", "side": order.side.value,
            "type": "STOP" if order.price is None else "STOP_LIMIT", "timeInForce": order.tif.value,
            "quantity": _dec(order.quantity), "price": _dec(order.price or 0), "amount": "0",
            # a JSON number, as the venue sometimes sends it: exact digits, never through a float
            "stopPrice": msgspec.Raw(_dec(order.stop_price).encode()),
            "createTime": order.created_ns // 1_000_000, "updateTime": order.updated_ns // 1_000_000,
        }
        if "triggered_id" in order.extra:
            record["triggeredOrder"] = self._wire(order)
        return record

    def _events(self, update: Update) -> list[dict]:
        """The orders channel's view of one engine update: place, a trade per fill, canceled."""
        order = update.order
        if order.status is Status.UNTRIGGERED or order.extra.get("canceled_untriggered"):
            return []  # a smart order is not on the book: the channel says nothing
        events = []
        base = self._wire(order)
        common = {
            "symbol": order.product, "type": base["type"], "quantity": base["quantity"], "orderId": base["id"],
            "clientOrderId": base["clientOrderId"], "accountType": "SPOT", "source": base["source"],
            "side": base["side"], "price": base["price"], "orderAmount": "0", "createTime": base["createTime"],
            "feeCurrency": "", "tradeFee": "0", "matchRole": "", "tradeId": "0", "tradeQty": "0",
            "tradePrice": "0", "tradeAmount": "0", "tradeTime": 0,
        }
        filled = order.filled - sum(t.quantity for t in update.new_trades)
        notional = order.notional - sum(t.price * t.quantity for t in update.new_trades)
        if not order.extra.get("announced"):
            order.extra["announced"] = True
            if order.status is Status.REJECTED:
                return []  # refused in the REST reply
            events.append({**common, "eventType": "place", "state": s.NEW, "filledQuantity": "0",
                           "filledAmount": "0", "ts": _now_ms()})
        for trade in update.new_trades:
            filled += trade.quantity
            notional += trade.price * trade.quantity
            events.append({
                **common, "eventType": "trade", "state": s.FILLED if filled == order.quantity else s.PARTIALLY_FILLED,
                "filledQuantity": _dec(filled), "filledAmount": _dec(notional // 10**18),
                "matchRole": "TAKER" if trade.taker_order_id == order.order_id else "MAKER",
                "tradeId": trade.trade_id, "tradeQty": _dec(trade.quantity), "tradePrice": _dec(trade.price),
                "tradeAmount": _dec(trade.price * trade.quantity // 10**18), "tradeTime": trade.ts_ns // 1_000_000,
                "tradeFee": _dec(self.fee_of(order, trade)), "feeCurrency": self.fee_currency(order),
                "ts": _now_ms(),
            })
        if order.status is Status.CANCELLED:
            events.append({**common, "eventType": "canceled", "state": self._state(order),
                           "filledQuantity": _dec(order.filled), "filledAmount": _dec(order.notional // 10**18),
                           "ts": _now_ms()})
        return events

    async def _publish(self, updates: list[Update]) -> None:
        self._note_triggers(updates)
        if self.mm is not None:
            updates = updates + self.mm.refill()
        for update in updates:
            account = update.order.account
            if not self.subscribers.get(account):
                continue
            events = self._events(update)
            if events:
                await self.deliver(account, [_encoder.encode({"channel": s.ORDERS_CHANNEL, "data": events}).decode()])
        await self.public.on_change()

    async def _respond(self, reply: dict, updates: list[Update]) -> web.Response:
        return await self.reply_and_push(reply, self._publish(updates))

    def _submit(self, order: Order) -> list[Update]:
        try:
            updates = self.engine.submit(order)
        except EngineError as exc:
            raise _Reject(str(exc)) from None
        self._note_triggers(updates)
        if order.status is Status.REJECTED:
            order.extra["announced"] = True
            raise _Reject("post-only order would take liquidity: rejected", 400, s.CODE_POST_ONLY)
        return updates

    def _register(self, order: Order) -> None:
        if order.extra.get("smart"):
            self.smart[order.order_id] = order
            if order.client_id:
                self.smart_cid[(order.account, order.client_id)] = order
        else:
            self.regular[order.order_id] = order
            if order.client_id:
                self.regular_cid[(order.account, order.client_id)] = order

    # public

    async def _markets(self, request: web.Request) -> web.Response:
        def scale(step: int) -> int:
            return len(_dec(step).partition(".")[2])

        if self.markets_fault == "garbage":
            return web.Response(body=b"<html>502 Bad Gateway", content_type="text/html")
        if self.markets_fault == "empty":
            return web.json_response([])
        return web.json_response([
            {"symbol": p.symbol, "baseCurrencyName": p.symbol.partition("_")[0],
             "quoteCurrencyName": p.symbol.partition("_")[2], "displayName": p.symbol.replace("_", "/"),
             "state": p.state, "visibleStartTime": 0, "tradableStartTime": 0,
             "symbolTradeLimit": {"symbol": p.symbol, "priceScale": scale(p.tick), "quantityScale": scale(p.lot),
                                  "amountScale": scale(p.tick), "minQuantity": _dec(p.min_quantity),
                                  "minAmount": "1"}}
            for p in self.products.values()
        ])

    async def _currencies(self, request: web.Request) -> web.Response:
        names = sorted({part for p in self.products for part in p.split("_")})
        return web.json_response([{"id": i + 1, "coin": n, "name": n, "delisted": False, "tradeEnable": True,
                                   "supportBorrow": False, "networkList": []} for i, n in enumerate(names)])

    def _ticker_wire(self, product: str) -> dict:
        """A market's GET .../ticker24h, from the book: the best bid and ask with their sizes,
        markPrice the mid ("0" for a side the book lacks, as for a market nobody quotes)."""
        bids, asks = self.engine.depth(product, 1)
        bid, bid_qty = bids[0] if bids else (0, 0)
        ask, ask_qty = asks[0] if asks else (0, 0)
        last = self.engine.last_price(product) or 0
        mark = self.mark_price(product)
        now = _now_ms()
        return {"symbol": product, "open": _dec(last), "low": _dec(last), "high": _dec(last), "close": _dec(last),
                "quantity": "0", "amount": "0", "tradeCount": "0", "startTime": str(now - 86_400_000),
                "closeTime": str(now), "displayName": product.replace("_", "/"), "dailyChange": "0",
                "bid": _dec(bid), "bidQuantity": _dec(bid_qty), "ask": _dec(ask), "askQuantity": _dec(ask_qty),
                "ts": str(now), "markPrice": _dec(mark)}

    def mark_price(self, product: str) -> int:
        """The market's markPrice: the mid, else the last trade, else 0."""
        bid, ask = self.engine.best_bid(product), self.engine.best_ask(product)
        return (bid + ask) // 2 if bid and ask else (self.engine.last_price(product) or 0)

    async def _prices_answer(self) -> web.Response | None:
        if self._prices_fault == "silent":
            await self._prices_back.wait()
        if self._prices_fault == "garbage":
            return web.Response(body=b'{"symbol":', content_type="application/json")
        return None

    async def _ticker(self, request: web.Request) -> web.Response:
        self.ticker_requests += 1
        symbol = request.match_info["symbol"]
        broken = await self._prices_answer()
        if broken is not None:
            return broken
        if symbol not in self.products:
            raise _Reject(f"unknown symbol {symbol}", 404, s.CODE_NOT_FOUND)
        return web.json_response(self._ticker_wire(symbol))

    async def _tickers(self, request: web.Request) -> web.Response:
        self.ticker_requests += 1
        broken = await self._prices_answer()
        return broken or web.json_response([self._ticker_wire(p) for p in self.products])

    async def _timestamp(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _now_ms()})

    async def _instruments(self, request: web.Request) -> web.Response:
        # the futures list: a spot venue simulator has none
        return web.json_response({"code": "200", "msg": "Success", "data": []})

    # regular orders

    async def _place(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        body = await self.read_body(request, _place_decoder, {"": ORDER_FIELDS})
        if body.type == "MARKET" and body.timeInForce is not None:
            self.unknown_fields["POST /orders.timeInForce on a MARKET order"] += 1
        cid = self._client_id(account, body.clientOrderId, self.regular_cid)
        order = self._new_order(account, body.symbol, body.side, body.type, body.timeInForce, body.quantity,
                                body.price, body.amount, cid)
        updates = self._submit(order)
        self._register(order)
        return await self._respond({"id": order.order_id, "clientOrderId": cid}, updates)

    async def _place_batch(self, request: web.Request) -> web.Response:
        """POST /orders/batch: a bare list of orders (ccxt's createOrders), each taken as
        POST /orders takes one; the reply is positional: its ids, or its error."""
        account = request[ACCOUNT]
        try:
            entries = msgspec.json.decode(await request.read(), type=list[dict])
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _Reject(f"invalid request: {exc}") from None
        self.received.append(("POST /orders/batch", entries))
        if not 1 <= len(entries) <= s.BATCH_MAX:
            raise _Reject(f"a batch holds 1 to {s.BATCH_MAX} orders, not {len(entries)}")
        results, updates = [], []
        for entry in entries:
            self.count_unknown("POST /orders/batch", entry, ORDER_FIELDS)
            try:
                try:
                    body = msgspec.convert(entry, s.PlaceOrder)
                except msgspec.ValidationError as exc:
                    raise _Reject(f"invalid order: {exc}") from None
                cid = self._client_id(account, body.clientOrderId, self.regular_cid)
                order = self._new_order(account, body.symbol, body.side, body.type, body.timeInForce, body.quantity,
                                        body.price, body.amount, cid)
                updates += self._submit(order)
                self._register(order)
                results.append({"id": order.order_id, "clientOrderId": cid})
            except _Reject as exc:
                results.append({"code": exc.code, "message": str(exc), "clientOrderId": ""})
        return await self._respond(results, updates)

    async def _list(self, request: web.Request) -> web.Response:
        symbol, limit = request.query.get("symbol"), int(request.query.get("limit", "100"))
        orders = [o for o in self.engine.open_orders(request[ACCOUNT], symbol)
                  if not (o.extra.get("smart") and o.status is Status.UNTRIGGERED)]
        return web.json_response([self._wire(o) for o in orders[:limit]])

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._wire(self._regular(request[ACCOUNT], request.match_info["ref"])))

    async def _order_trades(self, request: web.Request) -> web.Response:
        """GET /orders/{id}/trades: the order's trades, oldest first. By the venue's id only (its
        docs name no cid: form here); a triggered smart order's trades are the order it became."""
        ref = request.match_info["ref"]
        if ref.startswith(s.CID_PREFIX):
            raise _Reject(f"order {ref} not found", 404, s.CODE_NOT_FOUND)
        order = self._regular(request[ACCOUNT], ref)
        if self.trades_lag > 0:
            self.trades_lag -= 1
            return web.json_response([])
        return web.json_response([self._trade_wire(order, t) for t in order.trades])

    def _cancel_one(self, order: Order, reason: Reason = Reason.USER) -> Update:
        if not order.is_open:
            raise _Reject(f"order is {self._state(order)}: it cannot be canceled", 400, s.CODE_NOT_OPEN)
        return self.engine.cancel(order.account, order.order_id, reason)

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self._regular(request[ACCOUNT], request.match_info["ref"])
        update = self._cancel_one(order)
        return await self._respond({"orderId": order.extra.get("triggered_id", order.order_id),
                                    "clientOrderId": order.client_id or "", "state": s.PENDING_CANCEL,
                                    "code": s.CODE_OK, "message": ""}, [update])

    # smart orders

    async def _place_smart(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        body = await self.read_body(request, _smart_decoder, {"": SMART_FIELDS})
        cid = self._client_id(account, body.clientOrderId, self.smart_cid)
        try:
            stop_text = s.decimal_text(body.stopPrice)
        except ValueError as exc:
            raise _Reject(f"stopPrice: {exc}") from None
        product = self._product(body.symbol)
        stop = self._amount("stopPrice", stop_text, product.tick)
        kind = body.type or ("STOP_LIMIT" if body.price is not None else "STOP")
        if kind not in ("STOP", "STOP_LIMIT"):
            raise _Reject(f"invalid smart order type {kind}")
        if kind == "STOP_LIMIT" and body.price is None:
            raise _Reject("price is required for STOP_LIMIT")
        order = self._new_order(account, body.symbol, body.side, kind, body.timeInForce, body.quantity, body.price,
                                body.amount, cid, stop)
        self._register(order)
        updates = self._submit(order)
        return await self._respond({"id": order.order_id, "clientOrderId": cid}, updates)

    async def _list_smart(self, request: web.Request) -> web.Response:
        symbol, limit = request.query.get("symbol"), int(request.query.get("limit", "100"))
        orders = [o for o in self.engine.open_orders(request[ACCOUNT], symbol)
                  if o.extra.get("smart") and o.status is Status.UNTRIGGERED]
        return web.Response(body=_encoder.encode([self._smart_wire(o) for o in orders[:limit]]),
                            content_type="application/json")

    async def _get_smart(self, request: web.Request) -> web.Response:
        order = self._smart_order(request[ACCOUNT], request.match_info["ref"])
        return web.Response(body=_encoder.encode(self._smart_wire(order)), content_type="application/json")

    def _cancel_smart_one(self, order: Order, reason: Reason = Reason.USER) -> Update:
        if order.status is not Status.UNTRIGGERED:
            raise _Reject(f"smart order is {self._smart_state(order)}: it cannot be canceled", 400, s.CODE_NOT_OPEN)
        order.extra["canceled_untriggered"] = True
        return self.engine.cancel(order.account, order.order_id, reason)

    async def _cancel_smart(self, request: web.Request) -> web.Response:
        order = self._smart_order(request[ACCOUNT], request.match_info["ref"])
        update = self._cancel_smart_one(order)
        # the venue's own spelling here: CANCELLED (its state enum says CANCELED)
        return await self._respond({"orderId": order.order_id, "clientOrderId": order.client_id or "",
                                    "state": s.CANCELLED, "code": s.CODE_OK, "message": ""}, [update])

    # both kinds (the route says which): bulk cancels, cancel-replace

    def _cancel_results(self, orders: list[tuple[str, Order | None]], smart: bool) -> tuple[list[dict], list[Update]]:
        results, updates = [], []
        for ref, order in orders:
            if order is None:
                results.append({"orderId": ref, "clientOrderId": "", "state": "", "code": s.CODE_NOT_FOUND,
                                "message": "order not found"})
                continue
            venue_id = order.order_id if smart else order.extra.get("triggered_id", order.order_id)
            try:
                updates.append(self._cancel_smart_one(order) if smart else self._cancel_one(order))
            except _Reject as exc:
                results.append({"orderId": venue_id, "clientOrderId": order.client_id or "", "state": "",
                                "code": exc.code, "message": str(exc)})
                continue
            results.append({"orderId": venue_id, "clientOrderId": order.client_id or "", "state": s.PENDING_CANCEL,
                            "code": s.CODE_OK, "message": ""})
        return results, updates

    def _by_ids(self, account: str, body: s.CancelByIds, smart: bool) -> list[tuple[str, Order | None]]:
        find = self._smart_order if smart else self._regular
        refs = list(body.orderIds) + [s.CID_PREFIX + c for c in body.clientOrderIds]
        found = []
        for ref in refs:
            try:
                found.append((ref, find(account, ref)))
            except _Reject:
                found.append((ref, None))
        return found

    async def _cancel_by_ids(self, request: web.Request, smart: bool) -> web.Response:
        body = await self.read_body(request, _by_ids_decoder, {"": CANCEL_BY_IDS_FIELDS})
        results, updates = self._cancel_results(self._by_ids(request[ACCOUNT], body, smart), smart)
        return await self._respond(results, updates)

    def _matching(self, account: str, body: s.CancelAll, smart: bool) -> list[tuple[str, Order | None]]:
        if body.accountTypes and "SPOT" not in body.accountTypes:
            return []
        return [(o.order_id, o) for o in self.engine.open_orders(account)
                if (not body.symbols or o.product in body.symbols)
                and (o.extra.get("smart") and o.status is Status.UNTRIGGERED) == smart]

    async def _cancel_all(self, request: web.Request, smart: bool) -> web.Response:
        body = await self.read_body(request, _all_decoder, {"": CANCEL_ALL_FIELDS})
        results, updates = self._cancel_results(self._matching(request[ACCOUNT], body, smart), smart)
        return await self._respond(results, updates)

    async def _cancel_replace(self, request: web.Request, smart: bool) -> web.Response:
        account = request[ACCOUNT]
        old = (self._smart_order if smart else self._regular)(account, request.match_info["ref"])
        body = await self.read_body(request, _replace_decoder, {"": REPLACE_FIELDS})
        proceed = body.proceedOnFailure in (True, "true", "True")
        table = self.smart_cid if smart else self.regular_cid
        cid = self._client_id(account, body.clientOrderId, table)
        kind = body.type or old.extra.get("type", "LIMIT")
        try:
            stop_text = s.decimal_text(body.stopPrice)
        except ValueError as exc:
            raise _Reject(f"stopPrice: {exc}") from None
        stop = None
        if smart:
            stop = old.stop_price if stop_text is None else self._amount(
                "stopPrice", stop_text, self._product(old.product).tick)
        price = body.price if body.price is not None else (None if old.price is None else _dec(old.price))
        # the new order is checked before anything is touched
        new = self._new_order(account, old.product, old.side.value, kind, body.timeInForce or old.tif.value,
                              body.quantity or _dec(old.quantity), price, body.amount, cid, stop)
        cancelable = old.status is Status.UNTRIGGERED if smart else old.is_open
        updates: list[Update] = []
        if cancelable:
            if smart:
                old.extra["canceled_untriggered"] = True
            updates.append(self.engine.cancel(account, old.order_id, Reason.REPLACED))
        elif not proceed:
            state = self._smart_state(old) if smart else self._state(old)
            raise _Reject(f"cancel failed: the order is {state}; nothing placed", 400, s.CODE_CANCEL_FAILED)
        self._register(new)
        try:
            updates += self._submit(new)
        except _Reject:
            await self._publish(updates)
            raise
        return await self._respond({"id": new.order_id, "clientOrderId": cid}, updates)

    # test hooks

    def venue_product(self, symbol: str) -> str:
        return self.aliases.get(symbol, symbol)

    def halt(self, symbol: str, state: str = "PAUSE") -> None:
        """The venue stops the market (or makes it POST_ONLY): listed, taking no orders here."""
        self._change(symbol, state=state)

    def resume(self, symbol: str) -> None:
        self._change(symbol, state=s.NORMAL)

    def delist(self, symbol: str) -> None:
        """The market leaves the venue's list (its resting orders stay, as the engine's)."""
        del self.products[self.venue_product(symbol)]

    def set_sizes(self, symbol: str, *, tick: str | None = None, lot: str | None = None,
                  min_quantity: str | None = None) -> None:
        """The venue changes a market's tick, lot or minimum (decimal strings)."""
        self._change(symbol, **{k: scaled(v) for k, v in (("tick", tick), ("lot", lot),
                                                           ("min_quantity", min_quantity)) if v is not None})

    def _change(self, symbol: str, **fields) -> None:
        product = self.venue_product(symbol)
        self.products[product] = dataclasses.replace(self.products[product], **fields)

    @property
    def prices_fault(self) -> str | None:
        return self._prices_fault

    @prices_fault.setter
    def prices_fault(self, fault: str | None) -> None:
        """None, "garbage" (tickers that do not parse) or "silent" (held unanswered until cleared)."""
        self._prices_fault = fault
        if fault == "silent":
            self._prices_back.clear()
        else:
            self._prices_back.set()

    async def stop(self) -> None:
        self._prices_back.set()  # a ticker held by the "silent" fault answers, and the server can stop
        await super().stop()

    @property
    def public_ws_url(self) -> str:
        """The public WebSocket (market data, no auth), beside the private one."""
        return self.ws_url.removesuffix(self.ws_path) + s.PUBLIC_WS_PATH

    async def drop_streams(self) -> None:
        """Fault: close every WebSocket, the public ones too, as a venue restart would."""
        await super().drop_streams()
        await self.public.drop()

    # WebSocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        account: str | None = None
        async with self.websocket(request) as ws:
            async for frame in self.json_frames(ws, {"event": "error", "message": "invalid JSON"}):
                event = frame.get("event")
                if event == "ping":
                    await ws.send_json({"event": "pong"})
                elif event == "subscribe":
                    channels = frame.get("channel") or []
                    if s.AUTH_CHANNEL in channels:
                        account = await self._ws_auth(ws, frame.get("params") or {}) or account
                    if s.ORDERS_CHANNEL in channels:
                        if account is None:
                            await ws.send_json({"event": "error", "message": "authenticate first"})
                            continue
                        self.subscribe(account, ws)
                        await ws.send_json({"event": "subscribe", "channel": s.ORDERS_CHANNEL,
                                            "symbols": frame.get("symbols") or ["all"]})
                else:
                    await ws.send_json({"event": "error", "message": f"unknown event {event}"})
        return ws

    async def _ws_auth(self, ws: web.WebSocketResponse, params: dict) -> str | None:
        self.record("ws auth", params, {"": WS_AUTH_FIELDS})
        key, ts, signature = params.get("key"), params.get("signTimestamp"), params.get("signature")
        secret = self.keys.get(key or "")
        now = _now_ms()
        why = None
        if secret is None or ts is None or not signature:
            why = "unknown key or missing parameters"
        elif not str(ts).isdigit():
            why = "signTimestamp must be milliseconds"
        elif params.get("signatureMethod", "HmacSHA256") != "HmacSHA256" or \
                str(params.get("signatureVersion", "2")) not in ("1", "2"):
            why = "unsupported signatureMethod or signatureVersion"
        elif not (now - s.TIMESTAMP_VALID_MS <= int(ts) <= now + s.TIMESTAMP_AHEAD_MS):
            why = "signTimestamp outside the window"
        elif not hmac.compare_digest(_hmac_b64(secret, f"GET\n/ws\nsignTimestamp={ts}"), str(signature)):
            self.refused_signatures += 1
            why = "invalid signature"
        if why is not None:
            await ws.send_json({"channel": s.AUTH_CHANNEL, "data": {"success": False, "message": why, "ts": now}})
            return None
        await ws.send_json({"channel": s.AUTH_CHANNEL, "data": {"success": True, "ts": now}})
        return key


async def start_for(venue) -> PoloniexSim:
    """The simulator for a configured Poloniex venue: its instruments, credentials and sim section."""
    from gateway.venues.config import SimConfig
    from gateway.venues.poloniex.credentials import load_credentials

    cfg = venue.sim or SimConfig()
    products = list(CATALOGUE)
    aliases = catalogue_aliases([*venue.instruments, *venue.symbols, *cfg.mid_prices], products)
    mids = {aliases[sym]: scaled(p) for sym, p in cfg.mid_prices.items() if sym in aliases}
    sim = PoloniexSim(products, aliases=aliases, mid_prices=mids, market_maker=cfg.market_maker,
                      mm_levels=cfg.market_maker_levels, mm_quantity=scaled(cfg.market_maker_quantity))
    creds = load_credentials(venue)
    sim.register(creds.api_key, creds.api_secret)
    return await sim.start_from(cfg)


def catalogue_aliases(symbols, products: list[Product]) -> dict[str, str]:
    """Unified symbol -> the catalogue's market, matched as the gateway matches them (the
    venue's symbol, else base and quote, "ETH-PERP" in the default quote); symbols the
    catalogue lacks are left out (the gateway then refuses them, naming the venue)."""
    from gateway.reference.instruments import InstrumentMismatch, Listing, find_for_symbol

    listings = [Listing(p.symbol, p.symbol, *p.symbol.split("_"), p.tick, p.lot, p.min_quantity) for p in products]
    aliases = {}
    for symbol in dict.fromkeys(symbols):
        try:
            aliases[symbol] = find_for_symbol("poloniex", symbol, listings, DEFAULT_QUOTE).venue_symbol
        except InstrumentMismatch:
            pass
    return aliases
