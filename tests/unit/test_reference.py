"""Reference data: the config held to the venue's list, symbols filled from it, the list kept
current (halts, delistings, size changes), and the prices risk reads."""
from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.metrics import Metrics
from gateway.orders.model import ONE
from gateway.reference.instruments import (HALTED, InstrumentMismatch, Listing, find_for_symbol, resolve,
                                           unified_parts)
from gateway.reference.prices import ReferencePrices
from gateway.reference.sync import ReferenceUnavailable, VenueReference
from gateway.venues.config import InstrumentConfig
from gateway.venues.reference_hooks import ReferenceHooks

E = 10**18
BTC = Listing(1001, "btcperp", "BTC", "USD", 1 * E, E // 10_000, E // 10_000)
ETH = Listing(1002, "ethperp", "ETH", "USD", E // 10, E // 1000, E // 1000)


def block(product_id, tick="0.1", lot="0.001", min_quantity="0.001"):
    return InstrumentConfig(product_id=product_id, tick_size=tick, lot_size=lot, min_quantity=min_quantity)


def test_unified_symbols_name_a_base_and_maybe_a_quote():
    assert unified_parts("ETH-PERP") == ("ETH", None)
    assert unified_parts("eth-usdt") == ("ETH", "USDT")
    assert unified_parts("ETH/USDC") == ("ETH", "USDC")


def test_a_product_id_of_another_market_is_refused_naming_the_field_and_both_markets():
    with pytest.raises(InstrumentMismatch) as exc:
        resolve("citrex", {"ETH-PERP": block(1001)}, [], [BTC, ETH])
    text = str(exc.value)
    assert "venue citrex" in text and "ETH-PERP" in text and "product_id 1001" in text
    assert "btcperp" in text and "ETH-PERP is product_id 1002" in text


def test_a_product_the_venue_does_not_list_is_refused():
    with pytest.raises(InstrumentMismatch, match=r"product_id 7 is not listed"):
        resolve("citrex", {"ETH-PERP": block(7)}, [], [BTC, ETH])


@pytest.mark.parametrize("field,ours,theirs", [("tick_size", "0.15", "0.1"), ("lot_size", "0.0005", "0.001"),
                                               ("min_quantity", "0.005", "0.01"), ("min_quantity", "0", "0.01")])
def test_sizes_looser_than_the_venue_are_refused_with_both_values(field, ours, theirs):
    listing = ETH._replace(min_quantity=E // 100)  # a minimum of ten lots
    with pytest.raises(InstrumentMismatch) as exc:
        resolve("citrex", {"ETH-PERP": block(1002, **{{"tick_size": "tick", "lot_size": "lot"}.get(field, field): ours})},
                [], [listing])
    assert f"{field} differs: config {ours}, venue {theirs}" in str(exc.value)


def test_a_config_stricter_than_the_venue_is_allowed_and_said():
    r = resolve("citrex", {"ETH-PERP": block(1002, tick="0.5", lot="0.01", min_quantity="0.01")}, [], [ETH])
    assert r.instruments["ETH-PERP"].tick_size == "0.5"  # ours is kept: it is the stricter
    assert len(r.stricter) == 3 and all("stricter" in line for line in r.stricter)


def test_symbols_alone_are_filled_from_the_list():
    r = resolve("citrex", {}, ["BTC-PERP", "ETH-PERP"], [BTC, ETH])
    assert r.instruments["ETH-PERP"] == InstrumentConfig(product_id=1002, tick_size="0.1", lot_size="0.001",
                                                         min_quantity="0.001")
    assert r.listings["BTC-PERP"] is BTC


def test_a_symbol_alone_the_venue_does_not_list_or_lists_twice_is_an_error():
    with pytest.raises(InstrumentMismatch, match="lists no such market"):
        find_for_symbol("v", "SOL-PERP", [BTC, ETH])
    usdt, usdc = (Listing(f"ETH_{q}", f"ETH_{q}", "ETH", q, E // 100, E // 10_000, E // 10_000) for q in ("USDT", "USDC"))
    with pytest.raises(InstrumentMismatch, match="several markets match"):
        find_for_symbol("v", "ETH-PERP", [usdt, usdc])
    assert find_for_symbol("v", "ETH-PERP", [usdt, usdc], default_quote="USDT") is usdt
    assert find_for_symbol("v", "ETH-USDC", [usdt, usdc]) is usdc


class FakeVenue(ReferenceHooks):
    """An adapter's reference side, with a list the test changes."""

    def __init__(self, instruments=None, symbols=(), listings=None):
        from gateway.venues.citrex.config import CitrexConfig

        self.name = "v"
        self.config = CitrexConfig(name="v", instruments=instruments or {}, symbols=list(symbols))
        self.metrics = Metrics()
        self.unavailable = {}
        self.listings = listings
        self.apply_instruments(self.config.instruments)

    async def list_instruments(self):
        if isinstance(self.listings, Exception):
            raise self.listings
        return list(self.listings)


def load(venue):
    ref = VenueReference(venue, ReferencePrices(), refresh_s=300, poll_s=1)
    asyncio.run(ref.load())
    return ref


def test_a_venue_that_cannot_be_asked_starts_from_the_config_and_says_so(caplog):
    venue = FakeVenue({"ETH-PERP": block(1002)}, symbols=["BTC-PERP"], listings=ConnectionRefusedError(111, "refused"))
    with caplog.at_level(logging.ERROR, "gateway.reference"):
        ref = load(venue)
    assert "cannot read its instrument list" in caplog.text and "refused" in caplog.text
    assert set(venue.steps) == {"ETH-PERP"}  # the block trades; the symbol alone waits for the list
    assert "not been read" in venue.unavailable["BTC-PERP"]
    assert venue.metrics.venue_errors[("v", "instrument_list")] == 1 and ref.checked_ns is None
    venue.listings = [BTC, ETH]  # the venue answers: the check runs, the symbol is filled
    asyncio.run(ref.refresh())
    assert set(venue.steps) == {"ETH-PERP", "BTC-PERP"} and venue.unavailable == {}


def test_refresh_makes_a_halted_or_delisted_symbol_unavailable_and_applies_a_new_tick(caplog):
    venue = FakeVenue(symbols=["BTC-PERP", "ETH-PERP"], listings=[BTC, ETH])
    ref = load(venue)
    assert venue.steps["ETH-PERP"].tick == E // 10 and venue.unavailable == {}
    venue.listings = [BTC._replace(status=HALTED), ETH._replace(tick=E // 100)]
    with caplog.at_level(logging.WARNING, "gateway.reference"):
        asyncio.run(ref.refresh())
    assert "halted" in venue.unavailable["BTC-PERP"]
    assert venue.steps["ETH-PERP"].tick == E // 100 and "tick changed on the venue: 0.1 -> 0.01" in caplog.text
    venue.listings = [ETH]  # BTC delisted
    asyncio.run(ref.refresh())
    assert "lists no such market" in venue.unavailable["BTC-PERP"]
    assert "ETH-PERP" not in venue.unavailable and ref.delisted["BTC-PERP"].status == "delisted"
    assert "BTC-PERP" not in ref.listings  # no feed follows a market the venue no longer has
    venue.listings = [BTC, ETH]  # back
    asyncio.run(ref.refresh())
    assert venue.unavailable == {}


def test_a_mismatch_found_after_start_takes_only_its_symbol_down(caplog):
    venue = FakeVenue({"ETH-PERP": block(1002), "BTC-PERP": block(1001, tick="1", lot="0.0001",
                                                                  min_quantity="0.0001")}, listings=[BTC, ETH])
    ref = load(venue)
    venue.listings = [BTC, ETH._replace(tick=E // 5)]  # 0.2: our 0.1 is now looser than the venue
    with caplog.at_level(logging.ERROR, "gateway.reference"):
        asyncio.run(ref.refresh())
    assert "tick_size differs: config 0.1, venue 0.2" in venue.unavailable["ETH-PERP"]
    assert "BTC-PERP" not in venue.unavailable and "tick_size differs" in caplog.text


def test_an_unreadable_list_is_one_line_and_a_count_not_a_crash(caplog):
    venue = FakeVenue({"ETH-PERP": block(1002)}, listings=[ETH])
    ref = load(venue)
    venue.listings = ValueError("Expected `array`, got `str`")
    with pytest.raises(ReferenceUnavailable):
        asyncio.run(ref.refresh())
    assert set(venue.steps) == {"ETH-PERP"} and venue.unavailable == {}  # what was checked stays
    assert venue.metrics.venue_errors[("v", "instrument_list")] == 1


def test_a_mismatch_at_start_refuses_it():
    venue = FakeVenue({"ETH-PERP": block(1001)}, listings=[BTC, ETH])
    with pytest.raises(InstrumentMismatch, match="product_id"):
        load(venue)


def test_reference_price_is_the_mark_else_the_mid_and_ages():
    prices = ReferencePrices()
    assert prices.price("v", "X") is None
    prices.update("v", "X", 99 * ONE, 101 * ONE, received_ns=0)
    assert prices.price("v", "X") == 100 * ONE
    assert prices.price("v", "X", max_age_ns=10**9) is None  # received at 0: long ago
    prices.update("v", "X", 99 * ONE, 101 * ONE, mark=102 * ONE)
    assert prices.price("v", "X", max_age_ns=10**9) == 102 * ONE
    prices.update("v", "X", 99 * ONE, None)  # one side only, no mark: no reference
    assert prices.price("v", "X") is None and prices.quote("v", "X").bid == 99 * ONE


def test_a_minimum_of_zero_is_one_lot_on_either_side():
    # the venue's minimum is its lot; the config leaves the minimum at "0" (one lot): the same.
    # A minimum written below the venue's is a difference (test_sizes_looser_than_the_venue...)
    r = resolve("citrex", {"ETH-PERP": block(1002, min_quantity="0")}, [], [ETH])
    assert r.stricter == [] and r.instruments["ETH-PERP"].min_quantity == "0"
    with pytest.raises(InstrumentMismatch, match="lot_size differs"):
        resolve("citrex", {"ETH-PERP": block(1002, lot="0.0001", min_quantity="0")}, [], [ETH])


def test_the_same_mismatch_is_said_once_at_error(caplog):
    venue = FakeVenue({"ETH-PERP": block(1002), "BTC-PERP": block(1001, tick="1", lot="0.0001",
                                                                  min_quantity="0.0001")}, listings=[BTC, ETH])
    ref = load(venue)
    venue.listings = [ETH]  # BTC delisted: the same mismatch at every refresh
    with caplog.at_level(logging.DEBUG, "gateway.reference"):
        for _ in range(3):
            asyncio.run(ref.refresh())
    said = [r for r in caplog.records if "BTC-PERP" in r.getMessage() and "not listed" in r.getMessage()]
    assert [r.levelno for r in said].count(logging.ERROR) == 1 and len(said) >= 3
    assert venue.metrics.venue_errors[("v", "instrument_list")] == 3  # each refresh still counted


def test_two_symbols_on_one_product_are_refused():
    with pytest.raises(InstrumentMismatch, match="symbols ETH-PERP and ETH-USD are both product_id 1002"):
        resolve("citrex", {"ETH-PERP": block(1002)}, ["ETH-USD"], [BTC, ETH])


def test_a_symbol_alone_the_list_moves_to_another_product_is_refused_not_moved(caplog):
    venue = FakeVenue(symbols=["ETH-PERP"], listings=[BTC, ETH])
    ref = load(venue)
    eth2 = ETH._replace(product_id=1009, venue_symbol="eth2perp")
    venue.listings = [BTC, eth2]  # the venue's ETH market is now another product
    with caplog.at_level(logging.ERROR, "gateway.reference"):
        asyncio.run(ref.refresh())
    assert "now maps it to product_id 1009" in venue.unavailable["ETH-PERP"]
    assert venue.instruments["ETH-PERP"].product_id == 1002  # open orders and cancels keep the old product
    assert ref.listings["ETH-PERP"].product_id == 1002 and "product_id 1009" in caplog.text


def test_one_unreadable_instrument_leaves_the_rest_of_the_list(caplog):
    from gateway.reference.instruments import readable

    def make(item):
        if item == "bad":
            raise ValueError("increment and minQuantity must be positive")
        return ETH if item == "eth" else BTC

    with caplog.at_level(logging.WARNING, "gateway.reference"):
        assert readable("citrex", ["btc", "bad", "eth"], make) == [BTC, ETH]
    assert "left out, unreadable: increment and minQuantity must be positive" in caplog.text
