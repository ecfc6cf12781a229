"""The strategies' positions against what BSX and DXtrade say the account holds, through real
sockets: each simulator serves the account's positions from its engine (BSX's GET
/portfolio/detail, DXtrade's GET .../accounts/{account}/positions); trades made through the
gateway leave no drift, one made on the account outside it shows in `gateway_position_drift`
and `gateway status`. BSX compares after its orders snapshot (each reconnect), DXtrade after
each reconcile."""
from __future__ import annotations

import asyncio

from gateway.ipc.client import GatewayClient
from gateway.orders.model import ONE
from gateway.sim.engine import Order, OrderType, Side, TimeInForce
from gateway.venues.bsx.account import positions_of as bsx_positions_of
from gateway.venues.dxtrade.account import positions_of as dx_positions_of
from gateway.venues.errors import VenueError
from tests.contract.suite import VenueContract
from tests.contract.test_bsx import BSX_CONFIG
from tests.contract.test_dxtrade import DXTRADE_CONFIG

SYMBOL = "ETH-PERP"


class _Gw(VenueContract):
    def __init__(self, venue: str, config: str):
        self.venue, self.venue_config = venue, config


async def place(s, venue, side, quantity, price, cid):
    ack = await s.place(venue, SYMBOL, side, quantity, price, client_order_id=cid)
    assert ack.ok, ack
    await s.wait_status(cid, "FILLED")


async def trade_through_the_gateway(gw, venue):
    """alpha buys 1, beta sells 0.25: the strategies sum to 0.75 long."""
    async with _Gw(venue, "").strategy(gw, "alpha") as a, _Gw(venue, "").strategy(gw, "beta") as b:
        await place(a, venue, "buy", "1", "3003", "a1")  # the market maker's best ask
        await place(b, venue, "sell", "0.25", "2997", "b1")  # its best bid
    assert gw.parts.positions.net_by_symbol()[(venue, SYMBOL)] == ONE * 3 // 4


def buy_outside(sim, account, product, quantity):
    """Someone trades the account from outside the gateway (the venue's web app, another bot)."""
    sim.engine.submit(Order(order_id="", account=account, product=product, side=Side.BUY, type=OrderType.LIMIT,
                            tif=TimeInForce.IOC, price=3009 * ONE, quantity=quantity))


async def shown(gw, venue, venue_position, gateway_position, drift):
    async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
        st = await observer.status()
    rows = [r for r in st.position_drift if r.venue == venue]
    assert [(r.symbol, r.venue_position, r.gateway_position, r.drift) for r in rows] == \
        [(SYMBOL, venue_position, gateway_position, drift)]
    assert f'gateway_position_drift{{symbol="{SYMBOL}",venue="{venue}"}} {drift}' in gw.metrics.render().decode()


