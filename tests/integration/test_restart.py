"""kill -9 during a burst, restart from the journal: no order the strategy got
an ack for is lost, ids stay, and the venue's view wins over the journal's.

The venue (a Citrex simulator) runs in its own process so it outlives the
gateway, as a real venue would."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from gateway.ipc.client import GatewayClient
from tests.integration.harness import CONFIG


def start_sim(tmp):
    (tmp / "sim.toml").write_text(CONFIG.format(tmp=tmp))
    sim = subprocess.Popen([sys.executable, "-m", "gateway", "sim", "citrex", "--port", "0", "-c", str(tmp / "sim.toml")],
                           stdout=subprocess.PIPE, text=True, env=dict(os.environ, GATEWAY_LOG_LEVEL="warning"))
    words = sim.stdout.readline().split()
    return sim, words[words.index("REST") + 1], words[words.index("WS") + 1]


def gateway_config(tmp, rest_url, ws_url) -> str:
    head, _, rest = CONFIG.format(tmp=tmp).partition("[venues.sim]")
    instruments = rest[rest.index("[venues.instruments"):]
    journal = f'\n[journal]\npath = "{tmp}/orders.journal"\n'
    return (head.replace("[[venues]]", journal + "[[venues]]", 1).replace("max_open_orders = 50", "max_open_orders = 1000")
            + f'rest_url = "{rest_url}"\nws_url = "{ws_url}"\n' + instruments)


def start_gateway(tmp):
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(tmp / "gw.toml")],
                            env=dict(os.environ, GATEWAY_LOG_LEVEL="warning"))
    import socket

    for _ in range(400):
        assert proc.poll() is None, "gateway exited at start"
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(tmp / "gw.sock"))  # a socket file left by a killed gateway refuses
            return proc
        except OSError:
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("gateway did not start")


def test_kill_9_mid_burst_loses_no_acked_order(tmp_path):
    sim, rest_url, ws_url = start_sim(tmp_path)
    (tmp_path / "gw.toml").write_text(gateway_config(tmp_path, rest_url, ws_url))
    gw = start_gateway(tmp_path)
    acked: dict[str, str] = {}

    async def burst():
        async with GatewayClient(tmp_path / "gw.sock", strategy="survivor", timeout_s=5) as s:
            # two fill at once (they cross the simulated ask), the rest rest on the book
            for cid, price in (("fill-1", "3003"), ("fill-2", "3003")):
                ack = await s.place("citrex", "ETH-PERP", "buy", "0.5", price, client_order_id=cid)
                acked[cid] = ack.order_id
                await s.wait_status(cid, "FILLED")
            # one order known to have left before the kill: an ack means queued, so the burst alone
            # may be killed before any of it is sent
            ack = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id="sent-1")
            acked["sent-1"] = ack.order_id
            await s.wait_status("sent-1", "OPEN")

            async def one(i):
                try:
                    ack = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"r{i}")
                except Exception:  # noqa: BLE001 - the gateway died under us: no ack
                    return
                if ack.ok:
                    acked[f"r{i}"] = ack.order_id
                    if len(acked) == 41:
                        os.kill(gw.pid, signal.SIGKILL)  # mid-burst, acks still in flight

            await asyncio.gather(*(one(i) for i in range(150)), return_exceptions=True)

    try:
        asyncio.run(burst())
        gw.wait(10)
        assert gw.returncode == -signal.SIGKILL
        assert len(acked) >= 41
        gw = start_gateway(tmp_path)

        async def after():
            # an order whose send was journaled but that the venue does not have is asked about
            # until the venue has had time to receive it: wait for every order to settle
            async with GatewayClient(tmp_path / "gw.sock", strategy="survivor") as s:
                for _ in range(300):
                    orders = {o.client_order_id: o for o in await s.orders(open_only=False)}
                    if not any(o.status in ("PENDING_NEW", "PENDING_CANCEL") for o in orders.values()):
                        break
                    await asyncio.sleep(0.1)
                return orders

        orders = asyncio.run(after())
        for cid, order_id in acked.items():
            assert cid in orders, f"acked order {cid} lost"
            assert orders[cid].order_id == order_id
            assert orders[cid].status not in ("PENDING_NEW", "PENDING_CANCEL"), (cid, orders[cid].status)
        assert orders["fill-1"].status == orders["fill-2"].status == "FILLED"
        assert orders["fill-1"].avg_price == "3003"
        # an ack means queued, not sent: what had left is OPEN at the venue; what was still in the
        # line has no send journaled (the journal is written before any request leaves), so it
        # ends CANCELED, never sent later; what was journaled as sent but never reached the venue
        # is REJECTED once the venue has said so for longer than a request may travel
        burst = [orders[c] for c in acked if c.startswith("r")]
        for order in burst:
            assert (order.status == "OPEN" and order.venue_order_id) or (
                order.status == "CANCELED" and order.reason == "not sent: gateway restarted") or (
                order.status == "REJECTED" and "not received by the venue" in order.reason), order

        assert orders["sent-1"].status == "OPEN" and orders["sent-1"].venue_order_id
    finally:
        gw.kill()
        sim.kill()
