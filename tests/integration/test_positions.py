"""Positions through the socket: the `positions` op, GatewayClient.positions(), `gateway
positions`, the metrics, and the book across a kill -9 of a real gateway process (closed
orders purged and the journal compacted before it), each against the book made from the
trades the strategy was told of."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.ipc import frames as f
from gateway.ipc.client import GatewayClient, GatewayError
from gateway.orders.model import ONE, SCALE
from gateway.positions import Position
from tests.integration.harness import run_gateway, strategy


class Trades:
    """The strategy's trades in the order it was told of them, booked as the gateway books them."""

    def __init__(self):
        self.seen: set[str] = set()
        self.position = Position()

    def take(self, event) -> None:
        if isinstance(event, f.OrderUpdate):
            sign = 1 if event.order.side == "buy" else -1
            for t in event.order.last_trades:
                if t.trade_id not in self.seen:
                    self.seen.add(t.trade_id)
                    self.position.book(sign * parse_scaled(t.quantity, SCALE), parse_scaled(t.price, SCALE),
                                       parse_scaled(t.fee, SCALE, signed=True) if t.fee else None)

    async def trade(self, s: GatewayClient, side: str, quantity: str, price: str, cid: str) -> None:
        ack = await s.place("citrex", "ETH-PERP", side, quantity, price, client_order_id=cid)
        assert ack.ok, ack
        while True:
            event = await s.next_event()
            self.take(event)
            if isinstance(event, f.OrderUpdate) and event.order.client_order_id == cid and \
                    event.order.status == "FILLED":
                return

    def expected(self, reference: int | None) -> dict:
        p = self.position
        return {"venue": "citrex", "symbol": "ETH-PERP", "position": format_scaled(p.net, SCALE),
                "avg_price": format_scaled(p.avg_price, SCALE), "realized_pnl": format_scaled(p.realized_pnl, SCALE),
                "unrealized_pnl": None if reference is None else format_scaled(p.unrealized_pnl(reference), SCALE),
                "reference_price": None if reference is None else format_scaled(reference, SCALE),
                "fees": format_scaled(p.fees, SCALE)}


def view(p: f.PositionView) -> dict:
    return {name: getattr(p, name) for name in p.__struct_fields__ if name != "strategy"}


