"""Strategy requests -> validated, tracked orders -> venue adapters; order
changes -> the owning strategy's connection.

Every request is answered at once: `ok` once the order passed validation and
risk and its bytes were handed to the venue, or an error with a stable code.
"""
from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from gateway._core.fixedpoint import FixedPointError, format_scaled, parse_scaled
from gateway.ipc import frames as f
from gateway.ipc.views import order_view
from gateway.metrics import Metrics
from gateway.net.http import HttpError
from gateway.net.ratelimit import RateLimited
from gateway.orders.model import SCALE, Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import DuplicateOrderError, Tracker
from gateway.risk import RiskError, RiskLimits
from gateway.venues.base import VenueAdapter, VenueError

if TYPE_CHECKING:
    from gateway.ipc.server import StrategyConnection

log = logging.getLogger("gateway.router")

STRATEGY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,64}$")


class RequestError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# statuses that are still the gateway's own guess, before the venue has spoken
_AWAITING_VENUE = frozenset({Status.PENDING_NEW, Status.PENDING_CANCEL, Status.PENDING_REPLACE})


class Router:
    def __init__(self, risk: RiskLimits, *, closed_ttl_ns: int, metrics: Metrics | None = None,
                 journal=None):
        self.tracker = Tracker(self, closed_ttl_ns=closed_ttl_ns, journal=journal)
        self.venues: dict[str, VenueAdapter] = {}
        self.risk = risk
        self.connections: dict[str, StrategyConnection] = {}
        self.metrics = metrics or Metrics()
        self.metrics.router = self
        self.started_ns = time.time_ns()
        self._handlers = {
            f.Hello: self._hello, f.Place: self._place, f.PlaceGroup: self._place_group, f.Cancel: self._cancel,
            f.CancelAll: self._cancel_all, f.Replace: self._replace, f.Modify: self._modify,
            f.Orders: self._orders, f.Subscribe: self._subscribe, f.Ping: self._ping,
            f.Status: self._status,
        }

    def add_venue(self, adapter: VenueAdapter) -> None:
        self.venues[adapter.name] = adapter

    # tracker listener: order changes go to the strategy that owns the order

    def order_updated(self, order: Order) -> None:
        if order.fills:
            self.risk.last_trade[(order.venue, order.symbol)] = order.fills[-1].price
        sent = order.venue_data.get("sent_ns")
        if sent is not None and order.status not in _AWAITING_VENUE:
            # the venue's first word on this order: confirmation latency, once
            del order.venue_data["sent_ns"]
            self.metrics.stages(order.venue).confirmation.observe(time.perf_counter_ns() - sent)
        conn = self.connections.get(order.strategy)
        if conn is not None:
            conn.send(f.OrderUpdate(order=order_view(order)))

    def cancel_rejected(self, order: Order, reason: str) -> None:
        conn = self.connections.get(order.strategy)
        if conn is not None:
            conn.send(f.CancelReject(client_order_id=order.client_order_id, order_id=order.order_id, reason=reason))

    # requests

    async def handle(self, conn: StrategyConnection, request, t_in_ns: int, decode_ns: int = 0) -> None:
        code = None
        try:
            if conn.strategy is None and not isinstance(request, (f.Hello, f.Status)):
                raise RequestError("hello_required", "send hello before any other request")
            reply = await self._handlers[type(request)](conn, request, t_in_ns, decode_ns)
        except RequestError as exc:
            code = exc.code
            reply = f.Ack(req_id=request.req_id, ok=False, error=f.ErrorInfo(exc.code, exc.message))
        except Exception:
            code = "internal"
            log.exception("request %s failed", type(request).__name__)
            reply = f.Ack(req_id=request.req_id, ok=False,
                          error=f.ErrorInfo("internal", "the gateway failed on this request; see its log"))
        self.metrics.request_done(request.__struct_config__.tag, code)
        if self.tracker.journal is not None:
            self.tracker.journal.flush()  # an acked order is on disk (the kernel's) before its ack
        if reply is not None:
            conn.send(reply)

    async def _hello(self, conn, req: f.Hello, *_) -> f.Ack:
        if conn.strategy is not None:
            raise RequestError("already_hello", f"this connection is strategy {conn.strategy!r} already")
        if not STRATEGY_NAME.match(req.strategy):
            raise RequestError("bad_field", "strategy must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        if req.strategy in self.connections:
            raise RequestError("strategy_in_use", f"strategy {req.strategy!r} is connected already")
        conn.strategy = req.strategy
        conn.cancel_on_disconnect = req.cancel_on_disconnect
        self.connections[req.strategy] = conn
        log.info("strategy %s connected (pid %s, uid %s)", req.strategy, conn.peer_pid, conn.peer_uid)
        return f.Ack(req_id=req.req_id, ok=True)

    def disconnected(self, conn: StrategyConnection) -> list[Order]:
        """Forget the connection; returns the orders to cancel for cancel-on-disconnect."""
        if conn.strategy is None or self.connections.get(conn.strategy) is not conn:
            return []
        del self.connections[conn.strategy]
        log.info("strategy %s disconnected", conn.strategy)
        return self.tracker.open_orders(strategy=conn.strategy) if conn.cancel_on_disconnect else []

    def _venue(self, name: str) -> VenueAdapter:
        adapter = self.venues.get(name)
        if adapter is None:
            raise RequestError("unknown_venue", f"no venue {name!r}; configured: {', '.join(sorted(self.venues))}")
        return adapter

    @staticmethod
    def _amount(field: str, text: str, step: int | None = None) -> int:
        try:
            value = parse_scaled(text, SCALE)
        except FixedPointError as exc:
            raise RequestError("bad_decimal", f"{field}: {exc}") from None
        except TypeError:
            raise RequestError("bad_decimal", f"{field} must be a decimal string") from None
        if value == 0:
            raise RequestError("bad_field", f"{field} must be above zero")
        if step and value % step:
            raise RequestError(
                f"bad_{field}" if field in ("price", "quantity") else "bad_field",
                f"{field} {text} is not a multiple of {format_scaled(step, SCALE)}",
            )
        return value

    def _new_order(self, conn, venue: VenueAdapter, cid: str, symbol: str, side: str, kind: str, tif: str,
                   price_text: str | None, quantity_text: str, post_only: bool, reduce_only: bool,
                   stop_text: str | None) -> Order:
        fields = self._order_fields(conn, venue, cid, symbol, side, kind, tif, price_text, quantity_text,
                                    post_only, reduce_only, stop_text)
        try:
            return self.tracker.new_order(**fields)
        except DuplicateOrderError as exc:
            raise RequestError("duplicate_client_order_id", str(exc)) from None

    def _order_fields(self, conn, venue: VenueAdapter, cid: str, symbol: str, side: str, kind: str, tif: str,
                      price_text: str | None, quantity_text: str, post_only: bool, reduce_only: bool,
                      stop_text: str | None, pending: int = 0) -> dict:
        """Every check of a new order, tracking nothing: the order's fields, or RequestError.
        pending: orders of the same request validated before this one (risk's open count)."""
        if not CLIENT_ORDER_ID.match(cid):
            raise RequestError("bad_field", "client_order_id must be 1-64 printable ASCII characters")
        steps = venue.steps.get(symbol)
        if steps is None:
            raise RequestError("unknown_symbol", f"{venue.name} has no symbol {symbol!r}; "
                               f"configured: {', '.join(sorted(venue.instruments))}")
        tick = steps.tick
        quantity = self._amount("quantity", quantity_text, steps.lot)
        if quantity < steps.min_quantity:
            raise RequestError("bad_quantity", f"quantity {quantity_text} is below the minimum "
                               f"{venue.instruments[symbol].min_quantity}")
        order_type = OrderType(kind)
        price = None
        if order_type is OrderType.LIMIT:
            if price_text is None:
                raise RequestError("missing_field", "a limit order needs a price")
            price = self._amount("price", price_text, tick)
        elif price_text is not None:
            raise RequestError("bad_field", "a market order takes no price")
        elif not venue.capabilities.market_orders:
            raise RequestError("unsupported", f"{venue.name} takes no market orders")
        if post_only and not venue.capabilities.post_only:
            raise RequestError("unsupported", f"{venue.name} has no post-only orders")
        if post_only and (order_type is not OrderType.LIMIT or tif != "gtc"):
            raise RequestError("bad_field", "post_only needs a GTC limit order")
        stop = None
        if stop_text is not None:
            if not venue.capabilities.stop_orders:
                raise RequestError("unsupported", f"{venue.name} has no stop orders")
            stop = self._amount("stop_price", stop_text, tick)
        if reduce_only and not venue.capabilities.reduce_only:
            raise RequestError("unsupported", f"{venue.name} has no reduce-only orders")
        try:
            self.risk.check(quantity, price, self.tracker.open_count(conn.strategy) + pending,
                            strategy=conn.strategy, venue=venue.name, symbol=symbol)
        except RiskError as exc:
            raise RequestError("risk_limit", str(exc)) from None
        if self.tracker.by_client(conn.strategy, cid) is not None:
            raise RequestError("duplicate_client_order_id",
                               f"client_order_id {cid!r} is already used by an order of this strategy")
        return dict(strategy=conn.strategy, client_order_id=cid, venue=venue.name, symbol=symbol,
                    side=Side(side), type=order_type, tif=TimeInForce(tif), price=price, quantity=quantity,
                    post_only=post_only, reduce_only=reduce_only, stop_price=stop)

    async def _send(self, order: Order, call) -> None:
        """Run an adapter call; a failure before the venue saw anything rejects the order."""
        try:
            await call
        except VenueError as exc:
            self.tracker.apply(order, Status.REJECTED, reason=exc.message)
            raise RequestError(exc.code, exc.message) from None
        except RateLimited as exc:
            self.tracker.apply(order, Status.REJECTED, reason=str(exc))
            raise RequestError("rate_limited", str(exc)) from None
        except HttpError as exc:
            self.tracker.apply(order, Status.REJECTED, reason=str(exc))
            raise RequestError("venue_unavailable", str(exc)) from None

    async def _place(self, conn, req: f.Place, t_in_ns: int, decode_ns: int) -> f.Ack:
        venue = self._venue(req.venue)
        stages = venue.stages
        t0 = time.perf_counter_ns()
        order = self._new_order(conn, venue, req.client_order_id, req.symbol, req.side, req.type, req.tif,
                                req.price, req.quantity, req.post_only, req.reduce_only, req.stop_price)
        stages.validate.observe(time.perf_counter_ns() - t0)
        await self._send(order, venue.place(order))
        t_wire = time.perf_counter_ns()
        stages.decode.observe(decode_ns)
        stages.tick_to_wire.observe_recent(t_wire - t_in_ns, t_wire)
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    async def _place_group(self, conn, req: f.PlaceGroup, *_) -> f.Ack:
        venue = self._venue(req.venue)
        if not venue.capabilities.order_groups:
            raise RequestError("unsupported", f"{venue.name} has no order groups")
        if len(req.legs) < 2:
            raise RequestError("bad_field", "a group needs at least 2 legs")
        cids = [leg.client_order_id for leg in req.legs]
        if len(set(cids)) != len(cids):
            raise RequestError("duplicate_client_order_id", "the legs' client_order_ids must differ")
        # all or nothing: every leg passes every check before any is tracked
        fields = [
            self._order_fields(conn, venue, leg.client_order_id, leg.symbol, leg.side, leg.type, leg.tif,
                               leg.price, leg.quantity, leg.post_only, leg.reduce_only, leg.stop_price, pending=i)
            for i, leg in enumerate(req.legs)
        ]
        orders = [self.tracker.new_order(**leg) for leg in fields]
        try:
            await venue.place_group(orders, req.contingency)
        except (VenueError, RateLimited, HttpError) as exc:
            code = exc.code if isinstance(exc, VenueError) else (
                "rate_limited" if isinstance(exc, RateLimited) else "venue_unavailable")
            for order in orders:
                self.tracker.apply(order, Status.REJECTED, reason=str(exc))
            raise RequestError(code, str(exc)) from None
        return f.Ack(req_id=req.req_id, ok=True, order_id=orders[0].order_id,
                     order_ids=[o.order_id for o in orders])

    def _own_order(self, conn, client_order_id: str | None, order_id: str | None = None) -> Order:
        if order_id is not None:
            order = self.tracker.get(order_id)
            if order is not None and order.strategy != conn.strategy:
                raise RequestError("not_your_order", f"order {order_id} belongs to another strategy")
        elif client_order_id is not None:
            order = self.tracker.by_client(conn.strategy, client_order_id)
        else:
            raise RequestError("missing_field", "name the order by client_order_id or order_id")
        if order is None:
            raise RequestError("unknown_order", f"strategy {conn.strategy!r} has no order "
                               f"{order_id or client_order_id!r}")
        return order

    async def _cancel(self, conn, req: f.Cancel, *_) -> f.Ack:
        order = self._own_order(conn, req.client_order_id, req.order_id)
        await self._cancel_one(order)
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    async def _cancel_one(self, order: Order) -> None:
        if order.is_closed:
            raise RequestError("order_closed", f"order {order.client_order_id} is {order.status.value} already")
        if order.status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
            return  # already on its way: a second request would only earn a venue error
        self.tracker.mark_pending(order, Status.PENDING_CANCEL)
        try:
            await self.venues[order.venue].cancel(order)
        except (VenueError, HttpError, RateLimited) as exc:
            self.tracker.cancel_refused(order, str(exc))
            code = "rate_limited" if isinstance(exc, RateLimited) else "venue_unavailable"
            raise RequestError(code, str(exc)) from None

    async def _cancel_all(self, conn, req: f.CancelAll, *_) -> f.Ack:
        if req.venue is not None:
            self._venue(req.venue)
        orders = [o for o in self.tracker.open_orders(strategy=conn.strategy)
                  if (req.venue is None or o.venue == req.venue) and (req.symbol is None or o.symbol == req.symbol)]
        await self.cancel_orders(orders)
        return f.Ack(req_id=req.req_id, ok=True)

    async def cancel_orders(self, orders: list[Order]) -> None:
        """Cancel many (cancel_all, cancel-on-disconnect, shutdown): one batch request per
        venue that can take one, else one request per order."""
        by_venue: dict[str, list[Order]] = {}
        for order in orders:
            if order.is_closed or order.status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
                continue
            if self.tracker.mark_pending(order, Status.PENDING_CANCEL):
                by_venue.setdefault(order.venue, []).append(order)
        for name, pending in by_venue.items():
            venue = self.venues[name]
            try:
                if venue.capabilities.batch_cancel and len(pending) > 1:
                    await venue.cancel_all(pending)
                else:
                    for order in pending:
                        await venue.cancel(order)
            except (VenueError, HttpError, RateLimited) as exc:
                log.warning("cancel of %d orders on %s: %s", len(pending), name, exc)
                for order in pending:
                    if order.status is Status.PENDING_CANCEL:
                        self.tracker.cancel_refused(order, str(exc))

    async def _replace(self, conn, req: f.Replace, *_) -> f.Ack:
        old = self._own_order(conn, req.client_order_id)
        venue = self.venues[old.venue]
        if not venue.capabilities.cancel_replace:
            raise RequestError("unsupported", f"{venue.name} cannot cancel-and-replace")
        if old.is_closed:
            raise RequestError("order_closed", f"order {old.client_order_id} is {old.status.value} already")
        if old.status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
            raise RequestError("order_pending", f"order {old.client_order_id} is {old.status.value}")
        new = self._new_order(conn, venue, req.new_client_order_id, old.symbol, old.side.value, old.type.value,
                              old.tif.value, req.price, req.quantity, old.post_only, old.reduce_only, None)
        new.replaces, old.replaced_by = old.order_id, new.order_id
        self.tracker.mark_pending(old, Status.PENDING_REPLACE)
        try:
            await venue.replace(old, new, req.proceed_on_failure)
        except (VenueError, HttpError, RateLimited) as exc:
            self.tracker.cancel_refused(old, str(exc))
            self.tracker.apply(new, Status.REJECTED, reason=str(exc))
            code = "rate_limited" if isinstance(exc, RateLimited) else "venue_unavailable"
            raise RequestError(code, str(exc)) from None
        return f.Ack(req_id=req.req_id, ok=True, order_id=new.order_id)

    async def _modify(self, conn, req: f.Modify, *_) -> f.Ack:
        order = self._own_order(conn, req.client_order_id)
        venue = self.venues[order.venue]
        if not venue.capabilities.modify:
            raise RequestError("unsupported", f"{venue.name} cannot amend an order in place: use replace")
        steps = venue.steps[order.symbol]
        price = None if req.price is None else self._amount("price", req.price, steps.tick)
        quantity = None if req.quantity is None else self._amount("quantity", req.quantity, steps.lot)
        try:
            await venue.modify(order, price, quantity)
        except VenueError as exc:
            raise RequestError(exc.code, exc.message) from None
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    async def _orders(self, conn, req: f.Orders, *_) -> f.OrdersReply:
        orders = (self.tracker.open_orders(strategy=conn.strategy) if req.open_only
                  else self.tracker.strategy_orders(conn.strategy))
        return f.OrdersReply(req_id=req.req_id, orders=[order_view(o, consume_trades=False) for o in orders])

    async def _subscribe(self, conn, req: f.Subscribe, *_) -> f.Ack:
        conn.send(f.Ack(req_id=req.req_id, ok=True))
        for order in self.tracker.open_orders(strategy=conn.strategy):
            conn.send(f.OrderUpdate(order=order_view(order, consume_trades=False)))
        return None

    async def _ping(self, conn, req: f.Ping, *_) -> f.Pong:
        return f.Pong(req_id=req.req_id, ts_ns=time.time_ns())

    async def _status(self, conn, req: f.Status, *_) -> f.StatusReply:
        now = time.perf_counter_ns()
        open_by_venue: dict[str, int] = {}
        for order in self.tracker.open_orders():
            open_by_venue[order.venue] = open_by_venue.get(order.venue, 0) + 1
        venues = []
        for name, adapter in sorted(self.venues.items()):
            window = self.metrics.stages(name).tick_to_wire.window_percentiles(now)
            venues.append(f.VenueStatus(
                name=name, kind=type(adapter.config).__struct_config__.tag, connected=adapter.connected,
                open_orders=open_by_venue.get(name, 0), reconnects=adapter.reconnects,
                orders_last_minute=window[0] if window else 0,
                tick_to_wire_p50_us=window[1] / 1e3 if window else None,
                tick_to_wire_p99_us=window[2] / 1e3 if window else None,
            ))
        return f.StatusReply(req_id=req.req_id, uptime_s=(time.time_ns() - self.started_ns) // 10**9,
                             strategies=sorted(self.connections), venues=venues)
