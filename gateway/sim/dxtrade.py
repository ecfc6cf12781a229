"""DXtrade `dxsca-web` simulator: the REST protocol of seed 003 on loopback.

What it checks as the venue does: a session token from `POST /login`
(`Authorization: DXAPI <token>`, 401 once it expires or is expired by the
fault), conditional requests (`If-Match` with the order's current ETag on every
PUT and DELETE: none -> 403 code 99, stale -> 412), 404 code 2 for an order it
does not know, 400 code 33 for a malformed request, 409 for a change to a field
that cannot change, and the trading limit per session (429 past it).

Order groups: OCO (a fill or a cancel of one leg cancels the others) and
IF-THEN (the first order is the parent; the children show WORKING, as in the
seed, but only reach the book once the parent has filled, and are canceled
with it). A child of quantity 0 closes what the parent filled.

Stop orders (STOP, STOP_LIMIT) are listed WORKING while they wait for their
trigger, as the seed lists its STOP (the leg's price is the stop price), and
after it: the platform has no status of its own for a waiting or a triggered
stop, so a trigger shows only in the trades it makes (or the order's close).

The account's open positions: GET .../accounts/{account}/positions
(gateway/sim/dxtrade_account.py), from the engine's trades of the account.

Order changes are seen through `GET .../orders` (the push API's wire format is
not in the seed): every change bumps the account's `version`, adds an
execution and is "published" to that list. faults.hold_events keeps changes
out of the list until release_events(); a single-order GET (and the ETag)
always shows the truth.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import msgspec
from aiohttp import web

from gateway._core.fixedpoint import format_scaled
from gateway.sim import engine as eng
from gateway.sim.base import Refused, SimServer, scaled
from gateway.sim.dxtrade_account import positions
from gateway.sim.market_maker import MarketMaker
from gateway.sim.reference_faults import ReferenceFaults
from gateway.venues.dxtrade import schemas

log = logging.getLogger("gateway.sim.dxtrade")

P = schemas.PREFIX
TIFS = {"GTC": eng.TimeInForce.GTC, "IOC": eng.TimeInForce.IOC, "FOK": eng.TimeInForce.FOK,
        "DAY": eng.TimeInForce.GTC}
IMMUTABLE = ("type", "instrument", "side", "tif", "positionEffect")
_single_decoder = msgspec.json.Decoder(schemas.OrderRequest)
_group_decoder = msgspec.json.Decoder(schemas.GroupRequest)
_login_decoder = msgspec.json.Decoder(schemas.Login)
_market_data_decoder = msgspec.json.Decoder(schemas.MarketDataRequest)


@dataclass(frozen=True)
class Product:
    instrument: str  # the venue's name, e.g. "ETH/USD"
    symbol: str  # a unified one, e.g. "ETH-PERP" ("": found as the gateway finds it, by base and quote)
    tick: int
    lot: int
    min_quantity: int = 0  # 0: the lot
    trading: bool = True


# The venue's instruments as the simulator lists them: ETH/USD as the embedded config has it,
# and the seed's own example instrument, EUR/USD (its sizes are ours: the seed gives none).
CATALOGUE = (
    Product("ETH/USD", "", tick=10**17, lot=10**15, min_quantity=10**15),
    Product("EUR/USD", "", tick=10**13, lot=10**18, min_quantity=10**18),
)


class _Error(Refused):
    def __init__(self, status: int, code: int | None, description: str):
        super().__init__(description, status)
        self.code, self.description = code, description

    def response(self) -> web.Response:
        if self.code is None:
            return web.Response(status=self.status)  # 412: the seed's "N/A" body
        return web.json_response({"errorCode": str(self.code), "description": self.description},
                                 status=self.status)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value: int | None):
    """An e18 int as the JSON number the venue sends (exact: Raw decimal text)."""
    return None if value is None else msgspec.Raw(format_scaled(value, 18).encode())


@dataclass
class SimOrder:
    order_id: int
    code: str  # full orderCode: "<session code>:<client code>"
    client_code: str
    account: str
    request: schemas.OrderRequest
    quantity: int
    limit: int | None
    stop: int | None
    update_id: int
    issue_ns: int
    status: str = "WORKING"
    version: int = 0
    filled: int = 0
    executions: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    group: list[int] = field(default_factory=list)  # other members (OCO) or children (IF-THEN parent)
    contingency: str | None = None
    parent: int | None = None
    in_book: bool = False  # IF-THEN children wait outside the book until the parent fills

    @property
    def open(self) -> bool:
        return self.status == "WORKING"


class DxtradeSim(SimServer):
    def __init__(self, products: list[Product], *, username: str, password: str, domain: str = "default",
                 account: str = "default:sim", mid_prices: dict[str, int] | None = None,
                 market_maker: bool = True, mm_levels: int = 5, mm_quantity: int = 10**18,
                 trade_limit_per_s: float = 1.0, session_timeout_s: int = 1800):
        super().__init__()
        self.products = {p.instrument: p for p in products}
        self.by_symbol = {p.symbol: p for p in products if p.symbol}
        self.reference_faults = ReferenceFaults()
        self.username, self.password, self.domain, self.account = username, password, domain, account
        ids = itertools.count(46072658)
        self._order_ids = ids
        self.engine = eng.MatchingEngine(stp=eng.Stp.CANCEL_TAKER, id_factory=lambda: str(next(ids)),
                                         trade_id_factory=eng.counter_ids("816051:"))
        self.sessions: dict[str, float] = {}  # token -> expiry (monotonic)
        self.session_timeout_s = session_timeout_s
        self.trade_limit_per_s = trade_limit_per_s
        self._recent: dict[str, collections.deque] = {}
        self.version = 446
        self._exec_ids = itertools.count(16502)
        self.orders: dict[int, SimOrder] = {}
        self.published: dict[int, tuple[int, bytes]] = {}  # order id -> (version, listed bytes)
        self.logins = 0
        self.preconditions_failed = 0
        if market_maker:
            self.mm = MarketMaker.quoting(
                self.engine, "mm:" + secrets.token_hex(4),
                {instrument: (mid, self.products[instrument].tick) for instrument, mid in (mid_prices or {}).items()},
                levels=mm_levels, quantity=mm_quantity)

    # server

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.add_routes([
            web.post(f"{P}/login", self._login),
            web.post(f"{P}/ping", self._ping),
            web.post(f"{P}/accounts/{{account}}/orders", self._place),
            web.put(f"{P}/accounts/{{account}}/orders", self._modify),
            web.get(f"{P}/accounts/{{account}}/orders", self._list),
            web.get(f"{P}/accounts/{{account}}/orders/{{code}}", self._get),
            web.delete(f"{P}/accounts/{{account}}/orders/{{code}}", self._cancel),
            web.get(f"{P}/accounts/{{account}}/positions", functools.partial(positions, self)),
            web.get(f"{P}/instruments/query", self._instruments),
            web.post(f"{P}/instruments/query", self._instruments),
            web.post(f"{P}/marketdata", self._market_data),
            web.post("/_sim/take", self._take),
        ])
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        try:
            if request.path.startswith(f"{P}/accounts/"):
                token = self._session(request)
                if request.match_info.get("account") != self.account:
                    raise _Error(404, schemas.NOT_FOUND, "Entity not found at server")
                self.count_request(request)
                if request.method != "GET":
                    self._trade_limit(token)
                    await self.slow_reply()
            return await handler(request)
        except _Error as exc:
            return exc.response()

    def _session(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self.sessions.get(token) if scheme == "DXAPI" else None
        if expiry is None or expiry < time.monotonic():
            self.sessions.pop(token, None)
            raise _Error(401, 1, "Not authorized")
        return token

    def _trade_limit(self, token: str) -> None:
        if self.refuse_next():
            raise _Error(429, 429, "Too many requests")
        if self.trade_limit_per_s <= 0:
            return
        now = time.monotonic()
        recent = self._recent.setdefault(token, collections.deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= self.trade_limit_per_s:
            self.requests_429 += 1
            raise _Error(429, 429, "Too many requests")
        recent.append(now)

    def expire_sessions(self) -> None:
        """Fault: every session token stops working, as after the session timeout."""
        self.sessions.clear()

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = self.decode(await request.read(), _login_decoder)
        except _Error:  # what was wrong with a login is not said
            return _Error(400, schemas.INCORRECT_REQUEST, "Incorrect request (login)").response()
        if (body.username, body.password, body.domain) != (self.username, self.password, self.domain):
            return _Error(401, 1, "Wrong username, domain or password").response()
        token = secrets.token_hex(16)
        self.sessions[token] = time.monotonic() + self.session_timeout_s
        self.logins += 1
        return web.json_response({"sessionToken": token, "timeout": f"PT{self.session_timeout_s}S"})

    async def _ping(self, request: web.Request) -> web.Response:
        try:
            token = self._session(request)
        except _Error as exc:
            return exc.response()
        self.sessions[token] = time.monotonic() + self.session_timeout_s
        return web.Response(status=200)

    # orders: wire views

    def _etag(self, o: SimOrder) -> str:
        return f'"{o.order_id}.{o.version}"'

    def wire(self, o: SimOrder) -> dict:
        req = o.request
        price = o.limit if req.type in ("LIMIT", "STOP_LIMIT") else o.stop
        return {
            "account": o.account, "version": o.version, "orderId": o.order_id, "orderCode": o.code,
            "clientOrderId": o.client_code, "actionCode": o.code, "legCount": 1, "type": req.type,
            "instrument": req.instrument, "status": o.status, "finalStatus": not o.open,
            "legs": [{"instrument": req.instrument, "positionEffect": req.positionEffect,
                      "positionCode": str(o.parent or o.order_id), "price": _num(price), "legRatio": 1,
                      "quantity": _num(o.quantity), "filledQuantity": _num(o.filled),
                      "remainingQuantity": _num(o.quantity - o.filled if o.open else 0)}],
            "side": req.side, "tif": req.tif, "issueTime": _iso(o.issue_ns),
            "transactionTime": o.executions[-1]["transactionTime"] if o.executions else _iso(o.issue_ns),
            "limitPrice": _num(o.limit), "stopPrice": _num(o.stop),
            "links": o.links, "executions": list(o.executions), "cashTransactions": [],
        }

    def _record(self, o: SimOrder, *, update_id: int | None = None, final: bool = False,
                trade: eng.Trade | None = None) -> None:
        """One change to o: a new account version and an execution."""
        self.version += 1
        o.version = self.version
        execution = {
            "account": o.account, "executionCode": f"816051:{next(self._exec_ids)}", "orderCode": o.code,
            "updateOrderId": update_id or o.update_id, "version": self.version, "clientOrderId": o.client_code,
            "actionCode": o.code, "status": o.status, "finalStatus": final or not o.open,
            "filledQuantity": _num(o.filled),
            "transactionTime": _iso(trade.ts_ns if trade is not None else time.time_ns()),
        }
        if trade is not None:
            execution["lastQuantity"] = _num(trade.quantity)
            execution["lastPrice"] = _num(trade.price)
        o.executions.append(execution)

    def _changed(self, touched: list[SimOrder]) -> None:
        """Publish these orders' new state to the list, or hold it back (fault)."""
        for o in touched:
            # the bytes as of now: the amounts stay the exact decimal text
            view = (o.version, msgspec.json.encode(self.wire(o)))
            if self.faults.hold_events:
                self.faults.held.append((o.order_id, view))
            else:
                self.published[o.order_id] = view

    async def release_events(self) -> None:
        held, self.faults.held = self.faults.held, []
        self.faults.hold_events = False
        for order_id, view in held:
            if view[0] >= self.published.get(order_id, (-1, b""))[0]:
                self.published[order_id] = view

    async def drop_streams(self) -> None:
        """There is no stream to drop: order changes are read by polling."""

    # engine updates -> venue orders, with the group rules

    def _apply(self, updates: list[eng.Update], touched: list[SimOrder] | None = None) -> list[SimOrder]:
        touched = touched if touched is not None else []
        more: list[eng.Update] = []
        for update in updates:
            o = self.orders.get(int(update.order.order_id)) if update.order.order_id.isdigit() else None
            if o is None:
                continue
            e = update.order
            for trade in update.new_trades:
                o.filled += trade.quantity
                o.status = "FILLED" if o.filled >= o.quantity else "WORKING"
                self._record(o, trade=trade)
            status = {eng.Status.FILLED: "FILLED", eng.Status.CANCELLED: "CANCELED",
                      eng.Status.REJECTED: "REJECTED"}.get(e.status, "WORKING")
            if status != o.status:
                o.status = status
                self._record(o)
            if o not in touched:
                touched.append(o)
            more += self._group_rules(o, bool(update.new_trades), touched)
        if more:
            self._apply(more, touched)
        return touched

    def _group_rules(self, o: SimOrder, traded: bool, touched: list[SimOrder]) -> list[eng.Update]:
        updates: list[eng.Update] = []
        if o.contingency == "OCO" and (traded or not o.open):
            for other_id in o.group:
                updates += self._cancel_member(self.orders[other_id], touched)
        if o.contingency == "IF-THEN" and o.parent is None:
            if o.status == "FILLED":
                for child_id in o.group:
                    child = self.orders[child_id]
                    if child.open and not child.in_book:
                        if child.quantity == 0:  # CLOSE with no quantity: what the parent filled
                            child.quantity = o.filled
                        child.in_book = True
                        updates += self.engine.submit(self._engine_order(child))
            elif not o.open:
                for child_id in o.group:
                    updates += self._cancel_member(self.orders[child_id], touched)
        return updates

    def _cancel_member(self, o: SimOrder, touched: list[SimOrder]) -> list[eng.Update]:
        if not o.open:
            return []
        if o.in_book:
            return [self.engine.cancel(o.account, str(o.order_id))]
        o.status = "CANCELED"
        self._record(o)
        if o not in touched:
            touched.append(o)
        return []

    def _engine_order(self, o: SimOrder) -> eng.Order:
        req = o.request
        kind = eng.OrderType.MARKET if req.type in ("MARKET", "STOP") else eng.OrderType.LIMIT
        return eng.Order(
            order_id=str(o.order_id), account=o.account, product=req.instrument,
            side=eng.Side.BUY if req.side == "BUY" else eng.Side.SELL, type=kind, tif=TIFS[req.tif],
            price=o.limit if kind is eng.OrderType.LIMIT else None, quantity=o.quantity, stop_price=o.stop,
        )

    def _after(self, updates: list[eng.Update], touched: list[SimOrder] | None = None) -> list[SimOrder]:
        if self.mm is not None:
            updates = updates + self.mm.refill()
        touched = self._apply(updates, touched)
        self._changed(touched)
        return touched

    # requests

    def _check(self, req: schemas.OrderRequest) -> tuple[int, int | None, int | None]:
        """Quantity, limit and stop of a request, or 400 code 33."""
        def bad(why: str) -> _Error:
            return _Error(400, schemas.INCORRECT_REQUEST, f"Incorrect request ({why})")

        product = self.products.get(req.instrument)
        if product is None:
            raise bad(f"unknown instrument {req.instrument}")
        if not product.trading:
            raise _Error(409, 34, f"Instrument {req.instrument} is not trading")
        if req.tif not in TIFS:
            raise bad(f"unknown tif {req.tif}")
        try:
            quantity = scaled(req.quantity)
            limit = None if req.limitPrice is None else scaled(req.limitPrice)
            stop = None if req.stopPrice is None else scaled(req.stopPrice)
        except Exception:  # noqa: BLE001 - any unreadable amount is the client's error
            raise bad("amounts must be decimal strings") from None
        if req.type in ("LIMIT", "STOP_LIMIT") and limit is None:
            raise bad("limit order doesn't have price")
        if req.type in ("STOP", "STOP_LIMIT") and stop is None:
            raise bad("stop order doesn't have stop price")
        if req.type in ("MARKET", "STOP") and limit is not None:
            raise bad(f"{req.type} order takes no limit price")
        if quantity < 0 or quantity % product.lot or (quantity == 0 and req.positionEffect != "CLOSE") \
                or 0 < quantity < product.min_quantity:
            raise bad(f"quantity {req.quantity} is not a positive multiple of {format_scaled(product.lot, 18)}")
        for price in (limit, stop):
            if price is not None and (price <= 0 or price % product.tick):
                raise bad(f"price is not a positive multiple of {format_scaled(product.tick, 18)}")
        return quantity, limit, stop

    def _new(self, req: schemas.OrderRequest, token: str) -> SimOrder:
        quantity, limit, stop = self._check(req)
        if any(o.client_code == req.orderCode and o.open for o in self.orders.values()):
            raise _Error(409, 26, f"Order code {req.orderCode} is in use")
        order_id = next(self._order_ids)
        return SimOrder(order_id=order_id, code=f"{token[:8]}:{req.orderCode}", client_code=req.orderCode,
                        account=self.account, request=req, quantity=quantity, limit=limit, stop=stop,
                        update_id=order_id, issue_ns=time.time_ns())

    def invalid_body(self, exc: Exception) -> _Error:
        return _Error(400, schemas.INCORRECT_REQUEST, f"Incorrect request ({exc})")

    async def _place(self, request: web.Request) -> web.Response:
        token = self._session(request)
        raw = await request.read()
        is_group = b'"orders"' in raw
        try:
            body = self.decode(raw, _group_decoder if is_group else _single_decoder)
        except _Error as exc:
            return exc.response()
        members = body.orders if is_group else [body]
        if is_group and len(members) < 2:
            return _Error(400, schemas.INCORRECT_REQUEST, "Incorrect request (a group needs 2 orders)").response()
        try:
            orders = [self._new(req, token) for req in members]
        except _Error as exc:
            return exc.response()
        if is_group:
            self._link(orders, body.contingencyType)
        touched: list[SimOrder] = []
        updates: list[eng.Update] = []
        for o in orders:
            self.orders[o.order_id] = o
            self._record(o)  # accepted: WORKING
            touched.append(o)
        for o in orders:
            if o.parent is None and o.open:
                o.in_book = True
                updates += self.engine.submit(self._engine_order(o))
                # issued when the book took it: what trades at once shares its transactionTime
                o.issue_ns = self.engine.get(str(o.order_id)).created_ns
        if self.faults.reorder_ack:
            self._after(updates, touched)
            await asyncio.sleep(0.1)  # the change is listed (polled) before the reply
        else:
            asyncio.get_running_loop().call_soon(self._after, updates, touched)
        if is_group:
            reply = {"orderResponses": [{"orderId": o.order_id, "updateOrderId": o.update_id} for o in orders]}
        else:
            reply = {"orderId": orders[0].order_id, "updateOrderId": orders[0].update_id}
        return web.json_response(reply, headers={"ETag": self._etag(orders[0])})

    def _link(self, orders: list[SimOrder], contingency: str) -> None:
        ids = [o.order_id for o in orders]
        for o in orders:
            o.contingency = contingency
        if contingency == "OCO":
            for o in orders:
                o.group = [i for i in ids if i != o.order_id]
                o.links = [{"linkType": "OCO", "linkedOrder": x.code, "linkedClientOrderId": x.client_code}
                           for x in orders if x is not o]
            return
        parent, children = orders[0], orders[1:]
        parent.group = [c.order_id for c in children]
        parent.links = [{"linkType": "CHILD", "linkedOrder": c.code, "linkedClientOrderId": c.client_code}
                        for c in children]
        for c in children:
            c.parent = parent.order_id
            c.links = [{"linkType": "PARENT", "linkedOrder": parent.code,
                        "linkedClientOrderId": parent.client_code}]

    def _find(self, code: str) -> SimOrder:
        # the order's own code, or the client's part of it; the newest of that name
        for o in sorted(self.orders.values(), key=lambda x: -x.order_id):
            if code in (o.code, o.client_code):
                return o
        raise _Error(404, schemas.NOT_FOUND, "Entity not found at server")

    def _precondition(self, request: web.Request, o: SimOrder) -> None:
        if request.headers.get("If-Match") != self._etag(o):
            self.preconditions_failed += 1
            raise _Error(412, None, "")

    @staticmethod
    def _require_if_match(request: web.Request) -> None:
        if "If-Match" not in request.headers:
            raise _Error(403, schemas.CONDITIONAL_REQUIRED, "Conditional request required")

    async def _modify(self, request: web.Request) -> web.Response:
        try:
            self._require_if_match(request)
            raw = await request.read()
            if b'"orders"' in raw:
                raise _Error(400, schemas.INCORRECT_REQUEST,
                             "Incorrect request (the simulator amends single orders only)")
            req = self.decode(raw, _single_decoder)
            quantity, limit, stop = self._check(req)
            o = self._find(req.orderCode)
            self._precondition(request, o)
            for name in IMMUTABLE:
                if getattr(req, name) != getattr(o.request, name):
                    raise _Error(409, 30, f"Field {name} cannot be modified")
            if not o.open:
                raise _Error(409, 28, f"Order is {o.status}")
            if quantity <= o.filled:
                raise _Error(409, 31, "Quantity must exceed the filled quantity")
        except _Error as exc:
            return exc.response()
        old_update = o.update_id
        o.update_id = next(self._order_ids)
        o.request = req
        updates = self._amend(o, quantity, limit, stop)
        self._record(o)  # the new update id, working
        self._record(o, update_id=old_update, final=True)  # the replaced one is final, the order is not
        touched = self._after(updates, [o])
        del touched
        return web.json_response({"orderId": o.order_id, "updateOrderId": o.update_id},
                                 headers={"ETag": self._etag(o)})

    def _amend(self, o: SimOrder, quantity: int, limit: int | None, stop: int | None) -> list[eng.Update]:
        same_place = limit == o.limit and stop == o.stop and quantity <= o.quantity
        o.quantity, o.limit, o.stop = quantity, limit, stop
        e = self.engine.get(str(o.order_id))
        if not o.in_book or e is None or not e.is_open:
            return []
        if same_place:  # a smaller order at the same price keeps its place in the queue
            e.quantity = quantity
            return []
        # elsewhere in the book: it loses its place and may trade at once
        act = eng._Action(time.time_ns())
        self.engine._unbook(e)
        e.quantity, e.price, e.stop_price = quantity, limit, stop
        if e.status is eng.Status.UNTRIGGERED:
            self.engine._book(e.product).stops.append(e)
            act.touch(e)
        else:
            e.seq = next(self.engine._seq)
            self.engine._activate(e, act)
            if e.is_open and e.filled:
                e.status = eng.Status.PARTIALLY_FILLED
        self.engine._drain(act)
        return act.result()

    async def _cancel(self, request: web.Request) -> web.Response:
        try:
            self._require_if_match(request)
            o = self._find(request.match_info["code"])
            self._precondition(request, o)
            if not o.open:
                raise _Error(409, 28, f"Order is {o.status}")
        except _Error as exc:
            return exc.response()
        touched: list[SimOrder] = []
        updates = self._cancel_member(o, touched)
        self._after(updates, touched)
        return web.json_response({"orderId": o.order_id, "updateOrderId": o.update_id},
                                 headers={"ETag": self._etag(o)})

    async def _list(self, request: web.Request) -> web.Response:
        # one account per simulator: every published order is the account's
        views = [v for _, v in self.published.values()]
        if self.faults.duplicate_events:
            views = views + views  # the same order twice in one listing
        return web.Response(body=b'{"orders":[' + b",".join(views) + b"]}", content_type="application/json")

    async def _get(self, request: web.Request) -> web.Response:
        try:
            o = self._find(request.match_info["code"])
        except _Error as exc:
            return exc.response()
        return web.Response(body=msgspec.json.encode(self.wire(o)), content_type="application/json",
                            headers={"ETag": self._etag(o)})

    # outside traders

    async def _take(self, request: web.Request) -> web.Response:
        """Simulator control, not DXtrade: an outside trader crosses the book."""
        body = await request.json()
        p = self.products[body["instrument"]]
        return web.json_response({"trades": await self.outside_trade(p.instrument, body["side"], body["price"],
                                                                     body["quantity"])})

    def venue_product(self, symbol: str) -> str:
        if symbol in self.by_symbol:
            return self.by_symbol[symbol].instrument
        from gateway.reference.instruments import find_for_symbol

        return str(find_for_symbol("dxtrade", symbol, listings(self.products.values())).product_id)

    # reference data (the shapes gateway/venues/dxtrade/schemas.py assumes), with the session

    @staticmethod
    def _instrument_wire(p: Product) -> dict:
        base, _, quote = p.instrument.partition("/")
        return {"symbol": p.instrument, "description": f"{base} vs {quote}",
                "type": "FOREX" if base == "EUR" else "CRYPTO", "currency": quote, "version": 1, "priceIncrement": _num(p.tick), "pipSize": _num(p.tick),
                "lotSize": _num(p.lot), "minOrderSize": _num(p.min_quantity or p.lot),
                "tradingStatus": "TRADING" if p.trading else "HALTED"}

    async def _instruments(self, request: web.Request) -> web.Response:
        try:
            self._session(request)
        except _Error as exc:
            return exc.response()
        broken = self.reference_faults.list_reply()
        if broken is not None:
            return broken
        wanted = request.query.get("symbols", "*")
        products = [p for p in self.products.values() if wanted == "*" or p.instrument in wanted.split(",")]
        return web.Response(body=schemas.encoder.encode({"instruments": [self._instrument_wire(p) for p in products]}),
                            content_type="application/json")

    async def _market_data(self, request: web.Request) -> web.Response:
        try:
            self._session(request)
            body = self.decode(await request.read(), _market_data_decoder)
        except _Error as exc:
            return exc.response()
        broken = self.reference_faults.price_reply()
        if broken is not None:
            return broken
        now = _iso(time.time_ns())
        events = [{"type": "Quote", "symbol": s, "bid": _num(self.engine.best_bid(s)),
                   "ask": _num(self.engine.best_ask(s)), "time": now}
                  for s in body.symbols if s in self.products
                  if any(t.type == "Quote" for t in body.eventTypes)]
        return web.Response(body=schemas.encoder.encode({"events": events}), content_type="application/json")

    # test hooks: the venue changes its list

    def _named(self, symbol: str) -> Product:
        return self.products[symbol if symbol in self.products else self.venue_product(symbol)]

    def halt(self, symbol: str) -> None:
        p = self._named(symbol)
        self.products[p.instrument] = replace(p, trading=False)

    def resume(self, symbol: str) -> None:
        p = self._named(symbol)
        self.products[p.instrument] = replace(p, trading=True)

    def delist(self, symbol: str) -> None:
        del self.products[self._named(symbol).instrument]

    def set_steps(self, symbol: str, *, tick: str | None = None, lot: str | None = None,
                  min_quantity: str | None = None) -> None:
        p = self._named(symbol)
        self.products[p.instrument] = replace(
            p, tick=p.tick if tick is None else scaled(tick), lot=p.lot if lot is None else scaled(lot),
            min_quantity=p.min_quantity if min_quantity is None else scaled(min_quantity))

    async def _publish(self, updates: list[eng.Update]) -> None:
        self._after(updates)


