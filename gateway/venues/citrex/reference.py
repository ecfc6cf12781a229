"""Citrex reference data: the public product list and prices (see schemas.py for which calls
the official client shows and which parts are our assumptions).

Prices are polled: the venue's client shows no public market-data stream. One poll asks the
ticker list once (the mark of every product) and the book of each of our symbols (best bid
and ask)."""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from gateway.net.http import HttpClient
from gateway.reference.instruments import HALTED, TRADING, Listing, parse_size, readable
from gateway.venues.citrex import schemas
from gateway.venues.errors import VenueError

PRODUCTS_PATH = "/v1/products"
TICKERS_PATH = "/v1/ticker/24hr"
DEPTH_PATH = "/v1/depth"
DEPTH_LEVELS = 5  # the smallest the venue serves; only the top level is read
PERP_SUFFIX = "perp"


def _e18(value: str | int) -> int:
    return parse_size(value, scale_in=18)


def listing(product: schemas.Product) -> Listing:
    symbol = product.symbol
    # the base is the symbol's ("ethperp" -> ETH): baseAsset names the wrapped token ("WETH")
    if symbol.lower().endswith(PERP_SUFFIX) and len(symbol) > len(PERP_SUFFIX):
        base = symbol[:-len(PERP_SUFFIX)].upper()
    else:
        base = product.baseAsset.upper()
    minimum = _e18(product.minQuantity)
    tick = _e18(product.increment)
    if tick <= 0 or minimum <= 0:
        raise ValueError(f"product {product.id} ({symbol}): increment and minQuantity must be positive")
    return Listing(product_id=product.id, venue_symbol=symbol, base=base, quote=product.quoteAsset.upper(),
                   tick=tick, lot=minimum, min_quantity=minimum,
                   status=TRADING if product.active else HALTED)


async def _get(http: HttpClient, path: str) -> bytes:
    response = await http.request("GET", path)
    if response.status != 200:
        raise VenueError("market_data", f"GET {path} answered HTTP {response.status}")
    return response.body


async def list_instruments(http: HttpClient, venue: str = "citrex") -> list[Listing]:
    return readable(venue, schemas.products_decoder.decode(await _get(http, PRODUCTS_PATH)), listing)


def _best(rows: list[list[str | int]]) -> int | None:
    if not rows:
        return None
    if not rows[0]:
        raise ValueError("an empty book row")
    return _e18(rows[0][0]) or None


async def fetch_quotes(http: HttpClient, listings: dict[str, Listing]):
    """Our symbol -> (bid, ask, mark), e18. A symbol the venue gives nothing for is left out."""
    ours = {str(x.product_id): s for s, x in listings.items()}
    tickers, *books = await asyncio.gather(
        _get(http, TICKERS_PATH),
        *(_get(http, f"{DEPTH_PATH}?symbol={quote(x.venue_symbol)}&limit={DEPTH_LEVELS}")
          for x in listings.values()), return_exceptions=True)
    if isinstance(tickers, BaseException):
        raise tickers
    failed = [(s, b) for s, b in zip(listings, books) if isinstance(b, BaseException)]
    if failed and len(failed) == len(books):
        raise failed[0][1]  # nothing read: the poll failed (said and counted by its caller)
    marks: dict[str, int | None] = {}
    for ticker in schemas.tickers_decoder.decode(tickers):
        symbol = ours.get(str(ticker.productId))
        if symbol is not None:
            marks[symbol] = None if ticker.markPrice is None else (_e18(ticker.markPrice) or None)
    quotes = {}
    for symbol, raw in zip(listings, books):
        if isinstance(raw, BaseException):
            continue  # one market's book not read: the others' still are (its price ages, the mark stays)
        depth = schemas.depth_decoder.decode(raw)
        bid, ask, mark = _best(depth.bids), _best(depth.asks), marks.get(symbol)
        if bid or ask or mark:
            quotes[symbol] = (bid, ask, mark)
    return quotes
