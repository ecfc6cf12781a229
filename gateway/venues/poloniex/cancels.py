"""What the venue answers to cancels (DELETE /orders/{id}, /smartorders/{id}, .../cancelByIds),
and the account-wide cancels tools call outside the line (by ids and client ids, by symbol or
account type), whose answers close the gateway's orders they name."""
from __future__ import annotations

import asyncio

from gateway.net.http import Response
from gateway.orders.model import Order, Status
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.states import CANCELED_STATES


class PoloniexCancels:
    def __init__(self, adapter: VenueAdapter):  # the PoloniexAdapter that owns it
        self.adapter = adapter
        self.tracker = adapter.tracker

    # replies to the line's cancels

    def on_reply(self, order: Order, smart: bool, reply: asyncio.Future) -> None:
        adapter = self.adapter
        response = adapter.cancel_reply((order,), reply)
        if response is None:
            return
        result = None
        if response.status == 200:
            try:
                result = s.cancel_result_decoder.decode(response.body)
            except Exception:  # noqa: BLE001
                pass
        if result is None or result.code != s.CODE_OK:
            reason = result.message if result else adapter.error_text(response)
            if response.status in (401, 429):
                adapter.cancel_refused(order, adapter.refusal(response, reason))
            else:
                # maybe closed at the venue already (a fill): then that is the cancel's outcome
                adapter.cancel_refused_unless_closed(order, reason)
            return
        self.taken(order, smart, result.state)

    def on_many_reply(self, orders: list[Order], smart: bool, reply: asyncio.Future) -> None:
        adapter = self.adapter
        try:
            response: Response = reply.result()
            if response.status != 200:
                raise VenueError("venue_error", adapter.error_text(response))
            results = {r.orderId: r for r in s.cancel_results_decoder.decode(response.body)}
        except Exception as exc:  # noqa: BLE001 - transport, refusal or an unreadable body: nothing is known
            for order in orders:
                adapter.cancel_refused(order, f"cancel outcome unknown: {exc}")
            return
        for order in orders:
            result = results.get(order.venue_order_id)
            if result is None or result.code != s.CODE_OK:
                adapter.cancel_refused_unless_closed(order, result.message if result else "the venue did not answer for it")
            else:
                self.taken(order, smart, result.state)

    def taken(self, order: Order, smart: bool, state: str) -> None:
        # an untriggered smart order has no fills and no stream: the venue's yes closes it;
        # a regular one is closed by its `canceled` event, which carries the final fills
        if smart or state in CANCELED_STATES:
            self.tracker.apply(order, Status.CANCELED, reason=self.adapter.cancel_reason(order))

    # account-wide

    async def cancel_by_ids(self, order_ids: list[str] = (), client_order_ids: list[str] = (),
                            smart: bool = False) -> list[s.CancelResult]:
        """Batch cancel by venue ids and client ids, the gateway's orders or not."""
        body = s.encoder.encode(s.CancelByIds(orderIds=list(order_ids), clientOrderIds=list(client_order_ids)))
        return await self._cancel_many(f"/{'smartorders' if smart else 'orders'}/cancelByIds", body, smart)

    async def cancel_every(self, symbols: list[str] = (), account_types: list[str] = (),
                           smart: bool = False) -> list[s.CancelResult]:
        """DELETE /orders or /smartorders: every open order of the account on these symbols
        (venue spelling) or account types; both empty: all of them."""
        body = s.encoder.encode(s.CancelAll(symbols=list(symbols), accountTypes=list(account_types)))
        return await self._cancel_many(f"/{'smartorders' if smart else 'orders'}", body, smart)

    async def _cancel_many(self, path: str, body: bytes, smart: bool) -> list[s.CancelResult]:
        adapter = self.adapter
        response = await adapter.request("DELETE", path, body)
        if response.status != 200:
            raise VenueError("venue_error", adapter.error_text(response))
        results = s.cancel_results_decoder.decode(response.body)
        for result in results:
            order = adapter.events.order_for(result.clientOrderId, result.orderId)
            if order is not None and result.code == s.CODE_OK and not order.is_closed:
                self.taken(order, smart, result.state)
        return results
