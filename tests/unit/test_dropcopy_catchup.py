"""The journal rebuilds exactly the events the live drop copy made (same subjects, ids and
bytes), including cancel rejects and a modify's new price; the restart plan keeps the
history of what JetStream lacks; [drop_copy] config errors; no nats import without it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.config import ConfigError, parse_config
from gateway.dropcopy.catchup import journal_events, published_record, restart_plan
from gateway.dropcopy.events import EventMaker
from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker


class Router:
    def order_changed(self, order, new_fills):
        pass

    def cancel_rejected(self, order, reason):
        pass


class Live:
    """What DropCopy.order_changed / cancel_rejected make, without the publishing."""

    def __init__(self, maker):
        self.maker = maker
        self.events = []
        self.copied = {}  # its own place in each order's trades

    def order_changed(self, order, new_fills):
        self.events.append(self.maker.order_event(order, self.copied.get(order.order_id, 0), 0))
        self.copied[order.order_id] = len(order.fills)

    def cancel_rejected(self, order, reason):
        self.events.append(self.maker.cancel_reject_event(order, order.seq, reason, 0))


def traded_journal(tmp_path, *more_listeners):
    journal = Journal(str(tmp_path / "j"))
    journal.open([])
    tracker = Tracker(Router(), journal=journal)
    maker = EventMaker("gateway", "gw1")
    live = Live(maker)
    tracker.listeners.append(live)
    tracker.listeners.extend(more_listeners)
    new = dict(strategy="s.1", venue="v", symbol="X", side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC,
               price=5 * ONE, quantity=10 * ONE)
    a = tracker.new_order(client_order_id="a", **new)
    b = tracker.new_order(client_order_id="b", **new)
    tracker.apply(a, Status.OPEN)
    tracker.bind_venue_id(a, "va")
    tracker.apply(a, None, [Fill("t1", 5 * ONE, 3 * ONE, 1)])
    tracker.mark_pending(a, Status.PENDING_CANCEL)
    tracker.cancel_refused(a, "too late")
    b.price = 6 * ONE  # a modify the venue took
    tracker.amended(b)
    tracker.apply(a, Status.FILLED, [Fill("t2", 5 * ONE, 7 * ONE, 2)])
    journal.flush()
    return journal, tracker, maker, live.events


def test_journal_rebuilds_the_live_events_byte_for_byte(tmp_path):
    journal, tracker, maker, live = traded_journal(tmp_path)
    rebuilt = list(journal_events(journal.read(), maker, {}, 0))
    assert rebuilt == live
    a = tracker.by_client("s.1", "a")
    assert [e.seq for e in live if e.order_id == a.order_id] == list(range(1, a.seq + 1))
    reject = next(e for e in live if e.subject.endswith(".cancel_reject"))
    assert reject.subject == "gateway.gw1.v.s~1.cancel_reject" and b'"reason":"too late"' in reject.payload
    assert reject.msg_id == f"gw1:{a.order_id}:{reject.seq}"
    assert b'"price":"6"' in live[-2].payload  # the modify's price, rebuilt from the journal too
    # what JetStream acknowledged is not made again
    acked = {e.order_id: e.seq for e in live[:5]}
    assert list(journal_events(journal.read(), maker, acked, 0)) == [
        e for e in live if e.seq > acked.get(e.order_id, 0)]


def test_restart_keeps_history_of_unpublished_orders_only(tmp_path):
    journal, tracker, maker, live = traded_journal(tmp_path)
    a, b = tracker.by_client("s.1", "a"), tracker.by_client("s.1", "b")
    journal.add(published_record({b.order_id: b.seq, a.order_id: 3}))
    journal.close()
    records = list(journal.read())
    orders = replay(iter(records))
    assert {o.order_id: o.seq for o in orders} == {a.order_id: a.seq, b.order_id: b.seq}
    snapshot, extra, acked, missing = restart_plan(records, orders)
    assert [o.order_id for o in snapshot] == [b.order_id] and missing == a.seq - 3
    again = Journal(str(tmp_path / "j"))
    again.open(snapshot, extra)
    again.close()
    left = list(journal_events(again.read(), maker, {}, 0))
    assert [e for e in left if e.seq > acked.get(e.order_id, 0)] == [e for e in live if e.order_id == a.order_id
                                                                     and e.seq > 3]
    # the rewritten journal restores the same orders (the kept history replays as before)
    assert {o.order_id: (o.seq, o.status, o.price) for o in replay(again.read())} == {
        o.order_id: (o.seq, o.status, o.price) for o in orders}


def test_drop_copy_config_errors():
    from tests.unit.test_config import BASE as base
    with pytest.raises(ConfigError, match=r"drop_copy needs \[journal\] path"):
        parse_config(base + "[drop_copy]\n")
    journal = '[journal]\npath = "j"\n'
    with pytest.raises(ConfigError, match="gateway_id must be"):
        parse_config(base + journal + '[drop_copy]\ngateway_id = "a.b"\n')
    with pytest.raises(ConfigError, match="may not be 'control'"):
        parse_config(base + journal + '[drop_copy]\ngateway_id = "control"\n')
    with pytest.raises(ConfigError, match="subject_prefix"):
        parse_config(base + journal + '[drop_copy]\nsubject_prefix = "a.*"\n')
    with pytest.raises(ConfigError, match="unknown field `urls`"):
        parse_config(base + journal + '[drop_copy]\nurls = "x"\n')
    cfg = parse_config(base + journal + '[drop_copy]\nurl = ["nats://a:4222", "nats://b:4222"]\n').drop_copy
    assert cfg.urls == ["nats://a:4222", "nats://b:4222"] and cfg.gateway_name


def test_no_drop_copy_no_nats_import():
    code = ("import sys, gateway.cli, gateway.daemon, gateway.router, gateway.status, gateway.metrics;"
            "from gateway.config import load_config; load_config();"
            "print(sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_production_example_drop_copy_parses_when_uncommented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config" / "production.toml").read_text()
    lines = text.splitlines()
    start = lines.index("#[drop_copy]")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#"))
    # one '#' off each line of the block: settings become TOML, '##' notes stay comments
    lines[start:end] = [line[1:] for line in lines[start:end]]
    config = parse_config("\n".join(lines))
    dc = config.drop_copy
    assert dc is not None and dc.gateway_id == "citrex-main" and dc.control and len(dc.urls) == 3


def test_events_made_later_are_made_as_the_order_was_then(tmp_path):
    """The drop copy's listener keeps the change's view; the publisher makes the JSON later,
    after the same order changed again: still the bytes of the change it stands for."""
    from gateway.dropcopy.config import DropCopyConfig
    from gateway.dropcopy.publisher import DropCopy

    dc = DropCopy(DropCopyConfig(gateway_id="gw1"), None, None)
    journal, tracker, maker, live = traded_journal(tmp_path, dc)
    taken = dc._take()
    key = lambda e: (e.subject, e.msg_id, e.payload)  # noqa: E731
    assert [key(e) for e in taken] == [key(e) for e in live]
    a = tracker.by_client("s.1", "a")
    assert a.status is Status.FILLED and len(a.fills) == 2  # the order is as it ends, untouched


def test_online_compaction_keeps_unpublished_events(tmp_path):
    """The journal compacted online while changes wait unpublished in memory: the compacted
    file starts with those events as they are, so a crash right after still publishes each
    once, in order (the snapshot's last state is not made again)."""
    import asyncio

    from gateway.dropcopy.config import DropCopyConfig
    from gateway.dropcopy.publisher import DropCopy

    dc = DropCopy(DropCopyConfig(gateway_id="gw1"), None, None)
    dc.overflow = False  # connected and caught up: what waits is in the buffer
    journal, tracker, maker, live = traded_journal(tmp_path, dc)
    assert dc.may_compact()
    asyncio.run(journal.compact(list(tracker.orders.values()), head=dc.compaction_head()))
    journal.close()
    records = list(Journal(str(tmp_path / "j")).read())
    assert {r.k for r in records} >= {"E", "P", "N", "S"}
    key = lambda e: (e.subject, e.msg_id, e.payload)  # noqa: E731
    assert [key(e) for e in journal_events(records, maker, {}, 0)] == [key(e) for e in live]
    # and after a restart the plan keeps them for the catch-up
    orders = replay(iter(records))
    snapshot, extra, acked, missing = restart_plan(records, orders)
    assert not snapshot and missing == len(live)
    dc.overflow = True
    assert not dc.may_compact()  # changes only in the journal's own records: no compaction
