"""What the DXtrade adapter keeps on each order (Order.venue_data) (see gateway/venues/order_ref.py)."""
from __future__ import annotations

from gateway.venues.order_ref import OrderRef, frozen_default


class DxtradeOrderRef(OrderRef):
    version: int | None = None  # the newest version of the order seen (None: none yet)
    group: str | None = None  # the contingency type it was placed in, if any
    parent: str | None = None  # an IF-THEN group's first order (its order id)
    update_order_id: int | None = None  # the venue's id of the last place / modify taken
    etag: str | None = None  # the order's last ETag: the If-Match of a cancel or modify
    position_effect: str | None = None  # None: "OPEN"


NO_REF = frozen_default(DxtradeOrderRef)

