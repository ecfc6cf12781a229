"""What the BSX adapter keeps on each order (see gateway/venues/venue_data.py)."""
from __future__ import annotations

from gateway.venues.venue_data import VenueData


class BsxVenueData(VenueData):
    nonce: int | None = None  # the order's signed nonce (set at sign time: it was sent, or about to be)
