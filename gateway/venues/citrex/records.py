"""What the Citrex adapter keeps on each order (Order.venue_data), journaled by field name.

omit_defaults: the journal encodes the record itself (orders/records.py: venue_record), its unset (None)
fields left out. gc=False: ints, strs and bools make no cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class CitrexOrderRef(msgspec.Struct, omit_defaults=True, gc=False):
    nonce: int | None = None  # the order's signed nonce: finds it at the venue after a lost reply or a restart


class _NoRef(CitrexOrderRef, frozen=True):
    pass


NO_REF = _NoRef()  # read in place of an order without a record yet (frozen: a write to it fails)