def test_positions_op_client_cli_and_metrics(tmp_path):
    trades = Trades()

    async def scenario(gw):
        # the reference price is this test's to set: the venue's own feed is stopped
        await gw.references["citrex"].stop()
        gw.parts.reference.forget("citrex", "ETH-PERP")
        async with strategy(gw, "alpha") as alpha, strategy(gw, "beta") as beta:
            assert await alpha.positions() == []
            # adds (re-averages) over two orders, one filled in two trades, then reduces and flips short
            await trades.trade(alpha, "buy", "0.5", "3003", "b1")
            await trades.trade(alpha, "buy", "1.5", "3006", "b2")
            await trades.trade(alpha, "sell", "0.4", "2997", "s1")
            await trades.trade(alpha, "sell", "2", "2991", "s2")
            assert len(trades.seen) >= 5 and trades.position.net == -ONE * 4 // 10
            assert trades.position.realized_e36 != 0
            # no reference price yet: unrealized and the price unknown (null)
            (mine,) = await alpha.positions()
            assert mine.strategy == "alpha" and view(mine) == trades.expected(None)
            gw.parts.reference.update("citrex", "ETH-PERP", 2999 * ONE, 3002 * ONE)  # mid 3000.5
            (mine,) = await alpha.positions()
            assert view(mine) == trades.expected(3000 * ONE + ONE // 2)
            assert mine.unrealized_pnl is not None and mine.reference_price == "3000.5"

            # beta has none of its own, and may not read alpha's: refused, both still served
            assert await beta.positions() == []
            with pytest.raises(GatewayError) as refused:
                await beta.positions("alpha")
            assert refused.value.code == "bad_field"
            assert await beta.ping() > 0 and len(await alpha.positions()) == 1

            # an observer (no hello) reads any strategy's, or every one's
            async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
                assert [view(p) for p in await observer.positions("alpha")] == [view(mine)]
                assert [p.strategy for p in await observer.positions()] == ["alpha"]
                assert await observer.positions("nobody") == []
                with pytest.raises(GatewayError) as refused:
                    await observer.orders()
                assert refused.value.code == "hello_required"  # positions and status only

            # the CLI, in its own process, as an operator runs it
            sock = gw.config.server.socket_path
            loop = asyncio.get_running_loop()
            run = lambda *argv: subprocess.run(  # noqa: E731
                [sys.executable, "-m", "gateway", "positions", "--socket", sock, *argv],
                capture_output=True, text=True, timeout=60, env=dict(os.environ, COLUMNS="200"))
            out = await loop.run_in_executor(None, run, "--json")
            assert out.returncode == 0, out.stderr
            doc = json.loads(out.stdout)
            assert doc["op"] == "positions" and doc["positions"] == [{"strategy": "alpha", **view(mine)}]
            out = await loop.run_in_executor(None, run, "--strategy", "alpha")
            assert out.returncode == 0 and "alpha" in out.stdout and mine.realized_pnl in out.stdout
            out = await loop.run_in_executor(None, run, "--strategy", "beta")
            assert out.returncode == 0 and out.stdout.strip() == "no positions for beta"

            metrics = gw.metrics.render().decode()
            net = float(trades.position.net / ONE)
            assert f'gateway_position{{strategy="alpha",symbol="ETH-PERP",venue="citrex"}} {net}' in metrics
            realized = float(trades.position.realized_pnl / ONE)
            assert f'gateway_pnl{{kind="realized",strategy="alpha"}} {realized}' in metrics
            assert 'gateway_pnl{kind="unrealized",strategy="alpha"}' in metrics

    run_gateway(tmp_path, scenario, timeout_s=90)


# a real gateway process, killed

def booked(position: dict) -> dict:
    """What the book holds: the unrealized PnL and the reference price follow the venue's
    live prices, which move between two looks."""
    return {k: v for k, v in position.items() if k not in ("unrealized_pnl", "reference_price")}


def _journal_orders(path) -> set[str]:
    from gateway.orders.journal import Journal
    from gateway.orders.records import NEW

    return {r.cid for r in Journal(str(path)).read() if r.k == NEW}


def test_positions_survive_kill_9_after_purge_and_compaction(tmp_path):
    from tests.integration.test_restart import gateway_config, start_gateway, start_sim

    sim, rest_url, ws_url = start_sim(tmp_path)
    # closed orders forgotten at the first housekeeping, the journal compacted then: the fills of
    # the first trades live on only in the book's record
    config = gateway_config(tmp_path, rest_url, ws_url).replace(
        '[journal]\n', '[orders]\nclosed_order_ttl_secs = 0\n[journal]\ncompact_above_bytes = 1\n', 1)
    (tmp_path / "gw.toml").write_text(config)
    journal = tmp_path / "orders.journal"
    gw = start_gateway(tmp_path)
    trades = Trades()

    async def before() -> list:
        async with GatewayClient(tmp_path / "gw.sock", strategy="survivor", timeout_s=10) as s:
            await trades.trade(s, "buy", "1.5", "3006", "b1")
            await trades.trade(s, "sell", "0.5", "2997", "s1")
            for _ in range(600):  # housekeeping: every 10 s
                if not _journal_orders(journal) & {"b1", "s1"} and not await s.orders(open_only=False):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("closed orders not purged and compacted")
            await trades.trade(s, "sell", "2", "2991", "s2")  # after the compaction, in the journal's stream
            return [booked(view(p)) for p in await s.positions()]

    try:
        seen = asyncio.run(before())
        assert seen == [booked(trades.expected(None))] and trades.position.net == -ONE
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(10)
        assert gw.returncode == -signal.SIGKILL
        gw = start_gateway(tmp_path)

        async def after() -> list:
            async with GatewayClient(tmp_path / "gw.sock", strategy="survivor", timeout_s=10) as s:
                first = [booked(view(p)) for p in await s.positions()]
                await trades.trade(s, "buy", "0.25", "3003", "b2")  # trading on from the restored book
                return first, [booked(view(p)) for p in await s.positions()]

        restored, later = asyncio.run(after())
        assert restored == seen
        assert later == [booked(trades.expected(None))] and trades.position.net == -ONE * 3 // 4
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        gw = start_gateway(tmp_path)  # a clean stop and start: the same again

        async def again() -> list:
            async with GatewayClient(tmp_path / "gw.sock", strategy="survivor", timeout_s=10) as s:
                return [booked(view(p)) for p in await s.positions()]

        assert asyncio.run(again()) == later
    finally:
        gw.kill()
        gw.wait(10)
        sim.kill()
        sim.wait(10)
