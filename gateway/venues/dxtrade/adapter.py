"""DXtrade adapter: session-token REST with conditional requests (seed 003).

The adapter holds the request methods the venue line calls (place, order
groups, cancel, modify) and their replies; the rest lives beside it:

- session.py: the token (`Authorization: DXAPI <token>`), one re-login and
  resend on a 401, the ping that says whether the venue is there;
- events.py: the venue's order views (the polled list, a look-up's answer)
  applied in account `version` order;
- queries.py: one order by its orderCode (look-up, ETag), the order list, the
  account's open positions (account.py reads them, for the drift check);
- amend.py: modify, a conditional PUT with its 412 handling;
- wire.py: amounts, statuses, error bodies, the order request.

Orders go out with the gateway's order_id as `orderCode`, so an order is
found in the venue's list before (or without) the reply naming its orderId.
Every PUT/DELETE carries `If-Match: <ETag>` of the last response about that
order. A 412 on a cancel means the order changed since: it is read again and
canceled once more only if it still works. A cancel that finds the order closed
at the venue (412 and a re-read, or 409 "Order is CANCELED": an OCO group's
other leg the venue canceled itself, a fill) is no refusal: the order's state
at the venue is its outcome, and no cancel_reject is sent.
"""
from __future__ import annotations

import asyncio
from functools import partial

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError, Response
from gateway.orders.model import Order, Status
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.dxtrade import reference, schemas
from gateway.venues.dxtrade.amend import Amender, check_modify
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.credentials import Credentials, load_credentials
from gateway.venues.dxtrade.events import OrderEvents
from gateway.venues.dxtrade.queries import OrderQueries
from gateway.venues.dxtrade.session import DxtradeSession
from gateway.venues.dxtrade.venue_data import DxtradeVenueData
from gateway.venues.dxtrade.wire import error, if_match, order_request
from gateway.venues.resolver import FOUND, NOT_FOUND


