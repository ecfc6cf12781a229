"""The bench's processes: a venue simulator (or the lean stub venue) and a gateway
pointed at it, each in its own process in a temp dir, their configs, and how they are
started, measured (CPU time) and stopped (by pid). Used by `gateway bench`
(bench/loadgen.py), its baselines (bench/baselines.py), the drop copy comparison
(bench/dropcopy.py) and the paced latency bench (bench/paced.py).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


PRODUCT_ID = 1002
SYMBOL = "ETH-PERP"
MID = 3000
# the bench's Citrex simulator recovers the first order signature and then one in this many
SIM_VERIFY_EVERY = 16

SIM_CONFIG = """
log_level = "warning"
[server]
socket_path = "{tmp}/unused.sock"
[[venues]]
kind = "citrex"
name = "citrex"
key_file = "{tmp}/sim-unused.hex"
generate_key = true
nonce_file = "{tmp}/sim-unused.nonce"
[venues.sim]
mid_prices = {{ ETH-PERP = "{mid}" }}
market_maker_levels = 3
market_maker_quantity = "1"
verify_every = {verify_every}
{instruments}"""

# the gateway process: everything but its venue
_GATEWAY_HEAD = """
log_level = "warning"
[server]
socket_path = "{tmp}/gw.sock"
max_frame_bytes = 65536
busy_poll_us = {busy_poll_us}
[risk]
max_order_quantity = "1000000"
max_order_notional = "1000000000"
max_open_orders = 100000000
[metrics]
enabled = {metrics}
address = "127.0.0.1:{metrics_port}"
"""

GATEWAY_CONFIG = _GATEWAY_HEAD + """[[venues]]
kind = "citrex"
name = "citrex"
key_file = "{tmp}/citrex.hex"
generate_key = true
nonce_file = "{tmp}/citrex.nonce"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
http_connections = {http_connections}
{instruments}"""

JOURNAL = '\n[journal]\npath = "{tmp}/orders.journal"\n'

INSTRUMENTS = """[venues.instruments.ETH-PERP]
product_id = 1002
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""

# Poloniex: the gateway and ccxt against the same simulator (an HMAC per request, checked every time)
POLONIEX_SYMBOL = "ETH-USDT"  # unified; the venue's is ETH_USDT, ccxt's ETH/USDT
POLONIEX_SIM_CONFIG = """
log_level = "warning"
[server]
socket_path = "{tmp}/unused.sock"
[[venues]]
kind = "poloniex"
name = "poloniex"
api_key_file = "{tmp}/poloniex.key"
api_secret_file = "{tmp}/poloniex.secret"
generate_key = true
[venues.sim]
mid_prices = {{ ETH-USDT = "{mid}" }}
market_maker_levels = 3
market_maker_quantity = "1"
{instruments}"""

POLONIEX_GATEWAY_CONFIG = _GATEWAY_HEAD + """[[venues]]
kind = "poloniex"
name = "poloniex"
api_key_file = "{tmp}/poloniex.key"
api_secret_file = "{tmp}/poloniex.secret"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
http_connections = {http_connections}
{instruments}"""

POLONIEX_INSTRUMENTS = """[venues.instruments.ETH-USDT]
product_id = "ETH_USDT"
tick_size = "0.01"
lot_size = "0.0001"
min_quantity = "0.0001"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far: every thread's schedstat (ns), else /proc/pid/stat."""
    total, found = 0, False
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                    total += int(fh.read().split()[0])
                    found = True
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    if found:
        return total / 1e9
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def code_env(code_dir: str | None, **env: str) -> tuple[dict[str, str], str | None]:
    """The environment and working directory of a process that runs `python -m gateway`
    (or bench.stubvenue) from code_dir, another checkout (its own compiled core), instead of
    this one; None: this process's own."""
    out = dict(os.environ, **env)
    if code_dir is None:
        return out, None
    code_dir = str(Path(code_dir).resolve())
    out["PYTHONPATH"] = code_dir  # and the cwd: `python -m` puts the cwd first on sys.path
    return out, code_dir


