"""Bluefin Pro's public reference data: its markets from GET /v1/exchange/info (the call the
official SDK's init makes) and its prices from GET /v1/exchange/tickers, polled.

One read at start. The adapter reads exchange/info at start for the IDS id; the markets of
that same reply are kept (`keep_start_reply`) and are the first list the reference data asks
for, so a start costs one exchange/info, not two. Every later list is read anew.

Prices are polled, not streamed: venues.md says the market-data WebSocket streams the same
ticker per symbol, but its subscription (the SDK's MarketSubscriptionMessage with per-stream
parameters) and its host are not written down where this adapter could check them, and the
simulator serves no such stream; the REST poll is the one the SDK documents
(get_all_market_ticker).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.reference.instruments import DELISTED, HALTED, TRADING, Listing
from gateway.venues.base import VenueAdapter, VenueError
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.parsing import e18_of_e9
from gateway.venues.bluefin.session import JSON
from gateway.venues.bluefin.signing import signable_symbol

if TYPE_CHECKING:
    from gateway.venues.reference_hooks import Prices


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
        self._note_unpriced(frozenset(listings) - frozenset(quotes))
        return quotes

    def _note_unpriced(self, unpriced: frozenset[str]) -> None:
        """A symbol the tickers leave out keeps its last price, ageing: counted every poll, said
        once when it starts and once when it ends (a poll a second must not flood the log)."""
        adapter = self.adapter
        if unpriced:
            adapter.metrics.venue_error(adapter.name, "market_data")
        if unpriced - self._unpriced:
            adapter.log.warning("%s GET %s: no ticker for %s: their reference prices age", adapter.name,
                                schemas.TICKERS_PATH, ", ".join(sorted(unpriced)))
        if self._unpriced - unpriced:
            adapter.log.info("%s GET %s: tickers again for %s", adapter.name, schemas.TICKERS_PATH,
                             ", ".join(sorted(self._unpriced - unpriced)))
        self._unpriced = unpriced
