"""Bluefin Pro's reference data against the simulator over real sockets: the public market
list (GET /v1/exchange/info) checked against the config, refreshed, broken; the prices
followed on the public market-data stream (/ws/market, each market's Ticker) or, without
`market_ws_url`, polled (GET /v1/exchange/tickers); broken, dropped, silenced, recovered.

The official models as oracle. The current official SDK (Bluefin's pro-sdk, package
`bluefin_pro_sdk`, its models in `openapi_client.models`) is not on the package index, and the
index's `bluefin-pro-api-client` 1.0.0 is an older generation of the same spec that the venue
no longer speaks (its asset has `bankAddress` where the current one has `assetType`, its
times are `...AtUtcMillis`, its ticker has no `symbol`): parsing our simulator with it would
check against an API that is gone. So the current models' required fields and strict types
(pydantic StrictStr / StrictInt / StrictBool, enums, no nulls) are written down here, from
openapi_client/models/exchange_info_response.py, asset1.py (= asset_config.py), market.py,
market_status.py, contracts_config.py, operators.py and ticker_response.py, and the market
stream's from resources/websocket-api.yaml with models/ticker_update.py,
market_subscription_message.py and market_subscription_streams.py (SubscriptionResponseMessage
and MarketStreamMessage as the yaml has them), and every payload the simulator serves is held
to them. A test shows the check fails what those models fail
(the null assetType and weight the simulator used to send)."""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
import uvloop

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.reference.instruments import DELISTED, HALTED, TRADING, InstrumentMismatch, Listing
from gateway.reference.sync import ReferenceUnavailable
from gateway.sim.bluefin import CATALOGUE, BluefinSim
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.reference import BluefinReference
from gateway.venues.bluefin.ws import ticker_subscription
from tests.contract.suite import SERVER, VenueContract

VENUE = "bluefin"
E18 = 10**18
INFO_ROUTE, TICKERS_ROUTE = schemas.EXCHANGE_INFO_PATH, schemas.TICKERS_PATH
MARKET_ROUTE = schemas.MARKET_WS_PATH


# the official SDK's models, field by field (see the module's docstring)

class Optional:
    def __init__(self, spec):
        self.spec = spec


class ListOf:
    def __init__(self, spec):
        self.spec = spec


MARKET_STATUS = frozenset({"ACTIVE", "BETA", "MAINTENANCE", "DELISTED"})
NETWORKS = frozenset({"mainnet", "testnet", "devnet"})
OPERATORS = {"admin": str, "operator": str, "sequencer": str, "funding": str, "fee": str}
CONTRACTS_CONFIG = {"edsId": str, "idsId": str, "network": NETWORKS, "baseContractAddress": str,
                    "currentContractAddress": str, "operators": OPERATORS}
ASSET_CONFIG = {"assetType": str, "symbol": str, "decimals": int, "weight": str, "marginAvailable": bool}
MARKET = {
    "symbol": str, "marketAddress": str, "status": MARKET_STATUS, "baseAssetSymbol": str, "baseAssetName": str,
    "baseAssetDecimals": int, "stepSizeE9": str, "tickSizeE9": str, "minOrderQuantityE9": str,
    "maxLimitOrderQuantityE9": str, "maxMarketOrderQuantityE9": str, "minOrderPriceE9": str,
    "maxOrderPriceE9": str, "maintenanceMarginRatioE9": str, "initialMarginRatioE9": str,
    "insurancePoolRatioE9": str, "defaultLeverageE9": str, "maxNotionalAtOpenE9": ListOf(str),
    "minTradeQuantityE9": str, "maxTradeQuantityE9": str, "minTradePriceE9": str, "maxTradePriceE9": str,
    "maxFundingRateE9": str, "defaultMakerFeeE9": str, "defaultTakerFeeE9": str, "insurancePoolAddress": str,
    "feePoolAddress": str, "tradingStartTimeAtMillis": str, "mtbLongE9": str, "mtbShortE9": str,
    "delistingPriceE9": str, "isolatedOnly": bool,
}
EXCHANGE_INFO_RESPONSE = {"assets": ListOf(ASSET_CONFIG), "contractsConfig": Optional(CONTRACTS_CONFIG),
                          "markets": ListOf(MARKET), "tradingGasFeeE9": str, "serverTimeAtMillis": int,
                          "timezone": str}
