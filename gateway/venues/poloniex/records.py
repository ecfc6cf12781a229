"""What the Poloniex adapter keeps on each order (Order.venue_data), journaled by field name."""
from __future__ import annotations

import msgspec


class PoloniexOrderRef(msgspec.Struct, gc=False):  # strs and bools only: no cycles for the collector to track
    smart: bool | None = None  # placed as a smart (stop) order
    smart_id: str | None = None  # the smart order's venue id (venue_order_id moves to the triggered order)
    triggered: bool | None = None  # the smart order became a regular order on the book


class _NoRef(PoloniexOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)


def ref_of(order) -> PoloniexOrderRef:
    """The order's record, made on first use."""
    ref = order.venue_data
    if ref is None:
        ref = order.venue_data = PoloniexOrderRef()
    return ref
