"""Poloniex adapter: HMAC-signed REST for regular and smart (stop) orders,
order events on the private WS `orders` channel.

The adapter holds what the venue line calls: the request methods (place, cancel,
cancel_all, replace), the batching of due requests, the signing, and what the
replies to its requests say. It owns the rest:
- events.py: the private stream's messages applied to the tracker;
- queries.py: the REST reads (one order, the listings, an order's trades),
  the resolver's look-up and the reconcile listing, and every fill learned from a
  venue total booked as the venue's trades (GET /orders/{id}/trades);
- cancels.py: what the venue answers to cancels, and the account-wide cancels;
- replace.py: cancel-and-replace and settling its outcome;
- states.py: the venue's states as statuses, smart or regular, e18 amounts;
- reference.py: the public markets (checked against the config by gateway/reference/)
  and the tickers polled for reference prices;
- market_data.py: the public WebSocket's book and ticker followed for reference prices.

Ids. The venue's clientOrderId is the gateway's order_id (unique across
strategies, at most 64 characters), so every event, including that of the
regular order a smart order becomes when it triggers (`source:"SMART"`, same
clientOrderId), finds its order without a look-up table, and an order whose
reply was lost is found again with GET .../cid:<order_id>.

Smart orders. A strategy's `place` with a stop_price becomes POST /smartorders
(STOP_LIMIT with a price, STOP without); it is UNTRIGGERED until the triggered
order appears, then TRIGGERED, and from there follows that order's own fills;
venue_order_id moves to the triggered order (what a cancel must name) and the
smart order's id stays in its venue data's smart_id (venue_data.py). The venue pushes nothing
for an untriggered smart order, so its cancel is confirmed by the REST reply.
"""
from __future__ import annotations

import asyncio
import time
from functools import partial

from gateway.net.http import HttpClient, HttpError, Response
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.signer import fingerprint
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.requests import Cancel, Place, VenueRequest
from gateway.venues.poloniex import market_data, reference
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.cancels import PoloniexCancels
from gateway.venues.poloniex.config import PoloniexConfig
from gateway.venues.poloniex.credentials import Credentials, load_credentials
from gateway.venues.poloniex.events import PoloniexEvents
from gateway.venues.poloniex.queries import JSON, PoloniexQueries
from gateway.venues.poloniex.replace import PoloniexReplacer
from gateway.venues.poloniex.signing import sign_request
from gateway.venues.poloniex.states import decimal, is_smart
from gateway.venues.poloniex.venue_data import PoloniexVenueData
from gateway.venues.poloniex.ws import order_stream

# what the line may hand over together (batch_key)
_PLACE_BATCH, _CANCEL_BATCH, _SMART_CANCEL_BATCH = "POST /orders/batch", "cancelByIds", "smart cancelByIds"
# ccxt's Poloniex rate-limit table (the client tests/integration/test_poloniex_ccxt.py runs as
# the oracle) costs POST /orders/batch and DELETE .../cancelByIds 20 where POST /orders and
# DELETE /orders/{id} cost 4: the venue allows one batch for five single requests
_BATCH_WEIGHT = 5