TICKER_RESPONSE = {
    "symbol": str, "lastQuantityE9": str, "lastTimeAtMillis": int, "lastPriceE9": str, "lastFundingRateE9": str,
    "nextFundingTimeAtMillis": int, "avgFundingRate8hrE9": str, "oraclePriceE9": str,
    "oraclePriceDirection": int, "markPriceE9": str, "markPriceDirection": int, "marketPriceE9": str,
    "marketPriceDirection": int, "bestBidPriceE9": str, "bestBidQuantityE9": str, "bestAskPriceE9": str,
    "bestAskQuantityE9": str, "openInterestE9": str, "highPrice24hrE9": str, "lowPrice24hrE9": str,
    "volume24hrE9": str, "quoteVolume24hrE9": str, "closePrice24hrE9": str, "openPrice24hrE9": str,
    "closeTime24hrAtMillis": int, "openTime24hrAtMillis": int, "firstId24hr": int, "lastId24hr": int,
    "count24hr": str, "priceChange24hrE9": str, "priceChangePercent24hrE9": str, "updatedAtMillis": int,
    "estimatedFundingRateE9": str,
}
# the stream's TickerUpdate: the same fields but estimatedFundingRateE9, all required
TICKER_UPDATE = {name: spec for name, spec in TICKER_RESPONSE.items() if name != "estimatedFundingRateE9"}
SUBSCRIPTION_RESPONSE = {"success": bool, "message": str}
MARKET_STREAM_MESSAGE = {"event": frozenset({"RecentTradesUpdates", "TickerUpdate", "TickerAllUpdate",
                                             "OraclePriceUpdate", "MarkPriceUpdate", "MarketPriceUpdate",
                                             "CandlestickUpdate", "OrderbookDiffDepthUpdate",
                                             "OrderbookPartialDepthUpdate"}),
                         "payload": dict}


