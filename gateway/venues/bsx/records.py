"""What the BSX adapter keeps on each order (Order.venue_data), journaled by field name.

omit_defaults: the journal encodes the record itself (orders/records.py: venue_record), its unset (None)
fields left out. gc=False: ints, strs and bools make no cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class BsxOrderRef(msgspec.Struct, omit_defaults=True, gc=False):
    nonce: int | None = None  # the order's signed nonce (set at sign time: it was sent, or about to be)
    cid: str | None = None  # the venue's client_order_id, made from the gateway's order id


class _NoRef(BsxOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)


def ref_of(order) -> BsxOrderRef:
    """The order's record, made on first use."""
    ref = order.venue_data
    if ref is None:
        ref = order.venue_data = BsxOrderRef()
    return ref
