"""The order lifecycle through the whole gateway against the Citrex simulator,
over real sockets. The simulator's market maker quotes ETH-PERP at
2997/2994/2991 bid and 3003/3006/3009 ask, 1 each."""
from __future__ import annotations

import asyncio

from gateway.ipc import frames as f
from tests.integration.harness import run_gateway, strategy

E18 = 10**18


def test_place_ack_open_then_fill(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            ack = await s.place("citrex", "ETH-PERP", "buy", "0.5", "2999.5", client_order_id="b1")
            assert ack.ok and ack.order_id
            opened = await s.wait_status("b1", "OPEN")
            assert opened.venue_order_id and opened.filled == "0" and opened.remaining == "0.5"
            # an outside trader sells into our bid
            await gw.sims["citrex"].take_and_publish(1002, False, 2999 * E18, E18 // 2)
            filled = await s.wait_status("b1", "FILLED")
            assert filled.filled == "0.5" and filled.remaining == "0"
            assert filled.avg_price == "2999.5"
            assert len(filled.last_trades) == 1 and filled.last_trades[0].is_maker is True
            [order] = await s.orders(open_only=False)
            assert order.status == "FILLED"

    run_gateway(tmp_path, scenario)


def test_marketable_limit_fills_against_the_book_at_maker_prices(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1.5", "3006", client_order_id="t1")
            done = await s.wait_status("t1", "FILLED")
            assert done.filled == "1.5"
            # 1 @ 3003 and 0.5 @ 3006: avg 3004
            assert done.avg_price == "3004"
            assert sorted(t.price for t in done.last_trades) == ["3003", "3006"]

    run_gateway(tmp_path, scenario)


def test_ioc_partial_fill_cancels_the_rest(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1.5", "3003", tif="ioc", client_order_id="i1")
            done = await s.wait_status("i1", "CANCELED")
            assert done.filled == "1" and done.remaining == "0"
            assert "IOC" in done.reason

    run_gateway(tmp_path, scenario)


def test_fok_that_cannot_fill_trades_nothing(tmp_path):
    async def scenario(gw):
        sim = gw.sims["citrex"]
        before = sim.engine.depth("1002")
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "5", "3003", tif="fok", client_order_id="k1")
            done = await s.wait_status("k1", "CANCELED")
            assert done.filled == "0" and not done.last_trades
        assert sim.engine.depth("1002") == before

    run_gateway(tmp_path, scenario)


def test_post_only_that_would_cross_is_rejected_with_reason(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            ack = await s.place("citrex", "ETH-PERP", "buy", "1", "3003", post_only=True, client_order_id="p1")
            assert ack.ok  # sent: the venue decides
            done = await s.wait_status("p1", "REJECTED")
            assert "post" in done.reason.lower()
            ok = await s.place("citrex", "ETH-PERP", "buy", "1", "2998", post_only=True, client_order_id="p2")
            assert ok.ok
            assert (await s.wait_status("p2", "OPEN")).post_only

    run_gateway(tmp_path, scenario)


def test_cancel_open_order(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "sell", "1", "3100", client_order_id="c1")
            await s.wait_status("c1", "OPEN")
            ack = await s.cancel("c1")
            assert ack.ok
            assert (await s.wait_status("c1", "PENDING_CANCEL")).status == "PENDING_CANCEL"
            done = await s.wait_status("c1", "CANCELED")
            assert done.remaining == "0"
            assert not gw.sims["citrex"].engine.get(done.venue_order_id).is_open

    run_gateway(tmp_path, scenario)


def test_cancel_of_a_known_filled_order_is_refused_at_once(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1", "3003", client_order_id="f1")
            await s.wait_status("f1", "FILLED")
            ack = await s.cancel("f1")
            assert not ack.ok and ack.error.code == "order_closed" and "FILLED" in ack.error.message

    run_gateway(tmp_path, scenario)


def test_cancel_racing_a_fill_gets_cancel_reject_then_filled(tmp_path):
    async def scenario(gw):
        sim = gw.sims["citrex"]
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1", "2999", client_order_id="r1")
            await s.wait_status("r1", "OPEN")
            sim.faults.hold_events = True  # the fill happens, the gateway does not hear of it yet
            await sim.take_and_publish(1002, False, 2999 * E18, E18)
            assert (await s.cancel("r1")).ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "r1" and "FILLED" in reject.reason
            await sim.release_events()
            done = await s.wait_status("r1", "FILLED")
            assert done.filled == "1"

    run_gateway(tmp_path, scenario)


def test_fill_pushed_before_rest_reply_ends_filled_not_open(tmp_path):
    async def scenario(gw):
        gw.sims["citrex"].faults.reorder_ack = True
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "0.5", "3003", client_order_id="o1")
            seen = []
            while not seen or seen[-1] != "FILLED":
                seen.append((await s.wait_for(lambda e: isinstance(e, f.OrderUpdate))).order.status)
            # the stale REST reply (OPEN) comes after: it must not regress the order
            await asyncio.sleep(0.2)
            [order] = await s.orders(open_only=False)
            assert order.status == "FILLED" and order.filled == "0.5"
            assert gw.router.tracker.unknown_transitions >= 1

    run_gateway(tmp_path, scenario)


def test_duplicate_venue_events_book_each_fill_once(tmp_path):
    async def scenario(gw):
        gw.sims["citrex"].faults.duplicate_events = True
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "2", "2999", client_order_id="d1")
            await s.wait_status("d1", "OPEN")
            await gw.sims["citrex"].take_and_publish(1002, False, 2999 * E18, E18)
            part = await s.wait_status("d1", "PARTIALLY_FILLED")
            assert part.filled == "1"
            await asyncio.sleep(0.2)
            [order] = await s.orders()
            assert order.filled == "1" and order.remaining == "1"
            assert gw.router.tracker.duplicate_fills >= 1

    run_gateway(tmp_path, scenario)


def test_cancel_and_replace(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1", "2990", client_order_id="a1")
            await s.wait_status("a1", "OPEN")
            ack = await s.replace("a1", "2", "2992.5", new_client_order_id="a2")
            assert ack.ok
            old = await s.wait_status("a1", "CANCELED")
            assert old.replaced_by == ack.order_id and "a2" in old.reason
            new = await s.wait_status("a2", "OPEN")
            assert new.price == "2992.5" and new.quantity == "2" and new.replaces == old.order_id

    run_gateway(tmp_path, scenario)


def _filled_behind_the_gateways_back(gw, s, cid):
    async def go():
        sim = gw.sims["citrex"]
        await s.place("citrex", "ETH-PERP", "buy", "1", "2999", client_order_id=cid)
        await s.wait_status(cid, "OPEN")
        sim.faults.hold_events = True
        await sim.take_and_publish(1002, False, 2999 * E18, E18)
    return go()


def test_replace_whose_cancel_fails_places_nothing_without_proceed(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await _filled_behind_the_gateways_back(gw, s, "x1")
            assert (await s.replace("x1", "1", "2995", new_client_order_id="x2")).ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "x1"
            new = await s.wait_status("x2", "REJECTED")
            assert "cancel of the old order failed" in new.reason
            await gw.sims["citrex"].release_events()
            assert (await s.wait_status("x1", "FILLED")).filled == "1"

    run_gateway(tmp_path, scenario)


def test_replace_whose_cancel_fails_still_places_with_proceed_on_failure(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            await _filled_behind_the_gateways_back(gw, s, "y1")
            gw.sims["citrex"].faults.hold_events = False
            ack = await s.replace("y1", "1", "2995", new_client_order_id="y2", proceed_on_failure=True)
            assert ack.ok
            reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
            assert reject.client_order_id == "y1"
            new = await s.wait_status("y2", "OPEN")
            assert new.price == "2995"

    run_gateway(tmp_path, scenario)


def test_strategies_cannot_see_or_touch_each_others_orders(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as a, strategy(gw, "beta") as b:
            ack = await a.place("citrex", "ETH-PERP", "buy", "1", "2980", client_order_id="same")
            await a.wait_status("same", "OPEN")
            assert await b.orders(open_only=False) == []
            refused = await b.cancel("same")
            assert not refused.ok and refused.error.code == "unknown_order"
            refused = await b.cancel(order_id=ack.order_id)
            assert not refused.ok and refused.error.code == "not_your_order"
            # beta may use the same client id for its own order
            assert (await b.place("citrex", "ETH-PERP", "buy", "1", "2981", client_order_id="same")).ok
            await b.wait_status("same", "OPEN")
            [mine] = await a.orders()
            assert mine.price == "2980"

    run_gateway(tmp_path, scenario)
