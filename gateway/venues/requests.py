"""The requests a venue line carries (gateway/venues/outbound.py), one type per kind.

Each knows the adapter call that sends it, what becomes of it when the venue
never saw it (its refusal), and its weight in the venue's rate limit. The
line knows none of this: it queues, paces and hands requests over, in order,
and asks a request to refuse itself when it could not be sent.

A request's life in the line: `enter` when queued, `leave` when it goes (what
must be journaled before its bytes leave is journaled there), `call` the
adapter, `sent` once the adapter has handed its bytes over. `send` is the
three in a row; a batch (several requests in one venue request) does them
around one `send_batch`.
"""
from __future__ import annotations

from typing import ClassVar, Protocol

from gateway.orders.model import CANCEL_PENDING, Order, Status
from gateway.orders.tracker import Tracker


class Refusals(Protocol):
    """What a refused request needs of order entry (gateway/entry.py has it)."""
    tracker: Tracker

    def ask_venue(self, order: Order, why: str) -> None:
        """Find out from the order's venue what became of it (its resolver asks until it answers)."""

    def modify_rejected(self, order: Order, code: str, reason: str) -> None:
        """Tell the order's strategy its modify was not done."""


class Venue(Protocol):
    """What a request calls: the adapter contract's request methods (gateway/venues/base.py)."""
    tracker: Tracker

    async def place(self, order: Order) -> None: ...

    async def cancel(self, order: Order) -> None: ...

    async def cancel_all(self, orders: list[Order]) -> None: ...

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None: ...

    async def modify(self, order: Order, price: int | None, quantity: int | None) -> None: ...

    async def place_group(self, orders: list[Order], contingency: str) -> None: ...

    def observe_tick_to_wire(self, order: Order, queue_wait_ns: int = 0) -> None: ...


def _refuse_cancel(tracker: Tracker, order: Order, reason: str) -> None:
    if order.status in CANCEL_PENDING:
        tracker.cancel_refused(order, reason)  # ours, not the venue's: nothing to ask it


class VenueRequest:
    __slots__ = ("queued_ns",)
    # what the venue counts this request as against its rate limit
    weight: ClassVar[float] = 1

    def __init__(self) -> None:
        self.queued_ns = 0  # perf_counter_ns when it entered the line

    @property
    def withdrawn(self) -> bool:
        """Taken back before it left the line (only a place can be)."""
        return False

    def enter(self) -> None:
        """Queued in the line."""

    def leave(self, tracker: Tracker) -> None:
        """Out of the line, its bytes about to be written."""

    async def call(self, venue: Venue) -> None:
        raise NotImplementedError

    def sent(self, venue: Venue, waited_ns: int) -> None:
        """The adapter has handed the request's bytes over."""

    async def send(self, venue: Venue, waited_ns: int) -> None:
        self.leave(venue.tracker)
        await self.call(venue)
        self.sent(venue, waited_ns)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        """The venue never saw this request (refused before sending, or the adapter failed on it)."""
        raise NotImplementedError


class Place(VenueRequest):
    __slots__ = ("order",)

    def __init__(self, order: Order):
        self.order = order
        self.queued_ns = 0

    @property
    def withdrawn(self) -> bool:
        return not self.order.queued

    def enter(self) -> None:
        self.order.queued = True

    def leave(self, tracker: Tracker) -> None:
        self.order.queued = False
        tracker.journal_sent(self.order)

    async def call(self, venue: Venue) -> None:
        await venue.place(self.order)

    def sent(self, venue: Venue, waited_ns: int) -> None:
        venue.observe_tick_to_wire(self.order, waited_ns)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        order = self.order
        if code == "internal" and order.sent_at_ns:
            to.ask_venue(order, reason)  # the adapter failed after the order may have left: ask, do not guess
        else:
            to.tracker.apply(order, Status.REJECTED, reason=reason)


class Cancel(VenueRequest):
    __slots__ = ("order",)

    def __init__(self, order: Order):
        self.order = order
        self.queued_ns = 0

    async def call(self, venue: Venue) -> None:
        await venue.cancel(self.order)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        _refuse_cancel(to.tracker, self.order, reason)


class CancelAll(VenueRequest):
    """Many of a strategy's orders on one venue, in one request where the venue takes one."""
    __slots__ = ("orders",)

    def __init__(self, orders: list[Order]):
        self.orders = orders
        self.queued_ns = 0

    async def call(self, venue: Venue) -> None:
        await venue.cancel_all(self.orders)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        for order in self.orders:
            _refuse_cancel(to.tracker, order, reason)


class Replace(VenueRequest):
    __slots__ = ("old", "new", "proceed_on_failure")
    # the venues weigh a cancel-and-replace as two requests: a cancel and a place
    weight = 2

    def __init__(self, old: Order, new: Order, proceed_on_failure: bool):
        self.old = old
        self.new = new
        self.proceed_on_failure = proceed_on_failure
        self.queued_ns = 0

    def leave(self, tracker: Tracker) -> None:
        tracker.journal_sent(self.new)

    async def call(self, venue: Venue) -> None:
        await venue.replace(self.old, self.new, self.proceed_on_failure)

    def sent(self, venue: Venue, waited_ns: int) -> None:
        venue.observe_tick_to_wire(self.new, waited_ns)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        _refuse_cancel(to.tracker, self.old, reason)
        to.tracker.apply(self.new, Status.REJECTED, reason=reason)


class Modify(VenueRequest):
    __slots__ = ("order", "price", "quantity")

    def __init__(self, order: Order, price: int | None, quantity: int | None):
        self.order = order
        self.price = price
        self.quantity = quantity
        self.queued_ns = 0

    async def call(self, venue: Venue) -> None:
        await venue.modify(self.order, self.price, self.quantity)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        to.modify_rejected(self.order, code, reason)


class Group(VenueRequest):
    """Orders linked at the venue: contingency "oco" or "if_then" (orders[0] the parent)."""
    __slots__ = ("orders", "contingency")

    def __init__(self, orders: list[Order], contingency: str):
        self.orders = orders
        self.contingency = contingency
        self.queued_ns = 0

    def leave(self, tracker: Tracker) -> None:
        for order in self.orders:
            tracker.journal_sent(order)

    async def call(self, venue: Venue) -> None:
        await venue.place_group(self.orders, self.contingency)

    def sent(self, venue: Venue, waited_ns: int) -> None:
        for order in self.orders:
            venue.observe_tick_to_wire(order, waited_ns)

    def refuse(self, to: Refusals, code: str, reason: str) -> None:
        for order in self.orders:
            to.tracker.apply(order, Status.REJECTED, reason=reason)