def model_errors(spec, value, where: str = "$") -> list[str]:
    """What the SDK's pydantic models would refuse in value: a required field missing or null,
    a strict type not met (a bool is no int there), a value outside an enum."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        out = []
        for name, sub in spec.items():
            optional = isinstance(sub, Optional)
            if value.get(name) is None:
                if not optional:
                    out.append(f"{where}.{name}: missing or null")
                continue
            out += model_errors(sub.spec if optional else sub, value[name], f"{where}.{name}")
        return out
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [e for i, item in enumerate(value) for e in model_errors(spec.spec, item, f"{where}[{i}]")]
    if isinstance(spec, frozenset):
        return [] if isinstance(value, str) and value in spec else [f"{where}: {value!r} not one of {sorted(spec)}"]
    return [] if type(value) is spec else [f"{where}: {value!r} is not {spec.__name__}"]


def bare(scenario):
    async def main():
        sim = BluefinSim(list(CATALOGUE), mid_prices={"ETH-PERP": 3000 * E18, "BTC-PERP": 65000 * E18},
                         mm_levels=3)
        await sim.start()
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(sim, http), 10)
        finally:
            await sim.stop()

    uvloop.run(main())


async def get_json(sim, http, path, **params):
    async with http.get(sim.rest_url + path, params=params) as r:
        return r.status, await r.json(content_type=None)


def test_exchange_info_parses_with_the_sdk_models():
    async def scenario(sim, http):
        status, info = await get_json(sim, http, INFO_ROUTE)  # public: no token
        assert status == 200
        assert model_errors(EXCHANGE_INFO_RESPONSE, info) == []
        [usdc] = info["assets"]
        assert usdc["symbol"] == "USDC" and usdc["weight"] == "1000000000" and usdc["assetType"]
        steps = {m["symbol"]: (m["tickSizeE9"], m["stepSizeE9"], m["minOrderQuantityE9"], m["baseAssetSymbol"],
                               m["status"]) for m in info["markets"]}
        assert steps == {"ETH-PERP": ("10000000", "10000000", "10000000", "ETH", "ACTIVE"),
                         "BTC-PERP": ("100000000", "1000000", "1000000", "BTC", "ACTIVE")}

    bare(scenario)


def test_the_model_check_refuses_what_the_sdk_models_refuse():
    async def scenario(sim, http):
        _, info = await get_json(sim, http, INFO_ROUTE)
        # what the simulator sent before: assetType absent, weight null
        old = json.loads(json.dumps(info))
        old["assets"][0].pop("assetType")
        old["assets"][0]["weight"] = None
        assert model_errors(EXCHANGE_INFO_RESPONSE, old) == ["$.assets[0].assetType: missing or null",
                                                             "$.assets[0].weight: missing or null"]
        bad = json.loads(json.dumps(info))
        bad["markets"][0]["status"] = "HALTED"
        bad["markets"][1]["baseAssetDecimals"] = True
        bad["serverTimeAtMillis"] = str(bad["serverTimeAtMillis"])
        assert len(model_errors(EXCHANGE_INFO_RESPONSE, bad)) == 3
        # the contracts config is optional in the model, but checked when it is there
        assert model_errors(EXCHANGE_INFO_RESPONSE, {**info, "contractsConfig": None}) == []
        assert model_errors(EXCHANGE_INFO_RESPONSE, {**info, "contractsConfig": {
            **info["contractsConfig"], "network": "localnet"}}) != []

    bare(scenario)


def test_tickers_parse_with_the_sdk_models_and_are_the_book():
    async def scenario(sim, http):
        status, tickers = await get_json(sim, http, TICKERS_ROUTE)
        assert status == 200 and model_errors(ListOf(TICKER_RESPONSE), tickers) == []
        by_symbol = {t["symbol"]: t for t in tickers}
        assert set(by_symbol) == {"ETH-PERP", "BTC-PERP"}
        eth = by_symbol["ETH-PERP"]
        # the market maker's ladder around 3000, levels 3 apart; mark and market price the mid
        assert (eth["bestBidPriceE9"], eth["bestAskPriceE9"]) == (str(2997 * 10**9), str(3003 * 10**9))
        assert eth["markPriceE9"] == eth["marketPriceE9"] == str(3000 * 10**9)
        status, one = await get_json(sim, http, schemas.TICKER_PATH, symbol="BTC-PERP")
        assert status == 200 and model_errors(TICKER_RESPONSE, one) == []
        assert one["symbol"] == "BTC-PERP" and one["bestBidPriceE9"] == str(64935 * 10**9)
        status, _ = await get_json(sim, http, schemas.TICKER_PATH, symbol="DOGE-PERP")
        assert status == 404
        # the book moves, so does the ticker: an outside trader takes the best ask
        assert await sim.outside_trade("ETH-PERP", "buy", "3003", "1") == 1
        _, one = await get_json(sim, http, schemas.TICKER_PATH, symbol="ETH-PERP")
        assert one["lastPriceE9"] == str(3003 * 10**9) and model_errors(TICKER_RESPONSE, one) == []

    bare(scenario)


async def next_json(ws):
    return json.loads((await ws.receive_str()))


def test_the_market_stream_is_public_and_its_tickers_parse_with_the_sdk_models():
    async def scenario(sim, http):
        sim.ticker_push_secs = 3600  # only the answer at once and the book's changes
        assert sim.market_ws_url.endswith(MARKET_ROUTE)
        async with http.ws_connect(sim.market_ws_url) as ws:  # no token
            # what the SDK's Rust ticker example sends
            await ws.send_str(ticker_subscription(["ETH-PERP"]).decode())
            reply = await next_json(ws)
            assert model_errors(SUBSCRIPTION_RESPONSE, reply) == [] and reply["success"] is True
            first = await next_json(ws)
            assert model_errors(MARKET_STREAM_MESSAGE, first) == [] and first["event"] == "TickerUpdate"
            ticker = first["payload"]
            assert model_errors(TICKER_UPDATE, ticker) == [] and set(ticker) == set(TICKER_UPDATE)
            assert (ticker["symbol"], ticker["bestBidPriceE9"], ticker["bestAskPriceE9"], ticker["markPriceE9"]) == (
                "ETH-PERP", str(2997 * 10**9), str(3003 * 10**9), str(3000 * 10**9))
            # the book moves: the ticker comes unasked, for the subscribed market only
            assert await sim.outside_trade("BTC-PERP", "buy", "65065", "1") == 1
            assert await sim.outside_trade("ETH-PERP", "buy", "3003", "1") == 1
            moved = (await next_json(ws))["payload"]
            assert moved["symbol"] == "ETH-PERP" and moved["lastPriceE9"] == str(3003 * 10**9)
            assert model_errors(TICKER_UPDATE, moved) == []
            # what the simulator does not serve is refused in the SDK's reply shape
            await ws.send_str(json.dumps({"method": "Subscribe", "dataStreams": [
                {"symbol": "DOGE-PERP", "streams": ["Ticker"]}, {"symbol": "ETH-PERP", "streams": ["Mark_Price"]}]}))
            refused = await next_json(ws)
            assert refused["success"] is False and "DOGE-PERP Ticker" in refused["message"]
            await ws.send_str("{}")
            assert (await next_json(ws))["success"] is False
        assert sim.public_requests[MARKET_ROUTE] == 1 and not sim.unknown_fields

    bare(scenario)


def test_the_subscription_is_the_sdks():
    assert ticker_subscription(["ETH-PERP", "BTC-PERP"]) == (
        b'{"method":"Subscribe","dataStreams":[{"symbol":"BTC-PERP","streams":["Ticker"]},'
        b'{"symbol":"ETH-PERP","streams":["Ticker"]}]}')


class _Sink:
    """What the reference data gives a feed: its listings, and where quotes and bad frames go."""

    def __init__(self):
        self.listings = {"ETH-PERP": Listing("ETH-PERP", "ETH-PERP", "ETH", "USDC", 10**16, 10**16, 10**16, TRADING)}
        self.quotes, self.bad = [], []

    def on_quote(self, symbol, bid, ask, mark):
        self.quotes.append((symbol, bid, ask, mark))

    def on_bad_message(self, exc):
        self.bad.append(exc)


def test_market_frames_are_read_or_counted_and_dropped():
    from types import SimpleNamespace

    from gateway.metrics import Metrics

    metrics = Metrics()
    ref = BluefinReference(SimpleNamespace(name=VENUE, metrics=metrics, log=logging.getLogger("t")))
    sink = _Sink()
    ticker = {"symbol": "ETH-PERP", "bestBidPriceE9": "2997000000000", "bestAskPriceE9": "0",
              "markPriceE9": "3000000000000"}
    frame = lambda payload, event="TickerUpdate": json.dumps({"event": event, "payload": payload}).encode()  # noqa: E731
    ref.on_market_message(sink, frame(ticker))
    ref.on_market_message(sink, frame({**ticker, "symbol": "SUI-PERP"}))  # not ours: not read
    ref.on_market_message(sink, frame({"symbol": "ETH-PERP", "priceE9": "1"}, "MarkPriceUpdate"))  # not asked for
    ref.on_market_message(sink, b'{"success": true, "message": "Subscribed"}')
    assert sink.quotes == [("ETH-PERP", 2997 * E18, None, 3000 * E18)] and sink.bad == []
    for garbage in (b"<html>", b"[]", b"{}", frame({"symbol": "ETH-PERP"}), frame({**ticker, "markPriceE9": "3000.5"}),
                    frame({**ticker, "bestBidPriceE9": 2997})):
        ref.on_market_message(sink, garbage)
    assert len(sink.bad) == 6 and len(sink.quotes) == 1
    ref.on_market_message(sink, b'{"success": false, "message": "no such market"}')
    assert metrics.venue_errors[(VENUE, "market_data")] == 1 and len(sink.bad) == 6


# the gateway against the simulator

def config_text(instruments: str) -> str:
    """instruments: [venues.instruments.X] blocks, or a `symbols = [...]` line."""
    symbols, blocks = (instruments, "") if instruments.startswith("symbols") else ("", instruments)
    return SERVER + f"""
