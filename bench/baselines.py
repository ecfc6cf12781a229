"""Baselines for bench/loadgen.py (`gateway bench`), measured in the same run as the gateway.

(a) pingpong(): a blocking-socket ping-pong between two processes over a Unix
    socket, frames the size of a place request: the floor for any strategy ->
    gateway -> strategy round trip.
(b) coincurve_sign(): bare coincurve `PrivateKey.sign_recoverable(digest,
    hasher=None)`: the floor for signing one order on one core.
(c) eth_account_aiohttp(): what a Python user would write instead of the
    gateway: a plain asyncio client that signs each Citrex order with
    eth-account and POSTs it with aiohttp to a Citrex simulator process, at the
    same concurrency (connections x in-flight) or rate.
(d) ccxt_poloniex(): ccxt (`ccxt.async_support.poloniex`, its own aiohttp
    session, HMAC signing and order parsing) placing the same resting limit
    orders at the same concurrency against a Poloniex simulator process,
    compared in loadgen with the gateway on the same simulator.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from bench.processes import (
    INSTRUMENTS,
    MID,
    POLONIEX_INSTRUMENTS,
    POLONIEX_SIM_CONFIG,
    PRODUCT_ID,
    SIM_CONFIG,
    cpu_seconds,
    start_simulator,
    stop_process,
)
from bench.stats import percentiles_us

_LEN = struct.Struct(">I")

_ECHO_SERVER = r"""
import socket, struct, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
def exact(n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise SystemExit(0)
        buf += chunk
    return buf
while True:
    head = conn.recv(4)
    if not head:
        break
    if len(head) < 4:
        head += exact(4 - len(head))
    conn.sendall(head + exact(struct.unpack(">I", head)[0]))
"""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def pingpong(rounds: int = 5000, warmup: int = 500) -> dict:
    """(a) Blocking UDS ping-pong with a second process; returns stats (us) and the samples (ns)."""
    with tempfile.TemporaryDirectory(prefix="pingpong-") as tmp:
        path = os.path.join(tmp, "echo.sock")
        server = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER, path], stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            payload = msgspec.msgpack.encode({
                "op": "place", "req_id": 123456, "client_order_id": "load0-12345-678901-100000",
                "venue": "citrex", "symbol": "ETH-PERP", "side": "buy", "quantity": "0.001", "price": "1000.1"})
            frame = _LEN.pack(len(payload)) + payload
            samples: list[int] = []
            for i in range(rounds + warmup):
                t0 = time.perf_counter_ns()
                sock.sendall(frame)
                _recv_exact(sock, _LEN.unpack(_recv_exact(sock, 4))[0])
                if i >= warmup:
                    samples.append(time.perf_counter_ns() - t0)
            sock.close()
        finally:
            if server.poll() is None:
                server.kill()
            server.wait(5)
            server.stdout.close()
    return {"stats": percentiles_us(samples), "samples_ns": samples}


def coincurve_sign(blocks: int = 30, per_block: int = 200) -> dict:
    """(b) Bare coincurve sign_recoverable on a ready digest: median per call, orders/s on one core."""
    from coincurve import PrivateKey

    key = PrivateKey(secrets.token_bytes(32))
    digests = [secrets.token_bytes(32) for _ in range(per_block)]
    for d in digests[:50]:
        key.sign_recoverable(d, hasher=None)
    per_call = []
    for _ in range(blocks):
        t0 = time.perf_counter_ns()
        for d in digests:
            key.sign_recoverable(d, hasher=None)
        per_call.append((time.perf_counter_ns() - t0) / per_block)
    per_call.sort()
    median = per_call[len(per_call) // 2]
    return {"n": blocks * per_block, "median_us": median / 1e3, "min_us": per_call[0] / 1e3,
            "orders_per_s": 1e9 / median}


# (c) ------------------------------------------------------------------------

CITREX_DOMAIN = {"name": "ciao", "version": "0.0.0", "chainId": 1329,
                 "verifyingContract": "0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9"}
_DOMAIN_TYPE = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]


def _typed(primary: str, fields: list[dict], message: dict) -> dict:
    return {"types": {"EIP712Domain": _DOMAIN_TYPE, primary: fields}, "primaryType": primary,
            "domain": CITREX_DOMAIN, "message": message}


class PlainPythonTrader:
    """What a Python user would write: eth-account signs, aiohttp posts, one request per task."""

    def __init__(self, rest_url: str, connections: int = 64):
        from eth_account import Account

        self.rest_url = rest_url
        self.account = Account.create()
        self.connections = connections
        self._last_nonce = 0
        self.session = None
        self.headers: dict[str, str] = {}

    def _sign(self, primary: str, fields: list[dict], message: dict) -> str:
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        signed = Account.sign_message(encode_typed_data(full_message=_typed(primary, fields, message)),
                                      self.account.key)
        return "0x" + bytes(signed.signature).hex()

    async def start(self) -> None:
        import aiohttp

        from gateway.venues.citrex import schemas

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.connections))
        ts = time.time_ns() // 1_000_000
        message = "I would like to log into ciao finance"
        body = {"account": self.account.address, "message": message, "timestamp": ts,
                "signature": self._sign("LoginMessage", schemas.LOGIN_FIELDS,
                                        {"account": self.account.address, "message": message, "timestamp": ts})}
        async with self.session.post(self.rest_url + "/v1/session/login", json=body) as r:
            reply = await r.json()
            if r.status != 200:
                raise RuntimeError(f"login refused: {reply}")
        self.headers = {"Cookie": f"{schemas.SESSION_COOKIE}={reply['value']}"}

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def _nonce(self) -> int:
        self._last_nonce = max(time.time_ns() // 1000, self._last_nonce + 1)
        return self._last_nonce

    async def place(self, is_buy: bool, price_e18: int, quantity_e18: int) -> tuple[int, dict]:
        from gateway.venues.citrex import schemas

        message = {"account": self.account.address, "subAccountId": 0, "productId": PRODUCT_ID, "isBuy": is_buy,
                   "orderType": 0, "timeInForce": 0, "expiration": time.time_ns() // 1_000_000 + 86_400_000,
                   "price": price_e18, "quantity": quantity_e18, "nonce": self._nonce()}
        signature = self._sign("Order", schemas.ORDER_FIELDS, message)
        body = dict(message, price=str(price_e18), quantity=str(quantity_e18), signature=signature)
        async with self.session.post(self.rest_url + "/v1/order", json=body, headers=self.headers) as r:
            return r.status, await r.json()


async def _drive_plain(place, *, workers: int, rate: float, duration: float, warmup: float,
                       progress: bool, label: str = "c", sim_pid: int | None = None) -> dict:
    """workers tasks awaiting place(i) (None when the venue accepted the order, else an error key) in a
    loop, or paced at rate/s in total. With sim_pid, CPU per reply of this process and the simulator's."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    t_measure, end = start + warmup, start + warmup + duration
    samples: list[int] = []
    errors: dict[str, int] = {}
    counts = {"sent": 0, "done": 0, "in_window": 0}
    marks: dict[str, tuple[float, float, int]] = {}

    def mark(what: str) -> None:
        if sim_pid is not None:
            marks[what] = (time.process_time(), cpu_seconds(sim_pid), counts["done"])

    async def open_window() -> None:
        await asyncio.sleep(max(0.0, t_measure - loop.time()))
        mark("start")
    tokens: asyncio.Queue | None = asyncio.Queue() if rate > 0 else None

    async def worker(w: int) -> None:
        i = w
        while True:
            if tokens is not None:
                if await tokens.get() is None:
                    return
            elif loop.time() >= end:
                return
            i += workers
            t0 = time.perf_counter_ns()
            measured = loop.time() >= t_measure
            counts["sent"] += 1
            try:
                key = await place(i)
            except Exception as exc:  # noqa: BLE001
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            now = time.perf_counter_ns()
            counts["done"] += 1
            if key is not None:
                errors[key] = errors.get(key, 0) + 1
            elif measured:
                samples.append(now - t0)
                if loop.time() < end:
                    counts["in_window"] += 1

    async def pacer() -> None:
        sent = 0
        while loop.time() < end:
            due = int((loop.time() - start) * rate) - sent
            for _ in range(max(0, due)):
                tokens.put_nowait(1)
                sent += 1
            await asyncio.sleep(0.001)
        for _ in range(workers):
            tokens.put_nowait(None)

    async def report() -> None:
        last, t_last = 0, time.perf_counter()
        while True:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            print(f"[baseline {label}] sent {counts['sent']}  replies {counts['done']}  errors {sum(errors.values())}  "
                  f"rate {(counts['done'] - last) / (now - t_last):.0f}/s", file=sys.stderr, flush=True)
            last, t_last = counts["done"], now

    rep = asyncio.ensure_future(report()) if progress else None
    window = asyncio.ensure_future(open_window())
    tasks = [asyncio.ensure_future(worker(w)) for w in range(workers)]
    if tokens is not None:
        tasks.append(asyncio.ensure_future(pacer()))
    await asyncio.gather(*tasks)
    await window
    mark("end")
    if rep is not None:
        rep.cancel()
    out = {"latency_us": percentiles_us(samples), "throughput_per_s": counts["in_window"] / duration,
           "errors": errors, "workers": workers, "samples_ns": samples}
    if len(marks) == 2 and marks["end"][2] > marks["start"][2]:
        replies = marks["end"][2] - marks["start"][2]
        out["cpu_us_per_order"] = {"client": (marks["end"][0] - marks["start"][0]) / replies * 1e6,
                                   "simulator": (marks["end"][1] - marks["start"][1]) / replies * 1e6}
    return out


def eth_account_aiohttp(*, conns: int = 4, inflight: int = 8, rate: float = 0.0, duration: float = 5.0,
                        warmup: float = 1.0, progress: bool = False, rest_url: str | None = None,
                        verify_every: int = 1, stub: bool = False) -> dict:
    """(c) Against a fresh simulator process (or rest_url), conns x inflight requests in flight
    (or rate/s, with as many workers): request (before signing) -> venue reply latency, replies/s.
    verify_every: the fresh simulator's (it recovers one order signature in N); stub: the bench's
    lean Citrex venue (bench/stubvenue.py) instead of the simulator."""
    import uvloop

    tmp = Path(tempfile.mkdtemp(prefix="baseline-c-"))
    sim = None
    try:
        if rest_url is None:
            (tmp / "sim.toml").write_text(SIM_CONFIG.format(tmp=tmp, mid=MID, instruments=INSTRUMENTS,
                                                            verify_every=verify_every))
            sim, rest_url, _ = start_simulator(tmp / "sim.toml", stub=stub)

        async def main() -> dict:
            trader = PlainPythonTrader(rest_url, connections=64)
            await trader.start()

            async def place(i: int) -> str | None:
                v = 10000 + (i * 7919) % 1000
                status, reply = await trader.place(True, v * 10**17, 10**15)
                if status != 200:
                    return f"http_{status}"
                return None if reply.get("status") == "OPEN" else f"status_{reply.get('status')}"

            try:
                return await _drive_plain(place, workers=conns * inflight, rate=rate, duration=duration,
                                          warmup=warmup, progress=progress,
                                          sim_pid=sim.pid if sim is not None else None)
            finally:
                await trader.close()

        return uvloop.run(main())
    finally:
        _stop_simulator(sim, tmp)


# (d) ------------------------------------------------------------------------

CCXT_SYMBOL = "ETH/USDT"  # the simulator's ETH_USDT, as ccxt names it


async def ccxt_exchange(rest_url: str, api_key: str, api_secret: str):
    """A ccxt poloniex client pointed at a simulator, its markets loaded by ccxt itself
    (load_markets: the simulator serves every public market path ccxt asks for). Its rate limiter
    is off, as the gateway's is in the bench (the simulator sets no limit)."""
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.poloniex({"apiKey": api_key, "secret": api_secret, "enableRateLimit": False})
    exchange.urls["api"] = {"spot": rest_url, "swap": rest_url}
    try:
        await exchange.load_markets()
    except BaseException:
        await exchange.close()
        raise
    return exchange


def ccxt_poloniex(*, conns: int = 4, inflight: int = 8, rate: float = 0.0, duration: float = 5.0,
                  warmup: float = 1.0, progress: bool = False) -> dict:
    """(d) ccxt's create_order (limit, far from the market) against a fresh Poloniex simulator
    process, conns x inflight requests in flight (or rate/s): request -> parsed reply latency,
    replies/s, CPU per reply of this process and of the simulator."""
    try:
        import ccxt.async_support  # noqa: F401
    except ImportError:
        return {"skipped": "ccxt is not installed (pip install -e '.[bench]')"}
    import uvloop

    from gateway.venues.poloniex.config import PoloniexConfig
    from gateway.venues.poloniex.credentials import load_credentials

    tmp = Path(tempfile.mkdtemp(prefix="baseline-d-"))
    sim = None
    try:
        (tmp / "sim.toml").write_text(POLONIEX_SIM_CONFIG.format(tmp=tmp, mid=MID, instruments=POLONIEX_INSTRUMENTS))
        sim, rest_url, _ = start_simulator(tmp / "sim.toml", "poloniex")
        # the key and secret the simulator made and accepts; read as the gateway reads them
        creds = load_credentials(PoloniexConfig(name="poloniex", api_key_file=str(tmp / "poloniex.key"),
                                                api_secret_file=str(tmp / "poloniex.secret")))

        async def main() -> dict:
            exchange = await ccxt_exchange(rest_url, creds.api_key, creds.api_secret)

            async def place(i: int) -> str | None:
                # decimal strings, as the strategies send them: buys 1000.0-1099.9, far under the market
                v = 10000 + (i * 7919) % 1000
                order = await exchange.create_order(CCXT_SYMBOL, "limit", "buy", "0.001", f"{v // 10}.{v % 10}")
                return None if order.get("id") else "no_order_id"

            try:
                return await _drive_plain(place, workers=conns * inflight, rate=rate, duration=duration,
                                          warmup=warmup, progress=progress, label="d", sim_pid=sim.pid)
            finally:
                await exchange.close()

        result = uvloop.run(main())
        import ccxt

        result["ccxt_version"] = ccxt.__version__
        result["p50_us"] = result["latency_us"].get("p50")
        result["p99_us"] = result["latency_us"].get("p99")
        return result
    finally:
        _stop_simulator(sim, tmp)


def _stop_simulator(sim: subprocess.Popen | None, tmp) -> None:
    """Stop the simulator process a baseline started (by its pid) and remove its temp dir."""
    import shutil

    if sim is not None:
        if sim.poll() is None:
            stop_process(sim)
        sim.stdout.close()
    shutil.rmtree(tmp, ignore_errors=True)
