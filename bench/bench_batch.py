"""A burst of 20 places read in one write, for BSX and for Poloniex: the venue line hands
the 20 due places to the adapter together and they leave as one POST /orders/batch; against
the same burst with the line's batching off (each order its own venue request, over the
venue's connection pool). Rounds of both interleaved, in one run.

Measured: the gateway process's CPU (time.process_time) per order, from the 20 frames
decoded and handled (validate, risk, track, queue, ack encoded) through the line, the
adapter (nonce, signature, body) and the HTTP client, to the venue's replies applied and
every order's OPEN update encoded for its strategy. The venues are the project's simulators
(gateway/sim/) in a process of their own, so their CPU is not counted; no journal.
Target: at least 30% less CPU per order batched.

Each run first checks (a correctness check, not a timing) that a batched burst became one
venue request and an unbatched one twenty.

    python -m pytest bench/bench_batch.py --benchmark-only
    python -m bench.bench_batch      # the simulators alone: prints "bsx <url> poloniex <url>"
"""
from __future__ import annotations

import asyncio
import gc
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import uvloop

from bench.processes import stop_process
from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.risk import RiskLimits
from gateway.assembly import Parts, assemble
from gateway.signer import Signer
from gateway.venues.config import InstrumentConfig

BURST = 20
BSX_KEY, BSX_SECRET = "k" * 32, "s" * 64
BSX_WALLET = "0x00000000000000000000000000000000000000a1"
BSX_SIGNER = b"\x07" * 32
VERIFYING_CONTRACT = "0x0000000000000000000000000000000000000002"
POLONIEX_KEY, POLONIEX_SECRET = "P" * 32, "q" * 64
GROUP = "batch: 20 places in one write, CPU per order"


def serve() -> None:
    """Both simulators, without market makers (every order rests), until SIGTERM."""
    from gateway.sim.bsx import BsxSim, Product as BsxProduct
    from gateway.sim.poloniex import PoloniexSim, Product as PoloniexProduct

    async def main() -> None:
        bsx = BsxSim([BsxProduct(index=2, product_id="ETH-PERP", tick=10**17, lot=10**15)], chain_id=8453,
                     verifying_contract=VERIFYING_CONTRACT, market_maker=False)
        bsx.register(BSX_KEY, BSX_SECRET, BSX_WALLET, Signer(BSX_SIGNER).address)
        poloniex = PoloniexSim([PoloniexProduct("ETH_USDT", tick=10**17, lot=10**15)], market_maker=False)
        poloniex.register(POLONIEX_KEY, POLONIEX_SECRET)
        await bsx.start()
        await poloniex.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(f"bsx {bsx.rest_url} poloniex {poloniex.rest_url}", flush=True)
        await stop.wait()
        await bsx.stop()
        await poloniex.stop()

    uvloop.run(main())


@pytest.fixture(scope="module")
def venues():
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_batch"], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    words = proc.stdout.readline().split()
    if len(words) != 4:
        stop_process(proc)
        raise RuntimeError(f"the simulators did not start: {words!r}")
    try:
        yield {words[0]: words[1], words[2]: words[3]}
    finally:
        stop_process(proc)


def _adapter(venue: str, url: str, parts: Parts, tmp_path: Path):
    instrument = {"ETH-PERP": InstrumentConfig(product_id=2 if venue == "bsx" else "ETH_USDT", tick_size="0.1",
                                               lot_size="0.001")}
    if venue == "bsx":
        from gateway.venues.bsx.adapter import BsxAdapter
        from gateway.venues.bsx.config import BsxConfig
        from gateway.venues.bsx.credentials import Credentials
        from gateway.venues.bsx.signing import BsxSigner, domain

        creds = Credentials(BSX_KEY, BSX_SECRET, Signer(BSX_SIGNER))
        adapter = BsxAdapter(BsxConfig(name="bsx", nonce_file=str(tmp_path / "bsx.nonce"), instruments=instrument),
                             parts.tracker, parts.metrics, credentials=creds)
        # what start() learns from the venue, without its stream
        adapter.account = BSX_WALLET
        adapter.sign = BsxSigner(creds.signer, BSX_WALLET, domain("BSX Mainnet", "1", 8453, VERIFYING_CONTRACT))
    else:
        from gateway.venues.poloniex.adapter import PoloniexAdapter
        from gateway.venues.poloniex.config import PoloniexConfig
        from gateway.venues.poloniex.credentials import Credentials

        adapter = PoloniexAdapter(PoloniexConfig(name="poloniex", instruments=instrument), parts.tracker,
                                  parts.metrics, credentials=Credentials(POLONIEX_KEY, POLONIEX_SECRET))
    adapter.http = adapter.http_client(url)
    return adapter


