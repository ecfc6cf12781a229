"""Strategy states through the real socket: an operator halts one strategy (its new orders,
replaces and modifies refused with strategy_halted, its cancels pass, the others trade on),
a reducing strategy gets only the orders that shrink its position, a max_loss breach moves
a strategy once, and `gateway risk set-state` / `gateway risk` from the command line. The
positions book is not built yet: a fake with its interface stands in for it."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

import pytest

from gateway.ipc import frames as f
from gateway.ipc.client import GatewayClient, GatewayError
from gateway.orders.model import ONE
from tests.integration.harness import run_gateway, strategy


@dataclass
class FakePosition:
    net: int


class FakePositions:
    def __init__(self):
        self.nets: dict[tuple[str, str, str], int] = {}
        self.pnls: dict[str, tuple[int, int]] = {}

    def get(self, strategy, venue, symbol):
        net = self.nets.get((strategy, venue, symbol))
        return None if net is None else FakePosition(net)

    def pnl(self, strategy):
        return self.pnls.get(strategy, (0, 0))

    def strategies(self):
        return sorted(self.pnls)


async def operator(gw):
    return GatewayClient(gw.config.server.socket_path, strategy=None)


async def next_state(client: GatewayClient) -> f.RiskState:
    return await client.wait_for(lambda e: isinstance(e, f.RiskState))


def refused(ack: f.Ack, code: str) -> str:
    assert not ack.ok and ack.error.code == code, ack
    return ack.error.message


def test_an_operator_halts_one_strategy_and_lets_it_go_again(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "algo") as s, strategy(gw, "other") as o, await operator(gw) as op:
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="rest")).ok
            await s.wait_status("rest", "OPEN")
            ack = await op.set_risk_state("algo", "halted", "fat finger on the desk")
            assert ack.ok, ack
            event = await next_state(s)
            assert (event.strategy, event.state, event.reason) == ("algo", "halted", "fat finger on the desk")
            message = refused(await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900"), "strategy_halted")
            assert "fat finger on the desk" in message
            refused(await s.replace("rest", "0.02", "2901"), "strategy_halted")
            refused(await s.modify("rest", price="2902"), "strategy_halted")
            assert (await s.cancel("rest")).ok  # cancels always pass
            await s.wait_status("rest", "CANCELED")
            assert (await o.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok  # everyone else trades
            # a strategy cannot lift its own halt, nor reload the config
            refused(await s._request(f.SetRiskState(req_id=0, strategy="algo", state="active")), "operator_only")
            refused(await s._request(f.Reload(req_id=0)), "operator_only")
            # a bad state or name: its own error, nothing changed
            assert "state must be one of" in refused(await op.set_risk_state("algo", "paused"), "bad_field")
            refused(await op.set_risk_state("no such name!", "halted"), "bad_field")
            (view,) = await op.risk_states()
            assert (view.strategy, view.state, view.source, view.reason) == \
                ("algo", "halted", "operator", "fat finger on the desk")
            # a strategy sees its own state only, not another's
            assert [(v.strategy, v.state) for v in await o.risk_states()] == [("other", "active")]
            with pytest.raises(GatewayError, match="not_your_order"):
                await o.risk_states("algo")
            text = gw.metrics.render().decode()
            assert 'gateway_strategy_state{state="halted",strategy="algo"} 1.0' in text
            assert 'gateway_strategy_state{state="active",strategy="other"} 1.0' in text
            assert 'gateway_strategy_state_changes_total{source="operator",state="halted",strategy="algo"} 1.0' in text
            assert 'gateway_rejects_total{reason="strategy_halted"} 3.0' in text
        # a strategy that comes back halted hears so right after its hello
        async with strategy(gw, "algo") as s, await operator(gw) as op:
            assert (await next_state(s)).state == "halted"
            assert (await op.set_risk_state("algo", "active", "checked")).ok
            assert (await next_state(s)).state == "active"
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok
            assert await op.risk_states() == []

    run_gateway(tmp_path, scenario)


def test_a_reducing_strategy_gets_only_orders_that_shrink_its_position(tmp_path):
    async def scenario(gw):
        book = gw.parts.states.positions = FakePositions()
        book.nets[("algo", "citrex", "ETH-PERP")] = 5 * ONE // 100  # long 0.05
        async with strategy(gw, "algo") as s, await operator(gw) as op:
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="bid")).ok
            assert (await op.set_risk_state("algo", "reducing", "over its budget")).ok
            assert (await next_state(s)).state == "reducing"
            assert "adds to its long position" in refused(
                await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900"), "strategy_reducing")
            # a sell of more than the position would flip it: refused, not trimmed
            assert "would flip" in refused(await s.place("citrex", "ETH-PERP", "sell", "0.06", "3100"),
                                           "strategy_reducing")
            assert (await s.place("citrex", "ETH-PERP", "sell", "0.03", "3100", client_order_id="ask")).ok
            await s.wait_status("ask", "OPEN")
            # 0.03 working: 0.02 more may go, 0.03 may not
            assert "at most 0.02 more" in refused(await s.place("citrex", "ETH-PERP", "sell", "0.03", "3100"),
                                                  "strategy_reducing")
            assert (await s.place("citrex", "ETH-PERP", "sell", "0.02", "3100", client_order_id="ask2")).ok
            # a replace takes the replaced order's place: 0.03 -> 0.03 at another price fits
            assert (await s.replace("ask", "0.03", "3101", new_client_order_id="ask3")).ok
            await s.wait_status("ask3", "OPEN")
            # the buy resting from before is canceled as ever
            assert (await s.cancel("bid")).ok
            await s.wait_status("bid", "CANCELED")
            # nothing was trimmed: each order as it was asked for
            assert {o.client_order_id: o.quantity for o in await s.orders()} == {"ask2": "0.02", "ask3": "0.03"}
            # active again: a buy goes
            assert (await op.set_risk_state("algo", "active")).ok
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok

    run_gateway(tmp_path, scenario)


def test_a_max_loss_breach_moves_the_strategy_once_and_tells_it(tmp_path):
    def edit(text: str) -> str:
        return text.replace("[risk]\n", '[risk]\nmax_loss = "500"\non_max_loss = "halted"\n', 1)

    async def scenario(gw):
        book = gw.parts.states.positions = FakePositions()
        async with strategy(gw, "algo") as s, strategy(gw, "calm") as c:
            book.pnls["algo"] = (-200 * ONE, -300 * ONE - 1)  # a reference price moved
            book.pnls["calm"] = (-500 * ONE, 0)  # at the limit, not below it
            event = await next_state(s)  # the housekeeping's check, within a second or so
            assert event.state == "halted" and "max_loss" in event.reason and "-500.000000000000000001" in event.reason
            refused(await s.place("citrex", "ETH-PERP", "buy", "0.01", "2900"), "strategy_halted")
            assert (await c.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok
            await c.ping()
            await asyncio.sleep(1.5)  # more checks run: the breach is not counted or told twice
            text = gw.metrics.render().decode()
            assert 'gateway_max_loss_breaches_total{strategy="algo"} 1.0' in text
            assert 'gateway_strategy_state_changes_total{source="max_loss",state="halted",strategy="algo"} 1.0' in text
            assert "calm" not in gw.parts.states.limited

    run_gateway(tmp_path, scenario, edit=edit)


def test_gateway_risk_set_state_and_risk_from_the_command_line(tmp_path):
    async def cli(*args):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=os.getcwd()))
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    async def scenario(gw):
        sock = gw.config.server.socket_path
        async with strategy(gw, "algo") as s:
            code, out, err = await cli("risk", "set-state", "algo", "reducing", "--reason", "end of day",
                                       "--socket", sock)
            assert code == 0 and out.strip() == "strategy algo: reducing", (out, err)
            assert (await next_state(s)).reason == "end of day"
            code, out, err = await cli("risk", "--socket", sock, "--json")
            assert code == 0, err
            (row,) = json.loads(out)["strategies"]
            assert (row["strategy"], row["state"], row["state_reason"], row["state_source"]) == (
                "algo", "reducing", "end of day", "operator")
            assert {lim["name"] for lim in row["limits"]} >= {"max_position", "max_open_orders"}
            code, out, err = await cli("risk", "--socket", sock)
            assert code == 0 and "algo" in out and "reducing" in out and "end of day" in out
            code, out, err = await cli("risk", "set-state", "bad name!", "halted", "--socket", sock)
            assert code == 1 and "bad_field" in err
            code, out, err = await cli("risk", "set-state", "algo", "frozen", "--socket", sock)
            assert code == 2  # not a state: usage
            code, out, err = await cli("risk", "--socket", str(tmp_path / "nothing.sock"))
            assert code == 5

    run_gateway(tmp_path, scenario, timeout_s=60)
