"""Poloniex reference data against the simulator over real sockets: the venue's markets
checked against the config (and filling a symbols-only one), refreshed (halts, delistings,
tick changes), the reference prices (streamed, and polled from its tickers when no stream is
configured), and each fault of the market list and the tickers a log line and a count, never a
crash (the public stream's own faults: test_poloniex_market_data.py). ccxt, the client
Poloniex users run, is the oracle: its load_markets and fetch_ticker read the same simulator,
and must agree with what the adapter reads."""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
import uvloop

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.reference.instruments import HALTED, TRADING, InstrumentMismatch, parse_size
from gateway.reference.sync import ReferenceUnavailable
from gateway.sim.base import scaled
from gateway.sim.poloniex import CATALOGUE
from tests.contract.suite import SERVER, VenueContract
from tests.integration.test_poloniex_ccxt import ccxt_client

V = "poloniex"
E18 = 10**18

VENUE = """
[[venues]]
kind = "poloniex"
name = "poloniex"
api_key_file = "{tmp}/poloniex.key"
api_secret_file = "{tmp}/poloniex.secret"
generate_key = true
reference_poll_secs = 0.05
request_timeout_ms = 500
"""
SIM = """
[venues.sim]
mid_prices = { ETH-PERP = "3000", BTC-PERP = "65000" }
market_maker_levels = 3
market_maker_quantity = "1"
"""
SYMBOLS_ONLY = VENUE + 'symbols = ["ETH-PERP", "BTC-PERP"]\n' + SIM
# no public stream: the tickers polled (what also runs while the stream is down)
POLLED = VENUE + 'public_ws_url = ""\nsymbols = ["ETH-PERP", "BTC-PERP"]\n' + SIM


def blocks(eth: str = 'product_id = "ETH_USDT"\ntick_size = "0.01"\nlot_size = "0.0001"\nmin_quantity = "0.0001"'):
    return VENUE + SIM + "[venues.instruments.ETH-PERP]\n" + eth + "\n"


class _Gw(VenueContract):
    venue = V

    def __init__(self, venue_config: str):
        self.venue_config = venue_config


def run(tmp_path, venue_config: str, scenario):
    _Gw(venue_config).run(tmp_path, scenario, timeout_s=20)


def ccxt_e18(value) -> int:
    """A number ccxt parsed (a float) as an e18 int, through its shortest decimal text."""
    return parse_size(format(Decimal(repr(value)), "f"))


async def until(condition, pause: float = 0.02):
    """Wait for a condition the gateway reaches on its own (bounded by the scenario's timeout)."""
    while not condition():
        await asyncio.sleep(pause)


async def fresh_quote(gw, symbol: str = "ETH-PERP", after_ns: int = 0, check=lambda q: True):
    prices = gw.parts.reference
    await until(lambda: (q := prices.quote(V, symbol)) is not None and q.received_ns > after_ns and check(q))
    return prices.quote(V, symbol)


# the official client as oracle

def test_ccxt_load_markets_and_fetch_ticker_agree_with_what_the_adapter_reads(tmp_path):
    async def scenario(gw):
        sim, adapter = gw.sims[V], gw.venues[V]
        sim.halt("SOL_USDT", "POST_ONLY")
        private = sim.requests
        ours = {x.product_id: x for x in await adapter.list_instruments()}
        async with ccxt_client(sim) as ex:
            markets = await ex.load_markets()
            spot = {m["id"]: m for m in markets.values() if m["spot"]}
            assert set(spot) == set(ours) == {p.symbol for p in CATALOGUE}
            for market_id, m in spot.items():
                listing = ours[market_id]
                assert (listing.base, listing.quote) == (m["base"], m["quote"])
                assert listing.tick == ccxt_e18(m["precision"]["price"])
                assert listing.lot == ccxt_e18(m["precision"]["amount"])
                assert listing.min_quantity == ccxt_e18(m["limits"]["amount"]["min"])
                assert (listing.status == TRADING) is m["active"]
            assert ours["SOL_USDT"].status == HALTED and ours["ETH_USDT"].status == TRADING
            assert ours["ETH_USDT"].tick == scaled("0.01") and ours["BTC_USDT"].lot == scaled("0.000001")

            listing = gw.references[V].listings["ETH-PERP"]
            ticker = await ex.fetch_ticker("ETH/USDT")
            bid, ask, mark = (await adapter.fetch_quotes({"ETH-PERP": listing}))["ETH-PERP"]
            assert (bid, ask) == (ccxt_e18(ticker["bid"]), ccxt_e18(ticker["ask"])) == (scaled("2997"), scaled("3003"))
            assert mark == ccxt_e18(ticker["markPrice"]) == scaled("3000")
            assert ticker["symbol"] == "ETH/USDT" and ticker["bidVolume"] == 1 and ticker["askVolume"] == 1
            # a market nobody quotes: ccxt reads no bid or ask, nor does the adapter
            sol = ours["SOL_USDT"]
            empty = await ex.fetch_ticker("SOL/USDT")
            assert not empty["bid"] and not empty["ask"]
            assert (await adapter.fetch_quotes({"SOL": sol}))["SOL"] == (None, None, None)
        assert sim.requests == private  # all of it public

    run(tmp_path, blocks(), scenario)