[[venues]]
kind = "bluefin"
name = "bluefin"
key_file = "{{tmp}}/bluefin.key"
generate_key = true
reference_poll_secs = 0.05
{symbols}
[venues.sim]
mid_prices = {{ ETH-PERP = "3000", BTC-PERP = "65000" }}
market_maker_levels = 3
market_maker_quantity = "1"
{blocks}
"""


BLOCKS = """
[venues.instruments.ETH-PERP]
product_id = "ETH-PERP"
tick_size = "0.01"
lot_size = "0.01"
min_quantity = "0.01"
[venues.instruments.BTC-PERP]
product_id = "BTC-PERP"
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""
SYMBOLS_ONLY = 'symbols = ["ETH-PERP", "BTC-PERP"]'


class _Gw(VenueContract):
    venue = VENUE

    def __init__(self, instruments: str = BLOCKS):
        self.instruments = instruments

    def config_text(self, tmp) -> str:
        return config_text(self.instruments).replace("{tmp}", str(tmp))


def run(tmp_path, scenario, *, instruments: str = BLOCKS):
    _Gw(instruments).run(tmp_path, scenario, timeout_s=30)


def start_refused(tmp_path, instruments: str) -> str:
    text = config_text(instruments).replace("{tmp}", str(tmp_path))

    async def main():
        try:
            gw = await Gateway.start(parse_config(text))
        except InstrumentMismatch as exc:
            return str(exc)
        await gw.stop()
        raise AssertionError("the gateway started")

    return uvloop.run(main())


async def until(predicate):
    # bounded by the scenario's own timeout (run's wait_for): no timed assert here
    while not predicate():
        await asyncio.sleep(0.01)


def venue_errors(gw, code: str) -> int:
    return gw.metrics.venue_errors.get((VENUE, code), 0)


def test_the_list_is_read_once_at_start_and_checked(tmp_path):
    async def scenario(gw):
        sim, ref = gw.sims[VENUE], gw.references[VENUE]
        # the start's exchange/info gave the IDS id and the list: one read, not two
        assert sim.public_requests[INFO_ROUTE] == 1
        assert ref.listings == {
            "ETH-PERP": Listing("ETH-PERP", "ETH-PERP", "ETH", "USDC", 10**16, 10**16, 10**16, TRADING),
            "BTC-PERP": Listing("BTC-PERP", "BTC-PERP", "BTC", "USDC", 10**17, 10**15, 10**15, TRADING)}
        assert gw.venues[VENUE].unavailable == {}
        await ref.refresh()  # every later list is read anew
        assert sim.public_requests[INFO_ROUTE] == 2

    run(tmp_path, scenario)


