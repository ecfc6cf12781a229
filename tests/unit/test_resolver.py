"""The resolver's rules, against a scripted venue: ask until answered, close only after the
venue has said 'unknown' for longer than the grace, send a lost cancel again, undo a replace
that never happened."""
from __future__ import annotations

import asyncio
import logging

from gateway.orders.model import ONE, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.resolver import FOUND, NOT_FOUND, Resolver
from tests.unit.test_tracker import Listener


class Venue:
    """What the resolver needs of an adapter; lookup answers from a script."""

    def __init__(self, tracker, answers):
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
