"""What an adapter tells the gateway's reference data (gateway/reference/): its venue's
instrument list and public prices. Public calls only: no credentials, and a client of their
own (`market_data_http`), so a price poll never waits in the order path's connections or
spends its rate limit."""
from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, NamedTuple

from gateway._core.fixedpoint import parse_scaled
from gateway.net.http import HttpClient
from gateway.orders.model import SCALE

if TYPE_CHECKING:
    from gateway.reference.instruments import Listing
    from gateway.reference.sync import VenueReference
    from gateway.venues.config import InstrumentConfig

class Steps(NamedTuple):
    """An instrument's tick, lot and minimum quantity, as e18 ints."""
    tick: int
    lot: int
    min_quantity: int


# a price: (bid, ask, mark) as e18 ints, None where the venue gives none
Prices = tuple["int | None", "int | None", "int | None"]


class ReferenceHooks:
    # the quote a symbol like "ETH-PERP" means on a venue that lists the base against several
    default_quote = ""
    _market_data_http: HttpClient | None = None

    async def list_instruments(self) -> list[Listing]:
        """Every instrument the venue lists (its public list), as Listings."""
        raise NotImplementedError(f"{type(self).__name__} reads no instrument list")

    async def fetch_quotes(self, listings: dict[str, Listing]) -> dict[str, Prices]:
        """The current prices of these symbols (our symbol -> its listing), by REST: the poll
        used when price_feed gives no stream. A symbol the venue gives no price for is left out."""
        raise NotImplementedError(f"{type(self).__name__} reads no prices")

    def price_feed(self, sink: VenueReference) -> Awaitable[None] | None:
        """A coroutine that follows the venue's public market-data stream for sink.listings,
        calling sink.on_quote(symbol, bid, ask, mark) and sink.on_bad_message(exc), and
        reconnecting as the order streams do; None: prices are polled (fetch_quotes)."""
        return None

    @property
    def market_data_http(self) -> HttpClient:
        """The client of the public calls: one connection, no rate limit, no journal."""
        if self._market_data_http is None:
            self._market_data_http = self.http_client(self.market_data_url(), connections=1, limited=False,
                                                      journaled=False)
        return self._market_data_http

    def market_data_url(self) -> str:
        return self.config.rest_url

    async def close_market_data(self) -> None:
        if self._market_data_http is not None:
            await self._market_data_http.close()
            self._market_data_http = None

    def apply_instruments(self, instruments: dict[str, InstrumentConfig]) -> None:
        """The instruments to trade, from the config checked against the venue's list: replaced
        whole, so the order path never sees half of a change."""
        self.steps = {
            symbol: Steps(parse_scaled(i.tick_size, SCALE), parse_scaled(i.lot_size, SCALE),
                          parse_scaled(i.min_quantity, SCALE))
            for symbol, i in instruments.items()
        }
        self.instruments = dict(instruments)
