"""Token bucket per venue, with a bounded wait line.

A request takes `weight` tokens (Citrex's cancel-and-replace weighs 2). When
the bucket is short the request waits its turn, if fewer than `queue` others
already wait and its turn comes within `max_wait_s`; otherwise it is refused
at once with a reason the strategy sees. A 429 from the venue empties the
bucket until its Retry-After has passed, so a reconnect or a burst cannot
keep hammering a venue that has said stop.
"""
from __future__ import annotations

import asyncio
import time


class RateLimited(Exception):
    """Refused before sending: the venue never saw the request."""


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float, *, queue: int = 100, max_wait_s: float = 1.0,
                 clock=time.monotonic):
        if rate_per_s <= 0 or burst <= 0:
            raise ValueError("rate_per_s and burst must be above zero")
        self.rate = rate_per_s
        self.burst = burst
        self.queue = queue
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()
        self._paused_until = 0.0
        self.waiting = 0
        self.refused = 0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _wait_for(self, weight: float, now: float) -> float:
        self._refill(now)
        pause = max(0.0, self._paused_until - now)
        short = max(0.0, weight - self._tokens)
        return max(pause, short / self.rate)

    def projected_wait(self, weight: float) -> float:
        """Seconds until `weight` tokens are there (what already waits in line plus a newcomer)."""
        return self._wait_for(weight, self._clock())

    def try_take(self, weight: float = 1) -> bool:
        now = self._clock()
        if self._wait_for(weight, now) > 0 or self.waiting:
            return False
        self._tokens -= weight
        return True

    async def take(self, weight: float = 1) -> None:
        """Take tokens, waiting in line when allowed; RateLimited when not."""
        if self.try_take(weight):
            return
        wait = self._wait_for(weight, self._clock())
        if self.waiting >= self.queue or wait > self.max_wait_s:
            self.refused += 1
            raise RateLimited(
                f"over the venue's rate limit ({self.rate:g}/s, burst {self.burst:g}): "
                f"{self.waiting} requests already waiting, next free in {wait * 1000:.0f} ms"
            )
        self.waiting += 1
        try:
            while True:
                await asyncio.sleep(wait)
                now = self._clock()
                wait = self._wait_for(weight, now)
                if wait <= 0:
                    self._tokens -= weight
                    return
        finally:
            self.waiting -= 1

    def pause(self, seconds: float) -> None:
        """The venue said 429: no tokens until Retry-After has passed."""
        now = self._clock()
        self._refill(now)
        self._tokens = 0.0
        self._paused_until = max(self._paused_until, now + seconds)


def retry_after_s(headers: dict[str, str], default: float = 1.0) -> float:
    """Retry-After in seconds (the delta form; an HTTP date is rare from APIs: default then)."""
    value = headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