# instruments at start

def test_symbols_only_config_is_filled_from_the_venue_and_trades(tmp_path):
    async def scenario(gw):
        adapter = gw.venues[V]
        eth, btc = adapter.instruments["ETH-PERP"], adapter.instruments["BTC-PERP"]
        # ETH is listed against USDT and BTC: the default quote picks ETH_USDT
        assert (eth.product_id, eth.tick_size, eth.lot_size, eth.min_quantity) == ("ETH_USDT", "0.01", "0.0001",
                                                                                   "0.0001")
        assert (btc.product_id, btc.tick_size, btc.lot_size) == ("BTC_USDT", "0.01", "0.000001")
        assert adapter.unavailable == {}
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "BTC-PERP", "buy", "0.000123", "64000.01", client_order_id="b1")).ok
            assert (await s.wait_status("b1", "OPEN")).venue_order_id
            assert gw.sims[V].received[-1][1]["symbol"] == "BTC_USDT"
            assert (await s.place(V, "ETH-PERP", "sell", "0.0005", "2997", client_order_id="e1")).ok
            assert (await s.wait_status("e1", "FILLED")).filled == "0.0005"

    run(tmp_path, SYMBOLS_ONLY, scenario)


@pytest.mark.parametrize("eth, words", [
    # ETH-PERP carrying BTC-PERP's product id
    ('product_id = "BTC_USDT"\ntick_size = "0.01"\nlot_size = "0.000001"\nmin_quantity = "0.000001"',
     ("product_id", "'BTC_USDT'", "ETH_USDT")),
    # the base against another quote: not the market "ETH-PERP" means here
    ('product_id = "ETH_BTC"\ntick_size = "0.00001"\nlot_size = "0.0001"\nmin_quantity = "0.0001"',
     ("product_id", "'ETH_BTC'", "ETH_USDT")),
    ('product_id = "ETH_USDTX"\ntick_size = "0.01"\nlot_size = "0.0001"\nmin_quantity = "0.0001"',
     ("product_id", "'ETH_USDTX'", "not listed")),
    ('product_id = "ETH_USDT"\ntick_size = "0.001"\nlot_size = "0.0001"\nmin_quantity = "0.0001"',
     ("tick_size", "config 0.001", "venue 0.01")),
    ('product_id = "ETH_USDT"\ntick_size = "0.01"\nlot_size = "0.00015"\nmin_quantity = "0.0001"',
     ("lot_size", "config 0.00015", "venue 0.0001")),
    ('product_id = "ETH_USDT"\ntick_size = "0.01"\nlot_size = "0.0001"\nmin_quantity = "0.00001"',
     ("min_quantity", "config 0.00001", "venue 0.0001")),
])
def test_a_config_that_is_not_the_venues_refuses_to_start(tmp_path, eth, words):
    async def main():
        with pytest.raises(InstrumentMismatch) as caught:
            gw = await Gateway.start(parse_config((SERVER + blocks(eth)).replace("{tmp}", str(tmp_path))))
            await gw.stop()
        message = str(caught.value)
        for word in ("venue poloniex", "symbol ETH-PERP", *words):
            assert word in message, (word, message)

    uvloop.run(main())


