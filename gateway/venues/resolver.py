"""Orders whose fate at the venue we do not know, asked about until the venue answers.

An order lands here when its reply was lost (timeout, broken connection), when
it has been pending with no word from the venue for longer than a reply may
take (the daemon's watchdog), when the venue no longer lists it open after a
reconnect or restart, or when the venue refused its cancel. Every order due to
be asked goes to the adapter's `lookup_many` in one round: a venue that lists
the account's orders answers them all from one listing (Citrex, Bluefin); the
base's default asks order by order (`lookup`), a few at a time, each look-up
paying for its request from the look-ups' share of the venue's rate limit
(`pay`). What the venue says is applied by the adapter; this line retries with
backoff, without a limit on attempts, for as long as the venue gives no answer.

The order is closed without the venue's word only when the venue has said,
for longer than a request may be in flight (`grace_s`), that it does not know
the order: REJECTED "not received by the venue" if the venue never confirmed
it, EXPIRED "unknown to the venue" if it did. Both are marked as guesses, and
a later report from the venue reopens the order (Tracker.apply).

A cancel whose order the venue still shows live after the grace was lost on
the way: it is queued again. A replace whose old order is still live after the
grace did not happen: the old order goes back to what it was.

A look-up that could not be made counts against the venue's health: from then
until one is answered, `failing` says why, and the adapter reports the venue
down (`connected`: `gateway status`, gateway_venue_connected). Thousands of
answers are applied in slices of the loop (`LoopSlices`), so strategies' pings
and places are served while they are.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from gateway.net.ratelimit import TokenBucket
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
LOOKUPS_AT_ONCE = 8  # per-order look-ups in flight together, so a slow venue answers many per timeout
# the most of a venue's rate limit look-ups may take: order entry keeps the rest
LOOKUP_SHARE = 0.5
SLICE_S = 0.004  # the longest stretch of look-up work between two turns of the loop
# orders asked about in one turn of the loop that get a log line each (a burst cut off, the
# watchdog's sweep: thousands at once); the rest are said in one line, counted by reason
SAID_PER_TURN = 20

# one look-up's answer: FOUND, NOT_FOUND, UNDECIDED, or the exception that kept it from being made
Answer = str | BaseException


class LoopSlices:
    """Long work on the loop, in slices: `await slices.turn()` between two pieces of it gives
    the loop a turn (strategies' pings, places, the venue's stream) once the slice has run for
    `budget_s`; before that it costs a clock read."""
    __slots__ = ("_budget", "_since")

    def __init__(self, budget_s: float = SLICE_S):
        self._budget = budget_s
        self._since = time.perf_counter()

    async def turn(self) -> None:
        if time.perf_counter() - self._since >= self._budget:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


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
    name: str
    tracker: Tracker
    outbound: Outbound
    metrics: object  # gateway.metrics.Metrics: venue_error()
    log: logging.Logger
    resolver: Resolver

    async def lookup(self, order: Order) -> str: ...

    def lookup_many(self, orders: Sequence[Order]) -> AsyncIterator[tuple[Order, Answer]]: ...

    def fail_deferred(self, order: Order, reason: str) -> None: ...


async def lookup_each(venue: AskedVenue, orders: Sequence[Order]) -> AsyncIterator[tuple[Order, Answer]]:
    """lookup_many for a venue that is asked order by order: LOOKUPS_AT_ONCE look-ups in flight
    together, each paying for its request first (Resolver.pay); yields each order's answer, or
    the exception its look-up raised."""
    resolver = venue.resolver

    async def one(order: Order) -> str:
        await resolver.pay()
        return await venue.lookup(order)

    for i in range(0, len(orders), LOOKUPS_AT_ONCE):
        some = orders[i:i + LOOKUPS_AT_ONCE]
        answers = await asyncio.gather(*(one(order) for order in some), return_exceptions=True)
        for order, answer in zip(some, answers):
            yield order, answer


class Resolver:
    def __init__(self, adapter: AskedVenue, *, grace_s: float):
        self._adapter = adapter
        self.grace_s = grace_s
        self._waiting: dict[str, _Entry] = {}
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self.resolved = 0  # settled by the venue's word
        self.guessed = 0  # closed on "not known to the venue" after the grace
        self.rounds = 0  # calls of the adapter's lookup_many
        # why the venue's look-ups fail, from the first that could not be made until one is answered
        self.failing: str | None = None
        self._failed_rounds = 0
        self._said = 0  # orders asked about this turn of the loop, each said in the log
        self._unsaid: collections.Counter[str] = collections.Counter()  # why -> orders beyond those
        limiter = adapter.outbound.limiter
        self._share = None if limiter is None else TokenBucket(
            limiter.rate * LOOKUP_SHARE, max(1.0, limiter.burst * LOOKUP_SHARE))

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
        if self._said < SAID_PER_TURN:
            if not self._said:
                asyncio.get_running_loop().call_soon(self._say_the_rest)
            self._said += 1
            self._adapter.log.warning("order %s: %s; asking the venue", order.order_id, why)
        else:
            self._unsaid[why] += 1
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        elif self._wake is not None:
            self._wake.set()

    def _say_the_rest(self) -> None:
        unsaid, self._unsaid, self._said = self._unsaid, collections.Counter(), 0
        if unsaid:
            reasons = "; ".join(f"{why}: {n}" for why, n in unsaid.most_common(3))
            more = len(unsaid) - 3
            self._adapter.log.warning("%d more orders of unknown fate (%s%s); asking the venue", unsaid.total(),
                                      reasons, f"; {more} other reasons" if more > 0 else "")

    async def pay(self, weight: float = 1) -> None:
        """A look-up request's tokens, taken before it is sent: from the look-ups' share of the
        venue's rate limit (LOOKUP_SHARE of its rate), then from the venue's own bucket, so the
        gateway as a whole stays within the venue's limit and order entry keeps the rest."""
        share = self._share
        if share is None:
            return
        while not share.try_take(weight):
            await asyncio.sleep(max(share.wait_to_take(weight), 0.001))
        await self._adapter.outbound.pay(weight)

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
                due.sort(key=lambda e: e.due)  # the longest due first: a per-order venue's round is long
                await self._round(due)
        finally:
            self._task = None

    async def _round(self, due: list[_Entry]) -> None:
        """Ask the venue about every due order at once; settle each as its answer comes."""
        adapter = self._adapter
        unanswered = {e.order.order_id: e for e in due}
        slices = LoopSlices()
        # each failed request counted once, however many orders it would have answered (kept by id,
        # and alive, so an id is not reused within the round)
        failures: dict[int, BaseException] = {}
        self.rounds += 1
        try:
            async with contextlib.aclosing(adapter.lookup_many([e.order for e in due])) as answers:
                async for order, answer in answers:
                    entry = unanswered.pop(order.order_id, None)
                    if entry is None:
                        pass
                    elif isinstance(answer, BaseException):
                        if id(answer) not in failures:
                            failures[id(answer)] = answer
                            self._lookup_failed(answer)
                        self._not_asked(entry, answer)
                    else:
                        self._settle(entry, answer)
                    await slices.turn()
        except Exception as exc:  # noqa: BLE001 - the venue unreachable or confused: ask again later
            failed, unanswered = list(unanswered.values()), {}
            self._lookup_failed(exc)  # one request (a listing) failed, however many it would answer
            for entry in failed:
                self._not_asked(entry, exc)
                await slices.turn()
        for entry in unanswered.values():  # the venue said nothing of it: asked again
            self._later(entry)
        if self.failing is not None and self._waiting:
            self._failed_rounds += 1
            if self._failed_rounds % 10 == 1:
                adapter.log.warning("%d orders still of unknown fate; the venue's look-ups fail: %s",
                                    len(self._waiting), self.failing)

    def _lookup_failed(self, exc: BaseException) -> None:
        """A look-up request could not be made: counted, and the venue is down until one is answered."""
        adapter = self._adapter
        if self.failing is None:
            adapter.log.error("look-ups fail (%s): the venue is reported down until one is answered", exc)
            self._failed_rounds = 0
        self.failing = str(exc) or type(exc).__name__
        adapter.metrics.venue_error(adapter.name, "lookup")

    def _not_asked(self, entry: _Entry, exc: BaseException) -> None:
        if entry.attempts == 0 or entry.attempts % 10 == 9:
            self._adapter.log.debug("order %s is still unknown after %d look-ups: %s", entry.order.order_id,
                                    entry.attempts + 1, exc)
        entry.failing = True
        self._later(entry)

    def _answered(self) -> None:
        """The venue answers look-ups again: whatever waited out its silence is asked now."""
        self.failing = None
        now = time.monotonic()
        for other in self._waiting.values():
            if other.failing:
                other.failing = False
                other.due = min(other.due, now)
        self._adapter.log.info("the venue answers look-ups again")

    def _settle(self, entry: _Entry, answer: str) -> None:
        """What the venue said of the order: FOUND, NOT_FOUND or UNDECIDED."""
        entry.failing = False
        if self.failing is not None:
            self._answered()
        order = entry.order
        adapter = self._adapter
        now = time.monotonic()
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
