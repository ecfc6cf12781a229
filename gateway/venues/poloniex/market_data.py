"""Poloniex's public market data as reference prices: the public WebSocket (/ws/public), its
book_lv2 channel for the best bid and ask and its ticker channel for markPrice, as ccxt.pro's
watch_order_book and watch_ticker read them (schemas.py says what was checked against ccxt.pro
and what is assumed; tests/integration/test_poloniex_market_data.py runs it as the oracle).

The book: a snapshot on subscribe, then updates, each level [price, quantity] (0 removes it).
An update whose lastId is not the id of the frame before it means frames were lost: the symbol
is re-subscribed for a new snapshot and its price left to age meanwhile. A frame that cannot be
read is counted (sink.on_bad_message) and dropped whole; the stream goes on.

The age. A quote is stamped when its book or mark changes, and again on each pong: the venue
answers a ping after the frames it sent before it, so a pong says the book held is still the
venue's. Pings go every reference_poll_secs, so a quiet market's price is about that old at
most. A connection that answers nothing for SILENT_PINGS pings, or a snapshot that does not
come as long, is dropped (one line and a count per outage) and reconnected with the order
streams' backoff (gateway/net/ws.py).

While the stream is down (connecting, reconnecting, no snapshot yet) the tickers are polled
over REST (reference.py), as when no stream is configured; the polls stop once it is up."""
from __future__ import annotations

import asyncio
import logging
import time

from gateway.net.ws import ReconnectingStream
from gateway.reference.instruments import parse_size
from gateway.reference.sync import FEED_BACKOFF_SECS
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.reference import ticker_price

log = logging.getLogger("gateway.venues.poloniex")

_PING = b'{"event":"ping"}'
# a connection (or a snapshot asked for) silent this many pings is dropped, and never sooner than
# SILENT_FLOOR_S: a busy event loop must not look like a silent venue
SILENT_PINGS, SILENT_FLOOR_S = 5, 1.0


