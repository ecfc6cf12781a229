"""No secret in any log line, status or metric: a full run of the embedded
config (all five venues, keys and credentials made into files), at DEBUG,
with an order on every venue, then every line it wrote is searched for every
configured secret. The config sits in a folder of its own and the gateway
runs from elsewhere: every *_file lands beside the config."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from gateway.ipc.client import GatewayClient

REPO = Path(__file__).resolve().parents[2]
ORDERS = {"citrex": ("ETH-PERP", "2950"), "bsx": ("ETH-PERP", "2950"), "poloniex": ("ETH-PERP", "2950"),
          "bluefin": ("ETH-PERP", "2950"), "dxtrade": ("ETH-PERP", "2950")}


def test_no_secret_in_any_log_line_status_or_metric(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    text = (REPO / "config" / "gateway.toml").read_text().replace('address = "127.0.0.1:9464"',
                                                                  'address = "127.0.0.1:0"')
    (conf_dir / "gateway.toml").write_text(text)
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(conf_dir / "gateway.toml")],
                            cwd=cwd, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, GATEWAY_LOG_LEVEL="debug",
                                     PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    lines: list[str] = []
    serving = threading.Event()

    def collect():
        for line in proc.stderr:
            lines.append(line)
            if "order-gateway serving on" in line:
                serving.set()
        serving.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        assert serving.wait(120) and proc.poll() is None, "".join(lines[-20:])
        sock = str(tmp_path / "run" / "gateway.sock")
        metrics_line = next(l for l in lines if "metrics on http://" in l)
        metrics_url = metrics_line.split("metrics on ")[1].strip()

        async def trade():
            async with GatewayClient(sock, strategy="secrets") as gw:
                for venue, (symbol, price) in ORDERS.items():
                    cid = f"s-{venue}"
                    ack = await gw.place(venue, symbol, "buy", "0.01", price, client_order_id=cid)
                    assert ack.ok, (venue, ack)
                    await gw.wait_status(cid, "OPEN", timeout_s=30)
                return await gw.status()

        status = asyncio.run(trade())
        with urllib.request.urlopen(metrics_url, timeout=30) as r:
            metrics = r.read().decode()
        cli_status = subprocess.run([sys.executable, "-m", "gateway", "status", "--socket", sock],
                                    capture_output=True, text=True, timeout=60).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join(30)

    keys = tmp_path / "run" / "keys"
    files = sorted(keys.iterdir())
    names = {p.name for p in files}
    # every *_file resolved against the config's folder, none against the working directory
    assert {"citrex.hex", "bsx.key", "bsx.secret", "bsx-signer.hex", "poloniex.key", "poloniex.secret",
            "bluefin.hex", "dxtrade.user", "dxtrade.password"} <= names, names
    assert not (tmp_path / "a" / "run").exists()
    secrets = {p.name: p.read_text().strip() for p in files}
    assert all(len(v) >= 8 for v in secrets.values()), secrets.keys()
    everything = "".join(lines) + metrics + cli_status + repr(status)
    assert "venue poloniex ready (account key sha256:" in everything
    for name, value in secrets.items():
        forms = {value, value.lower(), value.upper(), value.removeprefix("0x")}
        for form in forms:
            assert form not in everything, f"{name}'s contents appear in the output"
    assert len(lines) > 10  # it did log
