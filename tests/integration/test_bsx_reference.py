"""BSX reference data against the simulator over real sockets: the product list the gateway
checks its config against (and fills a symbols-only config from), its refresh, the prices
it polls, the faults; and the official SDK's product call as the oracle of the list's shape."""
from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import aiohttp
import pytest
import uvloop
from bsx_py import BSXInstance
from bsx_py.client.rest.base import RestClient
from bsx_py.common.types.market import GetProductsResponse, PerpetualProductConfig
from bsx_py.common.types.market import Product as SdkProduct
from eth_account import Account

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.reference.instruments import DELISTED, HALTED, TRADING, InstrumentMismatch
from gateway.reference.sync import ReferenceUnavailable
from gateway.sim.bsx import CATALOGUE, BsxSim
from gateway.venues.bsx import schemas
from gateway.venues.bsx.reference import listing
from tests.contract.suite import SERVER, VenueContract

E18 = 10**18
VENUE = """
[[venues]]
kind = "bsx"
name = "bsx"
api_key_file = "{tmp}/bsx.key"
api_secret_file = "{tmp}/bsx.secret"
signer_key_file = "{tmp}/bsx-signer.hex"
generate_key = true
nonce_file = "{tmp}/bsx.nonce"
reference_poll_secs = 0.05
"""
SIM = """
[venues.sim]
mid_prices = { ETH-PERP = "3000", BTC-PERP = "65000" }
market_maker_levels = 3
market_maker_quantity = "1"
"""
SYMBOLS_ONLY = VENUE.replace('reference_poll_secs', 'symbols = ["ETH-PERP", "BTC-PERP"]\nreference_poll_secs') + SIM


def block(symbol: str, product_id: int, tick: str, lot: str, min_quantity: str = "0") -> str:
    return f"""
[venues.instruments.{symbol}]
product_id = {product_id}
tick_size = "{tick}"
lot_size = "{lot}"
min_quantity = "{min_quantity}"
"""


class _Gw(VenueContract):
    venue = "bsx"

    def __init__(self, config: str):
        self.venue_config = config


def run(tmp_path, config: str, scenario, timeout_s: float = 30):
    _Gw(config).run(tmp_path, scenario, timeout_s=timeout_s)


def start_fails(tmp_path, config: str) -> str:
    async def main():
        gw = await Gateway.start(parse_config((SERVER + config).replace("{tmp}", str(tmp_path))))
        await gw.stop()

    with pytest.raises(InstrumentMismatch) as info:
        uvloop.run(main())
    return str(info.value)


