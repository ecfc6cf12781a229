"""What the Bluefin adapter keeps on each order (see gateway/venues/venue_data.py)."""
from __future__ import annotations

from gateway.venues.venue_data import VenueData


class BluefinVenueData(VenueData):
    # the order's e9 amounts and market, fixed by check_new: the signed fields are made of them
    price_e9: int | None = None
    quantity_e9: int | None = None
    trigger_e9: int | None = None
    market: str | None = None
    acked: bool | None = None  # the venue acknowledged it (listed or answered): a cancel may name it
