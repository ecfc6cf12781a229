"""What the tracker and journal do so an order converges to the venue's truth:
cumulative totals never double trade records, a guess is reopened by the venue's
word, sends and modifies survive a restart, and closed orders are bounded."""
from __future__ import annotations

import os

from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from tests.unit.test_tracker import Clock, Listener


def new(tracker, cid="c", qty=ONE, price=100 * ONE):
    return tracker.new_order(strategy="s", client_order_id=cid, venue="v", symbol="X", side=Side.BUY,
                             type=OrderType.LIMIT, tif=TimeInForce.GTC, price=price, quantity=qty)


def test_cumulative_total_then_its_trade_records_count_once():
    tracker = Tracker(Listener(), now_ns=Clock())
    order = new(tracker, qty=2 * ONE)
    tracker.apply(order, Status.OPEN, filled=ONE, avg_price=100 * ONE)  # a reconcile's total
    assert (order.filled, order.avg_price) == (ONE, 100 * ONE)
    tracker.apply(order, None, [Fill("t1", 100 * ONE, ONE, 0)])  # the same fill's record, later
    assert (order.filled, order.avg_price, order.status) == (ONE, 100 * ONE, Status.PARTIALLY_FILLED)
    tracker.apply(order, None, [Fill("t2", 102 * ONE, ONE, 0)])
    assert (order.filled, order.avg_price, order.status) == (2 * ONE, 101 * ONE, Status.FILLED)


def test_records_short_of_the_venue_total_keep_the_venue_average():
    tracker = Tracker(Listener(), now_ns=Clock())
    order = new(tracker, qty=4 * ONE)
    tracker.apply(order, Status.OPEN, filled=2 * ONE, avg_price=100 * ONE)
    tracker.apply(order, None, [Fill("t1", 90 * ONE, ONE, 0)])
    assert (order.filled, order.avg_price) == (2 * ONE, 100 * ONE)


def test_an_order_closed_on_a_guess_is_reopened_by_the_venue():
    listener = Listener()
    tracker = Tracker(listener, now_ns=Clock())
    order = new(tracker)
    assert tracker.open_count("s") == 1
    tracker.close_on_guess(order, Status.REJECTED, "not received by the venue (timeout)")
    assert order.is_closed and order.guessed and tracker.open_count("s") == 0 and not tracker.open_orders()
    assert tracker.apply(order, Status.OPEN)  # the venue had it after all
    assert order.status is Status.OPEN and not order.guessed and order.reason is None
    assert tracker.open_count("s") == 1 and tracker.open_orders() == [order]
    # a final word of the venue is never reopened
    tracker.apply(order, Status.CANCELED, reason="canceled by the venue")
    assert not tracker.apply(order, Status.OPEN) and order.status is Status.CANCELED


def test_fills_reopen_a_guess_too():
    tracker = Tracker(Listener(), now_ns=Clock())
    order = new(tracker)
    tracker.close_on_guess(order, Status.EXPIRED, "unknown to the venue")
    tracker.apply(order, None, [Fill("t1", 100 * ONE, ONE, 0)])
    assert order.status is Status.FILLED and order.reason is None


def test_closed_orders_are_bounded_by_count_and_ttl():
    clock = Clock()
    tracker = Tracker(Listener(), now_ns=clock, closed_ttl_ns=1000, max_closed=3)
    orders = [new(tracker, cid=f"c{i}") for i in range(6)]
    for order in orders[:5]:
        tracker.apply(order, Status.CANCELED)
    # the two oldest closed went at once; the open one and the three newest closed stay
    assert sorted(tracker.orders) == sorted(o.order_id for o in orders[2:])
    assert tracker.by_client("s", "c0") is None and tracker.by_client("s", "c4") is orders[4]
    clock.t += 1001
    assert tracker.purge_closed() == 3
    assert list(tracker.orders) == [orders[5].order_id] and tracker.open_orders() == [orders[5]]
    assert tracker.strategy_orders("s") == [orders[5]]


def test_send_modify_and_guess_survive_a_restart(tmp_path):
    journal = Journal(str(tmp_path / "j"))
    journal.open([])
    tracker = Tracker(Listener(), now_ns=Clock(), journal=journal)
    sent, unsent, guessed = new(tracker, "sent"), new(tracker, "unsent"), new(tracker, "guessed")
    tracker.journal_sent(sent)
    tracker.apply(sent, Status.OPEN)
    sent.price = 101 * ONE
    tracker.amended(sent)
    tracker.journal_sent(guessed)
    tracker.close_on_guess(guessed, Status.REJECTED, "not received by the venue")
    journal.close()
    back = {o.client_order_id: o for o in replay(Journal(str(tmp_path / "j")).read())}
    assert back["sent"].sent_at_ns and back["sent"].price == 101 * ONE and back["sent"].status is Status.OPEN
    assert back["unsent"].sent_at_ns == 0 and back["unsent"].status is Status.PENDING_NEW
    assert back["guessed"].guessed and back["guessed"].status is Status.REJECTED


def test_online_compaction_keeps_every_change_made_while_it_runs(tmp_path):
    import asyncio

    path = str(tmp_path / "j")
    journal = Journal(path)
    journal.open([])
    clock = Clock()
    tracker = Tracker(Listener(), now_ns=clock, journal=journal, closed_ttl_ns=10)

    async def main():
        orders = [new(tracker, cid=f"c{i}") for i in range(50)]
        for order in orders[:40]:
            tracker.apply(order, Status.CANCELED)
        for order in orders[:3]:
            order.reason = "x" * 1000  # weight the purged ones
            tracker.apply(order, None, filled=0)
        clock.t += 100
        assert tracker.purge_closed() == 40
        journal.flush()
        grown = journal.size
        assert journal.wants_compaction(above_bytes=1)
        task = asyncio.ensure_future(journal.compact(list(tracker.orders.values()), slice_orders=5))
        await asyncio.sleep(0)  # mid-compaction: a snapshotted order and a not yet snapshotted one change
        tracker.apply(orders[40], Status.OPEN)
        tracker.apply(orders[49], Status.OPEN, [Fill("t1", 100 * ONE, ONE // 2, 0)])
        late = new(tracker, cid="late")
        journal.flush()
        await task
        tracker.apply(orders[45], Status.OPEN)
        journal.close()
        return grown

    grown = asyncio.run(main())
    assert journal.compactions == 1 and not (tmp_path / "j.compact").exists()
    back = {o.client_order_id: o for o in replay(Journal(path).read())}
    assert set(back) == {f"c{i}" for i in range(40, 50)} | {"late"}  # the purged ones are gone
    assert back["c40"].status is Status.OPEN and back["c45"].status is Status.OPEN
    assert back["c49"].status is Status.PARTIALLY_FILLED and back["c49"].filled == ONE // 2
    assert back["late"].status is Status.PENDING_NEW
    assert os.path.getsize(path) < grown / 3


def test_the_watchdog_looks_at_what_is_in_flight_only():
    tracker = Tracker(Listener(), now_ns=Clock())
    resting = [new(tracker, cid=f"r{i}") for i in range(5)]
    for order in resting:
        tracker.journal_sent(order)
        tracker.apply(order, Status.OPEN)
    flying = new(tracker, cid="f")
    tracker.journal_sent(flying)
    canceling = resting[0]
    assert tracker.mark_pending(canceling, Status.PENDING_CANCEL)
    assert {o.client_order_id for o in tracker.awaiting()} == {"f", "r0"}
    assert len(tracker._index._awaiting) == 2  # the resting ones were dropped by that pass
