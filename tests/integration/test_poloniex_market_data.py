"""Poloniex's public WebSocket as the reference prices' feed, against the simulator over real
sockets: ccxt.pro (watch_order_book, watch_ticker) as the oracle of the frames, the price
following the book with no REST poll while the stream is up, and the stream's faults (garbage,
lost frames, a dropped connection, silence): each a line and a count, never a crash, and the
prices come back."""
from __future__ import annotations

import logging

from gateway.sim.base import scaled
from gateway.venues.poloniex.config import PoloniexConfig
from tests.contract.suite import VenueContract
from tests.integration.test_poloniex_ccxt import ccxt_client
from tests.integration.test_poloniex_reference import SYMBOLS_ONLY, V, ccxt_e18, fresh_quote, run, until

ETH = "ETH_USDT"


async def streaming(gw):
    """The adapter's feed once its stream is up and has given ETH-PERP's price."""
    feed = gw.venues[V].public_feed
    await until(lambda: feed.stream.up.is_set() and ETH in feed.books)
    await fresh_quote(gw)
    return feed


def sim_top(sim, market: str = ETH) -> tuple[dict[int, int], dict[int, int]]:
    bids, asks = sim.engine.depth(market, 20)
    return dict(bids), dict(asks)


def errors(gw) -> int:
    return gw.metrics.venue_errors.get((V, "market_data"), 0)


def test_the_public_url_is_the_private_ones_neighbour_unless_given():
    def config(**kw) -> PoloniexConfig:
        return PoloniexConfig(name="p", api_key_env="K", api_secret_env="S", **kw)

    assert config(ws_url="wss://ws.poloniex.com/ws/private").market_data_ws_url() == "wss://ws.poloniex.com/ws/public"
    assert config(ws_url="ws://127.0.0.1:9/ws/private", public_ws_url="ws://h/x").market_data_ws_url() == "ws://h/x"
    assert config(ws_url="wss://ws.poloniex.com/ws/private", public_ws_url="").market_data_ws_url() == ""
    assert config(ws_url="wss://proxy.example/poloniex").market_data_ws_url() == ""  # not guessed: polled