def test_a_config_stricter_than_the_venue_starts_and_says_so(tmp_path, caplog):
    stricter = 'product_id = "ETH_USDT"\ntick_size = "0.1"\nlot_size = "0.001"\nmin_quantity = "0.01"'

    async def scenario(gw):
        lines = gw.references[V].stricter
        assert any("tick_size" in x and "config 0.1" in x and "venue 0.01" in x for x in lines)
        assert any("min_quantity" in x and "config 0.01" in x for x in lines)
        assert gw.venues[V].instruments["ETH-PERP"].tick_size == "0.1"  # the config's, stricter, is kept
        async with VenueContract.strategy(None, gw, "alpha") as s:
            refused = await s.place(V, "ETH-PERP", "buy", "0.01", "2990.05", client_order_id="x")
            assert not refused.ok and refused.error.code == "bad_price"

    with caplog.at_level(logging.INFO, logger="gateway.reference"):
        run(tmp_path, blocks(stricter), scenario)
    assert any("stricter" in r.getMessage() and "(allowed)" in r.getMessage() for r in caplog.records)


# the refresh

def test_halted_then_delisted_then_back_refuses_new_orders_and_lets_cancels_pass(tmp_path):
    async def scenario(gw):
        sim, reference = gw.sims[V], gw.references[V]
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2990", client_order_id="r1")).ok
            await s.wait_status("r1", "OPEN")
            sim.halt("ETH-PERP")
            await reference.refresh()
            assert reference.listings["ETH-PERP"].status == HALTED
            refused = await s.place(V, "ETH-PERP", "buy", "1", "2991", client_order_id="r2")
            assert not refused.ok and refused.error.code == "instrument_unavailable"
            assert "PAUSE" not in refused.error.message and "halted" in refused.error.message
            assert (await s.place(V, "BTC-PERP", "buy", "0.001", "64000", client_order_id="b1")).ok  # others trade
            assert (await s.cancel("r1")).ok
            await s.wait_status("r1", "CANCELED")

            sim.resume("ETH-PERP")
            await reference.refresh()
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2991", client_order_id="r3")).ok
            await s.wait_status("r3", "OPEN")

            errors = gw.metrics.venue_errors.get((V, "instrument_list"), 0)
            sim.delist("ETH-PERP")
            await reference.refresh()
            assert gw.metrics.venue_errors[(V, "instrument_list")] == errors + 1
            refused = await s.place(V, "ETH-PERP", "buy", "1", "2992", client_order_id="r4")
            assert not refused.ok and refused.error.code == "instrument_unavailable"
            assert "no such market" in refused.error.message
            assert (await s.cancel("r3")).ok  # the venue keeps the resting order: it can be canceled
            await s.wait_status("r3", "CANCELED")
            assert (await s.place(V, "BTC-PERP", "buy", "0.001", "64000", client_order_id="b2")).ok

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_a_tick_change_on_the_venue_is_applied_and_logged(tmp_path, caplog):
    async def scenario(gw):
        sim, adapter = gw.sims[V], gw.venues[V]
        sim.set_sizes("ETH-PERP", tick="0.1", min_quantity="0.001")
        with caplog.at_level(logging.WARNING, logger="gateway.reference"):
            await gw.references[V].refresh()
        assert adapter.steps["ETH-PERP"].tick == scaled("0.1")
        assert adapter.instruments["ETH-PERP"].min_quantity == "0.001"
        assert any("tick changed" in r.getMessage() and "0.01 -> 0.1" in r.getMessage() for r in caplog.records)
        async with VenueContract.strategy(None, gw, "alpha") as s:
            refused = await s.place(V, "ETH-PERP", "buy", "1", "2990.05", client_order_id="t1")
            assert not refused.ok and refused.error.code == "bad_price"
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2990.1", client_order_id="t2")).ok
            await s.wait_status("t2", "OPEN")

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_an_unreadable_or_empty_market_list_is_a_line_and_a_count_and_changes_nothing(tmp_path, caplog):
    async def scenario(gw):
        sim, adapter, reference = gw.sims[V], gw.venues[V], gw.references[V]
        before = dict(adapter.instruments)
        for fault in ("garbage", "empty"):
            sim.markets_fault = fault
            errors = gw.metrics.venue_errors.get((V, "instrument_list"), 0)
            with pytest.raises(ReferenceUnavailable):
                await reference.refresh()
            assert gw.metrics.venue_errors[(V, "instrument_list")] == errors + 1
            assert adapter.instruments == before and adapter.unavailable == {}
        # at start: the venue's list cannot be read, the config's blocks are traded, asked again later
        with caplog.at_level(logging.ERROR, logger="gateway.reference"):
            await reference.load()
        [line] = [r.getMessage() for r in caplog.records if "cannot read its instrument list" in r.getMessage()]
        assert "venue poloniex" in line and "starting from the config" in line
        sim.markets_fault = None
        await reference.refresh()
        assert reference.listings["ETH-PERP"].product_id == "ETH_USDT"
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2990", client_order_id="u1")).ok
            await s.wait_status("u1", "OPEN")

    run(tmp_path, blocks(), scenario)


