"""Strategy states on their own: what reducing lets through (counting open orders and a
group's legs, refusing a flip), a max_loss breach moving a strategy once, and the states in
the journal: written, through a compaction beside the fleet halt and the dead man's
switches, and restored. The positions book is a fake with the shared interface
(get(strategy, venue, symbol) -> .net, pnl(strategy) -> (realized, unrealized))."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from gateway.assembly import assemble
from gateway.config import RiskConfig
from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Order, OrderType, Side, Status, TimeInForce
from gateway.orders.records import RiskStateRecord
from gateway.risk import RiskLimits
from gateway.strategy_states import in_force
from gateway.validation import RequestError


@dataclass
class FakePosition:
    net: int


class FakePositions:
    def __init__(self):
        self.nets: dict[tuple[str, str, str], int] = {}
        self.pnls: dict[str, tuple[int, int]] = {}

    def get(self, strategy, venue, symbol):
        net = self.nets.get((strategy, venue, symbol))
        return None if net is None else FakePosition(net)

    def pnl(self, strategy, max_age_ns=None):
        return self.pnls.get(strategy, (0, 0))

    def strategies(self):
        return sorted({k[0] for k in self.nets} | set(self.pnls))


class Sent:
    def __init__(self):
        self.events = []

    def __call__(self, strategy, state, reason):
        self.events.append((strategy, state, reason))


def _parts(journal=None):
    parts = assemble(RiskLimits(RiskConfig()), closed_ttl_ns=10**12, journal=journal)
    parts.states.positions = FakePositions()
    parts.states.notify = Sent()
    return parts


def _order(strategy, side, qty, cid, symbol="ETH-PERP") -> Order:
    return Order("", strategy, cid, "citrex", symbol, side, OrderType.LIMIT, TimeInForce.GTC, 3000 * ONE, qty)


def _refused(fn, *args, **kwargs) -> str:
    with pytest.raises(RequestError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == "strategy_reducing"
    return exc.value.message


def test_reducing_takes_only_what_makes_the_position_smaller_counting_open_orders():
    parts = _parts()
    states = parts.states
    states.positions.nets[("s", "citrex", "ETH-PERP")] = 5 * ONE // 100  # long 0.05
    states.set("s", "reducing", "desk says so")
    sell = lambda q, cid: _order("s", Side.SELL, q, cid)  # noqa: E731
    # a buy adds to a long position
    assert "adds to its long position 0.05" in _refused(states.check_orders, "s", [_order("s", Side.BUY, ONE // 100, "b")])
    # the whole position may go, no more: a sell past zero would flip it (refused, not trimmed)
    states.check_orders("s", [sell(5 * ONE // 100, "all")])
    assert "would flip" in _refused(states.check_orders, "s", [sell(6 * ONE // 100, "flip")])
    # an open sell counts: 0.03 working leaves 0.02
    resting = parts.tracker.track(sell(3 * ONE // 100, "resting"))
    parts.tracker.apply(resting, Status.OPEN)
    message = _refused(states.check_orders, "s", [sell(3 * ONE // 100, "more")])
    assert "open sells 0.03" in message and "at most 0.02 more" in message
    states.check_orders("s", [sell(2 * ONE // 100, "fits")])
    # a group's legs count each other
    _refused(states.check_orders, "s", [sell(ONE // 100, "l1"), sell(2 * ONE // 100, "l2")])
    # a replace of the resting sell takes its place (unless both may work)
    states.check_orders("s", [sell(5 * ONE // 100, "r")], resting)
    _refused(states.check_orders, "s", [sell(5 * ONE // 100, "r")], None)
    # a modify: the order as it would be
    states.check_amendment(resting, 5 * ONE // 100)
    _refused(states.check_amendment, resting, 6 * ONE // 100)
    # no position: nothing reduces; another symbol is its own position
    assert "no position" in _refused(states.check_orders, "s",
                                     [_order("s", Side.SELL, ONE // 100, "other", symbol="BTC-PERP")])
    # other strategies and active ones are not looked at
    states.check_orders("t", [_order("t", Side.BUY, 100 * ONE, "t1")])


def test_reducing_a_short_takes_buys_and_without_a_positions_book_refuses_all():
    parts = _parts()
    states = parts.states
    states.positions.nets[("s", "citrex", "ETH-PERP")] = -2 * ONE
    states.set("s", "reducing", None)
    states.check_orders("s", [_order("s", Side.BUY, 2 * ONE, "b")])
    assert "adds to its short position -2" in _refused(states.check_orders, "s", [_order("s", Side.SELL, 1, "s")])
    states.positions = None
    assert "positions are not known" in _refused(states.check_orders, "s", [_order("s", Side.BUY, 1, "b")])


def test_halted_refuses_new_work_and_set_validates_and_tells_the_strategy():
    parts = _parts()
    states, sent = parts.states, parts.states.notify
    parts.gate.check_new_work("s")
    assert states.set("s", "halted", "fat finger") == "active"
    with pytest.raises(RequestError) as exc:
        parts.gate.check_new_work("s")
    assert exc.value.code == "strategy_halted" and "fat finger" in exc.value.message
    parts.gate.check_new_work("other")
    states.set("s", "halted", "still")  # the same state: no event, no count
    assert sent.events == [("s", "halted", "fat finger")]
    assert parts.metrics.state_changes == {("s", "halted", "operator"): 1}
    for bad in (("s", "stopped"), ("bad name!", "halted")):
        with pytest.raises(RequestError) as exc:
            states.set(*bad, None)
        assert exc.value.code == "bad_field"
    assert states.set("s", "active", "ok again") == "halted"
    parts.gate.check_new_work("s")
    assert sent.events[-1] == ("s", "active", "ok again") and not states.limited


def test_max_loss_moves_a_strategy_once_never_to_a_looser_state():
    parts = _parts()
    states, sent = parts.states, parts.states.notify
    states.configure(RiskConfig(max_loss="500"))
    pnls = states.positions.pnls
    pnls["loser"] = (-400 * ONE, -100 * ONE)  # exactly -500: not below
    pnls["winner"] = (900 * ONE, -1000 * ONE)  # -100
    states.check_max_loss()
    assert sent.events == [] and not states.breached
    pnls["loser"] = (-400 * ONE, -100 * ONE - 1)
    states.check_max_loss()
    states.check_max_loss()  # once
    assert sent.events == [("loser", "reducing", "max_loss: PnL -500.000000000000000001 is below -500")]
    assert parts.metrics.max_loss_breaches == {"loser": 1}
    assert parts.metrics.state_changes == {("loser", "reducing", "max_loss"): 1}
    # an operator lets it trade again: the same breach does not move it back
    states.set("loser", "active", "looked at it")
    states.check_max_loss()
    assert states.state("loser") == "active"
    # back above the limit, then below again: a new breach
    pnls["loser"] = (0, 0)
    states.check_max_loss()
    pnls["loser"] = (-501 * ONE, 0)
    states.check_max_loss()
    assert states.state("loser") == "reducing" and parts.metrics.max_loss_breaches == {"loser": 2}
    # halted stays halted (on_max_loss reducing is looser), the breach is counted
    states.set("stopped", "halted", "desk")
    pnls["stopped"] = (-600 * ONE, 0)
    states.check_max_loss()
    assert states.state("stopped") == "halted" and "stopped" in states.breached
    # on_max_loss = halted
    states.configure(RiskConfig(max_loss="50", on_max_loss="halted"))
    states.check_max_loss()
    assert states.state("winner") == "halted"


def test_a_fill_is_checked_at_once():
    parts = _parts()
    states = parts.states
    states.configure(RiskConfig(max_loss="10"))
    states.positions.pnls["s"] = (-11 * ONE, 0)
    order = parts.tracker.track(_order("s", Side.BUY, ONE, "o"))
    parts.tracker.apply(order, Status.OPEN)
    assert states.state("s") == "active"  # no fill: not looked at
    from gateway.orders.model import Fill

    parts.tracker.apply(order, Status.FILLED, fills=[Fill("t1", 3000 * ONE, ONE, time.time_ns())])
    assert states.state("s") == "reducing"


def _state(path) -> list:
    state: list = []
    replay(Journal(str(path)).read(), state)
    return state


def test_states_halt_and_switches_survive_a_compaction_and_a_restart(tmp_path):
    """The fleet halt and an armed dead man's switch still survive, beside the states."""
    async def go():
        journal = Journal(str(tmp_path / "j"))
        journal.open([])
        parts = _parts(journal)
        states = parts.states
        states.set("h", "halted", "desk")
        states.set("r", "reducing", "limits")
        states.set("gone", "halted", "x")
        states.set("gone", "active", "y")
        states.configure(RiskConfig(max_loss="1"))
        states.positions.pnls["b"] = (-2 * ONE, 0)
        states.check_max_loss(["b"])
        states.set("b", "active", "operator override")  # active, but its breach holds
        parts.sessions.switches.arm("sw", 3000, time.perf_counter_ns())
        parts.gate.halt("fleet")
        await journal.compact([], head=parts.gateway_state())
        journal.close()
        state = _state(tmp_path / "j")
        restored = _parts()
        restored.restore_states(state)  # at once, as the daemon does after the replay
        restored.restore_gateway_state(state)  # a switch is armed on the loop
        armed = set(restored.sessions.switches.armed)
        restored.sessions.switches.disarm("sw")
        return state, restored, armed

    state, restored, armed = asyncio.run(go())
    kinds = sorted((type(r).__name__, getattr(r, "strategy", None)) for r in state)
    assert kinds == [("HaltRecord", None), ("RiskStateRecord", "b"), ("RiskStateRecord", "h"),
                     ("RiskStateRecord", "r"), ("SwitchRecord", "sw")]
    st = restored.states
    assert {s: (e.state, e.reason) for s, e in st.limited.items()} == {"h": ("halted", "desk"),
                                                                      "r": ("reducing", "limits")}
    assert st.breached == {"b"} and st.state("b") == "active"
    assert restored.gate.halted == "fleet"
    assert armed == {"sw"}


