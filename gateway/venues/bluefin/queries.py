"""What the Bluefin adapter asks the venue outside the order path: a market's
open orders (GET /api/v1/trade/openOrders), for reconcile and look-ups, and the
account's trade history (GET /api/v1/account/trades, on the api host), page by
page. Queries go on a connection of their own, never one an order waits for,
and each pays for its request from the look-ups' share of the rate limit.

The venue lists only open orders. One listing per market answers every order
of that market asked about: listed settles it (what the listing says is
applied). Not listed settles it as never taken for an order the venue never
acknowledged (NOT_FOUND, believed by the resolver after its grace). One it
acknowledged and no longer lists (once a request could no longer be on its way
into the book) closed at the venue while we were not listening: one read of
the market's trade history, from the oldest such order's creation, books what
each of them filled, and each closes (CANCELED, or FILLED when it all filled).

The trade history comes newest first in pages of at most TRADES_PAGE_LIMIT
(schemas.py says which of its parameters are our assumption); pages are read
until one comes back short (the window is covered), or, for one order whose
filled total the stream told us, until its trades account for that total.
"""
from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Sequence

import msgspec

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError
from gateway.orders.model import Order, Status
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.parsing import e18_of_e9, fill_of, same_hash
from gateway.venues.errors import VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND, UNDECIDED, Answer, LoopSlices
from gateway.venues.base import VenueAdapter

_entries_decoder = msgspec.json.Decoder(list[msgspec.Raw])  # a listing split into its entries, undecoded
HISTORY_MARGIN_MS = 1000  # the trade history is read from this long before the order was made
CLOSED_AWAY = "closed at the venue while its stream was down (no longer open, not filled)"