def test_a_market_without_readable_sizes_is_left_out_not_guessed():
    from gateway.venues.poloniex import schemas as s
    from gateway.venues.poloniex.reference import listing_of

    markets = s.markets_decoder.decode(
        b'[{"symbol":"X_USDT","baseCurrencyName":"X","quoteCurrencyName":"USDT","state":"NORMAL",'
        b'"symbolTradeLimit":{"priceScale":2,"minQuantity":"1"}},'
        b'{"symbol":"Y_USDT","state":"NORMAL","symbolTradeLimit":{"priceScale":2,"quantityScale":99,'
        b'"minQuantity":"1"}},{"symbol":"Z_USDT","state":"NORMAL"},'
        b'{"symbol":"W_USDT","state":"PAUSE","symbolTradeLimit":{"priceScale":2,"quantityScale":3,'
        b'"minQuantity":"0.005"}}]')
    assert [listing_of(m) for m in markets[:3]] == [None, None, None]
    w = listing_of(markets[3])
    assert (w.base, w.quote, w.tick, w.lot, w.min_quantity, w.status) == (
        "W", "USDT", scaled("0.01"), scaled("0.001"), scaled("0.005"), HALTED)


# prices

@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "polled"])
def test_the_reference_price_appears_and_moves_with_the_book(tmp_path, streamed):
    async def scenario(gw):
        assert (gw.venues[V].public_feed is not None) is streamed
        quote = await fresh_quote(gw)
        assert (quote.bid, quote.ask, quote.mark) == (scaled("2997"), scaled("3003"), scaled("3000"))
        assert gw.parts.risk.reference.price(V, "ETH-PERP") == scaled("3000")
        assert gw.parts.reference.age_s(V, "ETH-PERP") is not None
        async with VenueContract.strategy(None, gw, "alpha") as s:
            assert (await s.place(V, "ETH-PERP", "buy", "1", "2999", client_order_id="m1")).ok
            await s.wait_status("m1", "OPEN")
            moved = await fresh_quote(gw, check=lambda q: q.bid == scaled("2999"))
            assert (moved.ask, moved.mark) == (scaled("3003"), scaled("3001"))
        btc = await fresh_quote(gw, "BTC-PERP")
        assert btc.mark == scaled("65000") and btc.bid < btc.mark < btc.ask

    run(tmp_path, SYMBOLS_ONLY if streamed else POLLED, scenario)


# the polled tickers' faults (the stream's: test_poloniex_market_data.py)

@pytest.mark.parametrize("fault", ["garbage", "silent"])
def test_polled_tickers_answering_garbage_or_nothing_are_counted_and_recover(tmp_path, caplog, fault):
    async def scenario(gw):
        sim, reference = gw.sims[V], gw.references[V]
        first = await fresh_quote(gw)
        errors = gw.metrics.venue_errors.get((V, "market_data"), 0)
        with caplog.at_level(logging.WARNING, logger="gateway.reference"):
            sim.prices_fault = fault
            await until(lambda: reference.feed_errors > 0)
        assert gw.metrics.venue_errors[(V, "market_data")] > errors
        assert gw.parts.reference.bad_messages[V] >= 1
        assert any("prices not read" in r.getMessage() for r in caplog.records)
        stale = gw.parts.reference.quote(V, "ETH-PERP")
        sim.prices_fault = None
        again = await fresh_quote(gw, after_ns=stale.received_ns)
        assert again.received_ns > first.received_ns and again.mark == scaled("3000")

    run(tmp_path, POLLED, scenario)
