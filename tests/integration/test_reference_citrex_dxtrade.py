"""Reference data of Citrex and DXtrade against their simulators, over real sockets: the
instrument lists checked against the config at start and on refresh, and the venues' prices.

Each test runs for both venues: the same promises, each in its venue's own wire."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop

from gateway.daemon import Gateway
from gateway.reference.instruments import InstrumentMismatch
from gateway.reference.sync import ReferenceUnavailable
from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import CONFIG, make_config, run_gateway, strategy

E18 = 10**18


@dataclass(frozen=True)
class Venue:
    name: str
    eth_id: str  # ETH-PERP's product id in the venue's catalogue (TOML literal)
    other_id: str  # another listed product's id (TOML literal)
    other_symbol: str  # the venue's name of it

    def edit(self, tmp: Path, block: str | None = None, symbols: str | None = None, option: str = ""):
        """The harness config with this venue alone; block: ETH-PERP's instrument block in its
        place (None: the usual one), symbols: a symbols-only venue (no block at all), option: a
        line for the venue's table."""
        def edit(text: str) -> str:
            head = text.split("[[venues]]")[0]
            venue = "[[venues]]" + CONFIG.split("[[venues]]")[1] if self.name == "citrex" else \
                DXTRADE_CONFIG.replace("{tmp}", str(tmp))
            if self.name == "citrex":
                venue = venue.replace("{tmp}", str(tmp)).replace("{{", "{").replace("}}", "}")
            usual = venue[venue.index("[venues.instruments.ETH-PERP]"):]
            if symbols is not None:
                venue = venue.replace(usual, "").replace("[venues.sim]", f"symbols = {symbols}\n[venues.sim]", 1)
            elif block is not None:
                venue = venue.replace(usual, f"[venues.instruments.ETH-PERP]\n{block}\n")
            if option:
                venue = venue.replace("[venues.sim]", f"{option}\n[venues.sim]", 1)
            return head + venue
        return edit


CITREX = Venue("citrex", "1002", "1001", "btcperp")
DXTRADE = Venue("dxtrade", '"ETH/USD"', '"EUR/USD"', "EUR/USD")
VENUES = pytest.mark.parametrize("venue", [CITREX, DXTRADE], ids=lambda v: v.name)


def block(venue: Venue, product_id: str | None = None, tick: str = "0.1", lot: str = "0.001",
          minimum: str = "0.001") -> str:
    return (f"product_id = {product_id or venue.eth_id}\ntick_size = \"{tick}\"\nlot_size = \"{lot}\"\n"
            f"min_quantity = \"{minimum}\"")


def refused_start(tmp: Path, venue: Venue, text: str) -> str:
    config = make_config(tmp, venue.edit(tmp, block=text))

    async def start() -> None:
        gw = await Gateway.start(config)
        await gw.stop()  # not reached when the start is refused

    with pytest.raises(InstrumentMismatch) as refused:
        uvloop.run(start())
    return str(refused.value)


async def until(predicate, step_s: float = 0.02):
    """Wait for something the gateway does in the background (the scenario's timeout bounds it)."""
    while not predicate():
        await asyncio.sleep(step_s)


def venue_errors(gw, venue: Venue, code: str) -> int:
    return gw.parts.metrics.venue_errors.get((venue.name, code), 0)


# the instrument list


@VENUES
def test_the_venue_list_parses_into_its_catalogue(tmp_path, venue):
    async def scenario(gw):
        listed = {str(x.product_id): x for x in await gw.venues[venue.name].list_instruments()}
        eth = listed[venue.eth_id.strip('"')]
        assert (eth.base, eth.tick, eth.lot, eth.min_quantity, eth.status) == \
            ("ETH", E18 // 10, E18 // 1000, E18 // 1000, "trading")
        assert listed[venue.other_id.strip('"')].venue_symbol == venue.other_symbol
        assert gw.references[venue.name].listings["ETH-PERP"] == eth

    run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path))


@VENUES
def test_a_product_id_of_another_market_refuses_the_start_naming_both(tmp_path, venue):
    message = refused_start(tmp_path, venue, block(venue, product_id=venue.other_id))
    assert f"venue {venue.name}: symbol ETH-PERP: product_id" in message
    # both values: the configured id (the other market) and ETH-PERP's own
    assert venue.other_id.strip('"') in message and venue.eth_id.strip('"') in message, message


