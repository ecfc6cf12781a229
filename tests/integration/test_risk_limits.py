"""Every risk limit through the socket: refused `risk_limit` naming the limit, with the
numbers; the strategy's other orders and every other strategy untouched; no rate token spent
(each strategy's bucket runs on a stopped clock here, so its tokens are exact); counted by
limit. Two venues: Citrex (place, replace) and DXtrade (modify, groups)."""
from __future__ import annotations

import contextlib
import time

import pytest

from gateway.ipc import frames as f
from gateway.ipc.client import GatewayError
from gateway.net.ratelimit import TokenBucket
from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import reference_price, risk_option, run_gateway, strategy



def run(tmp_path, scenario, *risk_lines: str, tables: str = "") -> None:
    def edit(text: str) -> str:
        text = risk_option("\n".join(("max_orders_per_sec = 10", *risk_lines)))(text)
        return text + DXTRADE_CONFIG.replace("{tmp}", str(tmp_path)) + tables

    run_gateway(tmp_path, scenario, edit=edit)


def freeze(gw, name: str, rate: float = 10) -> TokenBucket:
    """The strategy's orders/s bucket on a clock that does not move: tokens only go when spent."""
    bucket = gw.parts.risk._buckets[name] = TokenBucket(rate, max(1.0, rate), clock=lambda: 0.0)
    return bucket


@contextlib.asynccontextmanager
async def world(gw, alpha_rate: float = 10):
    """alpha and beta connected, each with a resting buy of 0.1 at 2900 on both venues; the
    venues' reference price 3000."""
    for venue in ("citrex", "dxtrade"):
        reference_price(gw, venue, "ETH-PERP", "3000")
    freeze(gw, "alpha", alpha_rate)
    freeze(gw, "beta")
    async with strategy(gw, "alpha") as alpha, strategy(gw, "beta") as beta:
        for s in (alpha, beta):
            for venue in ("citrex", "dxtrade"):
                cid = f"{s.strategy}-{venue}"
                assert (await s.place(venue, "ETH-PERP", "buy", "0.1", "2900", client_order_id=cid)).ok
                await s.wait_status(cid, "OPEN")
        yield alpha, beta


async def snapshot(s) -> dict[str, tuple[str, str, str | None]]:
    return {o.client_order_id: (o.status, o.quantity, o.price) for o in await s.orders()}


async def refused(gw, alpha, beta, send, limit: str, text: str):
    """send() is refused risk_limit for `limit`, and nothing else changes."""
    mine, theirs = await snapshot(alpha), await snapshot(beta)
    tokens = gw.parts.risk._buckets["alpha"]._tokens
    counted = gw.metrics.risk_refusals.get(limit, 0)
    sent = {name: sim.requests for name, sim in gw.sims.items()}
    ack = await send()
    assert not ack.ok and ack.error.code == "risk_limit" and ack.error.limit == limit, ack
    assert text in ack.error.message, ack.error.message
    assert gw.parts.risk._buckets["alpha"]._tokens == tokens  # no rate token spent
    assert gw.metrics.risk_refusals[limit] == counted + 1
    assert await snapshot(alpha) == mine and await snapshot(beta) == theirs
    assert {name: sim.requests for name, sim in gw.sims.items()} == sent  # nothing reached a venue
    return ack


async def resting(s, cid: str, *args) -> None:
    """Place and wait until the venue has it (a snapshot taken afterwards stays as it is)."""
    assert (await s.place(*args, client_order_id=cid)).ok
    await s.wait_status(cid, "OPEN")


async def beta_still_trades(beta, *args) -> None:
    ack = await beta.place(*args)
    assert ack.ok, ack


def test_max_order_quantity_per_venue_symbol_on_place_and_replace(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "2", "2900"),
                          "max_order_quantity", "quantity 2 is over the limit 1 (max_order_quantity)")
            await refused(gw, alpha, beta, lambda: alpha.replace("alpha-citrex", "1.5", "2901",
                                                                 new_client_order_id="bigger"),
                          "max_order_quantity", "quantity 1.5 is over the limit 1")
            assert (await alpha.place("dxtrade", "ETH-PERP", "buy", "2", "2900")).ok  # another venue's symbol
    run(tmp_path, scenario, tables='[risk.symbols."citrex:ETH-PERP"]\nmax_order_quantity = "1"\n')


def test_max_order_notional_of_one_strategy_limit_and_market(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.5", "2900"),
                          "max_order_notional", "notional 1450 is over the limit 1000")
            ack = await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "sell", "0.5", None,
                                                                     type="market"),
                                "max_order_notional", "notional 1500 is over the limit 1000")
            assert "valued at the reference price" in ack.error.message
            await beta_still_trades(beta, "citrex", "ETH-PERP", "buy", "0.5", "2900")
    run(tmp_path, scenario, tables='[risk.strategies.alpha]\nmax_order_notional = "1000"\n')


def test_max_position_counts_the_open_orders_of_the_same_side(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            # alpha's resting buy of 0.1 + 0.95 = 1.05
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.95", "2900"),
                          "max_position", "would be 1.05: over max_position 1")
            await resting(alpha, "b09", "citrex", "ETH-PERP", "buy", "0.9", "2900")  # 1.0: at the limit
            # the other side is held to its own worst case: -1 passes, -1.001 does not
            await resting(alpha, "s1", "citrex", "ETH-PERP", "sell", "1", "3100")
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "sell", "0.001", "3100"),
                          "max_position", "would be -1.001")
            await beta_still_trades(beta, "citrex", "ETH-PERP", "buy", "5", "2900")
    run(tmp_path, scenario, tables='[risk.strategies.alpha.symbols."ETH-PERP"]\nmax_position = "1"\n')


