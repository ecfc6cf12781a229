"""Poloniex adapter: HMAC-signed REST for regular and smart (stop) orders,
order events on the private WS `orders` channel.

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

Cancel-and-replace. PUT /orders/{id} for a live order, PUT /smartorders/cid:<id>
for an untriggered smart order. Without proceedOnFailure the venue does both
halves or neither. With it, a 200 names the new order but not whether the old
one was cancelled: the old order is read back (GET) and its fate reported
first (CANCELED, or cancel_refused), and the new order's events are held
until then, so the strategy never sees the replacement live before it knows
what became of the original.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.net.http import HttpClient, HttpError, Response
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import ONE, SCALE, Fill, Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.signer import fingerprint
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.requests import Cancel, Place, VenueRequest
from gateway.venues.resolver import FOUND, NOT_FOUND
from gateway.venues.poloniex import schemas as s
from gateway.venues.poloniex.config import PoloniexConfig
from gateway.venues.poloniex.credentials import Credentials, load_credentials
from gateway.venues.poloniex.venue_data import PoloniexVenueData
from gateway.venues.poloniex.signing import sign_request
from gateway.venues.poloniex.ws import order_stream

JSON = b"Content-Type: application/json\r\n"
CANCELED_STATES = frozenset({s.CANCELED, s.CANCELLED, s.PARTIALLY_CANCELED})
LIVE_STATES = frozenset({s.PENDING_NEW, s.NEW, s.PARTIALLY_FILLED, s.PENDING_CANCEL})
# what the line may hand over together (batch_key)
_PLACE_BATCH, _CANCEL_BATCH, _SMART_CANCEL_BATCH = "POST /orders/batch", "cancelByIds", "smart cancelByIds"
# ccxt's Poloniex rate-limit table (the client tests/integration/test_poloniex_ccxt.py runs as
# the oracle) costs POST /orders/batch and DELETE .../cancelByIds 20 where POST /orders and
# DELETE /orders/{id} cost 4: the venue allows one batch for five single requests
_BATCH_WEIGHT = 5


def _e18(text: str) -> int:
    return parse_scaled(text, SCALE)


def _decimal(value: int) -> str:
    return format_scaled(value, SCALE)


class PoloniexAdapter(VenueAdapter):
    capabilities = Capabilities(stop_orders=True, cancel_replace=True, batch_cancel=True, cancel_all=True,
                                post_only=True, market_orders=True, reduce_only=False, modify=False)
    venue_data_type = PoloniexVenueData
    max_batch = s.BATCH_MAX

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
        self.markets: dict[str, s.Market] = {}
        # replacement orders whose events wait for the old order's fate (proceedOnFailure)
        self._held: dict[str, list[Callable[[], None]]] = {}

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        await self._load_markets()
        self.stream = order_stream(self.config.ws_url, self.creds.api_key, self.creds.api_secret, self._on_ws,
                                   on_up=self.stream_up, ping_secs=self.config.ws_ping_secs)
        await self.stream.start()
        self.connected = True

    async def _load_markets(self) -> None:
        """What the venue's own clients load first: refuse symbols it does not list."""
        response = await self.http.request("GET", "/markets", b"", JSON)
        if response.status != 200:
            raise VenueError("venue_error", f"{self.name} GET /markets: {self.error_text(response)}")
        self.markets = {m.symbol: m for m in s.markets_decoder.decode(response.body)}
        for symbol, inst in self.instruments.items():
            market = self.markets.get(str(inst.product_id))
            if market is None:
                raise VenueError("config", f"{self.name}: {symbol} maps to {inst.product_id}, "
                                 "which the venue does not list")
            if market.state != "NORMAL":
                self.log.warning("%s (%s) is %s at the venue", symbol, market.symbol, market.state)
            limit = market.symbolTradeLimit
            if limit is not None and _e18(inst.tick_size) < 10 ** (SCALE - limit.priceScale):
                self.log.warning("%s: tick %s is finer than the venue's %d price decimals", symbol,
                                 inst.tick_size, limit.priceScale)

    # signed requests

    def _signed_headers(self, method: str, target: str, body: bytes) -> bytes:
        # signed as late as the HttpClient allows: its body hook cannot set headers
        ts = time.time_ns() // 1_000_000
        signature = sign_request(self.creds.api_secret, method, target, body, ts)
        return self._fixed_headers + f"signTimestamp: {ts}\r\nsignature: {signature}\r\n".encode()

    async def _send(self, method: str, target: str, body: bytes = b"") -> asyncio.Future:
        return await self.http.send(method, target, body, self._signed_headers(method, target, body))

    async def _request(self, method: str, target: str, body: bytes = b"") -> Response:
        return await (await self._send(method, target, body))

    # queries: get one, get all

    async def get_order(self, ref: str, smart: bool = False) -> s.Order | s.SmartOrder | None:
        """GET /orders/{id} or /smartorders/{id}; ref is a venue id or "cid:<clientOrderId>"."""
        response = await self._request("GET", f"/{'smartorders' if smart else 'orders'}/{ref}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        return (s.smart_order_decoder if smart else s.order_decoder).decode(response.body)

    async def open_orders(self, symbol: str | None = None, limit: int | None = None) -> list[s.Order]:
        return await self._list("/orders", s.orders_decoder, symbol, limit)

    async def smart_orders(self, symbol: str | None = None, limit: int | None = None) -> list[s.SmartOrder]:
        return await self._list("/smartorders", s.smart_orders_decoder, symbol, limit)

    async def _list(self, path: str, decoder, symbol: str | None, limit: int | None) -> list:
        query = "&".join(f"{k}={v}" for k, v in (("symbol", symbol), ("limit", limit)) if v is not None)
        response = await self._request("GET", f"{path}?{query}" if query else path)
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        return decoder.decode(response.body)

    def error_words(self, response: Response) -> str | None:
        error = s.error_decoder.decode(response.body)
        if not error.message:
            return None
        return f"{error.message} (code {error.code})" if error.code else error.message

    # orders

    @staticmethod
    def _is_smart(order: Order) -> bool:
        """Still a smart order at the venue: placed as one (it has a stop price; a journal replay
        knows it too) and not triggered yet."""
        return order.stop_price is not None and not PoloniexVenueData.read(order).triggered

    def _order_body(self, order: Order) -> bytes:
        symbol = str(self.instruments[order.symbol].product_id)
        side = "BUY" if order.side is Side.BUY else "SELL"
        price = None if order.price is None else _decimal(order.price)
        # GTC is the venue's default: sent as none, as ccxt does
        tif = None if order.tif is TimeInForce.GTC else order.tif.value.upper()
        if order.stop_price is not None:
            body = s.encoder.encode(s.PlaceSmartOrder(
                symbol=symbol, side=side, type="STOP_LIMIT" if price else "STOP", stopPrice=_decimal(order.stop_price),
                quantity=_decimal(order.quantity), price=price, timeInForce=tif, clientOrderId=order.order_id))
        else:
            kind = "MARKET" if order.type is OrderType.MARKET else ("LIMIT_MAKER" if order.post_only else "LIMIT")
            if kind == "MARKET":
                tif = None  # the venue takes no timeInForce on a market order
            body = s.encoder.encode(s.PlaceOrder(
                symbol=symbol, side=side, type=kind, quantity=_decimal(order.quantity), price=price, timeInForce=tif,
                clientOrderId=order.order_id))
        return body

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

    # batches: regular places due together go as one POST /orders/batch, cancels of named
    # orders as one DELETE .../cancelByIds (smart orders have their own)

    def batch_key(self, request: VenueRequest) -> str | None:
        kind = type(request)
        if kind is Place:
            return _PLACE_BATCH if request.order.stop_price is None else None  # smart orders have no batch
        if kind is Cancel and request.order.venue_order_id is not None:
            return _SMART_CANCEL_BATCH if self._is_smart(request.order) else _CANCEL_BATCH
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
                self._accepted(order, result.id)
            else:
                reason = f"{result.message} (code {result.code})" if result.code else result.message
                self.tracker.apply(order, Status.REJECTED, reason=reason or "refused in a batch")
                self.fail_deferred(order, "order was rejected")

    def _on_place_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.place_reply(order, reply)
        if response is not None:
            self.place_answered(order, response, lambda body: self._accepted(order, s.ack_decoder.decode(body).id))

    def _accepted(self, order: Order, venue_id: str) -> None:
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

    async def lookup(self, order: Order) -> str:
        """By our client id, which the venue keeps for open and closed orders."""
        venue_order = await self.get_order(s.CID_PREFIX + order.order_id, smart=self._is_smart(order))
        if venue_order is None:
            return NOT_FOUND
        self._apply_venue_order(venue_order, order)
        return FOUND

    # what the venue says about an order

    def _order_for(self, client_id: str, venue_id: str) -> Order | None:
        order = self.tracker.get(client_id) if client_id else None
        if order is not None and order.venue == self.name:
            return order
        return self.tracker.by_venue(self.name, venue_id)

    def _on_triggered(self, order: Order, venue_id: str) -> None:
        """The smart order became a regular order on the book: follow that one from now on."""
        data = PoloniexVenueData.ensure_on(order)
        if not data.triggered:
            data.triggered = True
            if order.venue_order_id is not None and data.smart_id is None:
                data.smart_id = order.venue_order_id
            self.tracker.bind_venue_id(order, venue_id)
            self.tracker.note_venue_data(order)  # after a restart, cancels must still go to /orders
            self.tracker.apply(order, Status.TRIGGERED)
            self.run_deferred(order)

    def _status(self, order: Order, state: str) -> tuple[Status | None, str | None]:
        if state == s.NEW:
            return (Status.TRIGGERED if order.stop_price is not None else Status.OPEN), None
        if state in (s.PENDING_NEW, s.PENDING_CANCEL, s.PARTIALLY_FILLED):
            return None, None  # fills move a partial fill; a pending cancel is ours already
        if state == s.FILLED:
            return Status.FILLED, None
        if state in CANCELED_STATES:
            return Status.CANCELED, self.cancel_reason(order)
        if state in (s.REJECTED, s.FAILED):
            return Status.REJECTED, f"the venue reports the order {state}"
        if state == s.EXPIRED:
            return Status.EXPIRED, "expired"
        self.log.warning("unknown Poloniex state %r for order %s", state, order.order_id)
        return None, None

    def _apply_events(self, events: list[s.OrderEvent]) -> None:
        """One message's events, applied per order as one change: the fills of one
        match reach the strategy together, as one update."""
        groups: dict[tuple[str, str], list[s.OrderEvent]] = {}
        for event in events:
            groups.setdefault((event.clientOrderId, event.orderId), []).append(event)
        for (client_id, venue_id), group in groups.items():
            order = self._order_for(client_id, venue_id)
            if order is not None:
                self._apply_order_events(order, group)

    def _apply_order_events(self, order: Order, events: list[s.OrderEvent]) -> None:
        held = self._held.get(order.order_id)
        if held is not None:
            held.append(partial(self._apply_order_events, order, events))
            return
        first, last = events[0], events[-1]
        if first.source == s.SOURCE_SMART or order.stop_price is not None:
            self._on_triggered(order, first.orderId)
        elif order.venue_order_id is None:
            self.tracker.bind_venue_id(order, first.orderId)
            self.run_deferred(order)
        fills = [
            Fill(trade_id=e.tradeId, price=_e18(e.tradePrice), quantity=_e18(e.tradeQty),
                 ts_ns=e.tradeTime * 1_000_000, is_maker=e.matchRole == "MAKER", fee=_e18(e.tradeFee))
            for e in events if e.eventType == "trade" and e.tradeId not in ("", "0")
        ]
        status, reason = self._status(order, last.state)
        self.tracker.apply(order, status, fills, filled=_e18(last.filledQuantity),
                           notional=_e18(last.filledAmount) * ONE, reason=order.reason or reason,
                           channel="stream")

    def _apply_venue_order(self, venue_order: s.Order | s.SmartOrder, order: Order) -> None:
        """A GET answer (reconcile, lost reply): states and totals, no trade list."""
        if isinstance(venue_order, s.SmartOrder):
            if venue_order.state == s.TRIGGERED and venue_order.triggeredOrder is not None:
                self._on_triggered(order, venue_order.triggeredOrder.id)
                self._apply_venue_order(venue_order.triggeredOrder, order)
                return
            if order.venue_order_id is None:
                PoloniexVenueData.ensure_on(order).smart_id = venue_order.id
                self.tracker.bind_venue_id(order, venue_order.id)
                self.run_deferred(order)
            if venue_order.state == s.PENDING_NEW:
                self.tracker.apply(order, Status.UNTRIGGERED)
            elif venue_order.state != s.TRIGGERED:
                status, reason = self._status(order, venue_order.state)
                self.tracker.apply(order, status, reason=order.reason or reason)
            return
        if venue_order.source == s.SOURCE_SMART or order.stop_price is not None:
            self._on_triggered(order, venue_order.id)
        elif order.venue_order_id is None:
            self.tracker.bind_venue_id(order, venue_order.id)
            self.run_deferred(order)
        status, reason = self._status(order, venue_order.state)
        # fills made while we were not listening show as the venue's totals: they count toward
        # the trade records the stream may still bring, never on top of them
        self.tracker.apply(order, status, filled=_e18(venue_order.filledQuantity), avg_price=_e18(venue_order.avgPrice),
                           reason=order.reason or reason)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        # open orders only: one closed since, triggered, or never taken is looked up by id
        regular = {o.clientOrderId: o for o in await self.open_orders()}
        smart = {o.clientOrderId: o for o in await self.smart_orders()}
        listed = set()
        for order in orders:
            venue_order = (smart if self._is_smart(order) else regular).get(order.order_id)
            if venue_order is not None:
                listed.add(order.order_id)
                self._apply_venue_order(venue_order, order)
        return listed

    # the private stream

    def _on_ws(self, payload: bytes) -> None:
        try:
            message = s.ws_decoder.decode(payload)
            channel = message.channel[0] if isinstance(message.channel, list) else message.channel
            if channel == s.ORDERS_CHANNEL and message.event is None and bytes(message.data) != b"null":
                self._apply_events(s.order_events_decoder.decode(message.data))
            elif channel == s.ORDERS_CHANNEL and message.event == "subscribe":
                self.stream.up.set()
            elif channel == s.AUTH_CHANNEL and bytes(message.data) != b"null":
                auth = s.auth_decoder.decode(message.data)
                if not auth.success:
                    self.log.error("stream auth refused: %s", auth.message)
            elif message.event == "error":
                self.log.warning("stream error: %s", message.message)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the stream
            self.message_dropped(exc)

    # cancels

    async def cancel(self, order: Order) -> None:
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        smart = self._is_smart(order)
        reply = await self._send("DELETE", f"/{'smartorders' if smart else 'orders'}/{order.venue_order_id}")
        reply.add_done_callback(partial(self._on_cancel_reply, order, smart))

    def _on_cancel_reply(self, order: Order, smart: bool, reply: asyncio.Future) -> None:
        response = self.cancel_reply((order,), reply)
        if response is None:
            return
        result = None
        if response.status == 200:
            try:
                result = s.cancel_result_decoder.decode(response.body)
            except Exception:  # noqa: BLE001
                pass
        if result is None or result.code != s.CODE_OK:
            self.cancel_refused(order, result.message if result else self.error_text(response))
            return
        self._cancel_taken(order, smart, result.state)

    def _cancel_taken(self, order: Order, smart: bool, state: str) -> None:
        # an untriggered smart order has no fills and no stream: the venue's yes closes it;
        # a regular one is closed by its `canceled` event, which carries the final fills
        if smart or state in CANCELED_STATES:
            self.tracker.apply(order, Status.CANCELED, reason=self.cancel_reason(order))

    async def cancel_all(self, orders: list[Order]) -> None:
        """DELETE /orders/cancelByIds and /smartorders/cancelByIds; unnamed orders wait for their id."""
        regular, smart = [], []
        for order in orders:
            if order.venue_order_id is None:
                await self.cancel(order)
            else:
                (smart if self._is_smart(order) else regular).append(order)
        for group, is_smart in ((regular, False), (smart, True)):
            if group:
                await self._cancel_by_ids_of(group, is_smart)

    async def _cancel_by_ids_of(self, orders: list[Order], smart: bool) -> None:
        body = s.encoder.encode(s.CancelByIds(orderIds=[o.venue_order_id for o in orders]))
        reply = await self._send("DELETE", f"/{'smartorders' if smart else 'orders'}/cancelByIds", body)
        reply.add_done_callback(partial(self._on_cancel_many_reply, orders, smart))

    def _on_cancel_many_reply(self, orders: list[Order], smart: bool, reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
            if response.status != 200:
                raise VenueError("venue_error", self.error_text(response))
            results = {r.orderId: r for r in s.cancel_results_decoder.decode(response.body)}
        except Exception as exc:  # noqa: BLE001 - transport, refusal or an unreadable body: nothing is known
            for order in orders:
                self.cancel_refused(order, f"cancel outcome unknown: {exc}")
            return
        for order in orders:
            result = results.get(order.venue_order_id)
            if result is None or result.code != s.CODE_OK:
                self.cancel_refused(order, result.message if result else "the venue did not answer for it")
            else:
                self._cancel_taken(order, smart, result.state)

    async def cancel_by_ids(self, order_ids: list[str] = (), client_order_ids: list[str] = (),
                            smart: bool = False) -> list[s.CancelResult]:
        """Batch cancel by venue ids and client ids, the gateway's orders or not."""
        body = s.encoder.encode(s.CancelByIds(orderIds=list(order_ids), clientOrderIds=list(client_order_ids)))
        return await self._cancel_many(f"/{'smartorders' if smart else 'orders'}/cancelByIds", body, smart)

    async def cancel_every(self, symbols: list[str] = (), account_types: list[str] = (),
                           smart: bool = False) -> list[s.CancelResult]:
        """DELETE /orders or /smartorders: every open order of the account on these symbols
        (venue spelling) or account types; both empty: all of them."""
        body = s.encoder.encode(s.CancelAll(symbols=list(symbols), accountTypes=list(account_types)))
        return await self._cancel_many(f"/{'smartorders' if smart else 'orders'}", body, smart)

    async def _cancel_many(self, path: str, body: bytes, smart: bool) -> list[s.CancelResult]:
        response = await self._request("DELETE", path, body)
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        results = s.cancel_results_decoder.decode(response.body)
        for result in results:
            order = self._order_for(result.clientOrderId, result.orderId)
            if order is not None and result.code == s.CODE_OK and not order.is_closed:
                self._cancel_taken(order, smart, result.state)
        return results

    # cancel-and-replace

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None:
        if self.deferred_until_named(old, partial(self.replace, old, new, proceed_on_failure)):
            return
        smart = self._is_smart(old)
        if smart:
            # the venue keeps the old smart order's details unless amended: its stop price too
            new.stop_price = old.stop_price
            target = f"/smartorders/{s.CID_PREFIX}{old.order_id}"
        else:
            target = f"/orders/{old.venue_order_id}"
        body = s.encoder.encode(s.Replace(
            clientOrderId=new.order_id, price=None if new.price is None else _decimal(new.price),
            quantity=_decimal(new.quantity), proceedOnFailure="true" if proceed_on_failure else "false"))
        if proceed_on_failure:
            self._held[new.order_id] = []
        try:
            reply = await self.http.send("PUT", target, body, self._signed_headers("PUT", target, body))
        except BaseException:
            self._held.pop(new.order_id, None)
            raise
        reply.add_done_callback(partial(self._on_replace_reply, old, new, smart, proceed_on_failure))

    def _on_replace_reply(self, old: Order, new: Order, smart: bool, proceed: bool, reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except HttpError as exc:
            asyncio.ensure_future(self._replace_unknown(old, new, smart, str(exc)))
            return
        if response.status == 200:
            try:
                new_id = s.ack_decoder.decode(response.body).id
            except Exception:  # noqa: BLE001
                new_id = None
            if new_id is not None:
                if proceed:
                    asyncio.ensure_future(self._settle_proceeded(old, new, smart, new_id))
                else:
                    # both halves done, as the venue promises without proceedOnFailure
                    self.tracker.apply(old, Status.CANCELED, reason=self.replaced_reason(old))
                    self._accepted(new, new_id)
                return
        asyncio.ensure_future(self._settle_refused(old, new, smart, self.error_text(response)))

    async def _old_state(self, old: Order, smart: bool) -> str | None:
        smart_id = PoloniexVenueData.read(old).smart_id
        ref = (old.venue_order_id if smart_id is None else smart_id) if smart else old.venue_order_id
        try:
            venue_order = await self.get_order(ref, smart=smart)
        except (HttpError, VenueError) as exc:
            self.log.error("order %s: cannot read its state after a replace: %s", old.order_id, exc)
            return None
        if venue_order is None:
            return None
        if isinstance(venue_order, s.SmartOrder) and venue_order.state == s.TRIGGERED:
            return s.TRIGGERED
        return venue_order.state

    async def _settle_proceeded(self, old: Order, new: Order, smart: bool, new_id: str) -> None:
        """200 with proceedOnFailure: the new order is placed; was the old one cancelled?"""
        try:
            state = await self._old_state(old, smart)
            if state in CANCELED_STATES:
                self.tracker.apply(old, Status.CANCELED, reason=self.replaced_reason(old))
            else:
                why = f"it is {state}" if state else "its state is unknown"
                self.cancel_refused(old, f"cancel of the old order failed ({why}); "
                                                 "the new order was placed (proceedOnFailure)")
            self._accepted(new, new_id)
        finally:
            for action in self._held.pop(new.order_id, ()):
                action()

    async def _settle_refused(self, old: Order, new: Order, smart: bool, error: str) -> None:
        """An error: nothing was placed; the old order's state says which half failed."""
        self._held.pop(new.order_id, None)
        state = await self._old_state(old, smart)
        if state in CANCELED_STATES:
            self.tracker.apply(old, Status.CANCELED, reason=f"canceled; its replacement was refused: {error}")
            self.reject(new, error)
        elif state is not None and state not in LIVE_STATES:
            self.cancel_refused(old, error)
            self.reject(new, f"not placed: cancel of the old order failed: {error}")
        else:
            self.cancel_refused(old, f"replacement refused: {error}")
            self.reject(new, error)

    async def _replace_unknown(self, old: Order, new: Order, smart: bool, why: str) -> None:
        """The reply was lost: read both orders back."""
        self._held.pop(new.order_id, None)
        state = await self._old_state(old, smart)
        if state in CANCELED_STATES:
            self.tracker.apply(old, Status.CANCELED, reason=self.replaced_reason(old))
        else:
            self.cancel_refused(old, f"replace outcome unknown: {why}")
        self.resolver.ask(new, why)
