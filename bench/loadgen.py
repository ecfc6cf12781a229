"""End-to-end load generator: strategies -> gateway -> Citrex simulator, and the numbers.

    python -m bench.loadgen --conns 4 --rate 0 --inflight 8 --duration 10 --json out.json --plot bench/latency.png

Starts a Citrex simulator in its own process (`gateway sim citrex --port 0`,
recovering one order signature in --sim-verify-every so that it costs less CPU
per order than the gateway: this measures the gateway, not the simulator), a
gateway process pointed at it (`gateway run`, metrics on a free port, latency
dump on SIGUSR1), then N strategy connections speaking the frame protocol
directly (msgspec msgpack, the compiled frame splitter) that place resting
limit orders far from the market (optionally a place/cancel/replace mix) at
--rate orders/s in total (0: as fast as possible with --inflight orders
awaiting the venue's word per connection) for --duration seconds after --warmup.

Reported: acked orders/s; strategy->ack and strategy->first venue-confirmed
`order_update` percentiles (p50/p90/p99/p99.9); the gateway's own tick-to-wire
(its exact samples dumped on SIGUSR1, cross-checked with the Prometheus
histogram's buckets); CPU per order of the gateway, the simulator and this
process (/proc/<pid>/task/*/schedstat, ns resolution; /proc/<pid>/stat ticks if
absent); and the baselines of bench/baselines.py measured in the same run.
Then, unless --no-ccxt, the same load against a Poloniex simulator process twice:
through the gateway (`gateway_poloniex`) and through ccxt (baseline (d)).

Latency is measured from the moment a request is written (not from when it was
due), so in --rate mode a stalled gateway shows as a lower achieved rate, not
as latency (coordinated omission); the achieved send rate is reported.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgspec

from bench import baselines
from bench.dropcopy import compare_and_report
from bench.processes import JOURNAL, POLONIEX_SYMBOL, SIM_VERIFY_EVERY, SYMBOL, Stack, cpu_seconds
from bench.stats import bucket_delta, bucket_quantiles_us, histogram_buckets, percentiles_us
from gateway._core.framing import FrameSplitter, encode_frame

# ---------------------------------------------------------------------------
# the strategy side: one protocol object per connection

class _Err(msgspec.Struct):
    code: str
    message: str = ""


class _OrderLite(msgspec.Struct):
    client_order_id: str
    status: str


class _Ack(msgspec.Struct, tag_field="op", tag="ack"):
    req_id: int
    ok: bool
    error: _Err | None = None


class _Update(msgspec.Struct, tag_field="op", tag="order_update"):
    order: _OrderLite


class _CancelReject(msgspec.Struct, tag_field="op", tag="cancel_reject"):
    client_order_id: str
    reason: str = ""


class _ProtocolError(msgspec.Struct, tag_field="op", tag="error"):
    code: str
    message: str = ""


_decoder = msgspec.msgpack.Decoder(_Ack | _Update | _CancelReject | _ProtocolError)
_encoder = msgspec.msgpack.Encoder()
_PENDING = frozenset({"PENDING_NEW", "PENDING_REPLACE", "PENDING_CANCEL"})
_QTY = "0.001"


def _price(i: int, side: str) -> str:
    """Far from the market (mid 3000): buys 1000.0-1099.9, sells 5000.0-5099.9, spread over 1000 levels."""
    base = 10000 if side == "buy" else 50000
    v = base + (i * 7919) % 1000
    return f"{v // 10}.{v % 10}"


@dataclass
class Counters:
    sent: dict[str, int] = field(default_factory=lambda: {"place": 0, "cancel": 0, "replace": 0})
    acked: int = 0
    confirmed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Run:
    """Shared state of one load run: every connection writes its samples here."""

    def __init__(self, mix: dict[str, float], measure_from_ns: int, venue: str = "citrex", symbol: str = SYMBOL):
        self.mix = mix
        self.venue = venue
        self.symbol = symbol
        self.measure_from_ns = measure_from_ns
        self.total = Counters()
        self.window = Counters()  # requests sent inside the measurement window only
        self.ack_ns: dict[str, list[int]] = {"place": [], "cancel": [], "replace": []}
        self.confirm_ns: dict[str, list[int]] = {"place": [], "cancel": [], "replace": []}
        self.acked_in_window = 0
        self.sending = True


class StrategyConn(asyncio.Protocol):
    def __init__(self, run: Run, name: str, inflight: int, closed_loop: bool, seed: int):
        self.run = run
        self.name = name
        self.inflight_cap = inflight
        self.closed_loop = closed_loop
        self.rng = random.Random(seed)
        self.splitter = FrameSplitter(1 << 20)
        self.transport: asyncio.Transport | None = None
        self.req = 0
        self.cid = 0
        self.pending: dict[int, tuple[int, str, str]] = {}  # req_id -> (t0, op, cid)
        self.awaiting: dict[str, tuple[int, str, str]] = {}  # cid -> (t0, op, side) until the venue's word
        self.open_cids: deque[tuple[str, str]] = deque()  # confirmed OPEN, nothing asked of them yet
        self.hello_waiter: asyncio.Future | None = None
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()
        self.side = "buy"

    # connection

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        if self.hello_waiter is not None and not self.hello_waiter.done():
            self.hello_waiter.set_exception(ConnectionError("gateway closed the connection"))

    async def hello(self) -> None:
        self.hello_waiter = asyncio.get_running_loop().create_future()
        self._write({"op": "hello", "req_id": 0, "strategy": self.name})
        await asyncio.wait_for(self.hello_waiter, 10)

    def _write(self, message: dict) -> None:
        self.transport.write(encode_frame(_encoder.encode(message)))

    # sending

    @property
    def outstanding(self) -> int:
        # until the venue's word, not the ack: an ack means "queued for the venue", so a window
        # of unacked requests would flood the gateway's outbound line instead of loading the path
        return len(self.awaiting)

    def _refill(self) -> None:
        if self.closed_loop and self.run.sending:
            while self.outstanding < self.inflight_cap:
                self.send_one()

    def send_one(self) -> None:
        op = self._pick_op()
        self.req += 1
        req = self.req
        t0 = time.perf_counter_ns()
        if op == "place":
            self.cid += 1
            cid = f"{self.name}-{self.cid}"
            self.side = "sell" if self.side == "buy" else "buy"
            self._write({"op": "place", "req_id": req, "client_order_id": cid, "venue": self.run.venue,
                         "symbol": self.run.symbol, "side": self.side, "quantity": _QTY,
                         "price": _price(self.cid, self.side)})
            self.awaiting[cid] = (t0, op, self.side)
        elif op == "cancel":
            cid, side = self.open_cids.popleft()
            self._write({"op": "cancel", "req_id": req, "client_order_id": cid})
            self.awaiting[cid] = (t0, op, side)
        else:
            old, side = self.open_cids.popleft()
            self.cid += 1
            cid = f"{self.name}-{self.cid}"
            self._write({"op": "replace", "req_id": req, "client_order_id": old, "new_client_order_id": cid,
                         "quantity": _QTY, "price": _price(self.cid, side)})
            self.awaiting[cid] = (t0, op, side)
        self.pending[req] = (t0, op, cid)
        self.run.total.sent[op] += 1
        if t0 >= self.run.measure_from_ns:
            self.run.window.sent[op] += 1

    def _pick_op(self) -> str:
        mix = self.run.mix
        if not self.open_cids or mix["place"] >= 1.0:
            return "place"
        r = self.rng.random()
        if r < mix["place"]:
            return "place"
        return "cancel" if r < mix["place"] + mix["cancel"] else "replace"

    # receiving

    def data_received(self, data: bytes) -> None:
        for payload in self.splitter.feed(data):
            msg = _decoder.decode(payload)
            now = time.perf_counter_ns()
            if type(msg) is _Update:
                self._on_update(msg.order, now)
            elif type(msg) is _Ack:
                self._on_ack(msg, now)
            elif type(msg) is _CancelReject:
                self._on_cancel_reject(msg)
            else:
                self.run.total.error(f"protocol_{msg.code}")

    def _on_ack(self, ack: _Ack, now: int) -> None:
        if ack.req_id == 0 and self.hello_waiter is not None and not self.hello_waiter.done():
            if ack.ok:
                self.hello_waiter.set_result(None)
            else:
                self.hello_waiter.set_exception(RuntimeError(f"hello refused: {ack.error}"))
            return
        entry = self.pending.pop(ack.req_id, None)
        if entry is None:
            return
        t0, op, cid = entry
        in_window = t0 >= self.run.measure_from_ns
        if ack.ok:
            self.run.total.acked += 1
            if in_window:
                self.run.window.acked += 1
                self.run.ack_ns[op].append(now - t0)
            if now >= self.run.measure_from_ns and self.run.sending:
                self.run.acked_in_window += 1
        else:
            self.awaiting.pop(cid, None)
            code = ack.error.code if ack.error else "unknown"
            self.run.total.error(code)
            if in_window:
                self.run.window.error(code)
            self._refill()

    def _on_update(self, order: _OrderLite, now: int) -> None:
        status = order.status
        if status in _PENDING:
            return
        cid = order.client_order_id
        entry = self.awaiting.get(cid)
        if entry is None:
            return
        t0, op, side = entry
        if op == "cancel" and status == "OPEN":
            return  # an update from before the cancel
        del self.awaiting[cid]
        self._refill()
        self.run.total.confirmed += 1
        if t0 >= self.run.measure_from_ns:
            self.run.window.confirmed += 1
            self.run.confirm_ns[op].append(now - t0)
        if status == "OPEN":
            if op != "cancel":
                self.open_cids.append((cid, side))
        elif op != "cancel" or status != "CANCELED":
            if status in ("REJECTED", "EXPIRED"):
                self.run.total.error(f"venue_{status.lower()}")
                if t0 >= self.run.measure_from_ns:
                    self.run.window.error(f"venue_{status.lower()}")

    def _on_cancel_reject(self, msg: _CancelReject) -> None:
        entry = self.awaiting.pop(msg.client_order_id, None)
        self._refill()
        self.run.total.error("cancel_reject")
        if entry is not None and entry[0] >= self.run.measure_from_ns:
            self.run.window.error("cancel_reject")


async def _paced(conn: StrategyConn, rate: float, start: float, end: float) -> None:
    """Open loop: conn sends rate/s from start to end (monotonic s), never more than its inflight cap."""
    loop = asyncio.get_running_loop()
    sent = 0
    while True:
        now = loop.time()
        if now >= end:
            return
        due = int((now - start) * rate) - sent
        room = conn.inflight_cap - conn.outstanding
        for _ in range(max(0, min(due, room))):
            conn.send_one()
            sent += 1
        await asyncio.sleep(max(0.0005, min(0.01, (sent + 1) / rate - (loop.time() - start))))


async def drive(socket_path: str, *, conns: int, rate: float, inflight: int, duration: float, warmup: float,
                mix: dict[str, float], drain_s: float = 5.0, progress: bool = True,
                on_window: list | None = None, venue: str = "citrex", symbol: str = SYMBOL) -> tuple[Run, float]:
    """Runs the strategies against a gateway. on_window: callables run when the measured window
    opens and when sending stops (to read CPU counters, scrape metrics). Returns (run, window seconds)."""
    loop = asyncio.get_running_loop()
    run = Run(mix, measure_from_ns=1 << 62, venue=venue, symbol=symbol)
    tag = f"{os.getpid() % 100000}-{time.time_ns() // 1000 % 10**6}"
    protos: list[StrategyConn] = []
    for i in range(conns):
        _, proto = await loop.create_unix_connection(
            lambda i=i: StrategyConn(run, f"load{i}-{tag}", inflight, rate <= 0, seed=i), socket_path)
        await proto.hello()
        protos.append(proto)

    start = loop.time()
    t_measure = start + warmup
    end = t_measure + duration
    window_start = [0.0]

    async def open_window() -> None:
        await asyncio.sleep(max(0.0, t_measure - loop.time()))
        run.measure_from_ns = time.perf_counter_ns()
        window_start[0] = time.perf_counter()
        for hook in on_window or ():
            hook("start")

    async def report_progress() -> None:
        last_acked, last_t = 0, time.perf_counter()
        t0 = last_t
        while True:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            acked = run.total.acked
            errors = sum(run.total.errors.values())
            print(f"[{now - t0:5.1f}s] sent {sum(run.total.sent.values())}  acked {acked}  confirmed "
                  f"{run.total.confirmed}  errors {errors}  rate {(acked - last_acked) / (now - last_t):.0f}/s"
                  f"  in flight {sum(p.outstanding for p in protos)}", file=sys.stderr, flush=True)
            last_acked, last_t = acked, now

    window_task = asyncio.ensure_future(open_window())
    progress_task = asyncio.ensure_future(report_progress()) if progress else None
    if rate <= 0:
        for p in protos:
            for _ in range(inflight):
                p.send_one()
        await asyncio.sleep(max(0.0, end - loop.time()))
    else:
        await asyncio.gather(*(_paced(p, rate / conns, start, end) for p in protos))
    await window_task
    run.sending = False
    window_s = time.perf_counter() - window_start[0]
    for hook in on_window or ():
        hook("sent")
    deadline = loop.time() + drain_s
    while loop.time() < deadline and any(p.pending or p.awaiting for p in protos):
        if any(p.lost.done() for p in protos):
            break
        await asyncio.sleep(0.01)
    if progress_task is not None:
        progress_task.cancel()
    run.unacked = sum(len(p.pending) for p in protos)  # type: ignore[attr-defined]
    run.unconfirmed = sum(len(p.awaiting) for p in protos)  # type: ignore[attr-defined]
    run.disconnected = sum(p.lost.done() for p in protos)  # type: ignore[attr-defined]
    for p in protos:
        p.transport.close()
    return run, window_s


# ---------------------------------------------------------------------------
# one whole run

@dataclass
class Options:
    conns: int = 4
    rate: float = 0.0
    inflight: int = 8
    duration: float = 10.0
    warmup: float = 1.0
    mix: str = "place=1"
    http_connections: int = 64
    baselines: bool = True
    baseline_duration: float = 5.0
    ccxt: bool = True  # with the baselines: the gateway and ccxt on a Poloniex simulator, (d)
    sim_verify_every: int = SIM_VERIFY_EVERY  # the Citrex simulator recovers one order signature in N
    venue: str = "sim"  # the Citrex run's venue process: "sim" (gateway sim citrex) or "stub" (bench/stubvenue.py)
    busy_poll_us: int = 0  # the gateway's [server] busy_poll_us
    journal: bool = False  # the gateway journals every order (as the embedded default config does)
    json_path: str | None = None
    plot_path: str | None = None
    profile: str | None = None
    progress: bool = True
    samples_out: bool = False  # keep the raw samples in the report (for the plot)


def parse_mix(text: str) -> dict[str, float]:
    weights = {"place": 0.0, "cancel": 0.0, "replace": 0.0}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in weights:
            raise ValueError(f"--mix: unknown op {name!r} (place, cancel, replace)")
        weights[name] = float(value or 1)
    total = sum(weights.values())
    if total <= 0 or weights["place"] <= 0:
        raise ValueError("--mix needs a positive place weight")
    return {k: v / total for k, v in weights.items()}


def run_gateway(opts: Options, *, venue: str = "citrex", duration: float | None = None,
                mix: dict[str, float] | None = None, profile: str | None = None,
                gateway_extra: str = "") -> tuple[dict, dict]:
    """One simulator process and one gateway process for venue, driven by opts' strategies for
    duration (default opts.duration). Returns the gateway's section of the report and its samples."""
    import uvloop

    mix = mix or parse_mix(opts.mix)
    duration = opts.duration if duration is None else duration
    symbol = SYMBOL if venue == "citrex" else POLONIEX_SYMBOL
    if opts.journal and "[journal]" not in gateway_extra:
        gateway_extra += JOURNAL
    stack = Stack(http_connections=opts.http_connections, profile=profile, venue=venue,
                  sim_verify_every=opts.sim_verify_every, busy_poll_us=opts.busy_poll_us,
                  gateway_extra=gateway_extra, stub=opts.venue == "stub" and venue == "citrex")
    stub = stack.stub
    stack.start()
    try:
        marks: dict[str, dict] = {}

        def hook(what: str) -> None:
            marks[what] = {
                "gw_cpu": cpu_seconds(stack.gw.pid), "sim_cpu": cpu_seconds(stack.sim.pid),
                "me_cpu": time.process_time(), "t": time.perf_counter(),
                "metrics": stack.scrape() if what == "start" else "",
            }

        async def main():
            return await drive(str(stack.socket_path), conns=opts.conns, rate=opts.rate, inflight=opts.inflight,
                               duration=duration, warmup=opts.warmup, mix=mix, progress=opts.progress,
                               on_window=[hook], venue=venue, symbol=symbol)

        run, window_s = uvloop.run(main())
        hook("end")  # after the drain: the CPU of the confirmations of the last orders counts too
        metrics_end = stack.scrape()
        dump = stack.dump_latency()
    finally:
        stack.stop()

    ops_window = run.window.acked
    h_name = "gateway_order_tick_to_wire_seconds"
    before = histogram_buckets(marks["start"]["metrics"], h_name, {"venue": venue})
    after = histogram_buckets(metrics_end, h_name, {"venue": venue})
    window_hist = bucket_delta(after, before)
    n_window = int(window_hist[-1][1]) if window_hist else 0
    # the dump is the gateway's last 65536 samples; the window's are its last n_window of them
    dump_window = dump[-n_window:] if n_window and n_window <= len(dump) else dump

    def per_order(key: str) -> float | None:
        used = marks["end"][key] - marks["start"][key]
        return used / ops_window * 1e6 if ops_window else None

    elapsed_cpu = marks["end"]["t"] - marks["start"]["t"]
    g = {
        "window_s": window_s,
        "sent": run.window.sent,
        "acked": run.window.acked,
        "confirmed": run.window.confirmed,
        "errors": run.window.errors,
        "errors_total": run.total.errors,
        "unacked_at_end": run.unacked,
        "unconfirmed_at_end": run.unconfirmed,
        "disconnected": run.disconnected,
        "throughput_acked_per_s": run.acked_in_window / window_s if window_s else 0.0,
        "send_rate_per_s": sum(run.window.sent.values()) / window_s if window_s else 0.0,
        "ack_us": percentiles_us([v for vs in run.ack_ns.values() for v in vs]),
        "confirm_us": percentiles_us([v for vs in run.confirm_ns.values() for v in vs]),
        "by_op": {op: {"ack_us": percentiles_us(run.ack_ns[op]), "confirm_us": percentiles_us(run.confirm_ns[op])}
                  for op in ("place", "cancel", "replace") if run.ack_ns[op]},
        "tick_to_wire_us": percentiles_us(dump_window),
        "tick_to_wire_hist_us": bucket_quantiles_us(window_hist),
        "cpu_us_per_order": {"gateway": per_order("gw_cpu"), "simulator": per_order("sim_cpu"),
                             "loadgen": per_order("me_cpu")},
        "cpu_utilisation": {k: (marks["end"][key] - marks["start"][key]) / elapsed_cpu
                            for k, key in (("gateway", "gw_cpu"), ("simulator", "sim_cpu"), ("loadgen", "me_cpu"))},
        "simulator": {"venue": venue, "verify_every": opts.sim_verify_every if venue == "citrex" else 1,
                      "process": "stub" if stub else "sim"},
    }
    samples = {"gateway_ack": [v for vs in run.ack_ns.values() for v in vs],
               "gateway_confirm": [v for vs in run.confirm_ns.values() for v in vs]}
    return g, samples


