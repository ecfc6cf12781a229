"""The admission gate: the one place that says no to new work.

New orders, groups, replaces and modifies ask it before anything else;
cancels, queries and pings never do (a gateway that cannot take new orders
must still let strategies take risk off). It says no while the daemon
drains for shutdown, while fleet control halts new orders
(gateway/dropcopy/control.py), while the journal cannot write (nothing
may be acknowledged that the journal does not hold), and to a strategy that
is halted (gateway/strategy_states.py; a reducing one's orders are checked by
order entry, which knows the order).
"""
from __future__ import annotations

import logging

from collections.abc import Iterable

from gateway.orders.journal import Journal
from gateway.orders.records import HaltRecord
from gateway.validation import RequestError

log = logging.getLogger("gateway.admission")


class AdmissionGate:
    def __init__(self, journal: Journal | None = None):
        self._journal = journal
        self.draining = False
        self.halted: str | None = None  # fleet control's reason, while it halts new orders
        self.states = None  # gateway.strategy_states.StrategyStates, set when composed

    def check_new_work(self, strategy: str | None = None) -> None:
        """RequestError when new work (of this strategy) may not be taken now."""
        if self.draining:
            raise RequestError("shutting_down", "the gateway is shutting down: no new orders or changes")
        if self.halted is not None:
            raise RequestError("halted", f"new orders are halted by fleet control: {self.halted}")
        journal = self._journal
        if journal is not None and journal.failing is not None:
            raise RequestError("journal_unavailable", "the order journal cannot be written "
                               f"({journal.failing.strerror or journal.failing}): no new orders until it can")
        states = self.states
        if strategy is not None and states is not None and states.limited:
            states.check_new_work(strategy)

    def drain(self) -> None:
        self.draining = True

    def halt(self, reason: str) -> None:
        self.halted = reason
        self._journal_halt()

    def resume(self) -> str | None:
        """Lift a fleet halt; returns the reason it had (None: it was not halted)."""
        was, self.halted = self.halted, None
        self._journal_halt()
        return was

    # a fleet halt survives a restart: journaled when it changes, and in every compaction

    def _journal_halt(self) -> None:
        if self._journal is not None:
            self._journal.add(HaltRecord(self.halted))
            self._journal.flush()  # said to fleet control as done: on file first

    def records(self) -> list[HaltRecord]:
        return [] if self.halted is None else [HaltRecord(self.halted)]

    def restore(self, records: Iterable[HaltRecord]) -> None:
        for r in records:
            self.halted = r.reason
        if self.halted is not None:
            log.warning("new orders are still halted by fleet control after the restart: %s", self.halted)