def test_max_open_notional_over_the_strategys_open_orders(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            # alpha rests 290 on each venue: 580 + 295 = 875
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2950"),
                          "max_open_notional", "open orders' notional would be 875: over max_open_notional 800")
            assert (await alpha.place("citrex", "ETH-PERP", "buy", "0.07", "2900")).ok  # 783
            await beta_still_trades(beta, "citrex", "ETH-PERP", "buy", "0.1", "2950")
    run(tmp_path, scenario, tables='[risk.strategies.alpha]\nmax_open_notional = "800"\n')


def test_max_open_orders(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2900"),
                          "max_open_orders", "2 open orders: max_open_orders is 2")
            await beta_still_trades(beta, "citrex", "ETH-PERP", "buy", "0.1", "2900")
    run(tmp_path, scenario, tables="[risk.strategies.alpha]\nmax_open_orders = 2\n")


def test_max_orders_per_sec(tmp_path):
    async def scenario(gw):
        async with world(gw, alpha_rate=3) as (alpha, beta):  # alpha's 2 resting orders took 2 of 3
            await resting(alpha, "third", "citrex", "ETH-PERP", "buy", "0.1", "2900")
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2900"),
                          "max_orders_per_sec", "over 3 orders per second for this strategy")
            await beta_still_trades(beta, "citrex", "ETH-PERP", "buy", "0.1", "2900")
    run(tmp_path, scenario, tables="[risk.strategies.alpha]\nmax_orders_per_sec = 3\n")


def test_price_band_against_the_reference_price(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2849.9"),
                          "price_band_pct", "price 2849.9 is more than 5% from the reference price 3000")
            assert (await alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2850")).ok
    run(tmp_path, scenario, 'price_band_pct = "5"')


def test_without_a_fresh_reference_price_market_and_banded_orders_fail_closed(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            gw.parts.risk.reference.forget("citrex", "ETH-PERP")
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", None,
                                                               type="market"),
                          "reference_price", "no reference price for citrex ETH-PERP younger than 5s (none): "
                          "a market order cannot be valued")
            old = time.monotonic_ns() - 60 * 10**9
            gw.parts.risk.reference.update("citrex", "ETH-PERP", 2999 * 10**18, 3001 * 10**18, received_ns=old)
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "0.1", "2950"),
                          "reference_price", "the price band cannot be checked")
            # the other venue's price is fresh: its orders go
            assert (await alpha.place("dxtrade", "ETH-PERP", "buy", "0.1", "2950")).ok
    run(tmp_path, scenario, 'price_band_pct = "5"')


def test_a_modify_is_held_to_position_and_open_notional(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            # the order's 0.1 becomes 1.05: its new quantity, not added to the old
            await refused(gw, alpha, beta, lambda: alpha.modify("alpha-dxtrade", quantity="1.05"),
                          "max_position", "would be 1.05: over max_position 1")
            sim = gw.sims["dxtrade"]
            [rests] = [o for o in await alpha.orders() if o.client_order_id == "alpha-dxtrade"]
            assert sim.orders[int(rests.venue_order_id)].quantity == 10**17  # the venue's order is as it was
            assert (await alpha.modify("alpha-dxtrade", quantity="1")).ok
    run(tmp_path, scenario, tables='[risk.strategies.alpha.symbols."dxtrade:ETH-PERP"]\nmax_position = "1"\n')


def test_a_groups_legs_count_the_legs_before_them(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            legs = [dict(client_order_id="g1", symbol="ETH-PERP", side="buy", quantity="0.5", price="2900"),
                    dict(client_order_id="g2", symbol="ETH-PERP", side="buy", quantity="0.5", price="2890")]
            # 0.1 resting + 0.5 + 0.5
            await refused(gw, alpha, beta, lambda: alpha.place_group("dxtrade", "oco", legs),
                          "max_position", "would be 1.1: over max_position 1")
            assert [o.client_order_id for o in await alpha.orders()].count("g1") == 0  # all or nothing
            legs[1]["quantity"] = "0.4"
            assert (await alpha.place_group("dxtrade", "oco", legs)).ok
    run(tmp_path, scenario, tables='[risk.strategies.alpha.symbols."dxtrade:ETH-PERP"]\nmax_position = "1"\n')


def test_the_risk_view_and_metrics_show_use_and_refusals(tmp_path):
    async def scenario(gw):
        async with world(gw) as (alpha, beta):
            ack = await alpha._request(f.RiskRequest(req_id=0, strategy="x" * 65))
            assert ack.error.code == "bad_field"
            with pytest.raises(GatewayError, match="not_your_order"):
                await alpha.risk("beta")
            mine = await alpha.risk()
            assert [v.strategy for v in mine.strategies] == ["alpha"]  # a strategy sees only itself
            [view] = mine.strategies
            assert view.open_notional == "580" and view.usage["max_open_notional"] == 580 / 1000
            source = {lim.name: lim.source for lim in view.limits}
            assert source["max_open_notional"] == "risk.strategies.alpha" and source["max_open_orders"] == "risk"
            await refused(gw, alpha, beta, lambda: alpha.place("citrex", "ETH-PERP", "buy", "1", "2900"),
                          "max_open_notional", "over max_open_notional 1000")
            text = gw.metrics.render().decode()
            assert 'gateway_risk_refusals_total{limit="max_open_notional"} 1.0' in text
            assert 'gateway_risk_limit_usage_ratio{limit="max_open_notional",strategy="alpha"} 0.58' in text
            assert 'gateway_rejects_total{reason="risk_limit"} 1.0' in text
    run(tmp_path, scenario, tables='[risk.strategies.alpha]\nmax_open_notional = "1000"\n')
