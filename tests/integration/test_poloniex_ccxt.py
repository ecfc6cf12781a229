"""Conformance: ccxt (REST) and ccxt.pro (WS), the clients Poloniex users run,
against our Poloniex simulator, unaided; and our adapter sends what they send.

The venue's own client is the oracle: if ccxt cannot load markets, place,
list or cancel here, the simulator is wrong, and whatever our adapter sends
must be a request ccxt also sends."""
from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import ccxt
import pytest
import uvloop

from gateway.sim.base import scaled
from gateway.sim.engine import Status
from gateway.sim.poloniex import PoloniexSim, Product
from gateway.venues.poloniex.signing import sign_request
from tests.contract.suite import VenueContract
from tests.integration.harness import reference_price
from tests.integration.test_poloniex import V, adapter, run

SYMBOL = "ETH/USDT"
KEY, SECRET = "ccxt-key", "ccxt-secret"


def with_sim(scenario, timeout_s: float = 20):
    async def main():
        sim = PoloniexSim([Product("ETH_USDT", tick=scaled("0.1"), lot=scaled("0.001"), min_quantity=scaled("0.001"))],
                          mid_prices={"ETH_USDT": scaled("3000")}, mm_levels=3)
        sim.register(KEY, SECRET)
        await sim.start()
        try:
            await asyncio.wait_for(scenario(sim), timeout_s)
        finally:
            await sim.stop()

    uvloop.run(main())


