"""What the DXtrade adapter keeps on each order (see gateway/venues/venue_data.py)."""
from __future__ import annotations

from gateway.venues.venue_data import VenueData


class DxtradeVenueData(VenueData):
    version: int | None = None  # the newest version of the order seen (None: none yet)
    group: str | None = None  # the contingency type it was placed in, if any
    parent: str | None = None  # an IF-THEN group's first order (its order id)
    update_order_id: int | None = None  # the venue's id of the last place / modify taken
    etag: str | None = None  # the order's last ETag: the If-Match of a cancel or modify
    position_effect: str | None = None  # None: "OPEN"
