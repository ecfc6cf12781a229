"""The gateway's own state survives kill -9: an armed dead man's switch is armed again
with the time it had left (a strategy that never comes back still has its orders
canceled), a fleet halt still halts, and a strategy's state (halted, reducing) holds. The venue (a Citrex simulator) runs in its own
process, as in tests/integration/test_restart.py."""
from __future__ import annotations

import asyncio
import os
import signal
import time

from gateway.ipc.client import GatewayClient
from gateway.orders.journal import Journal
from gateway.orders.records import HaltRecord
from tests.integration.test_restart import gateway_config, start_gateway, start_sim


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except Exception:  # noqa: BLE001 - it must go: the next test needs the port
            proc.kill()
            proc.wait()


def test_an_armed_switch_fires_after_kill_9_for_a_strategy_that_never_returns(tmp_path):
    sim, rest_url, ws_url = start_sim(tmp_path)
    (tmp_path / "gw.toml").write_text(gateway_config(tmp_path, rest_url, ws_url))
    gw = start_gateway(tmp_path)
    try:
        async def arm_and_die():
            async with GatewayClient(tmp_path / "gw.sock", strategy="gone", timeout_s=5) as s:
                for i in range(3):
                    assert (await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"o{i}")).ok
                    await s.wait_status(f"o{i}", "OPEN")
                assert (await s.cancel_all_after(4000)).ok
                armed_at = time.monotonic()
                await asyncio.sleep(1.5)  # housekeeping journals the switch's last request within a second
                os.kill(gw.pid, signal.SIGKILL)
                gw.wait()
                return armed_at

        armed_at = asyncio.run(arm_and_die())
        gw = start_gateway(tmp_path)

        async def watch():
            async with GatewayClient(tmp_path / "gw.sock", strategy="watcher", timeout_s=5) as w:
                status = await w.status()
                (switch,) = status.switches
                assert switch.strategy == "gone" and switch.timeout_ms == 4000
                # what it had left, not a whole new timeout from the restart
                assert switch.fires_in_ms <= 4000 - 1000, switch
                # no request from "gone" since: the switch fires (the watcher's requests are its own)
                deadline = time.monotonic() + 10
                while (await w.status()).switches:
                    assert time.monotonic() < deadline, "the switch never fired"
                    await asyncio.sleep(0.2)
                fired_after = time.monotonic() - armed_at
            async with GatewayClient(tmp_path / "gw.sock", strategy="gone", timeout_s=5) as s:
                deadline = time.monotonic() + 10
                while True:  # the venue confirms the cancels
                    orders = {o.client_order_id: o.status for o in await s.orders(open_only=False)}
                    if orders == {"o0": "CANCELED", "o1": "CANCELED", "o2": "CANCELED"}:
                        break
                    assert time.monotonic() < deadline, orders
                    await asyncio.sleep(0.2)
            return fired_after

        fired_after = asyncio.run(watch())
        # 4 s after its last request, plus the restart; not 4 s after the restart on top
        assert fired_after < 4 + 6, fired_after
    finally:
        _stop(gw)
        _stop(sim)


def test_a_fleet_halt_survives_kill_9(tmp_path):
    sim, rest_url, ws_url = start_sim(tmp_path)
    (tmp_path / "gw.toml").write_text(gateway_config(tmp_path, rest_url, ws_url))
    # a journal whose last run was halted by fleet control (the drop copy's control subject
    # needs NATS: the record it journals is written here as the gate writes it)
    journal = Journal(str(tmp_path / "orders.journal"))
    journal.open([], [HaltRecord("desk says stop")])
    journal.close()
    gw = start_gateway(tmp_path)
    try:
        async def check():
            async with GatewayClient(tmp_path / "gw.sock", strategy="s", timeout_s=5) as s:
                ack = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id="x")
                assert not ack.ok and ack.error.code == "halted" and "desk says stop" in ack.error.message
                assert (await s.status()).halted == "desk says stop"

        asyncio.run(check())
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait()
        gw = start_gateway(tmp_path)  # the start rewrote the journal as a snapshot: still there
        asyncio.run(check())
    finally:
        _stop(gw)
        _stop(sim)


def test_strategy_states_survive_kill_9(tmp_path):
    """States set through the socket survive kill -9 and the snapshot the next start writes,
    twice; one set back to active stays active."""
    sim, rest_url, ws_url = start_sim(tmp_path)
    (tmp_path / "gw.toml").write_text(gateway_config(tmp_path, rest_url, ws_url))
    gw = start_gateway(tmp_path)
    try:
        async def set_states():
            async with GatewayClient(tmp_path / "gw.sock", strategy=None, timeout_s=5) as op:
                assert (await op.set_risk_state("stopped", "halted", "blew a limit")).ok
                assert (await op.set_risk_state("winding", "reducing", "end of quarter")).ok
                assert (await op.set_risk_state("back", "halted", "for a minute")).ok
                assert (await op.set_risk_state("back", "active", "fine")).ok

        async def check():
            async with GatewayClient(tmp_path / "gw.sock", strategy="stopped", timeout_s=5) as s:
                event = await s.next_event()  # told right after hello
                assert (event.state, event.reason) == ("halted", "blew a limit")
                ack = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900")
                assert not ack.ok and ack.error.code == "strategy_halted"
                views = {v.strategy: (v.state, v.reason) for v in await s.risk_states()}
                assert views == {"stopped": ("halted", "blew a limit")}  # a strategy reads its own
            async with GatewayClient(tmp_path / "gw.sock", strategy=None, timeout_s=5) as op:  # an operator all
                views = {v.strategy: (v.state, v.reason) for v in await op.risk_states()}
                assert views == {"stopped": ("halted", "blew a limit"), "winding": ("reducing", "end of quarter")}
            async with GatewayClient(tmp_path / "gw.sock", strategy="back", timeout_s=5) as b:
                assert (await b.place("citrex", "ETH-PERP", "buy", "0.001", "2900")).ok

        asyncio.run(set_states())
        for _ in range(2):
            os.kill(gw.pid, signal.SIGKILL)
            gw.wait()
            gw = start_gateway(tmp_path)
            asyncio.run(check())
    finally:
        _stop(gw)
        _stop(sim)
