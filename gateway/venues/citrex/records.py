"""What the Citrex adapter keeps on each order (Order.venue_data) (see gateway/venues/order_ref.py)."""
from __future__ import annotations

from gateway.venues.order_ref import OrderRef, frozen_default


class CitrexOrderRef(OrderRef):
    nonce: int | None = None  # the order's signed nonce: finds it at the venue after a lost reply or a restart


NO_REF = frozen_default(CitrexOrderRef)
