"""BSX's word on orders: the authenticated `orders` channel, and any order view the
REST API gives (a look-up's answer), applied to the tracker.

Every (re)subscribe brings a snapshot of the open orders. Orders in it are
applied like updates (a fill made while the stream was down shows as
filled_size above what we booked: the difference becomes one fill at the
price that makes the venue's average). Orders we think open that the
snapshot lacks are asked for by id over REST and applied from the answer;
none is dropped without the venue's word. Events are matched to orders by
venue id, else by the nonce the order was signed with.
"""
from __future__ import annotations

import logging
from typing import Protocol

from gateway.decoding import DECODE_ERRORS
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import Fill, Order, OrderType, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.bsx import schemas
from gateway.venues.bsx.wire import e18

class EventsVenue(Protocol):
    """What the order events need of their adapter (gateway/venues/bsx/adapter.py)."""
    name: str
    log: logging.Logger
    tracker: Tracker
    stream: ReconnectingStream | None

    def order_by_nonce(self, nonce: int) -> Order | None: ...

    def forget_nonce(self, order: Order) -> None: ...

    def run_deferred(self, order: Order) -> None: ...

    def not_listed(self, orders: list[Order], listed: set[str]) -> None: ...

    def message_dropped(self, exc: Exception) -> None: ...

    reconciled: object  # told after each snapshot (the positions' drift check), or None


class OrderEvents:
    def __init__(self, venue: EventsVenue):
        self.venue = venue
        self.tracker = venue.tracker

    # the orders channel

    def on_ws(self, payload: bytes) -> None:
        try:
            self._on_message(schemas.ws_decoder.decode(payload))
        except (*DECODE_ERRORS, ValueError, TypeError) as exc:
            self.venue.message_dropped(exc)

    def _on_message(self, message) -> None:
        if message.channel == schemas.ORDERS_CHANNEL:
            if message.type == "update":
                for venue_order in message.data or ():
                    self.apply(venue_order, channel="stream")
            elif message.type == "snapshot":
                self._apply_snapshot(message.data or [])
                self.venue.stream.up.set()
            elif message.type == "error":
                self.venue.log.warning("orders channel error %s: %s", message.code, message.message)
        elif message.channel == schemas.AUTH_CHANNEL and message.type != "authenticated":
            self.venue.log.warning("stream auth refused: %s %s", message.code, message.message)

    def _apply_snapshot(self, snapshot: list[schemas.Order]) -> None:
        venue = self.venue
        listed = set()
        for venue_order in snapshot:
            self.apply(venue_order)
            order = self.tracker.by_venue(venue.name, venue_order.id)
            if order is not None:
                listed.add(order.order_id)
        # not in the open snapshot: filled or canceled while we were away, or never taken
        venue.not_listed(self.tracker.open_orders(venue=venue.name), listed)
        # the snapshot is BSX's reconcile: the account's positions are compared after it
        if venue.reconciled is not None:
            venue.reconciled(venue)

    # one venue order -> the tracker

    def apply(self, venue_order: schemas.Order, order: Order | None = None, channel: str | None = None) -> None:
        venue, tracker = self.venue, self.tracker
        if order is None:
            order = tracker.by_venue(venue.name, venue_order.id)
            if order is None:
                order = venue.order_by_nonce(int(venue_order.nonce))
            if order is None:
                return  # not ours: another session of the same account, or long forgotten
        if order.venue_order_id is None:
            tracker.bind_venue_id(order, venue_order.id)
            venue.run_deferred(order)
        fills = self._fills(order, venue_order)
        status, reason = self._status(order, venue_order)
        if order.status is Status.UNTRIGGERED and (venue_order.status == schemas.OPEN or (
                venue_order.status == schemas.DONE and e18(venue_order.filled_size) > 0)):
            # the venue does not say "triggered": a stop it shows live or trading has been
            tracker.apply(order, Status.TRIGGERED)
        tracker.apply(order, status, fills, reason=order.reason or reason, channel=channel)
        if order.is_closed:
            venue.forget_nonce(order)

    def _fills(self, order: Order, venue_order: schemas.Order) -> list[Fill]:
        trades = [
            Fill(trade_id=t.id, price=e18(t.price), quantity=e18(t.size), ts_ns=int(t.time),
                 is_maker=t.liquidity_indicator == "MAKER", fee=e18(t.trading_fee, signed=True))
            for t in venue_order.last_trades or ()
        ]
        # repeats go to the tracker too: it drops and counts them
        seen = [f for f in trades if f.trade_id in order.trade_ids]
        fresh = [f for f in trades if f.trade_id not in order.trade_ids]
        venue_filled = e18(venue_order.filled_size)
        booked = order.filled + sum(f.quantity for f in fresh)
        if booked > venue_filled:
            # already booked from a gap fill made at a reconcile: the venue's total is the truth
            return seen
        if booked < venue_filled:
            # trades made while the stream was down: one fill for what we missed, priced so
            # the order's average matches the venue's
            missed = venue_filled - booked
            notional = e18(venue_order.avg_price) * venue_filled - order.notional \
                - sum(f.price * f.quantity for f in fresh)
            fresh.append(Fill(trade_id=f"{venue_order.id}:filled:{venue_order.filled_size}",
                              price=max(notional, 0) // missed, quantity=missed,
                              ts_ns=int(venue_order.updated_at)))
        return seen + fresh

    def _status(self, order: Order, venue_order: schemas.Order) -> tuple[Status | None, str | None]:
        wire = venue_order.status
        if wire == schemas.PENDING:
            return None, None
        if wire == schemas.STOP_ACCEPTED:
            return Status.UNTRIGGERED, None
        if wire == schemas.OPEN:
            return (Status.TRIGGERED if order.stop_price is not None else Status.OPEN), None
        if wire != schemas.DONE:
            self.venue.log.warning("unknown BSX status %r for order %s", wire, order.order_id)
            return None, None
        if e18(venue_order.filled_size) >= e18(venue_order.size):
            return Status.FILLED, None
        if venue_order.reject_reason:
            return Status.REJECTED, venue_order.reject_reason
        why = venue_order.cancel_reason
        if why == schemas.CANCEL_POST_ONLY and e18(venue_order.filled_size) == 0:
            return Status.REJECTED, "post only: the order would have taken liquidity"
        if why == schemas.CANCEL_USER:
            return Status.CANCELED, ("canceled by request" if order.status is Status.PENDING_CANCEL
                                     else "canceled by the account owner")
        if why == schemas.CANCEL_STP:
            return Status.CANCELED, f"self-trade prevention ({venue_order.stp})"
        if order.type is OrderType.MARKET:
            return Status.CANCELED, "market order remainder canceled"
        if order.tif is not TimeInForce.GTC:
            return Status.CANCELED, f"{order.tif.value.upper()} remainder canceled"
        return Status.CANCELED, f"canceled by the venue: {why or 'no reason given'}"
