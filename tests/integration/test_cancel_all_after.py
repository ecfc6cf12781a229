"""The dead man's switch (cancel_all_after): a strategy that hangs with its socket open
gets its orders canceled; one that keeps talking does not; others are never touched."""
from __future__ import annotations

import asyncio

from gateway.ipc import frames as f
from gateway.ipc.client import GatewayClient
from tests.integration.harness import run_gateway, strategy


async def rest(s, cid, price="2950"):
    assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", price, client_order_id=cid)).ok
    await s.wait_status(cid, "OPEN")


def test_a_strategy_that_stops_sending_but_stays_connected_has_its_orders_canceled(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "hung") as hung, strategy(gw, "other") as other:
            await rest(hung, "h1")
            await rest(hung, "h2", "2940")
            await rest(other, "o1")
            assert (await hung.cancel_all_after(300)).ok
            async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
                [armed] = (await observer.status()).switches
                assert (armed.strategy, armed.timeout_ms) == ("hung", 300) and armed.fires_in_ms <= 300
            # from here "hung" sends nothing, and its connection stays open
            fired = await hung.wait_for(lambda e: isinstance(e, f.CancelAllAfterFired), timeout_s=30)
            by_cid = {o.client_order_id: o.order_id for o in await other.orders()}
            assert fired.timeout_ms == 300 and len(fired.order_ids) == 2
            for cid in ("h1", "h2"):
                assert (await hung.wait_status(cid, "CANCELED", timeout_s=30)).reason
            assert list(by_cid) == ["o1"]  # the other strategy's order is untouched
            [o1] = await other.orders()
            assert o1.status == "OPEN"
            # fired means disarmed: the connection still works and nothing else happens
            assert await hung.ping() > 0
            async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
                assert (await observer.status()).switches == []
        assert gw.metrics.switches_fired == {"hung": 1}

    run_gateway(tmp_path, scenario, timeout_s=60)


def test_any_request_rearms_the_switch_and_zero_disarms_it(tmp_path):
    async def scenario(gw):
        sock = gw.config.server.socket_path
        async with strategy(gw, "alive") as s, GatewayClient(sock, strategy=None) as observer:
            await rest(s, "a1")
            timeout = 600_000
            assert (await s.cancel_all_after(timeout)).ok
            await asyncio.sleep(1.0)
            [before] = (await observer.status()).switches
            assert before.fires_in_ms <= timeout - 1000  # a second went by without a request
            await s.ping()  # any request re-arms it
            [after] = (await observer.status()).switches
            assert after.fires_in_ms > timeout - 1000
            assert (await s.cancel_all_after(0)).ok
            assert (await observer.status()).switches == []
            bad = await s.cancel_all_after(-1)
            assert not bad.ok and bad.error.code == "bad_field"
            [a1] = await s.orders()
            assert a1.status == "OPEN"

    run_gateway(tmp_path, scenario)


def test_the_switch_fires_after_the_strategy_disconnects_too(tmp_path):
    """It is the gateway's timer, not the connection's: a strategy that armed it and vanished
    (without cancel_on_disconnect) still has its orders canceled."""
    async def scenario(gw):
        async with strategy(gw, "gone") as s:
            await rest(s, "g1")
            assert (await s.cancel_all_after(200)).ok
        order = gw.tracker.by_client("gone", "g1")
        for _ in range(600):
            if order.status.value == "CANCELED":
                break
            await asyncio.sleep(0.05)
        assert order.status.value == "CANCELED"

    run_gateway(tmp_path, scenario, timeout_s=60)
