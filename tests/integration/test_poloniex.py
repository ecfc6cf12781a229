"""What only Poloniex has: HMAC request signing and its timestamp window,
smart (stop) orders and every smart-order call of the seed, cancel-replace
with and without proceedOnFailure, ids above 2^53, REST reconcile."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time

import aiohttp
import msgspec
import pytest
import uvloop

from gateway._core.fixedpoint import parse_scaled
from gateway.config import parse_config
from gateway.ipc import frames as f
from gateway.sim.poloniex import PoloniexSim, Product
from gateway.venues.poloniex import schemas
from gateway.venues.poloniex.signing import sign_params, sign_request, ws_signature
from tests.contract.suite import SERVER, VenueContract
from tests.contract.test_poloniex import POLONIEX_CONFIG
from tests.integration.harness import reference_price

V = "poloniex"


class _Gw(VenueContract):
    venue = V
    venue_config = POLONIEX_CONFIG


def run(tmp_path, scenario):
    _Gw().run(tmp_path, scenario, timeout_s=15)


def adapter(gw):
    return gw.venues[V]


def hmac_b64(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


# signing, against the documented examples, computed here by hand

def test_get_params_are_sorted_with_the_timestamp_and_the_url_keeps_its_order():
    assert sign_params("symbol=ETH_USDT&limit=5", b"", 1659259836247) == \
        "limit=5&signTimestamp=1659259836247&symbol=ETH_USDT"
    assert sign_request("sec", "GET", "/orders?symbol=ETH_USDT&limit=5", b"", 1659259836247) == \
        hmac_b64("sec", "GET\n/orders\nlimit=5&signTimestamp=1659259836247&symbol=ETH_USDT")
    # values are url-encoded in the signed text (a space is %20)
    assert sign_params("symbol=A B", b"", 1) == "signTimestamp=1&symbol=A%20B"


def test_a_body_is_signed_as_the_exact_bytes_sent():
    body = b'{"orderIds":["1234567890"],"clientOrderIds": ["myId-1"]}'
    assert sign_request("sec", "DELETE", "/orders/cancelByIds", body, 1631018760000) == hmac_b64(
        "sec", 'DELETE\n/orders/cancelByIds\nrequestBody={"orderIds":["1234567890"],"clientOrderIds": '
               '["myId-1"]}&signTimestamp=1631018760000')
    assert ws_signature("sec", 5) == hmac_b64("sec", "GET\n/ws\nsignTimestamp=5")


def test_stop_price_as_a_json_number_is_read_exactly():
    raw = b'{"id":"1152921504606846977","symbol":"ETH_USDT","state":"PENDING_NEW","side":"SELL",' \
          b'"type":"STOP_LIMIT","stopPrice":30500.123456789012345678}'
    order = schemas.smart_order_decoder.decode(raw)
    assert schemas.decimal_text(order.stopPrice) == "30500.123456789012345678"
    assert order.id == "1152921504606846977"
    as_text = schemas.smart_order_decoder.decode(raw.replace(b"30500.123456789012345678", b'"30500.5"'))
    assert schemas.decimal_text(as_text.stopPrice) == "30500.5"
    assert schemas.decimal_text(schemas.smart_order_decoder.decode(raw.replace(
        b"30500.123456789012345678", b"3.05E+4")).stopPrice) == "30500"


# a bare simulator and hand-signed requests: what the gateway would never send

KEY, SECRET = "K" * 32, "s" * 64


def bare(scenario):
    async def main():
        sim = PoloniexSim([Product("ETH_USDT", tick=10**17, lot=10**15)], aliases={"ETH-PERP": "ETH_USDT"},
                          mid_prices={"ETH_USDT": 3000 * 10**18}, mm_levels=3)
        sim.register(KEY, SECRET)
        await sim.start()
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(sim, http), 10)
        finally:
            await sim.stop()

    uvloop.run(main())


async def call(sim, http, method, target, body=b"", *, ts=None, secret=SECRET, headers=None, sign_target=None):
    ts = ts if ts is not None else time.time_ns() // 1_000_000
    path, _, query = (sign_target or target).partition("?")
    params = sign_params(query, body, ts)
    h = {"key": KEY, "signTimestamp": str(ts), "Content-Type": "application/json",
         "signature": hmac_b64(secret, f"{method}\n{path}\n{params}"), **(headers or {})}
    async with http.request(method, sim.rest_url + target, data=body, headers=h) as r:
        return r.status, await r.read()


def test_signatures_and_the_timestamp_window_are_checked():
    async def scenario(sim, http):
        body = b'{"symbol":"ETH_USDT","side":"BUY","type":"LIMIT","quantity":"1","price":"2990","clientOrderId":"c1"}'
        status, reply = await call(sim, http, "POST", "/orders", body, secret="wrong")
        assert status == 401 and b"signature" in reply and sim.refused_signatures == 1
        now = time.time_ns() // 1_000_000
        assert (await call(sim, http, "POST", "/orders", body, ts=now - 61_000))[0] == 408  # stale
        assert (await call(sim, http, "POST", "/orders", body, ts=now + 5_000))[0] == 400  # ahead
        assert (await call(sim, http, "POST", "/orders", body, ts=now - 3_000,
                           headers={"recvWindow": "1000"}))[0] == 408
        assert (await call(sim, http, "POST", "/orders", body, headers={"Content-Type": "text/plain"}))[0] == 400
        # a GET signed over its query as the URL orders it, not sorted, is refused
        status, _ = await call(sim, http, "GET", "/orders?symbol=ETH_USDT&limit=5")
        assert status == 200
        ts = time.time_ns() // 1_000_000
        unsorted = hmac_b64(SECRET, f"GET\n/orders\nsymbol=ETH_USDT&limit=5&signTimestamp={ts}")
        async with http.get(sim.rest_url + "/orders?symbol=ETH_USDT&limit=5", headers={
                "key": KEY, "signTimestamp": str(ts), "signature": unsorted,
                "Content-Type": "application/json"}) as r:
            assert r.status == 401
        status, reply = await call(sim, http, "POST", "/orders", body)
        assert status == 200
        ack = msgspec.json.decode(reply)
        assert set(ack) == {"id", "clientOrderId"} and ack["clientOrderId"] == "c1"
        assert isinstance(ack["id"], str) and int(ack["id"]) > 2**53
        async with http.get(sim.rest_url + "/markets") as r:  # public: no signature
            [market] = await r.json()
        assert market["symbol"] == "ETH_USDT" and market["symbolTradeLimit"]["priceScale"] == 1

    bare(scenario)


def test_ws_auth_signature_is_checked():
    async def scenario(sim, http):
        async with http.ws_connect(sim.ws_url) as ws:
            ts = time.time_ns() // 1_000_000
            await ws.send_json({"event": "subscribe", "channel": ["auth"],
                                "params": {"key": KEY, "signTimestamp": ts, "signature": ws_signature("bad", ts)}})
            assert (await ws.receive_json())["data"]["success"] is False
            await ws.send_json({"event": "subscribe", "channel": ["orders"], "symbols": ["all"]})
            assert (await ws.receive_json())["event"] == "error"
            await ws.send_json({"event": "subscribe", "channel": ["auth"],
                                "params": {"key": KEY, "signTimestamp": ts, "signature": ws_signature(SECRET, ts)}})
            reply = await ws.receive_json()
            assert reply["channel"] == "auth" and reply["data"]["success"] is True and reply["data"]["ts"]
            await ws.send_json({"event": "ping"})
            assert (await ws.receive_json()) == {"event": "pong"}

    bare(scenario)


# through the gateway

def test_stop_untriggered_then_triggered_then_filled_under_the_same_client_id(tmp_path):
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "3010", stop_price="3005", client_order_id="s1")).ok
            waiting = await s.wait_status("s1", "UNTRIGGERED")
            smart_id = waiting.venue_order_id
            assert waiting.stop_price == "3005" and int(smart_id) > 2**53
            assert sim.smart[smart_id].stop_price == parse_scaled("3005", 18)
            await sim.set_last_price("ETH-PERP", "3004.9")
            await asyncio.sleep(0.05)
            assert gw.tracker.by_client("alpha", "s1").status.value == "UNTRIGGERED"
            await sim.set_last_price("ETH-PERP", "3005")
            triggered = await s.wait_status("s1", "TRIGGERED")
            done = await s.wait_status("s1", "FILLED")
            assert done.filled == "1" and done.avg_price == "3003" and len(done.last_trades) == 1
            # the strategy now follows the triggered order, which has an id of its own
            assert triggered.venue_order_id == done.venue_order_id != smart_id
            record = await adapter(gw).queries.get_order(smart_id, smart=True)
            assert record.state == "TRIGGERED" and record.triggeredOrder.state == "FILLED"
            assert record.triggeredOrder.id == done.venue_order_id
            # a market buy is sized in quote currency at this venue: refused, not guessed
            reference_price(gw, V, "ETH-PERP", "3003")  # so the venue's own rule is what refuses
            refused = await s.place(V, "ETH-PERP", "buy", "1", None, type="market", client_order_id="m1")
            assert not refused.ok and refused.error.code == "unsupported"

    run(tmp_path, scenario)


def gw_strategy(gw, name="alpha"):
    from gateway.ipc.client import GatewayClient
    return GatewayClient(gw.config.server.socket_path, strategy=name)


def test_every_smart_order_call_of_the_seed(tmp_path):
    async def scenario(gw):
        sim, a = gw.sims[V], adapter(gw)
        async with gw_strategy(gw) as s:
            # create (STOP_LIMIT) and get_by_id, by id and by client id
            await s.place(V, "ETH-PERP", "sell", "1", "2900", stop_price="2950.5", client_order_id="g1")
            g1 = await s.wait_status("g1", "UNTRIGGERED")
            order = gw.tracker.by_client("alpha", "g1")
            by_id = await a.queries.get_order(g1.venue_order_id, smart=True)
            by_cid = await a.queries.get_order(f"cid:{order.order_id}", smart=True)
            assert by_id == by_cid and by_id.state == "PENDING_NEW" and by_id.type == "STOP_LIMIT"
            assert schemas.decimal_text(by_id.stopPrice) == "2950.5" and bytes(by_id.stopPrice) == b"2950.5"
            # get_all
            assert [o.id for o in await a.queries.smart_orders(symbol="ETH_USDT", limit=10)] == [g1.venue_order_id]
            # cancel_replace without proceedOnFailure: both halves, the stop price kept
            ack = await s.replace("g1", "2", "2901", new_client_order_id="g2")
            assert ack.ok
            old = await s.wait_status("g1", "CANCELED")
            assert "g2" in old.reason
            g2 = await s.wait_status("g2", "UNTRIGGERED")
            assert g2.stop_price == "2950.5" and g2.quantity == "2"
            assert sim.smart[g1.venue_order_id].extra["canceled_untriggered"]
            new = await a.queries.get_order(g2.venue_order_id, smart=True)
            assert (new.state, new.price, new.quantity) == ("PENDING_NEW", "2901", "2")
            # cancel_by_id: the reply's CANCELLED closes it (no stream event for smart orders)
            assert (await s.cancel("g2")).ok
            assert "request" in (await s.wait_status("g2", "CANCELED")).reason
            # cancel_by_multiple_ids, by id and by client id
            for cid, stop in (("m1", "2940"), ("m2", "2941"), ("m3", "2942")):
                await s.place(V, "ETH-PERP", "sell", "1", "2900", stop_price=stop, client_order_id=cid)
                await s.wait_status(cid, "UNTRIGGERED")
            m = {c: gw.tracker.by_client("alpha", c) for c in ("m1", "m2", "m3")}
            results = await a.cancels.cancel_by_ids(order_ids=[m["m1"].venue_order_id],
                                                    client_order_ids=[m["m2"].order_id], smart=True)
            assert sorted(r.orderId for r in results) == sorted([m["m1"].venue_order_id, m["m2"].venue_order_id])
            assert all(r.code == 200 for r in results)
            assert {m["m1"].status.value, m["m2"].status.value, m["m3"].status.value} == {"CANCELED", "UNTRIGGERED"}
            assert m["m3"].status.value == "UNTRIGGERED"
            # cancel by symbol, then by account type
            [r] = await a.cancels.cancel_every(symbols=["ETH_USDT"], smart=True)
            assert r.orderId == m["m3"].venue_order_id and m["m3"].status.value == "CANCELED"
            await s.place(V, "ETH-PERP", "sell", "1", "2900", stop_price="2943", client_order_id="m4")
            await s.wait_status("m4", "UNTRIGGERED")
            assert await a.cancels.cancel_every(symbols=["BTC_USDT"], smart=True) == []
            [r] = await a.cancels.cancel_every(account_types=["SPOT"], smart=True)
            assert r.clientOrderId == gw.tracker.by_client("alpha", "m4").order_id
            assert (await s.wait_status("m4", "CANCELED")).remaining == "0"
            assert await a.queries.smart_orders() == []

    run(tmp_path, scenario)


def test_smart_replace_whose_cancel_fails_with_and_without_proceed_on_failure(tmp_path):
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            for cid in ("p1", "q1"):
                await s.place(V, "ETH-PERP", "buy", "1", "3010", stop_price="3005", client_order_id=cid)
                await s.wait_status(cid, "UNTRIGGERED")
            # both trigger and fill while the gateway hears nothing
            sim.faults.hold_events = True
            await sim.set_last_price("ETH-PERP", "3005")
            ack = await s.replace("p1", "1", "3011", new_client_order_id="p2")
            assert ack.ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "p1"
            assert "cancel of the old order failed" in (await s.wait_status("p2", "REJECTED")).reason
            ack = await s.replace("q1", "1", "3012", new_client_order_id="q2", proceed_on_failure=True)
            assert ack.ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "q1" and "TRIGGERED" in reject.reason
            q2 = await s.wait_status("q2", "UNTRIGGERED")
            assert q2.price == "3012" and q2.stop_price == "3005"
            await sim.release_events()
            # FILLED by the look-ups that followed the refused cancels (with their trades), or by
            # the events released: either way once
            for cid in ("p1", "q1"):
                order = gw.tracker.by_client("alpha", cid)
                for _ in range(250):
                    if order.status.value == "FILLED":
                        break
                    await asyncio.sleep(0.02)
                assert order.status.value == "FILLED" and len(order.fills) == 1
                assert order.filled == order.booked == parse_scaled("1", 18)

    run(tmp_path, scenario)


def test_regular_cancel_many_by_ids_symbol_and_account_type(tmp_path):
    async def scenario(gw):
        a = adapter(gw)
        async with gw_strategy(gw) as s:
            for i in range(4):
                await s.place(V, "ETH-PERP", "buy", "1", f"298{i}", client_order_id=f"r{i}")
                await s.wait_status(f"r{i}", "OPEN")
            assert len(await a.queries.open_orders(symbol="ETH_USDT", limit=10)) == 4
            assert len(await a.queries.open_orders(symbol="ETH_USDT", limit=2)) == 2
            r = [gw.tracker.by_client("alpha", f"r{i}") for i in range(4)]
            results = await a.cancels.cancel_by_ids(order_ids=[r[0].venue_order_id], client_order_ids=[r[1].order_id])
            assert [x.state for x in results] == ["PENDING_CANCEL", "PENDING_CANCEL"]
            await s.wait_status("r0", "CANCELED")
            await s.wait_status("r1", "CANCELED")
            assert len(await a.cancels.cancel_every(symbols=["ETH_USDT"], account_types=["SPOT"])) == 2
            await s.wait_status("r2", "CANCELED")
            await s.wait_status("r3", "CANCELED")
            await s.place(V, "ETH-PERP", "buy", "1", "2970", client_order_id="r4")
            await s.wait_status("r4", "OPEN")
            [x] = await a.cancels.cancel_every(account_types=["SPOT"])
            assert x.clientOrderId == gw.tracker.by_client("alpha", "r4").order_id
            await s.wait_status("r4", "CANCELED")
            results = await a.cancels.cancel_by_ids(order_ids=[r[0].venue_order_id])
            assert results[0].code != 200 and "CANCELED" in results[0].message

    run(tmp_path, scenario)


async def updates_until(s, cid: str, done, timeout_s: float = 5) -> list[f.OrderView]:
    """Every update of the order the strategy gets, up to the first for which done holds."""
    seen = []

    def record(e) -> bool:
        if isinstance(e, f.OrderUpdate) and e.order.client_order_id == cid:
            seen.append(e.order)
            return done(seen)
        return False

    await s.wait_for(record, timeout_s)
    return seen


async def later_updates(s, quiet_s: float = 0.3) -> list[f.OrderView]:
    """The updates that still come (until none has come for quiet_s)."""
    seen = []
    while True:
        try:
            event = await s.next_event(quiet_s)
        except asyncio.TimeoutError:
            return seen
        if isinstance(event, f.OrderUpdate):
            seen.append(event.order)


def traded(updates: list[f.OrderView]) -> dict[str, str]:
    """Trade id -> quantity over every update's last_trades; a trade sent twice fails here."""
    trades = [t for u in updates for t in u.last_trades]
    assert len({t.trade_id for t in trades}) == len(trades), [t.trade_id for t in trades]
    return {t.trade_id: t.quantity for t in trades}