def listings(products) -> list:
    """The simulator's instruments as the gateway reads them (to map symbols as it does)."""
    from gateway.venues.dxtrade import reference

    return [reference.listing(schemas.instruments_decoder.decode(schemas.encoder.encode(
        {"instruments": [DxtradeSim._instrument_wire(p)]})).instruments[0]) for p in products]


async def start_for(venue) -> DxtradeSim:
    """The simulator for a configured DXtrade venue: its own catalogue (never the gateway's
    instruments, which it would always agree with), the config's credentials and sim section.
    mid_prices (by unified symbol) pick the instruments the market maker quotes, mapped to the
    catalogue as the gateway maps its symbols."""
    from gateway.reference.instruments import find_for_symbol
    from gateway.venues.config import SimConfig
    from gateway.venues.dxtrade.credentials import load_credentials

    cfg = venue.sim or SimConfig()
    creds = load_credentials(venue)
    products = list(CATALOGUE)
    listed = listings(products)
    mids = {str(find_for_symbol(venue.name, s, listed).product_id): scaled(p) for s, p in cfg.mid_prices.items()}
    sim = DxtradeSim(products, username=creds.username, password=creds.password, domain=venue.domain,
                     account=venue.account, mid_prices=mids, market_maker=cfg.market_maker,
                     mm_levels=cfg.market_maker_levels, mm_quantity=scaled(cfg.market_maker_quantity),
                     trade_limit_per_s=venue.sim_trade_limit_per_s)
    return await sim.start_from(cfg)
