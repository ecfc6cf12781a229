"""What metrics cost the order path: the parts's whole place path (validate,
track, queue, and the Citrex adapter's own order building: nonce, EIP-712
signature, body) up to the HTTP write, which goes to a null client, with
metrics recording as shipped vs with every recording call replaced by a
no-op, interleaved in one run. Target: under 3% of throughput.

`make bench` times it; `make test` (benchmarks disabled) runs the smoke run
instead: a few orders through the same path, each body checked."""
from __future__ import annotations

import asyncio
import statistics
import time

import msgspec
import pytest

from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.risk import RiskLimits
from gateway.assembly import Parts, assemble
from gateway.signer import Signer
from gateway.venues.citrex.adapter import CitrexAdapter
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.config import InstrumentConfig


class NullHttp:
    """Where Citrex's HTTP client would write: builds each body (the adapter's callable, as
    a free connection would), keeps the last, answers nothing."""

    def __init__(self):
        self.sent = 0
        self.last_body = b""

    def has_slot(self) -> bool:
        return True

    async def slot_free(self) -> None:
        return None

    async def send(self, method, path, body=b"", headers=b""):
        self.last_body = body() if callable(body) else body
        self.sent += 1
        return asyncio.get_running_loop().create_future()  # the reply never comes: nothing to handle

    async def close(self) -> None:
        return None


def citrex_adapter(parts: Parts, tmp_path) -> CitrexAdapter:
    config = CitrexConfig(name="citrex", nonce_file=str(tmp_path / "citrex.nonce"), instruments={
        "ETH-PERP": InstrumentConfig(product_id=1002, tick_size="0.1", lot_size="0.001")})
    adapter = CitrexAdapter(config, parts.tracker, parts.metrics, signer=Signer(bytes(range(1, 33))))
    adapter.http = NullHttp()
    adapter._auth_headers = b"Content-Type: application/json\r\n"  # what login would have set
    return adapter


class _NullHistogram:
    def observe(self, ns): pass
    def observe_recent(self, ns, now): pass


class _NullStages:
    def __init__(self):
        from gateway.metrics import STAGES

        for stage in STAGES:
            setattr(self, stage, _NullHistogram())


class NullConn:
    strategy = "bench"
    def send(self, message): pass


def _measure(tmp_path, rounds=60, block=100) -> dict:
    parts = assemble(RiskLimits(RiskConfig(max_open_orders=10**9)), closed_ttl_ns=10**9, metrics=Metrics())
    adapter = citrex_adapter(parts, tmp_path)
    parts.add_venue(adapter)
    conn = NullConn()
    counter = iter(range(10**9))
    loop = asyncio.new_event_loop()

    async def burst():
        for _ in range(block):
            req = f.Place(req_id=1, client_order_id=f"c{next(counter)}", venue="citrex", symbol="ETH-PERP",
                          side="buy", quantity="0.001", price="1000")
            parts.router.handle(conn, req, time.perf_counter_ns(), 1000)
        await adapter.outbound.drained()  # every order signed and "sent"

    # the histograms are C types (not patchable): swap each venue's stages for no-op ones
    real_stages = parts.metrics.venues["citrex"]
    real_done = Metrics.request_done
    null_stages = _NullStages()
    with_m, without = [], []
    try:
        for r in range(rounds):
            pair = ((True, with_m), (False, without))
            for on, out in (pair if r % 2 else pair[::-1]):  # neither always goes first
                stages = real_stages if on else null_stages
                parts.metrics.venues["citrex"] = adapter.stages = stages
                Metrics.request_done = real_done if on else (lambda self, op, code, limit=None: None)
                t0 = time.perf_counter_ns()
                loop.run_until_complete(burst())
                out.append((time.perf_counter_ns() - t0) / block)
    finally:
        parts.metrics.venues["citrex"] = adapter.stages = real_stages
        Metrics.request_done = real_done
        adapter.nonces.close()
        loop.close()
    a, b = statistics.median(with_m), statistics.median(without)
    return {"with_metrics_us": a / 1e3, "without_metrics_us": b / 1e3, "ratio": a / b,
            "orders": 2 * rounds * block, "sent": adapter.http.sent, "last_body": adapter.http.last_body,
            "signed_with_metrics": real_stages.sign.count, "adapter": adapter}


@pytest.mark.benchmark(group="metrics-cost")
def test_metrics_cost_on_the_place_path(benchmark, tmp_path):
    if benchmark.disabled:
        pytest.skip("a timing run for `make bench`; make test runs test_smoke_metrics_place_path")
    result = {}
    benchmark.pedantic(lambda: result.update(_measure(tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in result.items() if k.endswith(("_us", "ratio"))})
    assert result["sent"] == result["orders"]


def test_smoke_metrics_place_path(tmp_path):
    """One small run of the benchmark's path: every order went through the adapter's own
    building, the last body is a Citrex order signed by the adapter's key, and the sign stage
    was recorded for exactly the orders run with metrics on."""
    from gateway.signer import recover_address

    result = _measure(tmp_path, rounds=2, block=5)
    assert result["sent"] == result["orders"] == 20
    assert result["signed_with_metrics"] == 10
    body = msgspec.json.decode(result["last_body"])
    adapter = result["adapter"]
    assert body["account"] == adapter.account and body["productId"] == 1002
    digest = adapter.sign.order.digest((body["account"], body["subAccountId"], body["productId"], body["isBuy"],
                                        body["orderType"], body["timeInForce"], body["expiration"],
                                        int(body["price"]), int(body["quantity"]), body["nonce"]))
    assert recover_address(digest, bytes.fromhex(body["signature"].removeprefix("0x"))) == adapter.account
