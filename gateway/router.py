"""Strategy requests -> tracked orders in their venue's outbound line; order
changes -> the owning strategy's connection.

Every request is handled in one call from the bytes read, without waiting on
any venue: checked (gateway/validation.py), tracked, journaled, queued in
order for its venue (gateway/venues/outbound.py), and answered. `ok` means
accepted: valid, within limits, journaled and queued; what the venue does
with it arrives afterwards as order updates, cancel or modify rejects.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from gateway.deadman import MAX_TIMEOUT_MS, Switches
from gateway.ipc import frames as f
from gateway.ipc.views import order_view
from gateway.metrics import Metrics
from gateway.orders.model import AWAITING_VENUE, Order, Status
from gateway.orders.tracker import DuplicateOrderError, Tracker
from gateway.risk import RiskLimits
from gateway.status import status_reply
from gateway.validation import STRATEGY_NAME, OrderValidator, RequestError
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.outbound import QueueRefused
from gateway.venues.requests import Cancel, CancelAll, Group, Modify, Place, Replace

log = logging.getLogger("gateway.router")

__all__ = ["RequestError", "Router", "StrategyLink"]


class StrategyLink(Protocol):
    """What the router needs of a strategy's connection (gateway/ipc/server.py has the real one)."""
    strategy: str | None
    cancel_on_disconnect: bool
    peer_pid: int
    peer_uid: int

    def send(self, message) -> None: ...


_PENDING = (Status.PENDING_CANCEL, Status.PENDING_REPLACE)


# what a draining gateway no longer takes (cancels, queries and pings it still answers)
_NEW_WORK = (f.Place, f.PlaceGroup, f.Replace, f.Modify)


