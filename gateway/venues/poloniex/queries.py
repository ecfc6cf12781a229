"""The venue's REST reads: its markets, one order (by id or "cid:<clientOrderId>"), the open
orders of each kind; and what the gateway does with them: look an order up (the resolver's
question), reconcile the orders held open with the venue's listing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.orders.model import SCALE, Order, Status
from gateway.venues.base import VenueError
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.states import e18, follow_triggered, is_smart, regular_named, status_of
from gateway.venues.poloniex.venue_data import PoloniexVenueData
from gateway.venues.resolver import FOUND, NOT_FOUND

if TYPE_CHECKING:
    from gateway.venues.poloniex.adapter import PoloniexAdapter

JSON = b"Content-Type: application/json\r\n"


class PoloniexQueries:
    def __init__(self, adapter: PoloniexAdapter):
        self.adapter = adapter
        self.tracker = adapter.tracker
        self.markets: dict[str, s.Market] = {}

    async def load_markets(self) -> None:
        """What the venue's own clients load first: refuse symbols it does not list."""
        adapter = self.adapter
        response = await adapter.http.request("GET", "/markets", b"", JSON)
        if response.status != 200:
            raise VenueError("venue_error", f"{adapter.name} GET /markets: {adapter.error_text(response)}")
        self.markets = {m.symbol: m for m in s.markets_decoder.decode(response.body)}
        for symbol, inst in adapter.instruments.items():
            market = self.markets.get(str(inst.product_id))
            if market is None:
                raise VenueError("config", f"{adapter.name}: {symbol} maps to {inst.product_id}, "
                                 "which the venue does not list")
            if market.state != "NORMAL":
                adapter.log.warning("%s (%s) is %s at the venue", symbol, market.symbol, market.state)
            limit = market.symbolTradeLimit
            if limit is not None and e18(inst.tick_size) < 10 ** (SCALE - limit.priceScale):
                adapter.log.warning("%s: tick %s is finer than the venue's %d price decimals", symbol,
                                    inst.tick_size, limit.priceScale)

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

    # the resolver's look-up, the reconcile listing

    async def lookup(self, order: Order) -> str:
        """By our client id, which the venue keeps for open and closed orders."""
        venue_order = await self.get_order(s.CID_PREFIX + order.order_id, smart=is_smart(order))
        if venue_order is None:
            return NOT_FOUND
        self.apply_venue_order(venue_order, order)
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
                self.apply_venue_order(venue_order, order)
        return listed

    def apply_venue_order(self, venue_order: s.Order | s.SmartOrder, order: Order) -> None:
        """A GET answer (reconcile, lost reply): states and totals, no trade list."""
        adapter, tracker = self.adapter, self.tracker
        if isinstance(venue_order, s.SmartOrder):
            if venue_order.state == s.TRIGGERED and venue_order.triggeredOrder is not None:
                follow_triggered(adapter, order, venue_order.triggeredOrder.id)
                self.apply_venue_order(venue_order.triggeredOrder, order)
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
        # fills made while we were not listening show as the venue's totals: they count toward
        # the trade records the stream may still bring, never on top of them
        tracker.apply(order, status, filled=e18(venue_order.filledQuantity), avg_price=e18(venue_order.avgPrice),
                      reason=order.reason or reason)