def run_load(opts: Options) -> dict:
    """Starts the stack, drives it, returns the report (and the raw samples under "_samples")."""
    mix = parse_mix(opts.mix)
    report: dict = {"options": {k: v for k, v in asdict(opts).items() if k not in ("samples_out",)},
                    "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    g, samples = run_gateway(opts, mix=mix, profile=opts.profile)
    report["gateway"] = g

    if opts.baselines:
        report["baselines"] = {}
        pp = baselines.pingpong(rounds=5000)
        report["baselines"]["pingpong"] = pp["stats"]
        samples["pingpong"] = pp["samples_ns"]
        report["baselines"]["coincurve_sign"] = baselines.coincurve_sign()
        ea = baselines.eth_account_aiohttp(conns=opts.conns, inflight=opts.inflight, rate=opts.rate,
                                           duration=opts.baseline_duration, warmup=min(opts.warmup, 1.0),
                                           progress=opts.progress, verify_every=opts.sim_verify_every,
                                           stub=opts.venue == "stub")
        samples["eth_account"] = ea.pop("samples_ns")
        report["baselines"]["eth_account_aiohttp"] = ea
        if opts.ccxt:
            # the same resting limit orders at the same concurrency on one venue, Poloniex, two ways:
            # through the gateway, and through ccxt (what a Python user reaches for first)
            gp, gp_samples = run_gateway(opts, venue="poloniex", duration=opts.baseline_duration,
                                         mix=parse_mix("place=1"))
            report["gateway_poloniex"] = gp
            samples["gateway_poloniex_confirm"] = gp_samples["gateway_confirm"]
            cx = baselines.ccxt_poloniex(conns=opts.conns, inflight=opts.inflight, rate=opts.rate,
                                         duration=opts.baseline_duration, warmup=min(opts.warmup, 1.0),
                                         progress=opts.progress)
            samples["ccxt_poloniex"] = cx.pop("samples_ns", [])
            report["baselines"]["ccxt_poloniex"] = cx
    if opts.samples_out or opts.plot_path:
        report["_samples"] = samples
    return report


# ---------------------------------------------------------------------------
# output

def _fmt(v, unit="") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:,.1f}{unit}"
    return f"{v}{unit}"


