"""Paced, unqueued latency: the gateway's round trips beside their floors, one blocking
client, one pacing, one run.

    python -m bench.paced --pacing-ms 1 --rounds 2000 [--json out.json]
    python -m pytest bench/bench_paced.py --benchmark-only     # GATEWAY_PACED_MS=0.5,1,3 for several

Processes: a Citrex simulator (`gateway sim citrex`, recovering one order signature in
--sim-verify-every, as `gateway bench`), a gateway (`gateway run`, journal and metrics on
as the embedded default config has them), an echo server (the floor's far end), and this
one, the client. --code-dir runs the gateway and the simulator from another checkout
(e.g. the starting commit's) while this process stays the same.

One loop, one request per slot of --pacing-ms: wait for the slot, drain what the gateway
sent unasked (order updates: untimed), then time one request: encode, write, read frames
until the reply with its req_id, decode. Between requests the client sleeps with
time.sleep until --spin-us before the next slot and busy-waits the rest (time.sleep
overshoots by tens of microseconds here); a request that overruns its slot starts the
next one at once (counted as late: no catch-up bursts). The kinds take turns in blocks of
--block rounds, so the machine's drift hits all alike:

- floor: a ping frame to the echo server process, which answers a pong frame of the same
  size as the gateway's (msgpack decode + encode, as the gateway's ping does);
- ping: `ping` to the gateway;
- place: `place` of a resting limit buy far under the market (1000.0-1099.9 against a mid
  of 3000: it never fills, the venue's book never queues it) -> `ack`;
- sign: bare coincurve `sign_recoverable` of a ready digest, in this process;
- order_sign: the Citrex order's EIP-712 digest and signature (CitrexSigner.sign_order,
  what the gateway does per order), in this process.

Tick-to-wire (strategy frame in -> venue bytes written, less the venue line's wait) is
the gateway's own: its exact samples of the measured places (SIGUSR1 dump), and its
/metrics histogram over the measured window. The ratios asked of it (DESIGN.md,
"Performance budget"): place -> ack p50 / floor p50, tick-to-wire p50 / bare sign p50.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec

from bench.baselines import coincurve_sign
from bench.processes import JOURNAL, SIM_VERIFY_EVERY, SYMBOL, Stack, stop_process
from bench.stats import bucket_delta, bucket_quantiles_us, histogram_buckets, percentiles_us

_LEN = struct.Struct(">I")
KINDS = ("floor", "ping", "place", "sign", "order_sign")
TARGETS = {"place_ack_over_floor": 2.0, "tick_to_wire_over_sign": 2.5}

# the floor's far end: reads a frame, answers the pong the gateway would, blocking
_ECHO_SERVER = r"""
import socket, struct, sys, time
import msgspec
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
enc, dec, pack, unpack = msgspec.msgpack.encode, msgspec.msgpack.decode, struct.Struct(">I").pack, struct.Struct(">I").unpack_from
buf = bytearray()
while True:
    while len(buf) < 4 or len(buf) < 4 + unpack(buf)[0]:
        chunk = conn.recv(65536)
        if not chunk:
            sys.exit(0)
        buf += chunk
    n = unpack(buf)[0]
    req = dec(bytes(buf[4:4 + n]))
    del buf[:4 + n]
    body = enc({"op": "pong", "req_id": req["req_id"], "ts_ns": time.time_ns()})
    conn.sendall(pack(len(body)) + body)
