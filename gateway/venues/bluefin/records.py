"""What the Bluefin adapter keeps on each order (Order.venue_data) (see gateway/venues/order_ref.py)."""
from __future__ import annotations

from gateway.venues.order_ref import OrderRef, frozen_default


class BluefinOrderRef(OrderRef):
    # the order's e9 amounts and market, fixed by check_new: the signed fields are made of them
    price_e9: int | None = None
    quantity_e9: int | None = None
    trigger_e9: int | None = None
    market: str | None = None
    acked: bool | None = None  # the venue acknowledged it (listed or answered): a cancel may name it


NO_REF = frozen_default(BluefinOrderRef)

