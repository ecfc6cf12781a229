"""What an adapter keeps on each order (Order.venue_data): its venue data.

Each adapter subclasses VenueData with its fields (int / str / bool, None by default: unset).
The journal encodes it as it is (gateway/orders/records.py: venue_record): a map of its set
fields by name, omit_defaults leaving the unset out. A replay gives the map back as a plain
dict, which the adapter turns into its venue data when it is made (from_journal).
gc=False: structs of scalars make no reference cycles for the collector to track.
"""
from __future__ import annotations

from functools import cache

import msgspec


class VenueData(msgspec.Struct, omit_defaults=True, gc=False):
    @classmethod
    def ensure_on(cls, order):
        """The order's venue data, to write to: set on the order first if it has none."""
        data = order.venue_data
        if data is None:
            data = order.venue_data = cls()
        return data

    @classmethod
    def read(cls, order):
        """The order's venue data, to read: an all-unset one while the order has none. That
        one is frozen, so a write meant for the order's own fails instead of leaking to others."""
        data = order.venue_data
        return _unset(cls) if data is None else data

    @classmethod
    def from_journal(cls, data: dict):
        """The venue data of a journal replay's plain dict. Keys the type no longer has (an
        older journal's) are ignored; a value of the wrong type is dropped alone, the others kept."""
        fields = cls.__struct_fields__
        known = {k: v for k, v in data.items() if k in fields}
        try:
            return msgspec.convert(known, cls)
        except msgspec.ValidationError:
            venue_data = cls()
            for field in msgspec.structs.fields(cls):
                if field.name in known:
                    try:
                        setattr(venue_data, field.name, msgspec.convert(known[field.name], field.type))
                    except msgspec.ValidationError:
                        pass
            return venue_data


@cache
def _unset(data_type: type[VenueData]) -> VenueData:
    return msgspec.defstruct(f"Unset{data_type.__name__}", [], bases=(data_type,), frozen=True)()
