"""The journal's records: one order's life (NEW, SENT, VENUE, two STATEs) written in the
fixed layout (gateway/orders/records.py) against the map-per-record layout it replaced
(a dict per record, amounts as decimal strings, msgpack, framed), and a journal of
orders read back and replayed in both layouts."""
from __future__ import annotations

import os

import msgspec
import pytest

from gateway._core.framing import encode_frame
from gateway.orders import records as rec
from gateway.orders.journal import Journal, _append, replay
from gateway.orders.model import ONE, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.citrex.venue_data import CitrexVenueData

_map_encoder = msgspec.msgpack.Encoder()


class _Quiet:
    def order_changed(self, order, new_fills):
        pass

    def cancel_rejected(self, order, reason):
        pass

    def modify_rejected(self, order, code, reason):
        pass


def _orders(n: int) -> list:
    tracker = Tracker(_Quiet())
    for i in range(n):
        o = tracker.new_order(strategy="s", client_order_id=f"c{i}", venue="citrex", symbol="BTC-PERP",
                              side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC,
                              price=65000 * ONE + i * ONE // 2, quantity=ONE // 10)
        o.sent_at_ns = 1_700_000_000_000_000_000 + i
        o.venue_order_id = str(10**17 + i)
        o.venue_data = CitrexVenueData(nonce=1_700_000_000_000_000 + i)  # what the adapter keeps
        tracker.apply(o, Status.OPEN)
    return list(tracker.orders.values())


def _s(v):
    return None if v is None else str(v)


def _map_records(o) -> list[dict]:
    """The map layout, as the journal wrote it before the fixed layout."""
    state = {"k": "S", "id": o.order_id, "status": o.status.value, "filled": _s(o.filled),
             "notional": _s(o.notional), "reason": o.reason, "closed": o.closed_ns, "updated": o.updated_ns,
             "replaced_by": o.replaced_by, "g": o.guessed, "seq": o.seq}
    return [
        {"k": "N", "id": o.order_id, "strategy": o.strategy, "cid": o.client_order_id, "venue": o.venue,
         "symbol": o.symbol, "side": o.side.value, "type": o.type.value, "tif": o.tif.value, "price": _s(o.price),
         "qty": _s(o.quantity), "post_only": o.post_only, "reduce_only": o.reduce_only, "stop": _s(o.stop_price),
         "replaces": o.replaces, "created": o.created_ns},
        {"k": "X", "id": o.order_id, "t": o.sent_at_ns},
        {"k": "V", "id": o.order_id, "vid": o.venue_order_id, "data": {"nonce": o.venue_data.nonce}},
        state, dict(state),
    ]


@pytest.mark.benchmark(group="journal: one order's records")
def test_write_fixed_layout(benchmark):
    order = _orders(1)[0]
    buf = bytearray()

    def write():
        _append(buf, rec.order_record(order))
        _append(buf, rec.sent_record(order))
        _append(buf, rec.venue_record(order))
        _append(buf, rec.state_record(order))
        _append(buf, rec.state_record(order))
        buf.clear()

    benchmark(write)


@pytest.mark.benchmark(group="journal: one order's records")
def test_write_map_layout_baseline(benchmark):
    order = _orders(1)[0]
    buf = bytearray()

    def write():
        for r in _map_records(order):
            buf.extend(encode_frame(_map_encoder.encode(r)))
        buf.clear()

    benchmark(write)


def _journal_file(tmp_path, name, frames) -> Journal:
    path = tmp_path / name
    path.write_bytes(b"".join(frames))
    return Journal(str(path))


@pytest.mark.benchmark(group="journal: read and replay 2,000 orders")
def test_replay_fixed_layout(benchmark, tmp_path):
    orders = _orders(2000)
    buf = bytearray()
    for o in orders:
        for r in (rec.order_record(o), rec.sent_record(o), rec.venue_record(o), rec.state_record(o)):
            _append(buf, r)
    journal = _journal_file(tmp_path, "fixed", [bytes(buf)])
    replayed = benchmark(lambda: replay(journal.read()))
    assert [(o.order_id, o.price, o.status) for o in replayed] == [(o.order_id, o.price, o.status) for o in orders]
    benchmark.extra_info["bytes_per_order"] = os.path.getsize(journal.path) / 2000


@pytest.mark.benchmark(group="journal: read and replay 2,000 orders")
def test_replay_map_layout_baseline(benchmark, tmp_path):
    orders = _orders(2000)
    journal = _journal_file(tmp_path, "maps", [encode_frame(_map_encoder.encode(r))
                                                for o in orders for r in _map_records(o)[:4]])
    replayed = benchmark(lambda: replay(journal.read()))
    assert [(o.order_id, o.price, o.status) for o in replayed] == [(o.order_id, o.price, o.status) for o in orders]
    benchmark.extra_info["bytes_per_order"] = os.path.getsize(journal.path) / 2000