def _levels(levels: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """A frame's [price, quantity] levels as e18 ints, all read before any is applied, so a
    frame with one unreadable level changes nothing."""
    out = []
    for price_text, quantity_text in levels:
        price, quantity = parse_size(price_text), parse_size(quantity_text)
        if price <= 0 or quantity < 0:
            raise ValueError(f"level [{price_text!r}, {quantity_text!r}] is not a price and a quantity")
        out.append((price, quantity))
    return out


class _Book:
    __slots__ = ("id", "bids", "asks")

    def __init__(self, book_id: int):
        self.id = book_id
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    @staticmethod
    def apply(side: dict[int, int], levels: list[tuple[int, int]]) -> None:
        for price, quantity in levels:
            if quantity:
                side[price] = quantity
            else:
                side.pop(price, None)

    def best(self) -> tuple[int | None, int | None]:
        # the venue sends its top levels only (20 a side): a scan is cheaper than keeping them sorted
        return (max(self.bids) if self.bids else None), (min(self.asks) if self.asks else None)


class PublicFeed:
    """The price feed of one Poloniex adapter (price_feed's coroutine is run())."""

    def __init__(self, adapter, sink, url: str):
        self.adapter = adapter
        self.sink = sink
        self.url = url
        self.poll_s = sink.poll_s
        self.ping_s = min(sink.poll_s, adapter.config.ws_ping_secs)
        self.silent_ns = int(max(SILENT_PINGS * self.ping_s, SILENT_FLOOR_S) * 1e9)
        self.books: dict[str, _Book] = {}  # venue symbol -> its book, once its snapshot came
        self.marks: dict[str, int | None] = {}
        self.symbols: dict[str, list[str]] = {}  # venue symbol -> our symbols that name it
        self.subscribed: set[str] = set()  # on this connection
        self.waiting: dict[str, int] = {}  # venue symbol -> when its snapshot was asked for
        self.last_frame_ns = 0
        self.outage = False  # said and counted once until the stream gives a book again
        self.stream = ReconnectingStream(f"{adapter.name} public", url, self.on_message, on_open=self._on_open,
                                         ping=_PING, ping_secs=self.ping_s, up_on_open=False)

    # what to follow

    def _follow_listings(self) -> None:
        symbols: dict[str, list[str]] = {}
        for symbol, listing in self.sink.listings.items():
            symbols.setdefault(str(listing.product_id), []).append(symbol)
        self.symbols = symbols
        if not self.stream.connected:
            return
        gone = self.subscribed - symbols.keys()
        if gone:
            self._send("unsubscribe", s.BOOK_CHANNEL, gone)
            self._send("unsubscribe", s.TICKER_CHANNEL, gone)
            self.subscribed -= gone
            for product in gone:
                self.books.pop(product, None)
                self.marks.pop(product, None)
                self.waiting.pop(product, None)
        self._subscribe(symbols.keys() - self.subscribed)

    def _send(self, event: str, channel: str, products) -> None:
        # one channel a message, as ccxt.pro's subscribe sends them
        try:
            self.stream.send(s.encoder.encode({"event": event, "channel": [channel], "symbols": sorted(products)}))
        except ConnectionError:
            pass  # gone meanwhile: the next connection subscribes from the listings again

    def _subscribe(self, products) -> None:
        if not products:
            return
        self._send("subscribe", s.BOOK_CHANNEL, products)
        self._send("subscribe", s.TICKER_CHANNEL, products)
        self.subscribed |= set(products)
        now = time.monotonic_ns()
        for product in products:
            self.waiting[product] = now

    def _on_open(self, stream: ReconnectingStream) -> None:
        # a new connection starts from nothing: the books come again as snapshots
        self.books.clear()
        self.marks.clear()
        self.subscribed.clear()
        self.waiting.clear()
        self.last_frame_ns = time.monotonic_ns()
        self._follow_listings()

    # the frames

    def on_message(self, payload: bytes) -> None:
        self.last_frame_ns = time.monotonic_ns()
        try:
            message = s.public_decoder.decode(payload)
            if message.event is not None:
                if message.event == "pong":
                    self._restamp()
                elif message.event == "error":
                    raise ValueError(f"the venue answered an error: {message.message}")
                return  # the acks of our subscriptions
            channel = message.channel[0] if isinstance(message.channel, list) else message.channel
            if channel == s.BOOK_CHANNEL:
                self._on_book(message)
            elif channel == s.TICKER_CHANNEL:
                self._on_ticker(message)
        except Exception as exc:  # noqa: BLE001 - one bad frame is counted and dropped, never the stream
            self.sink.on_bad_message(exc)

    def _on_book(self, message: s.PublicMessage) -> None:
        if message.action not in (s.SNAPSHOT, s.UPDATE):
            raise ValueError(f"a {s.BOOK_CHANNEL} frame with action {message.action!r}")
        lost = []
        for entry in s.book_data_decoder.decode(message.data):
            product = entry.symbol
            if product not in self.subscribed:
                continue
            bids, asks = _levels(entry.bids), _levels(entry.asks)
            if message.action == s.SNAPSHOT:
                book = self.books[product] = _Book(entry.id)
                self.waiting.pop(product, None)
                self.outage = False
                self.stream.up.set()  # the REST polls stop
            else:
                book = self.books.get(product)
                if book is None:
                    continue  # before its snapshot (ccxt.pro skips it too)
                if entry.lastId != book.id:
                    lost.append(f"{product}: update {entry.id} follows {entry.lastId}, the last one read was "
                                f"{book.id}")
                    self._resubscribe(product)
                    continue
                book.id = entry.id
            book.apply(book.bids, bids)
            book.apply(book.asks, asks)
            self._quote(product)
        if lost:
            raise ValueError(f"{s.BOOK_CHANNEL} frames lost ({'; '.join(lost)}): the book is read again")

    def _resubscribe(self, product: str) -> None:
        del self.books[product]
        self._send("unsubscribe", s.BOOK_CHANNEL, [product])
        self._send("subscribe", s.BOOK_CHANNEL, [product])
        self.waiting[product] = time.monotonic_ns()

    def _on_ticker(self, message: s.PublicMessage) -> None:
        entries = [(t.symbol, ticker_price(t.markPrice)) for t in s.ws_tickers_decoder.decode(message.data)]
        for product, mark in entries:
            if product in self.subscribed:
                self.marks[product] = mark
                self._quote(product)

    def _quote(self, product: str) -> None:
        book = self.books.get(product)
        if book is None:
            return
        bid, ask = book.best()
        mark = self.marks.get(product)
        for symbol in self.symbols.get(product, ()):
            self.sink.on_quote(symbol, bid, ask, mark)

    def _restamp(self) -> None:
        for product in self.books:
            self._quote(product)

    # the loop: watch the stream, poll while it is down

    def _watch(self) -> None:
        if not self.stream.connected:
            return
        now = time.monotonic_ns()
        silent = now - self.last_frame_ns > self.silent_ns
        late = [p for p, asked in self.waiting.items() if now - asked > self.silent_ns]
        if not silent and not late:
            return
        if not self.outage:
            self.outage = True
            self.adapter.metrics.venue_error(self.adapter.name, "market_data")
            why = "no frame" if silent else f"no snapshot of {', '.join(sorted(late))}"
            log.warning("venue %s: public stream %s: %s for %.1fs: reconnecting, prices polled meanwhile",
                        self.adapter.name, self.url, why, self.silent_ns / 1e9)
        self.stream.drop()

    async def _poll(self) -> bool:
        """One REST poll of the tickers; False when it failed (said and counted)."""
        listings = dict(self.sink.listings)
        if not listings:
            return True
        try:
            quotes = await self.adapter.fetch_quotes(listings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line and a count, then try again
            self.sink.on_bad_message(RuntimeError(f"REST poll while the public stream is down: "
                                                  f"{type(exc).__name__}: {exc}"))
            return False
        if not self.stream.up.is_set():  # else it came up meanwhile: its prices are the newer
            for symbol, (bid, ask, mark) in quotes.items():
                self.sink.on_quote(symbol, bid, ask, mark)
        return True

    async def run(self) -> None:
        log.info("venue %s: prices follow %s (book_lv2, ticker); REST polls while it is down",
                 self.adapter.name, self.url)
        self._follow_listings()
        try:
            # not asyncio.wait_for (start's wait): on 3.11 it can swallow the cancel that stops us
            await self.stream.start(timeout_s=0)
            await self._until_up(self.poll_s)  # a moment for the stream before the first poll
            backoff = FEED_BACKOFF_SECS[0]
            while True:
                self._follow_listings()
                self._watch()
                if self.stream.up.is_set():
                    backoff = FEED_BACKOFF_SECS[0]
                    await asyncio.sleep(self.ping_s)
                    continue
                if await self._poll():
                    backoff = FEED_BACKOFF_SECS[0]
                    await self._until_up(self.poll_s)
                else:
                    await self._until_up(backoff)
                    backoff = min(backoff * 2, FEED_BACKOFF_SECS[1])
        finally:
            await self.stream.stop()

    async def _until_up(self, timeout_s: float) -> None:
        """Wait until the stream is up, timeout_s at most (the polls stop as soon as it is)."""
        waiter = asyncio.ensure_future(self.stream.up.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout_s)
        finally:
            waiter.cancel()
