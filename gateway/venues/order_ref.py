"""What an adapter keeps on each order (Order.venue_data): its own small record.

Each adapter subclasses OrderRef with its fields (int / str / bool, None by default: unset).
The journal encodes the record as it is (gateway/orders/records.py: venue_record): a map of
its set fields by name, omit_defaults leaving the unset out. A replay gives the map back as a
plain dict, which the adapter turns into its record when it is made (order_ref_from).
gc=False: records of scalars make no reference cycles for the collector to track.
"""
from __future__ import annotations

import msgspec


class OrderRef(msgspec.Struct, omit_defaults=True, gc=False):
    @classmethod
    def of(cls, order):
        """The order's record, made on first use."""
        ref = order.venue_data
        if ref is None:
            ref = order.venue_data = cls()
        return ref


def frozen_default(ref_type: type[OrderRef]) -> OrderRef:
    """An all-unset record of the type, read in place of an order that has none yet; frozen,
    so a write to it (meant for the order's own record) fails instead of leaking to others."""
    return msgspec.defstruct(f"No{ref_type.__name__}", [], bases=(ref_type,), frozen=True)()


def order_ref_from(ref_type: type[OrderRef], data: dict) -> OrderRef:
    """An adapter's order record from the plain dict a journal replay gives back. Keys the
    record no longer has (an older journal's) are ignored; a value of the wrong type is
    dropped alone, the others kept."""
    fields = ref_type.__struct_fields__
    known = {k: v for k, v in data.items() if k in fields}
    try:
        return msgspec.convert(known, ref_type)
    except msgspec.ValidationError:
        ref = ref_type()
        for field in msgspec.structs.fields(ref_type):
            if field.name in known:
                try:
                    setattr(ref, field.name, msgspec.convert(known[field.name], field.type))
                except msgspec.ValidationError:
                    pass
        return ref
