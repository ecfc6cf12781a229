"""The gateway's own Python work per order, in process, stage by stage, against a ping
(decode, route, reply encode: the least a request costs) measured in the same run:

    place -> ack      decode, validate, risk, track, journal record, queue, ack encode
    venue body        the Citrex adapter's nonce, EIP-712 digest, signature and JSON body
    venue body, sign  the same without the signature: what the adapter adds to it
    venue answers     the venue's REST reply and its stream event for one order, applied
                      (decode, tracker, journal records, the strategy's update encoded)

`gateway bench` measures the whole order with its system calls; this isolates the Python
(the profile in bench/README.md spreads it over ~40 functions)."""
from __future__ import annotations

import asyncio
import itertools
import time

import msgspec

import pytest

from bench.bench_metrics import NullConn, citrex_adapter
from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.orders.journal import Journal
from gateway.orders.model import ONE, OrderType, Side, TimeInForce
from gateway.risk import RiskLimits
from gateway.net.http import Response
from gateway.assembly import Parts, assemble
from gateway.venues.citrex import schemas

GROUP = "request path, in process"


@pytest.fixture
def parts(tmp_path):
    journal = Journal(str(tmp_path / "orders.journal"))
    journal.open([])
    parts = assemble(RiskLimits(RiskConfig(max_open_orders=10**9)), closed_ttl_ns=10**9, metrics=Metrics(),
                     journal=journal)
    adapter = citrex_adapter(parts, tmp_path)
    parts.add_venue(adapter)
    adapter.outbound.submit = lambda job: None  # queued, never drained: the venue's side is measured apart
    # records gather for the loop turn's one write, as in the daemon (without a running loop the
    # journal would write each at once); the tests clear them, the write is measured apart
    journal._flush_scheduled = True
    yield parts
    journal.close()
    adapter.nonces.close()


def _frames(make, n=200_000):
    encoder = f.encoder.encode
    return iter([encoder(make(i)) for i in range(n)])


@pytest.mark.benchmark(group=GROUP)
def test_ping_baseline(benchmark, parts):
    conn, decode, encode = NullConn(), f.request_decoder.decode, f.encoder.encode
    frame = encode(f.Ping(req_id=1))
    benchmark(lambda: encode(parts.router.handle(conn, decode(frame), time.perf_counter_ns())))


@pytest.mark.benchmark(group=GROUP)
def test_place_to_ack(benchmark, parts):
    conn, decode, encode = NullConn(), f.request_decoder.decode, f.encoder.encode
    frames = _frames(lambda i: f.Place(req_id=i, client_order_id=f"c{i}", venue="citrex", symbol="ETH-PERP",
                                       side="buy", quantity="0.001", price="1000"))

    def place():
        reply = parts.router.handle(conn, decode(next(frames)), time.perf_counter_ns())
        encode(reply)
        parts.tracker.journal._buf.clear()  # the loop turn's write, kept out of the timing
        return reply

    assert place().ok
    benchmark(place)


def _orders(parts, n=200_000):
    tracker = parts.tracker
    tracker.journal = None
    counter = itertools.count()
    return iter(lambda: tracker.new_order(strategy="s", client_order_id=f"b{next(counter)}", venue="citrex",
                                          symbol="ETH-PERP", side=Side.BUY, type=OrderType.LIMIT,
                                          tif=TimeInForce.GTC, price=1000 * ONE, quantity=ONE // 1000), None)


@pytest.mark.benchmark(group=GROUP)
def test_venue_body(benchmark, parts):
    adapter, orders = parts.venues["citrex"], _orders(parts)
    assert adapter._order_body(next(orders))
    benchmark(lambda: adapter._order_body(next(orders)))


class _NoSignature:
    def sign_digest(self, digest: bytes) -> bytes:
        return bytes(64) + b"\x1b"


@pytest.mark.benchmark(group=GROUP)
def test_venue_body_without_signature(benchmark, parts):
    adapter, orders = parts.venues["citrex"], _orders(parts)
    adapter.sign.signer = _NoSignature()
    assert adapter._order_body(next(orders))
    benchmark(lambda: adapter._order_body(next(orders)))


class _EncodingConn(NullConn):
    """A connected strategy whose frames are encoded, as the socket's send does."""
    strategy = "s"
    cancel_on_disconnect = False

    def send(self, message) -> None:
        f.encoder.encode(message)


@pytest.mark.benchmark(group=GROUP)
def test_venue_answers(benchmark, parts):
    """Per order: the 200 reply with the order (OPEN) and the stream's orderUpdate (OPEN)."""
    adapter = parts.venues["citrex"]
    parts.sessions.strategies["s"] = _EncodingConn()
    adapter.sign.signer = _NoSignature()
    loop = asyncio.new_event_loop()
    answers = []
    rounds = 1 if benchmark.disabled else 50_000  # make test: one round, to keep the path honest
    for i in range(rounds + 1001):
        order = parts.tracker.new_order(strategy="s", client_order_id=f"v{i}", venue="citrex", symbol="ETH-PERP",
                                         side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC,
                                         price=1000 * ONE, quantity=ONE // 1000)
        body = msgspec.json.decode(adapter._order_body(order))
        wire = {**body, "id": f"0x{i:016x}", "status": "OPEN", "residualQuantity": body["quantity"], "trades": []}
        reply = loop.create_future()
        reply.set_result(Response(200, {}, msgspec.json.encode(wire)))
        event = msgspec.json.encode({"jsonrpc": "2.0", "method": schemas.WS_ORDER_UPDATE, "params": wire})
        answers.append((order, reply, event))
    parts.tracker.journal._buf.clear()
    todo = iter(answers)

    def answer():
        order, reply, event = next(todo)
        adapter._on_place_reply(order, reply)
        adapter._on_ws(event)
        parts.tracker.journal._buf.clear()
        return order

    assert answer().status.value == "OPEN"
    benchmark.pedantic(answer, rounds=rounds, iterations=1, warmup_rounds=0 if benchmark.disabled else 1000)
    loop.close()
