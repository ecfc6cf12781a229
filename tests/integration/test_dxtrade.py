"""What only DXtrade has: order groups (OCO, IF-THEN), modify with ETags, the
seed's error codes, session expiry, the 1 request/s trading limit."""
from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest
import uvloop

from gateway.ipc import frames as f
from gateway.ipc.client import GatewayError
from gateway.sim.dxtrade import DxtradeSim, Product
from gateway.sim.base import scaled
from tests.contract.suite import VenueContract
from tests.contract.test_citrex import TestCitrex
from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import reference_price


class _Gw(VenueContract):
    venue = "dxtrade"

    def __init__(self, config: str = DXTRADE_CONFIG):
        self.venue_config = config


def run(tmp_path, scenario, config: str = DXTRADE_CONFIG, timeout_s: float = 15):
    _Gw(config).run(tmp_path, scenario, timeout_s=timeout_s)


def adapter(gw):
    return gw.venues["dxtrade"]


def sim_order(gw, view):
    return gw.sims["dxtrade"].orders[int(view.venue_order_id)]


IF_THEN = [
    dict(client_order_id="80t1", symbol="ETH-PERP", side="buy", quantity="3", price="2998"),
    dict(client_order_id="80t2", symbol="ETH-PERP", side="sell", quantity="3", type="market", stop_price="2900"),
    dict(client_order_id="80t3", symbol="ETH-PERP", side="sell", quantity="3", price="3001"),
]


def test_seed_walk_through_if_then_group_list_modify_observe(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        reference_price(gw, "dxtrade", "ETH-PERP", "3000")  # the stop-market leg is valued at it
        async with _Gw().strategy(gw, "alpha") as s:
            # 1-2: the IF-THEN group; one order id per leg
            ack = await s.place_group("dxtrade", "if_then", IF_THEN)
            assert ack.ok and len(ack.order_ids) == 3 and ack.order_id == ack.order_ids[0]
            parent = await s.wait_status("80t1", "OPEN")
            # 3: the list shows the group linked; the children wait outside the book
            orders = {o.client_order_id: o for o in await s.orders()}
            assert set(orders) == {"80t1", "80t2", "80t3"}
            p = sim_order(gw, parent)
            assert [link["linkType"] for link in p.links] == ["CHILD", "CHILD"]
            child = sim.orders[int(orders["80t3"].venue_order_id)]
            assert child.links[0]["linkType"] == "PARENT" and not child.in_book
            assert sim.engine.get(str(child.order_id)) is None
            # 4-5: quantity and limit price in place; orderId stays, updateOrderId moves
            old_update = p.update_id
            assert (await s.modify("80t1", price="2999", quantity="2")).ok
            amended = await s.wait_for(lambda e: getattr(e, "order", None) is not None
                                       and e.order.client_order_id == "80t1" and e.order.quantity == "2")
            assert amended.order.price == "2999" and amended.order.venue_order_id == parent.venue_order_id
            assert p.update_id != old_update and p.order_id == int(parent.venue_order_id)
            # 6: the replaced update is final (finalStatus true), the order is not
            assert p.executions[-1]["finalStatus"] is True and p.executions[-1]["updateOrderId"] == old_update
            await asyncio.sleep(0.15)  # several polls of that list
            [now] = [o for o in await s.orders() if o.client_order_id == "80t1"]
            assert now.status == "OPEN" and now.quantity == "2" and now.price == "2999"
            # the parent fills: only now do the children work
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "2") >= 1
            assert (await s.wait_status("80t1", "FILLED")).filled == "2"
            for _ in range(50):
                if sim.engine.get(str(child.order_id)) is not None:
                    break
                await asyncio.sleep(0.01)
            assert sim.engine.get(str(child.order_id)).is_open and child.quantity == scaled("3")

    run(tmp_path, scenario)


def test_if_then_parent_canceled_cancels_children_which_never_traded(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        reference_price(gw, "dxtrade", "ETH-PERP", "3000")  # the stop-market leg is valued at it
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place_group("dxtrade", "if_then", IF_THEN)).ok
            await s.wait_status("80t1", "OPEN")
            # the child's price trades outside, but the child does not work yet
            await sim.outside_trade("ETH-PERP", "buy", "3001", "1")
            assert (await s.cancel("80t1")).ok
            await s.wait_status("80t1", "CANCELED")
            for cid in ("80t2", "80t3"):
                done = await s.wait_status(cid, "CANCELED")
                assert done.filled == "0" and "IF-THEN" in done.reason

    run(tmp_path, scenario)


