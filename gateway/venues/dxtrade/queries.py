"""DXtrade REST queries: one order by its orderCode (the look-up, the ETag conditional
requests need), the account's order list (the poll, the reconcile) and its open
positions (the drift check). Off the trading limit: they go on the session's query
client."""
from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

from gateway.decoding import DECODE_ERRORS
from gateway.metrics import Metrics
from gateway.net.http import Response
from gateway.orders.model import Order
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.account import positions_of
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.session import DxtradeSession
from gateway.venues.dxtrade.venue_data import DxtradeVenueData
from gateway.venues.dxtrade.wire import P
from gateway.venues.errors import VenueError


class QueryingVenue(Protocol):
    """What the queries need of their adapter (gateway/venues/dxtrade/adapter.py)."""
    name: str
    config: DxtradeConfig
    metrics: Metrics
    session: DxtradeSession

    def error_text(self, response: Response) -> str: ...


class OrderQueries:
    def __init__(self, venue: QueryingVenue):
        self.venue = venue
        self.orders_path = f"{P}/accounts/{quote(venue.config.account, safe='')}/orders"
        self.positions_path = f"{P}/accounts/{quote(venue.config.account, safe='')}/positions"

    def order_path(self, order: Order) -> str:
        return f"{self.orders_path}/{quote(order.order_id, safe='')}"

    async def list(self) -> list[schemas.Order]:
        """Every order of the account the venue lists."""
        venue = self.venue
        response = await venue.session.request("GET", self.orders_path, trading=False)
        if response.status != 200:
            raise VenueError("venue_error", f"order list: {venue.error_text(response)}")
        try:
            listed = schemas.orders_decoder.decode(response.body)
        except DECODE_ERRORS as exc:
            venue.metrics.venue_error(venue.name, "bad_message")
            raise VenueError("venue_error", f"unreadable order list: {exc}") from None
        return listed.orders if isinstance(listed, schemas.OrderList) else listed

    async def positions(self, symbols: dict[str, str]) -> dict[str, int]:
        """What the account holds: our symbol -> net e18 (account.py; symbols: instrument -> ours)."""
        venue = self.venue
        response = await venue.session.request("GET", self.positions_path, trading=False)
        if response.status != 200:
            raise VenueError("venue_error", f"positions: {venue.error_text(response)}")
        return positions_of(response.body, symbols)

    async def get(self, order: Order) -> schemas.Order | None:
        """The order by its orderCode (our id), and its ETag; None: the venue says it does not
        know it (404). Raises when the venue cannot say (the look-up is asked again later)."""
        venue = self.venue
        response = await venue.session.request("GET", self.order_path(order), trading=False)
        if response.status == 404:
            return None
        if response.status != 200:
            raise VenueError("venue_error", venue.error_text(response))
        etag = response.headers.get("etag")
        if etag:
            DxtradeVenueData.ensure_on(order).etag = etag
        return schemas.order_decoder.decode(response.body)

    async def fetch(self, order: Order) -> schemas.Order | None:
        """The order as the venue has it now, and its ETag; None if it does not know it."""
        response = await self.venue.session.request("GET", self.order_path(order), trading=False)
        if response.status != 200:
            return None
        etag = response.headers.get("etag")
        if etag:
            DxtradeVenueData.ensure_on(order).etag = etag
        try:
            return schemas.order_decoder.decode(response.body)
        except DECODE_ERRORS:
            return None

    async def etag(self, order: Order) -> str:
        """The If-Match of a cancel or modify: the last one known, else read now."""
        etag = DxtradeVenueData.read(order).etag
        if etag is None:
            await self.fetch(order)
            etag = DxtradeVenueData.read(order).etag or ""
        return etag