"""


class BlockingClient:
    """What a C++ strategy would do: a blocking Unix socket, one request at a time, frames
    read into one buffer (one recv per reply when it is all there)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = bytearray()
        self.req = 0
        self.unasked = 0  # frames read that answered no request of ours (order updates)

    def _frame(self) -> dict:
        buf = self.buf
        while len(buf) < 4 or len(buf) < 4 + _LEN.unpack_from(buf)[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        n = _LEN.unpack_from(buf)[0]
        frame = msgspec.msgpack.decode(bytes(buf[4:4 + n]))
        del buf[:4 + n]
        return frame

    def call(self, message: dict) -> dict:
        self.req += 1
        message["req_id"] = self.req
        payload = msgspec.msgpack.encode(message)
        self.sock.sendall(_LEN.pack(len(payload)) + payload)
        while True:
            reply = self._frame()
            if reply.get("req_id") == self.req:
                return reply
            self.unasked += 1

    def drain(self) -> None:
        """Read what has arrived unasked, without waiting (untimed, before each request)."""
        while True:
            try:
                chunk = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk
        buf = self.buf
        while len(buf) >= 4 and len(buf) >= 4 + _LEN.unpack_from(buf)[0]:
            del buf[:4 + _LEN.unpack_from(buf)[0]]
            self.unasked += 1

    def close(self) -> None:
        self.sock.close()


@dataclass
class Options:
    pacing_ms: float = 1.0
    rounds: int = 2000  # measured requests of each kind
    warmup: int = 200  # of each kind, first, in the same rotation; not measured
    block: int = 50  # requests of one kind in a row before the next kind's turn
    spin_us: float = 50.0  # busy-wait this long before each slot (0: time.sleep alone)
    sim_verify_every: int = SIM_VERIFY_EVERY
    venue: str = "sim"  # "sim" (gateway sim citrex) or "stub" (bench/stubvenue.py)
    journal: bool = True  # as the embedded default config
    code_dir: str | None = None  # the gateway and the simulator run from this checkout
    progress: bool = True


def paced_loop(kinds: dict[str, tuple[Callable[[], None], Callable[[], None]]], *, rounds: int, warmup: int,
               block: int, pacing_ns: int, spin_ns: int, on_measure: Callable[[], None] | None = None,
               progress: bool = False) -> tuple[dict[str, list[int]], dict[str, int]]:
    """kinds: name -> (prepare, request); prepare is untimed (after the slot is due), request
    is timed. Runs warmup + rounds requests of each kind, in turns of block, one per slot;
    on_measure() runs once between the warm-up and the first measured request.
    Returns the measured samples (ns) of each kind and, of each kind, how many measured
    requests started late because the request before overran its slot."""
    samples: dict[str, list[int]] = {name: [] for name in kinds}
    plan: list[tuple[str, bool]] = []
    for total, measured in ((warmup, False), (rounds, True)):
        done = 0
        while done < total:
            n = min(block, total - done)
            for name in kinds:
                plan += [(name, measured)] * n
            done += n
    clock, sleep = time.perf_counter_ns, time.sleep
    late = dict.fromkeys(kinds, 0)
    slot = clock()
    t_report = slot + 1_000_000_000
    for name, measured in plan:
        if measured and on_measure is not None:
            on_measure()
            on_measure = None
            slot = clock() + pacing_ns
        now = clock()
        if now > slot:  # the last request overran its slot: this one starts now
            if measured:
                late[name] += 1
            slot = now
        else:
            if slot - now > spin_ns:
                sleep((slot - now - spin_ns) / 1e9)
            while clock() < slot:
                pass
        prepare, request = kinds[name]
        prepare()
        t0 = clock()
        request()
        t1 = clock()
        if measured:
            samples[name].append(t1 - t0)
        slot += pacing_ns
        if progress and t1 > t_report:
            t_report = t1 + 1_000_000_000
            print(f"  {sum(map(len, samples.values()))} of {len(plan)} requests measured", file=sys.stderr, flush=True)
    return samples, late


def _loaded_from(pid: int) -> str | None:
    """Where the process's compiled gateway core was loaded from (which checkout ran)."""
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            if "/gateway/_core/" in line and line.endswith(".so"):
                return line.split()[-1].rsplit("/gateway/_core/", 1)[0]
    except OSError:
        pass
    return None


def _commit(path: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", path, "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run(opts: Options) -> dict:
    """Starts the processes, runs the paced loop, returns the report."""
    from coincurve import PrivateKey

    from gateway.signer import Signer
    from gateway.venues.citrex.signing import CitrexSigner

    stack = Stack(sim_verify_every=opts.sim_verify_every, stub=opts.venue == "stub",
                  gateway_extra=JOURNAL if opts.journal else "", code_dir=opts.code_dir)
    tmp = Path(tempfile.mkdtemp(prefix="paced-echo-"))
    echo = None
    clients: list[BlockingClient] = []
    stack.start()
    try:
        echo_path = str(tmp / "echo.sock")
        echo = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER, echo_path], stdout=subprocess.PIPE, text=True)
        if echo.stdout.readline().strip() != "ready":
            raise RuntimeError("the echo server did not start")
        floor = BlockingClient(echo_path)
        gw = BlockingClient(str(stack.socket_path))
        clients += [floor, gw]
        hello = gw.call({"op": "hello", "strategy": f"paced-{os.getpid()}"})
        if not hello.get("ok"):
            raise RuntimeError(f"hello refused: {hello}")
        sizes = {"gateway_pong_bytes": len(msgspec.msgpack.encode(gw.call({"op": "ping"}))),
                 "floor_pong_bytes": len(msgspec.msgpack.encode(floor.call({"op": "ping"})))}

        refused: list[dict] = []
        count = iter(range(10**9))
        key = PrivateKey(secrets.token_bytes(32))
        digests = [secrets.token_bytes(32) for _ in range(64)]
        signer = CitrexSigner(Signer(secrets.token_bytes(32)), sub_account_id=0, chain_id=1329,
                              verifying_contract="0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9",
                              domain_name="ciao", domain_version="0.0.0")
        expiry = time.time_ns() // 1_000_000 + 86_400_000
        tag = f"p{os.getpid() % 100000}-{time.time_ns() // 1000 % 10**6}"

        def place() -> None:
            i = next(count)
            v = 10000 + (i * 7919) % 1000  # 1000.0-1099.9: far under the mid, never fills
            reply = gw.call({"op": "place", "client_order_id": f"{tag}-{i}", "venue": "citrex", "symbol": SYMBOL,
                             "side": "buy", "quantity": "0.001", "price": f"{v // 10}.{v % 10}"})
            if not reply.get("ok"):
                refused.append(reply)

        def sign() -> None:
            key.sign_recoverable(digests[next(count) % 64], hasher=None)

        def order_sign() -> None:
            i = next(count)
            signer.sign_order(1002, True, 0, 0, expiry, (1000 + i % 100) * 10**18, 10**15, i + 1)

        def nothing() -> None:
            pass

        kinds = {
            "floor": (floor.drain, lambda: floor.call({"op": "ping"})),
            "ping": (gw.drain, lambda: gw.call({"op": "ping"})),
            "place": (gw.drain, place),
            "sign": (nothing, sign),
            "order_sign": (nothing, order_sign),
        }
        hist = "gateway_order_tick_to_wire_seconds"
        before: list[tuple[float, float]] = []
        dump_before = len(stack.dump_latency())

        def measure_from() -> None:  # the gateway's histogram as the measured requests start
            before.extend(histogram_buckets(stack.scrape(), hist, {"venue": "citrex"}))

        t0 = time.perf_counter()
        samples, late = paced_loop(kinds, rounds=opts.rounds, warmup=opts.warmup, block=opts.block,
                                   pacing_ns=int(opts.pacing_ms * 1e6), spin_ns=int(opts.spin_us * 1e3),
                                   on_measure=measure_from, progress=opts.progress)
        elapsed = time.perf_counter() - t0
        time.sleep(0.2)  # the last order's venue write and its samples
        after = histogram_buckets(stack.scrape(), hist, {"venue": "citrex"})
        dump = stack.dump_latency()
        placed = opts.rounds + opts.warmup
        if len(dump) - dump_before != placed:
            raise RuntimeError(f"the gateway has {len(dump) - dump_before} new tick-to-wire samples, "
                               f"{placed} orders were placed")
        tick = dump[-opts.rounds:]  # the measured places: the last ones placed
        gw.call({"op": "cancel_all"})  # untimed: leave the venue's book as found
        hot_sign = coincurve_sign()
        gateway_code = _loaded_from(stack.gw.pid)
    finally:
        for c in clients:
            c.close()
        if echo is not None:
            if echo.poll() is None:
                stop_process(echo)
            echo.stdout.close()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    st = {name: percentiles_us(v) for name, v in samples.items()}
    st["tick_to_wire"] = percentiles_us(tick)
    st["tick_to_wire_metrics"] = bucket_quantiles_us(bucket_delta(after, before))

    def ratio(a: str, b: str, q: str = "p50") -> float | None:
        return st[a][q] / st[b][q] if st[a].get(q) and st[b].get(q) else None

    report = {
        "options": asdict(opts),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "loadavg_at_end": os.getloadavg()},
        "code": {"gateway_loaded_from": gateway_code, "gateway_commit": _commit(gateway_code) if gateway_code else None,
                 "bench_commit": _commit(str(Path(__file__).resolve().parents[1]))},
        "frames": sizes,
        "elapsed_s": elapsed,
        "late_slots": sum(late.values()),
        "late_by_kind": late,
        "refused": len(refused),
        "refused_first": refused[:3],
        "unasked_frames": gw.unasked,
        "us": st,
        "bare_sign_tight_loop_us": hot_sign["median_us"],
        "ratios": {
            "ping_over_floor": ratio("ping", "floor"),
            "place_ack_over_floor": ratio("place", "floor"),
            "tick_to_wire_over_sign": ratio("tick_to_wire", "sign"),
            "tick_to_wire_over_order_sign": ratio("tick_to_wire", "order_sign"),
            "order_sign_over_sign": ratio("order_sign", "sign"),
            "place_ack_over_floor_p99": ratio("place", "floor", "p99"),
            "tick_to_wire_over_sign_p99": ratio("tick_to_wire", "sign", "p99"),
        },
        "targets": TARGETS,
    }
    return report


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}"


