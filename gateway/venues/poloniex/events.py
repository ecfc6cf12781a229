"""The private stream's messages: the `orders` channel's events applied to the tracker, the
auth and subscription replies, the venue's errors.

Events of one message are applied per order as one change (the fills of one match reach the
strategy together). A replacement's events wait while the fate of the order it replaces is
being read (cancel-and-replace with proceedOnFailure: replace.py)."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from gateway.orders.model import ONE, Fill, Order
from gateway.venues.base import VenueAdapter
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.states import e18, regular_named, status_of


class PoloniexEvents:
    def __init__(self, adapter: VenueAdapter):  # the PoloniexAdapter that owns it
        self.adapter = adapter
        self.tracker = adapter.tracker
        # replacement orders whose events wait for the old order's fate: order id -> held actions
        self._held: dict[str, list[Callable[[], None]]] = {}

    # held events of a replacement

    def hold(self, order_id: str) -> None:
        self._held[order_id] = []

    def release(self, order_id: str) -> None:
        """Apply what was held, in order."""
        for action in self._held.pop(order_id, ()):
            action()

    def drop(self, order_id: str) -> None:
        self._held.pop(order_id, None)

    # the stream

    def on_message(self, payload: bytes) -> None:
        adapter = self.adapter
        try:
            message = s.ws_decoder.decode(payload)
            channel = message.channel[0] if isinstance(message.channel, list) else message.channel
            if channel == s.ORDERS_CHANNEL and message.event is None and bytes(message.data) != b"null":
                self.apply_events(s.order_events_decoder.decode(message.data))
            elif channel == s.ORDERS_CHANNEL and message.event == "subscribe":
                adapter.stream.up.set()
            elif channel == s.AUTH_CHANNEL and bytes(message.data) != b"null":
                auth = s.auth_decoder.decode(message.data)
                if not auth.success:
                    adapter.log.error("stream auth refused: %s", auth.message)
            elif message.event == "error":
                adapter.log.warning("stream error: %s", message.message)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the stream
            adapter.message_dropped(exc)

    def order_for(self, client_id: str, venue_id: str) -> Order | None:
        """Ours, by the clientOrderId we gave it (the gateway's order id), else by the venue's id."""
        order = self.tracker.get(client_id) if client_id else None
        if order is not None and order.venue == self.adapter.name:
            return order
        return self.tracker.by_venue(self.adapter.name, venue_id)

    def apply_events(self, events: list[s.OrderEvent]) -> None:
        """One message's events, applied per order as one change: the fills of one
        match reach the strategy together, as one update."""
        groups: dict[tuple[str, str], list[s.OrderEvent]] = {}
        for event in events:
            groups.setdefault((event.clientOrderId, event.orderId), []).append(event)
        for (client_id, venue_id), group in groups.items():
            order = self.order_for(client_id, venue_id)
            if order is not None:
                self.apply_order_events(order, group)

    def apply_order_events(self, order: Order, events: list[s.OrderEvent]) -> None:
        held = self._held.get(order.order_id)
        if held is not None:
            held.append(partial(self.apply_order_events, order, events))
            return
        first, last = events[0], events[-1]
        adapter = self.adapter
        regular_named(adapter, order, first.orderId, first.source)
        fills = [
            Fill(trade_id=e.tradeId, price=e18(e.tradePrice), quantity=e18(e.tradeQty),
                 ts_ns=e.tradeTime * 1_000_000, is_maker=e.matchRole == "MAKER", fee=e18(e.tradeFee))
            for e in events if e.eventType == "trade" and e.tradeId not in ("", "0")
        ]
        status, reason = status_of(adapter, order, last.state)
        self.tracker.apply(order, status, fills, filled=e18(last.filledQuantity),
                           notional=e18(last.filledAmount) * ONE, reason=order.reason or reason,
                           channel="stream")
        if order.filled > order.booked:
            # the total runs ahead of the trades the stream brought: one's event was lost
            adapter.queries.catch_up(order)