def test_ccxt_pro_watch_order_book_and_watch_ticker_agree_with_what_the_adapter_reads(tmp_path):
    async def scenario(gw):
        sim, adapter = gw.sims[V], gw.venues[V]
        feed = await streaming(gw)
        async with ccxt_client(sim, pro=True) as ex:
            book = await ex.watch_order_book("ETH/USDT")
            theirs = ({ccxt_e18(p): ccxt_e18(q) for p, q in book["bids"]},
                      {ccxt_e18(p): ccxt_e18(q) for p, q in book["asks"]})
            assert theirs == sim_top(sim) == (feed.books[ETH].bids, feed.books[ETH].asks)
            assert (ccxt_e18(book["bids"][0][0]), ccxt_e18(book["asks"][0][0])) == (scaled("2997"), scaled("3003"))
            ticker = await ex.watch_ticker("ETH/USDT")
            assert ccxt_e18(ticker["markPrice"]) == scaled("3000") == feed.marks[ETH]
            assert not ticker["bid"] and not ticker["ask"]  # the channel has none: the book gives them

            # ccxt.pro applies each frame as it comes, to the book and tickers it holds
            def ccxt_top():
                book = ex.orderbooks["ETH/USDT"]
                return ccxt_e18(book["bids"][0][0]), ccxt_e18(book["asks"][0][0])

            async with VenueContract.strategy(None, gw, "alpha") as s:
                assert (await s.place(V, "ETH-PERP", "buy", "0.5", "2999", client_order_id="m1")).ok
                await s.wait_status("m1", "OPEN")
                await until(lambda: ccxt_top() == (scaled("2999"), scaled("3003")))
                ours = await fresh_quote(gw, check=lambda q: q.bid == scaled("2999"))
                assert ccxt_e18(ex.orderbooks["ETH/USDT"]["bids"][0][1]) == scaled("0.5") \
                    == feed.books[ETH].bids[scaled("2999")]
                await until(lambda: ccxt_e18(ex.tickers["ETH/USDT"]["markPrice"]) == scaled("3001"))
                ours = await fresh_quote(gw, check=lambda q: q.mark == scaled("3001"))
                assert (ours.bid, ours.ask) == (scaled("2999"), scaled("3003"))

                # a level gone: quantity 0 in the update removes it, for ccxt.pro and for us
                assert (await s.cancel("m1")).ok
                await s.wait_status("m1", "CANCELED")
                await until(lambda: ccxt_top() == (scaled("2997"), scaled("3003")))
                await fresh_quote(gw, check=lambda q: q.bid == scaled("2997"))
                book = ex.orderbooks["ETH/USDT"]
                theirs = ({ccxt_e18(p): ccxt_e18(q) for p, q in book["bids"]},
                          {ccxt_e18(p): ccxt_e18(q) for p, q in book["asks"]})
                assert theirs == sim_top(sim) == (feed.books[ETH].bids, feed.books[ETH].asks)
        assert not sim.unknown_fields
        assert adapter.metrics.venue_errors.get((V, "market_data"), 0) == 0

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_the_price_follows_the_book_through_the_stream_and_no_ticker_is_polled(tmp_path):
    async def scenario(gw):
        sim, prices = gw.sims[V], gw.parts.reference
        feed = await streaming(gw)
        polled = sim.ticker_requests
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "sell", "1", "3001", client_order_id="a1")).ok
            await s.wait_status("a1", "OPEN")
            moved = await fresh_quote(gw, check=lambda q: q.ask == scaled("3001"))
            assert (moved.bid, moved.mark) == (scaled("2997"), scaled("2999"))
            # a quiet book: each pong restamps the price it holds, so its age stays small
            pings = sim.public.pings
            again = await fresh_quote(gw, after_ns=moved.received_ns)
            assert again[:3] == moved[:3] and sim.public.pings > pings
            assert prices.age_s(V, "ETH-PERP") < feed.silent_ns / 1e9
            assert (await s.cancel("a1")).ok
            await fresh_quote(gw, check=lambda q: q.ask == scaled("3003"))
        btc = await fresh_quote(gw, "BTC-PERP")
        assert btc.mark == scaled("65000") and btc.bid < btc.mark < btc.ask
        assert sim.ticker_requests == polled  # nothing polled while the stream is up

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_garbage_frames_are_counted_and_dropped_and_the_prices_go_on(tmp_path, caplog):
    async def scenario(gw):
        sim, reference = gw.sims[V], gw.references[V]
        feed = await streaming(gw)
        before, counted = errors(gw), reference.feed_errors
        with caplog.at_level(logging.WARNING, logger="gateway.reference"):
            sim.public.fault = "garbage"  # every frame followed by one that does not parse
            async with VenueContract.strategy(None, gw, "alpha") as s:
                assert (await s.place(V, "ETH-PERP", "buy", "1", "2998", client_order_id="g1")).ok
                await fresh_quote(gw, check=lambda q: q.bid == scaled("2998"))
                await until(lambda: reference.feed_errors > counted)
                sim.public.fault = None
                book_id = feed.books[ETH].id
                # read as JSON, but not a price: the frame is dropped whole, the book unchanged
                await sim.public.inject('{"channel":"book_lv2","action":"update","data":[{"symbol":"ETH_USDT",'
                                        f'"lastId":{book_id},"id":{book_id + 1},"bids":[["2999.5","1"],'
                                        '["x","1"]],"asks":[]}]}')
                await sim.public.inject('{"channel":"book_lv2","action":"update","data":[{"symbol":"ETH_USDT",'
                                        f'"lastId":{book_id},"id":{book_id + 1},"bids":[["2999.5","-1"]]}}]}}')
                await sim.public.inject('{"channel":"ticker","data":[{"markPrice":"1"}]}')
                await sim.public.inject('{"channel":"book_lv2","action":"replace","data":[]}')
                await sim.public.inject('{"event":"error","message":"Platform in maintenance mode"}')
                await until(lambda: reference.feed_errors >= counted + 6)
                assert feed.books[ETH].id == book_id and scaled("2999.5") not in feed.books[ETH].bids
                # the book goes on from where it was
                assert (await s.cancel("g1")).ok
                await fresh_quote(gw, check=lambda q: q.bid == scaled("2997"))
                assert (feed.books[ETH].bids, feed.books[ETH].asks) == sim_top(sim)
        assert errors(gw) >= before + 6 and gw.parts.reference.bad_messages[V] >= 6
        lines = [r.getMessage() for r in caplog.records if "unreadable price message dropped" in r.getMessage()]
        assert any("maintenance" in x for x in lines) and any("'x'" in x for x in lines)

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_a_lost_frame_is_noticed_and_the_book_read_again(tmp_path, caplog):
    async def scenario(gw):
        sim, reference = gw.sims[V], gw.references[V]
        feed = await streaming(gw)
        book_id, counted = feed.books[ETH].id, reference.feed_errors
        with caplog.at_level(logging.WARNING, logger="gateway.reference"):
            # an update that does not follow the last one read: frames were lost in between
            await sim.public.inject('{"channel":"book_lv2","action":"update","data":[{"symbol":"ETH_USDT",'
                                    f'"lastId":{book_id + 5},"id":{book_id + 6},"bids":[["1","1"]],"asks":[]}}]}}')
            # counted, the book dropped and asked for again (one frame's work), then its snapshot
            await until(lambda: reference.feed_errors > counted and ETH in feed.books and ETH not in feed.waiting)
        assert scaled("1") not in feed.books[ETH].bids  # never applied: a new snapshot was asked for
        assert (feed.books[ETH].bids, feed.books[ETH].asks) == sim_top(sim)
        assert any("frames lost" in r.getMessage() and "read again" in r.getMessage() for r in caplog.records)
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2998", client_order_id="l1")).ok
            await fresh_quote(gw, check=lambda q: q.bid == scaled("2998"))

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_a_stream_the_venue_drops_reconnects_and_the_prices_resume(tmp_path):
    async def scenario(gw):
        sim = gw.sims[V]
        feed = await streaming(gw)
        reconnects = feed.stream.reconnects
        await sim.public.drop()
        await until(lambda: feed.stream.reconnects > reconnects and feed.stream.up.is_set() and ETH in feed.books)
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "sell", "1", "3002", client_order_id="d1")).ok
            await fresh_quote(gw, check=lambda q: q.ask == scaled("3002"))
        polled = sim.ticker_requests
        await fresh_quote(gw, after_ns=gw.parts.reference.quote(V, "ETH-PERP").received_ns)
        assert sim.ticker_requests == polled  # streamed again, not polled

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_a_silent_stream_lets_the_price_age_then_is_dropped_and_comes_back(tmp_path, caplog):
    async def scenario(gw):
        sim, prices = gw.sims[V], gw.parts.reference
        feed = await streaming(gw)
        task = gw.references[V]._tasks[-1]
        before, reconnects = errors(gw), feed.stream.reconnects
        silent_s = feed.silent_ns / 1e9
        with caplog.at_level(logging.WARNING, logger="gateway.venues.poloniex"):
            sim.public.fault = "silent"  # no frame, no pong
            sim.prices_fault = "silent"  # and the tickers, polled meanwhile, do not answer either
            await until(lambda: prices.age_s(V, "ETH-PERP") > silent_s)
            await until(lambda: feed.stream.reconnects > reconnects)
        assert not task.done()
        assert errors(gw) > before
        assert any("public stream" in r.getMessage() and "reconnecting" in r.getMessage() for r in caplog.records)
        stale = prices.quote(V, "ETH-PERP")
        sim.public.fault = None
        sim.prices_fault = None
        await fresh_quote(gw, after_ns=stale.received_ns)
        await until(lambda: feed.stream.up.is_set() and ETH in feed.books)
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2998", client_order_id="q1")).ok
            await fresh_quote(gw, check=lambda q: q.bid == scaled("2998"))

    run(tmp_path, SYMBOLS_ONLY, scenario)