def test_oco_fill_of_one_cancels_the_other_and_cancel_of_one_cancels_the_other(tmp_path):
    async def scenario(gw):
        async with _Gw().strategy(gw, "alpha") as s:
            legs = [dict(client_order_id="o1", symbol="ETH-PERP", side="buy", quantity="1", price="2999"),
                    dict(client_order_id="o2", symbol="ETH-PERP", side="buy", quantity="1", price="2980")]
            assert (await s.place_group("dxtrade", "oco", legs)).ok
            await s.wait_status("o2", "OPEN")
            await gw.sims["dxtrade"].outside_trade("ETH-PERP", "sell", "2999", "1")
            assert (await s.wait_status("o1", "FILLED")).filled == "1"
            other = await s.wait_status("o2", "CANCELED")
            assert other.filled == "0" and "OCO" in other.reason
            legs = [dict(leg, client_order_id=leg["client_order_id"] + "b") for leg in legs]
            assert (await s.place_group("dxtrade", "oco", legs)).ok
            await s.wait_status("o2b", "OPEN")
            assert (await s.cancel("o1b")).ok
            await s.wait_status("o1b", "CANCELED")
            assert "OCO" in (await s.wait_status("o2b", "CANCELED")).reason

    run(tmp_path, scenario)


def test_group_with_one_invalid_leg_tracks_and_sends_nothing(tmp_path):
    async def scenario(gw):
        async with _Gw().strategy(gw, "alpha") as s:
            legs = [dict(client_order_id="g1", symbol="ETH-PERP", side="buy", quantity="1", price="2990"),
                    dict(client_order_id="g2", symbol="ETH-PERP", side="sell", quantity="1", price="3100.05")]
            ack = await s.place_group("dxtrade", "oco", legs)
            assert not ack.ok and ack.error.code == "bad_price"
            assert await s.orders(open_only=False) == []
            assert gw.sims["dxtrade"].orders == {}
            # the same client ids are free afterwards
            assert (await s.place("dxtrade", "ETH-PERP", "buy", "1", "2990", client_order_id="g1")).ok

    run(tmp_path, scenario)


def test_other_venues_refuse_place_group_with_unsupported(tmp_path):
    async def scenario(gw):
        async with TestCitrex().strategy(gw, "alpha") as s:
            legs = [dict(client_order_id="c1", symbol="ETH-PERP", side="buy", quantity="1", price="2990"),
                    dict(client_order_id="c2", symbol="ETH-PERP", side="buy", quantity="1", price="2980")]
            ack = await s.place_group("citrex", "oco", legs)
            assert not ack.ok and ack.error.code == "unsupported" and "citrex" in ack.error.message
            assert await s.orders(open_only=False) == []

    TestCitrex().run(tmp_path, scenario)


