"""BSX REST queries: one order by its venue id or its nonce (the look-up, the
reconcile of an order the snapshot lacks), and a product's cancel-all."""
from __future__ import annotations

from typing import Protocol

from gateway.net.http import HttpClient, Response
from gateway.orders.model import Order
from gateway.venues.bsx import schemas
from gateway.venues.bsx.api_key import ApiKey
from gateway.venues.bsx.events import OrderEvents
from gateway.venues.bsx.venue_data import BsxVenueData
from gateway.venues.errors import VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND


class QueryingVenue(Protocol):
    """What the queries need of their adapter (gateway/venues/bsx/adapter.py)."""
    http: HttpClient | None
    key: ApiKey
    events: OrderEvents

    def error_text(self, response: Response) -> str: ...


class OrderQueries:
    def __init__(self, venue: QueryingVenue):
        self.venue = venue

    async def order(self, query: str) -> schemas.Order | None:
        """GET /order?<query>: the order, or None when the venue does not know it."""
        venue = self.venue
        response = await venue.http.request("GET", f"/order?{query}", b"", venue.key.headers)
        if response.status == 200:
            return schemas.order_decoder.decode(response.body)
        if response.status == 404:
            return None
        raise VenueError("venue_error", venue.error_text(response))

    async def lookup(self, order: Order) -> str:
        """By its venue id, else by the nonce it was signed with; what the venue says is applied."""
        if order.venue_order_id is not None:
            venue_order = await self.order(f"order_id={order.venue_order_id}")
        elif BsxVenueData.read(order).nonce is not None:
            venue_order = await self.order(f"nonce={order.venue_data.nonce}")
        else:
            return NOT_FOUND  # never signed, so never sent
        if venue_order is None:
            return NOT_FOUND
        self.venue.events.apply(venue_order, order)
        return FOUND

    async def cancel_product(self, symbol: str) -> list[str]:
        """DELETE /orders/all: every open order of the account on symbol, the gateway's or not.
        Returns the venue ids the venue will cancel; the stream confirms each."""
        venue = self.venue
        response = await venue.http.request("DELETE", f"/orders/all?product_id={symbol}", b"", venue.key.headers)
        if response.status != 200:
            raise VenueError("venue_error", venue.error_text(response))
        return [r.order_id or r.id for r in schemas.cancel_requested_decoder.decode(
            response.body).cancel_requested_orders]