@VENUES
@pytest.mark.parametrize("field,kwargs,ours,theirs", [
    ("tick_size", {"tick": "0.05"}, "0.05", "0.1"),
    ("lot_size", {"lot": "0.0015", "minimum": "0.003"}, "0.0015", "0.001"),
    ("min_quantity", {"minimum": "0.0005"}, "0.0005", "0.001"),
])
def test_a_size_the_venue_does_not_have_refuses_the_start_naming_field_and_values(tmp_path, venue, field, kwargs,
                                                                                   ours, theirs):
    message = refused_start(tmp_path, venue, block(venue, **kwargs))
    assert f"venue {venue.name}: symbol ETH-PERP: {field} differs: config {ours}, venue {theirs}" in message


@VENUES
def test_a_config_stricter_than_the_venue_starts_and_says_so(tmp_path, venue, caplog):
    async def scenario(gw):
        stricter = gw.references[venue.name].stricter
        assert any("tick_size is stricter" in line and "config 0.5, venue 0.1" in line for line in stricter)
        assert any("min_quantity is stricter" in line for line in stricter)
        async with strategy(gw, "alpha") as s:
            ack = await s.place(venue.name, "ETH-PERP", "buy", "0.01", "2950.1", client_order_id="s1")
            assert ack.error.code == "bad_price"  # the config's own (stricter) tick holds
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.01", "2950.5", client_order_id="s2")).ok
            await s.wait_status("s2", "OPEN")

    with caplog.at_level(logging.INFO, logger="gateway.reference"):
        run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path, block=block(venue, tick="0.5", minimum="0.01")))
    assert any("stricter than the venue's" in r.getMessage() and "(allowed)" in r.getMessage()
               for r in caplog.records)


@VENUES
def test_a_symbols_only_config_trades_with_the_venues_sizes(tmp_path, venue):
    async def scenario(gw):
        adapter = gw.venues[venue.name]
        assert str(adapter.instruments["ETH-PERP"].product_id) == venue.eth_id.strip('"')
        assert adapter.instruments["ETH-PERP"].tick_size == "0.1"
        async with strategy(gw, "alpha") as s:
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950.1", client_order_id="y1")).ok
            await s.wait_status("y1", "OPEN")
            assert (await s.place(venue.name, "ETH-PERP", "buy", "1", "3003", client_order_id="y2")).ok
            await s.wait_status("y2", "FILLED")

    run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path, symbols='["ETH-PERP"]'))


@VENUES
@pytest.mark.parametrize("change", ["halt", "delist"])
def test_an_instrument_halted_or_delisted_refuses_new_orders_and_cancels_pass(tmp_path, venue, change):
    async def scenario(gw):
        sim, ref = gw.sims[venue.name], gw.references[venue.name]
        async with strategy(gw, "alpha") as s:
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950", client_order_id="h1")).ok
            await s.wait_status("h1", "OPEN")
            getattr(sim, change)("ETH-PERP")
            await ref.refresh()
            refused = await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950", client_order_id="h2")
            assert refused.error.code == "instrument_unavailable", refused
            assert "ETH-PERP" in refused.error.message
            assert (await s.cancel("h1")).ok  # a cancel is never refused for it
            await s.wait_status("h1", "CANCELED")
            if change == "delist":
                assert venue_errors(gw, venue, "instrument_list") == 1  # the missing symbol, counted
                return
            sim.resume("ETH-PERP")
            await ref.refresh()
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950", client_order_id="h3")).ok
            await s.wait_status("h3", "OPEN")

    run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path))


@VENUES
def test_a_tick_change_on_the_venue_is_applied(tmp_path, venue, caplog):
    async def scenario(gw):
        sim, ref, adapter = gw.sims[venue.name], gw.references[venue.name], gw.venues[venue.name]
        sim.set_steps("ETH-PERP", tick="0.5")
        await ref.refresh()
        assert adapter.steps["ETH-PERP"].tick == E18 // 2
        async with strategy(gw, "alpha") as s:
            off = await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950.1", client_order_id="t1")
            assert off.error.code == "bad_price"  # refused here, not sent to the venue to be refused
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950.5", client_order_id="t2")).ok
            await s.wait_status("t2", "OPEN")

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path, symbols='["ETH-PERP"]'))
    assert any("ETH-PERP tick changed on the venue: 0.1 -> 0.5 (applied)" in r.getMessage() for r in caplog.records)


@VENUES
@pytest.mark.parametrize("fault", ["garbage", "empty", "error", "silent"])
def test_an_unreadable_list_is_a_log_line_and_a_metric_and_trading_goes_on(tmp_path, venue, fault, caplog):
    async def scenario(gw):
        sim, ref = gw.sims[venue.name], gw.references[venue.name]
        sim.reference_faults.instruments = fault
        with pytest.raises(ReferenceUnavailable):  # what the refresh loop catches and logs
            await ref.refresh()
        assert venue_errors(gw, venue, "instrument_list") == 1
        assert gw.venues[venue.name].unavailable == {}  # the last good list still holds
        async with strategy(gw, "alpha") as s:
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950", client_order_id="g1")).ok
            await s.wait_status("g1", "OPEN")
        sim.reference_faults.instruments = None
        await ref.refresh()

    run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path))