def test_another_markets_product_id_refuses_the_start(tmp_path):
    message = start_refused(tmp_path, BLOCKS.replace('product_id = "ETH-PERP"', 'product_id = "BTC-PERP"'))
    assert "product_id" in message and "bluefin" in message and "ETH-PERP" in message and "BTC-PERP" in message


def test_an_unlisted_product_id_refuses_the_start(tmp_path):
    message = start_refused(tmp_path, BLOCKS.replace('product_id = "ETH-PERP"', 'product_id = "ETH-USDC"'))
    assert "product_id 'ETH-USDC'" in message and "not listed" in message and "ETH-PERP" in message


@pytest.mark.parametrize("field, ours, theirs", [("tick_size", "0.001", "0.01"), ("lot_size", "0.005", "0.01"),
                                                  ("min_quantity", "0.001", "0.01")])
def test_a_step_finer_than_the_venues_refuses_the_start(tmp_path, field, ours, theirs):
    eth, btc = BLOCKS.split("[venues.instruments.BTC-PERP]")
    eth = eth.replace(f'{field} = "0.01"', f'{field} = "{ours}"')
    message = start_refused(tmp_path, eth + "[venues.instruments.BTC-PERP]" + btc)
    assert message == f"venue bluefin: symbol ETH-PERP: {field} differs: config {ours}, venue {theirs}"


def test_a_stricter_config_starts_and_says_so(tmp_path, caplog):
    stricter = BLOCKS.replace('tick_size = "0.01"', 'tick_size = "0.05"', 1)

    async def scenario(gw):
        assert gw.venues[VENUE].instruments["ETH-PERP"].tick_size == "0.05"
        assert gw.references[VENUE].stricter == [
            "venue bluefin: symbol ETH-PERP: tick_size is stricter than the venue's: config 0.05, venue 0.01"]

    with caplog.at_level(logging.INFO, logger="gateway.reference"):
        run(tmp_path, scenario, instruments=stricter)
    assert any("tick_size is stricter" in r.getMessage() for r in caplog.records)


def test_a_symbols_only_config_trades_with_the_venues_steps(tmp_path):
    async def scenario(gw):
        ad = gw.venues[VENUE]
        btc = ad.instruments["BTC-PERP"]
        assert (btc.product_id, btc.tick_size, btc.lot_size, btc.min_quantity) == ("BTC-PERP", "0.1", "0.001",
                                                                                   "0.001")
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, "BTC-PERP", "buy", "0.002", "64000.1", client_order_id="b1")).ok
            await s.wait_status("b1", "OPEN")
            assert (await s.place(VENUE, "ETH-PERP", "sell", "0.01", "2997", client_order_id="e1")).ok
            await s.wait_status("e1", "FILLED")
            # the venue's steps are the gateway's: a price off BTC-PERP's 0.1 tick never leaves
            refused = await s.place(VENUE, "BTC-PERP", "buy", "0.002", "64000.05", client_order_id="b2")
            assert not refused.ok
        assert gw.sims[VENUE].engine.get(gw.tracker.by_client("alpha", "b1").venue_order_id).product == "BTC-PERP"

    run(tmp_path, scenario, instruments=SYMBOLS_ONLY)


