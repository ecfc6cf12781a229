"""The BSX venue's replies to the adapter's requests: creates (alone or in a batch) and
cancels (one, a batch's, many). A create's reply names the order and says it was taken;
fills and closes come from the `orders` channel (events.py), which carries the trades. A
cancel's 200 means "cancel requested": the order closes when the channel says DONE. A
cancel the venue did not take because the order is closed there already is no refusal:
the venue is asked, and the order's state there is the outcome (no cancel_reject)."""
from __future__ import annotations

import asyncio

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpError, Response
from gateway.orders.model import Order, Status
from gateway.venues.base import VenueAdapter
from gateway.venues.bsx import schemas
from gateway.venues.bsx.venue_data import BsxVenueData
from gateway.venues.bsx.wire import e18

# a batch's operations, in line order: (CREATE or CANCEL, the order)
CREATE, CANCEL = "create", "cancel"


class Replies:
    def __init__(self, venue: VenueAdapter):
        self.venue = venue

    def failed(self, ops: list[tuple[str, Order]], why: str) -> None:
        """No reply to a batch (the connection broke, a timeout): a create that may have left is
        asked about, a cancel's outcome is unknown."""
        venue = self.venue
        for kind, order in ops:
            if kind == CREATE:
                if BsxVenueData.read(order).nonce is not None:
                    venue.resolver.ask(order, why)
                else:
                    venue.tracker.apply(order, Status.REJECTED, reason=why)
            else:
                venue.cancel_refused(order, f"cancel outcome unknown: {why}")

    def batch(self, ops: list[tuple[str, Order]], reply: asyncio.Future) -> None:
        venue = self.venue
        try:
            response: Response = reply.result()
        except HttpError as exc:
            venue.metrics.venue_error(venue.name, "transport")
            self.failed(ops, str(exc))
            return
        results: list[schemas.BatchResult] = []
        if response.status == 200:
            try:
                results = schemas.batch_reply_decoder.decode(response.body).data
            except Exception as exc:  # noqa: BLE001
                venue.log.error("unreadable batch reply: %s", exc)
        if len(results) != len(ops):
            # counted, and a rate limit said as one (as a single request's refusal is)
            error = venue.refusal(response, venue.error_text(response))
            for kind, order in ops:
                if kind == CREATE:
                    venue.tracker.apply(order, Status.REJECTED, reason=error)
                    venue.fail_deferred(order, "order was rejected")
                else:
                    venue.cancel_refused(order, error)
            return
        for (kind, order), result in zip(ops, results):
            if kind == CREATE:
                venue.observe_ack(order)  # a batch's reply answers each of its orders
                if result.code == 0 and result.create_order_response is not None:
                    self.accepted(order, result.create_order_response)
                else:
                    venue.tracker.apply(order, Status.REJECTED, reason=result.message or f"code {result.code}")
                    venue.fail_deferred(order, "order was rejected")
            elif result.code != 0:
                self.refused(order, result.message or f"code {result.code}", result.code)

    def place(self, order: Order, reply: asyncio.Future) -> None:
        venue = self.venue
        response = venue.place_reply(order, reply)
        if response is not None:
            venue.place_answered(order, response,
                                 lambda body: self.accepted(order, schemas.order_decoder.decode(body)))

    def accepted(self, order: Order, venue_order: schemas.Order) -> None:
        """The REST answer to a create: it names the order and says it was accepted.
        Fills and closes come from the stream, which carries the trades."""
        venue = self.venue
        if order.venue_order_id is None:
            venue.tracker.bind_venue_id(order, venue_order.id)
        if venue_order.status == schemas.STOP_ACCEPTED:
            venue.tracker.apply(order, Status.UNTRIGGERED)
        elif venue_order.status == schemas.OPEN and e18(venue_order.filled_size) == 0:
            venue.tracker.apply(order, Status.TRIGGERED if order.stop_price is not None else Status.OPEN)
        venue.run_deferred(order)

    def cancel(self, order: Order, reply: asyncio.Future) -> None:
        venue = self.venue
        response = venue.cancel_reply((order,), reply)
        if response is None:
            return
        # 200 means "cancel requested": the order is closed when the stream says DONE
        if response.status != 200:
            self.refused(order, venue.error_text(response), _error_code(response), response.status)

    def refused(self, order: Order, reason: str, code: int | None, status: int = 200) -> None:
        """A cancel the venue did not take. Most refusals may mean the order is closed there
        already (filled, or canceled by the venue or the account owner while our word was on
        its way): the venue is asked, and its state is the outcome. A rate limit or a key the
        venue does not take says nothing of the order: refused."""
        venue = self.venue
        if status == 429 or code == schemas.CODE_UNAUTHENTICATED:
            venue.cancel_refused(order, reason)
        else:
            venue.cancel_refused_unless_closed(order, reason)

    def cancel_many(self, orders: list[Order], reply: asyncio.Future) -> None:
        venue = self.venue
        response = venue.cancel_reply(orders, reply)
        if response is None:
            return
        if response.status != 200:
            for order in orders:
                venue.cancel_refused(order, venue.error_text(response))
            return
        try:
            listed = schemas.cancel_requested_decoder.decode(response.body).cancel_requested_orders
        except DECODE_ERRORS as exc:
            for order in orders:
                venue.cancel_refused(order, f"cancel outcome unknown: unreadable reply ({exc})")
            return
        requested = {r.id or r.order_id for r in listed}
        for order in orders:
            if order.venue_order_id not in requested:
                # not open at the venue: closed there already (asked), or unknown to it
                venue.cancel_refused_unless_closed(order, "the venue did not take the cancel: order not open")


def _error_code(response: Response) -> int | None:
    try:
        return schemas.error_decoder.decode(response.body).code
    except DECODE_ERRORS:
        return None
