"""Dead man's switches (`cancel_all_after`): per strategy, a timeout that any request of the
strategy pushes back; when it runs out, the strategy's open orders are canceled."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.ipc import frames as f

log = logging.getLogger("gateway.router")

MAX_TIMEOUT_MS = 86_400_000  # a day


class _Switch:
    """Requests only move last_ns (no timer work on the request path); the one timer, when it
    comes due, sleeps again until last_ns + timeout if a request came meanwhile."""
    __slots__ = ("timeout_ns", "last_ns", "timer")

    def __init__(self, timeout_ns: int, last_ns: int):
        self.timeout_ns = timeout_ns
        self.last_ns = last_ns
        self.timer: asyncio.TimerHandle | None = None


class Switches:
    """The armed switches; `fire(strategy, timeout_ms)` is called when one runs out."""

    def __init__(self, fire: Callable[[str, int], None]):
        self._fire = fire
        self.armed: dict[str, _Switch] = {}  # strategy -> its switch

    def arm(self, strategy: str, timeout_ms: int, now_ns: int) -> None:
        """timeout_ms 0 disarms; any earlier switch of the strategy is replaced."""
        self.disarm(strategy)
        if timeout_ms:
            switch = self.armed[strategy] = _Switch(timeout_ms * 1_000_000, now_ns)
            switch.timer = asyncio.get_running_loop().call_later(timeout_ms / 1000, self._due, strategy, switch)
            log.info("strategy %s armed cancel_all_after %d ms", strategy, timeout_ms)

    def disarm(self, strategy: str) -> None:
        switch = self.armed.pop(strategy, None)
        if switch is not None and switch.timer is not None:
            switch.timer.cancel()

    def touch(self, strategy: str | None, now_ns: int) -> None:
        """A request of the strategy: its switch starts over."""
        switch = self.armed.get(strategy)
        if switch is not None:
            switch.last_ns = now_ns

    def _due(self, strategy: str, switch: _Switch) -> None:
        if self.armed.get(strategy) is not switch:
            return
        left_ns = switch.last_ns + switch.timeout_ns - time.perf_counter_ns()
        if left_ns > 0:  # a request came since: sleep until its timeout
            switch.timer = asyncio.get_running_loop().call_later(left_ns / 1e9, self._due, strategy, switch)
            return
        del self.armed[strategy]
        self._fire(strategy, switch.timeout_ns // 1_000_000)

    def status(self, now_ns: int) -> list[f.SwitchStatus]:
        return [f.SwitchStatus(strategy=name, timeout_ms=sw.timeout_ns // 1_000_000,
                               fires_in_ms=max(0, (sw.last_ns + sw.timeout_ns - now_ns) // 1_000_000))
                for name, sw in sorted(self.armed.items())]