def test_halted_and_delisted_markets_refuse_new_orders_and_pass_cancels(tmp_path, caplog):
    async def scenario(gw):
        sim, ref, ad = gw.sims[VENUE], gw.references[VENUE], gw.venues[VENUE]
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990", client_order_id="rest")).ok
            await s.wait_status("rest", "OPEN")
            sim.halt("ETH-PERP")
            sim.delist("BTC-PERP")
            await ref.refresh()
            assert ref.listings["ETH-PERP"].status == HALTED and ref.delisted["BTC-PERP"].status == DELISTED
            for symbol in ("ETH-PERP", "BTC-PERP"):
                refused = await s.place(VENUE, symbol, "buy", "0.1", "2990", client_order_id=f"new-{symbol}")
                assert not refused.ok and refused.error.code == "instrument_unavailable", refused
            assert (await s.cancel("rest")).ok
            await s.wait_status("rest", "CANCELED")
            sim.resume("ETH-PERP")
            await ref.refresh()
            assert "ETH-PERP" not in ad.unavailable and "BTC-PERP" in ad.unavailable
            assert (await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990", client_order_id="again")).ok
            await s.wait_status("again", "OPEN")

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run(tmp_path, scenario)
    lines = [r.getMessage() for r in caplog.records]
    assert any("ETH-PERP" in line and "instrument_unavailable" in line and "halted" in line for line in lines)


def test_a_tick_change_on_the_venue_is_applied(tmp_path, caplog):
    async def scenario(gw):
        sim, ref, ad = gw.sims[VENUE], gw.references[VENUE], gw.venues[VENUE]
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990.05", client_order_id="fine")).ok
            sim.set_steps("ETH-PERP", tick=10**17)
            await ref.refresh()
            assert ad.instruments["ETH-PERP"].tick_size == "0.1" and ad.steps["ETH-PERP"].tick == 10**17
            refused = await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990.05", client_order_id="coarse")
            assert not refused.ok and refused.error.code != "instrument_unavailable"
            assert (await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990.1", client_order_id="ok")).ok
            await s.wait_status("ok", "OPEN")

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run(tmp_path, scenario, instruments=SYMBOLS_ONLY)
    assert any("ETH-PERP tick changed on the venue: 0.01 -> 0.1" in r.getMessage() for r in caplog.records)


def test_a_list_that_does_not_parse_or_lacks_our_symbol_is_a_line_and_a_metric(tmp_path, caplog):
    async def scenario(gw):
        sim, ref, ad = gw.sims[VENUE], gw.references[VENUE], gw.venues[VENUE]
        before = ad.instruments
        for fault in ("garbage", "empty"):
            sim.list_fault = fault
            with pytest.raises(ReferenceUnavailable):
                await ref.refresh()
        assert venue_errors(gw, "instrument_list") == 2
        assert ad.instruments == before and ad.unavailable == {}  # nothing half-read was applied
        sim.list_fault = None
        sim.delist("ETH-PERP")
        await ref.refresh()  # what the refresh loop does: no raise, the symbol is made unavailable
        assert venue_errors(gw, "instrument_list") == 3
        assert "ETH-PERP" in ad.unavailable and "BTC-PERP" not in ad.unavailable
        async with _Gw().strategy(gw, "alpha") as s:
            refused = await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2990", client_order_id="gone")
            assert refused.error.code == "instrument_unavailable"
            assert (await s.place(VENUE, "BTC-PERP", "buy", "0.01", "60000", client_order_id="btc")).ok
        assert sim.public_requests[INFO_ROUTE] == 4  # the start, two broken lists, one without ETH-PERP

    with caplog.at_level(logging.ERROR, logger="gateway.reference"):
        run(tmp_path, scenario)
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.reference"] == [
        "venue bluefin: symbol ETH-PERP: product_id 'ETH-PERP' is not listed by the venue"]


@pytest.fixture
def polling(monkeypatch):
    """A Bluefin venue without market_ws_url: the simulator leaves it empty, so the tickers are polled."""
    monkeypatch.setattr(BluefinSim, "config_urls", lambda self: {})


@pytest.mark.parametrize("feed", ["stream", "poll"])
def test_the_reference_price_appears_and_moves(tmp_path, monkeypatch, feed):
    if feed == "poll":
        monkeypatch.setattr(BluefinSim, "config_urls", lambda self: {})

    async def scenario(gw):
        sim, prices = gw.sims[VENUE], gw.parts.reference
        assert gw.venues[VENUE].config.market_ws_url == ("" if feed == "poll" else sim.market_ws_url)
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None and prices.quote(VENUE, "BTC-PERP"))
        eth = prices.quote(VENUE, "ETH-PERP")
        assert (eth.bid, eth.ask, eth.mark) == (2997 * E18, 3003 * E18, 3000 * E18)
        assert prices.price(VENUE, "ETH-PERP") == 3000 * E18
        assert prices.quote(VENUE, "BTC-PERP").bid == 64935 * E18
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, "ETH-PERP", "buy", "0.1", "2999", client_order_id="better")).ok
            await until(lambda: prices.quote(VENUE, "ETH-PERP").bid == 2999 * E18)
        assert prices.quote(VENUE, "ETH-PERP").mark == 3001 * E18
        assert venue_errors(gw, "market_data") == 0
        # one feed or the other, never both
        if feed == "poll":
            assert sim.public_requests[TICKERS_ROUTE] > 0 and sim.public_requests[MARKET_ROUTE] == 0
        else:
            assert sim.public_requests[TICKERS_ROUTE] == 0 and sim.public_requests[MARKET_ROUTE] == 1

    run(tmp_path, scenario)


def test_garbage_prices_are_a_line_and_a_metric_and_the_feed_recovers(tmp_path, caplog, polling):
    async def scenario(gw):
        sim, ref, prices = gw.sims[VENUE], gw.references[VENUE], gw.parts.reference
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None)
        sim.prices_fault = "garbage"
        await until(lambda: ref.feed_errors >= 2)
        assert venue_errors(gw, "market_data") >= 2 and prices.bad_messages[VENUE] >= 2
        stale = prices.quote(VENUE, "ETH-PERP")
        sim.prices_fault = None
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)
        assert prices.quote(VENUE, "ETH-PERP").bid == 2997 * E18

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run(tmp_path, scenario)
    assert any(r.getMessage().startswith("venue bluefin: prices not read: DecodeError") for r in caplog.records)


