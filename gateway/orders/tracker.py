"""Every order the gateway knows: ids, de-duplication, the state machine applied.

The tracker knows the lifecycle and nothing about any venue. Adapters report
what the venue said (a status, fills, a cumulative filled quantity); the
tracker books new fills once per trade id, moves the status only where
`fsm.TRANSITIONS` allows, and tells its listeners about every change. The
orders themselves are kept in gateway/orders/index.py.

An order closed without the venue's word (`close_on_guess`: a look-up did not
find it, or the venue no longer knew it after a restart) is reopened by the
next report from the venue that contradicts the guess.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from gateway.orders import fsm
from gateway.orders.journal import Journal
from gateway.orders.records import (
    amend_record, cancel_reject_record, fill_record, order_record, sent_record, state_record, venue_record,
)
from gateway.orders.index import OrderIndex
from gateway.orders.model import TERMINAL, Fill, Order, Status, book_fill

log = logging.getLogger("gateway.orders")




class OrderListener(Protocol):
    """Told of every change, in order; called on the request path, so it must not await or
    do I/O. Each listener renders its own view of the change (the strategy's session, the drop
    copy) and keeps its own place in the order's trades."""

    def order_changed(self, order: Order, new_fills: int) -> None:
        """The order changed; its last new_fills trades (order.fills[-new_fills:]) are new."""
        ...

    def cancel_rejected(self, order: Order, reason: str) -> None: ...


class DuplicateOrderError(ValueError):
    pass


