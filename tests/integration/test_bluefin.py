"""What only Bluefin Pro has: the seed's ACK-then-stream scenarios one by one,
ed25519 signatures and the order hash, the token session (refresh, re-login,
expiry in the middle of a burst), the event that beats the ACK, reconnects."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time

import aiohttp
import uvloop

from gateway.ipc import frames as f
from gateway.sim.bluefin import BluefinSim, Market
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.signing import Ed25519Key, order_hash, order_json, uleb128
from tests.contract.suite import VenueContract
from tests.contract.test_bluefin import BLUEFIN_CONFIG

VENUE = "bluefin"
SYMBOL = "ETH-PERP"
IDS = "0x" + "1d" * 32


class _Gw(VenueContract):
    venue = VENUE
    venue_config = BLUEFIN_CONFIG


def run(tmp_path, scenario):
    _Gw().run(tmp_path, scenario, timeout_s=20)


def adapter(gw):
    return gw.venues[VENUE]


def strategy(gw, name="alpha"):
    return _Gw().strategy(gw, name)


async def place(s, side, quantity, price, cid, **kw):
    ack = await s.place(VENUE, SYMBOL, side, quantity, price, client_order_id=cid, **kw)
    assert ack.ok, ack
    return ack


async def settle(s, cids, status):
    """Wait until every one of cids shows status (events of a burst come in any order)."""
    for _ in range(200):
        orders = {o.client_order_id: o.status for o in await s.orders(open_only=False)}
        if all(orders.get(cid) == status for cid in cids):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all {status}: {orders}")


def events(sim, name=None):
    return [(e, json.loads(text)) for e, text in sim.wire_log if e != "ACK" and (name is None or e == name)]


# a bare simulator and a hand-made client, for the wire itself

KEY = Ed25519Key(b"\x05" * 32)


def bare(scenario):
    async def main():
        sim = BluefinSim([Market(SYMBOL, tick=10**17, lot=10**15)], ids_id=IDS,
                         mid_prices={SYMBOL: 3000 * 10**18}, mm_levels=3)
        await sim.start()
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(sim, http), 10)
        finally:
            await sim.stop()

    uvloop.run(main())


async def login(sim, http, key=KEY) -> str:
    body = json.dumps({"accountAddress": key.address, "signedAtMillis": time.time_ns() // 1_000_000,
                       "audience": "api"}).encode()
    async with http.post(sim.rest_url + schemas.LOGIN_PATH, data=body,
                         headers={"payloadSignature": key.sign_login(body)}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["accessToken"]


def order_body(*, price_e9=2990 * 10**9, quantity_e9=10**9, side="LONG", tif="GTT", post_only=False,
               signed_price_e9=None, key=KEY) -> dict:
    now = time.time_ns() // 1_000_000
    fields = (IDS, key.address, SYMBOL, price_e9 if signed_price_e9 is None else signed_price_e9, quantity_e9,
              10**9, side, "CROSS", now + 60_000, now, now)
    return {"signedFields": {"symbol": SYMBOL, "accountAddress": key.address, "priceE9": str(price_e9),
                             "quantityE9": str(quantity_e9), "side": side, "leverageE9": str(10**9),
                             "isIsolated": False, "salt": str(now), "idsId": IDS, "expiresAtMillis": now + 60_000,
                             "signedAtMillis": now},
            "signature": key.sign_order(order_json(*fields)), "clientOrderId": "c1", "type": "LIMIT",
            "reduceOnly": False, "postOnly": post_only, "timeInForce": tif}


async def stream(sim, http, token):
    ws = await http.ws_connect(sim.ws_url, headers={"Authorization": f"Bearer {token}"})
    await ws.send_str(json.dumps({"method": "Subscribe", "dataStreams": ["AccountOrderUpdate", "AccountTradeUpdate"]}))
    reply = await ws.receive_json()
    assert reply["success"] is True and set(reply) == {"success", "message"}
    return ws


async def post_order(sim, http, token, body):
    async with http.post(sim.rest_url + schemas.ORDERS_PATH, json=body,
                         headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


# the seed's scenarios, on the wire

def test_seed_successful_creation_acks_the_hash_then_streams_open():
    async def scenario(sim, http):
        token = await login(sim, http)
        ws = await stream(sim, http, token)
        status, ack = await post_order(sim, http, token, order_body())
        assert status == 202 and set(ack) == {"orderHash"}
        frame = await ws.receive_json()
        assert frame["event"] == "AccountOrderUpdate" and frame["reason"] == "OrderCreated"
        assert frame["payload"]["status"] == "OPEN"
        assert frame["payload"]["orderHash"] == ack["orderHash"]
        assert [e for e, _ in sim.wire_log] == ["ACK", "ActiveOrder"]

    bare(scenario)


def test_seed_failed_creation_price_zero_is_acked_then_cancelled_with_reason():
    async def scenario(sim, http):
        token = await login(sim, http)
        ws = await stream(sim, http, token)
        status, ack = await post_order(sim, http, token, order_body(price_e9=0))
        assert status == 202 and len(ack["orderHash"]) == 64 and not ack["orderHash"].startswith("0x")
        frame = await ws.receive_json()
        assert frame["event"] == "AccountOrderUpdate" and "status" not in frame["payload"]
        assert frame["payload"]["orderHash"] == ack["orderHash"]
        assert frame["payload"]["cancellationReason"] == "INVALID_PRICE"
        assert frame["payload"]["failureToCancelReason"] is None

    bare(scenario)


def test_seed_cancel_acks_then_streams_done_and_failed_cancels():
    async def scenario(sim, http):
        token = await login(sim, http)
        ws = await stream(sim, http, token)
        _, ack = await post_order(sim, http, token, order_body())
        await ws.receive_json()  # OPEN
        auth = {"Authorization": f"Bearer {token}"}
        body = {"symbol": SYMBOL, "orderHashes": [ack["orderHash"], "0x" + "ee" * 32]}
        async with http.put(sim.rest_url + schemas.CANCEL_PATH, json=body, headers=auth) as r:
            assert r.status == 202
        frames = [await ws.receive_json() for _ in range(2)]
        by_hash = {fr["payload"]["orderHash"]: fr["payload"] for fr in frames}
        assert by_hash[ack["orderHash"]]["cancellationReason"] == "USER_CANCELLED"
        failed = by_hash["0x" + "ee" * 32]
        assert failed["cancellationReason"] is None and failed["failureToCancelReason"] == "ORDER_NOT_FOUND"
        # and a strict decoder takes the null
        decoded = schemas.cancellation_decoder.decode(json.dumps(failed))
        assert decoded.cancellationReason is None and decoded.status is None
        too_many = {"symbol": SYMBOL, "orderHashes": ["0x01"] * 11}
        async with http.put(sim.rest_url + schemas.CANCEL_PATH, json=too_many, headers=auth) as r:
            assert r.status == 400
        async with http.put(sim.rest_url + schemas.CANCEL_PATH, json={"symbol": SYMBOL}, headers=auth) as r:
            assert r.status == 202
        frame = await ws.receive_json()
        assert frame["payload"]["failureToCancelReason"] == "NO_OPEN_ORDERS_ON_MARKET"
        async with http.put(sim.rest_url + schemas.CANCEL_PATH, json={"symbol": "NOPE-PERP", "orderHashes": [
                ack["orderHash"]]}, headers=auth) as r:
            assert r.status == 202
        assert (await ws.receive_json())["payload"]["failureToCancelReason"] == "MARKET_NOT_FOUND"

    bare(scenario)


def test_seed_ioc_remainder_is_an_active_order_update_not_a_cancel_event():
    async def scenario(sim, http):
        token = await login(sim, http)
        ws = await stream(sim, http, token)
        _, ack = await post_order(sim, http, token, order_body(price_e9=3003 * 10**9, quantity_e9=15 * 10**8,
                                                               tif="IOC"))
        frames = [await ws.receive_json() for _ in range(2)]
        assert [fr["event"] for fr in frames] == ["AccountTradeUpdate", "AccountOrderUpdate"]
        assert frames[0]["payload"]["trade"]["orderHash"] == ack["orderHash"]
        assert frames[1]["payload"]["status"] == "PARTIALLY_FILLED_CANCELED"
        assert frames[1]["payload"]["filledQuantityE9"] == str(10**9)
        await asyncio.sleep(0.05)
        assert not events(sim, "OrderCancellation")

    bare(scenario)


def test_seed_bulk_cancel_is_one_message_that_closes_every_open_order(tmp_path):
    async def scenario(gw):
        async with strategy(gw) as s:
            for i, price in enumerate(("2980", "2981", "2982")):
                await place(s, "buy", "1", price, f"m{i}")
            for i in range(3):
                await s.wait_status(f"m{i}", "OPEN")
            await adapter(gw).cancel_product(SYMBOL)
            for i in range(3):
                assert "all orders" in (await s.wait_status(f"m{i}", "CANCELED")).reason
        sim = gw.sims[VENUE]
        frames = events(sim, "OrderCancellation")
        assert len(frames) == 3
        assert {fr["reason"] for _, fr in frames} == {"OrdersForMarketCancelled"}
        assert {fr["payload"]["cancellationReason"] for _, fr in frames} == {"USER_CANCELLED_ALL_ON_MARKET"}
        assert not sim.engine.open_orders(adapter(gw).account)

    run(tmp_path, scenario)


def test_seed_rejected_order_reaches_the_strategy_with_its_reason(tmp_path):
    async def scenario(gw):
        async with strategy(gw) as s:
            await place(s, "buy", "1", "3003", "po", post_only=True)
            done = await s.wait_status("po", "REJECTED")
            assert "POST_ONLY_WOULD_TRADE" in done.reason and done.venue_order_id

    run(tmp_path, scenario)


def test_seed_failed_cancel_becomes_cancel_reject(tmp_path):
    async def scenario(gw):
        async with strategy(gw) as s:
            await place(s, "buy", "1", "2980", "fc")
            opened = await s.wait_status("fc", "OPEN")
            # the venue loses the order (closed elsewhere, its event lost)
            gw.sims[VENUE].engine.cancel(adapter(gw).account, opened.venue_order_id)
            assert (await s.cancel("fc")).ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "fc" and "ORDER_NOT_FOUND" in reject.reason
            [order] = await s.orders()
            assert order.status == "OPEN"

    run(tmp_path, scenario)


def test_both_spellings_are_accepted(tmp_path):
    async def scenario(gw):
        ad = adapter(gw)
        async with strategy(gw) as s:
            await place(s, "buy", "1", "2980", "sp1")
            await place(s, "buy", "1", "2981", "sp2")
            one = await s.wait_status("sp1", "OPEN")
            await s.wait_status("sp2", "OPEN")
            # the seed's spelling, and a hash in capitals behind 0x
            ad.events.on_message(json.dumps({"event": "AccountOrderUpdate", "reason": "OrderCancelled", "payload": {
                "orderHash": "0x" + one.venue_order_id.upper(), "symbol": SYMBOL,
                "status": "PARTIALLY_FILLED_CANCELLED"}}).encode())
            assert (await s.wait_status("sp1", "CANCELED")).reason
            ad.events.on_message(json.dumps({"event": "AccountOrderUpdate", "reason": "OrdersForMarketCancelled",
                                  "payload": {"symbol": SYMBOL, "cancellationReason": "UserCancelledAllOnMarket",
                                              "failureToCancelReason": "NO_FAILURE"}}).encode())
            assert (await s.wait_status("sp2", "CANCELED")).reason

    run(tmp_path, scenario)


# signatures and the hash

def test_signed_payload_is_the_indent_2_json_and_the_hash_the_bcs_one():
    fields = (IDS, KEY.address, SYMBOL, 2990 * 10**9, 10**9, 3 * 10**9, "LONG", "ISOLATED", 1700000060000, 42,
              1700000000000)
    names = ["ids", "account", "market", "price", "quantity", "leverage", "side", "positionType", "expiration",
             "salt", "signedAt"]
    expected = json.dumps({"type": "Bluefin Pro Order", **{n: str(v) for n, v in zip(names, fields)}}, indent=2)
    assert order_json(*fields) == expected.encode()
    assert uleb128(300) == b"\xac\x02" and uleb128(5) == b"\x05"
    # the BCS by hand: addresses 32 bytes, strings length-prefixed, u64 little-endian
    bcs = (bytes.fromhex(IDS[2:]) + bytes.fromhex(KEY.address[2:]) + b"\x08ETH-PERP"
           + b"".join(v.to_bytes(8, "little") for v in fields[3:6]) + b"\x04LONG" + b"\x08ISOLATED"
           + b"".join(v.to_bytes(8, "little") for v in fields[8:]))
    # the current recipe: blake2b-256 of the raw BCS bytes, lowercase hex without 0x
    assert order_hash(*fields) == hashlib.blake2b(bcs, digest_size=32).hexdigest()
    assert order_hash(*fields) != hashlib.blake2b(bcs.hex().encode(), digest_size=32).hexdigest()


def test_simulator_refuses_a_bad_signature_and_a_bad_login():
    async def scenario(sim, http):
        token = await login(sim, http)
        status, reply = await post_order(sim, http, token, order_body(signed_price_e9=2991 * 10**9))
        assert status == 400 and "signature" in reply["message"]
        other = Ed25519Key(b"\x06" * 32)
        body = json.dumps({"accountAddress": KEY.address, "signedAtMillis": time.time_ns() // 1_000_000,
                           "audience": "api"}).encode()
        async with http.post(sim.rest_url + schemas.LOGIN_PATH, data=body,
                             headers={"payloadSignature": other.sign_login(body)}) as r:
            assert r.status == 401
        async with http.post(sim.rest_url + schemas.ORDERS_PATH, json=order_body()) as r:
            assert r.status == 401
        await asyncio.sleep(0.05)
        assert not events(sim)

    bare(scenario)


def test_the_adapter_binds_the_venues_hash_before_the_ack(tmp_path):
    async def scenario(gw):
        async with strategy(gw) as s:
            await place(s, "sell", "1", "3100", "h1")
            opened = await s.wait_status("h1", "OPEN")
            acks = [h for e, h in gw.sims[VENUE].wire_log if e == "ACK"]
            assert acks == [opened.venue_order_id]

    run(tmp_path, scenario)


# ordering

def test_ws_event_before_the_ack_opens_the_order_and_the_late_ack_changes_nothing(tmp_path):
    async def scenario(gw):
        sim = gw.sims[VENUE]
        sim.faults.reorder_ack = True
        async with strategy(gw) as s:
            await place(s, "buy", "1", "2980", "e1")
            opened = await s.wait_status("e1", "OPEN")
            for _ in range(50):
                if adapter(gw).tracker.get(opened.order_id).venue_data.acked:
                    break
                await asyncio.sleep(0.01)
            kinds = [e for e, _ in sim.wire_log]
            assert kinds.index("ActiveOrder") < kinds.index("ACK")
            [order] = await s.orders()
            assert order.status == "OPEN" and gw.tracker.unknown_transitions >= 1
            assert (await s.cancel("e1")).ok
            await s.wait_status("e1", "CANCELED")

    run(tmp_path, scenario)


# the session

def test_token_expiry_in_the_middle_of_a_burst_loses_no_order(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        generation = ad.session.generation
        async with strategy(gw) as s:
            cids = [f"b{i}" for i in range(24)]
            for wave in range(3):
                if wave == 1:
                    sim.expire_access_tokens()  # wave 0 is still in flight: its ACKs are not all back
                if wave == 2:
                    for _ in range(100):  # the refresh for wave 1's 401s, then the refresh token goes too
                        if sim.refreshes:
                            break
                        await asyncio.sleep(0.01)
                    sim.expire_refresh_tokens()  # now only a new login helps
                acks = [s.place(VENUE, SYMBOL, "buy", "0.01", str(2900 + i), client_order_id=cid)
                        for i, cid in enumerate(cids) if i // 8 == wave]
                assert all(a.ok for a in await asyncio.gather(*acks))
            await settle(s, cids, "OPEN")
            assert sim.requests_401 >= 2 and sim.refreshes >= 1 and ad.session.logins >= 2
            assert ad.session.generation >= generation + 2
            assert len(sim.engine.open_orders(ad.account)) == len(cids)
            assert (await s.cancel_all()).ok
            await settle(s, cids, "CANCELED")

    run(tmp_path, scenario)


def test_access_token_is_refreshed_before_it_expires(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        sim.access_token_secs = 1.0
        await ad.session.renew()
        refreshes = sim.refreshes
        for _ in range(600):  # the refresh, due before the 1 s token expires: waited for, not slept
            if sim.refreshes > refreshes:
                break
            await asyncio.sleep(0.05)
        assert sim.refreshes >= refreshes + 1 and sim.requests_401 == 0
        async with strategy(gw) as s:
            await place(s, "buy", "1", "2980", "t1")
            await s.wait_status("t1", "OPEN")
        assert sim.requests_401 == 0

    run(tmp_path, scenario)


# reconnects

def test_reconnect_reconciles_from_open_orders(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], adapter(gw)
        async with strategy(gw) as s:
            await place(s, "buy", "2", "2999", "rc")
            await s.wait_status("rc", "OPEN")
            reconnects = ad.stream.reconnects
            sim.expire_access_tokens()  # the reconnect must renew the session, not loop on a 401
            await sim.drop_streams()
            await asyncio.sleep(0.01)
            await sim.outside_trade(SYMBOL, "sell", "2999", "1")  # nobody hears it
            part = await s.wait_status("rc", "PARTIALLY_FILLED")
            assert part.filled == "1" and ad.stream.reconnects > reconnects

    run(tmp_path, scenario)


def test_ed25519_signatures_match_pycryptodome_byte_for_byte():
    """The signer (cryptography) and the oracle (pycryptodome) agree: ed25519 is deterministic."""
    import os

    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa

    from gateway.venues.bluefin.signing import ED25519_FLAG, Ed25519Key

    for _ in range(20):
        seed, message = os.urandom(32), os.urandom(32)
        oracle = eddsa.new(ECC.construct(curve="ed25519", seed=seed), "rfc8032")
        ours = Ed25519Key(seed)
        assert ours.serialized(message) == ED25519_FLAG + oracle.sign(message) + ours.pubkey
        assert ours.pubkey == ECC.construct(curve="ed25519", seed=seed).public_key().export_key(format="raw")
