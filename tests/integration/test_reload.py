"""Reloading the config while the daemon runs: a strategy streams orders over the socket while
an operator's `reload` lowers a limit and raises it again (every order is acked, none lost,
and exactly those the limit in force refuses are refused: risk_limit); an invalid file
changes nothing and says why; sections a reload does not apply are named; log_level is
applied; SIGHUP on a real daemon process does the same as the op."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from gateway.config import load_config
from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient
from tests.integration.harness import CONFIG


def write_config(tmp: Path, quantity: str = "100", extra: str = "") -> Path:
    path = tmp / "gw.toml"
    text = (CONFIG.format(tmp=tmp).replace('max_order_quantity = "100"', f'max_order_quantity = "{quantity}"')
            .replace("max_open_orders = 50", "max_open_orders = 5000"))
    path.write_text(text.replace("[risk]\n", extra + "[risk]\n", 1) if extra else text)
    return path


def run_with_file(tmp: Path, scenario, timeout_s: float = 60) -> None:
    import uvloop

    async def main():
        path = write_config(tmp)
        gw = await Gateway.start(load_config(path), path)
        try:
            await asyncio.wait_for(scenario(gw, path), timeout_s)
        finally:
            await gw.stop()

    uvloop.run(main())


def test_reload_while_orders_flow_loses_nothing_and_refuses_only_what_the_new_limit_forbids(tmp_path):
    n = 300

    async def scenario(gw, path):
        sock = gw.config.server.socket_path
        async with GatewayClient(sock, strategy="flow", timeout_s=30) as s, \
                GatewayClient(sock, strategy=None) as op:
            acks: list = [None] * n
            counted = [0]
            third, two_thirds = asyncio.Event(), asyncio.Event()
            window = asyncio.Semaphore(8)  # a strategy streaming: up to 8 orders in flight

            async def one(i: int) -> None:
                try:
                    # every third order is above the lowered limit of 1
                    qty = "2" if i % 3 == 0 else "0.5"
                    acks[i] = (qty, await s.place("citrex", "ETH-PERP", "buy", qty, "2900",
                                                  client_order_id=f"o{i}"))
                finally:
                    window.release()
                counted[0] += 1
                if counted[0] == n // 3:
                    third.set()
                elif counted[0] == 2 * n // 3:
                    two_thirds.set()

            async def stream() -> None:
                tasks = []
                for i in range(n):
                    await window.acquire()
                    tasks.append(asyncio.ensure_future(one(i)))
                await asyncio.gather(*tasks)

            async def operate() -> list:
                await third.wait()
                write_config(tmp_path, quantity="1")
                lowered = await op.reload()
                await two_thirds.wait()
                write_config(tmp_path, quantity="100")
                return [lowered, await op.reload()]

            _, reloads = await asyncio.gather(stream(), operate())
            lowered, raised = reloads
            assert lowered.ok and lowered.applied == ["risk"] and lowered.needs_restart == [], lowered
            assert raised.ok and raised.applied == ["risk"], raised
            # every order acked, in the order sent; the big ones refused over one run, the small never
            outcome = []
            for i, (qty, ack) in enumerate(acks):
                if ack.ok:
                    outcome.append("ok")
                else:
                    assert qty == "2" and ack.error.code == "risk_limit", (i, qty, ack)
                    assert "over the limit 1" in ack.error.message, ack.error.message
                    outcome.append("refused")
            big = [outcome[i] for i in range(0, n, 3)]
            first, last = big.index("refused"), len(big) - 1 - big[::-1].index("refused")
            assert "ok" not in big[first:last + 1], big  # refused exactly while the lower limit held
            assert first > 0 and last < len(big) - 1, big  # some before the lowering and after the raise
            # none lost: every accepted order is the gateway's and reaches the venue
            accepted = {f"o{i}" for i, o in enumerate(outcome) if o == "ok"}
            tracked = {o.client_order_id for o in gw.tracker.orders.values() if o.strategy == "flow"}
            assert tracked == accepted
            while any(o.status.value.startswith("PENDING") for o in gw.tracker.orders.values()):
                await asyncio.sleep(0.05)
            assert {o.client_order_id for o in await s.orders()} == accepted
            # the strategy's connection stayed up throughout
            assert gw.parts.sessions.strategies["flow"] is not None and await s.ping() > 0
            text = gw.metrics.render().decode()
            assert 'gateway_config_reloads_total{result="ok"} 2.0' in text

    run_with_file(tmp_path, scenario)


def test_an_invalid_file_changes_nothing_and_says_why(tmp_path, caplog):
    async def scenario(gw, path):
        sock = gw.config.server.socket_path
        async with GatewayClient(sock, strategy="s") as s, GatewayClient(sock, strategy=None) as op:
            risk = gw.parts.risk
            for bad, why in (('max_open_orderz = 3\n', "max_open_orderz"),
                             ('max_loss = "-5"\n', "max_loss"),
                             ("max_loss = [", "TOML")):
                path.write_text(path.read_text().replace("[risk]\n", "[risk]\n" + bad, 1))
                with caplog.at_level(logging.ERROR, logger="gateway.reload"):
                    reply = await op.reload()
                assert not reply.ok and reply.error.code == "config_invalid" and why in reply.error.message, reply
                assert why in caplog.text and "nothing changed" in caplog.text
                caplog.clear()
                write_config(tmp_path)
            assert gw.parts.risk is risk and gw.parts.entry.validator.risk is risk
            assert (await s.place("citrex", "ETH-PERP", "buy", "2", "2900")).ok  # the old limit holds
            assert 'gateway_config_reloads_total{result="invalid"} 3.0' in gw.metrics.render().decode()
            # the CLI exits non-zero on an invalid file, 0 on a valid one
            path.write_text(path.read_text().replace("[risk]\n", '[risk]\nprice_band_pct = 5\n', 1))
            code, out, err = await cli("reload", "--socket", sock)
            assert code == 1 and "config_invalid" in err and "price_band_pct" in err, (out, err)
            write_config(tmp_path, quantity="1")
            code, out, err = await cli("reload", "--socket", sock)
            assert code == 0 and "applied risk" in out, (out, err)
            ack = await s.place("citrex", "ETH-PERP", "buy", "2", "2900")
            assert not ack.ok and ack.error.code == "risk_limit"

    run_with_file(tmp_path, scenario)


def test_sections_a_reload_does_not_apply_are_named_and_log_level_is_applied(tmp_path, caplog):
    root = logging.getLogger()
    before = root.level

    async def scenario(gw, path):
        async with GatewayClient(gw.config.server.socket_path, strategy=None) as op:
            text = path.read_text().replace("max_frame_bytes = 65536", "max_frame_bytes = 131072")
            path.write_text(text.replace('log_level = "warning"', 'log_level = "debug"'))
            with caplog.at_level(logging.WARNING, logger="gateway.reload"):
                reply = await op.reload()
            assert reply.ok and reply.applied == ["log_level"] and reply.needs_restart == ["server"], reply
            assert root.level == logging.DEBUG or os.environ.get("GATEWAY_LOG_LEVEL")
            assert "changed server: not applied, they need a restart" in caplog.text
            assert gw.config.server.max_frame_bytes == 65536 and gw.config.log_level == "debug"

    try:
        run_with_file(tmp_path, scenario)
    finally:
        root.setLevel(before)


async def cli(*args):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.getcwd()))
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def test_sighup_reloads_a_running_daemon(tmp_path):
    """`systemctl reload` sends SIGHUP (the unit's ExecReload)."""
    from tests.integration.test_restart import gateway_config, start_gateway, start_sim
    from tests.integration.test_restart_state import _stop

    sim, rest_url, ws_url = start_sim(tmp_path)
    (tmp_path / "gw.toml").write_text(gateway_config(tmp_path, rest_url, ws_url))
    gw = start_gateway(tmp_path)
    try:
        async def go():
            async with GatewayClient(tmp_path / "gw.sock", strategy="s", timeout_s=5) as s:
                assert (await s.place("citrex", "ETH-PERP", "buy", "2", "2900")).ok
                text = (tmp_path / "gw.toml").read_text()
                (tmp_path / "gw.toml").write_text(text.replace('max_order_quantity = "100"',
                                                               'max_order_quantity = "1"'))
                os.kill(gw.pid, signal.SIGHUP)
                while True:  # the signal is handled on the daemon's loop, soon; the connection stays
                    ack = await s.place("citrex", "ETH-PERP", "buy", "2", "2900")
                    if not ack.ok:
                        break
                    await asyncio.sleep(0.05)
                assert ack.error.code == "risk_limit" and "over the limit 1" in ack.error.message
                assert (await s.place("citrex", "ETH-PERP", "buy", "0.5", "2900")).ok

        asyncio.run(asyncio.wait_for(go(), 30))
        assert gw.poll() is None  # SIGHUP did not end it
    finally:
        _stop(gw)
        _stop(sim)


def test_a_fill_after_a_limit_was_lowered_is_booked_and_only_new_orders_meet_the_new_limit(tmp_path):
    """The venue's truth wins: a resting order accepted under the old max_position fills after a
    reload lowered it; the fill is booked whole, the position is over the new limit, orders that
    add to it are refused max_position, one that reduces it passes."""
    async def scenario(gw, path):
        sock = gw.config.server.socket_path
        sim = gw.sims["citrex"]
        async with GatewayClient(sock, strategy="late", timeout_s=30) as s, \
                GatewayClient(sock, strategy=None) as op:
            # 2 ETH to buy, resting under the book (the market maker's best bid is below 3000)
            ack = await s.place("citrex", "ETH-PERP", "buy", "2", "2950", client_order_id="rest")
            assert ack.ok, ack
            while gw.tracker.by_client("late", "rest").status.value != "OPEN":
                await asyncio.sleep(0.02)
            path.write_text(path.read_text().replace("[risk]\n", '[risk]\nmax_position = "1"\n', 1))
            reload = await op.reload()
            assert reload.ok and reload.applied == ["risk"], reload
            # the resting order fills at the venue: an outside seller sweeps down to it
            assert await sim.outside_trade("ETH-PERP", "sell", "2950", "10") >= 1
            while gw.tracker.by_client("late", "rest").status.value != "FILLED":
                await asyncio.sleep(0.02)
            held = gw.parts.positions.get("late", "citrex", "ETH-PERP")
            assert held is not None and held.net == 2 * 10**18  # booked whole: over the new limit of 1
            more = await s.place("citrex", "ETH-PERP", "buy", "0.1", "2900", client_order_id="more")
            assert more.error is not None and more.error.code == "risk_limit" and more.error.limit == "max_position"
            less = await s.place("citrex", "ETH-PERP", "sell", "0.5", "3100", client_order_id="less")
            assert less.ok, less  # towards flat: allowed though still over the limit

    run_with_file(tmp_path, scenario)
