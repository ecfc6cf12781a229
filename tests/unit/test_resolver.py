"""The resolver's rules, against a scripted venue: ask until answered, close only after the
venue has said 'unknown' for longer than the grace, send a lost cancel again, undo a replace
that never happened."""
from __future__ import annotations

import asyncio
import logging
import time

from gateway.orders.model import ONE, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.metrics import Metrics
from gateway.net.ratelimit import TokenBucket
from gateway.venues.resolver import FOUND, NOT_FOUND, Resolver, lookup_each
from tests.unit.test_tracker import Listener


class Venue:
    """What the resolver needs of an adapter; lookup answers from a script (asked order by order,
    as the base's lookup_many does)."""
    name = "v"
    limiter = None  # the outbound line's (this object plays it): no rate limit

    def __init__(self, tracker, answers):
        self.metrics = Metrics()
        self.tracker = tracker
        self.answers = answers  # order_id -> list of answers (an Exception is raised)
        self.asked = []
        self.submitted = []
        self.log = logging.getLogger("test.venue")
        self.outbound = self
        self.resolver = Resolver(self, grace_s=0.3)

    async def lookup(self, order):
        self.asked.append(order.order_id)
        script = self.answers[order.order_id]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(order)
        return answer

    def lookup_many(self, orders):
        return lookup_each(self, orders)

    def take(self, request):
        self.submitted.append((type(request).__name__, request.order.order_id))

    def fail_deferred(self, order, reason):
        pass


def new(tracker, cid):
    order = tracker.new_order(strategy="s", client_order_id=cid, venue="v", symbol="X", side=Side.BUY,
                              type=OrderType.LIMIT, tif=TimeInForce.GTC, price=100 * ONE, quantity=ONE)
    tracker.journal_sent(order)
    return order


async def until(predicate, timeout_s=10):
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached")


def test_asks_through_errors_and_closes_only_after_the_grace():
    async def main():
        tracker = Tracker(Listener())
        never, forgotten, found = new(tracker, "never"), new(tracker, "forgotten"), new(tracker, "found")
        tracker.apply(forgotten, Status.OPEN)  # the venue confirmed it once
        tracker.bind_venue_id(forgotten, "V1")

        def opened(order):
            tracker.apply(order, Status.OPEN)
            return FOUND

        venue = Venue(tracker, {never.order_id: [TimeoutError("no reply"), TimeoutError("no reply"), NOT_FOUND],
                                forgotten.order_id: [NOT_FOUND],
                                found.order_id: [ConnectionError("down"), opened]})
        for order in (never, forgotten, found):
            venue.resolver.ask(order, "reply lost")
        assert len(venue.resolver) == 3
        await until(lambda: len(venue.resolver) == 0)
        assert never.status is Status.REJECTED and never.guessed and "not received by the venue" in never.reason
        assert forgotten.status is Status.EXPIRED and forgotten.reason.startswith("unknown to the venue")
        assert found.status is Status.OPEN and not found.guessed
        assert venue.asked.count(never.order_id) >= 3  # asked through the errors, until answered
        # with backoff: one order's answer does not set the others asking in a loop
        assert len(venue.asked) < 20, venue.asked
        assert venue.resolver.guessed == 2 and venue.resolver.resolved == 1

    asyncio.run(main())


def test_a_lost_cancel_is_sent_again_and_a_replace_that_never_happened_is_undone():
    async def main():
        tracker = Tracker(Listener())
        canceling, replacing = new(tracker, "c"), new(tracker, "r")
        for order in (canceling, replacing):
            tracker.apply(order, Status.OPEN)
        tracker.mark_pending(canceling, Status.PENDING_CANCEL)
        tracker.mark_pending(replacing, Status.PENDING_REPLACE)
        venue = Venue(tracker, {canceling.order_id: [FOUND], replacing.order_id: [FOUND]})
        venue.resolver.ask(canceling, "cancel reply lost")
        venue.resolver.ask(replacing, "replace reply lost")
        await until(lambda: venue.submitted and replacing.status is Status.OPEN)
        assert venue.submitted[0] == ("Cancel", canceling.order_id)
        assert canceling.status is Status.PENDING_CANCEL and canceling in venue.resolver  # still asked
        await venue.resolver.stop()

    asyncio.run(main())