def test_bsx_drift_is_zero_after_gateway_trades_and_shows_one_made_elsewhere_after_a_snapshot(tmp_path):
    async def scenario(gw):
        sim, ad, drift = gw.sims["bsx"], gw.venues["bsx"], gw.parts.drift
        await drift._checks["bsx"]  # the start's reconcile compared: nothing held
        assert "bsx" not in drift.unsupported and not [k for k in drift.by_symbol if k[0] == "bsx"]

        await trade_through_the_gateway(gw, "bsx")
        await ad.reconcile([])
        await drift._checks["bsx"]
        d = drift.by_symbol[("bsx", SYMBOL)]
        assert (d.venue, d.ours, d.drift) == (ONE * 3 // 4, ONE * 3 // 4, 0)
        await shown(gw, "bsx", "0.75", "0.75", "0")

        [user] = sim.users.values()
        buy_outside(sim, user.sender, "ETH-PERP", ONE // 2)
        # the stream drops: the resubscribe's snapshot is BSX's reconcile, and the check follows it
        before = drift._checks["bsx"]
        await sim.drop_streams()
        while drift._checks["bsx"] is before:
            await asyncio.sleep(0.01)
        await drift._checks["bsx"]
        d = drift.by_symbol[("bsx", SYMBOL)]
        assert (d.venue, d.ours, d.drift) == (ONE * 5 // 4, ONE * 3 // 4, ONE // 2)
        await shown(gw, "bsx", "1.25", "0.75", "0.5")

    _Gw("bsx", BSX_CONFIG).run(tmp_path, scenario, timeout_s=20)


def test_dxtrade_drift_is_zero_after_gateway_trades_and_shows_one_made_elsewhere(tmp_path):
    async def scenario(gw):
        sim, ad, drift = gw.sims["dxtrade"], gw.venues["dxtrade"], gw.parts.drift
        await drift._checks["dxtrade"]
        assert "dxtrade" not in drift.unsupported and not [k for k in drift.by_symbol if k[0] == "dxtrade"]

        await trade_through_the_gateway(gw, "dxtrade")
        await ad.reconcile(gw.tracker.open_orders(venue="dxtrade"))
        await drift._checks["dxtrade"]
        d = drift.by_symbol[("dxtrade", SYMBOL)]
        assert (d.venue, d.ours, d.drift) == (ONE * 3 // 4, ONE * 3 // 4, 0)
        await shown(gw, "dxtrade", "0.75", "0.75", "0")

        buy_outside(sim, sim.account, "ETH/USD", ONE // 2)
        await ad.reconcile(gw.tracker.open_orders(venue="dxtrade"))
        await drift._checks["dxtrade"]
        d = drift.by_symbol[("dxtrade", SYMBOL)]
        assert (d.venue, d.ours, d.drift) == (ONE * 5 // 4, ONE * 3 // 4, ONE // 2)
        await shown(gw, "dxtrade", "1.25", "0.75", "0.5")

    _Gw("dxtrade", DXTRADE_CONFIG).run(tmp_path, scenario, timeout_s=20)


# the decoders alone: what the venues may send that the simulators do not

def test_bsx_portfolio_short_unknown_product_and_bad_bodies():
    body = (b'{"account": "0xa1", "maker_fee": "0", "taker_fee": "0", "positions": ['
            b'{"product_index": 2, "product_id": "ETH-PERP", "margin_mode": "CROSS", "net_size": "-1.5"},'
            b'{"product_index": "1", "product_id": "BTC-PERP", "margin_mode": "CROSS", "net_size": "0.001"},'
            b'{"product_index": 3, "product_id": "SOL-PERP", "margin_mode": "ISOLATED", "net_size": "7"}]}')
    assert bsx_positions_of(body, {2: "ETH-PERP", 1: "BTC-USD"}) == {
        "ETH-PERP": -3 * ONE // 2, "BTC-USD": ONE // 1000, "SOL-PERP": 7 * ONE}
    assert bsx_positions_of(b'{"account": "0xa1"}', {}) == {}  # no positions: none held
    for bad in (b'{"positions": []}', b'{"account": "x", "positions": [{"net_size": "1"}]}',
                b'{"account": "x", "positions": [{"product_index": 2, "net_size": "1e3"}]}', b'garbage'):
        try:
            bsx_positions_of(bad, {2: "ETH-PERP"})
        except VenueError as exc:
            assert exc.code == "venue_error" and "unreadable portfolio" in str(exc)
        else:
            raise AssertionError(bad)


def test_dxtrade_positions_sides_hedged_bare_list_and_bad_bodies():
    body = (b'{"positions": [{"account": "default:ssp1", "version": 450, "positionCode": "46072658",'
            b' "symbol": "ETH/USD", "quantity": 2.5, "quantityNotional": 7500, "side": "BUY",'
            b' "openTime": "2017-08-28T14:19:31.731Z", "openPrice": 3000,'
            b' "lastUpdateTime": "2017-08-28T14:19:31.731Z"},'
            b' {"symbol": "ETH/USD", "quantity": 0.5, "side": "SELL", "positionCode": "46072700"},'
            b' {"symbol": "EUR/USD", "quantity": 300000, "side": "SELL", "positionCode": "46072800"}]}')
    assert dx_positions_of(body, {"ETH/USD": "ETH-PERP"}) == {"ETH-PERP": 2 * ONE, "EUR/USD": -300000 * ONE}
    assert dx_positions_of(b'[{"symbol": "ETH/USD", "quantity": 1, "side": "SELL"}]', {"ETH/USD": "ETH-PERP"}) \
        == {"ETH-PERP": -ONE}
    for bad in (b'{"positions": [{"symbol": "ETH/USD", "quantity": 1, "side": "LONG"}]}',
                b'{"positions": [{"symbol": "ETH/USD", "quantity": -1, "side": "BUY"}]}',
                b'{"positions": [{"symbol": "ETH/USD", "side": "BUY"}]}', b'{"orders": []}', b'garbage'):
        try:
            dx_positions_of(bad, {})
        except VenueError as exc:
            assert exc.code == "venue_error" and "unreadable positions" in str(exc)
        else:
            raise AssertionError(bad)
