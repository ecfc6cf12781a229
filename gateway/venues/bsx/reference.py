"""BSX's reference data: the public product list (GET /products, what the official SDK's
get_products reads) and prices, polled: the mark from that list, best bid and ask from each
product's book (GET /products/{product_id}/book; an assumption, see schemas.py). No public
market-data stream is shown by the seed or the SDK, so there is no price_feed.

Public calls: no bsx-key headers, on the adapter's market_data_http."""
from __future__ import annotations

from typing import Protocol

from gateway.net.http import HttpClient, Response
from gateway.reference.instruments import HALTED, TRADING, Listing, parse_size, readable
from gateway.venues.bsx import schemas
from gateway.venues.bsx.wire import JSON
from gateway.venues.reference_hooks import Prices


class Venue(Protocol):
    """What the reference calls need of their adapter (gateway/venues/bsx/adapter.py)."""
    @property
    def market_data_http(self) -> HttpClient: ...

    def error_text(self, response: Response) -> str: ...


class VenueAnswer(Exception):
    """A public call answered other than 200."""


def listing(product: schemas.Product) -> Listing:
    """One product as a Listing: its `index` is the product id orders sign (and the config's
    product_id names); sizes as e18 ints. A product that takes no crossing orders (post_only)
    or none at all (not enabled) is halted."""
    status = TRADING if product.enabled and not product.post_only else HALTED
    return Listing(product_id=product.index, venue_symbol=product.product_id,
                   base=product.base_asset_symbol.upper(), quote=product.quote_asset_symbol.upper(),
                   tick=_step("quote_increment", product, product.quote_increment),
                   lot=_step("base_increment", product, product.base_increment),
                   min_quantity=parse_size(product.min_order_size), status=status)


def _step(field: str, product: schemas.Product, text: str) -> int:
    step = parse_size(text)
    if step <= 0:  # a zero tick or lot would make every price or size "a multiple"
        raise ValueError(f"{product.product_id}: {field} {text!r} is not positive")
    return step


def _price(text: str) -> int | None:
    value = parse_size(text)
    return value or None  # "0": the venue has none


class BsxReference:
    def __init__(self, adapter: Venue):
        self.adapter = adapter

    async def _get(self, path: str) -> bytes:
        response = await self.adapter.market_data_http.request("GET", path, b"", JSON)
        if response.status != 200:
            raise VenueAnswer(f"GET {path}: {self.adapter.error_text(response)}")
        return response.body

    async def products(self) -> list[schemas.Product]:
        return schemas.products_decoder.decode(await self._get("/products")).products

    async def list_instruments(self) -> list[Listing]:
        return readable(self.adapter.name, await self.products(), listing)

    async def fetch_quotes(self, listings: dict[str, Listing]) -> dict[str, Prices]:
        marks = {p.product_id: _price(p.mark_price) for p in await self.products()}
        quotes: dict[str, Prices] = {}
        for symbol, listed in listings.items():
            if listed.venue_symbol not in marks:
                continue  # gone from the list: the refresh says so, not the prices
            book = schemas.book_decoder.decode(await self._get(f"/products/{listed.venue_symbol}/book"))
            bid = max((parse_size(p) for p, _ in book.bids), default=None)
            ask = min((parse_size(p) for p, _ in book.asks), default=None)
            quotes[symbol] = (bid, ask, marks[listed.venue_symbol])
        return quotes
