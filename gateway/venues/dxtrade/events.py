"""DXtrade's word on orders: the venue's order views, applied in account `version` order.

The push API's wire format is in neither the seed nor the notes, so the
account's order list is polled every poll_interval_ms; a look-up's single
order goes the same way. An older version never overwrites a newer one. An
execution's finalStatus says that update is final, not the order: only the
order's own status closes it. Orders are found by the venue's orderId, else
by the orderCode we sent (the gateway's order id), so one is found in the
list before (or without) the reply naming it. A stop order is UNTRIGGERED
while the venue lists it WORKING without a trade (_stop_status).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from gateway.net.http import HttpError
from gateway.orders.model import CANCEL_PENDING, Fill, Order, OrderType, Status
from gateway.orders.tracker import Tracker
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.queries import OrderQueries
from gateway.venues.dxtrade.venue_data import DxtradeVenueData
from gateway.venues.dxtrade.wire import STATUS, e18, ts_ns
from gateway.venues.errors import VenueError


# statuses of an order we had seen working before a fill arrives: the fill made the market
_RESTED = frozenset({Status.OPEN, Status.PARTIALLY_FILLED, Status.TRIGGERED, Status.PENDING_CANCEL,
                     Status.PENDING_REPLACE})


class EventsVenue(Protocol):
    """What the order events need of their adapter (gateway/venues/dxtrade/adapter.py)."""
    name: str
    config: DxtradeConfig
    log: logging.Logger
    tracker: Tracker
    queries: OrderQueries
    session_up: bool

    def run_deferred(self, order: Order) -> None: ...

    def cancel_reason(self, order: Order, venue_reason: str | None = None) -> str: ...


class OrderEvents:
    def __init__(self, venue: EventsVenue):
        self.venue = venue
        self.tracker = venue.tracker
        self.by_code: dict[str, Order] = {}  # orderCode we sent (our order_id) -> order
        self.stale_versions = 0
        self._poller: asyncio.Task | None = None

    def start(self) -> None:
        self._poller = asyncio.ensure_future(self._poll_loop())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)

    async def _poll_loop(self) -> None:
        venue = self.venue
        while True:
            await asyncio.sleep(venue.config.poll_interval_ms / 1000)
            if not self.tracker.open_orders(venue=venue.name):
                continue
            try:
                await self.poll()
            except (HttpError, VenueError) as exc:
                venue.log.warning("order poll failed: %s", exc)
                if isinstance(exc, HttpError):
                    venue.session_up = False  # the next answered ping says it is back
            except Exception:  # noqa: BLE001 - the loop must outlive one bad answer
                venue.log.exception("order poll failed")

    async def poll(self) -> list[schemas.Order]:
        listed = await self.venue.queries.list()
        for venue_order in listed:
            self.apply(venue_order)
        return listed

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        """After a restart or reconnect: these orders are looked for in the list by their code too."""
        for order in orders:
            self.by_code[order.order_id] = order
        return {self.find(o).order_id for o in await self.poll() if self.find(o) is not None}

    def find(self, venue_order: schemas.Order) -> Order | None:
        order = self.tracker.by_venue(self.venue.name, str(venue_order.orderId))
        if order is None:
            code = venue_order.clientOrderId or venue_order.orderCode.rpartition(":")[2]
            order = self.by_code.get(code)
        return order

    def apply(self, venue_order: schemas.Order, order: Order | None = None) -> None:
        order = order or self.find(venue_order)
        if order is None:
            return  # not ours: another session of the account, or long forgotten
        data = DxtradeVenueData.ensure_on(order)
        seen = -1 if data.version is None else data.version
        if venue_order.version < seen:
            self.stale_versions += 1  # an older state of the order: never over a newer one
            return
        if venue_order.version == seen and order.is_closed:
            return
        data.version = venue_order.version
        tracker = self.tracker
        if order.venue_order_id is None:
            tracker.bind_venue_id(order, str(venue_order.orderId))
            self.venue.run_deferred(order)
        leg = venue_order.legs[0] if venue_order.legs else None
        self.take_amendment(order, venue_order, leg)
        # the venue does not say maker or taker: a fill first seen while the order was already
        # resting on the book (we had seen it working) made the market; one that came with the
        # order's first sighting took it. Timestamps cannot tell: they share a millisecond.
        # A stop's first trade is its trigger firing: it takes.
        rested = order.status in _RESTED and (order.status not in CANCEL_PENDING
                                              or order.status_before_pending is not Status.UNTRIGGERED)
        fills = [
            Fill(trade_id=e.executionCode, price=e18(e.lastPrice), quantity=e18(e.lastQuantity),
                 ts_ns=ts_ns(e.transactionTime), is_maker=rested)
            for e in venue_order.executions if e.lastQuantity and e.lastPrice is not None
        ]
        filled = e18(leg.filledQuantity) if leg is not None else None
        status = STATUS.get(venue_order.status.upper())
        if order.stop_price is not None:
            status = self._stop_status(order, status, bool(fills or filled))
        reason = self.venue.cancel_reason(order) if status is Status.CANCELED else None
        if status is Status.REJECTED:
            reason = "rejected by the venue"
        tracker.apply(order, status, fills, filled=filled, reason=order.reason or reason)
        if order.is_closed:
            self.by_code.pop(order.order_id, None)

    def _stop_status(self, order: Order, status: Status | None, traded: bool) -> Status | None:
        """DXtrade lists a stop WORKING before its trigger and after it (the seed's resting STOP
        shows WORKING; the platform has no status of its own for a stop waiting): it is
        UNTRIGGERED until the venue reports it trading, which says the trigger fired (TRIGGERED,
        then its fills). A STOP_LIMIT whose trigger fired without trading shows no difference
        in the list: it stays UNTRIGGERED until its first trade."""
        if traded and order.status in (Status.PENDING_NEW, Status.UNTRIGGERED):
            self.tracker.apply(order, Status.TRIGGERED)
        if status is Status.OPEN:
            seen = traded or order.filled or order.status is Status.TRIGGERED
            return Status.TRIGGERED if seen else Status.UNTRIGGERED
        return status

    def take_amendment(self, order: Order, venue_order: schemas.Order, leg: schemas.Leg | None) -> None:
        """The venue's price and quantity are the order's: a modify (ours or another
        session's) shows here in version order."""
        quantity = e18(leg.quantity) if leg is not None and leg.quantity else None
        limit = e18(venue_order.limitPrice)
        if limit is None and leg is not None and venue_order.type in ("LIMIT", "STOP_LIMIT"):
            limit = e18(leg.price)
        changed = False
        if quantity is not None and quantity != order.quantity:
            order.quantity, changed = quantity, True
        if limit is not None and order.type is OrderType.LIMIT and limit != order.price:
            order.price, changed = limit, True
        if changed:
            self.tracker.amended(order)
