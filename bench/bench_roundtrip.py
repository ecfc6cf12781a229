"""Strategy -> ack round trips over the Unix socket against a gateway running
in its own process, talking to a Citrex simulator in a third process (as a
venue would be), beside the floor: a
blocking-socket ping-pong between two processes, measured in the same run.
Tick-to-wire (frame in -> venue bytes written) comes from the gateway's own
samples, dumped when it stops.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from bench.processes import start_simulator
from tests.integration.harness import CONFIG

ROUNDS = int(os.environ.get("GATEWAY_BENCH_ROUNDS", "2000"))
_LEN = struct.Struct(">I")


def _percentiles(samples_ns: list[float]) -> dict[str, float]:
    s = sorted(samples_ns)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50_us": pick(0.50) / 1e3, "p99_us": pick(0.99) / 1e3, "n": len(s)}


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _echo_server(path: str, ready) -> None:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    ready.set()
    conn, _ = srv.accept()
    while True:
        head = conn.recv(4)
        if not head:
            return
        body = _recv_exact(conn, _LEN.unpack(head)[0])
        conn.sendall(head + body)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gw")
    config = CONFIG.format(tmp=tmp).replace("max_open_orders = 50", "max_open_orders = 1000000")
    (tmp / "sim.toml").write_text(config)
    sim, rest_url, ws_url = start_simulator(tmp / "sim.toml")
    # the gateway itself: same venue, no embedded simulator, pointed at the other process
    head, _, rest = config.partition("[venues.sim]")
    instruments = rest[rest.index("[venues.instruments"):]
    gw_config = head + f'rest_url = "{rest_url}"\nws_url = "{ws_url}"\nhttp_connections = 64\n' + instruments
    (tmp / "gw.toml").write_text(gw_config)
    dump = tmp / "tick_to_wire.txt"
    env = dict(os.environ, GATEWAY_LATENCY_DUMP=str(dump), GATEWAY_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(tmp / "gw.toml")], env=env)
    sock_path = tmp / "gw.sock"
    for _ in range(300):
        if sock_path.exists():
            break
        if proc.poll() is not None:
            raise RuntimeError("gateway exited at start")
        time.sleep(0.05)
    yield sock_path, dump, proc
    proc.terminate()
    proc.wait(30)
    sim.terminate()
    sim.wait(30)


class BlockingStrategy:
    """What a C++ strategy would do: blocking socket, one request at a time."""

    def __init__(self, path: Path, name: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.req = 0
        reply = self.call({"op": "hello", "strategy": name})
        assert reply["ok"], reply

    def call(self, message: dict) -> dict:
        self.req += 1
        message["req_id"] = self.req
        payload = msgspec.msgpack.encode(message)
        self.sock.sendall(_LEN.pack(len(payload)) + payload)
        while True:
            reply = msgspec.msgpack.decode(_recv_exact(self.sock, _LEN.unpack(_recv_exact(self.sock, 4))[0]))
            if reply.get("req_id") == self.req:
                return reply


def _timed(benchmark, fn):
    samples: list[float] = []

    def once():
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)

    benchmark.pedantic(once, rounds=ROUNDS, iterations=1, warmup_rounds=min(200, ROUNDS // 10))
    benchmark.extra_info.update(_percentiles(samples[-ROUNDS:]))


@pytest.mark.benchmark(group="uds-roundtrip")
def test_roundtrip_baseline_blocking_pingpong(benchmark, tmp_path):
    path = str(tmp_path / "echo.sock")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_echo_server, args=(path, ready), daemon=True)
    server.start()
    ready.wait(10)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    payload = msgspec.msgpack.encode({"op": "ping", "req_id": 1})
    frame = _LEN.pack(len(payload)) + payload

    def pingpong():
        sock.sendall(frame)
        _recv_exact(sock, _LEN.unpack(_recv_exact(sock, 4))[0])

    _timed(benchmark, pingpong)
    sock.close()
    server.join(5)


@pytest.mark.benchmark(group="uds-roundtrip")
def test_roundtrip_gateway_ping(benchmark, gateway):
    client = BlockingStrategy(gateway[0], "bench-ping")
    _timed(benchmark, lambda: client.call({"op": "ping"}))


@pytest.mark.benchmark(group="uds-roundtrip")
def test_roundtrip_gateway_place_to_ack(benchmark, gateway):
    """A resting limit order, acked once queued for its venue (signed and POSTed after the ack)."""
    client = BlockingStrategy(gateway[0], "bench-place")
    n = iter(range(10**9))

    def place():
        reply = client.call({"op": "place", "client_order_id": f"b{next(n)}", "venue": "citrex",
                             "symbol": "ETH-PERP", "side": "buy", "quantity": "0.001", "price": "1000"})
        assert reply["ok"], reply

    _timed(benchmark, place)
    # the gateway's own view of the same orders: frame in -> venue bytes written
    _, dump, proc = gateway
    proc.send_signal(signal.SIGUSR1)
    for _ in range(200):
        if dump.exists() and dump.stat().st_size:
            break
        time.sleep(0.05)
    samples = [int(line) for line in dump.read_text().split()]
    assert samples and all(v > 0 for v in samples)  # with timing disabled (make test) there is one
    tick = _percentiles(samples[-ROUNDS:])
    benchmark.extra_info.update({"tick_to_wire_p50_us": tick["p50_us"], "tick_to_wire_p99_us": tick["p99_us"]})
