"""What the BSX adapter keeps on each order (Order.venue_data), journaled by field name."""
from __future__ import annotations

import msgspec


class BsxOrderRef(msgspec.Struct, gc=False):  # ints and strs only: no cycles for the collector to track
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