def total(trades: dict[str, str]) -> int:
    return sum(parse_scaled(q, 18) for q in trades.values())


def test_fill_while_the_stream_is_down_reaches_the_strategy_as_trades(tmp_path):
    """Fills made while the stream is down are learned from REST on reconnect (the listing for
    an order still open, a look-up for one that closed), as the venue's trade records: their
    quantities sum to `filled`, each trade once."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            await s.place(V, "ETH-PERP", "buy", "2", "2999", client_order_id="d1")
            opened = await s.wait_status("d1", "OPEN")
            await s.place(V, "ETH-PERP", "buy", "2", "2998", client_order_id="d2")
            await s.wait_status("d2", "OPEN")
            sockets = [ws for group in sim.subscribers.values() for ws in group]
            sim.subscribers.clear()  # the gateway hears nothing of what follows
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            assert await sim.outside_trade("ETH-PERP", "sell", "2998", "1") == 1
            for ws in sockets:
                await ws.close()
            d1, d2 = [], []

            def both(_):
                return bool(d1) and d1[-1].status == "FILLED" and bool(d2) and d2[-1].filled == "1"

            def record(e) -> bool:
                if isinstance(e, f.OrderUpdate):
                    {"d1": d1, "d2": d2}.get(e.order.client_order_id, []).append(e.order)
                return both(e)

            await s.wait_for(record, 5)
            d1 += [u for u in await later_updates(s) if u.client_order_id == "d1"]
            done = d1[-1]
            assert done.filled == "2" and done.avg_price == "2999"
            assert done.venue_order_id == opened.venue_order_id and int(done.venue_order_id) > 2**53
            assert adapter(gw).stream.reconnects >= 1
            trades = traded(d1)
            assert len(trades) == 2 and total(trades) == parse_scaled("2", 18)
            assert d2[-1].status == "PARTIALLY_FILLED" and total(traded(d2)) == parse_scaled("1", 18)
            for cid in ("d1", "d2"):
                order = gw.tracker.by_client("alpha", cid)
                venue = {t.trade_id: t for t in sim.regular[order.venue_order_id].trades}
                assert sorted(x.trade_id for x in order.fills) == sorted(venue) and order.booked == order.filled
                for fill in order.fills:
                    trade = venue[fill.trade_id]
                    assert (fill.price, fill.quantity, fill.is_maker) == (trade.price, trade.quantity, True)
                    assert fill.fee == sim.fee_of(sim.regular[order.venue_order_id], trade) > 0
            # and the strategy has each trade's fee, as the venue charged it
            told = {t.trade_id: t for u in d1 for t in u.last_trades}
            booked = {x.trade_id: x for x in gw.tracker.by_client("alpha", "d1").fills}
            assert told.keys() == booked.keys()
            assert all(parse_scaled(t.fee, 18) == booked[k].fee for k, t in told.items())
            # the rest of d2 fills on the stream: its trade only
            await sim.outside_trade("ETH-PERP", "sell", "2998", "1")
            rest = await updates_until(s, "d2", lambda seen: seen[-1].status == "FILLED")
            assert total(traded(d2 + rest)) == parse_scaled("2", 18)
            assert gw.tracker.duplicate_fills == 0

    run(tmp_path, scenario)


def test_a_fill_learned_by_a_look_up_is_sent_once_when_its_stream_event_comes_after(tmp_path):
    """A regular order and a stop order fill while the venue's events are held back; their
    cancels find them filled, and the look-ups that follow learn the fills, with the trades (a
    triggered stop's from the order it became): FILLED is the cancels' outcome, no
    cancel_reject. The held events then arrive: nothing is sent again."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            await s.place(V, "ETH-PERP", "buy", "1", "2999", client_order_id="h1")
            await s.wait_status("h1", "OPEN")
            await s.place(V, "ETH-PERP", "buy", "1", "3010", stop_price="3005", client_order_id="h2")
            await s.wait_status("h2", "UNTRIGGERED")
            sim.faults.hold_events = True
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            await sim.set_last_price("ETH-PERP", "3005")  # h2 triggers and takes the ask at 3003
            updates, rejected = {"h1": [], "h2": []}, set()
            for cid in ("h1", "h2"):
                assert (await s.cancel(cid)).ok

            def record(e) -> bool:
                if isinstance(e, f.CancelReject):
                    rejected.add(e.client_order_id)
                elif isinstance(e, f.OrderUpdate) and e.order.client_order_id in updates:
                    updates[e.order.client_order_id].append(e.order)
                return all(u and u[-1].status == "FILLED" for u in updates.values())

            await s.wait_for(record, 5)
            assert not rejected  # the fill is what each cancel found, not a refusal
            for cid in ("h1", "h2"):
                trades = traded(updates[cid])
                assert len(trades) == 1 and total(trades) == parse_scaled("1", 18), cid
            assert [t.price for t in updates["h2"][-1].last_trades] == ["3003"]
            await sim.release_events()  # the stream's word on both fills, late
            late = await later_updates(s)
            assert [t for u in late for t in u.last_trades] == []
            for cid in ("h1", "h2"):
                order = gw.tracker.by_client("alpha", cid)
                assert order.status.value == "FILLED" and len(order.fills) == 1 and order.booked == order.filled
            assert gw.tracker.duplicate_fills == 0

    run(tmp_path, scenario)


def test_a_trade_event_lost_from_the_stream_is_fetched_when_the_total_runs_ahead(tmp_path):
    """One trade's event never arrives; the next event's filledQuantity says so: the missing
    trade is read from the venue and reaches the strategy as a trade, once."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            await s.place(V, "ETH-PERP", "buy", "2", "2999", client_order_id="g1")
            await s.wait_status("g1", "OPEN")
            listening = {account: set(group) for account, group in sim.subscribers.items()}
            sim.subscribers.clear()
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1  # its event is lost
            sim.subscribers.update(listening)
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            seen = await updates_until(
                s, "g1", lambda seen: total(traded(seen)) >= parse_scaled("2", 18))
            seen += await later_updates(s)
            assert seen[-1].status == "FILLED" and seen[-1].filled == "2"
            assert total(traded(seen)) == parse_scaled("2", 18) and len(traded(seen)) == 2
            order = gw.tracker.by_client("alpha", "g1")
            assert order.booked == order.filled and len(order.fills) == 2
            # one from the stream, one read from REST: the same fees either way
            venue = sim.regular[order.venue_order_id]
            assert sorted((x.trade_id, x.fee) for x in order.fills) == sorted(
                (t.trade_id, sim.fee_of(venue, t)) for t in venue.trades)
            assert gw.tracker.duplicate_fills == 0

    run(tmp_path, scenario)


def test_ids_above_2_53_stay_exact_end_to_end(tmp_path):
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            await s.place(V, "ETH-PERP", "buy", "1", "2990", client_order_id="i1")
            opened = await s.wait_status("i1", "OPEN")
            venue_id = opened.venue_order_id
            assert int(venue_id) > 2**53 and float(int(venue_id)) != int(venue_id)  # a float would round it
            assert sim.engine.get(venue_id) is not None
            assert (await adapter(gw).queries.get_order(venue_id)).id == venue_id

    run(tmp_path, scenario)


def test_embedded_default_config_runs_a_poloniex_simulator():
    from gateway.config import load_config

    [polo] = [v for v in load_config().venues if v.name == V]
    assert polo.sim is not None and polo.sim.enabled and polo.generate_key
    # symbols alone: the simulator's own list says what they are, as the venue's would
    from gateway.sim.poloniex import CATALOGUE, catalogue_aliases

    assert polo.instruments == {} and catalogue_aliases(polo.symbols, list(CATALOGUE)) == {
        "ETH-PERP": "ETH_USDT", "BTC-PERP": "BTC_USDT"}


def test_config_refuses_secrets_inline():
    with pytest.raises(Exception, match="api_secret"):
        parse_config(SERVER.replace("{tmp}", "/tmp") + '[[venues]]\nkind = "poloniex"\nname = "p"\napi_secret = "x"\n')


def test_trades_the_venue_lists_late_are_read_again_until_they_cover_the_fill(tmp_path):
    """The look-up says FILLED before the venue's trade list has the trades: the total is
    taken at once, and the trades read again until they cover it; each reaches the strategy once."""
    async def scenario(gw):
        sim = gw.sims[V]
        async with gw_strategy(gw) as s:
            await s.place(V, "ETH-PERP", "buy", "1", "2999", client_order_id="l1")
            await s.wait_status("l1", "OPEN")
            sim.faults.hold_events = True
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            sim.trades_lag = 2
            assert (await s.cancel("l1")).ok  # refused: the look-up that follows finds it FILLED
            seen = await updates_until(s, "l1", lambda seen: bool(traded(seen)))
            filled = [u for u in seen if u.status == "FILLED"]
            assert filled[0].filled == "1" and filled[0].last_trades == []  # the total first
            assert total(traded(seen)) == parse_scaled("1", 18) and sim.trades_lag == 0
            await sim.release_events()
            assert traded(await later_updates(s)) == {}
            order = gw.tracker.by_client("alpha", "l1")
            assert order.booked == order.filled and len(order.fills) == 1

    run(tmp_path, scenario)
