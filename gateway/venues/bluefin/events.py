"""The Bluefin account stream's events, applied to the orders they name.

The stream is the current SDK's: envelopes {event, reason, payload};
AccountOrderUpdate (an active-order payload or a cancellation payload, told
apart by `status`) and AccountTradeUpdate ({"trade": ...}) are read, any other
event is counted in `ignored` and otherwise left alone. The order's outcome
comes only from here: the REST replies are ACKs (seed 000).

Trades come one frame each, then the order's update: they are booked with it,
so the strategy gets one update carrying every trade of a match. Where the
venue's filled total is ahead of the trades booked, the account's trade history
has the missing ones (BluefinQueries.fetch_missed_trades).
"""
from __future__ import annotations

import asyncio
import collections

from gateway.orders.model import Fill, Order, Status
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.parsing import REASON_TEXT, e18_of_e9, fill_of
from gateway.venues.bluefin.venue_data import BluefinVenueData
from gateway.venues.base import VenueAdapter


class AccountEvents:
    def __init__(self, adapter: VenueAdapter):  # the BluefinAdapter this is part of
        self.adapter = adapter
        self.tracker = adapter.tracker
        self._pending_fills: dict[str, tuple[Order, list[Fill]]] = {}
        self.ignored: collections.Counter[str] = collections.Counter()
        self.subscribed = 0  # subscribe replies with success true

    def by_hash(self, text: str | None) -> Order | None:
        return self.tracker.by_venue(self.adapter.name, schemas.norm_hash(text)) if text else None

    def on_message(self, payload: bytes) -> None:
        try:
            frame = schemas.frame_decoder.decode(payload)
            event = frame.event
            if event == schemas.ACCOUNT_ORDER_UPDATE:
                update = schemas.order_payload_decoder.decode(frame.payload)
                if update.status is not None:
                    self.on_order(update)
                else:
                    self.on_cancellation(update)
            elif event == schemas.ACCOUNT_TRADE_UPDATE:
                self.on_trade(schemas.trade_update_decoder.decode(frame.payload).trade)
            elif frame.success is not None and not event:
                if frame.success:
                    self.subscribed += 1
                else:
                    self.adapter.log.error("the venue refused the account stream subscription: %s", frame.message)
            else:
                # AccountUpdate, AccountPositionUpdate, ...: not about orders, never an error
                self.ignored[event or "?"] += 1
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the stream
            self.adapter.message_dropped(exc)

    def on_order(self, payload: schemas.OrderPayload, order: Order | None = None, filled: int | None = None) -> None:
        """An active-order payload (the stream's, or an entry of the open orders listed)."""
        order = order or self.by_hash(payload.orderHash)
        if order is None:
            return  # not ours: another session of the same account, or long forgotten
        ad = self.adapter
        wire = payload.status
        reason = None
        if wire == schemas.STANDBY:
            status = Status.UNTRIGGERED
        elif wire == schemas.OPEN:
            status = Status.OPEN
        elif wire == schemas.PARTIALLY_FILLED_OPEN:
            status = Status.PARTIALLY_FILLED
        elif wire == schemas.FILLED:
            status = Status.FILLED
        elif wire in schemas.PARTIALLY_FILLED_CANCELLED_SPELLINGS or wire in schemas.CANCELLED_SPELLINGS:
            status, reason = Status.CANCELED, ad.cancel_reason(order)
        elif wire in schemas.EXPIRED_SPELLINGS:
            status, reason = Status.EXPIRED, "expired"
        elif wire == schemas.UNSPECIFIED:
            self.ignored[f"status {wire}"] += 1
            return
        else:
            ad.log.warning("unknown Bluefin status %r for order %s", wire, order.order_id)
            return
        fills = self._pending_fills.pop(order.order_id, (None, ()))[1]
        if status is Status.OPEN and order.stop_price is not None:
            status = Status.TRIGGERED  # a stop the venue shows OPEN has left STANDBY
        elif order.status is Status.UNTRIGGERED and status is not Status.UNTRIGGERED and (
                fills or e18_of_e9(payload.filledQuantityE9) > 0):
            # the venue does not say "triggered": a stop that traded has been
            self.tracker.apply(order, Status.TRIGGERED)
        # every trade comes from the account stream; the order's own total says what we missed
        if filled is None:
            filled = e18_of_e9(payload.filledQuantityE9) or None
        self.tracker.apply(order, status, fills, filled=filled, reason=order.reason or reason, channel="stream")
        ad.queries.fetch_missed_trades(order)

    def on_cancellation(self, payload: schemas.OrderPayload) -> None:
        ad = self.adapter
        tracker = self.tracker
        why = payload.cancellationReason
        if why is None:
            # a cancel the venue could not do: the order (if any) stays as it was
            failure = payload.failureToCancelReason or "UNSPECIFIED"
            if payload.orderHash:
                targets = [o for o in [self.by_hash(payload.orderHash)] if o is not None]
            else:
                targets = [o for o in tracker.open_orders(venue=ad.name)
                           if o.status is Status.PENDING_CANCEL and BluefinVenueData.read(o).market == payload.symbol]
            for order in targets:
                ad.cancel_refused(order, f"cancel failed: {failure}")
            return
        if why in schemas.USER_CANCELLED_ALL_SPELLINGS:
            # one message for the whole market: every order the venue held there is closed
            for order in tracker.open_orders(venue=ad.name):
                data = BluefinVenueData.read(order)
                if data.market == payload.symbol and order.venue_order_id is not None and (
                        data.acked or order.status is not Status.PENDING_NEW):
                    reason = ("canceled by request" if order.status is Status.PENDING_CANCEL
                              else "canceled: all orders on the market canceled")
                    tracker.apply(order, Status.CANCELED, reason=reason)
            return
        order = self.by_hash(payload.orderHash)
        if order is None:
            return
        fills = self._pending_fills.pop(order.order_id, (None, ()))[1]
        remaining = e18_of_e9(payload.remainingQuantityE9)
        # what was not canceled filled: trades we missed count toward it (a 0 says nothing)
        filled = order.quantity - remaining if 0 < remaining <= order.quantity else None
        if fills or filled:
            tracker.apply(order, None, fills, filled=filled, channel="stream")
        ad.queries.fetch_missed_trades(order)
        if order.status is Status.PENDING_NEW and not order.filled:
            # the venue never opened it: the seed's way of rejecting an order
            ad.reject(order, f"{REASON_TEXT.get(why, why)} ({why})")
        else:
            tracker.apply(order, Status.CANCELED, reason=ad.cancel_reason(order, REASON_TEXT.get(why, why)))

    def on_trade(self, trade: schemas.TradePayload) -> None:
        order = self.by_hash(trade.orderHash)
        if order is None:
            return
        fill = fill_of(trade)
        # trades come one frame each, then the order's update: booked with it, so the strategy
        # gets one update carrying every trade of a match; leftovers are booked on their own
        if not self._pending_fills:
            asyncio.get_running_loop().call_soon(self._flush_fills)
        self._pending_fills.setdefault(order.order_id, (order, []))[1].append(fill)

    def _flush_fills(self) -> None:
        pending, self._pending_fills = self._pending_fills, {}
        for order, fills in pending.values():
            self.tracker.apply(order, None, fills, channel="stream")
