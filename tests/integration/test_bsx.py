"""What only BSX has: signature/body agreement, nonces, the WS auth and the
seed's message shapes, snapshot reconciliation, stop orders, batching."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import uvloop

from gateway._core.fixedpoint import parse_scaled
from gateway.config import parse_config
from gateway.ipc import frames as f
from gateway.orders.model import Status
from gateway.signer import Signer
from gateway.sim.bsx import BsxSim, Product
from gateway.venues.bsx.signing import BsxSigner, domain, ws_auth_signature
from tests.contract.suite import SERVER, VenueContract
from tests.contract.test_bsx import BSX_CONFIG
from tests.integration.harness import reference_price

BTC = """
[venues.instruments.BTC-PERP]
product_id = 1
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""

# every field of an order in the seed's orders channel messages, last_trades aside
SEED_ORDER_FIELDS = {
    "avg_price", "cancel_reason", "cancel_reject_reason", "cancel_requested", "cancel_requested_at",
    "client_order_id", "created_at_ts", "filled_fees", "filled_size", "id", "initial_margin", "is_liquidation",
    "nonce", "order_stop_type", "post_only", "price", "product_id", "reduce_only", "reject_reason", "sender",
    "side", "size", "status", "stop_price", "stp", "time_in_force", "type", "updated_at",
}
STRING_FIELDS = SEED_ORDER_FIELDS - {"cancel_requested", "is_liquidation", "post_only", "reduce_only"}


class _Gw(VenueContract):
    venue = "bsx"

    def __init__(self, extra: str = "", connections: int | None = None):
        config = BSX_CONFIG + BTC + extra
        if connections is not None:
            config = config.replace('name = "bsx"\n', f'name = "bsx"\nhttp_connections = {connections}\n', 1)
        self.venue_config = config


def run(tmp_path, scenario, **kw):
    _Gw(**kw).run(tmp_path, scenario, timeout_s=20)


# a bare simulator and a hand-made client, for what the gateway would never send

API_KEY, API_SECRET = "k" * 32, "s" * 64
WALLET = "0x00000000000000000000000000000000000000a1"
DOMAIN = domain("BSX Mainnet", "1", 8453, "0x0000000000000000000000000000000000000002")
HEADERS = {"bsx-key": API_KEY, "bsx-secret": API_SECRET}


def bare(scenario):
    async def main():
        sim = BsxSim([Product(index=2, product_id="ETH-PERP", tick=10**17, lot=10**15)], chain_id=8453,
                     verifying_contract="0x0000000000000000000000000000000000000002",
                     mid_prices={"ETH-PERP": 3000 * 10**18}, mm_levels=3)
        signer = Signer(b"\x07" * 32)
        sim.register(API_KEY, API_SECRET, WALLET, signer.address)
        await sim.start()
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(sim, http, BsxSigner(signer, WALLET, DOMAIN)), 10)
        finally:
            await sim.stop()

    uvloop.run(main())


def create_body(sign: BsxSigner, *, price="2990", size="1", nonce=None, cid=None, signed_price=None) -> dict:
    nonce = nonce or time.time_ns()
    price_e18 = parse_scaled(signed_price or price, 18)
    return {"side": "BUY", "type": 0, "product_index": 2, "price": price, "size": size, "post_only": False,
            "reduce_only": False, "time_in_force": "GTC", "expired_at": 0, "nonce": nonce,
            "signature": sign.sign_order(parse_scaled(size, 18), price_e18, nonce, 2, 0), "client_order_id": cid}


