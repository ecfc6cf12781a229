"""What the BSX adapter keeps on each order (Order.venue_data) (see gateway/venues/order_ref.py)."""
from __future__ import annotations

from gateway.venues.order_ref import OrderRef, frozen_default


class BsxOrderRef(OrderRef):
    nonce: int | None = None  # the order's signed nonce (set at sign time: it was sent, or about to be)


NO_REF = frozen_default(BsxOrderRef)

