"""What the Citrex adapter keeps on each order (Order.venue_data), journaled by field name."""
from __future__ import annotations

import msgspec


class CitrexOrderRef(msgspec.Struct, gc=False):  # ints only: no cycles for the collector to track
    nonce: int | None = None  # the order's signed nonce: finds it at the venue after a lost reply or a restart


class _NoRef(CitrexOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)