def test_rest_checks_key_signature_nonce_and_client_order_id():
    async def scenario(sim, http, sign):
        url = sim.rest_url + "/orders"
        async with http.post(url, json=create_body(sign)) as r:
            assert r.status == 401 and (await r.json())["code"] == 16
        async with http.post(url, json=create_body(sign), headers={**HEADERS, "bsx-secret": "x"}) as r:
            assert r.status == 401 and (await r.json())["code"] == 16
        body = create_body(sign, cid="ok1")
        async with http.post(url, json=body, headers=HEADERS) as r:
            assert r.status == 200 and (await r.json())["status"] == "OPEN"
        async with http.post(url, json=body, headers=HEADERS) as r:  # the same nonce again
            assert r.status != 200 and "nonce already used" in (await r.json())["message"]
        stale = create_body(sign, nonce=time.time_ns() - 601 * 10**9)
        async with http.post(url, json=stale, headers=HEADERS) as r:
            assert r.status != 200 and "older than 10 minutes" in (await r.json())["message"]
        async with http.post(url, json=create_body(sign, cid="x" * 33), headers=HEADERS) as r:
            assert r.status != 200 and "client_order_id" in (await r.json())["message"]
        async with http.post(url, json=create_body(sign, cid="has-dash"), headers=HEADERS) as r:
            assert r.status != 200 and "letters and digits" in (await r.json())["message"]
        # the body says 2990 but the signature carries 2990.1: refused
        async with http.post(url, json=create_body(sign, signed_price="2990.1"), headers=HEADERS) as r:
            assert r.status != 200 and "signature" in (await r.json())["message"]
        # signed by a key that is not the wallet's registered signer
        other = BsxSigner(Signer(b"\x09" * 32), WALLET, DOMAIN)
        async with http.post(url, json=create_body(other), headers=HEADERS) as r:
            assert r.status != 200 and "registered signer" in (await r.json())["message"]
        assert sum(sim.requests.values()) == 9

    bare(scenario)


def test_ws_auth_and_the_seeds_message_shapes():
    async def scenario(sim, http, sign):
        async with http.ws_connect(sim.ws_url) as ws:
            await ws.send_json({"op": "sub", "channel": "orders"})
            assert await ws.receive_json() == {"channel": "orders", "type": "error",
                                               "message": "not authenticated", "code": 401}
            ts = str(time.time_ns())
            await ws.send_json({"op": "auth", "data": {"key": API_KEY, "timestamp": ts, "signature": "00" * 32}})
            assert (await ws.receive_json())["type"] == "error"
            await ws.send_json({"op": "auth", "data": {"key": API_KEY, "timestamp": ts,
                                                       "signature": ws_auth_signature(API_SECRET, API_KEY, ts)}})
            assert await ws.receive_json() == {"channel": "auth", "type": "authenticated"}
            async with http.post(sim.rest_url + "/orders", json=create_body(sign), headers=HEADERS) as r:
                resting = (await r.json())["id"]
            await ws.send_json({"op": "sub", "channel": "orders"})
            snapshot = await ws.receive_json()
            assert snapshot["type"] == "snapshot" and snapshot["timestamp"].isdigit()
            [order] = snapshot["data"]
            assert set(order) == SEED_ORDER_FIELDS and "last_trades" not in order
            assert all(isinstance(order[k], str) for k in STRING_FIELDS) and order["nonce"].isdigit()
            # a marketable order: PENDING, then its fill with last_trades
            async with http.post(sim.rest_url + "/orders", json=create_body(sign, price="3003"), headers=HEADERS):
                pass
            pending = (await ws.receive_json())["data"][0]
            assert pending["status"] == "PENDING" and pending["last_trades"] == []
            done = (await ws.receive_json())["data"][0]
            assert done["status"] == "DONE" and done["filled_size"] == "1" and done["avg_price"] == "3003"
            assert set(done) == SEED_ORDER_FIELDS | {"last_trades"}
            [trade] = done["last_trades"]
            assert trade["price"] == "3003" and trade["size"] == "1" and trade["liquidity_indicator"] == "TAKER"
            # a cancel: DONE, cancel_reason user, no last_trades
            async with http.delete(sim.rest_url + f"/order?order_id={resting}", headers=HEADERS) as r:
                assert r.status == 200
            cancelled = (await ws.receive_json())["data"][0]
            assert cancelled["status"] == "DONE" and cancelled["cancel_reason"] == "user"
            assert "last_trades" not in cancelled and cancelled["cancel_requested"] is True
            await ws.send_json({"op": "ping"})
            assert (await ws.receive_json())["type"] == "pong"

    bare(scenario)


def test_body_decimals_and_signed_e18_are_the_same_values(tmp_path):
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            # at BSX's BTC-PERP steps (tick 0.1, lot 0.001; the simulator lists the venue's own),
            # values a double would not carry exactly (1.001 -> 1000999999999999872 e18)
            for cid, price, qty in (("e1", "65000.3", "0.001"), ("e2", "0.1", "1.001")):
                assert (await s.place("bsx", "BTC-PERP", "buy", qty, price, client_order_id=cid)).ok
                opened = await s.wait_status(cid, "OPEN")
                venue = sim.engine.get(opened.venue_order_id)
                # the simulator recovered the signer from the e18 integers it parsed out of the body
                assert venue.price == parse_scaled(price, 18) and venue.quantity == parse_scaled(qty, 18)
                assert opened.price == price and opened.quantity == qty

    run(tmp_path, scenario)


