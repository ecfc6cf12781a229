"""What a venue's answers to order requests become, as every adapter reads them: a place's
reply (taken, refused, unknown), an error's words, a cancel's reason, a cancel the venue
refused (maybe because the order is closed there already)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence

from gateway.net.http import HttpError, Response
from gateway.net.ratelimit import retry_after_s
from gateway.orders.model import Order, OrderType, Status, TimeInForce
from gateway.venues.errors import VenueError

# tasks an adapter starts and nobody awaits (asyncio keeps only weak references to tasks)
_background: set[asyncio.Task] = set()


class VenueReplies:
    """Mixed into gateway/venues/base.py's VenueAdapter, whose state it uses (name, tracker,
    metrics, resolver, log; lookup, cancel_refused, fail_deferred)."""

    def place_reply(self, order: Order, reply: asyncio.Future):
        """The reply to a place request, or None when its fate is unknown (the
        connection broke, or no reply in time): then the resolver asks the venue."""
        try:
            response = reply.result()
        except HttpError as exc:
            self.metrics.venue_error(self.name, "transport")
            self.resolver.ask(order, str(exc))
            return None
        self.observe_ack(order)
        return response

    def place_answered(self, order: Order, response: Response, accept: Callable[[bytes], None],
                       ok: Collection[int] = (200,)) -> None:
        """The venue answered a place: accept(body) takes a success; an error, or a success
        whose body cannot be read (accept raised), rejects the order."""
        if response.status in ok:
            try:
                accept(response.body)
                return
            except Exception as exc:  # noqa: BLE001 - a body we cannot read is the venue's error
                self.log.error("unreadable order reply for %s: %s", order.order_id, exc)
        self.place_refused(order, response, self.error_text(response))

    def place_refused(self, order: Order, response, reason: str) -> None:
        """The venue answered a place with an error: the order is REJECTED with its reason."""
        self.reject(order, self.refusal(response, reason))

    def refusal(self, response: Response, reason: str) -> str:
        """An error reply to an order request, counted; its reason, a rate limit's said as one."""
        self.metrics.venue_error(self.name, f"http_{response.status}")
        if response.status == 429:
            return f"venue rate limit (HTTP 429), retry after {retry_after_s(response.headers):g} s"
        return reason

    def reject(self, order: Order, reason: str) -> None:
        """The order is REJECTED, and what waited for its venue id is refused."""
        self.tracker.apply(order, Status.REJECTED, reason=reason)
        self.fail_deferred(order, "order was rejected")

    def error_text(self, response: Response) -> str:
        """An error reply in words, for reasons and logs: the venue's own (error_words), else
        the HTTP status."""
        try:
            words = self.error_words(response)
        except Exception:  # noqa: BLE001 - a body that is not the venue's error says nothing
            words = None
        return words or f"HTTP {response.status}"

    def error_words(self, response: Response) -> str | None:
        """What the venue's error body says (its message, code, ...), in its own format; None
        when it says nothing. Raising is the same as None."""
        return None

    def cancel_reason(self, order: Order, venue_reason: str | None = None) -> str:
        """Why the order closed CANCELED, in the words strategies see: its replacement, the
        strategy's cancel, the venue's reason when it gave one, else the terms that canceled
        the remainder."""
        if order.status is Status.PENDING_REPLACE and order.replaced_by:
            return self.replaced_reason(order)
        if order.status is Status.PENDING_CANCEL:
            return "canceled by request"
        if venue_reason:
            return f"canceled by the venue: {venue_reason}"
        if order.type is OrderType.MARKET:
            return "market order remainder canceled"
        if order.tif is not TimeInForce.GTC:
            return f"{order.tif.value.upper()} remainder canceled"
        return "canceled by the venue"

    def replaced_reason(self, order: Order) -> str:
        """The reason of an order canceled by its replace (order.replaced_by set)."""
        new = self.tracker.get(order.replaced_by)
        return f"replaced by {new.client_order_id if new else order.replaced_by}"

    def cancel_reply(self, orders: Sequence[Order], reply: asyncio.Future) -> Response | None:
        """The reply to a cancel of these orders, or None when its outcome is unknown: then
        each one's cancel is refused (and the resolver asks about those still open)."""
        try:
            return reply.result()
        except (HttpError, VenueError) as exc:
            for order in orders:
                self.cancel_refused(order, f"cancel outcome unknown: {exc}")
            return None

    def cancel_refused_unless_closed(self, order: Order, reason: str) -> None:
        """The venue refused a cancel, maybe because the order is closed there already (an order
        group's other leg it canceled itself, a fill, an expiry): that is the cancel's outcome,
        not a refusal. The venue is asked about the order (lookup, which applies what it says:
        CANCELED, or FILLED with its fills); only an order it still shows live gets the cancel
        refused. One it cannot be asked about now goes to the resolver, which asks until it
        answers. An order known closed already (the stream or a poll said so) is left as it is."""
        if order.is_closed:
            return
        task = asyncio.ensure_future(self._closed_or_refused(order, reason))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _closed_or_refused(self, order: Order, reason: str) -> None:
        try:
            await self.lookup(order)
        except Exception as exc:  # noqa: BLE001 - the venue cannot say now: the resolver asks again
            self.log.warning("order %s: cancel refused (%s); the venue cannot be asked now: %s",
                             order.order_id, reason, exc)
            self.resolver.ask(order, f"cancel refused: {reason}")
            return
        if not order.is_closed:
            self.cancel_refused(order, reason)
