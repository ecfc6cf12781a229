"""What the venue's words mean for an order: its states as the gateway's statuses, where an
order lives at the venue (smart or regular), and amounts as exact e18 integers."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.orders.model import SCALE, Order, Status
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.venue_data import PoloniexVenueData

CANCELED_STATES = frozenset({s.CANCELED, s.CANCELLED, s.PARTIALLY_CANCELED})
LIVE_STATES = frozenset({s.PENDING_NEW, s.NEW, s.PARTIALLY_FILLED, s.PENDING_CANCEL})


def e18(text: str) -> int:
    return parse_scaled(text, SCALE)


def decimal(value: int) -> str:
    return format_scaled(value, SCALE)


def is_smart(order: Order) -> bool:
    """Still a smart order at the venue: placed as one (it has a stop price; a journal replay
    knows it too) and not triggered yet."""
    return order.stop_price is not None and not PoloniexVenueData.read(order).triggered


def status_of(adapter, order: Order, state: str) -> tuple[Status | None, str | None]:
    """A regular order's venue state as (status, reason); None: the state moves nothing by
    itself (fills move a partial fill; a pending cancel is ours already)."""
    if state == s.NEW:
        return (Status.TRIGGERED if order.stop_price is not None else Status.OPEN), None
    if state in (s.PENDING_NEW, s.PENDING_CANCEL, s.PARTIALLY_FILLED):
        return None, None
    if state == s.FILLED:
        return Status.FILLED, None
    if state in CANCELED_STATES:
        return Status.CANCELED, adapter.cancel_reason(order)
    if state in (s.REJECTED, s.FAILED):
        return Status.REJECTED, f"the venue reports the order {state}"
    if state == s.EXPIRED:
        return Status.EXPIRED, "expired"
    adapter.log.warning("unknown Poloniex state %r for order %s", state, order.order_id)
    return None, None


def follow_triggered(adapter, order: Order, venue_id: str) -> None:
    """The smart order became a regular order on the book: follow that one from now on."""
    data = PoloniexVenueData.ensure_on(order)
    if not data.triggered:
        data.triggered = True
        if order.venue_order_id is not None and data.smart_id is None:
            data.smart_id = order.venue_order_id
        adapter.tracker.bind_venue_id(order, venue_id)
        adapter.tracker.note_venue_data(order)  # after a restart, cancels must still go to /orders
        adapter.tracker.apply(order, Status.TRIGGERED)
        adapter.run_deferred(order)


def regular_named(adapter, order: Order, venue_id: str, source: str) -> None:
    """The venue speaks of the regular order behind ours (an event, a GET answer): a smart
    order's is the order it triggered; an order not named yet is named now."""
    if source == s.SOURCE_SMART or order.stop_price is not None:
        follow_triggered(adapter, order, venue_id)
    elif order.venue_order_id is None:
        adapter.tracker.bind_venue_id(order, venue_id)
        adapter.run_deferred(order)
