"""Logging for a service: one line per event, and floods held back.

A venue that answers every order with the same error must not fill the
journal: each (logger, message template) may log `burst` lines per
`window_s`; the rest are counted, and the next line of that kind that passes
says how many were held back.
"""
from __future__ import annotations

import logging
import sys
import time


class OneLineFormatter(logging.Formatter):
    """`time level logger: message`, tracebacks folded onto the same line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace("\r", "").replace("\n", " | ")


class RateLimit(logging.Filter):
    def __init__(self, burst: int = 20, window_s: float = 10.0, clock=time.monotonic):
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, str], list] = {}  # key -> [window start, passed, held]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self.window_s:
            held = state[2] if state else 0
            state = self._seen[key] = [now, 0, 0]
            if held:
                record.msg = f"({held} more like this held back) {record.msg}"
        if state[1] >= self.burst:
            state[2] += 1
            return False
        state[1] += 1
        if len(self._seen) > 10_000:  # templates are few; ids in messages must not grow this forever
            self._seen.clear()
        return True


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # picows logs every connection at INFO; our own lines say what matters
    logging.getLogger("picows").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
