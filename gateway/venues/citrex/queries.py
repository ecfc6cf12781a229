"""What the Citrex adapter asks the venue outside the order path: the account's
order list (`GET /v1/orders`: open and closed orders, each with its trades).

One listing answers every order asked about at once: the reconcile after a
reconnect or a restart (apply_listing) and each round of the resolver
(lookup_many), however many orders it holds. The list is read on a connection
of its own (never one an order is waiting for), split into its entries in one
pass, and its entries are decoded and applied in slices of the loop.

An order the list does not have is NOT_FOUND only once the whole list has been
read: an entry that cannot be decoded fails the listing (its order might be the
one it describes), so no order is ever judged unknown on part of a list.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import msgspec

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient
from gateway.orders.model import Order
from gateway.venues.citrex import schemas
from gateway.venues.citrex.venue_data import CitrexVenueData
from gateway.venues.errors import VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND, Answer, LoopSlices
from gateway.venues.base import VenueAdapter

ORDERS_PATH = "/v1/orders"
# the list split into its entries, undecoded: a fast pass, the decoding comes in slices
_entries_decoder = msgspec.json.Decoder(list[msgspec.Raw])


class CitrexQueries:
    def __init__(self, adapter: VenueAdapter):  # the CitrexAdapter this is part of
        self.adapter = adapter
        self.http: HttpClient | None = None  # set by start(): one connection, listings only

    def start(self) -> None:
        ad = self.adapter
        self.http = ad.http_client(ad.config.rest_url, connections=1, journaled=False)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        """Reconcile: what the list says of these orders is applied; returns the ids of those it
        has. The list holds closed orders too: what it lacks the venue never took (or has
        forgotten), and is asked about (the resolver decides when to believe it)."""
        by_nonce = self.adapter._by_nonce
        for order in orders:
            nonce = CitrexVenueData.read(order).nonce
            if nonce is not None:
                by_nonce[nonce] = order  # restored from the journal: the stream finds it by nonce
        return {order.order_id async for order in self.listed(orders)}

    async def lookup_many(self, orders: Sequence[Order]) -> AsyncIterator[tuple[Order, Answer]]:
        """One listing answers every order: FOUND (what it says applied) or NOT_FOUND."""
        seen = set()
        async for order in self.listed(orders):
            seen.add(order.order_id)
            yield order, FOUND
        for order in orders:
            if order.order_id not in seen:
                yield order, NOT_FOUND

    async def listed(self, orders: Sequence[Order]) -> AsyncIterator[Order]:
        """Each of these orders the venue's list has (by its venue id or by its nonce), once what
        the list says of it has been applied."""
        by_id: dict[str, Order] = {}
        by_nonce: dict[int, Order] = {}
        for order in orders:
            if order.venue_order_id is not None:
                by_id[order.venue_order_id] = order
            nonce = CitrexVenueData.read(order).nonce
            if nonce is not None:
                by_nonce[nonce] = order
        entries = await self._entries()
        seen: set[str] = set()
        apply = self.adapter._apply_venue_order
        slices = LoopSlices()
        for entry in entries:
            try:
                venue_order = schemas.order_decoder.decode(entry)
            except DECODE_ERRORS as exc:
                raise VenueError("venue_error", f"unreadable order list entry: {exc}") from None
            order = by_id.get(venue_order.id) or by_nonce.get(venue_order.nonce)
            if order is not None and order.order_id not in seen:
                seen.add(order.order_id)
                apply(venue_order, order)
                yield order
            await slices.turn()

    async def _entries(self) -> list[msgspec.Raw]:
        ad = self.adapter
        await ad.resolver.pay()
        query = f"{ORDERS_PATH}?account={ad.account}&subAccountId={ad.config.sub_account_id}"
        http = self.http or ad.http
        response = await http.request("GET", query, b"", ad._auth_headers)
        if response.status == 401:
            await ad._login()
            response = await http.request("GET", query, b"", ad._auth_headers)
        if response.status != 200:
            raise VenueError("venue_error", ad.error_text(response))
        try:
            return _entries_decoder.decode(response.body)
        except DECODE_ERRORS as exc:
            raise VenueError("venue_error", f"unreadable order list: {exc}") from None
