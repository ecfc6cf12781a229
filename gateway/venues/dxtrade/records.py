"""What the DXtrade adapter keeps on each order (Order.venue_data), journaled by field name.

omit_defaults: the journal encodes the record itself (orders/records.py: venue_record), its unset (None)
fields left out. gc=False: ints, strs and bools make no cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class DxtradeOrderRef(msgspec.Struct, omit_defaults=True, gc=False):
    version: int | None = None  # the newest version of the order seen (None: none yet)
    group: str | None = None  # the contingency type it was placed in, if any
    parent: str | None = None  # an IF-THEN group's first order (its order id)
    update_order_id: int | None = None  # the venue's id of the last place / modify taken
    etag: str | None = None  # the order's last ETag: the If-Match of a cancel or modify
    position_effect: str | None = None  # None: "OPEN"


class _NoRef(DxtradeOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)


def ref_of(order) -> DxtradeOrderRef:
    """The order's record, made on first use."""
    ref = order.venue_data
    if ref is None:
        ref = order.venue_data = DxtradeOrderRef()
    return ref
