"""Bluefin Pro's public reference data: its markets from GET /v1/exchange/info (the call the
official SDK's init makes) and its prices from the public market-data stream (/ws/market,
each market's Ticker) where `market_ws_url` is set, else from GET /v1/exchange/tickers,
polled. schemas.py says which source gives each name and what is assumed.

One read at start. The adapter reads exchange/info at start for the IDS id; the markets of
that same reply are kept (`keep_start_reply`) and are the first list the reference data asks
for, so a start costs one exchange/info, not two. Every later list is read anew.

The stream is the project's ReconnectingStream (its backoff, its pings). Each (re)connection
subscribes the Ticker of every market our symbols name; a market the refreshed list adds is
subscribed within a second. A frame that cannot be read is counted and dropped (the next
ticker replaces it); a market whose ticker stops coming keeps its last price, ageing: said
once, counted while it lasts, and its subscription sent again. While the stream is down
prices age too: nothing is polled behind its back.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import TYPE_CHECKING

from gateway.decoding import DECODE_ERRORS
from gateway.net.ws import ReconnectingStream
from gateway.reference.instruments import DELISTED, HALTED, TRADING, Listing
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.parsing import e18_of_e9
from gateway.venues.bluefin.session import JSON
from gateway.venues.bluefin.signing import signable_symbol
from gateway.venues.bluefin.ws import market_stream, ticker_subscription

if TYPE_CHECKING:
    from gateway.reference.sync import VenueReference
    from gateway.venues.reference_hooks import Prices

# a market with no ticker for this long is silent (the SDK's Rust ticker example gives up on a
# stream after 5 s without a message); the stream's markets are checked this often
SILENT_AFTER_S = 5.0
CHECK_S = 1.0


def status_of(market_status: str) -> str:
    """ACTIVE trades; DELISTED is gone; BETA, MAINTENANCE and anything the SDK's enum may add
    take no new orders from the gateway (a market we cannot vouch for is not traded)."""
    if market_status == schemas.MARKET_ACTIVE:
        return TRADING
    if market_status == schemas.MARKET_DELISTED:
        return DELISTED
    return HALTED


def listing_of(market: schemas.MarketInfo) -> Listing:
    return Listing(product_id=market.symbol, venue_symbol=market.symbol, base=market.baseAssetSymbol.upper(),
                   quote=schemas.SETTLEMENT_ASSET, tick=e18_of_e9(market.tickSizeE9),
                   lot=e18_of_e9(market.stepSizeE9), min_quantity=e18_of_e9(market.minOrderQuantityE9),
                   status=status_of(market.status))


def listings_of(raw_markets: bytes) -> list[Listing]:
    """exchange/info's markets[] as Listings; raises (msgspec or ValueError) on a list that
    does not parse: no half-read list is ever checked against. A market whose name the signed
    order payload cannot carry is left out: it can never be traded, so it is never matched."""
    return [listing_of(m) for m in schemas.markets_decoder.decode(raw_markets) if signable_symbol(m.symbol)]


def _retrieve(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # a first connection that timed out is not an error: the stream retries


def price_of(text: str) -> int | None:
    """An e9 price; "0" (no order on that side, no mark yet) is no price."""
    value = e18_of_e9(text)
    return value or None


class BluefinReference:
    def __init__(self, adapter: VenueAdapter):
        self.adapter = adapter
        # the start's exchange/info markets: the first list asked for is these, once
        self._start_markets: bytes | None = None
        self._unpriced: frozenset[str] = frozenset()  # our symbols the last tickers had no entry for
        # the stream
        self.silent_after_s = SILENT_AFTER_S
        self.market_stream: ReconnectingStream | None = None
        self._subscribed: frozenset[str] = frozenset()  # markets asked for on this connection
        self._seen_ns: dict[str, int] = {}  # market -> monotonic time of its last ticker
        self._since_ns = 0  # when the feed started: a market never heard of is silent from then
        self.silent: frozenset[str] = frozenset()  # our symbols whose tickers stopped
        self._mapped: tuple[object, dict[str, list[str]]] = (None, {})  # listings -> market -> our symbols

    def keep_start_reply(self, info: schemas.ExchangeInfo) -> None:
        self._start_markets = bytes(info.markets)

    async def _get(self, path: str, what: str) -> bytes:
        response = await self.adapter.market_data_http.request("GET", path, b"", JSON)
        if response.status != 200:
            raise VenueError("venue_error", f"{self.adapter.name} GET {what}: {self.adapter.error_text(response)}")
        return response.body

    async def list_instruments(self) -> list[Listing]:
        raw, self._start_markets = self._start_markets, None
        if raw is None:
            raw = bytes(schemas.exchange_info_decoder.decode(
                await self._get(schemas.EXCHANGE_INFO_PATH, schemas.EXCHANGE_INFO_PATH)).markets)
        return listings_of(raw)

    async def fetch_quotes(self, listings: dict[str, Listing]) -> dict[str, Prices]:
        tickers = schemas.tickers_decoder.decode(await self._get(schemas.TICKERS_PATH, schemas.TICKERS_PATH))
        by_market = {t.symbol: t for t in tickers}
        quotes: dict[str, Prices] = {}
        for symbol, listing in listings.items():
            ticker = by_market.get(listing.venue_symbol)
            if ticker is not None:
                quotes[symbol] = (price_of(ticker.bestBidPriceE9), price_of(ticker.bestAskPriceE9),
                                  price_of(ticker.markPriceE9))
        self._unpriced = self._note_unpriced(frozenset(listings) - frozenset(quotes), self._unpriced,
                                             f"GET {schemas.TICKERS_PATH}")
        return quotes

    def _note_unpriced(self, unpriced: frozenset[str], before: frozenset[str], where: str,
                       gap: str = "") -> frozenset[str]:
        """A symbol without a ticker keeps its last price, ageing: counted every poll (or
        stream check), said once when it starts and once when it ends (a check a second must
        not flood the log). Returns what is unpriced now."""
        adapter = self.adapter
        if unpriced:
            adapter.metrics.venue_error(adapter.name, "market_data")
        if unpriced - before:
            adapter.log.warning("%s %s: no ticker for %s%s: their reference prices age", adapter.name, where,
                                ", ".join(sorted(unpriced)), gap)
        if before - unpriced:
            adapter.log.info("%s %s: tickers again for %s", adapter.name, where, ", ".join(sorted(before - unpriced)))
        return unpriced

    # the public market-data stream

    async def follow_prices(self, sink: VenueReference) -> None:
        """Runs until cancelled (the reference data stopping): the stream's own task connects,
        subscribes and reconnects; this one checks the subscription and the silence."""
        self._since_ns = time.monotonic_ns()
        stream = self.market_stream = market_stream(
            self.adapter.config.market_ws_url, on_message=partial(self.on_market_message, sink),
            on_open=partial(self._subscribe_all, sink))
        # started aside, not awaited here: its wait for the first connection is a wait_for, which
        # on 3.11 can swallow this task's cancel if the connection comes up at that moment; not up
        # in time, the stream keeps trying on its own, with its backoff
        starting = asyncio.ensure_future(stream.start())
        starting.add_done_callback(_retrieve)
        try:
            while True:
                await asyncio.sleep(CHECK_S)
                self._subscribe_new(sink, stream)
                self._check_silence(sink, stream)
        finally:
            starting.cancel()
            await stream.stop()

    def _markets(self, sink: VenueReference) -> frozenset[str]:
        return frozenset(listing.venue_symbol for listing in sink.listings.values())

    def _subscribe_all(self, sink: VenueReference, stream: ReconnectingStream) -> None:
        """On every (re)connection: a new connection has no subscription."""
        markets = self._markets(sink)
        if markets:
            stream.send(ticker_subscription(markets))
        self._subscribed = markets

    def _subscribe_new(self, sink: VenueReference, stream: ReconnectingStream) -> None:
        new = self._markets(sink) - self._subscribed
        if new and stream.up.is_set():
            with contextlib.suppress(ConnectionError):  # gone meanwhile: the reconnection asks for all
                stream.send(ticker_subscription(new))
                self._subscribed |= new

    def _check_silence(self, sink: VenueReference, stream: ReconnectingStream) -> None:
        now, limit = time.monotonic_ns(), int(self.silent_after_s * 1e9)
        silent = frozenset(symbol for symbol, listing in sink.listings.items()
                           if now - self._seen_ns.get(listing.venue_symbol, self._since_ns) > limit)
        newly = silent - self.silent
        self.silent = self._note_unpriced(silent, self.silent, schemas.MARKET_WS_PATH,
                                           f" for {self.silent_after_s:g}s")
        if newly and stream.up.is_set():
            # the venue may have dropped the subscription without a word: ask again, once
            with contextlib.suppress(ConnectionError):
                stream.send(ticker_subscription(sink.listings[s].venue_symbol for s in newly))

    def _ours(self, sink: VenueReference) -> dict[str, list[str]]:
        """The venue's market -> our symbols, rebuilt when the reference data replaces its listings."""
        listings = sink.listings
        if self._mapped[0] is not listings:
            by_market: dict[str, list[str]] = {}
            for symbol, listing in listings.items():
                by_market.setdefault(listing.venue_symbol, []).append(symbol)
            self._mapped = (listings, by_market)
        return self._mapped[1]

    def on_market_message(self, sink: VenueReference, raw: bytes) -> None:
        try:
            frame = schemas.market_frame_decoder.decode(raw)
            if frame.event != schemas.TICKER_UPDATE:
                if not frame.event:
                    self._subscription_reply(frame)
                return  # another stream's event: not asked for, not read
            ticker = schemas.ticker_decoder.decode(frame.payload)
            prices = (price_of(ticker.bestBidPriceE9), price_of(ticker.bestAskPriceE9),
                      price_of(ticker.markPriceE9))
        except (*DECODE_ERRORS, ValueError) as exc:
            sink.on_bad_message(exc)  # counted, logged; the next ticker replaces it
            return
        symbols = self._ours(sink).get(ticker.symbol)
        if symbols:
            self._seen_ns[ticker.symbol] = time.monotonic_ns()
            for symbol in symbols:
                sink.on_quote(symbol, *prices)

    def _subscription_reply(self, frame: schemas.MarketFrame) -> None:
        if frame.success is None:
            raise ValueError("a market-data frame with neither an event nor a subscription reply")
        if not frame.success:
            adapter = self.adapter
            adapter.metrics.venue_error(adapter.name, "market_data")
            adapter.log.warning("%s %s: subscription refused: %s", adapter.name, schemas.MARKET_WS_PATH,
                                frame.message)
