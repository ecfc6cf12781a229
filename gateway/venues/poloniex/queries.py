"""The venue's REST reads: one order (by id or "cid:<clientOrderId>"), the open
orders of each kind, an order's trades; and what the gateway does with them: look an order up
(the resolver's question), reconcile the orders held open with the venue's listing.

Trades, not totals. An order's GET answer says how much filled (filledQuantity, avgPrice) but
not in which trades; a strategy books fees and PnL from trade records. Wherever the venue's
total runs ahead of the trades booked (a look-up, the reconcile listing, a stream event after
a lost one), the order's trades are read (GET /orders/{id}/trades) and booked by trade id:
with the answer, in one change, when it comes from REST; in the background (catch_up), asking
again with a growing pause until they cover the total, when the stream showed the gap. The
tracker books each trade id once, so the stream's own event for a trade read here (or one
read here after the stream's) adds nothing."""
from __future__ import annotations

import asyncio

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpError
from gateway.orders.model import Fill, Order, Status
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.states import e18, follow_triggered, is_smart, regular_named, status_of
from gateway.venues.poloniex.venue_data import PoloniexVenueData
from gateway.venues.resolver import FOUND, NOT_FOUND

JSON = b"Content-Type: application/json\r\n"
# reading an order's trades until they cover the venue's total: tries, first and longest pause
CATCH_UP_TRIES, CATCH_UP_FIRST_S, CATCH_UP_MAX_S = 8, 0.25, 15.0