class BluefinQueries:
    def __init__(self, adapter: VenueAdapter):  # the BluefinAdapter this is part of
        self.adapter = adapter
        self.http: HttpClient | None = None  # the trade host: open orders
        self.api_http: HttpClient | None = None  # the api host: the account's trades
        self._history: dict[str, asyncio.Task] = {}  # order id -> its trade history being read

    def start(self) -> None:
        ad = self.adapter
        self.http = ad.http_client(ad.config.rest_url, connections=1, journaled=False)
        api_url = ad.config.api_url
        self.api_http = self.http if not api_url or api_url == ad.config.rest_url else ad.api_http

    async def close(self) -> None:
        for task in list(self._history.values()):
            task.cancel()
        if self.http is not None:
            await self.http.close()

    async def _get(self, http: HttpClient, path: str) -> bytes:
        ad = self.adapter
        await ad.resolver.pay()
        response = await ad.session.get(http, path)
        if response.status != 200:
            raise VenueError("venue_error", ad.error_text(response))
        return response.body

    # open orders: reconcile and look-ups

    async def listed(self, market: str, wanted: dict[str, Order]) -> AsyncIterator[Order]:
        """Each of the wanted orders (by normalized hash) the market's open orders list, once
        what the listing says of it has been applied."""
        body = await self._get(self.http, f"{schemas.OPEN_ORDERS_PATH}?symbol={market}")
        try:
            entries = _entries_decoder.decode(body)
        except DECODE_ERRORS as exc:
            raise VenueError("venue_error", f"unreadable open orders: {exc}") from None
        slices = LoopSlices()
        for entry in entries:
            try:
                payload = schemas.order_payload_decoder.decode(entry)
            except DECODE_ERRORS as exc:
                raise VenueError("venue_error", f"unreadable open order: {exc}") from None
            order = wanted.pop(schemas.norm_hash(payload.orderHash), None)
            if order is not None:
                self._apply_listed(payload, order)
                yield order
            await slices.turn()

    def _apply_listed(self, payload: schemas.OrderPayload, order: Order) -> None:
        ad = self.adapter
        ad.mark_acked(order)
        # fills made while away show as the venue's total (no trade records for them)
        ad.events.on_order(payload, order, filled=e18_of_e9(payload.filledQuantityE9))
        ad.run_deferred(order)

    def _by_market(self, orders: Sequence[Order]) -> list[tuple[str, list[Order], dict[str, Order]]]:
        """The orders market by market, each market's also by normalized hash."""
        groups: dict[str, list[Order]] = {}
        for order in orders:
            groups.setdefault(self.adapter.market(order), []).append(order)
        return [(market, group, {schemas.norm_hash(o.venue_order_id): o for o in group if o.venue_order_id})
                for market, group in sorted(groups.items())]

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        # open orders only, market by market: those of a market that cannot be listed are looked up
        listed_ids = set()
        for market, _, wanted in self._by_market(orders):
            try:
                async for order in self.listed(market, wanted):
                    listed_ids.add(order.order_id)
            except (HttpError, VenueError) as exc:
                self.adapter.log.error("reconcile: cannot list open orders on %s: %s", market, exc)
        return listed_ids

    async def lookup_many(self, orders: Sequence[Order]) -> AsyncIterator[tuple[Order, Answer]]:
        """One listing per market answers its orders; one trade history read per market closes
        those the venue acknowledged and no longer lists (the module's docstring)."""
        resolver = self.adapter.resolver
        for market, group, wanted in self._by_market(orders):
            answered: set[str] = set()
            try:
                async for order in self.listed(market, wanted):
                    answered.add(order.order_id)
                    yield order, FOUND
            except (HttpError, VenueError) as exc:
                for order in group:
                    if order.order_id not in answered:
                        yield order, exc
                continue
            gone, unheard = [], []
            for order in group:
                if order.order_id in answered:
                    continue
                waited = resolver.waited_s(order) >= resolver.grace_s
                if not self.adapter.venue_has(order):
                    # never acknowledged (its reply lost, a restart): the venue may still have
                    # taken it and filled it at once (it lists open orders only), so once a
                    # request can no longer be on its way its trades are looked for too
                    if waited:
                        unheard.append(order)
                    else:
                        yield order, NOT_FOUND
                elif not waited:
                    yield order, UNDECIDED
                else:
                    gone.append(order)
            if gone or unheard:
                try:
                    async for order, answer in self._closed_away(market, gone, unheard):
                        answered.add(order.order_id)
                        yield order, answer
                except (HttpError, VenueError) as exc:
                    for order in gone + unheard:
                        if order.order_id not in answered:
                            yield order, exc

    async def _closed_away(self, market: str, gone: list[Order],
                           unheard: list[Order]) -> AsyncIterator[tuple[Order, Answer]]:
        """One trade history read: orders the venue acknowledged and no longer lists closed there
        (their trades first); orders it never acknowledged are found by their trades, or not."""
        ad = self.adapter
        since_ms = min(o.created_ns for o in gone + unheard) // 1_000_000 - HISTORY_MARGIN_MS
        by_hash: dict[str, list[schemas.TradePayload]] = collections.defaultdict(list)
        for trade in await self.trades(market, since_ms):
            by_hash[schemas.norm_hash(trade.orderHash)].append(trade)
        slices = LoopSlices()
        unheard_ids = {o.order_id for o in unheard}
        for order in gone + unheard:
            fills = [fill_of(t) for t in by_hash.get(schemas.norm_hash(order.venue_order_id), ())]
            if not fills and order.order_id in unheard_ids:
                yield order, NOT_FOUND  # no trade either: the resolver's guess, as before
                continue
            if fills:
                ad.mark_acked(order)
                ad.tracker.apply(order, None, fills)
            if not order.is_closed:
                ad.tracker.apply(order, Status.CANCELED, reason=CLOSED_AWAY)
            ad.fail_deferred(order, "the order is closed at the venue")
            yield order, FOUND
            await slices.turn()

    # the account's trade history

    async def trades(self, market: str, since_ms: int,
                     enough: Callable[[list[schemas.TradePayload]], bool] | None = None
                     ) -> list[schemas.TradePayload]:
        """The account's trades on the market from since_ms until now, newest first: page after
        page until one comes back short, or until enough(page) (told each page) says the trades
        sought are all there. A span longer than one query may ask for is read window by window."""
        end_ms = time.time_ns() // 1_000_000
        since_ms = min(since_ms, end_ms - 1)
        out: list[schemas.TradePayload] = []
        seen: set[str] = set()
        while True:
            start_ms = max(since_ms, end_ms - schemas.TRADES_MAX_WINDOW_MS + 1)
            page = 1
            while True:
                body = await self._get(self.api_http, (
                    f"{schemas.ACCOUNT_TRADES_PATH}?symbol={market}&startTimeAtMillis={start_ms}"
                    f"&endTimeAtMillis={end_ms}&limit={schemas.TRADES_PAGE_LIMIT}&page={page}"))
                try:
                    batch = schemas.trades_decoder.decode(body)
                except DECODE_ERRORS as exc:
                    raise VenueError("venue_error", f"unreadable trade history: {exc}") from None
                new = [t for t in batch if t.id not in seen]
                if len(batch) >= schemas.TRADES_PAGE_LIMIT and not new:
                    # a full page of trades already read: the venue does not page as we assume
                    raise VenueError("venue_error", f"trade history page {page} repeats earlier pages")
                seen.update(t.id for t in new)
                out.extend(new)
                if enough is not None and enough(new):
                    return out
                if len(batch) < schemas.TRADES_PAGE_LIMIT:
                    break
                page += 1
            if start_ms <= since_ms:
                return out
            end_ms = start_ms - 1

    def fetch_missed_trades(self, order: Order) -> None:
        """The venue's total is ahead of the trades we booked: the trade history has their prices."""
        if order.filled > order.booked and order.order_id not in self._history:
            task = asyncio.ensure_future(self.book_history(order))
            self._history[order.order_id] = task
            task.add_done_callback(lambda _t, oid=order.order_id: self._history.pop(oid, None))

    async def book_history(self, order: Order) -> None:
        """Book the order's trades from the account's trade history (each once, by trade id),
        reading until they account for the venue's filled total."""
        mine: dict[str, schemas.TradePayload] = {}

        def enough(page: list[schemas.TradePayload]) -> bool:
            for trade in page:
                if same_hash(trade.orderHash, order.venue_order_id):
                    mine[trade.id] = trade
            return sum(e18_of_e9(t.quantityE9) for t in mine.values()) >= order.filled

        try:
            await self.trades(self.adapter.market(order), order.created_ns // 1_000_000 - HISTORY_MARGIN_MS,
                              enough)
        except (HttpError, VenueError) as exc:
            # the trades read so far are the venue's records all the same: booked
            self.adapter.log.warning("order %s: trade history unavailable (%s); what it lacks stays the "
                                     "venue's total at its average", order.order_id, exc)
        if mine:
            self.adapter.tracker.apply(order, None, [fill_of(t) for t in mine.values()])
