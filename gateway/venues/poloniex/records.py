"""What the Poloniex adapter keeps on each order (Order.venue_data) (see gateway/venues/order_ref.py)."""
from __future__ import annotations

from gateway.venues.order_ref import OrderRef, frozen_default


class PoloniexOrderRef(OrderRef):
    smart_id: str | None = None  # the smart order's venue id (venue_order_id moves to the triggered order)
    triggered: bool | None = None  # the smart order became a regular order on the book


NO_REF = frozen_default(PoloniexOrderRef)

