"""One gateway per state: a second `gateway run` on the same config exits with a
clear message before touching the journal, nonces, socket or venues; the
socket path is never unlinked unless it is our socket."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from gateway.ipc.client import GatewayClient
from tests.integration.harness import CONFIG


def write_config(tmp) -> str:
    text = CONFIG.format(tmp=tmp) + f'\n[journal]\npath = "{tmp}/journal/orders.journal"\n'
    path = tmp / "gw.toml"
    path.write_text(text)
    return str(path)


def start(config: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", config], stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, GATEWAY_LOG_LEVEL="info"))


def wait_serving(proc: subprocess.Popen) -> None:
    for line in proc.stderr:
        if "order-gateway serving on" in line:
            return
    raise AssertionError(f"gateway exited at start: {proc.wait()}")


async def place_and_ping(sock: str, cid: str) -> None:
    async with GatewayClient(sock, strategy="alpha") as gw:
        assert (await gw.place("citrex", "ETH-PERP", "buy", "1", "2950", client_order_id=cid)).ok
        await gw.wait_status(cid, "OPEN")


def test_a_second_instance_exits_before_touching_anything(tmp_path):
    config = write_config(tmp_path)
    first = start(config)
    try:
        wait_serving(first)
        sock, journal = tmp_path / "gw.sock", tmp_path / "journal" / "orders.journal"
        asyncio.run(place_and_ping(str(sock), "a1"))
        before = (os.stat(sock).st_ino, os.stat(journal).st_ino, journal.read_bytes(),
                  (tmp_path / "citrex.nonce").read_bytes())
        second = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", config], capture_output=True,
                                text=True, timeout=60, env=dict(os.environ, GATEWAY_LOG_LEVEL="info"))
        assert second.returncode == 1
        assert f"another gateway (pid {first.pid}) is running on this state" in second.stderr
        assert "venue" not in second.stderr and "journal" not in second.stderr.replace("journal/gateway.lock", "")
        after = (os.stat(sock).st_ino, os.stat(journal).st_ino, journal.read_bytes(),
                 (tmp_path / "citrex.nonce").read_bytes())
        assert after == before
        # the first still serves, and what it acks now survives its restart
        asyncio.run(place_and_ping(str(sock), "a2"))
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
        first = start(config)
        wait_serving(first)

        async def both_known():
            async with GatewayClient(str(sock), strategy="alpha") as gw:
                return {o.client_order_id for o in await gw.orders(open_only=False)}

        assert {"a1", "a2"} <= asyncio.run(both_known())
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)


def test_a_socket_path_naming_a_regular_file_is_left_alone(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "gw.sock").write_text("precious\n")
    run = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", config], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, GATEWAY_LOG_LEVEL="warning"))
    assert run.returncode == 1
    assert "exists and is not a socket" in run.stderr
    assert (tmp_path / "gw.sock").read_text() == "precious\n"
