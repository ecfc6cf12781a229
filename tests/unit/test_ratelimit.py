import asyncio

import pytest

from gateway.net.ratelimit import RateLimited, TokenBucket, retry_after_s


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


def test_pause_after_429():
    clock = Clock()
    bucket = TokenBucket(100, 100, clock=clock)
    bucket.pause(2.0)
    clock.t += 1.9
    assert not bucket.try_take()
    clock.t += 0.2
    assert bucket.try_take()


def test_waits_in_line_then_refuses_beyond_the_bound():
    async def main():
        bucket = TokenBucket(20, 1, queue=2, max_wait_s=1.0)
        await bucket.take()
        waiters = [asyncio.ensure_future(bucket.take()) for _ in range(2)]
        await asyncio.sleep(0)
        assert bucket.waiting == 2
        with pytest.raises(RateLimited, match="2 requests already waiting"):
            await bucket.take()
        await asyncio.gather(*waiters)  # both got their turn, ~50 ms apart
        assert bucket.waiting == 0 and bucket.refused == 1

    asyncio.run(main())


def test_refuses_when_the_wait_would_be_too_long():
    async def main():
        bucket = TokenBucket(1, 1, max_wait_s=0.5)
        await bucket.take()
        with pytest.raises(RateLimited, match="next free in"):
            await bucket.take()

    asyncio.run(main())


def test_retry_after():
    assert retry_after_s({"retry-after": "3"}) == 3
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 1.0
    assert retry_after_s({}) == 1.0
