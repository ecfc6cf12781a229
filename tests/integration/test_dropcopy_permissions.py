"""The README's production nats-server config (its accounts and permissions; without TLS
and the cluster, with fresh nkeys) on a real nats-server: the gateway's user creates the
stream, publishes and answers control; the reader reads the book and cannot halt; the
risk user halts. The config is taken from README.md itself, so the two cannot drift."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient
from tests.integration.harness import make_config
from tests.integration.test_dropcopy import NATS_SERVER, drop_copy_edit, free_port, run, settled, until

pytestmark = pytest.mark.skipif(NATS_SERVER is None,
                                reason="nats-server is not installed (make test installs Debian's nats-server)")

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_server_config(port: int, store: Path, public_keys: list[str]) -> str:
    text = README.read_text()
    block = re.search(r"```\n(server_name: nats-1.*?)```", text, re.S).group(1)
    for name in ("cluster", "tls"):  # one server, plain TCP on loopback
        block = re.sub(rf"^{name} \{{.*?^\}}\n", "", block, flags=re.S | re.M)
    block = block.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
    block = re.sub(r"store_dir: \S+", f"store_dir: {store}", block)
    old = re.findall(r"nkey: (U[A-Z0-9]{55})", block)
    assert len(old) == 3, old  # gateway, risk, reader
    for before, after in zip(old, public_keys):
        block = block.replace(before, after)
    return block


def test_readme_permissions_gateway_reader_and_risk(tmp_path):
    import nkeys

    seeds = {}
    for role in ("gateway", "risk", "reader"):
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        (tmp_path / f"{role}.nk").write_bytes(seed)
        (tmp_path / f"{role}.nk").chmod(0o600)
        seeds[role] = nkeys.from_seed(seed).public_key.decode()
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(readme_server_config(port, tmp_path / "store", [seeds["gateway"], seeds["risk"],
                                                                     seeds["reader"]]))
    log = open(tmp_path / "nats.log", "w")
    server = subprocess.Popen([NATS_SERVER, "-c", str(conf)], stdout=log, stderr=log)
    url = f"nats://127.0.0.1:{port}"
    try:
        import socket

        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "nats.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)

        async def cli(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "dropcopy", *args,
                                                        "--url", url, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode(), err.decode()

        async def scenario():
            edit = drop_copy_edit(tmp_path, url, "citrex-main", control=True, nkey_file=str(tmp_path / "gateway.nk"))
            gw = await Gateway.start(make_config(tmp_path, edit))
            try:
                dc = gw.drop_copy
                await until(lambda: dc.state == "connected" and dc.control is not None, what="the gateway on NATS")
                async with GatewayClient(gw.config.server.socket_path, strategy="s") as s:
                    for i in range(6):
                        price = "2900" if i % 2 else "3003"
                        assert (await s.place("citrex", "ETH-PERP", "buy", "0.001", price, client_order_id=f"p{i}")).ok
                    await until(lambda: settled(gw) and dc.published > 0, what="publishing")
                    assert dc.publish_errors == 0

                    code, out, err = await cli("book", "--json", "--nkey", str(tmp_path / "reader.nk"))
                    assert code == 0, err
                    book = json.loads(out)
                    assert book["orders"] == 6 and book["rows"][0]["gateway"] == "citrex-main"

                    code, out, err = await cli("halt", "--gateway", "citrex-main", "--nkey",
                                               str(tmp_path / "reader.nk"), "--wait", "2")
                    assert code != 0 and gw.parts.gate.halted is None  # the reader may not send control

                    code, out, err = await cli("halt", "--gateway", "citrex-main", "--reason", "desk",
                                               "--nkey", str(tmp_path / "risk.nk"))
                    assert code == 0, err
                    assert json.loads(out)["halted"] is True and gw.parts.gate.halted == "desk"
                    ack = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id="late")
                    assert not ack.ok and ack.error.code == "halted"
            finally:
                await gw.stop()
        run(scenario)
    finally:
        server.terminate()
        server.wait(10)
        log.close()