def gw_strategy(gw, name="alpha"):
    from gateway.ipc.client import GatewayClient
    return GatewayClient(gw.config.server.socket_path, strategy=name)


def test_fill_while_the_stream_is_down_is_learned_once_from_the_snapshot(tmp_path):
    async def scenario(gw):
        sim, adapter = gw.sims["bsx"], gw.venues["bsx"]
        async with gw_strategy(gw) as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2999", client_order_id="g1")).ok
            assert (await s.place("bsx", "ETH-PERP", "buy", "2", "2998", client_order_id="g2")).ok
            await s.wait_status("g1", "OPEN")
            await s.wait_status("g2", "OPEN")
            sim.faults.hold_events = True
            reconnects = adapter.reconnects
            await sim.outside_trade("ETH-PERP", "sell", "2998", "2")  # g1 filled, g2 half filled
            await sim.drop_streams()
            await sim.release_events()  # to the closed socket: lost, as on a real drop
            seen: dict[str, list] = {"g1": [], "g2": []}
            while not (seen["g1"] and seen["g2"]):
                event = await s.wait_for(lambda e: isinstance(e, f.OrderUpdate))
                seen[event.order.client_order_id].append(event.order)
            [filled], [partial] = seen["g1"], seen["g2"]
            assert filled.status == "FILLED" and filled.filled == "1" and filled.avg_price == "2999"
            assert len(filled.last_trades) == 1 and filled.last_trades[0].quantity == "1"
            assert partial.status == "PARTIALLY_FILLED" and partial.filled == "1" and partial.avg_price == "2998"
            assert adapter.reconnects > reconnects
            await asyncio.sleep(0.2)
            more = []
            while True:
                try:
                    more.append(await s.wait_for(lambda e: isinstance(e, f.OrderUpdate), 0.05))
                except asyncio.TimeoutError:
                    break
            assert more == []  # nothing booked twice
            tracker = gw.tracker
            assert tracker.by_client("alpha", "g1").filled == 10**18
            assert tracker.by_client("alpha", "g2").filled == 10**18
            assert sim.requests["GET /order"] == 1  # g1, missing from the snapshot, asked for by id

    run(tmp_path, scenario)


def test_stop_order_untriggered_then_triggered_then_filled(tmp_path):
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            ack = await s.place("bsx", "ETH-PERP", "buy", "1", "3010", stop_price="3005", client_order_id="s1")
            assert ack.ok
            waiting = await s.wait_status("s1", "UNTRIGGERED")
            assert waiting.stop_price == "3005"
            assert sim.engine.get(waiting.venue_order_id).stop_price == parse_scaled("3005", 18)
            await sim.set_last_price("ETH-PERP", "3004")
            await asyncio.sleep(0.05)
            assert gw.tracker.by_client("alpha", "s1").status.value == "UNTRIGGERED"
            await sim.set_last_price("ETH-PERP", "3005")
            await s.wait_status("s1", "TRIGGERED")
            done = await s.wait_status("s1", "FILLED")
            assert done.filled == "1" and done.avg_price == "3003"
            reference_price(gw, "bsx", "ETH-PERP", "3005")  # so the venue's own rule is what refuses
            refused = await s.place("bsx", "ETH-PERP", "buy", "1", None, type="market", stop_price="3005",
                                    client_order_id="s2")
            assert not refused.ok and refused.error.code == "unsupported"

    run(tmp_path, scenario)


def test_burst_goes_as_one_batch_and_a_lone_order_alone(tmp_path):
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            # five places written in one loop turn: the gateway reads them together and its
            # line hands them to the venue as one request
            acks = await asyncio.gather(*(
                s.place("bsx", "ETH-PERP", "buy", "1", f"29{80 + i}", client_order_id=f"b{i}") for i in range(5)))
            assert all(a.ok for a in acks)
            for i in range(5):
                await s.wait_status(f"b{i}", "OPEN")
            assert sim.requests["POST /orders"] == 0 and sim.requests["POST /orders/batch"] == 1
            assert len(sim.engine.open_orders(sim.users[next(iter(sim.users))].sender)) == 5
            await asyncio.sleep(0.05)
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2970", client_order_id="lone")).ok
            await s.wait_status("lone", "OPEN")
            assert sim.requests["POST /orders"] == 1 and sim.requests["POST /orders/batch"] == 1
            # cancels in a burst batch the same way
            await asyncio.gather(*(s.cancel(f"b{i}") for i in range(5)))
            for i in range(5):
                assert (await s.wait_status(f"b{i}", "CANCELED")).reason == "canceled by request"
            assert sim.requests["DELETE /order"] == 0 and sim.requests["POST /orders/batch"] == 2

    run(tmp_path, scenario, connections=1)


