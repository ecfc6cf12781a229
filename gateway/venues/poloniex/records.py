"""What the Poloniex adapter keeps on each order (Order.venue_data), journaled by field name.

omit_defaults: the journal encodes the record itself (orders/records.py: venue_record), its unset (None)
fields left out. gc=False: ints, strs and bools make no cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class PoloniexOrderRef(msgspec.Struct, omit_defaults=True, gc=False):
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