class ListingVenue(Venue):
    """A venue that answers a round from one listing: lookup_many is called once per round."""

    def __init__(self, tracker, listing):
        super().__init__(tracker, {})
        self.listing = listing  # order_id -> answer; a missing order is NOT_FOUND
        self.calls = []
        self.fail_after = None  # raise after this many answers (the listing broke off)

    async def lookup_many(self, orders):
        self.calls.append(len(orders))
        for n, order in enumerate(orders):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("listing broke off")
            answer = self.listing.get(order.order_id, NOT_FOUND)
            yield order, answer(order) if callable(answer) else answer


def test_one_round_asks_about_every_due_order_at_once():
    async def main():
        tracker = Tracker(Listener())
        orders = [new(tracker, f"o{i}") for i in range(1000)]

        def opened(order):
            tracker.apply(order, Status.OPEN)
            return FOUND

        venue = ListingVenue(tracker, {o.order_id: opened for o in orders[:900]})
        for order in orders:
            venue.resolver.ask(order, "reply lost")
        await until(lambda: all(o.status is Status.OPEN for o in orders[:900]))
        assert venue.calls[0] == 1000 and venue.resolver.rounds == 1  # one listing for all of them
        assert venue.resolver.resolved == 900
        # the other hundred: NOT_FOUND, believed only after the grace, then closed on a guess
        assert all(o.status is Status.PENDING_NEW for o in orders[900:])
        await until(lambda: len(venue.resolver) == 0)
        assert all(o.status is Status.REJECTED and o.guessed for o in orders[900:])
        assert len(venue.calls) < 10  # a few rounds through the grace, never one per order

    asyncio.run(main())


def test_failing_look_ups_mark_the_venue_failing_until_one_is_answered():
    async def main():
        tracker = Tracker(Listener())
        order = new(tracker, "a")
        venue = ListingVenue(tracker, {order.order_id: FOUND})
        venue.fail_after = 0
        venue.resolver.ask(order, "reply lost")
        await until(lambda: venue.resolver.failing is not None)
        assert "listing broke off" in venue.resolver.failing
        assert venue.metrics.venue_errors[("v", "lookup")] >= 1
        assert order in venue.resolver and order.status is Status.PENDING_NEW  # nothing guessed
        venue.fail_after = None

        def opened(o):
            tracker.apply(o, Status.OPEN)
            return FOUND

        venue.listing[order.order_id] = opened
        await until(lambda: venue.resolver.failing is None and len(venue.resolver) == 0)
        assert order.status is Status.OPEN and venue.resolver.resolved == 1

    asyncio.run(main())


def test_a_listing_that_breaks_off_settles_what_it_said_and_asks_again_about_the_rest():
    async def main():
        tracker = Tracker(Listener())
        orders = [new(tracker, f"o{i}") for i in range(10)]

        def opened(order):
            tracker.apply(order, Status.OPEN)
            return FOUND

        venue = ListingVenue(tracker, {o.order_id: opened for o in orders})
        venue.fail_after = 4
        for order in orders:
            venue.resolver.ask(order, "reply lost")
        await until(lambda: venue.resolver.failing is not None)
        assert [o.status for o in orders[:4]] == [Status.OPEN] * 4
        assert all(o.status is Status.PENDING_NEW and o in venue.resolver for o in orders[4:])
        venue.fail_after = None
        await until(lambda: len(venue.resolver) == 0)
        assert all(o.status is Status.OPEN for o in orders) and venue.resolver.guessed == 0

    asyncio.run(main())


def test_per_order_look_ups_keep_to_their_share_of_the_rate_limit():
    async def main():
        tracker = Tracker(Listener())
        orders = [new(tracker, f"o{i}") for i in range(12)]
        venue = Venue.__new__(Venue)
        # the venue allows 20 requests/s (burst 2): look-ups may take half of it
        venue.limiter = TokenBucket(20, 2)
        paid = []

        async def pay(weight=1):
            while not venue.limiter.try_take(weight):
                await asyncio.sleep(0.001)
            paid.append(time.monotonic())

        venue.pay = pay
        Venue.__init__(venue, tracker, {o.order_id: [FOUND] for o in orders})
        for order in orders:
            tracker.apply(order, Status.OPEN)
            venue.resolver.ask(order, "stream gap")
        await until(lambda: len(venue.resolver) == 0)
        assert len(paid) == 12  # every look-up paid for its request, from the venue's own bucket
        span = paid[-1] - paid[0]
        # 12 look-ups at 10/s (burst 1): 1.1 s at least, where 8 at once went in a moment before
        assert span >= 1.0, span

    asyncio.run(main())