def test_a_place_queued_behind_the_rate_limit_is_withdrawn_by_its_cancel(tmp_path):
    """A BSX place waits in the venue's line like any other (the adapter keeps no queue of its
    own): its cancel takes it out, it ends CANCELED locally and the venue never sees it."""
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2980", client_order_id="w1")).ok
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2981", client_order_id="w2")).ok
            first = await s.wait_status("w1", "OPEN")
            assert gw.tracker.by_client("alpha", "w2").queued  # the token went to w1: w2 waits
            assert (await s.cancel("w2")).ok
            gone = await s.wait_status("w2", "CANCELED", timeout_s=0.5)
            assert gone.reason == "canceled before it was sent" and gone.venue_order_id is None
            await asyncio.sleep(1.2)  # past when its turn would have come
            assert len(gw.venues["bsx"].outbound) == 0
            # the venue heard of w1 only
            assert sim.requests["POST /orders"] + sim.requests["POST /orders/batch"] == 1
            wallet = sim.users[next(iter(sim.users))].sender
            assert [o.order_id for o in sim.engine.open_orders(wallet)] == [first.venue_order_id]

    limited = 'name = "bsx"\nrate_limit_per_s = 1\nrate_limit_burst = 1\nrate_limit_max_wait_ms = 3000\n'
    contract = _Gw()
    contract.venue_config = contract.venue_config.replace('name = "bsx"\n', limited, 1)
    contract.run(tmp_path, scenario, timeout_s=20)


def test_a_place_queued_behind_busy_connections_is_withdrawn_by_its_cancel(tmp_path):
    """The same while every connection carries a request (the venue answers slowly): the place
    waits in the line, not in a batch queue of the adapter's that a cancel could not reach."""
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2980", client_order_id="k1")).ok
            await asyncio.sleep(0.1)  # k1 holds the one connection for the venue's 500 ms
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2981", client_order_id="k2")).ok
            assert gw.tracker.by_client("alpha", "k2").queued
            assert (await s.cancel("k2")).ok
            gone = await s.wait_status("k2", "CANCELED", timeout_s=0.3)
            assert gone.reason == "canceled before it was sent"
            await s.wait_status("k1", "OPEN", timeout_s=3)
            await asyncio.sleep(0.1)
            assert sim.requests["POST /orders"] == 1 and sim.requests["POST /orders/batch"] == 0

    slow = _Gw(connections=1)
    slow.venue_config = slow.venue_config.replace("[venues.sim]\n", "[venues.sim]\nreply_delay_ms = 500\n", 1)
    slow.run(tmp_path, scenario, timeout_s=20)


def test_cancel_many_and_cancel_all_on_a_product(tmp_path):
    async def scenario(gw):
        sim, adapter = gw.sims["bsx"], gw.venues["bsx"]
        async with gw_strategy(gw) as s:
            for i in range(3):
                await s.place("bsx", "ETH-PERP", "sell", "1", f"310{i}", client_order_id=f"m{i}")
                await s.wait_status(f"m{i}", "OPEN")
            tracker = gw.tracker
            orders = [tracker.by_client("alpha", f"m{i}") for i in range(2)]
            for order in orders:
                assert tracker.mark_pending(order, Status.PENDING_CANCEL)
            await adapter.cancel_all(orders)
            for i in range(2):
                await s.wait_status(f"m{i}", "CANCELED")
            assert sim.requests["DELETE /orders"] == 1
            ids = await adapter.cancel_product("ETH-PERP")
            assert ids == [tracker.by_client("alpha", "m2").venue_order_id]
            assert "the account owner" in (await s.wait_status("m2", "CANCELED")).reason

    run(tmp_path, scenario)


def test_embedded_default_config_runs_a_bsx_simulator():
    from gateway.config import load_config

    config = load_config()
    [bsx] = [v for v in config.venues if v.name == "bsx"]
    assert bsx.sim is not None and bsx.sim.enabled and bsx.generate_key
    assert type(bsx).__struct_config__.tag == "bsx"