class Strategy:
    """The strategy's connection: every reply and update encoded, as the socket's send would;
    wakes the bench once the burst's orders are all OPEN."""
    strategy = "bench"
    peer_pid = peer_uid = 0

    def __init__(self):
        self.open = 0
        self.want = 0
        self.waiter: asyncio.Future | None = None

    def send(self, message) -> None:
        f.encoder.encode(message)
        if type(message) is f.OrderUpdate and message.order.status == "OPEN":
            self.open += 1
            if self.open >= self.want and self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)


def _frames(venue: str, tag: str) -> list[bytes]:
    return [f.encoder.encode(f.Place(req_id=i, client_order_id=f"{tag}-{i}", venue=venue, symbol="ETH-PERP",
                                     side="buy", quantity="0.001", price=f"{2000 + i}")) for i in range(BURST)]


async def _burst(parts: Parts, conn: Strategy, frames: list[bytes]) -> float:
    """One burst: its frames decoded and handled in one go (as from one read), their acks
    encoded; returns the CPU seconds until every order is OPEN."""
    conn.want = conn.open + len(frames)
    conn.waiter = asyncio.get_running_loop().create_future()
    decode, encode = f.request_decoder.decode, f.encoder.encode
    t0 = time.process_time()
    now = time.perf_counter_ns()
    for frame in frames:
        reply = parts.router.handle(conn, decode(frame), now)
        assert reply.ok, reply
        encode(reply)
    await asyncio.wait_for(conn.waiter, 10)
    return time.process_time() - t0


async def _requests_of_a_burst(parts, conn, adapter, tag: str) -> Counter:
    """The venue requests one burst became (counted around the HTTP client, untimed)."""
    sent: Counter = Counter()
    send = adapter.http.send

    async def counting(method, path, *args):
        sent[f"{method} {path}"] += 1
        return await send(method, path, *args)

    adapter.http.send = counting
    try:
        await _burst(parts, conn, _frames(adapter.name, tag))
    finally:
        del adapter.http.send
    return sent


def _measure(venue: str, url: str, tmp_path: Path, rounds: int = 30) -> dict:
    parts = assemble(RiskLimits(RiskConfig(max_open_orders=10**9)), closed_ttl_ns=10**9, metrics=Metrics())
    adapter = _adapter(venue, url, parts, tmp_path)
    parts.add_venue(adapter)
    conn = Strategy()
    parts.sessions.strategies[conn.strategy] = conn
    batch = adapter.max_batch
    loop = uvloop.new_event_loop()
    batched, alone = [], []
    try:
        # the correctness check: one venue request for the burst, twenty without batching
        checks = {}
        for mode, max_batch in (("batched", batch), ("one_by_one", 1)):
            adapter.max_batch = max_batch
            checks[mode] = loop.run_until_complete(_requests_of_a_burst(parts, conn, adapter, f"check-{mode}"))
        for r in range(rounds):
            pair = ((batch, batched), (1, alone))
            for max_batch, out in (pair if r % 2 else pair[::-1]):  # neither always goes first
                adapter.max_batch = max_batch
                frames = _frames(venue, f"r{r}-{max_batch}")
                gc.collect()
                out.append(loop.run_until_complete(_burst(parts, conn, frames)) / BURST)
    finally:
        adapter.max_batch = batch
        loop.run_until_complete(adapter.http.close())
        if adapter.nonces is not None:
            adapter.nonces.close()
        loop.close()
    a, b = statistics.median(batched), statistics.median(alone)
    return {"batched_us": a * 1e6, "one_by_one_us": b * 1e6, "ratio": a / b, "checks": checks,
            "orders": 2 * (rounds + 1) * BURST, "open": conn.open}


def _check(venue: str, result: dict) -> None:
    path = "POST /orders/batch"
    assert result["checks"]["batched"] == {path: 1}, result["checks"]
    assert result["checks"]["one_by_one"] == {"POST /orders": BURST}, result["checks"]
    assert result["open"] == result["orders"]


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("venue", ["bsx", "poloniex"])
def test_burst_batched_vs_one_by_one(benchmark, venue, venues, tmp_path):
    if benchmark.disabled:
        pytest.skip("a timing run for `make bench`; make test runs test_smoke_a_burst_is_one_venue_request")
    result = {}
    benchmark.pedantic(lambda: result.update(_measure(venue, venues[venue], tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in result.items() if k.endswith(("_us", "ratio"))})
    _check(venue, result)


@pytest.mark.parametrize("venue", ["bsx", "poloniex"])
def test_smoke_a_burst_is_one_venue_request(venue, venues, tmp_path):
    """One small run of the benchmark's path: the burst leaves as one batch, every order OPEN."""
    _check(venue, _measure(venue, venues[venue], tmp_path, rounds=1))


if __name__ == "__main__":
    serve()
