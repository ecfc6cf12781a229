"""What the Bluefin adapter asks the venue outside the order path: a market's
open orders (GET /api/v1/trade/openOrders), for reconcile and look-ups, and the
account's trade history (GET /api/v1/account/trades).

The venue lists only open orders: listed settles an order. Not listed settles
it as never taken for an order the venue never acknowledged. One it
acknowledged and no longer lists (once a request could no longer be on its way
into the book) closed at the venue while we were not listening: the account's
trade history says how much of it filled.
"""
from __future__ import annotations

import asyncio

from gateway.net.http import HttpError
from gateway.orders.model import Order, Status
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.parsing import e18_of_e9, fill_of, same_hash
from gateway.venues.bluefin.venue_data import BluefinVenueData
from gateway.venues.errors import VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND, UNDECIDED
from gateway.venues.base import VenueAdapter


class BluefinQueries:
    def __init__(self, adapter: VenueAdapter):  # the BluefinAdapter this is part of
        self.adapter = adapter
        self._fetching_history: set[str] = set()  # orders whose trade history is being read

    async def open_orders(self, market: str) -> list[schemas.OrderPayload]:
        ad = self.adapter
        response = await ad.session.get(ad.http, f"{schemas.OPEN_ORDERS_PATH}?symbol={market}")
        if response.status != 200:
            raise VenueError("venue_error", ad.error_text(response))
        return schemas.orders_decoder.decode(response.body)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        # open orders only, market by market: those of a market that cannot be listed are looked up
        ad = self.adapter
        listed_ids = set()
        for market in sorted({ad.market(o) for o in orders}):
            try:
                listed = {schemas.norm_hash(p.orderHash): p for p in await self.open_orders(market)}
            except (HttpError, VenueError) as exc:
                ad.log.error("reconcile: cannot list open orders on %s: %s", market, exc)
                continue
            for order in orders:
                if ad.market(order) != market:
                    continue
                payload = listed.get(schemas.norm_hash(order.venue_order_id))
                if payload is not None:
                    listed_ids.add(order.order_id)
                    BluefinVenueData.ensure_on(order).acked = True
                    # fills made while away show as the venue's total (no trade records for them)
                    ad.events.on_order(payload, order, filled=e18_of_e9(payload.filledQuantityE9))
                    ad.run_deferred(order)
        return listed_ids

    async def lookup(self, order: Order) -> str:
        """The venue lists only open orders: listed settles it. Not listed settles it as never
        taken for an order the venue never acknowledged. One it acknowledged and no longer lists
        (once a request could no longer be on its way into the book) closed at the venue while
        we were not listening: the account's trade history says how much of it filled."""
        ad = self.adapter
        listed = await self.open_orders(ad.market(order))
        for payload in listed:
            if same_hash(payload.orderHash, order.venue_order_id):
                BluefinVenueData.ensure_on(order).acked = True
                ad.events.on_order(payload, order, filled=e18_of_e9(payload.filledQuantityE9))
                ad.run_deferred(order)
                return FOUND
        if not BluefinVenueData.read(order).acked:
            return NOT_FOUND
        if ad.resolver.waited_s(order) < ad.resolver.grace_s:
            return UNDECIDED
        await self.book_history(order, raise_errors=True)
        if not order.is_closed:
            ad.tracker.apply(order, Status.CANCELED,
                             reason="closed at the venue while its stream was down (no longer open, not filled)")
        ad.fail_deferred(order, "the order is closed at the venue")
        return FOUND

    async def book_history(self, order: Order, raise_errors: bool = False) -> None:
        """Book the order's trades from the account's trade history (each once, by trade id)."""
        ad = self.adapter
        try:
            trades = await self.account_trades(ad.market(order), order.created_ns // 1_000_000 - 1000)
        except (HttpError, VenueError) as exc:
            if raise_errors:
                raise
            ad.log.warning("order %s: trade history unavailable (%s); its average stays the venue's total",
                           order.order_id, exc)
            return
        fills = [fill_of(t) for t in trades if same_hash(t.orderHash, order.venue_order_id)]
        if fills:
            ad.tracker.apply(order, None, fills)

    async def account_trades(self, market: str, since_ms: int) -> list[schemas.TradePayload]:
        ad = self.adapter
        response = await ad.session.get(ad.http, f"{schemas.ACCOUNT_TRADES_PATH}?symbol={market}"
                                                 f"&startTimeAtMillis={since_ms}&limit=500")
        if response.status != 200:
            raise VenueError("venue_error", ad.error_text(response))
        return schemas.trades_decoder.decode(response.body)

    def fetch_missed_trades(self, order: Order) -> None:
        """The venue's total is ahead of the trades we booked: the trade history has their prices."""
        if order.filled > order.booked and order.order_id not in self._fetching_history:
            self._fetching_history.add(order.order_id)
            task = asyncio.ensure_future(self.book_history(order))
            task.add_done_callback(lambda _t, oid=order.order_id: self._fetching_history.discard(oid))
