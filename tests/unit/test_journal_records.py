"""The journal's fixed-layout records: exact amounts of any size, smaller than the maps they
replace, and journals written in the old map layout still replay to the same orders."""
from __future__ import annotations

import msgspec
import pytest

from gateway._core.framing import encode_frame
from gateway.orders import records as rec
from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from tests.unit.test_tracker import Clock, Listener


def _book(journal: Journal | None) -> Tracker:
    """A few orders through every kind of record the tracker writes."""
    tracker = Tracker(Listener(), now_ns=Clock(), journal=journal)
    a = tracker.new_order(strategy="s", client_order_id="a", venue="v", symbol="BTC", side=Side.BUY,
                          type=OrderType.LIMIT, tif=TimeInForce.GTC, price=65000 * ONE + ONE // 2,
                          quantity=3 * ONE)
    tracker.journal_sent(a)
    a.venue_order_id = "V-1"
    # what adapters keep: ints, strs and bools (Bluefin's acked, Poloniex's triggered)
    a.venue_data = {"nonce": 1_700_000_000_123_456_789, "cid": "g-1", "acked": True}
    tracker.note_venue_data(a)
    tracker.apply(a, Status.OPEN)
    tracker.apply(a, None, [Fill("t1", 64999 * ONE, ONE, 5, is_maker=True, fee=-(ONE // 1000))])
    b = tracker.new_order(strategy="s", client_order_id="b", venue="v", symbol="ETH", side=Side.SELL,
                          type=OrderType.MARKET, tif=TimeInForce.IOC, price=None, quantity=ONE // 3,
                          reduce_only=True)
    tracker.apply(b, Status.REJECTED, reason="no liquidity")
    return tracker


def _state(order) -> tuple:
    return (order.order_id, order.strategy, order.client_order_id, order.symbol, order.side, order.type,
            order.tif, order.price, order.quantity, order.reduce_only, order.status, order.filled,
            order.notional, order.reason, order.venue_order_id, order.venue_data or None, order.seq,
            order.sent_at_ns, [(f.trade_id, f.price, f.quantity, f.ts_ns, f.is_maker, f.fee) for f in order.fills])


@pytest.mark.parametrize("amount", [0, 1, -1, (1 << 63) - 1, 1 << 63, -(1 << 63), -(1 << 63) - 1,
                                    65000 * ONE + 1, 10**40 + 7])
def test_amounts_of_any_size_come_back_exact(amount):
    order = next(iter(_book(None).orders.values()))
    back = rec.decode(rec.encoder.encode(rec.fill_record(order, Fill("t", amount, amount, 0, None, amount))))
    assert [rec._i(back.p), rec._i(back.q), rec._i(back.fee)] == [amount] * 3


def test_an_order_journaled_is_replayed_as_it_was(tmp_path):
    journal = Journal(str(tmp_path / "j"))
    journal.open([])
    live = _book(journal)
    journal.close()
    replayed = replay(Journal(str(tmp_path / "j")).read())
    assert [_state(o) for o in replayed] == [_state(o) for o in live.orders.values()]


def test_records_are_smaller_than_the_maps_they_replace():
    order = next(iter(_book(None).orders.values()))
    for new, old in [(rec.order_record(order), _old_order_record(order)),
                     (rec.state_record(order), _old_state_record(order))]:
        assert len(rec.encoder.encode(new)) < 0.6 * len(msgspec.msgpack.encode(old)), type(new).__name__


def test_a_journal_in_the_old_map_layout_replays_to_the_same_orders(tmp_path):
    tracker = _book(None)
    (tmp_path / "old").write_bytes(b"".join(encode_frame(msgspec.msgpack.encode(r))
                                            for o in tracker.orders.values() for r in _old_records(o)))
    replayed = replay(Journal(str(tmp_path / "old")).read())
    assert [_state(o) for o in replayed] == [_state(o) for o in tracker.orders.values()]


def test_a_state_map_from_before_change_numbers_counts_its_changes(tmp_path):
    tracker = _book(None)
    order = next(iter(tracker.orders.values()))
    old = _old_state_record(order)
    del old["g"], old["seq"]  # journals before issues 14 and 17
    frames = [_old_order_record(order), old, old]
    (tmp_path / "old").write_bytes(b"".join(encode_frame(msgspec.msgpack.encode(r)) for r in frames))
    [back] = replay(Journal(str(tmp_path / "old")).read())
    assert (back.seq, back.guessed, back.status) == (2, False, order.status)


def test_unreadable_records_are_skipped_and_the_rest_read(tmp_path):
    tracker = _book(None)
    order = next(iter(tracker.orders.values()))
    frames = [rec.encoder.encode(rec.order_record(order)),
              msgspec.msgpack.encode({"k": "?", "id": order.order_id}),  # a kind this code does not know
              msgspec.msgpack.encode({"k": "S", "id": order.order_id}),  # a map missing its fields
              msgspec.msgpack.encode(["S", order.order_id]),  # an array missing its fields
              rec.encoder.encode(rec.state_record(order))]
    data = b"".join(encode_frame(f) for f in frames) + encode_frame(b"\x92\xa1S")[:5]  # torn last record
    (tmp_path / "j").write_bytes(data)
    [back] = replay(Journal(str(tmp_path / "j")).read())
    assert (back.status, back.filled, back.seq) == (order.status, order.filled, order.seq)


# the map layout, as journals before the fixed layout wrote it

def _s(v):
    return None if v is None else str(v)


def _old_order_record(o) -> dict:
    return {"k": "N", "id": o.order_id, "strategy": o.strategy, "cid": o.client_order_id, "venue": o.venue,
            "symbol": o.symbol, "side": o.side.value, "type": o.type.value, "tif": o.tif.value,
            "price": _s(o.price), "qty": _s(o.quantity), "post_only": o.post_only, "reduce_only": o.reduce_only,
            "stop": _s(o.stop_price), "replaces": o.replaces, "created": o.created_ns}


def _old_state_record(o) -> dict:
    return {"k": "S", "id": o.order_id, "status": o.status.value, "filled": _s(o.filled),
            "notional": _s(o.notional), "reason": o.reason, "closed": o.closed_ns, "updated": o.updated_ns,
            "replaced_by": o.replaced_by, "g": o.guessed, "seq": o.seq}


def _old_records(o) -> list[dict]:
    out = [_old_order_record(o)]
    if o.sent_at_ns:
        out.append({"k": "X", "id": o.order_id, "t": o.sent_at_ns})
    if o.venue_order_id is not None or o.venue_data:
        out.append({"k": "V", "id": o.order_id, "vid": o.venue_order_id, "data": dict(o.venue_data or {})})
    for f in o.fills:
        out.append({"k": "F", "id": o.order_id, "t": f.trade_id, "p": _s(f.price), "q": _s(f.quantity),
                    "ts": f.ts_ns, "maker": f.is_maker, "fee": _s(f.fee)})
    out.append(_old_state_record(o))
    return out


class _FullDisk:
    """os.write as on a disk that fills: on its turn, half of what is asked is written, then
    the next call fails with ENOSPC; the other writes go through."""

    def __init__(self, fail_fd: int | None = None):
        import os

        self._write = os.write
        self.fail_fd = fail_fd
        self.armed = False
        self.failing = False

    def __call__(self, fd, data):
        import errno

        if self.armed and (self.fail_fd is None or fd == self.fail_fd):
            if self.failing:
                self.armed = self.failing = False
                raise OSError(errno.ENOSPC, "No space left on device")
            self.failing = True
            return self._write(fd, bytes(data[:len(data) // 2]))
        return self._write(fd, data)


def test_a_flush_cut_short_by_a_full_disk_loses_nothing_once_there_is_room(tmp_path, monkeypatch):
    """Half the batch reached the file, then ENOSPC: the next flush writes the other half after
    it (not the whole batch again, which would leave a torn frame the replay stops at)."""
    import gateway.orders.journal as journal_mod

    disk = _FullDisk()
    monkeypatch.setattr(journal_mod.os, "write", disk)
    journal = Journal(str(tmp_path / "j"))
    journal.open([])
    tracker = Tracker(Listener(), now_ns=Clock(), journal=journal)
    journal._flush_scheduled = True  # records gather for one flush, as in a loop turn
    for i in range(3):
        tracker.new_order(strategy="s", client_order_id=f"a{i}", venue="v", symbol="X", side=Side.BUY,
                          type=OrderType.LIMIT, tif=TimeInForce.GTC, price=ONE, quantity=ONE)
    disk.armed = True
    assert journal.flush() is False  # half written, then ENOSPC: the rest waits
    assert journal.failing is not None and journal.write_errors == 1
    journal._flush_scheduled = True
    for i in range(3):
        tracker.new_order(strategy="s", client_order_id=f"b{i}", venue="v", symbol="X", side=Side.BUY,
                          type=OrderType.LIMIT, tif=TimeInForce.GTC, price=ONE, quantity=ONE)
    assert journal.flush() is True and journal.failing is None  # room again
    journal.close()
    back = replay(Journal(str(tmp_path / "j")).read())
    assert [o.client_order_id for o in back] == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_a_full_disk_under_an_online_compaction_gives_it_up_and_keeps_the_journal(tmp_path, monkeypatch):
    import asyncio

    import gateway.orders.journal as journal_mod

    path = str(tmp_path / "j")
    journal = Journal(path)
    journal.open([])
    tracker = Tracker(Listener(), now_ns=Clock(), journal=journal)

    def new(cid):
        return tracker.new_order(strategy="s", client_order_id=cid, venue="v", symbol="X", side=Side.BUY,
                                 type=OrderType.LIMIT, tif=TimeInForce.GTC, price=ONE, quantity=ONE)

    async def main():
        for i in range(20):
            new(f"a{i}")
        journal.flush()
        task = asyncio.ensure_future(journal.compact(list(tracker.orders.values()), slice_orders=5))
        await asyncio.sleep(0)  # the compaction's file is open, its first slice written
        disk = _FullDisk(fail_fd=journal._next_fd)
        monkeypatch.setattr(journal_mod.os, "write", disk)
        disk.armed = True
        new("during-1")
        journal.flush()  # half of it reaches the compaction's file
        new("during-2")
        journal.flush()  # ENOSPC there: the compaction is given up, the journal has both
        with pytest.raises(OSError):
            await task
        new("after")
        await journal.compact(list(tracker.orders.values()))  # a later one goes through
        new("last")
        journal.close()

    asyncio.run(main())
    assert journal.compactions == 1 and not (tmp_path / "j.compact").exists()
    back = [o.client_order_id for o in replay(Journal(path).read())]
    assert back == [f"a{i}" for i in range(20)] + ["during-1", "during-2", "after", "last"]


def test_an_order_made_before_a_compactions_first_step_is_in_the_compacted_journal(tmp_path):
    """compact() reads the orders when its new file opens: one tracked between the call and the
    task's first step (its NEW record flushed to the old file only) is in the snapshot."""
    import asyncio

    path = str(tmp_path / "j")
    journal = Journal(path)
    journal.open([])
    tracker = Tracker(Listener(), now_ns=Clock(), journal=journal)

    def new(cid):
        return tracker.new_order(strategy="s", client_order_id=cid, venue="v", symbol="X", side=Side.BUY,
                                 type=OrderType.LIMIT, tif=TimeInForce.GTC, price=ONE, quantity=ONE)

    async def main():
        new("before")
        task = asyncio.ensure_future(journal.compact(tracker.orders.values()))
        new("between")  # the task has not run yet
        await task
        new("after")
        journal.close()

    asyncio.run(main())
    assert [o.client_order_id for o in replay(Journal(path).read())] == ["before", "between", "after"]
