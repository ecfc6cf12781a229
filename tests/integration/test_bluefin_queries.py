"""Bluefin's queries: the trade history is read page by page until the order's window is
covered (an order of 1,200 trades: more than a page of the most the venue gives, and more
than the 500 the adapter used to read), and one listing of a market's open orders answers
every order of it the resolver asks about."""
from __future__ import annotations

import asyncio
import time

from gateway.sim.engine import Side as SimSide
from gateway.venues.bluefin import schemas
from tests.contract.suite import VenueContract
from tests.contract.test_bluefin import BLUEFIN_CONFIG

VENUE, SYMBOL = "bluefin", "ETH-PERP"
E18 = 10**18
TRADES = 1200  # fills of 0.01 each (the market's lot): two pages of TRADES_PAGE_LIMIT
TRADES_ROUTE = f"GET {schemas.ACCOUNT_TRADES_PATH}"
LISTING_ROUTE = f"GET {schemas.OPEN_ORDERS_PATH}"


class _Gw(VenueContract):
    venue = VENUE
    # a 500 ms request timeout: the resolver's grace is 1 s
    venue_config = BLUEFIN_CONFIG.replace("generate_key = true", "generate_key = true\nrequest_timeout_ms = 500")


def run(tmp_path, scenario):
    _Gw().run(tmp_path, scenario, timeout_s=60)


async def until(predicate, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def filled_in_many_trades_unheard(gw, s, cid: str):
    """A resting buy of 12 at the best bid, filled by an outside seller in TRADES trades of
    0.01 while the account stream is held back (the gateway hears none of them)."""
    sim = gw.sims[VENUE]
    assert (await s.place(VENUE, SYMBOL, "buy", str(TRADES // 100), "3000", client_order_id=cid)).ok
    await s.wait_status(cid, "OPEN")
    order = gw.tracker.by_client("alpha", cid)
    sim.faults.hold_events = True
    for _ in range(TRADES):
        sim.take(SYMBOL, SimSide.SELL, 3000 * E18, E18 // 100)
    venue_order = sim.engine.get(order.venue_order_id)
    assert venue_order.status.name == "FILLED" and len(venue_order.trades) == TRADES
    sim.faults.held.clear()  # what was held back is lost
    sim.faults.hold_events = False
    return order, venue_order


def test_missed_trades_are_read_from_every_page_of_the_history(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], gw.venues[VENUE]
        async with _Gw().strategy(gw, "alpha") as s:
            order, venue_order = await filled_in_many_trades_unheard(gw, s, "big")
            # the order's update arrives (its filled total), its trades' frames never did
            frame = sim._frame(schemas.ACCOUNT_ORDER_UPDATE, schemas.ORDER_MATCHED,
                               sim._order_payload(venue_order, schemas.FILLED))
            for ws in list(sim.subscribers.get(ad.account.lower(), ())):
                await ws.send_str(frame)
            await until(lambda: order.status.name == "FILLED" and len(order.fills) == TRADES)
            assert order.booked == order.filled == order.quantity
            assert {f.trade_id for f in order.fills} == {t.trade_id for t in venue_order.trades}
            assert sim.requests_by_route[TRADES_ROUTE] == 2  # page 1 (1000 trades), page 2 (200)
            [view] = await s.orders(open_only=False)
            assert (view.status, view.filled, view.avg_price) == ("FILLED", "12", "3000")

    run(tmp_path, scenario)


def test_an_order_closed_while_unheard_books_all_its_trades_from_the_history(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], gw.venues[VENUE]
        async with _Gw().strategy(gw, "alpha") as s:
            order, venue_order = await filled_in_many_trades_unheard(gw, s, "gone")
            # a stream gap: the venue no longer lists it open; only its trade history can say
            ad.resolver.ask(order, "not among the venue's open orders")
            await until(lambda: len(ad.resolver) == 0)
            assert order.status.name == "FILLED" and not order.guessed
            assert len(order.fills) == TRADES and order.booked == order.quantity
            assert ad.resolver.resolved == 1 and ad.resolver.guessed == 0
            assert sim.requests_by_route[TRADES_ROUTE] == 2

    run(tmp_path, scenario)


def test_one_listing_answers_every_order_asked_about(tmp_path):
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], gw.venues[VENUE]
        async with _Gw().strategy(gw, "alpha") as s:
            cids = [f"r{i}" for i in range(40)]
            for cid in cids:
                assert (await s.place(VENUE, SYMBOL, "buy", "0.01", "2990", client_order_id=cid)).ok
            for cid in cids:
                await s.wait_status(cid, "OPEN")
            listings = sim.requests_by_route[LISTING_ROUTE]
            orders = [gw.tracker.by_client("alpha", cid) for cid in cids]
            for order in orders:  # e.g. after a stream gap: every one asked about
                ad.resolver.ask(order, "stream gap")
            await until(lambda: len(ad.resolver) == 0)
            assert ad.resolver.resolved == 40
            assert sim.requests_by_route[LISTING_ROUTE] - listings == 1  # not one per order
            assert all(o.status.name == "OPEN" for o in orders)

    run(tmp_path, scenario)


def test_an_order_filled_at_once_whose_reply_was_lost_is_found_by_its_trades(tmp_path):
    """The place's reply never reaches the gateway and the account stream is held back, so the
    venue never acknowledged the order as far as the gateway knows; the order crossed and filled
    at once, so the venue does not list it among the open orders. Once a request can no longer
    be on its way, its trades are looked for: FILLED with its trade, not closed as never received."""
    async def scenario(gw):
        sim, ad = gw.sims[VENUE], gw.venues[VENUE]

        def reply_lost(order, generation, resends, reply):
            ad.resolver.ask(order, "reply lost")

        ad._on_place_reply = reply_lost
        sim.faults.hold_events = True
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, SYMBOL, "buy", "0.01", "3100", client_order_id="x")).ok
            order = gw.tracker.by_client("alpha", "x")
            await until(lambda: order.venue_order_id is not None
                        and sim.engine.get(order.venue_order_id) is not None)
            assert sim.engine.get(order.venue_order_id).status.name == "FILLED"
            sim.faults.held.clear()  # the stream's news of it is lost
            await until(lambda: order.is_closed)
            assert order.status.value == "FILLED" and order.filled == E18 // 100 and len(order.fills) == 1
            assert [f.trade_id for f in order.fills] == [t.trade_id for t in sim.engine.get(order.venue_order_id).trades]
            sim.faults.hold_events = False

    run(tmp_path, scenario)
