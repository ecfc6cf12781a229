"""The strategies' positions against what the venue says the account holds, after each
reconcile: Bluefin's simulator serves the account's positions from its engine; a trade made on
the account outside the gateway shows as drift in `gateway_position_drift` and `status`."""
from __future__ import annotations

import asyncio

from gateway.ipc.client import GatewayClient
from gateway.orders.model import ONE
from gateway.sim.engine import Order, OrderType, Side, TimeInForce
from tests.integration.test_bluefin import SYMBOL, VENUE, adapter, place, run, strategy


def test_drift_is_zero_when_the_gateway_made_every_trade_and_shows_one_made_elsewhere(tmp_path):
    async def scenario(gw):
        ad, drift = adapter(gw), gw.parts.drift
        async with strategy(gw, "alpha") as a, strategy(gw, "beta") as b:
            await place(a, "buy", "1.5", "3003", "a1")  # against the market maker's asks
            await a.wait_status("a1", "FILLED")
            await place(b, "sell", "0.25", "2997", "b1")
            await b.wait_status("b1", "FILLED")
            assert gw.parts.positions.net_by_symbol()[(VENUE, SYMBOL)] == ONE * 5 // 4
            await ad.reconcile([])
            await drift._checks[VENUE]
            d = drift.by_symbol[(VENUE, SYMBOL)]
            assert (d.venue, d.ours, d.drift) == (ONE * 5 // 4, ONE * 5 // 4, 0)

            # someone trades the account outside the gateway: the venue holds more than the strategies
            gw.sims[VENUE].engine.submit(Order(order_id="", account=ad.account, product=SYMBOL, side=Side.BUY,
                                               type=OrderType.LIMIT, tif=TimeInForce.IOC, price=3003 * ONE,
                                               quantity=ONE // 2))
            await ad.reconcile(gw.tracker.open_orders(venue=VENUE))
            await drift._checks[VENUE]
            assert drift.by_symbol[(VENUE, SYMBOL)].drift == ONE // 2

            async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
                st = await observer.status()
            (row,) = st.position_drift
            assert (row.venue, row.symbol, row.venue_position, row.gateway_position, row.drift) == \
                (VENUE, SYMBOL, "1.75", "1.25", "0.5")
            assert f'gateway_position_drift{{symbol="{SYMBOL}",venue="{VENUE}"}} 0.5' in gw.metrics.render().decode()

    run(tmp_path, scenario)
