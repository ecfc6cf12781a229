"""What the Citrex adapter keeps on each order (see gateway/venues/venue_data.py)."""
from __future__ import annotations

from gateway.venues.venue_data import VenueData


class CitrexVenueData(VenueData):
    nonce: int | None = None  # the order's signed nonce: finds it at the venue after a lost reply or a restart
