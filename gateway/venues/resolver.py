"""Orders whose fate at the venue we do not know, asked about until the venue answers.

An order lands here when its reply was lost (timeout, broken connection), when
it has been pending with no word from the venue for longer than a reply may
take (the daemon's watchdog), when the venue no longer lists it open after a
reconnect or restart, or when the venue refused its cancel. The adapter's
`lookup` asks the venue about the one order (by our id, its id or its nonce)
and applies what the venue says; this line retries with backoff, without a
limit on attempts, for as long as the venue gives no answer.

The order is closed without the venue's word only when the venue has said,
for longer than a request may be in flight (`grace_s`), that it does not know
the order: REJECTED "not received by the venue" if the venue never confirmed
it, EXPIRED "unknown to the venue" if it did. Both are marked as guesses, and
a later report from the venue reopens the order (Tracker.apply).

A cancel whose order the venue still shows live after the grace was lost on
the way: it is queued again. A replace whose old order is still live after the
grace did not happen: the old order goes back to what it was.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from gateway.orders.model import AWAITING_VENUE, Order, Status
from gateway.orders.tracker import Tracker
from gateway.venues.outbound import Outbound
from gateway.venues.requests import Cancel

log = logging.getLogger("gateway.resolver")

# what a look-up learned
FOUND = "found"  # the venue knows the order; what it said is applied
NOT_FOUND = "not_found"  # the venue says it does not know the order
UNDECIDED = "undecided"  # the venue cannot say yet (e.g. it lists only open orders)

_FIRST_RETRY_S = 0.2
_MAX_RETRY_S = 5.0  # an order of unknown fate matters: never ask less often than this
_AT_ONCE = 8  # look-ups in flight together, so a slow venue answers many orders per timeout


class _Entry:
    __slots__ = ("order", "why", "since", "due", "attempts", "failing")

    def __init__(self, order: Order, why: str, now: float):
        self.order = order
        self.why = why
        self.since = now  # when the order's fate became unknown (for the gauge and the grace)
        self.due = now
        self.attempts = 0
        self.failing = False  # its last look-up could not be made (the venue unreachable)


class AskedVenue(Protocol):
    """What the resolver needs of its venue's adapter (gateway/venues/base.py has the contract)."""
    tracker: Tracker
    outbound: Outbound
    log: logging.Logger

    async def lookup(self, order: Order) -> str: ...

    def fail_deferred(self, order: Order, reason: str) -> None: ...


class Resolver:
    def __init__(self, adapter: AskedVenue, *, grace_s: float):
        self._adapter = adapter
        self.grace_s = grace_s
        self._waiting: dict[str, _Entry] = {}
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self.resolved = 0  # settled by the venue's word
        self.guessed = 0  # closed on "not known to the venue" after the grace

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, order: Order) -> bool:
        return order.order_id in self._waiting

    def oldest_age_s(self) -> float:
        if not self._waiting:
            return 0.0
        return time.monotonic() - min(e.since for e in self._waiting.values())

    def waited_s(self, order: Order) -> float:
        """How long this order's fate has been unknown (0 when it is not being asked about)."""
        entry = self._waiting.get(order.order_id)
        return 0.0 if entry is None else time.monotonic() - entry.since

    def ask(self, order: Order, why: str) -> None:
        """Find out what became of this order; nothing happens twice for an order already asked about."""
        if order.order_id in self._waiting or order.queued or order.is_closed:
            return
        self._waiting[order.order_id] = _Entry(order, why, time.monotonic())
        self._adapter.log.warning("order %s: %s; asking the venue", order.order_id, why)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        elif self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        try:
            while self._waiting:
                now = time.monotonic()
                due = [e for e in self._waiting.values() if e.due <= now]
                if not due:
                    self._wake = asyncio.Event()
                    wait = min(e.due for e in self._waiting.values()) - now
                    try:
                        await asyncio.wait_for(self._wake.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
                    self._wake = None
                    continue
                for i in range(0, len(due), _AT_ONCE):
                    await asyncio.gather(*(self._one(e) for e in due[i:i + _AT_ONCE]))
        finally:
            self._task = None

    async def _one(self, entry: _Entry) -> None:
        order = entry.order
        adapter = self._adapter
        try:
            answer = await adapter.lookup(order)
        except Exception as exc:  # noqa: BLE001 - the venue unreachable or confused: ask again later
            if entry.attempts == 0 or entry.attempts % 10 == 9:
                adapter.log.warning("order %s is still unknown after %d look-ups: %s", order.order_id,
                                    entry.attempts + 1, exc)
            entry.failing = True
            self._later(entry)
            return
        now = time.monotonic()
        if entry.failing:
            # the venue answers again: whatever waited out its silence is asked now
            entry.failing = False
            for other in self._waiting.values():
                if other.failing:
                    other.due = min(other.due, now)
        past_grace = now - entry.since >= self.grace_s
        if answer == FOUND:
            if order.status is Status.PENDING_CANCEL and past_grace:
                # the venue still has it live long after our cancel: the cancel was lost
                adapter.log.warning("order %s is still live at the venue: its cancel is sent again",
                                    order.order_id)
                adapter.outbound.take(Cancel(order))
                entry.since = now
            elif order.status is Status.PENDING_REPLACE and past_grace:
                # the replace's cancel never took: the old order lives on (its new one is asked
                # about on its own)
                adapter.tracker.cancel_refused(order, "replace not done: the venue still has the order")
            if order.status not in AWAITING_VENUE:
                self._done(entry)
                self.resolved += 1
                return
        elif order.is_closed:
            self._done(entry)  # settled meanwhile (a stream event)
            return
        elif answer == NOT_FOUND and past_grace:
            before = order.status_before_pending if order.status in AWAITING_VENUE else order.status
            if before not in (None, Status.PENDING_NEW):
                # the venue confirmed it once and has forgotten it (e.g. it restarted empty)
                adapter.tracker.close_on_guess(order, Status.EXPIRED, f"unknown to the venue ({entry.why})")
            else:
                adapter.tracker.close_on_guess(order, Status.REJECTED, f"not received by the venue ({entry.why})")
            adapter.fail_deferred(order, "the venue does not know the order")
            self.guessed += 1
            self._done(entry)
            return
        self._later(entry)

    def _later(self, entry: _Entry) -> None:
        entry.due = time.monotonic() + min(_MAX_RETRY_S, _FIRST_RETRY_S * 2 ** min(entry.attempts, 10))
        entry.attempts += 1

    def _done(self, entry: _Entry) -> None:
        self._waiting.pop(entry.order.order_id, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def watch_pending(tracker, adapters) -> int:
    """Ask the venue about every order pending longer than twice its request timeout since its
    last change or send (a reply lost without an error, a stream event missed, an adapter that
    failed on the reply); returns how many were handed to a resolver."""
    now = time.time_ns()
    n = 0
    venues = {adapter.name: adapter for adapter in adapters}
    for order in tracker.awaiting():  # what is in flight, not every open order
        adapter = venues.get(order.venue)
        if adapter is None or order.queued or not order.sent_at_ns:
            continue
        limit = 2 * adapter.config.request_timeout_ms * 1_000_000
        if now - max(order.updated_ns, order.sent_at_ns) > limit and order not in adapter.resolver:
            adapter.resolver.ask(order, "no word from the venue")
            n += 1
    return n
