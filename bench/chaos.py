"""Chaos run: a venue's simulator with random faults, then faults off; every order must
converge to the simulator's own book.

    python -m bench.chaos [--venue citrex ...] [--orders 400] [--seed 1]    (make chaos)

Per venue: the embedded default config (config/gateway.toml) reduced to that venue,
with a 1 s request timeout and no rate limit. Orders go out in batches of ten; before
each batch one fault is switched on (duplicated, reordered or held stream events, a
dropped stream, replies slower than the timeout, 429s, an expired session, or the
gateway stopped at once without draining and started again from its journal, the
simulator running on), some resting orders are canceled, an outside trader crosses
the book, and the fault is switched off again.
Then every fault is off and the run waits (up to --bound-s) until:

- no order is pending and no look-up is outstanding,
- every acked order is known, with the simulator's status, filled quantity and
  average price (an order the simulator never got: closed with a reason that says so),
- every order of our account in the simulator's book is one we track,
- no fill is booked twice (trade ids unique, booked quantity within the total).

tests/integration/test_chaos.py runs a short seed-fixed version for every venue.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway.config import load_config
from gateway.daemon import Gateway, start_simulator
from gateway.ipc.client import GatewayClient
from gateway.orders.model import ONE, Status

VENUES = ("citrex", "bsx", "poloniex", "bluefin", "dxtrade")
FAULTS = ("none", "duplicate_events", "reorder_ack", "hold_events", "drop_streams", "slow_replies", "answer_429",
          "session_expiry")
CONFIG = Path(__file__).resolve().parent.parent / "config" / "gateway.toml"
TIMEOUT_MS = 1000

# the simulator's final statuses as ours; CANCELLED covers an IOC remainder we call EXPIRED
_SAME = {"OPEN": {"OPEN"}, "PARTIALLY_FILLED": {"PARTIALLY_FILLED"}, "FILLED": {"FILLED"},
         "CANCELLED": {"CANCELED", "EXPIRED"}, "REJECTED": {"REJECTED"}, "UNTRIGGERED": {"UNTRIGGERED"}}
# venues that cannot be asked about a closed order (Bluefin lists open orders and trades only):
# an order whose acceptance we never heard of and that closed there without a fill can only be
# called not received; counted apart, not as a mismatch
_BLIND = {"bluefin"}
# why an acked order may be missing from the simulator's book
_NEVER_THERE = ("not sent", "not received", "rate limit", "429", "canceled before it was sent")


@dataclass
class Report:
    venue: str
    seed: int
    orders: int = 0
    acked: int = 0
    faults: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    filled_orders: int = 0
    resolved_by_lookup: int = 0
    closed_on_guess: int = 0
    converged_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged_s is not None and not self.problems


def chaos_config(tmp: Path, venue: str):
    etc = tmp / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "gateway.toml").write_text(CONFIG.read_text())
    config = load_config(etc / "gateway.toml")
    [v] = [v for v in config.venues if v.name == venue]
    v = msgspec.structs.replace(v, request_timeout_ms=TIMEOUT_MS, rate_limit_per_s=0)
    return msgspec.structs.replace(
        config, venues=[v], log_level="error",
        metrics=msgspec.structs.replace(config.metrics, enabled=False),
        risk=msgspec.structs.replace(config.risk, max_open_orders=100_000))


def _switch(sim, fault: str, on: bool) -> None:
    faults = sim.faults
    if fault in ("duplicate_events", "reorder_ack", "hold_events"):
        setattr(faults, fault, on)
    elif fault == "slow_replies":
        faults.reply_delay_ms = TIMEOUT_MS + 300 if on else 0
    elif fault == "answer_429":
        faults.answer_429 = 3 if on else 0


async def run_venue(tmp: Path, venue: str, orders: int, seed: int, bound_s: float = 60,
                    restarts: bool = True) -> Report:
    """restarts: one batch ends with the gateway stopped without draining (what was queued is
    never sent, what was in flight is unanswered) and started again from its journal, the
    simulator kept running, as it would outlive a gateway crash."""
    report = Report(venue, seed)
    rng = random.Random(seed)
    config = chaos_config(tmp, venue)
    [venue_config] = config.venues
    sim, pointed = await start_simulator(venue_config)
    config = msgspec.structs.replace(config, venues=[msgspec.structs.replace(
        pointed, sim=msgspec.structs.replace(pointed.sim, enabled=False))])
    if hasattr(sim, "trade_limit_per_s"):
        sim.trade_limit_per_s = 0  # the venue's own limit is not under test here (answer_429 is)
    faults = FAULTS + (("restart",) if restarts else ())
    gw = await Gateway.start(config)
    s = await _connect(gw)
    settled = [0, 0]  # look-ups settled, closed on a guess: across restarts
    try:
        adapter = gw.venues[venue]
        symbol = "ETH-PERP"
        steps = adapter.steps[symbol]
        tick, lot = steps.tick, max(steps.lot, steps.min_quantity)
        mid = 3000 * ONE
        acked: list[str] = []
        for batch in range(max(1, orders // 10)):
            fault = rng.choice(faults)
            report.faults[fault] += 1
            if fault == "drop_streams":
                await sim.drop_streams()
            elif fault == "session_expiry":
                expire = getattr(sim, "expire_sessions", None)
                if expire is not None:  # venues whose sessions expire
                    expire()
            else:
                _switch(sim, fault, True)
            for i in range(10):
                cid = f"c{batch}-{i}"
                side = rng.choice(("buy", "sell"))
                # a quarter cross the market maker's book at once, the rest rest near it
                away = -rng.randint(1, 5) if rng.random() < 0.25 else rng.randint(20, 200)
                price = mid - away * 10 * tick if side == "buy" else mid + away * 10 * tick
                qty = lot * rng.randint(1, 3)
                report.orders += 1
                ack = await s.place(venue, symbol, side, _text(qty), _text(price), client_order_id=cid)
                if ack.ok:
                    acked.append(cid)
            for cid in rng.sample(acked, min(3, len(acked))):
                await s.cancel(cid)
            if fault == "restart":
                # at once: the batch's requests are still in the line or in flight
                settled = [settled[0] + adapter.resolver.resolved, settled[1] + adapter.resolver.guessed]
                await s.__aexit__(None, None, None)
                await gw.stop()
                gw = await Gateway.start(config)
                adapter = gw.venues[venue]
                s = await _connect(gw)
            side = rng.choice(("buy", "sell"))
            far = mid + 300 * 10 * tick if side == "buy" else mid - 300 * 10 * tick
            try:
                await sim.outside_trade(symbol, side, _text(far), _text(lot * 2))
            except Exception:  # noqa: BLE001 - a simulator without a taker: no outside flow
                pass
            await asyncio.sleep(rng.uniform(0, 0.3))
            _switch(sim, fault, False)
            if fault == "hold_events" and rng.random() < 0.5:
                await sim.release_events()
        for fault in faults:
            _switch(sim, fault, False)
        await sim.release_events()
        report.acked = len(acked)
        t0 = time.monotonic()
        while time.monotonic() - t0 < bound_s:
            if not _compare(gw, sim, adapter, acked):
                report.converged_s = time.monotonic() - t0
                break
            await asyncio.sleep(0.25)
        report.problems = _compare(gw, sim, adapter, acked)
        for cid in acked:
            order = gw.tracker.by_client("chaos", cid)
            report.statuses[order.status.value] += 1
            report.filled_orders += bool(order.filled)
        report.resolved_by_lookup = settled[0] + adapter.resolver.resolved
        report.closed_on_guess = settled[1] + adapter.resolver.guessed
    finally:
        await s.__aexit__(None, None, None)
        await gw.stop()
        await sim.stop()
    return report


async def _connect(gw) -> GatewayClient:
    client = GatewayClient(gw.config.server.socket_path, strategy="chaos", timeout_s=30)
    await client.__aenter__()
    return client


def _compare(gw, sim, adapter, acked: list[str]) -> list[str]:
    problems = []
    tracker = gw.tracker
    book = {_bare(o.order_id): o for o in sim.engine.orders.values()}
    ours = {_bare(o.venue_order_id) for o in (tracker.by_client("chaos", c) for c in acked)
            if o is not None and o.venue_order_id}
    if len(adapter.resolver):
        problems.append(f"{len(adapter.resolver)} orders still being asked about")
    for cid in acked:
        order = tracker.by_client("chaos", cid)
        if order is None:
            problems.append(f"{cid}: acked, unknown")
            continue
        if order.status in (Status.PENDING_NEW, Status.PENDING_CANCEL, Status.PENDING_REPLACE):
            problems.append(f"{cid}: {order.status.value}")
            continue
        if len({f.trade_id for f in order.fills}) != len(order.fills) or order.booked > order.filled:
            problems.append(f"{cid}: a fill booked twice")
        venue_order = book.get(_bare(order.venue_order_id or ""))
        if venue_order is None:
            if order.status not in (Status.REJECTED, Status.CANCELED) or not any(
                    w in (order.reason or "") for w in _NEVER_THERE):
                problems.append(f"{cid}: {order.status.value} ({order.reason}) but the venue never had it")
            continue
        same = _SAME[venue_order.status.value]
        if venue_order.status.value == "CANCELLED" and venue_order.reason is not None \
                and venue_order.reason.value != "USER":
            same = same | {"REJECTED"}  # the venue canceled it on arrival (self-trade, post-only): refused
        if (order.status is Status.REJECTED and order.guessed and not order.filled and not venue_order.filled
                and adapter.name in _BLIND and venue_order.status.value == "CANCELLED"):
            continue  # closed without a fill either way; which way, the venue cannot be asked
        if order.status.value not in same:
            problems.append(f"{cid}: {order.status.value} ({order.reason}), the venue says {venue_order.status.value}")
        if order.filled != venue_order.filled:
            problems.append(f"{cid}: filled {order.filled}, the venue says {venue_order.filled}")
        elif order.filled and order.avg_price != venue_order.notional // venue_order.filled:
            problems.append(f"{cid}: average {order.avg_price}, the venue says "
                            f"{venue_order.notional // venue_order.filled}")
    makers = {sim.mm.account, f"{sim.mm.account}-taker"} if getattr(sim, "mm", None) else set()
    for key, venue_order in book.items():
        if venue_order.account not in makers and key not in ours:
            problems.append(f"the venue has order {venue_order.order_id} ({venue_order.status.value}) we do not track")
    return problems


def _bare(venue_id: str) -> str:
    venue_id = venue_id.lower()
    return venue_id[2:] if venue_id.startswith("0x") else venue_id


def _text(value: int) -> str:
    whole, frac = divmod(value, ONE)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venue", action="append", choices=VENUES, help="venue to run (repeatable; default all)")
    parser.add_argument("--orders", type=int, default=400, help="orders per venue (default 400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bound-s", type=float, default=60, help="time allowed to converge after the faults")
    parser.add_argument("--json", action="store_true", help="one JSON object per venue")
    args = parser.parse_args(argv)
    failed = 0
    for venue in args.venue or VENUES:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            report = asyncio.run(run_venue(Path(tmp), venue, args.orders, args.seed, args.bound_s))
        failed += not report.ok
        if args.json:
            print(json.dumps({"venue": venue, "ok": report.ok, "orders": report.orders, "acked": report.acked,
                              "faults": dict(report.faults), "statuses": dict(report.statuses),
                              "filled_orders": report.filled_orders, "converged_s": report.converged_s,
                              "resolved_by_lookup": report.resolved_by_lookup,
                              "closed_on_guess": report.closed_on_guess, "problems": report.problems[:20]}))
        else:
            print(f"{venue}: {'ok' if report.ok else 'FAILED'} in {time.monotonic() - t0:.0f} s; "
                  f"{report.orders} orders, {report.acked} acked, {report.filled_orders} with fills; "
                  f"statuses {dict(report.statuses)}; faults {dict(report.faults)}; "
                  f"look-ups settled {report.resolved_by_lookup}, closed on a guess {report.closed_on_guess}; "
                  f"converged after {report.converged_s if report.converged_s is None else round(report.converged_s, 1)} s")
            for problem in report.problems[:20]:
                print(f"  {problem}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
