"""Dead man's switches (`cancel_all_after`): per strategy, a timeout that any request of the
strategy pushes back; when it runs out, the strategy's open orders are canceled.

Armed switches survive a restart: arming, disarming and firing are journaled at once, and
a switch's last request at most every second (housekeeping calls `journal_touched`), so
after a restart each switch is armed again with the time it had left, counted from the
strategy's last request the journal holds: a strategy that never comes back still has its
orders canceled, at most a second late.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from gateway.ipc import frames as f
from gateway.orders.journal import Journal
from gateway.orders.records import SwitchRecord

log = logging.getLogger("gateway.deadman")

MAX_TIMEOUT_MS = 86_400_000  # a day


class _Switch:
    """Requests only move last_ns (no timer work on the request path); the one timer, when it
    comes due, sleeps again until last_ns + timeout if a request came meanwhile."""
    __slots__ = ("timeout_ns", "last_ns", "timer", "journaled_ns")

    def __init__(self, timeout_ns: int, last_ns: int):
        self.timeout_ns = timeout_ns
        self.last_ns = last_ns  # perf_counter_ns of the strategy's last request
        self.timer: asyncio.TimerHandle | None = None
        self.journaled_ns = last_ns  # the last_ns the journal has


class Switches:
    """The armed switches; `fire(strategy, timeout_ms)` is called when one runs out."""

    def __init__(self, fire: Callable[[str, int], None], journal: Journal | None = None):
        self._fire = fire
        self.journal = journal
        self.armed: dict[str, _Switch] = {}  # strategy -> its switch

    def arm(self, strategy: str, timeout_ms: int, now_ns: int) -> None:
        """timeout_ms 0 disarms; any earlier switch of the strategy is replaced."""
        dropped = self._drop(strategy)
        if timeout_ms:
            self._start(strategy, _Switch(timeout_ms * 1_000_000, now_ns), timeout_ms / 1000)
            log.info("strategy %s armed cancel_all_after %d ms", strategy, timeout_ms)
        if timeout_ms or dropped:
            self._journal(strategy, timeout_ms, now_ns)

    def disarm(self, strategy: str) -> None:
        if self._drop(strategy):
            self._journal(strategy, 0, time.perf_counter_ns())

    def _drop(self, strategy: str) -> bool:
        switch = self.armed.pop(strategy, None)
        if switch is not None and switch.timer is not None:
            switch.timer.cancel()
        return switch is not None

    def _start(self, strategy: str, switch: _Switch, due_in_s: float) -> None:
        self.armed[strategy] = switch
        switch.timer = asyncio.get_running_loop().call_later(max(0.0, due_in_s), self._due, strategy, switch)

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
        self._journal(strategy, 0, switch.last_ns)
        self._fire(strategy, switch.timeout_ns // 1_000_000)

    # the journal

    def _journal(self, strategy: str, timeout_ms: int, last_ns: int) -> None:
        if self.journal is not None:
            self.journal.add(SwitchRecord(strategy, timeout_ms, _wall_ns(last_ns)))

    def journal_touched(self) -> None:
        """Housekeeping, about once a second: the switches whose strategy sent a request since
        the journal last heard of them."""
        for strategy, switch in self.armed.items():
            if switch.last_ns != switch.journaled_ns:
                switch.journaled_ns = switch.last_ns
                self._journal(strategy, switch.timeout_ns // 1_000_000, switch.last_ns)

    def records(self) -> list[SwitchRecord]:
        """The armed switches as journal records: what a compacted journal starts with."""
        return [SwitchRecord(s, sw.timeout_ns // 1_000_000, _wall_ns(sw.last_ns)) for s, sw in self.armed.items()]

    def restore(self, records: Iterable[SwitchRecord]) -> int:
        """After a restart: each switch armed when the last run ended is armed again with the
        time it had left (one past due fires at once). Returns how many."""
        last: dict[str, SwitchRecord] = {}
        for r in records:
            last[r.strategy] = r
        now_wall, now = time.time_ns(), time.perf_counter_ns()
        n = 0
        for strategy, r in last.items():
            if not r.timeout_ms:
                continue
            last_ns = now - max(0, now_wall - r.last_request_ns)
            switch = _Switch(r.timeout_ms * 1_000_000, last_ns)
            left_s = (last_ns + switch.timeout_ns - now) / 1e9
            self._start(strategy, switch, left_s)
            log.warning("strategy %s: cancel_all_after %d ms armed again after the restart; fires in %.1f s "
                        "unless it sends a request", strategy, r.timeout_ms, max(0.0, left_s))
            n += 1
        return n

    def status(self, now_ns: int) -> list[f.SwitchStatus]:
        return [f.SwitchStatus(strategy=name, timeout_ms=sw.timeout_ns // 1_000_000,
                               fires_in_ms=max(0, (sw.last_ns + sw.timeout_ns - now_ns) // 1_000_000))
                for name, sw in sorted(self.armed.items())]


def _wall_ns(perf_ns: int) -> int:
    """A perf_counter_ns reading as wall-clock time (what survives a restart)."""
    return time.time_ns() - (time.perf_counter_ns() - perf_ns)