def format_table(report: dict) -> str:
    o, st, r = report["options"], report["us"], report["ratios"]
    sim = ("Citrex stub venue" if o["venue"] == "stub" else "Citrex simulator") + \
        f" (recovers 1 signature in {o['sim_verify_every']}) in its own process"
    lines = [
        f"paced unqueued latency: one blocking client, one request per {o['pacing_ms']} ms slot (time.sleep, then "
        f"busy-wait the last {o['spin_us']:.0f} us), kinds in turns of {o['block']}, {o['rounds']} measured of each "
        f"after {o['warmup']}; journal {'on' if o['journal'] else 'off'}; {sim}; {report['machine']['cpus']} CPUs",
        f"gateway code: {report['code']['gateway_loaded_from']} ({report['code']['gateway_commit']}); "
        f"refused {report['refused']}; load average at the end {report['machine']['loadavg_at_end'][0]:.2f}",
        "late (started at once: the request before overran its slot): "
        + ", ".join(f"{k} {v}" for k, v in report["late_by_kind"].items()),
        "",
        f"{'what (us)':<58} {'n':>6} {'p50':>8} {'p90':>8} {'p99':>8}  ratio of p50",
    ]

    def row(name: str, key: str, note: str = "") -> None:
        s = st[key]
        lines.append(f"{name:<58} {s.get('n', 0):>6} {_f(s.get('p50')):>8} {_f(s.get('p90')):>8} "
                     f"{_f(s.get('p99')):>8}  {note}")

    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    row("floor: blocking UDS ping-pong, 2 processes", "floor", "1")
    row("gateway: ping -> pong", "ping", f"{x(r['ping_over_floor'])} floor")
    row("gateway: place -> ack (resting, journal on)", "place",
        f"{x(r['place_ack_over_floor'])} floor (target <= {TARGETS['place_ack_over_floor']}x)")
    row("gateway: tick-to-wire, its exact samples of these places", "tick_to_wire",
        f"{x(r['tick_to_wire_over_sign'])} bare sign (target <= {TARGETS['tick_to_wire_over_sign']}x); "
        f"{x(r['tick_to_wire_over_order_sign'])} order sign")
    row("gateway: tick-to-wire, /metrics histogram (buckets)", "tick_to_wire_metrics")
    row("bare sign: coincurve sign_recoverable, ready digest", "sign", "1")
    row("order sign: Citrex EIP-712 digest + sign", "order_sign", f"{x(r['order_sign_over_sign'])} bare sign")
    lines.append(f"{'bare sign, tight loop (hot caches, for reference)':<58} {'':>6} "
                 f"{_f(report['bare_sign_tight_loop_us']):>8}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.paced", description=__doc__.split("\n")[0])
    o = Options()
    p.add_argument("--pacing-ms", type=float, default=o.pacing_ms, help=f"ms between requests (default {o.pacing_ms})")
    p.add_argument("--rounds", type=int, default=o.rounds, help=f"measured requests of each kind (default {o.rounds})")
    p.add_argument("--warmup", type=int, default=o.warmup, help=f"unmeasured requests of each kind first (default {o.warmup})")
    p.add_argument("--block", type=int, default=o.block, help=f"requests of one kind in a row (default {o.block})")
    p.add_argument("--spin-us", type=float, default=o.spin_us,
                   help=f"busy-wait this long before each slot, time.sleep before (default {o.spin_us:.0f}; 0: sleep only)")
    p.add_argument("--sim-verify-every", type=int, default=o.sim_verify_every, metavar="N",
                   help=f"the simulator recovers one order signature in N (default {o.sim_verify_every})")
    p.add_argument("--venue", choices=("sim", "stub"), default=o.venue,
                   help="the Citrex venue process: the product's simulator (default) or bench/stubvenue.py")
    p.add_argument("--no-journal", action="store_true", help="the gateway without its journal (default: journal on)")
    p.add_argument("--code-dir", metavar="DIR",
                   help="run the gateway and the simulator from this checkout (PYTHONPATH and cwd), e.g. the "
                        "starting commit's; this process (client, floors, signing) stays this checkout's")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="the report as JSON: to PATH, or alone on stdout without a PATH")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts = Options(pacing_ms=args.pacing_ms, rounds=args.rounds, warmup=args.warmup, block=args.block,
                   spin_us=args.spin_us, sim_verify_every=args.sim_verify_every, venue=args.venue,
                   journal=not args.no_journal, code_dir=args.code_dir, progress=not args.quiet)
    report = run(opts)
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if not report["refused"] else 1


if __name__ == "__main__":
    sys.exit(main())