class Tracker:
    def __init__(
        self,
        *listeners: OrderListener,
        closed_ttl_ns: int = 600 * 10**9,
        max_closed: int = 100_000,
        now_ns: Callable[[], int] = time.time_ns,
        id_prefix: str = "",
        journal: Journal | None = None,
    ):
        # told of every change, in order: the strategies' sessions first, then any added (the
        # drop copy, metrics)
        self.listeners: list[OrderListener] = list(listeners)
        self.journal = journal
        self._now_ns = now_ns
        self._ids = itertools.count(1)
        # the prefix keeps ids unique across restarts of the same journal-less daemon
        self._id_prefix = id_prefix or f"{time.time_ns() // 1000:x}-"
        index = self._index = OrderIndex(closed_ttl_ns=closed_ttl_ns, max_closed=max_closed, now_ns=now_ns)
        # the index's look-ups, as its own methods (no call in between on the request path)
        self.orders = index.orders
        self.get, self.by_client, self.by_venue = index.get, index.by_client, index.by_venue
        self.open_count, self.open_orders, self.strategy_orders = index.open_count, index.open_orders, \
            index.strategy_orders
        self.awaiting, self.purge_closed = index.awaiting, index.purge_closed
        # ignored reports by kind: "stale": a status the order has left (a poll older than our cancel, an ack after the fill);
        # "contradiction": one the table cannot reach from the current status (worth a page)
        self.unknown_by_reason = {"stale": 0, "contradiction": 0}
        self.duplicate_fills = 0

    @property
    def unknown_transitions(self) -> int:
        return sum(self.unknown_by_reason.values())

    # ids and look-ups

    def new_order(self, **fields) -> Order:
        return self.track(Order(order_id="", **fields))

    def track(self, order: Order) -> Order:
        """Give a validated order its id and follow it from now on (journaled)."""
        if self._index.by_client(order.strategy, order.client_order_id) is not None:
            raise DuplicateOrderError(
                f"client_order_id {order.client_order_id!r} is already used by an order of this strategy"
            )
        order.created_ns = order.updated_ns = self._now_ns()
        order.order_id = f"{self._id_prefix}{next(self._ids)}"
        self._index.add(order)
        if self.journal is not None:
            self.journal.add(order_record(order))
        return order

    def restore(self, orders: Iterable[Order]) -> int:
        """Take back orders replayed from the journal (same ids); returns how many."""
        return self._index.restore(orders)

    def note_venue_data(self, order: Order) -> None:
        """Journal what the adapter stored to find the order again (nonce, ...)."""
        if self.journal is not None:
            self.journal.add(venue_record(order))

    def journal_sent(self, order: Order) -> None:
        """The order's request is being handed to the venue: journaled first (the HTTP client
        writes after the journal), so after a crash an order without it was certainly never sent."""
        order.sent_at_ns = self._now_ns()
        self._index.await_venue(order)
        if self.journal is not None:
            self.journal.add(sent_record(order))

    def _changed(self, order: Order, new_fills: list[Fill] = ()) -> None:
        """One change the strategy sees: numbered (journaled with it), told to every listener."""
        order.seq += 1
        self._journal_state(order, new_fills)
        n = len(new_fills)
        for listener in self.listeners:
            listener.order_changed(order, n)

    def _journal_state(self, order: Order, new_fills: list[Fill] = ()) -> None:
        if self.journal is not None:
            for fill in new_fills:
                self.journal.add(fill_record(order, fill))
            self.journal.add(state_record(order))

    def bind_venue_id(self, order: Order, venue_order_id: str) -> None:
        if order.venue_order_id == venue_order_id:
            return
        self._index.bind_venue_id(order, venue_order_id)
        if self.journal is not None:
            self.journal.add(venue_record(order))

    # state changes

    def apply(
        self,
        order: Order,
        status: Status | None,
        fills: Iterable[Fill] = (),
        *,
        filled: int | None = None,
        avg_price: int | None = None,
        notional: int | None = None,
        reason: str | None = None,
        channel: str | None = None,
    ) -> bool:
        """Apply one venue report; returns whether anything the strategy sees changed.
        filled with avg_price or notional (e36, sum of price x quantity): the venue's cumulative
        totals, for fills it reports without trade records.

        channel names where a report of trades came from ("rest", "stream"); a trade seen
        again is a duplicate only when one report holds it twice, or when the channel that
        booked it repeats it in a report with nothing new. The same trade in the REST reply
        and on the stream, or in a poll / snapshot / reconcile (channel None: they list every
        trade each time), is the expected second sighting, not counted."""
        changed = False
        new_fills = []
        repeats = 0
        for fill in fills:
            trade_id = fill.trade_id
            if trade_id in order.trade_ids:
                if any(f.trade_id == trade_id for f in new_fills):  # twice in this very report
                    self.duplicate_fills += 1
                elif channel is not None and order.trade_ids[trade_id] == channel:
                    repeats += 1
                continue
            book_fill(order, fill, channel)
            new_fills.append(fill)
            changed = True
        if new_fills and order.booked >= order.filled:
            # the trade records cover the venue's total: they are the exact notional
            order.filled, order.notional = order.booked, order.booked_notional
        if filled is not None and filled > order.filled:
            if filled > order.quantity:
                # a venue report cannot fill more than was ordered: keep the order's size, say so
                log.warning("order %s: venue reports %d filled of %d; capped", order.order_id, filled,
                            order.quantity)
                filled = order.quantity
            if filled > order.filled:
                # the venue counts fills we have no trade record of yet: trust its total; records
                # that come later count toward it, never on top of it
                order.filled = filled
                if notional is not None:
                    order.notional = notional
                elif avg_price is not None:
                    order.notional = avg_price * filled
                changed = True

        current = order.status
        target = status
        if order.quantity and order.filled >= order.quantity:
            target = Status.FILLED
        elif order.filled and target in (Status.OPEN, Status.TRIGGERED, None):
            target = Status.PARTIALLY_FILLED if (target is not None or changed) else None
        if target is Status.PARTIALLY_FILLED and current in fsm.KEEP_ON_PARTIAL:
            target = current
        if current in TERMINAL and order.guessed and target is not None and target is not current:
            # closed on a guess, and the venue says otherwise: take its word as if it were the first
            current = Status.PENDING_NEW
        if target is not None and target is not order.status and fsm.allowed(current, target):
            was = order.status
            order.status = target
            if was in TERMINAL:
                self._reopened(order)
                order.reason = None  # the guess's reason no longer holds
            if target in TERMINAL:
                self._index.closing(order)
            if reason and target in (Status.CANCELED, Status.REJECTED, Status.EXPIRED):
                order.reason = reason
            changed = True
        elif status is not None and status is not current and not fsm.allowed(current, status):
            # a late or impossible report (an ack after the fill): counted, never applied
            kind = "stale" if fsm.stale(current, status) else "contradiction"
            self.unknown_by_reason[kind] += 1
            log.log(logging.DEBUG if kind == "stale" else logging.WARNING,
                    "ignored %s report %s for order %s (%s), which is %s",
                    kind, status.value, order.order_id, order.venue, current.value)
        if repeats and not changed:
            self.duplicate_fills += repeats
        if changed:
            order.updated_ns = self._now_ns()
            self._changed(order, new_fills)
        return changed

    def _reopened(self, order: Order) -> None:
        self._index.reopened(order)
        log.warning("order %s (%s) reopened: the venue reports it after it was closed without its word",
                    order.order_id, order.venue)

    def close_on_guess(self, order: Order, status: Status, reason: str) -> bool:
        """Close an order the venue cannot tell us about (REJECTED: not received; EXPIRED: unknown
        to the venue); a later report from the venue reopens it."""
        if order.status in TERMINAL:
            return False
        order.status_before_pending = None
        order.status = status
        order.reason = reason
        order.guessed = True
        self._index.closing(order)
        order.updated_ns = self._now_ns()
        self._changed(order)
        return True

    def amended(self, order: Order) -> None:
        """The venue took a new price or quantity for the order (modify): journal it, tell the strategy."""
        order.amending = 0
        order.updated_ns = self._now_ns()
        if self.journal is not None:
            self.journal.add(amend_record(order))
        self._changed(order)

    def mark_pending(self, order: Order, pending: Status) -> bool:
        """PENDING_CANCEL / PENDING_REPLACE before the request leaves; False if not allowed now."""
        if order.status is pending:
            return True
        if not fsm.allowed(order.status, pending):
            return False
        order.status_before_pending = order.status
        order.status = pending
        order.updated_ns = self._now_ns()
        self._index.await_venue(order)
        self._changed(order)
        return True

    def cancel_refused(self, order: Order, reason: str) -> None:
        """The venue refused a cancel or replace: go back and tell the strategy why."""
        if order.status in fsm.KEEP_ON_PARTIAL and order.status_before_pending is not None:
            back = order.status_before_pending
            if back in (Status.OPEN, Status.PENDING_NEW) and order.filled:
                back = Status.PARTIALLY_FILLED
            order.status = back
            order.status_before_pending = None
            order.updated_ns = self._now_ns()
            self._changed(order)
        order.seq += 1
        if self.journal is not None:
            self.journal.add(cancel_reject_record(order, reason))
        for listener in self.listeners:
            listener.cancel_rejected(order, reason)

    def close_unsent(self) -> int:
        """After a restart: orders acked but still in a venue's line when the last run ended were
        never sent (every send is journaled before it leaves). They end CANCELED, never sent
        later; returns how many."""
        unsent = self._index.unsent()
        for order in unsent:
            self.apply(order, Status.CANCELED, reason="not sent: gateway restarted")
        return len(unsent)