def format_table(report: dict) -> str:
    g = report["gateway"]
    o = report["options"]
    lines = [
        f"load: {o['conns']} connections, rate {'max' if not o['rate'] else o['rate']}, inflight {o['inflight']}"
        f"/conn, mix {o['mix']}, {g['window_s']:.1f} s measured after {o['warmup']} s warm-up, "
        f"{report['machine']['cpus']} CPUs",
        "",
        f"{'what':<44} {'n':>8} {'p50':>9} {'p90':>9} {'p99':>9} {'p99.9':>9}  throughput",
    ]

    def row(name: str, st: dict, extra: str = "") -> None:
        lines.append(f"{name:<44} {st.get('n', 0):>8} " + " ".join(
            f"{_fmt(st.get(k)):>9}" for k in ("p50", "p90", "p99", "p999")) + f"  {extra}")

    row("gateway: strategy -> ack (us)", g["ack_us"], f"{g['throughput_acked_per_s']:,.0f} acked/s")
    row("gateway: strategy -> venue-confirmed (us)", g["confirm_us"])
    for op, st in g["by_op"].items():
        if len(g["by_op"]) > 1:
            row(f"  {op}: ack (us)", st["ack_us"])
            row(f"  {op}: confirmed (us)", st["confirm_us"])
    row("gateway: tick-to-wire, exact samples (us)", g["tick_to_wire_us"])
    row("gateway: tick-to-wire, /metrics buckets (us)", g["tick_to_wire_hist_us"])
    b = report.get("baselines")
    if b:
        row("(a) blocking UDS ping-pong, 2 processes (us)", b["pingpong"])
        cs = b["coincurve_sign"]
        lines.append(f"{'(b) bare coincurve sign_recoverable':<44} {cs['n']:>8} {_fmt(cs['median_us']):>9}"
                     f" {'':>9} {'':>9} {'':>9}  {cs['orders_per_s']:,.0f} orders/s on one core")
        ea = b["eth_account_aiohttp"]
        row("(c) eth-account + aiohttp: request->reply (us)", ea["latency_us"],
            f"{ea['throughput_per_s']:,.0f} replies/s, errors {sum(ea['errors'].values())}")
    gp = report.get("gateway_poloniex")
    if gp:
        row("gateway on Poloniex sim: -> ack (us)", gp["ack_us"],
            f"{gp['throughput_acked_per_s']:,.0f} acked/s")
        row("gateway on Poloniex sim: -> confirmed (us)", gp["confirm_us"])
    cx = (b or {}).get("ccxt_poloniex")
    if cx and "skipped" in cx:
        lines.append(f"{'(d) ccxt on Poloniex sim':<44} skipped: {cx['skipped']}")
    elif cx:
        row("(d) ccxt, Poloniex sim: request->reply (us)", cx["latency_us"],
            f"{cx['throughput_per_s']:,.0f} replies/s, errors {sum(cx['errors'].values())}")
    cpu = g["cpu_us_per_order"]
    util = g["cpu_utilisation"]

    def cpu_line(cpu: dict, util: dict) -> str:
        return ", ".join(f"{k} {_fmt(cpu[k])} / {util[k] * 100:.0f}%" for k in ("gateway", "simulator", "loadgen"))

    verify = g.get("simulator", {}).get("verify_every", 1)
    what = "Citrex stub venue" if g.get("simulator", {}).get("process") == "stub" else "Citrex sim"
    lines += [
        "",
        f"CPU per order (us) / utilisation: {cpu_line(cpu, util)}"
        + (f" ({what} recovers 1 order signature in {verify})" if verify > 1 else ""),
        f"sent {sum(g['sent'].values())} {g['sent']}, acked {g['acked']}, confirmed {g['confirmed']}, "
        f"errors {g['errors'] or 0}, unacked at end {g['unacked_at_end']}, unconfirmed at end "
        f"{g['unconfirmed_at_end']}",
    ]
    if gp:
        lines.append(f"Poloniex sim, gateway: CPU per order (us) / utilisation: "
                     f"{cpu_line(gp['cpu_us_per_order'], gp['cpu_utilisation'])}; acked {gp['acked']}, "
                     f"confirmed {gp['confirmed']}, errors {gp['errors'] or 0}")
    if cx and "cpu_us_per_order" in cx:
        c = cx["cpu_us_per_order"]
        lines.append(f"Poloniex sim, ccxt: CPU per order (us): ccxt client {_fmt(c['client'])}, "
                     f"simulator {_fmt(c['simulator'])}")
    return "\n".join(lines)


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report.get("_samples", {})
    series = [
        ("gateway: strategy -> ack", samples.get("gateway_ack")),
        ("gateway: strategy -> venue-confirmed", samples.get("gateway_confirm")),
        ("(a) blocking UDS ping-pong", samples.get("pingpong")),
        ("(c) eth-account + aiohttp: request -> reply", samples.get("eth_account")),
        ("Poloniex: gateway, strategy -> venue-confirmed", samples.get("gateway_poloniex_confirm")),
        ("(d) ccxt on Poloniex: request -> reply", samples.get("ccxt_poloniex")),
    ]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for label, values in series:
        if not values:
            continue
        s = sorted(v / 1e3 for v in values)
        n = len(s)
        ax.plot(s, [(i + 1) / n for i in range(n)], label=f"{label} (n={n}, p50 {s[n // 2]:,.0f} us)")
    ax.set_xscale("log")
    ax.set_xlabel("latency (us, log)")
    ax.set_ylabel("fraction of requests")
    o = report["options"]
    ax.set_title(f"order-gateway load: {o['conns']} conns, rate {'max' if not o['rate'] else o['rate']}, "
                 f"inflight {o['inflight']}/conn")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    p.add_argument("--conns", type=int, default=4, help="strategy connections (default 4)")
    p.add_argument("--rate", type=float, default=0.0, help="orders/s in total; 0: as fast as possible (default)")
    p.add_argument("--inflight", type=int, default=8, help="orders awaiting the venue's word (or a refusal) per connection (default 8)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds (default 10)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    p.add_argument("--mix", default="place=1", help="op weights, e.g. place=6,cancel=3,replace=1 (default place=1)")
    p.add_argument("--http-connections", type=int, default=64, help="gateway's http_connections (default 64)")
    p.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    p.add_argument("--baseline-duration", type=float, default=5.0,
                   help="seconds of baselines (c) and (d) and of the gateway's Poloniex run (default 5)")
    p.add_argument("--no-ccxt", action="store_true",
                   help="skip baseline (d), ccxt on a Poloniex simulator, and the gateway's run beside it")
    p.add_argument("--sim-verify-every", type=int, default=SIM_VERIFY_EVERY, metavar="N",
                   help="the Citrex simulator recovers the first order signature and then one in N; "
                        f"1: every one, as the default simulator (default {SIM_VERIFY_EVERY})")
    p.add_argument("--busy-poll-us", type=int, default=0, metavar="US",
                   help="the gateway's [server] busy_poll_us: spin this long after each request (default 0)")
    p.add_argument("--venue", choices=("sim", "stub"), default="sim",
                   help="the Citrex venue process: the product's simulator, or bench/stubvenue.py (the same "
                        "protocol, no matching, cheaper per order than the gateway); baseline (c) gets the same "
                        "(default sim)")
    p.add_argument("--journal", action="store_true",
                   help="the gateway journals every order in its temp dir, as the embedded default does "
                        "(default: no journal)")
    p.add_argument("--drop-copy", type=int, default=0, metavar="PAIRS",
                   help="instead: PAIRS interleaved runs of the gateway with and without [drop_copy] (its own "
                        "nats-server), gateway CPU per order of each and their ratio (bench/dropcopy.py)")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="write the report as JSON")
    p.add_argument("--plot", dest="plot_path", metavar="PATH", help="latency CDFs as a PNG (needs matplotlib)")
    p.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile, stats to FILE")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def options_from_args(args: argparse.Namespace) -> Options:
    return Options(conns=args.conns, rate=args.rate, inflight=args.inflight, duration=args.duration,
                   warmup=args.warmup, mix=args.mix, http_connections=args.http_connections,
                   baselines=not args.no_baselines, baseline_duration=args.baseline_duration,
                   ccxt=not args.no_ccxt, sim_verify_every=args.sim_verify_every, busy_poll_us=args.busy_poll_us,
                   journal=args.journal, venue=args.venue, json_path=args.json_path, plot_path=args.plot_path, profile=args.profile,
                   progress=not args.quiet)


def run_and_report(opts: Options) -> int:
    report = run_load(opts)
    print(format_table(report))
    samples = report.pop("_samples", {})
    if opts.json_path:
        Path(opts.json_path).write_text(json.dumps(report, indent=2) + "\n")
    if opts.plot_path:
        report["_samples"] = samples
        plot(report, opts.plot_path)
        print(f"plot: {opts.plot_path}")
    ok = all(g["acked"] and not g["errors"] and not g["disconnected"]
             for g in (report["gateway"], report.get("gateway_poloniex")) if g is not None)
    return 0 if ok else 1


def run_args(args: argparse.Namespace) -> int:
    if args.plot_path:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("gateway bench: --plot needs matplotlib (pip install -e '.[bench]', or `make bench`)",
                  file=sys.stderr)
            return 2
    if args.drop_copy:
        return compare_and_report(options_from_args(args), args.drop_copy, run_gateway, args.json_path)
    return run_and_report(options_from_args(args))


def main(argv: list[str] | None = None) -> int:
    return run_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
