"""Token bucket per venue.

A request takes `weight` tokens (gateway/venues/requests.py says each kind's). The bucket
itself never waits: its venue's line (gateway/venues/outbound.py) owns it,
admits a request only while fewer than `queue` wait and its turn comes within
`max_wait_s` (otherwise the strategy is refused at once, with a reason), and
takes the tokens when the request leaves. A 429 from the venue empties the
bucket until its Retry-After has passed, so a reconnect or a burst cannot
keep hammering a venue that has said stop.
"""
from __future__ import annotations

import time


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
        self.refused = 0  # requests the line refused for this limit

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _wait_for(self, weight: float, now: float) -> float:
        self._refill(now)
        pause = max(0.0, self._paused_until - now)
        short = max(0.0, weight - self._tokens)
        return max(pause, short / self.rate)

    def projected_wait(self, weight: float) -> float:
        """Seconds until `weight` tokens have come in (what already waits in line plus a newcomer)."""
        return self._wait_for(weight, self._clock())

    def wait_to_take(self, weight: float = 1) -> float:
        """Seconds until try_take(weight) would take. A request heavier than the bucket holds
        goes on a full bucket and leaves it in debt: waiting for more would wait forever."""
        return self._wait_for(min(weight, self.burst), self._clock())

    def try_take(self, weight: float = 1) -> bool:
        """Take `weight` tokens if they are there now; never waits."""
        if self.wait_to_take(weight) > 0:
            return False
        self._tokens -= weight
        return True

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
