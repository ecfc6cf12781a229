"""The gateway's own state in the journal: dead man's switches and the fleet halt, as
written, as replayed, through a compaction, and armed again with the time they had left."""
from __future__ import annotations

import asyncio
import time

from gateway.assembly import assemble
from gateway.config import RiskConfig
from gateway.orders.journal import Journal, replay
from gateway.orders.records import HaltRecord, SwitchRecord
from gateway.risk import RiskLimits


def _parts(journal):
    return assemble(RiskLimits(RiskConfig()), closed_ttl_ns=10**12, journal=journal)


def _state(path) -> list:
    state: list = []
    replay(Journal(str(path)).read(), state)
    return state


def test_arming_disarming_and_halting_are_journaled_and_replayed(tmp_path):
    async def go():
        journal = Journal(str(tmp_path / "j"))
        journal.open([])
        parts = _parts(journal)
        switches = parts.sessions.switches
        switches.arm("a", 3000, time.perf_counter_ns())
        switches.arm("b", 5000, time.perf_counter_ns())
        switches.disarm("b")
        parts.gate.halt("desk")
        journal.flush()
        journal.close()
        return _state(tmp_path / "j")

    state = asyncio.run(go())
    assert [(r.strategy, r.timeout_ms) for r in state if isinstance(r, SwitchRecord)] == \
        [("a", 3000), ("b", 5000), ("b", 0)]
    assert [r.reason for r in state if isinstance(r, HaltRecord)] == ["desk"]


def test_a_compaction_keeps_what_is_in_force(tmp_path):
    async def go():
        journal = Journal(str(tmp_path / "j"))
        journal.open([])
        parts = _parts(journal)
        parts.sessions.switches.arm("a", 3000, time.perf_counter_ns())
        parts.sessions.switches.arm("gone", 3000, time.perf_counter_ns())
        parts.sessions.switches.disarm("gone")
        parts.gate.halt("desk")
        await journal.compact([], head=parts.gateway_state())
        journal.close()
        return _state(tmp_path / "j")

    state = asyncio.run(go())
    assert [(type(r).__name__, getattr(r, "strategy", None)) for r in state] == \
        [("SwitchRecord", "a"), ("HaltRecord", None)]


def test_a_switch_is_armed_again_with_the_time_it_had_left():
    async def go():
        parts = _parts(None)
        now = time.time_ns()
        parts.restore_gateway_state([
            SwitchRecord("late", 5000, now - 3 * 10**9),  # its last request 3 s ago: 2 s left
            SwitchRecord("over", 1000, now - 9 * 10**9),  # past due: fires at once
            SwitchRecord("off", 1000, now), SwitchRecord("off", 0, now),  # disarmed last: stays off
            HaltRecord("x"), HaltRecord(None),  # resumed last: not halted
        ])
        switches = {s.strategy: s.fires_in_ms for s in parts.sessions.switches.status(time.perf_counter_ns())}
        assert set(switches) == {"late", "over"} and 1800 <= switches["late"] <= 2000 and switches["over"] == 0
        assert parts.gate.halted is None
        await asyncio.sleep(0.05)
        assert set(s.strategy for s in parts.sessions.switches.status(time.perf_counter_ns())) == {"late"}
        assert parts.metrics.switches_fired == {"over": 1}

    asyncio.run(go())
