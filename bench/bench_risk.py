"""What the scoped risk limits cost a place, with 1,000 open orders of the strategy, against
the five global limits the gateway had before them (kept below as they were, so both run in
the same process):

    validate, risk (before)   validation + the five global limits
    validate, risk (scoped)   validation + the limits resolved from a [risk] tree with
                              strategy and symbol tables: max_position on the worst case,
                              max_open_notional, the price band against a fresh reference price
    place -> ack (scoped)     the whole request in process (bench_request_path's place -> ack)
                              with the scoped tree and 1,000 open orders

The open orders' sums are kept as they change (gateway/risk/exposure.py), so the scoped check
must not grow with the open orders: compare with `--benchmark-only -k risk`."""
from __future__ import annotations

import itertools
import time

import msgspec
import pytest

from bench.bench_metrics import NullConn, citrex_adapter
from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.assembly import assemble
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.net.ratelimit import TokenBucket
from gateway.orders.journal import Journal
from gateway.orders.model import ONE, SCALE
from gateway.reference.prices import ReferencePrices
from gateway.risk import RiskConfig, RiskError, RiskLimits
from gateway.validation import OrderValidator

GROUP = "risk: a place with 1,000 open orders"
OPEN = 1000

SCOPED = {
    "max_order_quantity": "100", "max_order_notional": "1000000", "max_open_orders": 10**6,
    "max_position": "5000", "max_open_notional": "100000000", "price_band_pct": "10",
    "max_orders_per_sec": 10**9,
    "symbols": {"ETH-PERP": {"max_order_quantity": "50"}, "citrex:ETH-PERP": {"max_position": "4000"}},
    "strategies": {
        "bench": {"max_open_notional": "50000000", "symbols": {"citrex:ETH-PERP": {"max_order_quantity": "40"},
                                                                 "ETH-PERP": {"max_position": "3000"}}},
        **{f"other{i}": {"max_position": "10"} for i in range(20)},
    },
}


class TodaysLimits:
    """The risk check as it was before the scoped limits (five global numbers), for comparison."""

    def __init__(self, config: RiskConfig):
        self.max_quantity = parse_scaled(config.max_order_quantity, SCALE)
        self.max_notional = parse_scaled(config.max_order_notional, SCALE)
        self.max_open_orders = config.max_open_orders
        self.max_rate = config.max_orders_per_sec
        self.band = parse_scaled(config.price_band_pct, SCALE)
        self._buckets: dict[str, TokenBucket] = {}
        self.reference = ReferencePrices()

    def check(self, quantity, price, open_orders, *, strategy="", venue="", symbol="", pending=0, **_):
        self._check_band(price, venue, symbol)
        self._check_size(quantity, price, venue, symbol)
        if open_orders >= self.max_open_orders:
            raise RiskError(f"{open_orders} open orders: the limit is {self.max_open_orders}")
        if self.max_rate > 0:
            bucket = self._buckets.get(strategy)
            if bucket is None:
                bucket = self._buckets[strategy] = TokenBucket(self.max_rate, max(1.0, self.max_rate))
            if bucket.projected_wait(pending + 1) > 0:
                raise RiskError(f"over {self.max_rate:g} orders per second for this strategy")

    def _check_band(self, price, venue, symbol):
        if price is not None and self.band:
            ref = self.reference.price(venue, symbol)
            if ref and abs(price - ref) * 100 * 10**SCALE > self.band * ref:
                raise RiskError(f"price {format_scaled(price, SCALE)} is too far")

    def _check_size(self, quantity, price, venue, symbol):
        if quantity > self.max_quantity:
            raise RiskError("quantity")
        ref = price if price is not None else self.reference.price(venue, symbol)
        if ref is not None and quantity * ref // 10**SCALE > self.max_notional:
            raise RiskError("notional")


def _parts(tmp_path, risk):
    journal = Journal(str(tmp_path / "orders.journal"))
    journal.open([])
    parts = assemble(risk, closed_ttl_ns=10**9, metrics=Metrics(), journal=journal)
    adapter = citrex_adapter(parts, tmp_path)
    parts.add_venue(adapter)
    adapter.outbound.submit = lambda job: None  # queued, never drained
    journal._flush_scheduled = True
    risk.reference.update("citrex", "ETH-PERP", 2999 * ONE, 3001 * ONE, received_ns=time.monotonic_ns() + 10**15)
    conn, decode = NullConn(), f.request_decoder.decode
    for i in range(OPEN):  # the strategy's open orders, on both sides, accepted as any order is
        side = "buy" if i % 2 else "sell"
        price = "2900" if side == "buy" else "3100"
        frame = f.encoder.encode(f.Place(req_id=i, client_order_id=f"open{i}", venue="citrex", symbol="ETH-PERP",
                                         side=side, quantity="0.001", price=price))
        assert parts.router.handle(conn, decode(frame), time.perf_counter_ns()).ok
    journal._buf.clear()
    return parts, journal, adapter


@pytest.fixture
def scoped(tmp_path):
    parts, journal, adapter = _parts(tmp_path, RiskLimits(msgspec.convert(SCOPED, RiskConfig)))
    yield parts
    journal.close()
    adapter.nonces.close()


@pytest.fixture
def todays(tmp_path):
    config = RiskConfig(max_order_quantity="100", max_order_notional="1000000", max_open_orders=10**6,
                        price_band_pct="10", max_orders_per_sec=10**9)
    risk = RiskLimits(config)
    parts, journal, adapter = _parts(tmp_path, risk)
    before = TodaysLimits(config)
    before.reference = risk.reference
    parts.entry.validator = OrderValidator(before, parts.tracker)
    # and none of the open orders' upkeep the scoped limits brought
    parts.tracker.listeners.remove(risk.exposure)
    risk.count = lambda order: None
    yield parts
    journal.close()
    adapter.nonces.close()


def _validate(parts):
    validator, venue = parts.entry.validator, parts.venues["citrex"]
    assert parts.tracker.open_count("bench") == OPEN
    cids = (f"v{i}" for i in itertools.count())
    return lambda: validator.new_order("bench", venue, next(cids), "ETH-PERP", "buy", "limit", "gtc", "2950",
                                       "0.01", False, False, None)


@pytest.mark.benchmark(group=GROUP)
def test_validate_and_risk_baseline_before_scoped_limits(benchmark, todays):
    benchmark(_validate(todays))


@pytest.mark.benchmark(group=GROUP)
def test_validate_and_risk_scoped(benchmark, scoped):
    check = _validate(scoped)
    check()
    assert scoped.risk.exposure.notional("bench") > 0  # the open orders are in the sums
    benchmark(check)


def _place(parts):
    conn, decode, encode = NullConn(), f.request_decoder.decode, f.encoder.encode
    frames = iter([encode(f.Place(req_id=i, client_order_id=f"p{i}", venue="citrex", symbol="ETH-PERP",
                                  side="buy" if i % 2 else "sell", quantity="0.001",
                                  price="2950" if i % 2 else "3050")) for i in range(200_000)])

    def place():
        reply = parts.router.handle(conn, decode(next(frames)), time.perf_counter_ns())
        encode(reply)
        parts.tracker.journal._buf.clear()
        return reply

    assert place().ok
    return place


@pytest.mark.benchmark(group=GROUP)
def test_place_to_ack_before_scoped_limits(benchmark, todays):
    benchmark(_place(todays))


@pytest.mark.benchmark(group=GROUP)
def test_place_to_ack_scoped(benchmark, scoped):
    benchmark(_place(scoped))
