"""Poloniex's public reference data: its markets (GET /markets) as Listings, and the best
bid, ask and mark of our symbols (GET /markets/{symbol}/ticker24h), both as ccxt reads them
(load_markets, fetch_ticker; tests/integration/test_poloniex_ccxt.py runs ccxt against the
simulator and compares).

Prices follow the venue's public WebSocket (market_data.py: its book_lv2 channel for the bid
and ask, its ticker channel, which has no bid or ask, for markPrice). The REST tickers here
are what runs while that stream is down, or when none is configured (public_ws_url = ""):
one answer gives all three.

A market's sizes are decimals: priceScale 2 is a tick of 0.01, quantityScale 4 a lot of
0.0001 (ccxt's parse_precision); minQuantity is the least quantity. The state NORMAL
trades (ccxt's active); any other is a halt here (a post-only market too: the gateway's
orders are not all post-only), so new orders are refused until the venue lists it NORMAL
again."""
from __future__ import annotations

import logging

from gateway.reference.instruments import HALTED, TRADING, Listing, parse_size, scale_step
from gateway.venues.base import VenueError
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.queries import JSON
from gateway.venues.reference_hooks import Prices

log = logging.getLogger("gateway.venues.poloniex")


def listing_of(market: s.Market) -> Listing | None:
    """A market as a Listing; None when its sizes are missing or unreadable (it cannot be
    checked, so it is not offered: a symbol that needs it is then not listed, loudly)."""
    limit = market.symbolTradeLimit
    if limit is None or limit.priceScale is None or limit.quantityScale is None or limit.minQuantity is None:
        return None
    try:
        tick, lot = scale_step(limit.priceScale), scale_step(limit.quantityScale)
        min_quantity = parse_size(limit.minQuantity)
    except ValueError:
        return None
    base, _, quote = market.symbol.partition("_")
    return Listing(product_id=market.symbol, venue_symbol=market.symbol,
                   base=(market.baseCurrencyName or base).upper(), quote=(market.quoteCurrencyName or quote).upper(),
                   tick=tick, lot=lot, min_quantity=min_quantity,
                   status=TRADING if market.state == s.NORMAL else HALTED)


async def list_instruments(adapter) -> list[Listing]:
    """GET /markets (public): every spot market the venue lists."""
    response = await adapter.market_data_http.request("GET", "/markets", b"", JSON)
    if response.status != 200:
        raise VenueError("venue_error", f"GET /markets: {adapter.error_text(response)}")
    markets = s.markets_decoder.decode(response.body)
    listings, unreadable = [], []
    for market in markets:
        listing = listing_of(market)
        if listing is None:
            unreadable.append(market.symbol)
        else:
            listings.append(listing)
    if unreadable:
        log.warning("venue %s: GET /markets: %d markets without readable sizes left out (%s)", adapter.name,
                    len(unreadable), ", ".join(unreadable[:5]) + (", ..." if len(unreadable) > 5 else ""))
    return listings


def ticker_price(text: str) -> int | None:
    """A ticker's price, e18; None for an empty side ("0", "" or absent)."""
    if not text:
        return None
    value = parse_size(text)
    return value if value > 0 else None


async def fetch_quotes(adapter, listings: dict[str, Listing]) -> dict[str, Prices]:
    """GET /markets/{symbol}/ticker24h for each symbol, on one connection, all sent before the
    first answer is read. A symbol the venue answers with an error for is left out; an
    answer that cannot be read fails the poll (one line and a count, in the poll loop)."""
    http = adapter.market_data_http
    pending = [(symbol, await http.send("GET", f"/markets/{listing.product_id}/ticker24h", b"", JSON))
               for symbol, listing in listings.items()]
    quotes: dict[str, Prices] = {}
    refused: list[str] = []
    for symbol, reply in pending:
        response = await reply
        if response.status != 200:
            refused.append(f"{symbol}: {adapter.error_text(response)}")
            continue
        ticker = s.ticker_decoder.decode(response.body)
        if ticker.symbol != str(listings[symbol].product_id):
            raise ValueError(f"asked for {listings[symbol].product_id}'s ticker, the venue answered {ticker.symbol}'s")
        quotes[symbol] = (ticker_price(ticker.bid), ticker_price(ticker.ask), ticker_price(ticker.markPrice))
    if refused and not quotes:
        raise VenueError("venue_error", "GET /markets/{symbol}/ticker24h: " + "; ".join(refused))
    return quotes
