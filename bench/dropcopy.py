"""The drop copy's cost: gateway CPU per order with [drop_copy] on and off, interleaved.

    .venv/bin/gateway bench --drop-copy 3 --no-baselines --duration 8     # 3 pairs, ~1 min

Starts Debian's nats-server (-js, a free port, a temp store dir; stopped by pid), then
runs `gateway bench`'s load (bench/loadgen.py: a Citrex simulator process, a gateway
process, N strategy connections) alternately without and with `[drop_copy]` (ABBA
order, so the machine's drift hits both alike). Both runs have the journal on: the
drop copy needs it, and only the drop copy's own cost is wanted. Reported: each run's
gateway CPU per order, the ratio of the medians (target <= 1.10), and the events the
stream got from each run with the drop copy.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.processes import JOURNAL, cpu_seconds

DROP_COPY = JOURNAL + '[drop_copy]\nurl = "%s"\ngateway_id = "%s"\n'


def nats_server_path() -> str | None:
    return shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server")
                                           else None)


class NatsServer:
    """nats-server -js on a free port with its own store dir; stopped by its pid."""

    def __init__(self, store: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.store = store
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> NatsServer:
        binary = nats_server_path()
        if binary is None:
            raise RuntimeError("nats-server is not installed (Debian: apt-get install nats-server)")
        self.proc = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not listen within 30 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def stream_count(url: str, gateway_id: str, stream: str = "GATEWAY_ORDERS") -> int:
    """Messages in the stream from one gateway."""
    import nats

    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=f"gateway.{gateway_id}.>")
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def compare(opts, pairs: int, run_gateway) -> dict:
    """pairs of runs, ABBA: run_gateway(opts, gateway_extra=...) is bench/loadgen.py's (one
    simulator and one gateway process under opts' load; returns the gateway's report and samples)."""
    tmp = Path(tempfile.mkdtemp(prefix="dropcopy-bench-"))
    server = NatsServer(tmp / "nats").start()
    runs: list[dict] = []
    try:
        for pair in range(pairs):
            for mode in (("off", "on") if pair % 2 == 0 else ("on", "off")):
                gateway_id = f"bench-{pair}"
                extra = JOURNAL if mode == "off" else DROP_COPY % (server.url, gateway_id)
                nats_cpu = cpu_seconds(server.proc.pid)
                g, _ = run_gateway(opts, gateway_extra=extra)
                nats_cpu = cpu_seconds(server.proc.pid) - nats_cpu
                run = {"mode": mode, "cpu_us_per_order": g["cpu_us_per_order"]["gateway"], "acked": g["acked"],
                       "throughput_acked_per_s": g["throughput_acked_per_s"], "ack_p50_us": g["ack_us"].get("p50"),
                       "errors": g["errors"]}
                if mode == "on":
                    run["stream_events"] = asyncio.run(stream_count(server.url, gateway_id))
                    # nats-server shares this machine's cores with the gateway here (not in production)
                    run["nats_server_cpu_us_per_event"] = nats_cpu / max(1, run["stream_events"]) * 1e6
                runs.append(run)
                if opts.progress:
                    print(f"  {mode:>3}: gateway {run['cpu_us_per_order']:.1f} us/order, "
                          f"{run['throughput_acked_per_s']:,.0f} acked/s"
                          + (f", {run['stream_events']} events in the stream, nats-server "
                             f"{run['nats_server_cpu_us_per_event']:.1f} us/event" if mode == "on" else ""), flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    off = [r["cpu_us_per_order"] for r in runs if r["mode"] == "off"]
    on = [r["cpu_us_per_order"] for r in runs if r["mode"] == "on"]
    return {"runs": runs, "cpu_us_per_order_off_median": statistics.median(off),
            "cpu_us_per_order_on_median": statistics.median(on),
            "ratio_on_off": statistics.median(on) / statistics.median(off),
            "options": {"conns": opts.conns, "rate": opts.rate, "inflight": opts.inflight,
                        "duration": opts.duration, "mix": opts.mix}}


def compare_and_report(opts, pairs: int, run_gateway, json_path: str | None = None) -> int:
    report = compare(opts, pairs, run_gateway)
    print(f"gateway CPU per order, median of {pairs}: without drop copy {report['cpu_us_per_order_off_median']:.1f} us,"
          f" with {report['cpu_us_per_order_on_median']:.1f} us: ratio {report['ratio_on_off']:.3f} (target <= 1.10)")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["acked"] and not r["errors"] for r in report["runs"]) else 1
