"""What the Bluefin adapter keeps on each order (Order.venue_data), journaled by field name.

omit_defaults: the journal encodes the record itself (orders/records.py: venue_record), its unset (None)
fields left out. gc=False: ints, strs and bools make no cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class BluefinOrderRef(msgspec.Struct, omit_defaults=True, gc=False):
    # the order's e9 amounts and market, fixed by check_new: the signed fields are made of them
    price_e9: int | None = None
    quantity_e9: int | None = None
    trigger_e9: int | None = None
    market: str | None = None
    acked: bool | None = None  # the venue acknowledged it (listed or answered): a cancel may name it


class _NoRef(BluefinOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)


def ref_of(order) -> BluefinOrderRef:
    """The order's record, made on first use."""
    ref = order.venue_data
    if ref is None:
        ref = order.venue_data = BluefinOrderRef()
    return ref
