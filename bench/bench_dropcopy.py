"""Drop copy catch-up after an outage, against a real nats-server (target: >= 50k events/s).

Two ways back: from the in-memory buffer (the outage was shorter than max_buffer_events)
and from the journal (longer, or the gateway restarted during it). Each round publishes
the same changes under a new gateway id, so JetStream stores them all (no duplicates
dropped). Reported in extra_info and printed: events/s from NATS connected to every event
acknowledged. The gateway's CPU per order with the drop copy on and off is
`gateway bench --drop-copy N` (bench/dropcopy.py).
"""
from __future__ import annotations

import asyncio
import itertools
import shutil
import time

import pytest

from bench.dropcopy import NatsServer, nats_server_path
from gateway.dropcopy.config import DropCopyConfig
from gateway.dropcopy.publisher import DropCopy
from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker

pytestmark = pytest.mark.skipif(nats_server_path() is None,
                                reason="nats-server is not installed (make test installs Debian's nats-server)")

_ids = itertools.count()


class _Router:
    def order_changed(self, order, new_fills):
        pass

    def cancel_rejected(self, order, reason):
        pass


def traded(tracker: Tracker, orders: int) -> int:
    """orders resting then filled: two changes each (OPEN, FILLED with its trade)."""
    for i in range(orders):
        o = tracker.new_order(strategy=f"s{i % 4}", client_order_id=f"c{i}", venue="citrex", symbol="ETH-PERP",
                              side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC, price=2900 * ONE,
                              quantity=ONE // 100)
        tracker.apply(o, Status.OPEN)
        tracker.apply(o, Status.FILLED, [Fill(f"t{i}", 2900 * ONE, ONE // 100, i)])
    return 2 * orders


async def _until_published(dc: DropCopy, events: int) -> float:
    dc.start()
    t0 = time.perf_counter()
    while dc.published < events:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - t0
    await dc.close()
    return elapsed


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server.url
    server.stop()


def _config(url: str) -> DropCopyConfig:
    return DropCopyConfig(url=url, gateway_id=f"bench{next(_ids)}", max_buffer_events=1_000_000)


def test_catch_up_from_journal(benchmark, nats_url, tmp_path):
    orders = 2_000 if benchmark.disabled else 25_000
    source = tmp_path / "source.journal"
    journal = Journal(str(source))
    journal.open([])
    events = traded(Tracker(_Router(), journal=journal), orders)
    journal.close()
    rates = []

    def one_round():
        import uvloop

        path = tmp_path / f"round{len(rates)}.journal"
        shutil.copy(source, path)
        j = Journal(str(path))
        records = list(j.read())
        dc = DropCopy(_config(nats_url), None, j)  # as at a restart: nothing of it published
        snapshot, extra = dc.plan_restart(records, replay(iter(records)))
        assert not snapshot and dc.overflowed == events
        j.open(snapshot, extra)
        elapsed = uvloop.run(_until_published(dc, events))
        assert dc.catchup_events == events and dc.publish_errors == 0
        j.close()
        rates.append(events / elapsed)

    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else 3)
    benchmark.extra_info.update(events=events, events_per_s=max(rates))
    print(f"\ncatch-up from the journal: {events} events, {max(rates):,.0f} events/s (best of {len(rates)})")


def test_catch_up_from_buffer(benchmark, nats_url):
    orders = 2_000 if benchmark.disabled else 25_000
    rates = []

    def one_round():
        import uvloop

        class _NoJournal:
            def add(self, record):
                pass

            def flush(self):
                pass

        dc = DropCopy(_config(nats_url), None, _NoJournal())
        tracker = Tracker(_Router())
        tracker.listeners.append(dc)  # NATS not reached yet: every change waits in the buffer
        events = traded(tracker, orders)
        assert len(dc.buffer) == events
        elapsed = uvloop.run(_until_published(dc, events))
        assert dc.catchup_events == 0 and dc.publish_errors == 0
        rates.append(events / elapsed)

    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else 3)
    benchmark.extra_info.update(events=2 * orders, events_per_s=max(rates))
    print(f"\ncatch-up from the buffer: {2 * orders} events, {max(rates):,.0f} events/s (best of {len(rates)})")
