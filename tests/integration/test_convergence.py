"""Order truth converges: an order whose fate is unknown is asked
about until the venue answers; a restart says what was never sent and what the
venue no longer knows; nothing stays pending.

The in-process tests flip the embedded Citrex simulator's faults; the restart
test runs the simulator in its own process so it outlives the gateway."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

from gateway.ipc.client import GatewayClient
from gateway.orders.model import Status
from tests.integration.harness import run_gateway, strategy
from tests.integration.test_restart import gateway_config, start_gateway

FAST_TIMEOUT = lambda text: text.replace('nonce_file = ', 'request_timeout_ms = 300\nnonce_file = ')  # noqa: E731


async def until(predicate, timeout_s: float = 20, step_s: float = 0.05):
    for _ in range(int(timeout_s / step_s)):
        if predicate():
            return
        await asyncio.sleep(step_s)
    raise AssertionError("condition not reached in time")


def test_lost_replies_are_asked_about_until_the_venue_answers(tmp_path):
    async def scenario(gw):
        sim = gw.sims["citrex"]
        adapter = gw.venues["citrex"]
        async with strategy(gw, "alpha") as s:
            sim.faults.reply_delay_ms = 1200  # past the 300 ms timeout: every reply and look-up is lost
            sim.faults.hold_events = True  # and the stream says nothing
            acks = [await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id=f"o{i}")
                    for i in range(6)]
            assert all(a.ok for a in acks)
            await until(lambda: len(adapter.resolver) == 6)
            text = gw.metrics.render().decode()
            assert 'gateway_orders_unresolved{venue="citrex"} 6.0' in text
            # the look-ups time out too: the resolver keeps asking, closing nothing on a guess
            await asyncio.sleep(1.5)
            assert all(gw.tracker.by_client("alpha", f"o{i}").status is Status.PENDING_NEW for i in range(6))
            sim.faults.reply_delay_ms = 0
            tracked = [gw.tracker.by_client("alpha", f"o{i}") for i in range(6)]
            await until(lambda: all(o.status is Status.OPEN for o in tracked))
            views = {o.client_order_id: o for o in await s.orders()}
            assert all(views[f"o{i}"].status == "OPEN" and views[f"o{i}"].venue_order_id for i in range(6))
            venue_open = {o.extra.get("nonce") for o in sim.engine.orders.values() if o.status.name == "OPEN"}
            ours = {gw.tracker.by_client("alpha", f"o{i}").venue_data.nonce for i in range(6)}
            assert ours <= venue_open
            await sim.release_events()  # the stream's late word changes nothing
            await until(lambda: len(adapter.resolver) == 0)
            assert adapter.resolver.guessed == 0 and adapter.resolver.resolved >= 6
            assert 'gateway_orders_unresolved{venue="citrex"} 0.0' in gw.metrics.render().decode()

    run_gateway(tmp_path, scenario, edit=FAST_TIMEOUT, timeout_s=60)


def test_an_adapter_failing_on_a_reply_leaves_nothing_pending(tmp_path):
    """The reply handler raises: the watchdog finds the order pending with no word and asks."""
    async def scenario(gw):
        adapter = gw.venues["citrex"]
        original = adapter._on_place_reply
        broken = []

        def on_reply(order, reply):
            if not broken:
                broken.append(order.order_id)
                raise RuntimeError("adapter bug")
            original(order, reply)

        adapter._on_place_reply = on_reply
        gw.sims["citrex"].faults.hold_events = True  # only a look-up can tell
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="b1")
            await until(lambda: bool(broken))
            assert gw.tracker.by_client("alpha", "b1").status is Status.PENDING_NEW
            from gateway.venues.resolver import watch_pending

            await until(lambda: watch_pending(gw.tracker, gw.venues.values()) == 1, 10)
            assert (await s.wait_status("b1", "OPEN", timeout_s=10)).venue_order_id
            assert adapter.resolver.resolved == 1

    run_gateway(tmp_path, scenario, edit=FAST_TIMEOUT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_sim(tmp, port: int, reply_delay_ms: int):
    from tests.integration.harness import CONFIG

    text = CONFIG.format(tmp=tmp).replace("[venues.sim]", f"[venues.sim]\nreply_delay_ms = {reply_delay_ms}")
    (tmp / "sim.toml").write_text(text)
    sim = subprocess.Popen([sys.executable, "-m", "gateway", "sim", "citrex", "--port", str(port), "-c",
                            str(tmp / "sim.toml")], stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ, GATEWAY_LOG_LEVEL="warning"))
    words = sim.stdout.readline().split()
    return sim, words[words.index("REST") + 1], words[words.index("WS") + 1]


def test_restart_tells_what_was_never_sent_and_what_the_venue_forgot(tmp_path):
    port = _free_port()
    # the venue takes 0.8 s per order and the gateway has one connection: one order is in flight,
    # the rest wait in the line when the gateway is killed
    sim, rest_url, ws_url = _start_sim(tmp_path, port, reply_delay_ms=800)
    config = gateway_config(tmp_path, rest_url, ws_url).replace(
        'nonce_file = ', 'http_connections = 1\nrequest_timeout_ms = 2000\nnonce_file = ')
    (tmp_path / "gw.toml").write_text(config)
    gw = start_gateway(tmp_path)

    async def burst():
        async with GatewayClient(tmp_path / "gw.sock", strategy="s") as s:
            for i in range(5):
                assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id=f"k{i}")).ok
        os.kill(gw.pid, signal.SIGKILL)

    async def settled(done=lambda orders: True):
        async with GatewayClient(tmp_path / "gw.sock", strategy="s") as s:
            for _ in range(400):
                orders = {o.client_order_id: o for o in await s.orders(open_only=False)}
                if not any(o.status.startswith("PENDING") for o in orders.values()) and done(orders):
                    return orders
                await asyncio.sleep(0.05)
            raise AssertionError(f"still pending: {orders}")

    try:
        asyncio.run(burst())
        gw.wait(10)
        gw = start_gateway(tmp_path)
        orders = asyncio.run(settled())
        assert orders["k0"].status == "OPEN" and orders["k0"].venue_order_id  # it had left
        for i in range(1, 5):  # still in the line: never sent, and never sent later
            assert (orders[f"k{i}"].status, orders[f"k{i}"].reason) == ("CANCELED", "not sent: gateway restarted")
        gw.kill()
        gw.wait(10)
        # the venue restarts empty (as the embedded simulators do): it no longer knows k0
        sim.kill()
        sim.wait(10)
        sim, _, _ = _start_sim(tmp_path, port, reply_delay_ms=0)
        gw = start_gateway(tmp_path)
        # asked until the venue has said for longer than a request may travel that it does not know it
        orders = asyncio.run(settled(lambda orders: orders["k0"].status != "OPEN"))
        assert orders["k0"].status == "EXPIRED" and orders["k0"].reason.startswith("unknown to the venue"), orders["k0"]
    finally:
        gw.kill()
        sim.kill()


def test_a_cancel_the_venue_refuses_as_unknown_is_resolved_not_left_open(tmp_path):
    async def scenario(gw):
        sim = gw.sims["citrex"]
        adapter = gw.venues["citrex"]
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="f1")
            await s.wait_status("f1", "OPEN")
            order = gw.tracker.by_client("alpha", "f1")
            del sim.engine.orders[order.venue_order_id]  # the venue forgets it (a wipe on its side)
            await s.cancel("f1")
            reject = await s.wait_for(lambda e: getattr(e, "client_order_id", None) == "f1"
                                      and type(e).__name__ == "CancelReject")
            assert "not found" in reject.reason
            # asked about, and closed once the venue has said for long enough it does not know it
            await until(lambda: order.status is Status.EXPIRED, 20)
            assert order.reason.startswith("unknown to the venue (cancel refused") and order.guessed
            assert adapter.resolver.guessed == 1 and not gw.tracker.open_orders()

    run_gateway(tmp_path, scenario, edit=FAST_TIMEOUT)
