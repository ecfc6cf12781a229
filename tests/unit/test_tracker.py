"""The state machine under late, duplicate and out-of-order venue events."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.orders import fsm
from gateway.orders.model import TERMINAL, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import DuplicateOrderError, Tracker


class Listener:
    def __init__(self):
        self.updates = []
        self.rejects = []

    def order_changed(self, order, new_fills):
        self.updates.append((order.status, order.filled))

    def cancel_rejected(self, order, reason):
        self.rejects.append(reason)


class Clock:
    def __init__(self):
        self.t = 1_000

    def __call__(self):
        return self.t


def make(qty=10, clock=None):
    listener = Listener()
    tracker = Tracker(listener, now_ns=clock or Clock(), closed_ttl_ns=100)
    order = tracker.new_order(strategy="s", client_order_id="c", venue="v", symbol="X", side=Side.BUY,
                              type=OrderType.LIMIT, tif=TimeInForce.GTC, price=5, quantity=qty)
    return tracker, order, listener


def fill(tid, qty, price=5):
    return Fill(trade_id=tid, price=price, quantity=qty, ts_ns=0)


def test_fill_before_ack_then_late_open_does_not_regress():
    tracker, order, listener = make()
    tracker.apply(order, Status.FILLED, [fill("t1", 10)])
    assert order.status is Status.FILLED
    assert not tracker.apply(order, Status.OPEN)
    assert order.status is Status.FILLED and tracker.unknown_transitions == 1
    assert listener.updates == [(Status.FILLED, 10)]


def test_partial_fill_with_stale_open_report_stays_partial():
    tracker, order, _ = make()
    tracker.apply(order, Status.OPEN)
    tracker.apply(order, Status.OPEN, [fill("t1", 4)])
    assert order.status is Status.PARTIALLY_FILLED
    tracker.apply(order, Status.OPEN)
    assert order.status is Status.PARTIALLY_FILLED and order.filled == 4


def test_duplicate_trade_ids_are_booked_once():
    tracker, order, listener = make()
    tracker.apply(order, Status.OPEN, [fill("t1", 4)], channel="stream")
    assert not tracker.apply(order, Status.OPEN, [fill("t1", 4)], channel="stream")
    assert order.filled == 4 and tracker.duplicate_fills == 1
    assert order.avg_price == 5


def test_rest_reply_and_stream_sighting_of_one_trade_is_not_a_duplicate():
    tracker, order, _ = make()
    tracker.apply(order, Status.PARTIALLY_FILLED, [fill("t1", 4)], channel="rest")
    assert not tracker.apply(order, Status.PARTIALLY_FILLED, [fill("t1", 4)], channel="stream")
    # a poll or reconcile lists every trade each time (no channel): never a duplicate
    assert not tracker.apply(order, Status.PARTIALLY_FILLED, [fill("t1", 4)])
    assert order.filled == 4 and tracker.duplicate_fills == 0


def test_cumulative_update_repeating_old_trades_with_a_new_one_is_not_a_duplicate():
    tracker, order, _ = make()
    tracker.apply(order, Status.PARTIALLY_FILLED, [fill("t1", 4)], channel="stream")
    assert tracker.apply(order, Status.PARTIALLY_FILLED, [fill("t1", 4), fill("t2", 3)], channel="stream")
    assert tracker.apply(order, Status.CANCELED, [fill("t1", 4), fill("t2", 3)], channel="stream")
    assert order.filled == 7 and tracker.duplicate_fills == 0
    # the same message delivered twice brings nothing new: counted
    assert not tracker.apply(order, Status.CANCELED, [fill("t1", 4), fill("t2", 3)], channel="stream")
    assert tracker.duplicate_fills == 2


def test_one_report_holding_a_trade_twice_counts_it():
    tracker, order, _ = make()
    tracker.apply(order, None, [fill("t1", 4), fill("t1", 4)])
    assert order.filled == 4 and tracker.duplicate_fills == 1


def test_stale_reports_are_counted_apart_from_contradictions():
    tracker, order, _ = make()
    tracker.apply(order, Status.OPEN)
    assert tracker.mark_pending(order, Status.PENDING_CANCEL)
    # a poll taken before the venue saw our cancel: expected, not alarming
    assert not tracker.apply(order, Status.OPEN)
    assert not tracker.apply(order, Status.PENDING_NEW)
    assert tracker.unknown_by_reason == {"stale": 2, "contradiction": 0}
    tracker.apply(order, Status.CANCELED)
    assert not tracker.apply(order, Status.OPEN)  # an old poll after the cancel: stale too
    assert tracker.unknown_by_reason == {"stale": 3, "contradiction": 0}
    assert not tracker.apply(order, Status.REJECTED)  # canceled cannot become rejected
    assert tracker.unknown_by_reason == {"stale": 3, "contradiction": 1}
    assert tracker.unknown_transitions == 4


def test_a_filled_order_reported_canceled_is_a_contradiction():
    tracker, order, _ = make()
    tracker.apply(order, Status.FILLED, [fill("t1", 10)])
    assert not tracker.apply(order, Status.CANCELED)
    assert not tracker.apply(order, Status.OPEN)
    assert tracker.unknown_by_reason == {"stale": 1, "contradiction": 1}


def test_canceled_then_late_fill_completes_to_filled():
    tracker, order, _ = make()
    tracker.apply(order, Status.OPEN, [fill("t1", 6)])
    tracker.apply(order, Status.CANCELED, reason="user")
    assert order.status is Status.CANCELED
    tracker.apply(order, None, [fill("t2", 4)])
    assert order.status is Status.FILLED and order.filled == 10


def test_terminal_states_are_never_left_otherwise():
    for terminal in (Status.FILLED, Status.REJECTED, Status.EXPIRED):
        tracker, order, _ = make()
        tracker.apply(order, terminal, [fill("t", 10)] if terminal is Status.FILLED else [])
        for status in Status:
            tracker.apply(order, status)
        assert order.status is terminal


def test_cancel_refused_goes_back_and_reports():
    tracker, order, listener = make()
    tracker.apply(order, Status.OPEN)
    assert tracker.mark_pending(order, Status.PENDING_CANCEL)
    tracker.apply(order, Status.OPEN, [fill("t1", 3)])
    assert order.status is Status.PENDING_CANCEL and order.filled == 3
    tracker.cancel_refused(order, "too late")
    assert order.status is Status.PARTIALLY_FILLED
    assert listener.rejects == ["too late"]


def test_pending_cancel_ignores_a_late_open():
    tracker, order, _ = make()
    tracker.apply(order, Status.OPEN)
    tracker.mark_pending(order, Status.PENDING_CANCEL)
    tracker.apply(order, Status.OPEN)
    assert order.status is Status.PENDING_CANCEL


def test_duplicate_client_order_id_until_purged():
    clock = Clock()
    tracker, order, _ = make(clock=clock)
    with pytest.raises(DuplicateOrderError):
        tracker.new_order(strategy="s", client_order_id="c", venue="v", symbol="X", side=Side.BUY,
                          type=OrderType.LIMIT, tif=TimeInForce.GTC, price=5, quantity=1)
    tracker.bind_venue_id(order, "0xabc")
    tracker.apply(order, Status.CANCELED)
    clock.t += 50
    assert tracker.purge_closed() == 0  # late events may still come
    assert tracker.by_venue("v", "0xabc") is order
    clock.t += 100
    assert tracker.purge_closed() == 1
    assert tracker.by_venue("v", "0xabc") is None
    tracker.new_order(strategy="s", client_order_id="c", venue="v", symbol="X", side=Side.BUY,
                      type=OrderType.LIMIT, tif=TimeInForce.GTC, price=5, quantity=1)


def test_table_keeps_terminal_states_closed():
    for status in TERMINAL - {Status.CANCELED}:
        assert fsm.TRANSITIONS[status] == frozenset()
    assert fsm.TRANSITIONS[Status.CANCELED] == frozenset({Status.FILLED})
    assert set(fsm.TRANSITIONS) == set(Status)


events = st.lists(
    st.tuples(st.sampled_from([None, *Status]), st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(1, 3)),
                                                         max_size=2)),
    max_size=25,
)


@given(events)
def test_any_event_sequence_keeps_invariants(seq):
    tracker, order, listener = make(qty=10)
    booked: dict[str, int] = {}
    for status, fills in seq:
        was_terminal = order.status in TERMINAL
        before = order.status
        tracker.apply(order, status, [fill(t, q) for t, q in fills])
        for t, q in fills:
            booked.setdefault(t, q)
        # fills are counted once per trade id, whatever the order of events
        assert order.filled == sum(booked.values())
        if was_terminal and order.status is not before:
            assert before is Status.CANCELED and order.status is Status.FILLED
        assert tracker.open_count("s") == (0 if order.status in TERMINAL else 1)
        if order.filled >= order.quantity:
            assert order.status is Status.FILLED or (before is order.status and before in TERMINAL)


def test_an_amendment_shows_by_value_not_by_spelling():
    """A modify to "100.50" is seen in the update the gateway writes as "100.5"."""
    from gateway.ipc import frames as f
    from gateway.ipc.client import shows_amendment

    view = f.OrderView(order_id="o", client_order_id="c", venue="v", symbol="X", side="buy", type="limit",
                       tif="gtc", quantity="2", status="OPEN", filled="0", remaining="2", price="100.5")
    assert shows_amendment(view, "100.50", None) and shows_amendment(view, "100.5", "2.000")
    assert not shows_amendment(view, "100.51", None) and not shows_amendment(view, None, "3")
