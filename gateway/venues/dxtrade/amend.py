"""DXtrade modify: the whole order again, a conditional PUT (`If-Match: <ETag>`).

A 412 means the order changed since our ETag: it is read again (GET) and the
modify sent once more only if what the strategy asked still makes sense (the
order still works, the new quantity exceeds what filled), on top of the
order as the venue has it now. The venue's refusals become the codes
strategies see in a `modify_reject`.
"""
from __future__ import annotations

from typing import Protocol

from gateway.decoding import DECODE_ERRORS
from gateway.metrics import Metrics
from gateway.net.http import HttpError, Response
from gateway.orders.model import Order, OrderType
from gateway.orders.tracker import Tracker
from gateway.venues.config import InstrumentConfig
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.events import OrderEvents
from gateway.venues.dxtrade.queries import OrderQueries
from gateway.venues.dxtrade.session import DxtradeSession
from gateway.venues.dxtrade.venue_data import DxtradeVenueData
from gateway.venues.dxtrade.wire import MODIFY_ERRORS, decimal, e18, error_code, if_match, order_request
from gateway.venues.errors import VenueError
from gateway.venues.outbound import Outbound


class AmendingVenue(Protocol):
    """What modify needs of its adapter (gateway/venues/dxtrade/adapter.py)."""
    name: str
    metrics: Metrics
    tracker: Tracker
    instruments: dict[str, InstrumentConfig]
    outbound: Outbound
    session: DxtradeSession
    queries: OrderQueries
    events: OrderEvents

    def error_text(self, response: Response) -> str: ...


def check_modify(order: Order, price: int | None, quantity: int | None) -> None:
    if order.is_closed:
        raise VenueError("order_closed", f"order {order.client_order_id} is {order.status.value}")
    if order.venue_order_id is None:
        raise VenueError("order_pending", f"order {order.client_order_id} is not accepted by the venue yet")
    if price is not None and order.type is OrderType.MARKET:
        raise VenueError("bad_field", "a market order has no price to modify")
    if quantity is not None and quantity <= order.filled:
        raise VenueError("bad_quantity", f"quantity must exceed the {decimal(order.filled)} filled already")


class Amender:
    def __init__(self, venue: AmendingVenue):
        self.venue = venue

    async def modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        # checked when accepted; the order may have moved on while the request waited
        check_modify(order, price, quantity)
        try:
            await self._modify(order, price, quantity)
        except HttpError as exc:
            raise VenueError("venue_unavailable", f"modify of {order.client_order_id}: {exc}") from None

    async def _modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        venue = self.venue
        queries = venue.queries
        etag = await queries.etag(order)
        instrument = str(venue.instruments[order.symbol].product_id)
        for attempt in (1, 2):
            body = schemas.encoder.encode(order_request(order, instrument, price=price, quantity=quantity))
            if attempt > 1:
                await venue.outbound.pay()  # the line paid for the first PUT, not for this one
            response = await venue.session.request("PUT", queries.orders_path, body, if_match(etag))
            if response.status == 200:
                self._taken(order, response, price, quantity)
                return
            if response.status == 412 and attempt == 1:
                now = await queries.fetch(order)
                why = self._intent_lost(now, quantity)
                if why:
                    raise VenueError("stale_order", f"modify of {order.client_order_id} not sent again: {why}")
                # the whole order again as the venue has it now (another session may have changed
                # a field the strategy did not touch), with the strategy's changes on top
                seen = DxtradeVenueData.read(order).version
                if now.version >= (-1 if seen is None else seen):
                    venue.events.take_amendment(order, now, now.legs[0] if now.legs else None)
                etag = DxtradeVenueData.read(order).etag or ""
                continue
            raise self._modify_error(order, response)
        raise AssertionError("unreachable")

    def _taken(self, order: Order, response: Response, price: int | None, quantity: int | None) -> None:
        try:
            answer = schemas.order_response_decoder.decode(response.body)
            DxtradeVenueData.ensure_on(order).update_order_id = answer.updateOrderId
        except DECODE_ERRORS:
            pass  # the status said yes; the list will show the new update id
        if response.headers.get("etag"):
            DxtradeVenueData.ensure_on(order).etag = response.headers["etag"]
        tracker = self.venue.tracker
        tracker.note_venue_data(order)  # the new update id and ETag
        if quantity is not None:
            order.quantity = quantity
        if price is not None:
            order.price = price
        tracker.amended(order)

    @staticmethod
    def _intent_lost(now: schemas.Order | None, quantity: int | None) -> str | None:
        """Whether the strategy's modify no longer applies to the order as it is now."""
        if now is None:
            return "the venue no longer knows the order"
        if now.status.upper() != "WORKING":
            return f"the order is {now.status} at the venue"
        filled = e18(now.legs[0].filledQuantity) if now.legs else 0
        if quantity is not None and quantity <= filled:
            return f"{decimal(filled)} has filled meanwhile, not below the new quantity"
        return None

    def _modify_error(self, order: Order, response: Response) -> VenueError:
        venue = self.venue
        what = f"modify of {order.client_order_id}: {venue.error_text(response)}"
        if response.status == 412:
            return VenueError("stale_order", f"modify of {order.client_order_id}: the order changed again "
                              f"(HTTP 412 twice)")
        if response.status == 409:
            return VenueError("modify_conflict", what)
        if response.status == 429:
            return VenueError("rate_limited", what)
        code = MODIFY_ERRORS.get((response.status, error_code(response)))
        if code is None:
            venue.metrics.venue_error(venue.name, f"http_{response.status}")
            code = "venue_error"
        return VenueError(code, what)
