"""Bluefin Pro's current API, as data. The official SDK is not on the package
index (the PyPI client is a superseded format), so the facts venues.md records
from it are written here as literal payloads: the adapter must send what the
SDK's models require, read every event the venue sends in the SDK's envelope,
and the simulator must answer with what the SDK's init reads."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time

from gateway.sim.base import SimServer
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.signing import order_hash
from tests.integration.harness import reference_price
from tests.integration.test_bluefin import IDS, KEY, SYMBOL, VENUE, adapter, bare, login, order_body, place, \
    post_order, run, strategy

# the SDK's CreateOrderRequest (venues.md)
CREATE_REQUIRED = {"signedFields", "signature", "type", "reduceOnly"}
CREATE_OPTIONAL = {"clientOrderId", "postOnly", "timeInForce", "triggerPriceE9", "selfTradePreventionType"}
SIGNED_FIELDS = {"symbol", "accountAddress", "priceE9", "quantityE9", "side", "leverageE9", "isIsolated", "salt",
                 "idsId", "expiresAtMillis", "signedAtMillis"}
# what the SDK's init reads from GET /v1/exchange/info
EXCHANGE_INFO = {"contractsConfig", "assets", "markets", "tradingGasFeeE9", "serverTimeAtMillis", "timezone"}
CONTRACTS_CONFIG = {"edsId", "idsId", "network", "baseContractAddress", "currentContractAddress", "operators"}
OPERATORS = {"admin", "operator", "sequencer", "funding", "fee"}
ACTIVE_ORDER = {"orderHash", "clientOrderId", "symbol", "accountAddress", "priceE9", "quantityE9",
                "filledQuantityE9", "remainingQuantityE9", "side", "leverageE9", "isIsolated", "salt",
                "expiresAtMillis", "signedAtMillis", "signerAddress", "type", "reduceOnly", "postOnly", "timeInForce",
                "status", "selfTradePreventionType", "createdAtMillis", "updatedAtMillis"}
CANCELLATION = {"orderHash", "clientOrderId", "symbol", "accountAddress", "createdAtMillis", "cancellationReason",
                "failureToCancelReason", "remainingQuantityE9"}
TRADE = {"id", "clientOrderId", "symbol", "orderHash", "orderType", "tradeType", "side", "isMaker", "priceE9",
         "quantityE9", "quoteQuantityE9", "tradingFeeE9", "executedAtMillis"}


def test_order_hash_known_answer_is_blake2b_of_the_raw_bcs_bytes():
    # BCS by hand: ids and account as 32 raw bytes, strings ULEB128-length-prefixed, u64 little-endian
    ids, account = "0x" + "11" * 32, "0x" + "22" * 32
    bcs = (bytes.fromhex("11" * 32) + bytes.fromhex("22" * 32) + b"\x08BTC-PERP"
           + (65000500000000).to_bytes(8, "little") + (10000000).to_bytes(8, "little")
           + (3000000000).to_bytes(8, "little") + b"\x05SHORT" + b"\x05CROSS"
           + (1700000060000).to_bytes(8, "little") + (7).to_bytes(8, "little") + (1700000000000).to_bytes(8, "little"))
    expected = hashlib.blake2b(bcs, digest_size=32).hexdigest()
    got = order_hash(ids, account, "BTC-PERP", 65000500000000, 10000000, 3000000000, "SHORT", "CROSS",
                     1700000060000, 7, 1700000000000)
    assert got == expected and got == got.lower() and not got.startswith("0x")
    assert schemas.norm_hash("0x" + got.upper()) == got


def test_adapter_sends_type_and_reduce_only_always_and_no_tif_on_market(tmp_path):
    async def scenario(gw):
        sim = gw.sims[VENUE]
        reference_price(gw, VENUE, SYMBOL, "3000")  # a market order is valued at it
        async with strategy(gw) as s:
            await place(s, "buy", "1", "2980", "lim")
            await s.wait_status("lim", "OPEN")
            assert (await s.place(VENUE, SYMBOL, "sell", "0.5", None, type="market", client_order_id="mkt")).ok
            await s.wait_status("mkt", "FILLED")
        orders = [body for where, body in sim.received if where == "order"]
        assert len(orders) == 2
        limit, market = orders
        for body in orders:
            assert CREATE_REQUIRED <= set(body) <= CREATE_REQUIRED | CREATE_OPTIONAL
            assert set(body["signedFields"]) == SIGNED_FIELDS
            assert isinstance(body["reduceOnly"], bool) and body["reduceOnly"] is False
            assert isinstance(body["signedFields"]["expiresAtMillis"], int)
            assert all(body["signedFields"][k].isdigit() for k in ("priceE9", "quantityE9", "leverageE9", "salt"))
        assert limit["type"] == "LIMIT" and limit["timeInForce"] == "GTT" and limit["postOnly"] is False
        assert market["type"] == "MARKET" and "timeInForce" not in market
        assert not sim.unknown_fields

    run(tmp_path, scenario)


def test_simulator_answers_what_the_sdk_init_reads():
    async def scenario(sim, http):
        async with http.get(sim.rest_url + schemas.EXCHANGE_INFO_PATH) as r:
            info = await r.json()
        assert EXCHANGE_INFO <= set(info)
        assert CONTRACTS_CONFIG <= set(info["contractsConfig"])
        assert set(info["contractsConfig"]["operators"]) == OPERATORS
        assert info["contractsConfig"]["idsId"] == IDS and info["contractsConfig"]["network"] in (
            "mainnet", "testnet", "devnet")
        token = await login(sim, http)
        status, ack = await post_order(sim, http, token, order_body())
        assert status == 202
        for _ in range(100):
            async with http.get(sim.rest_url + schemas.OPEN_ORDERS_PATH, params={"symbol": SYMBOL},
                                headers={"Authorization": f"Bearer {token}"}) as r:
                listed = await r.json()
            if listed:
                break
            await asyncio.sleep(0.01)
        [entry] = listed
        assert ACTIVE_ORDER | {"signerAddress", "orderTimeAtMillis"} <= set(entry)
        assert entry["orderHash"] == ack["orderHash"] and entry["signerAddress"] == KEY.address

    bare(scenario)


def test_simulator_is_as_strict_as_the_sdk_model():
    async def scenario(sim, http):
        token = await login(sim, http)
        for drop in ("type", "reduceOnly"):
            body = order_body()
            del body[drop]
            status, reply = await post_order(sim, http, token, body)
            assert status == 400 and drop in reply["message"]
        status, reply = await post_order(sim, http, token, {**order_body(), "reduceOnly": "false"})
        assert status == 400 and "reduceOnly" in reply["message"]
        status, _ = await post_order(sim, http, token, {**order_body(), "type": "TRAILING"})
        assert status == 400
        assert not sim.unknown_fields
        # a field the SDK never sends is taken, and counted
        status, _ = await post_order(sim, http, token, {**order_body(), "leverage": "3"})
        assert status == 202 and sim.unknown_fields == {"order.leverage": 1}

    bare(scenario)


def test_subscribe_reply_and_envelope_on_the_wire():
    async def scenario(sim, http):
        token = await login(sim, http)
        ws = await http.ws_connect(sim.ws_url, headers={"Authorization": f"Bearer {token}"})
        await ws.send_str(json.dumps({"method": "Subscribe", "dataStreams": ["AccountOrderUpdate",
                                                                             "AccountTradeUpdate"]}))
        reply = await ws.receive_json()
        assert reply["success"] is True and isinstance(reply["message"], str)
        await ws.send_str(json.dumps({"method": "Subscribe", "dataStreams": ["NoSuchStream"]}))
        assert (await ws.receive_json())["success"] is False
        # a taker order: a trade, then the order's update, each in the envelope
        _, ack = await post_order(sim, http, token, order_body(price_e9=3003 * 10**9, quantity_e9=5 * 10**8))
        trade, update = await ws.receive_json(), await ws.receive_json()
        assert set(trade) == {"event", "reason", "payload"} == set(update)
        assert trade["event"] == "AccountTradeUpdate" and set(trade["payload"]) == {"trade"}
        assert TRADE <= set(trade["payload"]["trade"]) and trade["payload"]["trade"]["orderHash"] == ack["orderHash"]
        assert update["event"] == "AccountOrderUpdate" and update["payload"]["status"] == "FILLED"
        assert ACTIVE_ORDER <= set(update["payload"])
        # a cancel the venue cannot do: a cancellation payload, null reason
        async with http.put(sim.rest_url + schemas.CANCEL_PATH, json={"symbol": SYMBOL, "orderHashes": [
                ack["orderHash"]]}, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 202
        failed = await ws.receive_json()
        assert failed["event"] == "AccountOrderUpdate" and set(failed["payload"]) == CANCELLATION
        assert failed["payload"]["cancellationReason"] is None
        assert failed["payload"]["failureToCancelReason"] == "ORDER_NOT_FOUND"
        await ws.close()

    bare(scenario)


def _frame(event, reason, payload) -> str:
    return json.dumps({"event": event, "reason": reason, "payload": payload})


def _active(order_hash_, status, *, filled="0", quantity="1000000000", client_id=None, account="0x1"):
    now = int(time.time() * 1000)
    return {"orderHash": order_hash_, "clientOrderId": client_id, "symbol": SYMBOL, "accountAddress": account,
            "priceE9": "2980000000000", "quantityE9": quantity, "filledQuantityE9": filled,
            "remainingQuantityE9": str(int(quantity) - int(filled)), "side": "LONG", "leverageE9": "1000000000",
            "isIsolated": False, "salt": "1", "expiresAtMillis": now + 60_000, "signedAtMillis": now,
            "signerAddress": account, "type": "LIMIT", "reduceOnly": False, "postOnly": False, "timeInForce": "GTT",
            "status": status, "selfTradePreventionType": "MAKER", "createdAtMillis": now, "updatedAtMillis": now}


async def _push(sim: SimServer, account: str, frame: str) -> None:
    # straight onto the adapter's socket, past the simulator's own order book
    for ws in list(sim.subscribers.get(account, ())):
        await ws.send_str(frame)


def test_adapter_reads_the_current_envelope_written_as_data(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        account = ad.account
        ignored = sum(ad.events.ignored.values())
        async with strategy(gw) as s:
            for cid, price in (("p1", "2980"), ("p2", "2981"), ("p3", "2982"), ("p4", "2983")):
                await place(s, "buy", "1", price, cid)
            opened = {cid: await s.wait_status(cid, "OPEN") for cid in ("p1", "p2", "p3", "p4")}
            h1 = opened["p1"].venue_order_id
            # events the gateway does not use: ignored and counted, never an error
            for event in ("AccountUpdate", "AccountPositionUpdate", "AccountTransactionUpdate",
                          "AccountAggregatedTradeUpdate", "AccountCommandFailureUpdate"):
                await _push(sim, account, _frame(event, "Unknown", {"anything": [1, 2, 3]}))
            # a trade nested in payload.trade (hash with 0x and in capitals), then its order's update
            await _push(sim, account, _frame("AccountTradeUpdate", "OrderMatched", {"trade": {
                "id": "data-t1", "clientOrderId": opened["p1"].order_id, "symbol": SYMBOL,
                "orderHash": "0x" + h1.upper(), "orderType": "LIMIT", "tradeType": "ORDER", "side": "LONG",
                "isMaker": True, "priceE9": "2980000000000", "quantityE9": "400000000",
                "quoteQuantityE9": "1192000000000", "tradingFeeE9": "596000000", "executedAtMillis": 1700000000000}}))
            await _push(sim, account, _frame("AccountOrderUpdate", "OrderMatched",
                                             _active(h1, "PARTIALLY_FILLED_OPEN", filled="400000000")))
            part = await s.wait_status("p1", "PARTIALLY_FILLED")
            assert part.filled == "0.4" and [t.trade_id for t in part.last_trades] == ["data-t1"]
            assert part.last_trades[0].price == "2980" and part.last_trades[0].is_maker
            # the SDK's spelling of a partly filled, then cancelled order
            await _push(sim, account, _frame("AccountOrderUpdate", "OrderCancelled",
                                             _active(h1, "PARTIALLY_FILLED_CANCELED", filled="400000000")))
            assert (await s.wait_status("p1", "CANCELED")).filled == "0.4"
            await _push(sim, account, _frame("AccountOrderUpdate", "OrderExpired",
                                             _active(opened["p2"].venue_order_id, "EXPIRED")))
            assert (await s.wait_status("p2", "EXPIRED")).reason == "expired"
            await _push(sim, account, _frame("AccountOrderUpdate", "OrderExpired",
                                             _active(opened["p3"].venue_order_id, "PARTIALLY_FILLED_EXPIRED")))
            await s.wait_status("p3", "EXPIRED")
            # a cancellation payload (no status) with the SDK's fields
            await _push(sim, account, _frame("AccountOrderUpdate", "OrderCancelled", {
                "orderHash": opened["p4"].venue_order_id, "clientOrderId": None, "symbol": SYMBOL,
                "accountAddress": account, "createdAtMillis": 1700000000000,
                "cancellationReason": "SELF_TRADE_PREVENTION", "failureToCancelReason": None,
                "remainingQuantityE9": "1000000000"}))
            done = await s.wait_status("p4", "CANCELED")
            assert "self-trade" in done.reason
        assert sum(ad.events.ignored.values()) == ignored + 5
        assert ad.events.ignored["AccountPositionUpdate"] >= 1
        assert ad.events.subscribed >= 1

    run(tmp_path, scenario)


def test_standby_is_an_untriggered_order(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        async with strategy(gw) as s:
            sim.faults.hold_events = True  # the venue's own OPEN stays back
            await place(s, "buy", "1", "2980", "sb")
            for _ in range(200):
                order = gw.tracker.by_client("alpha", "sb")
                if order.venue_data.acked:
                    break
                await asyncio.sleep(0.01)
            await _push(sim, ad.account, _frame("AccountOrderUpdate", "OrderCreated",
                                                _active(order.venue_order_id, "STANDBY")))
            await s.wait_status("sb", "UNTRIGGERED")

    run(tmp_path, scenario)


def test_subscription_refused_is_logged_not_taken_for_an_order_event(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        before = (ad.events.subscribed, sum(ad.events.ignored.values()))
        await _push(sim, ad.account, json.dumps({"success": False, "message": "bad token"}))
        await _push(sim, ad.account, json.dumps({"success": True, "message": "ok"}))
        for _ in range(200):
            if ad.events.subscribed > before[0]:
                break
            await asyncio.sleep(0.01)
        assert ad.events.subscribed == before[0] + 1 and sum(ad.events.ignored.values()) == before[1]

    run(tmp_path, scenario)



def test_stop_orders_rest_in_standby_until_triggered(tmp_path):
    async def scenario(gw):
        sim = gw.sims[VENUE]
        async with strategy(gw) as s:
            await place(s, "buy", "1", "3010", "s1", stop_price="3005")
            waiting = await s.wait_status("s1", "UNTRIGGERED")
            assert waiting.stop_price == "3005"
            [body] = [b for w, b in sim.received if w == "order"]
            assert body["type"] == "STOP_LIMIT" and body["triggerPriceE9"] == "3005000000000"
            assert [fr["payload"]["status"] for _, fr in events_of(sim)] == ["STANDBY"]
            await sim.set_last_price(SYMBOL, "3004")
            await asyncio.sleep(0.05)
            assert gw.tracker.by_client("alpha", "s1").status.value == "UNTRIGGERED"
            await sim.set_last_price(SYMBOL, "3005")
            await s.wait_status("s1", "TRIGGERED")
            done = await s.wait_status("s1", "FILLED")
            assert done.filled == "1" and done.avg_price == "3003"
            # a stop-market: no timeInForce; canceled while untriggered
            reference_price(gw, VENUE, SYMBOL, "3000")  # a market order is valued at it
            assert (await s.place(VENUE, SYMBOL, "sell", "1", None, type="market", stop_price="2950",
                                  client_order_id="s2")).ok
            await s.wait_status("s2", "UNTRIGGERED")
            body = [b for w, b in sim.received if w == "order"][-1]
            assert body["type"] == "STOP_MARKET" and "timeInForce" not in body
            assert (await s.cancel("s2")).ok
            assert "by request" in (await s.wait_status("s2", "CANCELED")).reason

    run(tmp_path, scenario)


def events_of(sim):
    return [(e, json.loads(text)) for e, text in sim.wire_log if e == "ActiveOrder"]