class Router:
    def __init__(self, risk: RiskLimits, *, closed_ttl_ns: int, max_closed: int = 100_000,
                 metrics: Metrics | None = None, journal=None):
        self.tracker = Tracker(self, closed_ttl_ns=closed_ttl_ns, max_closed=max_closed, journal=journal)
        # set when the daemon starts to drain: new orders and changes are refused, cancels go on
        self.shutting_down = False
        self.validator = OrderValidator(risk, self.tracker)
        self.venues: dict[str, VenueAdapter] = {}
        self.risk = risk
        self.connections: dict[str, StrategyLink] = {}
        self.metrics = metrics or Metrics()
        self.metrics.source = self
        self.started_ns = time.time_ns()
        self.switches = Switches(self._switch_fired)  # the strategies' armed cancel_all_after
        # fleet control (gateway/dropcopy/control.py): while set, new orders are refused
        self.halted: str | None = None
        self.drop_copy = None  # gateway.dropcopy.publisher.DropCopy, when configured
        self._handlers = {
            f.Hello: self._hello, f.Place: self._place, f.PlaceGroup: self._place_group, f.Cancel: self._cancel,
            f.CancelAll: self._cancel_all, f.Replace: self._replace, f.Modify: self._modify,
            f.Orders: self._orders, f.Subscribe: self._subscribe, f.Ping: self._ping,
            f.Status: self._status, f.CancelAllAfter: self._cancel_all_after,
        }

    def add_venue(self, adapter: VenueAdapter) -> None:
        self.venues[adapter.name] = adapter
        adapter.outbound.refusals = self  # what a request its venue never saw refuses to

    # tracker listener: order changes go to the strategy that owns the order

    def view_from(self, order: Order) -> int | None:
        """A view for the owning strategy when it is connected, with the trades it has not had."""
        return order.fills_reported if order.strategy in self.connections else None

    def order_updated(self, order: Order, view: f.OrderView | None) -> None:
        if order.fills:
            self.risk.last_trade[(order.venue, order.symbol)] = order.fills[-1].price
        sent = order.sent_ns
        if sent and order.status not in AWAITING_VENUE:
            # the venue's first word on this order: confirmation latency, once
            order.sent_ns = 0
            self.metrics.stages(order.venue).confirmation.observe(time.perf_counter_ns() - sent)
        if view is not None:
            # the view may be the drop copy's too (the tracker makes one per change): never changed after
            order.fills_reported = len(order.fills)
            self.connections[order.strategy].send(f.OrderUpdate(order=view))

    def cancel_rejected(self, order: Order, reason: str) -> None:
        conn = self.connections.get(order.strategy)
        if conn is not None:
            conn.send(f.CancelReject(client_order_id=order.client_order_id, order_id=order.order_id, reason=reason))

    def modify_rejected(self, order: Order, code: str, reason: str) -> None:
        conn = self.connections.get(order.strategy)
        if conn is not None:
            conn.send(f.ModifyReject(client_order_id=order.client_order_id, order_id=order.order_id, code=code,
                                     reason=reason))

    def ask_venue(self, order: Order, why: str) -> None:
        """A queued request the venue may have seen after all: its resolver asks the venue
        (gateway/venues/requests.py says which refusals do)."""
        self.venues[order.venue].resolver.ask(order, why)

    # requests

    def handle(self, conn: StrategyLink, request, t_in_ns: int, decode_ns: int = 0):
        """One request, handled to its reply without waiting (None: the handler sent it)."""
        code = None
        try:
            if conn.strategy is None and not isinstance(request, (f.Hello, f.Status)):
                raise RequestError("hello_required", "send hello before any other request")
            if isinstance(request, _NEW_WORK):
                self._new_work_allowed()
            reply = self._handlers[type(request)](conn, request, t_in_ns, decode_ns)
        except RequestError as exc:
            code = exc.code
            reply = f.Ack(req_id=request.req_id, ok=False, error=f.ErrorInfo(exc.code, exc.message))
        except Exception:
            code = "internal"
            log.exception("request %s failed", type(request).__name__)
            reply = f.Ack(req_id=request.req_id, ok=False,
                          error=f.ErrorInfo("internal", "the gateway failed on this request; see its log"))
        self.metrics.request_done(request.__struct_config__.tag, code)
        if self.switches.armed:
            self.switches.touch(conn.strategy, t_in_ns)  # any request re-arms it
        return reply

    def _new_work_allowed(self) -> None:
        """New orders and changes stop while the daemon drains, while fleet control halts them,
        and while the journal cannot write (cancels, queries and pings go on)."""
        if self.shutting_down:
            raise RequestError("shutting_down", "the gateway is shutting down: no new orders or changes")
        if self.halted is not None:
            raise RequestError("halted", f"new orders are halted by fleet control: {self.halted}")
        journal = self.tracker.journal
        if journal is not None and journal.failing is not None:
            raise RequestError("journal_unavailable", "the order journal cannot be written "
                               f"({journal.failing.strerror or journal.failing}): no new orders until it can")

    def commit(self, retry: Callable[[], None] | None = None) -> bool:
        """Before any reply leaves: what was accepted is in the journal (the kernel's). False:
        the journal cannot write now; the replies wait, and retry() is called once it can."""
        journal = self.tracker.journal
        if journal is None:
            return True
        return journal.flush() if retry is None else journal.flush_or_wait(retry)

    def _hello(self, conn, req: f.Hello, *_) -> f.Ack:
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

    def disconnected(self, conn: StrategyLink) -> list[Order]:
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
    def _admit(venue: VenueAdapter, weight: float = 1) -> None:
        try:
            venue.outbound.admit(weight)
        except QueueRefused as exc:
            raise RequestError("rate_limited", str(exc)) from None

    def _track(self, venue: VenueAdapter, order: Order, t_in_ns: int) -> Order:
        try:
            self.tracker.track(order)
        except DuplicateOrderError as exc:
            raise RequestError("duplicate_client_order_id", str(exc)) from None
        order.received_ns = t_in_ns
        try:
            venue.check_new(order)
        except VenueError as exc:
            # known only once the order has its id: refused like a venue refusal, and said so
            self.tracker.apply(order, Status.REJECTED, reason=exc.message)
            raise RequestError(exc.code, exc.message) from None
        return order

    def _place(self, conn, req: f.Place, t_in_ns: int, decode_ns: int) -> f.Ack:
        venue = self._venue(req.venue)
        stages = venue.stages
        t0 = time.perf_counter_ns()
        order = self.validator.new_order(conn.strategy, venue, req.client_order_id, req.symbol, req.side,
                                         req.type, req.tif, req.price, req.quantity, req.post_only,
                                         req.reduce_only, req.stop_price)
        self._admit(venue)
        self._track(venue, order, t_in_ns)
        venue.outbound.submit(Place(order))
        stages.validate.observe(time.perf_counter_ns() - t0)
        stages.decode.observe(decode_ns)
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def _place_group(self, conn, req: f.PlaceGroup, t_in_ns: int, _decode_ns: int) -> f.Ack:
        venue = self._venue(req.venue)
        if not venue.capabilities.order_groups:
            raise RequestError("unsupported", f"{venue.name} has no order groups")
        if len(req.legs) < 2:
            raise RequestError("bad_field", "a group needs at least 2 legs")
        cids = [leg.client_order_id for leg in req.legs]
        if len(set(cids)) != len(cids):
            raise RequestError("duplicate_client_order_id", "the legs' client_order_ids must differ")
        # all or nothing: every leg passes every check before any is tracked
        orders = [
            self.validator.new_order(conn.strategy, venue, leg.client_order_id, leg.symbol, leg.side, leg.type,
                                     leg.tif, leg.price, leg.quantity, leg.post_only, leg.reduce_only,
                                     leg.stop_price, pending=i)
            for i, leg in enumerate(req.legs)
        ]
        self._admit(venue)
        for order in orders:
            self.tracker.track(order)
            order.received_ns = t_in_ns
        venue.outbound.submit(Group(orders, req.contingency))
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

    def _cancel(self, conn, req: f.Cancel, *_) -> f.Ack:
        order = self._own_order(conn, req.client_order_id, req.order_id)
        if order.is_closed:
            raise RequestError("order_closed", f"order {order.client_order_id} is {order.status.value} already")
        self.cancel_orders([order])
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def _cancel_all(self, conn, req: f.CancelAll, *_) -> f.Ack:
        if req.venue is not None:
            self._venue(req.venue)
        orders = [o for o in self.tracker.open_orders(strategy=conn.strategy)
                  if (req.venue is None or o.venue == req.venue) and (req.symbol is None or o.symbol == req.symbol)]
        self.cancel_orders(orders)
        return f.Ack(req_id=req.req_id, ok=True)

    def cancel_orders(self, orders: list[Order]) -> None:
        """Cancel many (cancel_all, cancel-on-disconnect, shutdown): what never left is taken out
        of its line; the rest goes as one batch request per venue that can take one, else one
        request per order. Never refused for the rate limit: at most one cancel per open order
        waits. An order whose cancel or replace is on its way already is left to it."""
        by_venue: dict[str, list[Order]] = {}
        for order in orders:
            if order.is_closed or order.status in _PENDING:
                continue
            venue = self.venues[order.venue]
            if venue.outbound.withdraw(order):
                self.tracker.apply(order, Status.CANCELED, reason="canceled before it was sent")
            elif self.tracker.mark_pending(order, Status.PENDING_CANCEL):
                by_venue.setdefault(order.venue, []).append(order)
        for name, pending in by_venue.items():
            venue = self.venues[name]
            if venue.capabilities.batch_cancel and len(pending) > 1:
                venue.outbound.take(CancelAll(pending))
            else:
                for order in pending:
                    venue.outbound.take(Cancel(order))

    def _replace(self, conn, req: f.Replace, t_in_ns: int, _decode_ns: int) -> f.Ack:
        old = self._own_order(conn, req.client_order_id)
        venue = self.venues[old.venue]
        if not venue.capabilities.cancel_replace:
            raise RequestError("unsupported", f"{venue.name} cannot cancel-and-replace")
        if old.is_closed:
            raise RequestError("order_closed", f"order {old.client_order_id} is {old.status.value} already")
        if old.status in _PENDING:
            raise RequestError("order_pending", f"order {old.client_order_id} is {old.status.value}")
        new = self.validator.new_order(conn.strategy, venue, req.new_client_order_id, old.symbol, old.side.value,
                                       old.type.value, old.tif.value, req.price, req.quantity, old.post_only,
                                       old.reduce_only, None)
        self._admit(venue, Replace.weight)
        self._track(venue, new, t_in_ns)
        new.replaces, old.replaced_by = old.order_id, new.order_id
        self.tracker.mark_pending(old, Status.PENDING_REPLACE)
        venue.outbound.submit(Replace(old, new, req.proceed_on_failure))
        return f.Ack(req_id=req.req_id, ok=True, order_id=new.order_id)

    def _modify(self, conn, req: f.Modify, *_) -> f.Ack:
        order = self._own_order(conn, req.client_order_id)
        venue = self.venues[order.venue]
        if not venue.capabilities.modify:
            raise RequestError("unsupported", f"{venue.name} cannot amend an order in place: use replace")
        price, quantity = self.validator.amendment(order, venue, req.price, req.quantity)
        try:
            venue.check_modify(order, price, quantity)
        except VenueError as exc:
            raise RequestError(exc.code, exc.message) from None
        self._admit(venue)
        venue.outbound.submit(Modify(order, price, quantity))
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def _orders(self, conn, req: f.Orders, *_) -> f.OrdersReply:
        orders = (self.tracker.open_orders(strategy=conn.strategy) if req.open_only
                  else self.tracker.strategy_orders(conn.strategy))
        return f.OrdersReply(req_id=req.req_id, orders=[order_view(o) for o in orders])

    def _subscribe(self, conn, req: f.Subscribe, *_) -> None:
        conn.send(f.Ack(req_id=req.req_id, ok=True))
        for order in self.tracker.open_orders(strategy=conn.strategy):
            conn.send(f.OrderUpdate(order=order_view(order)))
        return None

    def _ping(self, conn, req: f.Ping, *_) -> f.Pong:
        return f.Pong(req_id=req.req_id, ts_ns=time.time_ns())

    def _status(self, conn, req: f.Status, *_) -> f.StatusReply:
        return status_reply(req.req_id, self)

    # the dead man's switch (cancel_all_after)

    def _cancel_all_after(self, conn, req: f.CancelAllAfter, t_in_ns: int, _decode_ns: int) -> f.Ack:
        if not 0 <= req.timeout_ms <= MAX_TIMEOUT_MS:
            raise RequestError("bad_field", f"timeout_ms must be 0 (disarm) to {MAX_TIMEOUT_MS}")
        self.switches.arm(conn.strategy, req.timeout_ms, t_in_ns)
        return f.Ack(req_id=req.req_id, ok=True)

    def _switch_fired(self, strategy: str, timeout_ms: int) -> None:
        orders = self.tracker.open_orders(strategy=strategy)
        log.warning("strategy %s sent nothing for %d ms: cancel_all_after fired, canceling %d open orders",
                    strategy, timeout_ms, len(orders))
        self.metrics.switch_fired(strategy)
        self.cancel_orders(orders)
        conn = self.connections.get(strategy)
        if conn is not None:
            conn.send(f.CancelAllAfterFired(timeout_ms=timeout_ms, order_ids=[o.order_id for o in orders]))

    # what the metrics read (gateway.metrics.MetricsSource)

    @property
    def unknown_transitions_by_reason(self) -> dict[str, int]:
        return self.tracker.unknown_by_reason

    @property
    def duplicate_fills(self) -> int:
        return self.tracker.duplicate_fills

    def open_order_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for order in self.tracker.open_orders():
            key = (order.venue, order.strategy)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def journal_health(self) -> tuple[bool, int]:
        """(failing, failed writes so far); without a journal it never fails."""
        journal = self.tracker.journal
        return (False, 0) if journal is None else (journal.failing is not None, journal.write_errors)

    def strategies_connected(self) -> int:
        return len(self.connections)

    def venue_list(self) -> list[VenueAdapter]:
        return [self.venues[name] for name in sorted(self.venues)]
