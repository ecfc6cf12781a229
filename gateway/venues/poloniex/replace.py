"""Cancel-and-replace: PUT /orders/{id} for a live order, PUT /smartorders/cid:<id> for an
untriggered smart order, and what its reply says of both orders.

Without proceedOnFailure the venue does both halves or neither. With it, a 200 names the new
order but not whether the old one was cancelled: the old order is read back (GET) and its
fate reported first (CANCELED, or cancel_refused), and the new order's events are held until
then (events.py), so the strategy never sees the replacement live before it knows what became
of the original."""
from __future__ import annotations

import asyncio
from functools import partial

from gateway.net.http import HttpError, Response
from gateway.orders.model import Order, Status
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.states import CANCELED_STATES, LIVE_STATES, decimal, is_smart
from gateway.venues.poloniex.venue_data import PoloniexVenueData


class PoloniexReplacer:
    def __init__(self, adapter: VenueAdapter):  # the PoloniexAdapter that owns it
        self.adapter = adapter
        self.tracker = adapter.tracker
        self.events = adapter.events

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None:
        adapter = self.adapter
        if adapter.deferred_until_named(old, partial(adapter.replace, old, new, proceed_on_failure)):
            return
        smart = is_smart(old)
        if smart:
            # the venue keeps the old smart order's details unless amended: its stop price too
            new.stop_price = old.stop_price
            target = f"/smartorders/{s.CID_PREFIX}{old.order_id}"
        else:
            target = f"/orders/{old.venue_order_id}"
        body = s.encoder.encode(s.Replace(
            clientOrderId=new.order_id, price=None if new.price is None else decimal(new.price),
            quantity=decimal(new.quantity), proceedOnFailure="true" if proceed_on_failure else "false"))
        if proceed_on_failure:
            self.events.hold(new.order_id)
        try:
            reply = await adapter.send("PUT", target, body)
        except BaseException:
            self.events.drop(new.order_id)
            raise
        reply.add_done_callback(partial(self._on_reply, old, new, smart, proceed_on_failure))

    def _on_reply(self, old: Order, new: Order, smart: bool, proceed: bool, reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except HttpError as exc:
            asyncio.ensure_future(self._unknown(old, new, smart, str(exc)))
            return
        if response.status == 200:
            try:
                new_id = s.ack_decoder.decode(response.body).id
            except Exception:  # noqa: BLE001
                new_id = None
            if new_id is not None:
                if proceed:
                    asyncio.ensure_future(self._settle_proceeded(old, new, smart, new_id))
                else:
                    # both halves done, as the venue promises without proceedOnFailure
                    self.tracker.apply(old, Status.CANCELED, reason=self.adapter.replaced_reason(old))
                    self.adapter.accepted(new, new_id)
                return
        asyncio.ensure_future(self._settle_refused(old, new, smart, self.adapter.error_text(response)))

    async def _old_state(self, old: Order, smart: bool) -> str | None:
        smart_id = PoloniexVenueData.read(old).smart_id
        ref = (old.venue_order_id if smart_id is None else smart_id) if smart else old.venue_order_id
        try:
            venue_order = await self.adapter.queries.get_order(ref, smart=smart)
        except (HttpError, VenueError) as exc:
            self.adapter.log.error("order %s: cannot read its state after a replace: %s", old.order_id, exc)
            return None
        if venue_order is None:
            return None
        if isinstance(venue_order, s.SmartOrder) and venue_order.state == s.TRIGGERED:
            return s.TRIGGERED
        return venue_order.state

    async def _settle_proceeded(self, old: Order, new: Order, smart: bool, new_id: str) -> None:
        """200 with proceedOnFailure: the new order is placed; was the old one cancelled?"""
        adapter = self.adapter
        try:
            state = await self._old_state(old, smart)
            if state in CANCELED_STATES:
                self.tracker.apply(old, Status.CANCELED, reason=adapter.replaced_reason(old))
            else:
                why = f"it is {state}" if state else "its state is unknown"
                adapter.cancel_refused(old, f"cancel of the old order failed ({why}); "
                                            "the new order was placed (proceedOnFailure)")
            adapter.accepted(new, new_id)
        finally:
            self.events.release(new.order_id)

    async def _settle_refused(self, old: Order, new: Order, smart: bool, error: str) -> None:
        """An error: nothing was placed; the old order's state says which half failed."""
        adapter = self.adapter
        self.events.drop(new.order_id)
        state = await self._old_state(old, smart)
        if state in CANCELED_STATES:
            self.tracker.apply(old, Status.CANCELED, reason=f"canceled; its replacement was refused: {error}")
            adapter.reject(new, error)
        elif state is not None and state not in LIVE_STATES:
            adapter.cancel_refused(old, error)
            adapter.reject(new, f"not placed: cancel of the old order failed: {error}")
        else:
            adapter.cancel_refused(old, f"replacement refused: {error}")
            adapter.reject(new, error)

    async def _unknown(self, old: Order, new: Order, smart: bool, why: str) -> None:
        """The reply was lost: read both orders back."""
        adapter = self.adapter
        self.events.drop(new.order_id)
        state = await self._old_state(old, smart)
        if state in CANCELED_STATES:
            self.tracker.apply(old, Status.CANCELED, reason=adapter.replaced_reason(old))
        else:
            adapter.cancel_refused(old, f"replace outcome unknown: {why}")
        adapter.resolver.ask(new, why)