class PoloniexAdapter(VenueAdapter):
    capabilities = Capabilities(stop_orders=True, cancel_replace=True, batch_cancel=True, cancel_all=True,
                                post_only=True, market_orders=True, reduce_only=False, modify=False)
    venue_data_type = PoloniexVenueData
    max_batch = s.BATCH_MAX
    # the venue lists a base against several quotes (ETH_USDT, ETH_BTC, ...): "ETH-PERP" is ETH_USDT
    default_quote = "USDT"
    public_feed: market_data.PublicFeed | None = None  # the reference prices' stream, once started

    def __init__(self, config: PoloniexConfig, tracker: Tracker, metrics=None, *,
                 credentials: Credentials | None = None):
        super().__init__(config, tracker, metrics)
        self.config: PoloniexConfig = config
        self.creds = credentials or load_credentials(config)
        fixed = JSON + f"key: {self.creds.api_key}\r\n".encode("latin-1")
        if config.recv_window_ms > 0:
            fixed += f"recvWindow: {config.recv_window_ms}\r\n".encode()
        self._fixed_headers = fixed
        self.account = f"key {fingerprint(self.creds.api_key)}"  # for logs: the key itself never is
        self.http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        self.events = PoloniexEvents(self)
        self.queries = PoloniexQueries(self)
        self.cancels = PoloniexCancels(self)
        self.replacer = PoloniexReplacer(self)

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        await self._warm_up()
        self.stream = order_stream(self.config.ws_url, self.creds.api_key, self.creds.api_secret,
                                   self.events.on_message, on_up=self.stream_up, ping_secs=self.config.ws_ping_secs)
        await self.stream.start()
        self.connected = True
        # replayed from the journal: an order closed with trades still to read (open ones are
        # reconciled, with theirs)
        for order in list(self.tracker.orders.values()):
            if order.venue == self.name and order.is_closed:
                self.queries.catch_up(order)

    async def _warm_up(self) -> None:
        """GET /timestamp (public; ccxt's fetch_time) on the order connection: the first order
        then finds it open instead of paying for the TCP connect. The venue's markets are read
        and checked elsewhere (reference.py); a venue that does not answer here is the
        reconcile's and the stream's to report, as before."""
        try:
            await self.http.request("GET", "/timestamp", b"", JSON)
        except HttpError as exc:
            self.log.warning("GET /timestamp: %s", exc)

    async def stop(self) -> None:
        await self.queries.stop()
        await super().stop()

    # signed requests

    def _signed_headers(self, method: str, target: str, body: bytes) -> bytes:
        # signed as late as the HttpClient allows: its body hook cannot set headers
        ts = time.time_ns() // 1_000_000
        signature = sign_request(self.creds.api_secret, method, target, body, ts)
        return self._fixed_headers + f"signTimestamp: {ts}\r\nsignature: {signature}\r\n".encode()

    async def send(self, method: str, target: str, body: bytes = b"") -> asyncio.Future:
        """Sign and hand over a request; returns the future of its reply."""
        return await self.http.send(method, target, body, self._signed_headers(method, target, body))

    async def request(self, method: str, target: str, body: bytes = b"") -> Response:
        return await (await self.send(method, target, body))

    def error_words(self, response: Response) -> str | None:
        error = s.error_decoder.decode(response.body)
        if not error.message:
            return None
        return f"{error.message} (code {error.code})" if error.code else error.message

    # public reference data (reference.py)

    async def list_instruments(self):
        return await reference.list_instruments(self)

    async def fetch_quotes(self, listings):
        return await reference.fetch_quotes(self, listings)

    def price_feed(self, sink):
        """The public WebSocket (market_data.py), polling the tickers while it is down; None
        (polled only) when public_ws_url is ""."""
        url = self.config.market_data_ws_url()
        if not url:
            return None
        self.public_feed = market_data.PublicFeed(self, sink, url)
        return self.public_feed.run()

    # what the resolver and reconcile ask (queries.py)

    async def lookup(self, order: Order) -> str:
        return await self.queries.lookup(order)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        return await self.queries.apply_listing(orders)

    # places

    _is_smart = staticmethod(is_smart)

    def _order_body(self, order: Order) -> bytes:
        symbol = str(self.instruments[order.symbol].product_id)
        side = "BUY" if order.side is Side.BUY else "SELL"
        price = None if order.price is None else decimal(order.price)
        # GTC is the venue's default: sent as none, as ccxt does
        tif = None if order.tif is TimeInForce.GTC else order.tif.value.upper()
        if order.stop_price is not None:
            return s.encoder.encode(s.PlaceSmartOrder(
                symbol=symbol, side=side, type="STOP_LIMIT" if price else "STOP", stopPrice=decimal(order.stop_price),
                quantity=decimal(order.quantity), price=price, timeInForce=tif, clientOrderId=order.order_id))
        kind = "MARKET" if order.type is OrderType.MARKET else ("LIMIT_MAKER" if order.post_only else "LIMIT")
        if kind == "MARKET":
            tif = None  # the venue takes no timeInForce on a market order
        return s.encoder.encode(s.PlaceOrder(
            symbol=symbol, side=side, type=kind, quantity=decimal(order.quantity), price=price, timeInForce=tif,
            clientOrderId=order.order_id))

    def check_new(self, order: Order) -> None:
        if order.type is OrderType.MARKET and order.side is Side.BUY:
            # the venue sizes a market buy in quote currency ("amount"): a base quantity cannot be honoured
            raise VenueError("unsupported", f"{self.name} sizes market buys in quote currency: send a limit order")
        if len(order.order_id) > s.CLIENT_ORDER_ID_MAX:
            raise VenueError("bad_field", f"client order id longer than {s.CLIENT_ORDER_ID_MAX}")

    async def place(self, order: Order) -> None:
        target = "/smartorders" if order.stop_price is not None else "/orders"
        body = self._order_body(order)
        # the request's HMAC is the order's signature, its signTimestamp the order's nonce
        headers = self.timed_sign(self._signed_headers, "POST", target, body)
        self.stamp_sent(order)
        reply = await self.http.send("POST", target, body, headers)
        reply.add_done_callback(partial(self._on_place_reply, order))

    def _on_place_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.place_reply(order, reply)
        if response is not None:
            self.place_answered(order, response, lambda body: self.accepted(order, s.ack_decoder.decode(body).id))

    def accepted(self, order: Order, venue_id: str) -> None:
        """The venue took the order: it is live (or waiting for its trigger) until events say more."""
        if order.stop_price is not None:
            data = PoloniexVenueData.ensure_on(order)
            data.smart_id = venue_id
            self.tracker.note_venue_data(order)
            if not data.triggered:
                self.tracker.bind_venue_id(order, venue_id)
                self.tracker.apply(order, Status.UNTRIGGERED)
        else:
            self.tracker.bind_venue_id(order, venue_id)
            self.tracker.apply(order, Status.OPEN)
        self.run_deferred(order)

    # batches: regular places due together go as one POST /orders/batch, cancels of named
    # orders as one DELETE .../cancelByIds (smart orders have their own)

    def batch_key(self, request: VenueRequest) -> str | None:
        kind = type(request)
        if kind is Place:
            return _PLACE_BATCH if request.order.stop_price is None else None  # smart orders have no batch
        if kind is Cancel and request.order.venue_order_id is not None:
            return _SMART_CANCEL_BATCH if is_smart(request.order) else _CANCEL_BATCH
        return None

    def batch_weight(self, key: str, requests: list[VenueRequest]) -> float:
        return _BATCH_WEIGHT

    async def send_batch(self, key: str, requests: list[VenueRequest]) -> None:
        orders = [r.order for r in requests]
        if key != _PLACE_BATCH:
            await self._cancel_by_ids_of(orders, key == _SMART_CANCEL_BATCH)
            return
        body = b"[" + b",".join([self._order_body(order) for order in orders]) + b"]"
        # one HMAC signs the batch: one sign stage sample for it
        headers = self.timed_sign(self._signed_headers, "POST", "/orders/batch", body)
        for order in orders:
            self.stamp_sent(order)
        reply = await self.http.send("POST", "/orders/batch", body, headers)
        reply.add_done_callback(partial(self._on_batch_reply, orders))

    def _on_batch_reply(self, orders: list[Order], reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except HttpError as exc:
            self.metrics.venue_error(self.name, "transport")
            for order in orders:
                self.resolver.ask(order, str(exc))
            return
        for order in orders:
            self.observe_ack(order)
        if response.status != 200:
            for order in orders:
                self.place_refused(order, response, self.error_text(response))
            return
        try:
            results = s.batch_place_decoder.decode(response.body)
        except Exception as exc:  # noqa: BLE001 - the venue said 200: what it placed is asked for
            results = []
            self.log.error("unreadable batch reply: %s", exc)
        if len(results) != len(orders):
            for order in orders:
                self.resolver.ask(order, "unreadable batch reply")
            return
        for order, result in zip(orders, results):  # positional, as the request's
            if result.id:
                self.accepted(order, result.id)
            else:
                reason = f"{result.message} (code {result.code})" if result.code else result.message
                self.reject(order, reason or "refused in a batch")

    # cancels

    async def cancel(self, order: Order) -> None:
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        smart = is_smart(order)
        reply = await self.send("DELETE", f"/{'smartorders' if smart else 'orders'}/{order.venue_order_id}")
        reply.add_done_callback(partial(self.cancels.on_reply, order, smart))

    async def cancel_all(self, orders: list[Order]) -> None:
        """DELETE /orders/cancelByIds and /smartorders/cancelByIds; unnamed orders wait for their id."""
        regular, smart = [], []
        for order in orders:
            if order.venue_order_id is None:
                await self.cancel(order)
            else:
                (smart if is_smart(order) else regular).append(order)
        for group, is_smart_group in ((regular, False), (smart, True)):
            if group:
                await self._cancel_by_ids_of(group, is_smart_group)

    async def _cancel_by_ids_of(self, orders: list[Order], smart: bool) -> None:
        body = s.encoder.encode(s.CancelByIds(orderIds=[o.venue_order_id for o in orders]))
        reply = await self.send("DELETE", f"/{'smartorders' if smart else 'orders'}/cancelByIds", body)
        reply.add_done_callback(partial(self.cancels.on_many_reply, orders, smart))

    # cancel-and-replace (replace.py)

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None:
        await self.replacer.replace(old, new, proceed_on_failure)
