"""NATS down, the gateway killed (-9) during the outage and started again while NATS is
still down, then NATS back: every order change of both runs is in the stream once, in
order per order, and each order's last event says its status. The venue (a Citrex
simulator) and NATS run in their own processes, as they would."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest

from gateway.ipc.client import GatewayClient, GatewayError
from tests.integration.test_dropcopy import (NATS_SERVER, NatsServer, stream_events, trade_burst)
from tests.integration.test_restart import gateway_config, start_gateway, start_sim

pytestmark = pytest.mark.skipif(NATS_SERVER is None,
                                reason="nats-server is not installed (make test installs Debian's nats-server)")


async def wait_for(check, what: str, timeout_s: float = 90):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def all_orders(sock) -> dict:
    """Strategy k's orders, as k (a connection of k that just closed may not be gone yet)."""
    for _ in range(100):
        try:
            async with GatewayClient(sock, strategy="k", timeout_s=10) as c:
                return {o.order_id: o for o in await c.orders(open_only=False)}
        except GatewayError as exc:
            if exc.code != "strategy_in_use":
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("strategy k stayed connected")


async def drop_copy_status(sock):
    async with GatewayClient(sock, strategy=None, timeout_s=10) as c:
        return (await c.status()).drop_copy


async def venue_settled(sock) -> bool:
    orders = await all_orders(sock)
    return bool(orders) and not any(o.status.startswith("PENDING") for o in orders.values())


def test_gateway_killed_during_nats_outage_loses_and_duplicates_nothing(tmp_path):
    nats = NatsServer(tmp_path).start()
    sim, rest_url, ws_url = start_sim(tmp_path)
    section = (f'[drop_copy]\nurl = "{nats.url}"\ngateway_id = "gw-k"\nmax_buffer_events = 10\n'
               f"batch_max_events = 8\nack_timeout_secs = 1.0\n")
    config = gateway_config(tmp_path, rest_url, ws_url)
    (tmp_path / "gw.toml").write_text(config.replace("[[venues]]", section + "[[venues]]", 1))
    sock = tmp_path / "gw.sock"
    gw = start_gateway(tmp_path)
    counts = {}
    try:
        async def before_kill():
            async with GatewayClient(sock, strategy="k", timeout_s=10) as s:
                await trade_burst(s, "before", 8)
            await wait_for(lambda: venue_settled(sock), "the first burst")
            await wait_for(lambda: _zero_pending(sock), "the first burst to be published")
            nats.kill()
            async with GatewayClient(sock, strategy="k", timeout_s=10) as s:
                await trade_burst(s, "during", 24)
            await wait_for(lambda: venue_settled(sock), "the outage's burst")
            counts["pending_at_kill"] = (await drop_copy_status(sock)).pending

        asyncio.run(before_kill())
        assert counts["pending_at_kill"] > 10  # more than the buffer: the journal holds the rest
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait()
        gw = start_gateway(tmp_path)  # NATS still down

        async def after_restart():
            st = await drop_copy_status(sock)
            counts["pending_after_restart"] = st.pending
            assert st.state != "connected" and st.pending >= counts["pending_at_kill"]
            async with GatewayClient(sock, strategy="k", timeout_s=10) as s:
                await trade_burst(s, "after", 8)
            await wait_for(lambda: venue_settled(sock), "the third burst")
            nats.start()
            st = await wait_for(lambda: _zero_pending(sock), "the catch-up after NATS is back")
            counts.update(published=st.published, from_journal=st.catchup_events, errors=st.publish_errors)
            assert st.catchup_events >= counts["pending_at_kill"]
            return await all_orders(sock), await stream_events(nats.url, gateway="gw-k")

        orders, events = asyncio.run(after_restart())
        ids = [e[0] for e in events]
        assert len(ids) == len(set(ids)), "an event stored twice"
        seqs: dict[str, list[int]] = {}
        last: dict[str, str] = {}
        for _msg_id, _subject, ev in events:
            seqs.setdefault(ev["order"]["order_id"], []).append(ev["seq"])
            last[ev["order"]["order_id"]] = ev["order"]["status"]
        assert set(seqs) == set(orders) and len(orders) == 40
        for order_id, order in orders.items():
            assert seqs[order_id] == list(range(1, len(seqs[order_id]) + 1)), (order_id, seqs[order_id])
            assert last[order_id] == order.status, order_id
        counts["events"] = len(events)
        print(f"kill -9 during the outage: {counts}")
    finally:
        if gw.poll() is None:
            gw.send_signal(signal.SIGTERM)
            gw.wait(30)
        sim.terminate()
        sim.wait(10)
        nats.stop()


async def _zero_pending(sock):
    st = await drop_copy_status(sock)
    return st if st.pending == 0 and st.state == "connected" else None