async def until(check, what: str, tries: int = 400):
    """Wait for a condition the gateway reaches by itself (a poll, a refresh): no timed assert,
    a bounded number of looks."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


# the official SDK as the oracle of GET /products

def _sdk_fields() -> list[str]:
    return [f for f in SdkProduct.__dataclass_fields__]


def test_sdk_get_products_reads_every_field_of_the_simulators_list():
    """bsx-sdk-py's get_products (signed in, as the SDK always calls it, and bare, as a web client
    does) parses the simulator's list; every field its Product model reads is there (from_dict
    leaves a missing one None, so None anywhere means a field the venue has that we lack); and
    our adapter's reading of the same bytes agrees with the SDK's on every value it uses."""
    async def main():
        sim = BsxSim(list(CATALOGUE), chain_id=8453, verifying_contract="0x" + "00" * 19 + "02",
                     mid_prices={"ETH-PERP": 3000 * E18, "BTC-PERP": 65000 * E18}, mm_levels=3)
        await sim.start()
        try:
            bsx = await asyncio.to_thread(BSXInstance, sim.rest_url, Account.create(), Account.create())
            signed_in = await asyncio.to_thread(bsx.get_products)
            bare = await asyncio.to_thread(RestClient(sim.rest_url).get, "/products")  # no bsx-* headers
            async with aiohttp.ClientSession() as http:
                async with http.get(sim.rest_url + "/products") as r:
                    raw = await r.read()
            return sim, signed_in, GetProductsResponse.from_dict(bare).products, raw
        finally:
            await sim.stop()

    sim, signed_in, bare, raw = uvloop.run(main())
    assert [p.product_id for p in signed_in] == [p.product_id for p in bare] == ["BTC-PERP", "ETH-PERP", "SOL-PERP"]
    for product in signed_in:
        missing = [f for f in _sdk_fields() if getattr(product, f) is None]
        assert not missing, (product.product_id, missing)
        assert isinstance(product.perpetual_product_config, PerpetualProductConfig)
        assert None not in vars(product.perpetual_product_config).values()
    by_id = {p.product_id: p for p in signed_in}
    assert [(by_id[s].index, by_id[s].quote_increment, by_id[s].base_increment, by_id[s].min_order_size)
            for s in ("BTC-PERP", "ETH-PERP", "SOL-PERP")] == [
        (1, Decimal("0.1"), Decimal("0.001"), Decimal("0.001")),
        (2, Decimal("0.01"), Decimal("0.01"), Decimal("0.01")),
        (3, Decimal("0.01"), Decimal("0.1"), Decimal("0.1"))]
    # a perp's mark: the book's mid here (bids 2997.., asks 3003..); SOL-PERP is not quoted
    assert (by_id["ETH-PERP"].mark_price, by_id["BTC-PERP"].mark_price, by_id["SOL-PERP"].mark_price) == (
        Decimal("3000"), Decimal("65000"), Decimal("0"))
    ours = [listing(p) for p in schemas.products_decoder.decode(raw).products]
    assert [(x.product_id, x.venue_symbol, x.base, x.quote, x.tick, x.lot, x.min_quantity, x.status)
            for x in ours] == [
        (p.index, p.product_id, p.base_asset_symbol, p.quote_asset_symbol, int(p.quote_increment * E18),
         int(p.base_increment * E18), int(p.min_order_size * E18), TRADING if p.enabled and not p.post_only
         else HALTED) for p in signed_in]


def test_a_halted_or_post_only_product_reads_so_in_the_sdk_and_in_ours():
    sim = BsxSim(list(CATALOGUE), market_maker=False)
    sim.halt("BTC-PERP")
    sim.set_post_only("SOL-PERP")

    async def main():
        await sim.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(sim.rest_url + "/products") as r:
                    return await r.read()
        finally:
            await sim.stop()

    raw = uvloop.run(main())
    sdk = GetProductsResponse.from_dict(json.loads(raw)).products
    assert [(p.enabled, p.post_only) for p in sdk] == [(False, False), (True, False), (True, True)]
    assert [x.status for x in map(listing, schemas.products_decoder.decode(raw).products)] == [
        HALTED, TRADING, HALTED]


# instruments checked at start

def test_symbols_only_config_is_filled_from_the_venue_and_trades(tmp_path):
    async def scenario(gw):
        ad = gw.venues["bsx"]
        assert {s: (i.product_id, i.tick_size, i.lot_size, i.min_quantity) for s, i in ad.instruments.items()} == {
            "ETH-PERP": (2, "0.01", "0.01", "0.01"), "BTC-PERP": (1, "0.1", "0.001", "0.001")}
        assert not ad.unavailable
        async with _Gw("").strategy(gw, "alpha") as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.25", "2990.55", client_order_id="s1")).ok
            opened = await s.wait_status("s1", "OPEN")
            venue = gw.sims["bsx"].engine.get(opened.venue_order_id)
            assert venue.product == "ETH-PERP" and venue.price == 299055 * E18 // 100
            assert (await s.place("bsx", "BTC-PERP", "sell", "0.003", "65100.1", client_order_id="s2")).ok
            await s.wait_status("s2", "OPEN")
        # the venue's list was read without credentials, on its own connection
        assert gw.sims["bsx"].requests["GET /products"] >= 1

    run(tmp_path, SYMBOLS_ONLY, scenario)


def test_eth_perp_with_btc_perps_product_id_refuses_to_start(tmp_path):
    said = start_fails(tmp_path, VENUE + SIM + block("ETH-PERP", 1, "0.1", "0.001", "0.001"))
    assert said == ("venue bsx: symbol ETH-PERP: product_id 1 is the venue's BTC-PERP (BTC/USDC), "
                    "not ETH-PERP (ETH-PERP is product_id 2)")


@pytest.mark.parametrize(("fields", "field", "ours", "theirs"), [
    (("0.001", "0.01", "0.01"), "tick_size", "0.001", "0.01"),
    (("0.01", "0.001", "0.01"), "lot_size", "0.001", "0.01"),
    (("0.01", "0.01", "0.001"), "min_quantity", "0.001", "0.01"),
])
def test_a_tick_lot_or_minimum_finer_than_the_venues_refuses_to_start(tmp_path, fields, field, ours, theirs):
    said = start_fails(tmp_path, VENUE + SIM + block("ETH-PERP", 2, *fields))
    assert f"{field} differs" in said and f"config {ours}" in said and f"venue {theirs}" in said
    assert "bsx" in said and "ETH-PERP" in said


def test_a_stricter_config_starts_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, "gateway.reference")

    async def scenario(gw):
        assert gw.venues["bsx"].instruments["ETH-PERP"].tick_size == "0.1"

    run(tmp_path, VENUE + SIM + block("ETH-PERP", 2, "0.1", "0.02", "1"), scenario)
    said = caplog.text
    assert "tick_size is stricter" in said and "lot_size is stricter" in said and "min_quantity is stricter" in said


# refresh

def test_halt_delist_and_tick_change_on_refresh(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "gateway.reference")

    async def scenario(gw):
        sim, ad, ref = gw.sims["bsx"], gw.venues["bsx"], gw.references["bsx"]
        async with _Gw("").strategy(gw, "alpha") as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990", client_order_id="h1")).ok
            await s.wait_status("h1", "OPEN")
            assert (await s.place("bsx", "BTC-PERP", "buy", "0.001", "64000", client_order_id="h2")).ok
            await s.wait_status("h2", "OPEN")

            sim.halt("ETH-PERP")
            await ref.refresh()
            refused = await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990", client_order_id="h3")
            assert not refused.ok and refused.error.code == "instrument_unavailable"
            assert "halted" in refused.error.message
            assert (await s.cancel("h1")).ok  # cancels still pass
            await s.wait_status("h1", "CANCELED")

            sim.resume("ETH-PERP")
            await ref.refresh()
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990", client_order_id="h4")).ok
            await s.wait_status("h4", "OPEN")

            sim.set_steps("ETH-PERP", tick="0.05", lot="0.05", min_quantity="0.05")
            await ref.refresh()
            assert (ad.instruments["ETH-PERP"].tick_size, ad.instruments["ETH-PERP"].lot_size) == ("0.05", "0.05")
            odd = await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990.01", client_order_id="h6")
            assert not odd.ok  # off the new tick: refused by the gateway, not the venue
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.15", "2990.05", client_order_id="h7")).ok
            await s.wait_status("h7", "OPEN")

            sim.delist("BTC-PERP")
            await ref.refresh()
            gone = await s.place("bsx", "BTC-PERP", "buy", "0.001", "64000", client_order_id="h5")
            assert not gone.ok and gone.error.code == "instrument_unavailable"
            assert ref.delisted["BTC-PERP"].status == DELISTED and "BTC-PERP" not in ref.listings  # not followed
            assert (await s.cancel("h2")).ok
            await s.wait_status("h2", "CANCELED")

            # with a symbol gone, the list is checked symbol by symbol: a change is still applied and logged
            sim.set_steps("ETH-PERP", lot="0.1")
            await ref.refresh()
            assert ad.instruments["ETH-PERP"].lot_size == "0.1"

    run(tmp_path, SYMBOLS_ONLY, scenario)
    said = caplog.text
    assert "ETH-PERP tick changed on the venue: 0.01 -> 0.05 (applied)" in said
    assert "ETH-PERP lot changed on the venue: 0.05 -> 0.1 (applied)" in said
    assert "instrument_unavailable" in said


@pytest.mark.parametrize("fault", ["garbage", "empty"])
def test_an_unreadable_or_empty_list_on_refresh_is_a_line_and_a_count(tmp_path, caplog, fault):
    """The refresh loop (every second here) meets a list it cannot use: a warning and a count,
    the last good list stands, and the next good list is taken."""
    caplog.set_level(logging.WARNING, "gateway.reference")
    config = SYMBOLS_ONLY.replace("reference_poll_secs", "instruments_refresh_secs = 1\nreference_poll_secs")

    async def scenario(gw):
        sim, ad, ref = gw.sims["bsx"], gw.venues["bsx"], gw.references["bsx"]
        before = dict(ad.instruments)
        sim.faults.products = fault
        await until(lambda: ref.errors >= 1, "a refresh that failed", tries=800)
        assert gw.metrics.venue_errors[("bsx", "instrument_list")] >= 1
        assert ad.instruments == before and not ad.unavailable  # the last good list stands
        with pytest.raises(ReferenceUnavailable):
            await ref.refresh()
        sim.faults.products = None
        sim.set_steps("ETH-PERP", tick="0.02")
        await until(lambda: ad.instruments["ETH-PERP"].tick_size == "0.02", "the next good list", tries=800)
        async with _Gw("").strategy(gw, "alpha") as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990.02", client_order_id="g1")).ok

    run(tmp_path, config, scenario)
    assert "venue bsx: instrument list not refreshed" in caplog.text


def test_a_symbol_the_venue_does_not_list_refuses_to_start(tmp_path):
    config = SYMBOLS_ONLY.replace('"BTC-PERP"]', '"BTC-PERP", "DOGE-PERP"]')
    said = start_fails(tmp_path, config)
    assert "DOGE-PERP" in said and "lists no such market" in said


def test_an_unreachable_list_at_start_starts_from_the_config_and_checks_later(tmp_path, caplog):
    """The list answers garbage at start: the configured block is traded meanwhile, the
    symbol given alone waits (instrument_unavailable); once the list reads, both trade."""
    caplog.set_level(logging.ERROR, "gateway.reference")
    config = SYMBOLS_ONLY.replace('symbols = ["ETH-PERP", "BTC-PERP"]', 'symbols = ["BTC-PERP"]') + block(
        "ETH-PERP", 2, "0.01", "0.01", "0.01")

    async def main():
        from gateway.sim import bsx as sim_module

        real = sim_module.start_for

        async def broken_at_start(venue):
            sim = await real(venue)
            sim.faults.products = "garbage"
            return sim

        sim_module.start_for = broken_at_start
        try:
            gw = await Gateway.start(parse_config((SERVER + config).replace("{tmp}", str(tmp_path))))
        finally:
            sim_module.start_for = real
        try:
            ad, ref = gw.venues["bsx"], gw.references["bsx"]
            assert "BTC-PERP" in ad.unavailable and "ETH-PERP" not in ad.unavailable
            assert gw.metrics.venue_errors[("bsx", "instrument_list")] == 1
            async with _Gw("").strategy(gw, "alpha") as s:
                assert (await s.place("bsx", "ETH-PERP", "buy", "0.1", "2990", client_order_id="u1")).ok
                waits = await s.place("bsx", "BTC-PERP", "buy", "0.001", "64000", client_order_id="u2")
                assert not waits.ok and waits.error.code == "instrument_unavailable"
                gw.sims["bsx"].faults.products = None
                await ref.refresh()
                assert not ad.unavailable
                assert (await s.place("bsx", "BTC-PERP", "buy", "0.001", "64000", client_order_id="u3")).ok
        finally:
            await gw.stop()

    uvloop.run(asyncio.wait_for(main(), 30))
    assert caplog.text.count("cannot read its instrument list") == 1


# prices

def test_reference_prices_appear_and_move_with_the_book(tmp_path):
    async def scenario(gw):
        sim, prices = gw.sims["bsx"], gw.parts.reference
        await until(lambda: prices.quote("bsx", "ETH-PERP") is not None, "an ETH-PERP price")
        q = prices.quote("bsx", "ETH-PERP")
        assert (q.bid, q.ask, q.mark) == (2997 * E18, 3003 * E18, 3000 * E18)
        assert prices.price("bsx", "ETH-PERP") == 3000 * E18  # the mark, where the venue has one
        assert prices.quote("bsx", "BTC-PERP").mark == 65000 * E18
        async with _Gw("").strategy(gw, "alpha") as s:
            # our own bid improves the book: bid and mark move
            assert (await s.place("bsx", "ETH-PERP", "buy", "0.5", "2999", client_order_id="p1")).ok
            await s.wait_status("p1", "OPEN")
            await until(lambda: prices.quote("bsx", "ETH-PERP").bid == 2999 * E18, "the bid at 2999")
            assert prices.quote("bsx", "ETH-PERP").mark == 3001 * E18
        assert prices.age_s("bsx", "ETH-PERP") < 5
        assert sim.requests["GET /products/ETH-PERP/book"] >= 2

    run(tmp_path, SYMBOLS_ONLY, scenario)


@pytest.mark.parametrize("fault", ["garbage", "silent"])
def test_a_price_feed_sending_garbage_or_nothing_is_counted_and_recovers(tmp_path, caplog, fault):
    caplog.set_level(logging.WARNING, "gateway.reference")
    # "silent": the poll gives up after the request timeout
    config = SYMBOLS_ONLY.replace('name = "bsx"\n', 'name = "bsx"\nrequest_timeout_ms = 300\n', 1)

    async def scenario(gw):
        sim, prices, ref = gw.sims["bsx"], gw.parts.reference, gw.references["bsx"]
        await until(lambda: prices.quote("bsx", "ETH-PERP") is not None, "a first price")
        sim.faults.book = fault
        await until(lambda: ref.feed_errors >= 1, "a failed poll", tries=800)
        assert gw.metrics.venue_errors[("bsx", "market_data")] >= 1
        updates = prices.updates
        sim.faults.book = None
        await until(lambda: prices.updates > updates, "prices again", tries=800)
        assert prices.quote("bsx", "ETH-PERP").mark == 3000 * E18

    run(tmp_path, config, scenario)
    assert "prices not read" in caplog.text


def test_an_empty_book_leaves_bid_and_ask_out_and_keeps_the_mark(tmp_path):
    async def scenario(gw):
        sim, prices = gw.sims["bsx"], gw.parts.reference
        await until(lambda: prices.quote("bsx", "ETH-PERP") is not None, "a first price")
        sim.faults.book = "empty"
        await until(lambda: prices.quote("bsx", "ETH-PERP").bid is None, "an empty book read")
        q = prices.quote("bsx", "ETH-PERP")
        assert (q.ask, q.mark) == (None, 3000 * E18)

    run(tmp_path, SYMBOLS_ONLY, scenario)