def test_no_prices_keep_the_last_ageing_with_a_line_and_a_metric(tmp_path, caplog, polling):
    async def scenario(gw):
        sim, prices = gw.sims[VENUE], gw.parts.reference
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None)
        sim.prices_fault = "empty"
        polled = sim.public_requests[TICKERS_ROUTE]
        await until(lambda: sim.public_requests[TICKERS_ROUTE] >= polled + 3)
        stale = prices.quote(VENUE, "ETH-PERP")
        await until(lambda: sim.public_requests[TICKERS_ROUTE] >= polled + 6)
        assert prices.quote(VENUE, "ETH-PERP") == stale  # polled, answered nothing: the last price ages
        assert venue_errors(gw, "market_data") >= 3
        sim.prices_fault = None
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)

    with caplog.at_level(logging.INFO, logger="gateway.venue.bluefin"):
        run(tmp_path, scenario)
    lines = [r.getMessage() for r in caplog.records if "/v1/exchange/tickers" in r.getMessage()]
    assert lines == ["bluefin GET /v1/exchange/tickers: no ticker for BTC-PERP, ETH-PERP: their reference prices age",
                     "bluefin GET /v1/exchange/tickers: tickers again for BTC-PERP, ETH-PERP"]


# the market-data stream, as the gateway follows it

def polls(sim) -> int:
    return sim.public_requests[TICKERS_ROUTE] + sim.public_requests[schemas.TICKER_PATH]


def test_prices_follow_the_book_on_the_stream_with_no_polls(tmp_path):
    async def scenario(gw):
        sim, ref, prices = gw.sims[VENUE], gw.references[VENUE], gw.parts.reference
        sim.ticker_push_secs = 3600  # nothing periodic: only the answer at once and the book's changes
        gw.venues[VENUE].reference.silent_after_s = 3600  # so a slow machine's quiet book is not "silent"
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None and prices.quote(VENUE, "BTC-PERP"))
        assert prices.quote(VENUE, "BTC-PERP")[:3] == (64935 * E18, 65065 * E18, 65000 * E18)
        async with _Gw().strategy(gw, "alpha") as s:
            assert (await s.place(VENUE, "ETH-PERP", "sell", "0.1", "3001", client_order_id="ask")).ok
            await until(lambda: prices.quote(VENUE, "ETH-PERP").ask == 3001 * E18)
            assert prices.quote(VENUE, "ETH-PERP").mark == 2999 * E18  # (2997 + 3001) / 2
            assert (await s.cancel("ask")).ok
            await until(lambda: prices.quote(VENUE, "ETH-PERP").ask == 3003 * E18)
        # a trade elsewhere (the market maker quotes the level again): the last trade moved, a ticker comes
        quiet = prices.quote(VENUE, "ETH-PERP")
        assert await sim.outside_trade("ETH-PERP", "sell", "2997", "1") == 1
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > quiet.received_ns)
        assert polls(sim) == 0 and sim.public_requests[MARKET_ROUTE] == 1
        assert ref.feed_errors == 0 and venue_errors(gw, "market_data") == 0

    run(tmp_path, scenario)


def test_garbage_on_the_stream_is_counted_and_dropped(tmp_path, caplog):
    async def scenario(gw):
        sim, ref, prices = gw.sims[VENUE], gw.references[VENUE], gw.parts.reference
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None)
        sim.ticker_push_secs = 0.05
        sim.market_fault = "garbage"
        stale = prices.quote(VENUE, "ETH-PERP")
        await until(lambda: ref.feed_errors >= 4)
        assert venue_errors(gw, "market_data") >= 4 and prices.bad_messages[VENUE] >= 4
        assert prices.quote(VENUE, "ETH-PERP") == stale  # dropped: nothing half-read
        sim.market_fault = None
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)
        assert prices.quote(VENUE, "ETH-PERP")[:3] == (2997 * E18, 3003 * E18, 3000 * E18)
        # the same connection throughout, and no poll behind its back
        assert sim.public_requests[MARKET_ROUTE] == 1 and polls(sim) == 0

    with caplog.at_level(logging.WARNING, logger="gateway.reference"):
        run(tmp_path, scenario)
    assert any(r.getMessage().startswith("venue bluefin: unreadable price message dropped: JSON is malformed")
               for r in caplog.records)


