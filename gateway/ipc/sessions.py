"""Strategies' sessions: who is connected, as which strategy, and what each is told.

One registry of the open connections (the server's limits count it, all and
per peer; the sweeper walks it; the oldest not to have said hello makes room
when all are taken) and of the strategies that said hello. A strategy's order
changes, cancel and modify rejects go to its connection; trades made while it
was away are kept in its backlog and come with the order's next change (and
in its queries) once it is back. Cancel-on-disconnect and the dead man's
switch (`cancel_all_after`, gateway/deadman.py) cancel through order entry.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from gateway.deadman import MAX_TIMEOUT_MS, Switches
from gateway.ipc import frames as f
from gateway.ipc.views import ChangeViews, order_view
from gateway.metrics import Metrics
from gateway.orders.model import Order
from gateway.orders.tracker import Tracker
from gateway.validation import STRATEGY_NAME, RequestError

log = logging.getLogger("gateway.sessions")


class StrategyLink(Protocol):
    """What sessions need of a strategy's connection (gateway/ipc/server.py has the real one)."""
    strategy: str | None
    peer_pid: int
    peer_uid: int
    peer_gid: int
    peer: tuple[str, int]  # whose connections count together (gateway/ipc/admittance.py)

    def said_hello(self, strategy: str) -> None: ...
    def send(self, message) -> None: ...


