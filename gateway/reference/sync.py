"""One venue's reference data kept current: its instrument list, checked at start and
refreshed, and its public prices, followed by the adapter's feed (a WebSocket) or polled.

Nothing here is on the order path: the order path reads `adapter.instruments`,
`adapter.steps`, `adapter.unavailable` and ReferencePrices, which these tasks replace
whole, never mutate half-way."""
from __future__ import annotations

import asyncio
import logging
import time

from gateway._core.fixedpoint import format_scaled
from gateway.reference.instruments import (DELISTED, SCALE, TRADING, InstrumentMismatch, Listing, check_unique,
                                           resolve)
from gateway.reference.prices import ReferencePrices

log = logging.getLogger("gateway.reference")

# a venue that did not answer the list at start is asked again this often until it does
RETRY_SECS = 5.0
# a price feed that failed waits this long before it tries again (then doubles, up to the cap)
FEED_BACKOFF_SECS = (0.5, 10.0)


class ReferenceUnavailable(Exception):
    """The venue could not be asked (down, timed out, answered garbage): not a mismatch."""


class VenueReference:
    def __init__(self, adapter, prices: ReferencePrices, *, refresh_s: float, poll_s: float):
        self.adapter = adapter
        self.venue = adapter.name
        self.prices = prices
        self.refresh_s = refresh_s
        self.poll_s = poll_s
        self.listings: dict[str, Listing] = {}  # symbol -> the venue's listing, once checked: what feeds follow
        self.delisted: dict[str, Listing] = {}  # symbol -> its last listing, gone from the venue's list
        self.venue_list: list[Listing] = []  # everything the venue lists, for `gateway instruments`
        self.checked_ns: int | None = None  # wall clock of the last good list
        self.stricter: list[str] = []
        self.errors = 0  # lists that could not be read or checked
        self.feed_errors = 0
        self._said: dict[str, str] = {}  # symbol -> the mismatch last said of it
        self._tasks: list[asyncio.Task] = []

    # the instrument list

    async def load(self) -> None:
        """At start: check every configured instrument and fill the symbols given alone.
        InstrumentMismatch refuses the start; a venue that cannot be asked keeps the config
        (symbols given alone stay unavailable) and is asked again in the background."""
        t0 = time.perf_counter()
        try:
            listings = await self._fetch()
        except ReferenceUnavailable as exc:
            self.errors += 1
            log.error("venue %s: cannot read its instrument list (%s): starting from the config, "
                      "asking again every %gs", self.venue, exc, RETRY_SECS)
            missing = {s: "the venue's instrument list has not been read yet" for s in self._symbols_alone()}
            self._set(dict(self.adapter.instruments), missing)
            return
        self._apply(listings, at_start=True)
        log.info("venue %s: %d instruments listed, %d traded, checked in %.1f ms", self.venue, len(listings),
                 len(self.listings), (time.perf_counter() - t0) * 1e3)

    def _symbols_alone(self) -> list[str]:
        return [s for s in self.adapter.config.symbols if s not in self.adapter.config.instruments]

    async def _fetch(self) -> list[Listing]:
        try:
            listings = await self.adapter.list_instruments()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - down, timed out, unparseable: one line, a count
            self.adapter.metrics.venue_error(self.venue, "instrument_list")
            raise ReferenceUnavailable(f"{type(exc).__name__}: {exc}") from None
        if not listings:
            self.adapter.metrics.venue_error(self.venue, "instrument_list")
            raise ReferenceUnavailable("the venue listed no instruments")
        return listings

    def _apply(self, listings: list[Listing], *, at_start: bool) -> None:
        """Every symbol we trade held to the venue's list, one by one. At start a mismatch refuses
        the start (InstrumentMismatch); after it, the symbol it concerns is made unavailable,
        loudly, and the others go on."""
        config, quote = self.adapter.config, self.adapter.default_quote
        instruments, found, unavailable, delisted, stricter = {}, {}, {}, {}, []
        mismatched = False
        for symbol in [*config.instruments, *self._symbols_alone()]:
            block = config.instruments.get(symbol)
            old = self.listings.get(symbol)
            try:
                r = resolve(self.venue, {symbol: block} if block else {}, [] if block else [symbol], listings, quote)
                listing = r.listings[symbol]
                why = None if at_start or old is None or block else self._moved(symbol, old, listing)
            except InstrumentMismatch as exc:
                if at_start:
                    raise
                listing, why = None, str(exc)
                old = old or self.delisted.get(symbol)
                if old is not None:
                    # shown (gateway instruments), never followed: a price feed asking the venue for a
                    # market it no longer has could take the venue's other prices down with it
                    delisted[symbol] = old._replace(status=DELISTED)
                    old = None
            if why is not None:  # not the venue's, or moved: nothing new goes; what was traded stays
                mismatched, unavailable[symbol] = True, why
                self._say_once(symbol, why)
                if symbol in self.adapter.instruments:
                    instruments[symbol] = self.adapter.instruments[symbol]
                if old is not None:
                    found[symbol] = old
                continue
            if old is not None and not block:
                self._log_changes(symbol, old, listing)
            instruments.update(r.instruments)
            found[symbol] = listing
            stricter += r.stricter
            if listing.status != TRADING:
                unavailable[symbol] = f"{self.venue} lists {listing.venue_symbol} as {listing.status}"
        check_unique(self.venue, found)
        if mismatched:
            self.errors += 1
            self.adapter.metrics.venue_error(self.venue, "instrument_list")  # a list without our symbol counts
        for line in stricter:
            if line not in self.stricter:
                log.info("%s (allowed)", line)
        self.stricter = stricter
        self.listings, self.delisted, self.venue_list = found, delisted, listings
        self.checked_ns = time.time_ns()
        self._set(instruments, unavailable)

    def _say_once(self, symbol: str, why: str) -> None:
        """A symbol's mismatch at error once; the same again at every refresh only at debug."""
        level = logging.DEBUG if self._said.get(symbol) == why else logging.ERROR
        self._said[symbol] = why
        log.log(level, "%s", why)

    def _moved(self, symbol: str, old: Listing, new: Listing) -> str | None:
        """A symbol given alone that the venue's list now maps to another product: its open orders
        and queued requests name the old one, so nothing new goes until a restart takes the new one."""
        if str(old.product_id) == str(new.product_id):
            return None
        return (f"venue {self.venue}: symbol {symbol}: the venue's list now maps it to product_id "
                f"{new.product_id!r} ({new.venue_symbol}), not {old.product_id!r}: new orders refused until a restart")

    def _log_changes(self, symbol: str, old: Listing, new: Listing) -> None:
        for field in ("tick", "lot", "min_quantity"):
            a, b = getattr(old, field), getattr(new, field)
            if a != b:
                log.warning("venue %s: %s %s changed on the venue: %s -> %s (applied)", self.venue, symbol,
                            field, format_scaled(a, SCALE), format_scaled(b, SCALE))
        if old.status != new.status:
            log.warning("venue %s: %s is now %s on the venue", self.venue, symbol, new.status)

    def _set(self, instruments, unavailable: dict[str, str]) -> None:
        self.adapter.apply_instruments(instruments)
        for symbol, why in unavailable.items():
            if symbol not in self.adapter.unavailable:
                log.warning("venue %s: %s: new orders refused (instrument_unavailable): %s", self.venue, symbol, why)
        self.adapter.unavailable = unavailable

    async def refresh(self) -> None:
        """Read the list again and hold every symbol to it (a halt, a delisting, a size change)."""
        self._apply(await self._fetch(), at_start=False)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(RETRY_SECS if self.checked_ns is None else self.refresh_s)
            try:
                await self.refresh()
            except ReferenceUnavailable as exc:
                self.errors += 1
                log.warning("venue %s: instrument list not refreshed: %s", self.venue, exc)
            except Exception:  # noqa: BLE001 - a bug must not end the refreshes: said, counted, next time
                self.errors += 1
                self.adapter.metrics.venue_error(self.venue, "instrument_list")
                log.exception("venue %s: instrument list refresh failed", self.venue)

    # prices

    async def _poll_loop(self) -> None:
        backoff = FEED_BACKOFF_SECS[0]
        while True:
            listings = dict(self.listings)
            if not listings:
                await asyncio.sleep(self.poll_s)
                continue
            try:
                quotes = await self.adapter.fetch_quotes(listings)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one line and a count, then try again
                self.feed_errors += 1
                self.prices.bad_message(self.venue)
                self.adapter.metrics.venue_error(self.venue, "market_data")
                log.warning("venue %s: prices not read: %s: %s", self.venue, type(exc).__name__, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, FEED_BACKOFF_SECS[1])
                continue
            backoff = FEED_BACKOFF_SECS[0]
            now = time.monotonic_ns()
            for symbol, (bid, ask, mark) in quotes.items():
                self.prices.update(self.venue, symbol, bid, ask, mark, now)
            await asyncio.sleep(self.poll_s)

    def on_quote(self, symbol: str, bid: int | None, ask: int | None, mark: int | None) -> None:
        """A streaming feed's price for one of our symbols."""
        self.prices.update(self.venue, symbol, bid, ask, mark)

    def on_bad_message(self, exc: Exception) -> None:
        self.feed_errors += 1
        self.prices.bad_message(self.venue)
        self.adapter.metrics.venue_error(self.venue, "market_data")
        log.warning("venue %s: unreadable price message dropped: %s", self.venue, exc)

    # lifecycle

    def start(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._refresh_loop()))
        feed = self.adapter.price_feed(self)
        self._tasks.append(asyncio.ensure_future(feed if feed is not None else self._poll_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        self._tasks.clear()