def test_in_force_keeps_each_strategys_last_record_unless_plain_active():
    records = [RiskStateRecord("a", "halted", "x", "operator", 1), RiskStateRecord("a", "active", None, "operator", 2),
               RiskStateRecord("b", "reducing", "y", "max_loss", 3, True),
               RiskStateRecord("c", "active", None, "operator", 4, True)]
    assert [(r.strategy, r.state) for r in in_force(records)] == [("b", "reducing"), ("c", "active")]


def test_a_client_skips_an_event_op_it_does_not_know():
    """A gateway newer than its client may send an event the client has no type for (as
    `risk_state` is to a client built before it): skipped, the rest of the bytes read."""
    import msgspec

    from gateway._core.framing import encode_frame
    from gateway.ipc import frames as f
    from gateway.ipc.client import GatewayClient, _Protocol

    client = GatewayClient("/nowhere", strategy="s")
    proto = _Protocol(client)
    proto.data_received(encode_frame(msgspec.msgpack.encode({"op": "some_future_event", "x": 1}))
                        + encode_frame(f.encoder.encode(f.RiskState(strategy="s", state="halted", reason="r"))))
    assert client._events.get_nowait() == f.RiskState(strategy="s", state="halted", reason="r")
    with pytest.raises(msgspec.ValidationError):  # a known op with a bad field is still an error
        proto.data_received(encode_frame(msgspec.msgpack.encode({"op": "risk_state", "strategy": 1})))


def test_a_position_restored_without_its_orders_is_watched_for_max_loss_at_once():
    """After a restart whose journal kept a strategy's position but not its filled orders (purged,
    compacted): no new fill is needed for its max_loss to be watched."""
    parts = _parts()
    states = parts.states
    states.configure(RiskConfig(max_loss="100"))
    states.positions.nets[("old", "citrex", "ETH-PERP")] = 10 * ONE
    states.positions.pnls["old"] = (0, -500 * ONE)  # the reference fell: -500 unrealized
    states.restore([])
    states.check_max_loss()
    assert states.state("old") == "reducing" and "old" in states.breached
