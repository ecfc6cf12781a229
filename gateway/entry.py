"""Order entry: a strategy's order request, from its fields to its venue's line.

validate (gateway/validation.py: fields, instrument steps, risk) -> admit to
the venue's line (its rate limit, gateway/venues/outbound.py) -> track (an
id, journaled) -> the venue's own checks -> queued. Each step may refuse with
a RequestError and leaves nothing behind; nothing here waits for a venue.
The admission gate (gateway/admission.py) has said yes to new work before
any of this (a halted strategy has been refused there); cancels never ask it.
A reducing strategy's orders are checked here, once validated
(gateway/strategy_states.py). The risk token (orders per second) is
spent only once the order is accepted.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from gateway.ipc import frames as f
from gateway.orders.model import CANCEL_PENDING, Order, Status
from gateway.orders.tracker import DuplicateOrderError, Tracker
from gateway.risk import RiskLimits
from gateway.strategy_states import StrategyStates
from gateway.validation import OrderValidator, RequestError
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.outbound import QueueRefused
from gateway.venues.requests import Cancel, CancelAll, Group, Modify, Place, Replace

class OrderEntry:
    def __init__(self, tracker: Tracker, risk: RiskLimits, venues: dict[str, VenueAdapter]):
        self.tracker = tracker
        self.risk = risk
        self.venues = venues
        self.validator = OrderValidator(risk, tracker)
        self.states: StrategyStates | None = None  # the strategies' states, set when composed
        # tells the strategy of a modify its venue never saw (the sessions', set when composed)
        # tells the strategy its modify was not done (the sessions', set when composed)
        self.tell_modify_rejected: Callable[[Order, str, str], None] = lambda order, code, reason: None

    def add_venue(self, adapter: VenueAdapter) -> None:
        self.venues[adapter.name] = adapter
        adapter.outbound.refusals = self  # what a request its venue never saw refuses to

    def venue(self, name: str) -> VenueAdapter:
        adapter = self.venues.get(name)
        if adapter is None:
            raise RequestError("unknown_venue", f"no venue {name!r}; configured: {', '.join(sorted(self.venues))}")
        return adapter

    # new orders

    def place(self, strategy: str, req: f.Place, t_in_ns: int, decode_ns: int) -> f.Ack:
        venue = self.venue(req.venue)
        t0 = time.perf_counter_ns()
        order = self.validator.new_order(strategy, venue, req.client_order_id, req.symbol, req.side, req.type,
                                         req.tif, req.price, req.quantity, req.post_only, req.reduce_only,
                                         req.stop_price)
        self._check_state(strategy, [order])
        _admit(venue)
        self._track(venue, order, t_in_ns)
        risk = self.risk
        risk.count(order)
        risk.spend(strategy)
        venue.outbound.submit(Place(order))
        stages = venue.stages
        stages.validate.observe(time.perf_counter_ns() - t0)
        stages.decode.observe(decode_ns)
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def place_group(self, strategy: str, req: f.PlaceGroup, t_in_ns: int) -> f.Ack:
        venue = self.venue(req.venue)
        if not venue.capabilities.order_groups:
            raise RequestError("unsupported", f"{venue.name} has no order groups")
        if len(req.legs) < 2:
            raise RequestError("bad_field", "a group needs at least 2 legs")
        cids = [leg.client_order_id for leg in req.legs]
        if len(set(cids)) != len(cids):
            raise RequestError("duplicate_client_order_id", "the legs' client_order_ids must differ")
        # all or nothing: every leg passes every check before any is tracked
        orders: list[Order] = []
        for leg in req.legs:  # each leg's risk counts the legs before it as open
            orders.append(self.validator.new_order(strategy, venue, leg.client_order_id, leg.symbol, leg.side,
                                                   leg.type, leg.tif, leg.price, leg.quantity, leg.post_only,
                                                   leg.reduce_only, leg.stop_price, earlier=orders))
        self._check_state(strategy, orders)
        _admit(venue)
        for order in orders:
            self.tracker.track(order)
            order.received_ns = t_in_ns
            self.risk.count(order)
        self.risk.spend(strategy, len(orders))
        venue.outbound.submit(Group(orders, req.contingency))
        return f.Ack(req_id=req.req_id, ok=True, order_id=orders[0].order_id,
                     order_ids=[o.order_id for o in orders])

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

    # changes to orders

    def own_order(self, strategy: str, client_order_id: str | None, order_id: str | None = None) -> Order:
        if order_id is not None:
            order = self.tracker.get(order_id)
            if order is not None and order.strategy != strategy:
                raise RequestError("not_your_order", f"order {order_id} belongs to another strategy")
        elif client_order_id is not None:
            order = self.tracker.by_client(strategy, client_order_id)
        else:
            raise RequestError("missing_field", "name the order by client_order_id or order_id")
        if order is None:
            raise RequestError("unknown_order", f"strategy {strategy!r} has no order "
                               f"{order_id or client_order_id!r}")
        return order

    def replace(self, strategy: str, req: f.Replace, t_in_ns: int) -> f.Ack:
        old = self.own_order(strategy, req.client_order_id)
        venue = self.venues[old.venue]
        if not venue.capabilities.cancel_replace:
            raise RequestError("unsupported", f"{venue.name} cannot cancel-and-replace")
        if old.is_closed:
            raise RequestError("order_closed", f"order {old.client_order_id} is {old.status.value} already")
        if old.status in CANCEL_PENDING:
            raise RequestError("order_pending", f"order {old.client_order_id} is {old.status.value}")
        # the old order's part is not counted unless both may live (the new one goes even if
        # the cancel fails)
        new = self.validator.new_order(strategy, venue, req.new_client_order_id, old.symbol, old.side.value,
                                       old.type.value, old.tif.value, req.price, req.quantity, old.post_only,
                                       old.reduce_only, None, replaces=None if req.proceed_on_failure else old)
        # the new order takes the old one's place, unless both may work (proceed_on_failure)
        self._check_state(strategy, [new], None if req.proceed_on_failure else old)
        _admit(venue, Replace.weight)
        self._track(venue, new, t_in_ns)
        self.risk.count(new)
        self.risk.spend(strategy)
        new.replaces, old.replaced_by = old.order_id, new.order_id
        self.tracker.mark_pending(old, Status.PENDING_REPLACE)
        venue.outbound.submit(Replace(old, new, req.proceed_on_failure))
        return f.Ack(req_id=req.req_id, ok=True, order_id=new.order_id)

    def modify(self, strategy: str, req: f.Modify) -> f.Ack:
        order = self.own_order(strategy, req.client_order_id)
        venue = self.venues[order.venue]
        if not venue.capabilities.modify:
            raise RequestError("unsupported", f"{venue.name} cannot amend an order in place: use replace")
        price, quantity = self.validator.amendment(order, venue, req.price, req.quantity)
        states = self.states
        if states is not None and states.limited:
            states.check_amendment(order, quantity)
        try:
            venue.check_modify(order, price, quantity)
        except VenueError as exc:
            raise RequestError(exc.code, exc.message) from None
        _admit(venue)
        self.risk.spend(strategy)
        if quantity is not None:
            order.amending = quantity  # counted at the larger size by risk until the venue answers
            self.risk.count(order)
        venue.outbound.submit(Modify(order, price, quantity))
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def _check_state(self, strategy: str, orders: list[Order], replacing: Order | None = None) -> None:
        """A reducing strategy's new orders (a halted one's were refused by the admission gate)."""
        states = self.states
        if states is not None and states.limited:
            states.check_orders(strategy, orders, replacing)

    def modify_rejected(self, order: Order, code: str, reason: str) -> None:
        """The venue (or its line) did not take a modify: the order counts at its own size again."""
        if order.amending:
            order.amending = 0
            self.risk.count(order)
        self.tell_modify_rejected(order, code, reason)

    # cancels: never refused for limits or the gate

    def cancel(self, strategy: str, req: f.Cancel) -> f.Ack:
        order = self.own_order(strategy, req.client_order_id, req.order_id)
        if order.is_closed:
            raise RequestError("order_closed", f"order {order.client_order_id} is {order.status.value} already")
        self.cancel_orders([order])
        return f.Ack(req_id=req.req_id, ok=True, order_id=order.order_id)

    def cancel_all(self, strategy: str, req: f.CancelAll) -> f.Ack:
        """The symbol is checked as a place checks it: with a venue, one that venue lists;
        without, one some configured venue lists (a typo cancels nothing and says so)."""
        symbol = req.symbol
        if req.venue is not None:
            venue = self.venue(req.venue)
            if symbol is not None and symbol not in venue.instruments:
                raise RequestError("unknown_symbol", f"{venue.name} has no symbol {symbol!r}; "
                                   f"configured: {', '.join(sorted(venue.instruments))}")
        elif symbol is not None and not any(symbol in v.instruments for v in self.venues.values()):
            listed = sorted({s for v in self.venues.values() for s in v.instruments})
            raise RequestError("unknown_symbol", f"no venue has symbol {symbol!r}; configured: {', '.join(listed)}")
        orders = [o for o in self.tracker.open_orders(strategy=strategy)
                  if (req.venue is None or o.venue == req.venue) and (req.symbol is None or o.symbol == req.symbol)]
        self.cancel_orders(orders)
        return f.Ack(req_id=req.req_id, ok=True)

    def cancel_orders(self, orders: list[Order]) -> None:
        """Cancel many (cancel_all, cancel-on-disconnect, the dead man's switch, shutdown): what
        never left is taken out of its line; the rest goes as one batch request per venue that
        can take one, else one request per order. Never refused for the rate limit: at most one
        cancel per open order waits. An order whose cancel or replace is on its way already is
        left to it."""
        by_venue: dict[str, list[Order]] = {}
        for order in orders:
            if order.is_closed or order.status in CANCEL_PENDING:
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

    # what a request its venue never saw refuses to (gateway/venues/requests.py's Refusals)

    def ask_venue(self, order: Order, why: str) -> None:
        """A queued request the venue may have seen after all: its resolver asks the venue."""
        self.venues[order.venue].resolver.ask(order, why)


def _admit(venue: VenueAdapter, weight: float = 1) -> None:
    try:
        venue.outbound.admit(weight)
    except QueueRefused as exc:
        raise RequestError("rate_limited", str(exc)) from None