def test_two_modifies_racing_on_one_etag_the_second_refreshes_and_lands_on_top(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        async with _Gw().strategy(gw, "alpha") as s:
            await s.place("dxtrade", "ETH-PERP", "buy", "1", "2990", client_order_id="m1")
            opened = await s.wait_status("m1", "OPEN")
            o = sim.orders[int(opened.venue_order_id)]
            etag = adapter(gw).tracker.by_client("alpha", "m1").venue_data.etag
            # another session of the account modifies first, with the same ETag the gateway holds
            creds = adapter(gw).session.credentials
            async with aiohttp.ClientSession() as http:
                r = await http.post(f"{sim.rest_url}/dxsca-web/login", json={
                    "username": creds.username, "domain": "default", "password": creds.password})
                auth = {"Authorization": f"DXAPI {(await r.json())['sessionToken']}", "If-Match": etag}
                body = {"orderCode": o.client_code, "type": "LIMIT", "instrument": "ETH/USD", "quantity": "1",
                        "positionEffect": "OPEN", "side": "BUY", "limitPrice": "2991", "tif": "GTC"}
                r = await http.put(f"{sim.rest_url}/dxsca-web/accounts/default%3Assp1/orders", json=body,
                                   headers=auth)
                assert r.status == 200
            # the gateway's modify meets 412, reads the order again, and sends once more
            ack = await s.modify("m1", quantity="3")
            assert ack.ok
            await s.wait_modify("m1", quantity="3")
            assert sim.preconditions_failed == 1
            # the other session's price stays: the whole order went from the venue's state
            assert o.limit == scaled("2991") and o.quantity == scaled("3")
            await asyncio.sleep(0.1)
            [view] = await s.orders()
            assert view.price == "2991" and view.quantity == "3" and view.venue_order_id == opened.venue_order_id

    run(tmp_path, scenario)


def test_stale_etag_whose_intent_no_longer_applies_is_reported_not_resent(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        async with _Gw().strategy(gw, "alpha") as s:
            await s.place("dxtrade", "ETH-PERP", "buy", "2", "2999", client_order_id="s1")
            opened = await s.wait_status("s1", "OPEN")
            sim.faults.hold_events = True  # the gateway has not seen the fill yet
            await sim.outside_trade("ETH-PERP", "sell", "2999", "1.5")
            assert (await s.modify("s1", quantity="1")).ok  # accepted: the venue's answer comes later
            with pytest.raises(GatewayError) as refused:
                await s.wait_modify("s1", quantity="1")
            assert refused.value.code == "stale_order" and "filled" in refused.value.message
            assert sim.orders[int(opened.venue_order_id)].quantity == scaled("2")  # not sent again
            await sim.release_events()
            assert (await s.wait_status("s1", "PARTIALLY_FILLED")).filled == "1.5"

    run(tmp_path, scenario)


def test_modify_errors_become_specific_codes(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        dx = adapter(gw)
        async with _Gw().strategy(gw, "alpha") as s:
            for cid in ("e1", "e2", "e3", "e4"):
                await s.place("dxtrade", "ETH-PERP", "buy", "1", "2990", client_order_id=cid)
            views = {}
            while len(views) < 4:  # in whatever order the venue opens them
                event = await s.wait_for(lambda e: isinstance(e, f.OrderUpdate) and e.order.status == "OPEN")
                views[event.order.client_order_id] = event.order
            # 409: the venue holds a field the modify would change (here: a closing order)
            sim_order(gw, views["e1"]).request.positionEffect = "CLOSE"
            assert (await s.modify("e1", price="2991")).ok
            with pytest.raises(GatewayError) as refused:
                await s.wait_modify("e1", price="2991")
            assert refused.value.code == "modify_conflict" and "positionEffect" in refused.value.message
            # 404 code 2: the venue no longer knows the order
            del sim.orders[int(views["e2"].venue_order_id)]
            assert (await s.modify("e2", price="2991")).ok
            with pytest.raises(GatewayError) as refused:
                await s.wait_modify("e2", price="2991")
            assert refused.value.code == "venue_order_not_found" and "code 2" in refused.value.message
            # 400 code 33: the venue's tick is coarser than the gateway was told
            sim.products["ETH/USD"] = Product("ETH/USD", "ETH-PERP", tick=scaled("1"), lot=scaled("0.001"))
            assert (await s.modify("e3", price="2990.5")).ok
            with pytest.raises(GatewayError) as refused:
                await s.wait_modify("e3", price="2990.5")
            assert refused.value.code == "bad_request" and "code 33" in refused.value.message
            # 403 code 99: no ETag to send
            order = gw.tracker.by_client("alpha", "e4")
            order.venue_data.etag = None

            async def no_etag(order):
                return ""

            dx.queries.etag = no_etag
            assert (await s.modify("e4", price="2991")).ok
            with pytest.raises(GatewayError) as refused:
                await s.wait_modify("e4", price="2991")
            assert refused.value.code == "conditional_required" and "code 99" in refused.value.message
            # none of them changed anything, and the gateway still works
            assert {o.price for o in await s.orders()} == {"2990"}
            assert (await s.ping()) > 0

    run(tmp_path, scenario)


def test_session_expiry_mid_stream_logs_in_once_and_loses_nothing(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        dx = adapter(gw)
        async with _Gw().strategy(gw, "alpha") as s:
            await s.place("dxtrade", "ETH-PERP", "buy", "1", "2990", client_order_id="x1")
            await s.wait_status("x1", "OPEN")
            logins = dx.logins
            sim.expire_sessions()
            # an order, a cancel and the poll all meet the 401 together
            a, b = await asyncio.gather(
                s.place("dxtrade", "ETH-PERP", "buy", "1", "2999", client_order_id="x2"), s.cancel("x1"))
            assert a.ok and b.ok
            assert (await s.wait_status("x2", "OPEN")).price == "2999"
            await s.wait_status("x1", "CANCELED")
            assert dx.logins == logins + 1 and sim.logins == logins + 1
            await sim.outside_trade("ETH-PERP", "sell", "2999", "1")
            assert (await s.wait_status("x2", "FILLED")).filled == "1"

    run(tmp_path, scenario)


RATE_LIMITED = DXTRADE_CONFIG.replace("sim_trade_limit_per_s = 0", "sim_trade_limit_per_s = 1").replace(
    # a margin under the venue's 1/s: the venue's clock sees the requests a little off the gateway's
    'name = "dxtrade"\n', 'name = "dxtrade"\nrate_limit_per_s = 0.9\nrate_limit_burst = 1\nrate_limit_max_wait_ms = 3000\n', 1)


def test_gateway_limiter_keeps_under_the_venues_one_request_per_second(tmp_path):
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        async with _Gw(RATE_LIMITED).strategy(gw, "alpha") as s:
            acks = await asyncio.gather(*[
                s.place("dxtrade", "ETH-PERP", "buy", "1", price, client_order_id=f"r{i}")
                for i, price in enumerate(("2990", "2989", "2988"))])
            assert all(a.ok for a in acks)
            for i in range(3):
                await s.wait_status(f"r{i}", "OPEN")
            # the venue's own count: three orders at once under its 1/s limit, none refused
            assert sim.requests_429 == 0

    run(tmp_path, scenario, RATE_LIMITED)


# the wire itself, against a bare simulator: what the gateway would never send

async def _bare():
    sim = DxtradeSim([Product("EUR/USD", "EUR-USD", tick=scaled("0.00001"), lot=scaled("1"))],
                     username="u", password="p", account="default:ssp1", market_maker=False,
                     trade_limit_per_s=0)
    await sim.start()
    http = aiohttp.ClientSession()
    r = await http.post(f"{sim.rest_url}/dxsca-web/login", json={"username": "u", "domain": "default",
                                                                  "password": "p"})
    token = (await r.json())["sessionToken"]
    return sim, http, {"Authorization": f"DXAPI {token}"}


SEED_GROUP = {"orders": [
    {"orderCode": "80t1", "type": "LIMIT", "instrument": "EUR/USD", "quantity": "300000", "positionEffect": "OPEN",
     "side": "BUY", "limitPrice": "0.05", "tif": "GTC"},
    {"orderCode": "80t2", "type": "STOP", "instrument": "EUR/USD", "quantity": "0", "positionEffect": "CLOSE",
     "side": "SELL", "stopPrice": "0.7", "tif": "GTC"},
    {"orderCode": "80t3", "type": "LIMIT", "instrument": "EUR/USD", "quantity": "0", "positionEffect": "CLOSE",
     "side": "SELL", "limitPrice": "1.3", "tif": "GTC"}],
    "contingencyType": "IF-THEN"}
SEED_MODIFY = {"orderCode": "80t1", "type": "LIMIT", "instrument": "EUR/USD", "quantity": "200000",
               "positionEffect": "OPEN", "side": "BUY", "limitPrice": "0.04", "tif": "GTC"}


def test_wire_seed_requests_and_every_error_code():
    async def main():
        sim, http, auth = await _bare()
        url = f"{sim.rest_url}/dxsca-web/accounts/default%3Assp1/orders"
        try:
            r = await http.post(url, json=SEED_GROUP)
            assert r.status == 401
            r = await http.post(url, json=SEED_GROUP, headers=auth)
            assert r.status == 200
            ids = [x["orderId"] for x in (await r.json())["orderResponses"]]
            etag = r.headers["ETag"]
            listed = (await (await http.get(url, headers=auth)).json())["orders"]
            assert [o["orderId"] for o in listed] == ids and all(o["status"] == "WORKING" for o in listed)
            assert listed[0]["legs"][0]["price"] == 0.05 and listed[0]["legs"][0]["quantity"] == 300000
            assert [v["version"] for v in listed] == sorted(v["version"] for v in listed)

            async def put(body, headers):
                r = await http.put(url, json=body, headers=headers)
                return r.status, (await r.json() if r.content_type == "application/json" else None), r

            status, body, _ = await put(SEED_MODIFY, auth)
            assert (status, body["errorCode"]) == (403, "99")
            status, body, _ = await put(dict(SEED_MODIFY, orderCode="nope"), {**auth, "If-Match": etag})
            assert (status, body["errorCode"]) == (404, "2")
            status, body, _ = await put({k: v for k, v in SEED_MODIFY.items() if k != "limitPrice"},
                                        {**auth, "If-Match": etag})
            assert (status, body["errorCode"]) == (400, "33") and "price" in body["description"]
            status, body, _ = await put(SEED_MODIFY, {**auth, "If-Match": '"stale"'})
            assert status == 412
            status, body, _ = await put(dict(SEED_MODIFY, side="SELL"), {**auth, "If-Match": etag})
            assert status == 409 and "side" in body["description"]
            status, body, r = await put(SEED_MODIFY, {**auth, "If-Match": etag})
            assert status == 200 and body["orderId"] == ids[0] and body["updateOrderId"] != ids[0]
            assert r.headers["ETag"] != etag
            # the old ETag is stale now
            status, _, _ = await put(SEED_MODIFY, {**auth, "If-Match": etag})
            assert status == 412
            r = await http.delete(f"{url}/80t1", headers=auth)
            assert r.status == 403 and (await r.json())["errorCode"] == "99"
            # the trading limit: 1 request/s per session
            sim.trade_limit_per_s = 1
            first = await http.delete(f"{url}/80t1", headers={**auth, "If-Match": '"x"'})
            second = await http.delete(f"{url}/80t1", headers={**auth, "If-Match": '"x"'})
            assert first.status == 412 and second.status == 429
        finally:
            await http.close()
            await sim.stop()

    uvloop.run(main())


def test_modify_is_held_to_the_risk_limits_of_a_new_order(tmp_path):
    """A modify may not do what a new order may not: quantity and notional limits apply to
    the order as it would be after the change (limits: 100 and 1,000,000)."""
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        async with _Gw().strategy(gw, "alpha") as s:
            await s.place("dxtrade", "ETH-PERP", "buy", "1", "2990", client_order_id="r1")
            opened = await s.wait_status("r1", "OPEN")
            too_big = await s.modify("r1", quantity="5000")
            assert too_big.error.code == "risk_limit" and "quantity 5000 is over the limit 100" in too_big.error.message
            too_rich = await s.modify("r1", quantity="90", price="13455000")
            assert too_rich.error.code == "risk_limit" and "notional" in too_rich.error.message
            venue_order = sim.orders[int(opened.venue_order_id)]
            assert venue_order.quantity == scaled("1") and venue_order.limit == scaled("2990")
            assert (await s.modify("r1", quantity="2")).ok  # within the limits: goes
            assert (await s.wait_modify("r1", quantity="2")).quantity == "2"

    run(tmp_path, scenario)


def _oco(tag: str) -> list[dict]:
    return [dict(client_order_id=f"{tag}1", symbol="ETH-PERP", side="buy", quantity="1", price="2980"),
            dict(client_order_id=f"{tag}2", symbol="ETH-PERP", side="sell", quantity="1", price="3100")]


async def _all_open(s, cids: list[str]) -> None:
    """Until every one of cids is OPEN, in whatever order the venue opens them."""
    opened: set[str] = set()
    while len(opened) < len(cids):
        event = await s.wait_for(lambda e: isinstance(e, f.OrderUpdate) and e.order.status == "OPEN")
        opened.add(event.order.client_order_id)


async def _cancel_all_outcomes(s, cids: list[str], settle_s: float = 0.3) -> tuple[dict[str, f.OrderView], list]:
    """cancel_all, then every order's closing update and every cancel_reject (waiting settle_s
    past the last close for a late one)."""
    assert (await s.cancel_all("dxtrade")).ok
    closed: dict[str, f.OrderView] = {}
    rejects = []
    while True:
        try:
            event = await s.wait_for(lambda e: isinstance(e, (f.OrderUpdate, f.CancelReject)),
                                     settle_s if len(closed) == len(cids) else 5)
        except asyncio.TimeoutError:
            return closed, rejects
        if isinstance(event, f.CancelReject):
            rejects.append(event)
        elif event.order.status in ("CANCELED", "FILLED", "EXPIRED", "REJECTED"):
            closed[event.order.client_order_id] = event.order


def test_cancel_all_over_oco_groups_ends_every_order_canceled_without_a_cancel_reject(tmp_path):
    """The venue cancels an OCO group's other leg itself: our cancel of that leg finds it
    CANCELED (409 code 28, or 412 and a re-read) and that is its outcome, not a refusal."""
    async def scenario(gw):
        async with _Gw().strategy(gw, "alpha") as s:
            for tag in ("a", "b"):
                assert (await s.place_group("dxtrade", "oco", _oco(tag))).ok
            cids = ["a1", "a2", "b1", "b2"]
            await _all_open(s, cids)
            closed, rejects = await _cancel_all_outcomes(s, cids)
            assert rejects == []
            assert {cid: o.status for cid, o in closed.items()} == {cid: "CANCELED" for cid in cids}
            assert {o.status for o in await s.orders(open_only=False)} == {"CANCELED"}
            assert all(not o.open for o in gw.sims["dxtrade"].orders.values())

    run(tmp_path, scenario)


def test_cancel_all_over_oco_groups_behind_the_venues_rate_limit(tmp_path):
    """As above at the venue's 1 request/s: the other leg's cancel still waits in the line when
    the list shows the venue canceled it."""
    async def scenario(gw):
        async with _Gw(RATE_LIMITED).strategy(gw, "alpha") as s:
            for tag in ("a", "b"):
                assert (await s.place_group("dxtrade", "oco", _oco(tag))).ok
            cids = ["a1", "a2", "b1", "b2"]
            await _all_open(s, cids)
            closed, rejects = await _cancel_all_outcomes(s, cids)
            assert rejects == []
            assert {cid: o.status for cid, o in closed.items()} == {cid: "CANCELED" for cid in cids}
            assert gw.sims["dxtrade"].requests_429 == 0

    run(tmp_path, scenario, RATE_LIMITED, timeout_s=30)


def test_a_stop_is_untriggered_until_its_trigger_trades_then_triggered_and_filled(tmp_path):
    """DXtrade lists a resting stop WORKING (the seed's STOP order does): the gateway shows it
    UNTRIGGERED, as it shows the other venues' stops, until the venue reports it trading."""
    async def scenario(gw):
        sim = gw.sims["dxtrade"]
        reference_price(gw, "dxtrade", "ETH-PERP", "3000")  # a stop-market is valued at it
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place("dxtrade", "ETH-PERP", "sell", "0.5", None, type="market", stop_price="2900",
                                  client_order_id="sm")).ok
            assert (await s.place("dxtrade", "ETH-PERP", "buy", "1", "3010", stop_price="3005",
                                  client_order_id="sl")).ok
            assert (await s.place("dxtrade", "ETH-PERP", "buy", "1", "3110", stop_price="3100",
                                  client_order_id="sc")).ok
            waiting = {}
            while len(waiting) < 3:
                event = await s.wait_for(lambda e: isinstance(e, f.OrderUpdate))
                assert event.order.status in ("PENDING_NEW", "UNTRIGGERED"), event.order
                if event.order.status == "UNTRIGGERED":
                    waiting[event.order.client_order_id] = event.order
            assert waiting["sm"].stop_price == "2900" and waiting["sm"].type == "market"
            # as the venue lists them: WORKING, of type STOP / STOP_LIMIT, nothing filled
            listed = {c: sim_order(gw, view) for c, view in waiting.items()}
            assert {listed[c].status for c in waiting} == {"WORKING"}
            assert (listed["sm"].request.type, listed["sl"].request.type) == ("STOP", "STOP_LIMIT")
            wire = msgspec.json.decode(msgspec.json.encode(sim.wire(listed["sm"])))
            assert (wire["status"], wire["finalStatus"], wire["type"]) == ("WORKING", False, "STOP")
            assert wire["legs"][0]["price"] == 2900 and wire["legs"][0]["filledQuantity"] == 0
            await asyncio.sleep(0.1)  # polls of the list change nothing
            assert {o.status for o in await s.orders()} == {"UNTRIGGERED"}
            # a canceled stop never triggered
            assert (await s.cancel("sc")).ok
            assert (await s.wait_status("sc", "CANCELED")).filled == "0"
            await sim.set_last_price("ETH-PERP", "3004")
            await asyncio.sleep(0.1)
            assert gw.tracker.by_client("alpha", "sl").status.value == "UNTRIGGERED"
            await sim.set_last_price("ETH-PERP", "3005")  # the stop-limit buy fires, takes the 3003 ask
            await s.wait_status("sl", "TRIGGERED")
            done = await s.wait_status("sl", "FILLED")
            assert done.filled == "1" and done.avg_price == "3003" and not done.last_trades[0].is_maker
            await sim.set_last_price("ETH-PERP", "2900")  # the stop-market sell fires into the 2997 bid
            await s.wait_status("sm", "TRIGGERED")
            done = await s.wait_status("sm", "FILLED")
            assert done.filled == "0.5" and done.avg_price == "2997"

    run(tmp_path, scenario)