class DxtradeAdapter(VenueAdapter):
    # the quote a unified symbol without one names: a symbol without a quote (ETH-PERP) means the base against USD, not any currency it is listed in
    default_quote = "USD"
    capabilities = Capabilities(stop_orders=True, modify=True, order_groups=True, post_only=False,
                                market_orders=True)
    venue_data_type = DxtradeVenueData

    def __init__(self, config: DxtradeConfig, tracker: Tracker, metrics=None, *,
                 credentials: Credentials | None = None):
        super().__init__(config, tracker, metrics)
        self.config: DxtradeConfig = config
        self.account = config.account
        self.http: HttpClient | None = None  # trading: under the venue's rate limit
        self.session = DxtradeSession(self, credentials or load_credentials(config))
        self.queries = OrderQueries(self)
        self.events = OrderEvents(self)
        self.amender = Amender(self)
        self._by_code = self.events.by_code  # orderCode we sent (our order_id) -> order
        self._orders_path = self.queries.orders_path

    # reference data (reference.py): polled, with the session's token

    async def list_instruments(self):
        return await reference.list_instruments(self)

    async def fetch_quotes(self, listings):
        return await reference.fetch_quotes(self, listings)

    @property
    def logins(self) -> int:
        return self.session.logins

    async def start(self) -> None:
        if not self.config.rest_url:
            raise VenueError("config", f"venue {self.name}: rest_url is required")
        self.http = self.http_client(self.config.rest_url)
        await self.session.open()
        self.events.start()
        self.connected = True

    async def stop(self) -> None:
        await self.events.stop()
        await self.session.close()
        await super().stop()

    def error_words(self, response: Response) -> str | None:
        err = error(response)
        return f"{err.description} (HTTP {response.status}, code {err.errorCode})" if err.description else None

    def cancel_reason(self, order: Order, venue_reason: str | None = None) -> str:
        # the venue gives no reason: an order of a group was canceled by its group
        group = DxtradeVenueData.read(order).group
        return super().cancel_reason(order, venue_reason or (f"{group} group" if group else None))

    # what the venue says of orders (events.py, queries.py)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        return await self.events.apply_listing(orders)

    async def fetch_account_positions(self) -> dict[str, int]:
        return await self.queries.positions({str(inst.product_id): symbol
                                             for symbol, inst in self.instruments.items()})

    async def lookup(self, order: Order) -> str:
        """The order by its orderCode (our id): 404 is the venue saying it does not know it."""
        venue_order = await self.queries.get(order)
        if venue_order is None:
            return NOT_FOUND
        self.events.apply(venue_order, order)
        return FOUND

    # placing

    def _body_at_write(self, orders: list[Order], make) -> bytes:
        """The body, made when the connection is ready to write: the orders' send time (no
        signature here: no sign stage either)."""
        body = make()
        for order in orders:
            self.stamp_sent(order)
        return body

    async def place(self, order: Order) -> None:
        self._by_code[order.order_id] = order
        make = partial(schemas.encoder.encode, order_request(order, str(self.instruments[order.symbol].product_id)))
        reply = await self.session.send("POST", self._orders_path, partial(self._body_at_write, [order], make))
        reply.add_done_callback(partial(self._on_place_reply, [order]))

    async def place_group(self, orders: list[Order], contingency: str) -> None:
        wire = schemas.CONTINGENCY.get(contingency)
        if wire is None:
            raise VenueError("bad_field", f"contingency must be one of {', '.join(schemas.CONTINGENCY)}")
        for i, order in enumerate(orders):
            self._by_code[order.order_id] = order
            data = DxtradeVenueData.ensure_on(order)
            data.group = wire
            if wire == "IF-THEN" and i:
                data.parent = orders[0].order_id
        group = schemas.GroupRequest(orders=[order_request(o, str(self.instruments[o.symbol].product_id))
                                             for o in orders], contingencyType=wire)
        make = partial(schemas.encoder.encode, group)
        reply = await self.session.send("POST", self._orders_path, partial(self._body_at_write, orders, make))
        reply.add_done_callback(partial(self._on_place_reply, orders))

    def _on_place_reply(self, orders: list[Order], reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except (HttpError, VenueError) as exc:
            self.metrics.venue_error(self.name, "transport")
            self._resolve_lost(orders, str(exc))
            return
        for order in orders:
            self.observe_ack(order)
        if response.status == 200:
            try:
                if len(orders) == 1:
                    answers = [schemas.order_response_decoder.decode(response.body)]
                else:
                    answers = schemas.group_response_decoder.decode(response.body).orderResponses
            except DECODE_ERRORS as exc:
                self.log.error("unreadable order reply: %s; asking the venue", exc)
                self._resolve_lost(orders, "unreadable reply")
                return
            etag = response.headers.get("etag")
            for i, (order, answer) in enumerate(zip(orders, answers)):
                if order.venue_order_id is None:
                    self.tracker.bind_venue_id(order, str(answer.orderId))
                data = DxtradeVenueData.ensure_on(order)
                data.update_order_id = answer.updateOrderId
                if i == 0 and etag:
                    data.etag = etag  # the reply's ETag is the (first) order's
                # accepted: working, a stop waiting for its trigger (a stale word if the list
                # showed a later state already)
                self.tracker.apply(order, Status.OPEN if order.stop_price is None else Status.UNTRIGGERED)
                self.run_deferred(order)
            return
        reason = self.refusal(response, self.error_text(response))
        for order in orders:
            self.reject(order, reason)
            self._by_code.pop(order.order_id, None)

    def _resolve_lost(self, orders: list[Order], why: str) -> None:
        """Replies lost: the resolver asks the venue about each order (by its orderCode)."""
        for order in orders:
            self.resolver.ask(order, why)

    # cancels

    async def cancel(self, order: Order) -> None:
        if order.is_closed:
            return  # closed while the cancel waited (an OCO leg the venue canceled): nothing to send
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        etag = await self.queries.etag(order)
        reply = await self.session.send("DELETE", self.queries.order_path(order), b"", if_match(etag))
        reply.add_done_callback(lambda fut: asyncio.ensure_future(self._on_cancel_reply(order, fut, True)))

    async def _on_cancel_reply(self, order: Order, reply: asyncio.Future, may_retry: bool) -> None:
        response = self.cancel_reply((order,), reply)
        if response is None:
            return
        if response.status == 200:
            etag = response.headers.get("etag")
            if etag:
                DxtradeVenueData.ensure_on(order).etag = etag
            # If-Match held: the venue canceled the very state we knew, nothing filled since
            self.tracker.apply(order, Status.CANCELED, reason=self.cancel_reason(order))
            return
        if response.status == 412 and may_retry:
            # the order changed since our ETag: cancel again only if it still works
            try:
                now = await self.queries.fetch(order)
            except (HttpError, VenueError) as exc:
                self.cancel_refused(order, f"cancel outcome unknown: {exc}")
                return
            if now is not None and now.status.upper() == "WORKING":
                try:
                    await self.outbound.pay()  # a second cancel: the venue's limit counts it
                    again = await self.session.send("DELETE", self.queries.order_path(order), b"",
                                                    if_match(DxtradeVenueData.read(order).etag or ""))
                except HttpError as exc:
                    self.cancel_refused(order, str(exc))
                    return
                await asyncio.wait([again])
                await self._on_cancel_reply(order, again, False)
                return
            if now is None:
                self.cancel_refused(order, "order is unknown to the venue")
                return
            # closed at the venue (canceled by its group, filled): that is the cancel's outcome
            self.events.apply(now, order)
            if not order.is_closed:
                self.cancel_refused(order, f"order is {now.status} at the venue")
            return
        if response.status == 409:
            # "Order is CANCELED" (code 28): the venue closed it before our cancel came (an OCO
            # group's other leg, a fill); asked, its state is the outcome
            self.cancel_refused_unless_closed(order, self.error_text(response))
            return
        self.cancel_refused(order, self.error_text(response))

    # modify (amend.py)

    def check_modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        check_modify(order, price, quantity)

    async def modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        await self.amender.modify(order, price, quantity)