@VENUES
def test_the_refresh_loop_survives_an_unreadable_list(tmp_path, venue, caplog):
    async def scenario(gw):
        sim, ref = gw.sims[venue.name], gw.references[venue.name]
        sim.reference_faults.instruments = "garbage"
        await until(lambda: venue_errors(gw, venue, "instrument_list") >= 2)
        sim.reference_faults.instruments = None
        checked = ref.checked_ns
        await until(lambda: ref.checked_ns != checked)  # read again once the venue answers

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path, option="instruments_refresh_secs = 1"))
    lines = [r.getMessage() for r in caplog.records if "instrument list not refreshed" in r.getMessage()]
    assert lines and all(line.count("\n") == 0 and venue.name in line for line in lines)


# prices


@VENUES
def test_the_reference_price_appears_and_moves_with_the_book(tmp_path, venue):
    async def scenario(gw):
        prices = gw.parts.reference
        await until(lambda: prices.quote(venue.name, "ETH-PERP") is not None)
        first = prices.quote(venue.name, "ETH-PERP")
        # the market maker's ladder around 3000: 0.1% apart
        assert (first.bid, first.ask) == (2997 * E18, 3003 * E18)
        assert prices.price(venue.name, "ETH-PERP") == 3000 * E18
        if venue.name == "citrex":
            assert first.mark == 3000 * E18  # the simulator's mark: the book's mid
        else:
            assert first.mark is None  # a DXtrade quote has no mark: the reference is the mid
        async with strategy(gw, "alpha") as s:
            # a bid inside the spread moves the best bid, and so the reference
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "3001", client_order_id="m1")).ok
            await s.wait_status("m1", "OPEN")
            await until(lambda: prices.quote(venue.name, "ETH-PERP").bid == 3001 * E18)
            assert prices.price(venue.name, "ETH-PERP") == 3002 * E18
            assert prices.age_s(venue.name, "ETH-PERP") < 60

    run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path))


@VENUES
@pytest.mark.parametrize("fault", ["garbage", "empty", "error"])
def test_a_price_feed_sending_garbage_or_nothing_is_counted_and_recovers(tmp_path, venue, fault, caplog):
    async def scenario(gw):
        sim, prices = gw.sims[venue.name], gw.parts.reference
        await until(lambda: prices.quote(venue.name, "ETH-PERP") is not None)
        sim.reference_faults.prices = fault
        await until(lambda: venue_errors(gw, venue, "market_data") >= 1)
        assert prices.bad_messages[venue.name] >= 1
        stale = prices.quote(venue.name, "ETH-PERP").received_ns
        sim.reference_faults.prices = None
        await until(lambda: prices.quote(venue.name, "ETH-PERP").received_ns != stale)
        assert prices.price(venue.name, "ETH-PERP") == 3000 * E18
        async with strategy(gw, "alpha") as s:  # and the gateway trades on through it
            assert (await s.place(venue.name, "ETH-PERP", "buy", "0.001", "2950", client_order_id="p1")).ok

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run_gateway(tmp_path, scenario, edit=venue.edit(tmp_path))
    assert any(f"venue {venue.name}: prices not read" in r.getMessage() for r in caplog.records)


def test_a_delisted_symbol_takes_none_of_the_venues_other_prices_down(tmp_path):
    """The venue stops listing one of our symbols: it is refused, and no poll asks the venue for
    it again (its book answering 404 used to fail every poll, the venue's other prices with it)."""
    async def scenario(gw):
        sim, ref, prices = gw.sims["citrex"], gw.references["citrex"], gw.parts.reference
        await until(lambda: prices.quote("citrex", "ETH-PERP") is not None)
        sim.delist("BTC-PERP")
        await ref.refresh()
        assert "BTC-PERP" in gw.venues["citrex"].unavailable and "BTC-PERP" not in ref.listings
        errors = ref.feed_errors
        for _ in range(2):  # two polls after the delisting, each with ETH-PERP's price
            seen = prices.quote("citrex", "ETH-PERP").received_ns
            await until(lambda: prices.quote("citrex", "ETH-PERP").received_ns > seen)
        assert ref.feed_errors == errors

    run_gateway(tmp_path, scenario, edit=CITREX.edit(tmp_path, symbols='["ETH-PERP", "BTC-PERP"]'))
