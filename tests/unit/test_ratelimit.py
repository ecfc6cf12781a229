import asyncio

import pytest

from gateway.net.ratelimit import TokenBucket, retry_after_s
from gateway.venues.outbound import Outbound, QueueRefused
from gateway.venues.requests import Place
from tests.unit.test_outbound import Venue, new_order


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


def test_burst_then_refill():
    clock = Clock()
    bucket = TokenBucket(5, 10, clock=clock)
    assert all(bucket.try_take() for _ in range(10))
    assert not bucket.try_take()
    clock.t += 0.2  # one token back at 5/s
    assert bucket.try_take() and not bucket.try_take()
    clock.t += 0.4
    assert bucket.try_take(2) and not bucket.try_take(1)


def test_a_request_heavier_than_the_burst_goes_on_a_full_bucket_and_leaves_a_debt():
    clock = Clock()
    bucket = TokenBucket(10, 1, clock=clock)
    assert bucket.wait_to_take(2) == 0 and bucket.projected_wait(2) == pytest.approx(0.1)
    assert bucket.try_take(2)  # never 2 tokens at once with a burst of 1: it would wait forever
    assert bucket.wait_to_take(1) == pytest.approx(0.2)  # the debt is paid before the next
    clock.t += 0.2
    assert bucket.try_take()


def test_pause_after_429():
    clock = Clock()
    bucket = TokenBucket(100, 100, clock=clock)
    bucket.pause(2.0)
    clock.t += 1.9
    assert not bucket.try_take()
    clock.t += 0.2
    assert bucket.try_take()


def test_waits_in_line_then_refuses_beyond_the_bound():
    """The venue's line is the bucket's wait line: within its bounds a request waits its turn
    there, beyond them it is refused at once."""
    async def main():
        venue = Venue()
        line = Outbound(venue, 1000, TokenBucket(20, 1, queue=2, max_wait_s=1.0))
        line.admit()
        line.submit(Place(new_order(venue.tracker, "a")))
        await line.drained()  # it took the one token
        for cid in ("b", "c"):
            line.admit()
            line.submit(Place(new_order(venue.tracker, cid)))
        assert len(line) == 2  # both wait in line
        with pytest.raises(QueueRefused, match="2 requests queued"):
            line.admit()
        await line.drained()  # both got their turn, ~50 ms apart
        assert [cid for cid, _ in venue.placed] == ["a", "b", "c"]
        (_, ta), (_, tb), (_, tc) = venue.placed
        assert tb - ta >= 0.045 and tc - tb >= 0.045
        assert len(line) == 0 and line.limiter.refused == 1

    asyncio.run(main())


def test_refuses_when_the_wait_would_be_too_long():
    async def main():
        venue = Venue()
        line = Outbound(venue, 1000, TokenBucket(1, 1, max_wait_s=0.5))
        line.admit()
        line.submit(Place(new_order(venue.tracker, "a")))
        await line.drained()
        with pytest.raises(QueueRefused, match="would leave in"):
            line.admit()

    asyncio.run(main())


def test_retry_after():
    assert retry_after_s({"retry-after": "3"}) == 3
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 1.0
    assert retry_after_s({}) == 1.0
