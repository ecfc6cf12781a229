"""What the Poloniex adapter keeps on each order (see gateway/venues/venue_data.py)."""
from __future__ import annotations

from gateway.venues.venue_data import VenueData


class PoloniexVenueData(VenueData):
    smart_id: str | None = None  # the smart order's venue id (venue_order_id moves to the triggered order)
    triggered: bool | None = None  # the smart order became a regular order on the book