def start_simulator(config_path: Path, venue: str = "citrex", *, stub: bool = False,
                    code_dir: str | None = None) -> tuple[subprocess.Popen, str, str]:
    """The venue's simulator process; stub: the bench's lean Citrex venue instead
    (bench/stubvenue.py), from the same config; code_dir: run from that checkout (code_env)."""
    cmd = [sys.executable, "-m", "gateway", "sim", venue, "--port", "0", "-c", str(config_path)]
    if stub:
        cmd = [sys.executable, "-m", "bench.stubvenue", "-c", str(config_path)]
    env, cwd = code_env(code_dir, GATEWAY_LOG_LEVEL="warning")
    sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    line = sim.stdout.readline()  # "citrex simulator: REST http://...  WS ws://..."
    words = line.split()
    if "REST" not in words:
        sim.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return sim, words[words.index("REST") + 1], words[words.index("WS") + 1]


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process this bench started, by its pid: sig, then SIGKILL after 30 s."""
    proc.send_signal(sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Stack:
    """A simulator process (Citrex, or Poloniex) and a gateway process pointed at it, in a temp dir."""

    def __init__(self, *, http_connections: int = 64, metrics: bool = True, profile: str | None = None,
                 keep_dir: bool = False, venue: str = "citrex", sim_verify_every: int = 1,
                 busy_poll_us: int = 0, gateway_extra: str = "", stub: bool = False,
                 code_dir: str | None = None):
        if venue not in ("citrex", "poloniex"):
            raise ValueError(f"venue {venue!r}: citrex or poloniex")
        if stub and venue != "citrex":
            raise ValueError("the stub venue speaks Citrex only")
        self.venue = venue
        self.stub = stub
        self.sim_verify_every = sim_verify_every
        self.busy_poll_us = busy_poll_us
        # more of the gateway's config (tables after the venue's; "{tmp}" is this stack's dir)
        self.gateway_extra = gateway_extra
        self.http_connections = http_connections
        self.metrics = metrics
        self.profile = profile
        self.keep_dir = keep_dir
        # the simulator and the gateway run from this checkout (code_env); None: this one
        self.code_dir = code_dir
        self.tmp = Path(tempfile.mkdtemp(prefix="loadgen-"))
        self.sim: subprocess.Popen | None = None
        self.gw: subprocess.Popen | None = None
        self.rest_url = self.ws_url = ""
        self.metrics_port = free_port() if metrics else 0
        self.dump = self.tmp / "tick_to_wire.txt"
        self.socket_path = self.tmp / "gw.sock"

    def start(self) -> Stack:
        if self.venue == "citrex":
            sim_config = SIM_CONFIG.format(tmp=self.tmp, mid=MID, instruments=INSTRUMENTS,
                                           verify_every=self.sim_verify_every)
            gw_config, instruments = GATEWAY_CONFIG, INSTRUMENTS
        else:
            sim_config = POLONIEX_SIM_CONFIG.format(tmp=self.tmp, mid=MID, instruments=POLONIEX_INSTRUMENTS)
            gw_config, instruments = POLONIEX_GATEWAY_CONFIG, POLONIEX_INSTRUMENTS
        (self.tmp / "sim.toml").write_text(sim_config)
        self.sim, self.rest_url, self.ws_url = start_simulator(
            self.tmp / "sim.toml", self.venue, stub=self.stub, code_dir=self.code_dir)
        (self.tmp / "gw.toml").write_text(gw_config.format(
            tmp=self.tmp, metrics="true" if self.metrics else "false", metrics_port=self.metrics_port or 9464,
            rest_url=self.rest_url, ws_url=self.ws_url, http_connections=self.http_connections,
            instruments=instruments, busy_poll_us=self.busy_poll_us)
            + self.gateway_extra.replace("{tmp}", str(self.tmp)))
        env, cwd = code_env(self.code_dir, GATEWAY_LATENCY_DUMP=str(self.dump), GATEWAY_LOG_LEVEL="warning")
        cmd = [sys.executable]
        if self.profile:
            cmd += ["-m", "cProfile", "-o", self.profile]
        cmd += ["-m", "gateway", "run", "-c", str(self.tmp / "gw.toml")]
        self.gw = subprocess.Popen(cmd, env=env, cwd=cwd, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not self.socket_path.exists():
            if self.gw.poll() is not None:
                err = self.gw.stderr.read()
                self.stop()
                raise RuntimeError(f"gateway exited at start: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gateway did not open its socket within 30 s")
            time.sleep(0.02)
        return self

    def dump_latency(self, timeout_s: float = 5.0) -> list[int]:
        """The gateway's recent tick-to-wire samples (ns), oldest first (SIGUSR1 + GATEWAY_LATENCY_DUMP)."""
        with contextlib.suppress(FileNotFoundError):
            self.dump.unlink()
        self.gw.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.dump.exists():
                return [int(v) for v in self.dump.read_text().split()]
            time.sleep(0.02)
        return []

    def scrape(self) -> str:
        if not self.metrics:
            return ""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> None:
        for proc, sig in ((self.gw, signal.SIGINT), (self.sim, signal.SIGTERM)):
            if proc is None or proc.poll() is not None:
                continue
            stop_process(proc, sig)
        if self.gw is not None and self.gw.stderr is not None:
            self.gw.stderr.close()
        if self.sim is not None and self.sim.stdout is not None:
            self.sim.stdout.close()
        if not self.keep_dir:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