def test_config_refuses_secrets_inline():
    with pytest.raises(Exception, match="api_key"):
        parse_config(SERVER.replace("{tmp}", "/tmp") + '[[venues]]\nkind = "bsx"\nname = "b"\napi_key = "x"\n')


def test_strategy_cancel_all_goes_as_one_venue_request(tmp_path):
    async def scenario(gw):
        sim = gw.sims["bsx"]
        async with gw_strategy(gw) as s:
            for i in range(3):
                await s.place("bsx", "ETH-PERP", "sell", "1", f"320{i}", client_order_id=f"ca{i}")
                await s.wait_status(f"ca{i}", "OPEN")
            before = sim.requests["DELETE /order"]
            assert (await s.cancel_all("bsx")).ok
            for i in range(3):
                await s.wait_status(f"ca{i}", "CANCELED")
            assert sim.requests["DELETE /orders"] == 1 and sim.requests["DELETE /order"] == before

    run(tmp_path, scenario)


async def _closes(s, cids: list[str], timeout_s: float = 5) -> tuple[dict[str, f.OrderView], list]:
    """Every closing update of cids, and every cancel_reject, until all of cids closed."""
    closed: dict[str, f.OrderView] = {}
    rejects = []
    while len(closed) < len(cids):
        event = await s.wait_for(lambda e: isinstance(e, (f.OrderUpdate, f.CancelReject)), timeout_s)
        if isinstance(event, f.CancelReject):
            rejects.append(event)
        elif event.order.client_order_id in cids and event.order.status in ("CANCELED", "FILLED"):
            closed[event.order.client_order_id] = event.order
    return closed, rejects


def test_a_cancel_that_finds_the_order_closed_at_the_venue_reports_its_state_not_a_cancel_reject(tmp_path):
    """The account owner canceled these orders elsewhere while the gateway's channel events were
    held back, so the gateway's cancels meet orders the venue has closed: alone (DELETE /order),
    two due together (one POST /orders/batch) and a strategy's cancel_all (DELETE /orders). Each
    is asked about (GET /order) and ends CANCELED; none is a cancel_reject."""
    async def scenario(gw):
        sim = gw.sims["bsx"]
        creds = gw.venues["bsx"].creds
        async with gw_strategy(gw) as s:
            cids = [f"v{i}" for i in range(5)]
            for i, cid in enumerate(cids):
                assert (await s.place("bsx", "ETH-PERP", "sell", "1", f"310{i}", client_order_id=cid)).ok
            while {o.status for o in await s.orders()} != {"OPEN"} or len(await s.orders()) < 5:
                await asyncio.sleep(0.01)
            sim.faults.hold_events = True
            async with aiohttp.ClientSession() as http:
                for cid in cids:
                    vid = gw.tracker.by_client("alpha", cid).venue_order_id
                    async with http.delete(f"{sim.rest_url}/order", params={"order_id": vid},
                                           headers={"bsx-key": creds.api_key, "bsx-secret": creds.api_secret}) as r:
                        assert r.status == 200
            before = dict(sim.requests)

            def more(route: str) -> int:
                return sim.requests[route] - before.get(route, 0)

            assert (await s.cancel("v0")).ok
            closed, rejects = await _closes(s, ["v0"])
            assert more("DELETE /order") == 1
            assert all(a.ok for a in await asyncio.gather(s.cancel("v1"), s.cancel("v2")))
            more_closed, more_rejects = await _closes(s, ["v1", "v2"])
            closed |= more_closed
            rejects += more_rejects
            assert more("POST /orders/batch") == 1
            assert (await s.cancel_all("bsx")).ok
            more_closed, more_rejects = await _closes(s, ["v3", "v4"])
            closed |= more_closed
            rejects += more_rejects
            assert more("DELETE /orders") == 1 and more("GET /order") == 5
            assert rejects == []
            assert {cid: o.status for cid, o in closed.items()} == {cid: "CANCELED" for cid in cids}
            await sim.release_events()  # the venue's own events of those cancels, late: nothing new
            with pytest.raises(asyncio.TimeoutError):
                await s.wait_for(lambda e: isinstance(e, (f.OrderUpdate, f.CancelReject)), 0.3)
            assert {o.status for o in await s.orders(open_only=False)} == {"CANCELED"}

    run(tmp_path, scenario)