@contextlib.asynccontextmanager
async def ccxt_client(sim, pro: bool = False):
    if pro:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    exchange = module.poloniex({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
    # only the hosts change: every path, header and signature is ccxt's own
    exchange.urls["api"] = {**exchange.urls["api"], "spot": sim.rest_url, "swap": sim.rest_url,
                            "ws": {"public": sim.public_ws_url, "private": sim.ws_url}}
    try:
        yield exchange
    finally:
        await exchange.close()


def bodies(sim, where: str) -> list[dict]:
    return [body for w, body in sim.received if w == where]


def test_ccxt_loads_markets_without_help_and_unknown_paths_are_404():
    async def scenario(sim):
        async with ccxt_client(sim) as ex:
            markets = await ex.load_markets()
            assert SYMBOL in markets and markets[SYMBOL]["id"] == "ETH_USDT"
            assert markets[SYMBOL]["precision"]["price"] == 0.1
            assert markets[SYMBOL]["limits"]["amount"]["min"] == 0.001
        assert sim.requests == 0  # nothing private was asked for
        async with aiohttp.ClientSession() as http:
            for path in ("/v3/market/allInstruments", "/markets", "/v2/currencies"):
                async with http.get(sim.rest_url + path) as r:
                    assert r.status == 200, path
            async with http.get(sim.rest_url + "/no/such/path") as r:
                assert r.status == 404 and (await r.json())["code"] == 404
            async with http.get(sim.rest_url + "/markets/ETH_USDT/nothing") as r:
                assert r.status == 404 and r.content_type == "application/json"

    with_sim(scenario)


def test_ccxt_rest_orders_against_the_simulator():
    async def scenario(sim):
        async with ccxt_client(sim) as ex:
            await ex.load_markets()
            limit = await ex.create_order(SYMBOL, "limit", "buy", 0.5, 2990, {"clientOrderId": "cx1"})
            assert sim.regular[limit["id"]].price == scaled("2990") and sim.regular[limit["id"]].is_open
            maker = await ex.create_order(SYMBOL, "limit", "buy", 1, 2991, {"postOnly": True})
            assert sim.regular[maker["id"]].extra["type"] == "LIMIT_MAKER"
            with pytest.raises(ccxt.ExchangeError, match="post-only"):  # a JSON error ccxt reads
                await ex.create_order(SYMBOL, "limit", "buy", 1, 3003, {"postOnly": True})
            sell = await ex.create_order(SYMBOL, "market", "sell", 0.5)
            assert sim.regular[sell["id"]].status is Status.FILLED
            assert bodies(sim, "POST /orders")[-1] == {"symbol": "ETH_USDT", "side": "SELL", "type": "MARKET",
                                                      "quantity": "0.5"}
            stop_limit = await ex.create_order(SYMBOL, "limit", "sell", 1, 2900, {"triggerPrice": 2950})
            stop = await ex.create_order(SYMBOL, "market", "sell", 1, None, {"triggerPrice": 2940})
            assert sim.smart[stop_limit["id"]].stop_price == scaled("2950")
            assert sim.smart[stop["id"]].price is None and sim.smart[stop["id"]].status is Status.UNTRIGGERED
            smart_bodies = bodies(sim, "POST /smartorders")
            assert [b["type"] for b in smart_bodies] == ["STOP_LIMIT", "STOP"]
            assert isinstance(smart_bodies[0]["stopPrice"], (int, float))  # ccxt sends a JSON number

            everywhere = await ex.fetch_open_orders()
            here = await ex.fetch_open_orders(SYMBOL)
            assert {o["id"] for o in everywhere} == {o["id"] for o in here} == {limit["id"], maker["id"]}
            triggers = await ex.fetch_open_orders(SYMBOL, params={"trigger": True})
            assert {o["id"] for o in triggers} == {stop_limit["id"], stop["id"]}

            await ex.cancel_order(limit["id"], SYMBOL)
            assert not sim.regular[limit["id"]].is_open
            # the venue's codes map to ccxt's exceptions as on the venue
            with pytest.raises(ccxt.OrderNotFound):
                await ex.cancel_order(limit["id"], SYMBOL)  # already canceled: 21359
            with pytest.raises(ccxt.OrderNotFound):
                await ex.cancel_order("999", SYMBOL)  # never existed: 21301
            await ex.cancel_order(stop["id"], SYMBOL, {"trigger": True})
            assert not sim.smart[stop["id"]].is_open
            more = [await ex.create_order(SYMBOL, "limit", "buy", 1, price) for price in (2980, 2981, 2982)]
            await ex.cancel_orders([more[0]["id"], more[1]["id"]], SYMBOL)
            assert [sim.regular[o["id"]].is_open for o in more] == [False, False, True]
            await ex.cancel_all_orders(SYMBOL)
            assert not await ex.fetch_open_orders(SYMBOL)
            assert sim.smart[stop_limit["id"]].is_open  # cancel all of the regular kind leaves smart ones
            await ex.cancel_all_orders(SYMBOL, {"trigger": True})
            assert not await ex.fetch_open_orders(SYMBOL, params={"trigger": True})
        assert sim.refused_signatures == 0
        assert not sim.unknown_fields  # ccxt sends nothing the venue's models lack

    with_sim(scenario)


def test_ccxt_create_orders_against_the_simulator():
    """POST /orders/batch as ccxt's createOrders sends it: a bare list; the reply is positional,
    an order's ids or its error, which ccxt reads without raising."""
    async def scenario(sim):
        async with ccxt_client(sim) as ex:
            await ex.load_markets()
            placed = await ex.create_orders([
                {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.5, "price": 2980,
                 "params": {"clientOrderId": "bx1"}},
                {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 1, "price": 2981,
                 "params": {"postOnly": True}},
                {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 1, "price": 3003,
                 "params": {"postOnly": True}},  # would take: refused, alone
                {"symbol": SYMBOL, "type": "market", "side": "sell", "amount": 0.5},
            ])
            [batch] = bodies(sim, "POST /orders/batch")
            assert isinstance(batch, list) and len(batch) == 4
            assert batch[0] == {"symbol": "ETH_USDT", "side": "BUY", "type": "LIMIT", "quantity": "0.5",
                                "price": "2980", "clientOrderId": "bx1"}
            first, maker, refused, market = placed
            assert sim.regular[first["id"]].price == scaled("2980") and sim.regular[first["id"]].is_open
            assert sim.regular_cid[(KEY, "bx1")] is sim.regular[first["id"]]
            assert sim.regular[maker["id"]].extra["type"] == "LIMIT_MAKER"
            assert refused["id"] is None and refused["info"]["code"] == 21363  # post-only, per order
            assert sim.regular[market["id"]].status is Status.FILLED
            await ex.cancel_orders([first["id"], maker["id"]], SYMBOL)
            assert not sim.regular[first["id"]].is_open and not sim.regular[maker["id"]].is_open
            with pytest.raises(ccxt.ExchangeError, match="1 to 20 orders"):  # more than the venue takes in one
                await ex.create_orders([{"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 1,
                                         "price": 2900}] * 21)
        assert sim.refused_signatures == 0 and not sim.unknown_fields

    with_sim(scenario)


def test_ccxt_fetch_order_trades_reads_the_simulators_trades():
    """GET /orders/{id}/trades as ccxt's fetchOrderTrades asks for it and parses it: each of
    the order's trades with its id, price, quantity, role, time and fee (in the currency the
    account receives); a triggered smart order's trades under the order it became; an unknown
    id (or a cid: reference) is the venue's "Order not found"."""
    async def scenario(sim):
        async with ccxt_client(sim) as ex:
            await ex.load_markets()
            sell = await ex.create_order(SYMBOL, "market", "sell", 1.5)  # takes 1 @ 2997, 0.5 @ 2994
            engine = sim.regular[sell["id"]]
            trades = await ex.fetch_order_trades(sell["id"], SYMBOL)
            assert [t["id"] for t in trades] == [t.trade_id for t in engine.trades] and len(trades) == 2
            assert [(t["price"], t["amount"]) for t in trades] == [(2997, 1), (2994, 0.5)]
            for t, trade in zip(trades, engine.trades):
                assert (t["order"], t["symbol"], t["side"], t["type"]) == (sell["id"], SYMBOL, "sell", "market")
                assert t["takerOrMaker"] == "taker" and t["timestamp"] == trade.ts_ns // 1_000_000
                assert t["cost"] == pytest.approx(t["price"] * t["amount"])
                assert t["fee"]["currency"] == "USDT"
                assert t["fee"]["cost"] == pytest.approx(t["cost"] * 0.0009)  # ccxt's listed rate
                assert scaled(t["info"]["feeAmount"]) == sim.fee_of(engine, trade)
            # a resting buy, filled as the maker: its fee is in the base currency
            buy = await ex.create_order(SYMBOL, "limit", "buy", 1, 2999, {"clientOrderId": "ot1"})
            assert await sim.outside_trade("ETH_USDT", "sell", "2999", "1") == 1
            [t] = await ex.fetch_order_trades(buy["id"], SYMBOL)
            assert (t["takerOrMaker"], t["side"], t["price"], t["amount"]) == ("maker", "buy", 2999, 1)
            assert t["fee"] == {"cost": pytest.approx(0.0009), "currency": "ETH"}
            assert t["info"]["clientOrderId"] == "ot1"
            # a smart order has no trades of its own: the order it became does
            stop = await ex.create_order(SYMBOL, "limit", "buy", 1, 3010, {"triggerPrice": 3005})
            await sim.set_last_price("ETH_USDT", "3005")
            triggered_id = sim.smart[stop["id"]].extra["triggered_id"]
            [t] = await ex.fetch_order_trades(triggered_id, SYMBOL)
            assert t["order"] == triggered_id and t["price"] == 3003 and t["takerOrMaker"] == "taker"
            for unknown in ("999", stop["id"], "cid:ot1"):
                with pytest.raises(ccxt.OrderNotFound):
                    await ex.fetch_order_trades(unknown, SYMBOL)
        assert sim.refused_signatures == 0 and not sim.unknown_fields

    with_sim(scenario)


def test_ccxt_pro_authenticates_and_watches_orders():
    async def scenario(sim):
        async with ccxt_client(sim, pro=True) as ws_ex, ccxt_client(sim) as rest:
            await rest.load_markets()
            ws_ex.set_markets(rest.markets)
            watching = asyncio.ensure_future(ws_ex.watch_orders())
            for _ in range(500):
                if sim.subscribers:
                    break
                await asyncio.sleep(0.01)
            assert sim.subscribers, "ccxt.pro did not get through auth to the orders channel"
            placed = await rest.create_order(SYMBOL, "limit", "buy", 1, 2980, {"clientOrderId": "w1"})
            orders = await watching
            assert [o["id"] for o in orders] == [placed["id"]] and orders[0]["status"] == "open"
            assert orders[0]["clientOrderId"] == "w1" and orders[0]["price"] == 2980
            watching = asyncio.ensure_future(ws_ex.watch_orders())
            await rest.cancel_order(placed["id"], SYMBOL)
            orders = await watching
            assert orders[-1]["id"] == placed["id"] and orders[-1]["status"] == "canceled"
        [auth] = bodies(sim, "ws auth")
        assert isinstance(auth["signTimestamp"], str)
        assert auth["signatureMethod"] == "HmacSHA256" and auth["signatureVersion"] == "2"
        assert sim.refused_signatures == 0 and not sim.unknown_fields

    with_sim(scenario)


def test_adapter_sends_what_ccxt_sends(tmp_path):
    """The same orders through the gateway: the same fields, and the WS auth as ccxt.pro's."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "0.5", "2990", client_order_id="g1")).ok
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2991", client_order_id="g2", post_only=True)).ok
            reference_price(gw, V, "ETH-PERP", "3000")  # a market order is valued at it
            assert (await s.place(V, "ETH-PERP", "sell", "0.5", None, type="market", tif="ioc",
                                  client_order_id="g3")).ok
            assert (await s.place(V, "ETH-PERP", "sell", "1", "2900", stop_price="2950",
                                  client_order_id="g4")).ok
            await s.wait_status("g3", "FILLED")
            await s.wait_status("g4", "UNTRIGGERED")
        limit, maker, market = bodies(sim, "POST /orders")
        [smart] = bodies(sim, "POST /smartorders")
        # the fields ccxt sends for these orders (test_ccxt_rest_orders_against_the_simulator)
        assert set(limit) == {"symbol", "side", "type", "quantity", "price", "clientOrderId"}
        assert maker["type"] == "LIMIT_MAKER" and set(maker) == set(limit)
        assert market == {"symbol": "ETH_USDT", "side": "SELL", "type": "MARKET", "quantity": "0.5",
                          "clientOrderId": market["clientOrderId"]}
        assert set(smart) == {"symbol", "side", "type", "stopPrice", "quantity", "price", "clientOrderId"}
        [auth] = bodies(sim, "ws auth")
        assert set(auth) == {"key", "signTimestamp", "signature", "signatureMethod", "signatureVersion"}
        assert isinstance(auth["signTimestamp"], str) and auth["signatureVersion"] == "2"
        assert adapter(gw).connected

    run(tmp_path, scenario)


def test_adapter_batches_what_ccxt_batches(tmp_path):
    """Places and cancels due together leave as one POST /orders/batch and one DELETE
    /orders/cancelByIds, each order in it as ccxt's createOrders / cancelOrders send it."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with VenueContract.strategy(None, gw, "alpha") as s:
            # written in one loop turn: the gateway reads them together
            acks = await asyncio.gather(*(s.place(V, "ETH-PERP", "buy", "1", f"29{70 + i}", client_order_id=f"b{i}",
                                                  post_only=i == 0) for i in range(6)))
            assert all(a.ok for a in acks)
            for i in range(6):
                await s.wait_status(f"b{i}", "OPEN")
            [batch] = bodies(sim, "POST /orders/batch")
            assert bodies(sim, "POST /orders") == []
            assert [e["clientOrderId"] for e in batch] == [gw.tracker.by_client("alpha", f"b{i}").order_id
                                                          for i in range(6)]
            assert batch[0]["type"] == "LIMIT_MAKER"
            assert all(set(e) == {"symbol", "side", "type", "quantity", "price", "clientOrderId"} for e in batch)
            assert all(await asyncio.gather(*(s.cancel(f"b{i}") for i in range(6))))
            for i in range(6):
                assert (await s.wait_status(f"b{i}", "CANCELED")).reason == "canceled by request"
            [cancels] = bodies(sim, "DELETE /orders/cancelByIds")
            assert cancels == {"orderIds": [gw.tracker.by_client("alpha", f"b{i}").venue_order_id
                                            for i in range(6)]}
        assert sim.refused_signatures == 0

    run(tmp_path, scenario)


def test_simulator_is_as_strict_as_the_venues_models():
    """A missing field or a wrong type is the venue's JSON error; a field outside its models
    (or timeInForce on a market order, which ccxt never sends) is taken and counted."""
    async def post(http, sim, body: bytes):
        ts = time.time_ns() // 1_000_000
        headers = {"key": KEY, "signTimestamp": str(ts), "Content-Type": "application/json",
                   "signature": sign_request(SECRET, "POST", "/orders", body, ts)}
        async with http.post(sim.rest_url + "/orders", data=body, headers=headers) as r:
            return r.status, await r.json()

    async def scenario(sim):
        async with aiohttp.ClientSession() as http:
            status, reply = await post(http, sim, b'{"symbol":"ETH_USDT","type":"LIMIT","quantity":"1","price":"2990"}')
            assert status == 400 and set(reply) == {"code", "message"} and "side" in reply["message"]
            status, reply = await post(http, sim, b'{"symbol":"ETH_USDT","side":"BUY","type":"LIMIT",'
                                                  b'"quantity":1,"price":"2990"}')
            assert status == 400 and "quantity" in reply["message"]
            assert not sim.unknown_fields
            status, _ = await post(http, sim, b'{"symbol":"ETH_USDT","side":"BUY","type":"LIMIT","quantity":"1",'
                                              b'"price":"2990","leverage":"3"}')
            assert status == 200 and sim.unknown_fields == {"POST /orders.leverage": 1}
            status, _ = await post(http, sim, b'{"symbol":"ETH_USDT","side":"SELL","type":"MARKET","quantity":"0.1",'
                                              b'"timeInForce":"IOC"}')
            assert status == 200 and sim.unknown_fields["POST /orders.timeInForce on a MARKET order"] == 1

    with_sim(scenario)