def test_a_dropped_stream_reconnects_and_prices_resume(tmp_path):
    async def scenario(gw):
        sim, ref, prices = gw.sims[VENUE], gw.references[VENUE], gw.parts.reference
        sim.ticker_push_secs = 3600  # a price after the drop is the new subscription's answer
        gw.venues[VENUE].reference.silent_after_s = 3600
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None)
        stale = prices.quote(VENUE, "ETH-PERP")
        await sim.drop_market_streams()
        # the project's stream reconnects with its backoff and subscribes anew: the answer at once
        await until(lambda: sim.public_requests[MARKET_ROUTE] == 2
                    and prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)
        assert ref.adapter.reference.market_stream.reconnects >= 1
        async with _Gw().strategy(gw, "alpha") as s:  # and the new subscription follows the book
            assert (await s.place(VENUE, "ETH-PERP", "sell", "0.1", "3001", client_order_id="ask")).ok
            await until(lambda: prices.quote(VENUE, "ETH-PERP").ask == 3001 * E18)
        assert polls(sim) == 0 and ref.feed_errors == 0

    run(tmp_path, scenario)


def test_a_silent_stream_ages_the_price_with_a_line_and_a_metric(tmp_path, caplog):
    async def scenario(gw):
        sim, ad, prices = gw.sims[VENUE], gw.venues[VENUE], gw.parts.reference
        ad.reference.silent_after_s = 0.5
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None and prices.quote(VENUE, "BTC-PERP"))
        sim.market_fault = "silent"
        stale = prices.quote(VENUE, "ETH-PERP")
        await until(lambda: venue_errors(gw, "market_data") >= 2)
        first = prices.age_s(VENUE, "ETH-PERP")
        await until(lambda: prices.age_s(VENUE, "ETH-PERP") > first + 0.5)  # it ages, nothing crashes
        assert prices.quote(VENUE, "ETH-PERP") == stale and polls(sim) == 0
        assert sim.public_requests[MARKET_ROUTE] == 1  # the connection lives: pings are answered
        assert ad.reference.silent == {"ETH-PERP", "BTC-PERP"}
        sim.market_fault = None
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)
        await until(lambda: not ad.reference.silent)  # the next check says so

    with caplog.at_level(logging.INFO, logger="gateway.venue.bluefin"):
        run(tmp_path, scenario)
    lines = [r.getMessage() for r in caplog.records if MARKET_ROUTE in r.getMessage()]
    assert lines == ["bluefin /ws/market: no ticker for BTC-PERP, ETH-PERP for 0.5s: their reference prices age",
                     "bluefin /ws/market: tickers again for BTC-PERP, ETH-PERP"]


def test_list_parsing_maps_statuses_and_leaves_out_unsignable_markets():
    from gateway.venues.bluefin.reference import listings_of

    def market(symbol, status):
        return {"symbol": symbol, "status": status, "baseAssetSymbol": symbol.split("-")[0].lower(),
                "tickSizeE9": "1000000", "stepSizeE9": "100000000", "minOrderQuantityE9": "200000000"}

    raw = json.dumps([market("SUI-PERP", "ACTIVE"), market("WAL-PERP", "BETA"), market("DEEP-PERP", "MAINTENANCE"),
                      market("OLD-PERP", "DELISTED"), market("BAD PERP", "ACTIVE")]).encode()
    listings = listings_of(raw)
    assert [(x.venue_symbol, x.status) for x in listings] == [
        ("SUI-PERP", TRADING), ("WAL-PERP", HALTED), ("DEEP-PERP", HALTED), ("OLD-PERP", DELISTED)]
    assert listings[0] == Listing("SUI-PERP", "SUI-PERP", "SUI", "USDC", 10**15, 10**17, 2 * 10**17, TRADING)
    for broken in (b"[{}]", b'[{"symbol": 1}]', json.dumps([{**market("X-PERP", "ACTIVE"),
                                                               "tickSizeE9": "0.01"}]).encode()):
        with pytest.raises(ValueError):
            listings_of(broken)


def test_a_delisted_market_is_not_subscribed_again_after_a_reconnect(tmp_path):
    """One market gone from the venue's list: a reconnection's subscription names only the
    markets it still lists (the venue refusing the whole message used to stop every price)."""
    async def scenario(gw):
        sim, ref, prices = gw.sims[VENUE], gw.references[VENUE], gw.parts.reference
        sim.ticker_push_secs = 3600  # a price after the drop is the new subscription's answer
        gw.venues[VENUE].reference.silent_after_s = 3600
        await until(lambda: prices.quote(VENUE, "ETH-PERP") is not None)
        sim.delist("BTC-PERP")
        await ref.refresh()
        assert "BTC-PERP" not in ref.listings and "BTC-PERP" in gw.venues[VENUE].unavailable
        stale = prices.quote(VENUE, "ETH-PERP")
        await sim.drop_market_streams()
        await until(lambda: prices.quote(VENUE, "ETH-PERP").received_ns > stale.received_ns)
        assert polls(sim) == 0

    run(tmp_path, scenario)