class PoloniexQueries:
    def __init__(self, adapter: VenueAdapter):  # the PoloniexAdapter that owns it
        self.adapter = adapter
        self.tracker = adapter.tracker
        # orders whose trades are being read in the background: order id -> task
        self.catching_up: dict[str, asyncio.Task] = {}

    # get one, get all

    async def get_order(self, ref: str, smart: bool = False) -> s.Order | s.SmartOrder | None:
        """GET /orders/{id} or /smartorders/{id}; ref is a venue id or "cid:<clientOrderId>"."""
        response = await self.adapter.request("GET", f"/{'smartorders' if smart else 'orders'}/{ref}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise VenueError("venue_error", self.adapter.error_text(response))
        return (s.smart_order_decoder if smart else s.order_decoder).decode(response.body)

    async def open_orders(self, symbol: str | None = None, limit: int | None = None) -> list[s.Order]:
        return await self._list("/orders", s.orders_decoder, symbol, limit)

    async def smart_orders(self, symbol: str | None = None, limit: int | None = None) -> list[s.SmartOrder]:
        return await self._list("/smartorders", s.smart_orders_decoder, symbol, limit)

    async def _list(self, path: str, decoder, symbol: str | None, limit: int | None) -> list:
        query = "&".join(f"{k}={v}" for k, v in (("symbol", symbol), ("limit", limit)) if v is not None)
        response = await self.adapter.request("GET", f"{path}?{query}" if query else path)
        if response.status != 200:
            raise VenueError("venue_error", self.adapter.error_text(response))
        return decoder.decode(response.body)

    async def order_trades(self, venue_id: str) -> list[s.Trade]:
        """GET /orders/{id}/trades: the order's trades (a triggered smart order's: the order it became)."""
        response = await self.adapter.request("GET", f"/orders/{venue_id}/trades")
        if response.status != 200:
            raise VenueError("venue_error", self.adapter.error_text(response))
        return s.trades_decoder.decode(response.body)

    async def fills(self, order: Order, venue_id: str) -> list[Fill]:
        """The order's trades as fills; none when they cannot be read now (said, and caught up later)."""
        try:
            return [
                Fill(trade_id=t.id, price=e18(t.price), quantity=e18(t.quantity), ts_ns=t.createTime * 1_000_000,
                     is_maker=t.matchRole == "MAKER", fee=e18(t.feeAmount))
                for t in await self.order_trades(venue_id) if t.orderId in ("", venue_id)
            ]
        except (HttpError, VenueError, *DECODE_ERRORS, ValueError) as exc:  # ValueError: an amount
            self.adapter.log.warning("order %s: its trades cannot be read now: %s", order.order_id, exc)
            return []

    def catch_up(self, order: Order, just_read: bool = False) -> None:
        """The venue's total for the order is ahead of its trade records: read them, in the
        background, until they cover it (after a pause first when they were just read)."""
        if order.filled > order.booked and order.venue_order_id is not None \
                and order.order_id not in self.catching_up:
            task = asyncio.ensure_future(self._catch_up(order, just_read))
            self.catching_up[order.order_id] = task
            task.add_done_callback(lambda _t, oid=order.order_id: self.catching_up.pop(oid, None))

    async def _catch_up(self, order: Order, just_read: bool) -> None:
        pause = CATCH_UP_FIRST_S
        for attempt in range(CATCH_UP_TRIES):
            if attempt or just_read:
                await asyncio.sleep(pause)
                pause = min(2 * pause, CATCH_UP_MAX_S)
            if order.filled <= order.booked:
                return
            fills = await self.fills(order, order.venue_order_id)
            if fills:
                self.tracker.apply(order, None, fills)
        if order.filled > order.booked:
            self.adapter.log.error("order %s: the venue's trades cover %d of the %d filled after %d reads",
                                   order.order_id, order.booked, order.filled, CATCH_UP_TRIES)

    async def stop(self) -> None:
        for task in list(self.catching_up.values()):
            task.cancel()

    # the resolver's look-up, the reconcile listing

    async def lookup(self, order: Order) -> str:
        """By our client id, which the venue keeps for open and closed orders."""
        venue_order = await self.get_order(s.CID_PREFIX + order.order_id, smart=is_smart(order))
        if venue_order is None:
            return NOT_FOUND
        await self.apply_answer(venue_order, order)
        return FOUND

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        # open orders only: one closed since, triggered, or never taken is looked up by id
        regular = {o.clientOrderId: o for o in await self.open_orders()}
        smart = {o.clientOrderId: o for o in await self.smart_orders()}
        listed = set()
        for order in orders:
            venue_order = (smart if is_smart(order) else regular).get(order.order_id)
            if venue_order is not None:
                listed.add(order.order_id)
                await self.apply_answer(venue_order, order)
        return listed

    async def apply_answer(self, venue_order: s.Order | s.SmartOrder, order: Order) -> None:
        """A GET answer (look-up, reconcile listing) applied with the trades behind its total."""
        regular = venue_order
        if isinstance(venue_order, s.SmartOrder):
            regular = venue_order.triggeredOrder if venue_order.state == s.TRIGGERED else None
        fills, read = (), False
        if regular is not None and e18(regular.filledQuantity) > order.booked:
            fills, read = await self.fills(order, regular.id), True
        self.apply_venue_order(venue_order, order, fills)
        self.catch_up(order, just_read=read)

    def apply_venue_order(self, venue_order: s.Order | s.SmartOrder, order: Order, fills=()) -> None:
        """A GET answer: its state and totals, with the order's trades read for it (fills)."""
        adapter, tracker = self.adapter, self.tracker
        if isinstance(venue_order, s.SmartOrder):
            if venue_order.state == s.TRIGGERED and venue_order.triggeredOrder is not None:
                follow_triggered(adapter, order, venue_order.triggeredOrder.id)
                self.apply_venue_order(venue_order.triggeredOrder, order, fills)
                return
            if order.venue_order_id is None:
                PoloniexVenueData.ensure_on(order).smart_id = venue_order.id
                tracker.bind_venue_id(order, venue_order.id)
                adapter.run_deferred(order)
            if venue_order.state == s.PENDING_NEW:
                tracker.apply(order, Status.UNTRIGGERED)
            elif venue_order.state != s.TRIGGERED:
                status, reason = status_of(adapter, order, venue_order.state)
                tracker.apply(order, status, reason=order.reason or reason)
            return
        regular_named(adapter, order, venue_order.id, venue_order.source)
        status, reason = status_of(adapter, order, venue_order.state)
        # the trades read for the answer, and its totals: a total the trades do not cover yet
        # counts toward the trade records still to come (catch_up, the stream), never on top of them
        tracker.apply(order, status, fills, filled=e18(venue_order.filledQuantity),
                      avg_price=e18(venue_order.avgPrice), reason=order.reason or reason)