class Sessions:
    def __init__(self, tracker: Tracker, metrics: Metrics, views: ChangeViews,
                 cancel_orders: Callable[[list[Order]], None]):
        self._tracker = tracker
        self._metrics = metrics
        self._views = views
        self._cancel_orders = cancel_orders
        self.open: set[StrategyLink] = set()  # every open connection, hello said or not
        self._no_hello: dict[StrategyLink, None] = {}  # those that have not said hello, oldest first
        self._per_peer: dict[tuple[str, int], int] = {}  # peer -> its open connections
        self.strategies: dict[str, StrategyLink] = {}  # strategy -> its connection
        self._cancel_on_disconnect: set[str] = set()
        # order id -> its first trade the strategy has not had (it was not connected)
        self._backlog: dict[str, int] = {}
        self.switches = Switches(self._switch_fired)  # the strategies' armed cancel_all_after
        self.states = None  # gateway.strategy_states.StrategyStates, set when composed

    # connections

    def opened(self, link: StrategyLink) -> None:
        self.open.add(link)
        self._no_hello[link] = None
        self._per_peer[link.peer] = self._per_peer.get(link.peer, 0) + 1

    def held_by(self, peer: tuple[str, int]) -> int:
        """Open connections of this peer."""
        return self._per_peer.get(peer, 0)

    def oldest_without_hello(self) -> StrategyLink | None:
        return next(iter(self._no_hello), None)

    def hello(self, link: StrategyLink, req: f.Hello) -> f.Ack:
        if link.strategy is not None:
            raise RequestError("already_hello", f"this connection is strategy {link.strategy!r} already")
        if not STRATEGY_NAME.match(req.strategy):
            raise RequestError("bad_field", "strategy must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        if req.strategy in self.strategies:
            raise RequestError("strategy_in_use", f"strategy {req.strategy!r} is connected already")
        link.said_hello(req.strategy)
        self._no_hello.pop(link, None)
        self.strategies[req.strategy] = link
        if req.cancel_on_disconnect:
            self._cancel_on_disconnect.add(req.strategy)
        else:
            self._cancel_on_disconnect.discard(req.strategy)
        self._forget_purged()
        log.info("strategy %s connected (pid %s, uid %s)", req.strategy, link.peer_pid, link.peer_uid)
        ack = f.Ack(req_id=req.req_id, ok=True)
        entry = None if self.states is None else self.states.limited.get(req.strategy)
        if entry is None:
            return ack
        # a strategy that comes back reducing or halted hears so before anything else
        link.send(ack)
        link.send(f.RiskState(strategy=req.strategy, state=entry.state, reason=entry.reason))
        return None

    def closed(self, link: StrategyLink) -> None:
        """The connection is gone (or going: called again when it is): with cancel-on-disconnect,
        its strategy's open orders are canceled."""
        if link in self.open:
            self.open.discard(link)
            self._no_hello.pop(link, None)
            left = self._per_peer[link.peer] - 1
            if left:
                self._per_peer[link.peer] = left
            else:
                del self._per_peer[link.peer]
        strategy = link.strategy
        if strategy is None or self.strategies.get(strategy) is not link:
            return
        del self.strategies[strategy]
        log.info("strategy %s disconnected", strategy)
        if strategy in self._cancel_on_disconnect:
            orders = self._tracker.open_orders(strategy=strategy)
            if orders:
                log.info("cancel-on-disconnect: %d orders of %s", len(orders), strategy)
                self._cancel_orders(orders)

    def _forget_purged(self) -> None:
        """Backlog of orders the tracker no longer keeps is of no use."""
        orders = self._tracker.orders
        for order_id in [k for k in self._backlog if k not in orders]:
            del self._backlog[order_id]

    # what each strategy is told (a tracker listener)

    def order_changed(self, order: Order, new_fills: int) -> None:
        link = self.strategies.get(order.strategy)
        fills_from = len(order.fills) - new_fills
        if link is None:
            if new_fills:
                self._backlog.setdefault(order.order_id, fills_from)
            return
        if self._backlog:
            fills_from = self._backlog.pop(order.order_id, fills_from)
        link.send(f.OrderUpdate(order=self._views.view(order, fills_from)))

    def risk_state(self, strategy: str, state: str, reason: str | None) -> None:
        link = self.strategies.get(strategy)
        if link is not None:
            link.send(f.RiskState(strategy=strategy, state=state, reason=reason))

    def cancel_rejected(self, order: Order, reason: str) -> None:
        link = self.strategies.get(order.strategy)
        if link is not None:
            link.send(f.CancelReject(client_order_id=order.client_order_id, order_id=order.order_id, reason=reason))

    def modify_rejected(self, order: Order, code: str, reason: str) -> None:
        link = self.strategies.get(order.strategy)
        if link is not None:
            link.send(f.ModifyReject(client_order_id=order.client_order_id, order_id=order.order_id, code=code,
                                     reason=reason))

    def view(self, order: Order) -> f.OrderView:
        """A query's view: the trades the strategy has not had come with it (and again with the
        order's next change: a query moves no place)."""
        return order_view(order, self._backlog.get(order.order_id, len(order.fills)))

    def orders(self, link: StrategyLink, req: f.Orders) -> f.OrdersReply:
        tracker = self._tracker
        orders = (tracker.open_orders(strategy=link.strategy) if req.open_only
                  else tracker.strategy_orders(link.strategy))
        return f.OrdersReply(req_id=req.req_id, orders=[self.view(o) for o in orders])

    def subscribe(self, link: StrategyLink, req: f.Subscribe) -> None:
        link.send(f.Ack(req_id=req.req_id, ok=True))
        for order in self._tracker.open_orders(strategy=link.strategy):
            link.send(f.OrderUpdate(order=self.view(order)))

    # the dead man's switch (cancel_all_after)

    def cancel_all_after(self, link: StrategyLink, req: f.CancelAllAfter, t_in_ns: int) -> f.Ack:
        if not 0 <= req.timeout_ms <= MAX_TIMEOUT_MS:
            raise RequestError("bad_field", f"timeout_ms must be 0 (disarm) to {MAX_TIMEOUT_MS}")
        self.switches.arm(link.strategy, req.timeout_ms, t_in_ns)
        return f.Ack(req_id=req.req_id, ok=True)

    def _switch_fired(self, strategy: str, timeout_ms: int) -> None:
        orders = self._tracker.open_orders(strategy=strategy)
        log.warning("strategy %s sent nothing for %d ms: cancel_all_after fired, canceling %d open orders",
                    strategy, timeout_ms, len(orders))
        self._metrics.switch_fired(strategy)
        self._cancel_orders(orders)
        link = self.strategies.get(strategy)
        if link is not None:
            link.send(f.CancelAllAfterFired(timeout_ms=timeout_ms, order_ids=[o.order_id for o in orders]))
