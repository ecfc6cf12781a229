"""What metrics cost the order path: the router's whole place path (validate,
track, nonce, sign, encode; the venue write goes to a null transport) with
metrics recording as shipped vs with every recording call replaced by a
no-op, interleaved in one run. Target: under 3% of throughput."""
from __future__ import annotations

import asyncio
import os
import statistics
import time

import pytest

from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.orders.model import Order
from gateway.risk import RiskLimits
from gateway.router import Router
from gateway.signer import Signer
from gateway.venues.base import Capabilities, VenueAdapter
from gateway.venues.citrex.adapter import TIF
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.citrex.signing import CitrexSigner
from gateway.venues.config import InstrumentConfig


class SigningOnlyVenue(VenueAdapter):
    """Citrex's signing and encoding, with the bytes dropped instead of sent."""
    capabilities = Capabilities()

    def __init__(self, router: Router, nonce_file: str):
        from gateway._core.nonce import NonceAllocator
        from gateway.venues.citrex import schemas

        config = CitrexConfig(name="citrex", instruments={
            "ETH-PERP": InstrumentConfig(product_id=1002, tick_size="0.1", lot_size="0.001")})
        super().__init__(config, router.tracker, router.metrics)
        self.sign = CitrexSigner(Signer(os.urandom(32)), sub_account_id=0, chain_id=1329,
                                 verifying_contract=config.verifying_contract, domain_name="ciao",
                                 domain_version="0.0.0")
        self.nonces = NonceAllocator(nonce_file, "us")
        self.schemas = schemas

    async def start(self): ...
    async def stop(self): self.nonces.close()
    async def cancel(self, order): ...

    async def place(self, order: Order) -> None:
        t0 = time.perf_counter_ns()
        nonce = self.nonces.next()
        sig = self.sign.sign_order(1002, True, 0, TIF[order.tif], 1, order.price, order.quantity, nonce)
        body = self.schemas.encoder.encode(self.schemas.PlaceOrder(
            account=self.sign.account, subAccountId=0, productId=1002, isBuy=True, orderType=0,
            timeInForce=0, expiration=1, price=str(order.price), quantity=str(order.quantity), nonce=nonce,
            signature=sig))
        self.stages.sign.observe(time.perf_counter_ns() - t0)
        assert body


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
    router = Router(RiskLimits(RiskConfig(max_open_orders=10**9)), closed_ttl_ns=10**9, metrics=Metrics())
    router.add_venue(SigningOnlyVenue(router, str(tmp_path / "nonce")))
    conn = NullConn()
    counter = iter(range(10**9))
    loop = asyncio.new_event_loop()

    async def burst():
        for _ in range(block):
            req = f.Place(req_id=1, client_order_id=f"c{next(counter)}", venue="citrex", symbol="ETH-PERP",
                          side="buy", quantity="0.001", price="1000")
            router.handle(conn, req, time.perf_counter_ns(), 1000)
        await router.venues["citrex"].outbound.drained()  # every order signed and "sent"

    # the histograms are C types (not patchable): swap each venue's stages for no-op ones
    real_stages = router.metrics.venues["citrex"]
    real_done = Metrics.request_done
    null_stages = _NullStages()
    adapter = router.venues["citrex"]
    with_m, without = [], []
    try:
        for r in range(rounds):
            pair = ((True, with_m), (False, without))
            for on, out in (pair if r % 2 else pair[::-1]):  # neither always goes first
                stages = real_stages if on else null_stages
                router.metrics.venues["citrex"] = adapter.stages = stages
                Metrics.request_done = real_done if on else (lambda self, op, code: None)
                t0 = time.perf_counter_ns()
                loop.run_until_complete(burst())
                out.append((time.perf_counter_ns() - t0) / block)
    finally:
        router.metrics.venues["citrex"] = adapter.stages = real_stages
        Metrics.request_done = real_done
        loop.close()
    a, b = statistics.median(with_m), statistics.median(without)
    return {"with_metrics_us": a / 1e3, "without_metrics_us": b / 1e3, "ratio": a / b}


@pytest.mark.benchmark(group="metrics-cost")
def test_metrics_cost_on_the_place_path(benchmark, tmp_path):
    result = {}
    benchmark.pedantic(lambda: result.update(_measure(tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["with_metrics_us"] > 0 and result["without_metrics_us"] > 0
