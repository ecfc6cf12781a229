"""BSX adapter: EIP-712 signed orders over REST (API key headers), order
updates on the authenticated `orders` WS channel.

Batching. The outbound line (gateway/venues/outbound.py) hands over the
creates and cancels (of orders the venue has named) due together at the head
of the line as one POST /orders/batch (at most `max_batch`), a lone one as its
own request: what arrived together leaves together, and a lone order is never
delayed. Until it leaves, a create is in the line like any other: its cancel
takes it back and the venue never hears of it.

API key. The key expires (`expired_at`); as the official SDK does, it is
renewed 5 minutes ahead (POST /users/api-key). The new key goes into the
pre-built headers in one assignment, so a request is sent with the old key or
the new one, both valid then: none waits and none is dropped. The new key is
written back to the key files (when the key comes from files), so a restart
uses it; the stream signs its next auth with it.

Client order ids. BSX takes at most 32 letters and digits: the gateway's
order id with every other character turned into "x" (ids are hex and
digits, so this stays unique), or a 32-hex digest of it when longer. Stream
events are mapped back by venue id, nonce or that client id.

Reconciliation. Every (re)subscribe brings a snapshot of the open orders.
Orders in it are applied like updates (a fill made while the stream was down
shows as filled_size above what we booked: the difference becomes one fill at
the price that makes the venue's average). Orders we think open that the
snapshot lacks are asked for by id over REST and applied from the answer;
none is dropped without the venue's word.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time
from functools import partial

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError, Response
from gateway.orders.model import SCALE, Fill, Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.requests import Cancel, Place, VenueRequest
from gateway.venues.resolver import FOUND, NOT_FOUND
from gateway.venues.bsx import schemas
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.bsx.credentials import Credentials, load_credentials, save_api_key
from gateway.venues.bsx.venue_data import BsxVenueData
from gateway.venues.bsx.signing import BsxSigner, domain
from gateway.net.ws import ReconnectingStream
from gateway.venues.bsx.ws import order_stream

JSON = b"Content-Type: application/json\r\n"
_CREATE, _CANCEL = "create", "cancel"
_BATCH = "POST /orders/batch"
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_RENEW_RETRY_S = 5.0


def venue_client_id(order_id: str) -> str:
    """At most 32 letters and digits, one per gateway order id."""
    cid = _NOT_ALNUM.sub("x", order_id)
    if len(cid) > schemas.CLIENT_ORDER_ID_MAX:
        cid = hashlib.blake2b(order_id.encode(), digest_size=16).hexdigest()
    return cid


def _e18(text: str, signed: bool = False) -> int:
    return parse_scaled(text, SCALE, signed=signed)


class BsxAdapter(VenueAdapter):
    capabilities = Capabilities(stop_orders=True, reduce_only=True, cancel_all=True, batch_cancel=True,
                                cancel_replace=False, modify=False)
    venue_data_type = BsxVenueData

    def __init__(self, config: BsxConfig, tracker: Tracker, metrics=None, *,
                 credentials: Credentials | None = None):
        super().__init__(config, tracker, metrics)
        self.config: BsxConfig = config
        self.creds = credentials or load_credentials(config)
        self._set_key(self.creds.api_key, self.creds.api_secret)
        self.key_expires_ns = 0
        self.key_renewals = 0
        self._renewer: asyncio.Task | None = None
        self.open_nonces(config.nonce_file, "ns")
        self.account = config.wallet
        self.sign: BsxSigner | None = None
        self.http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        self.max_batch = config.max_batch
        self.batches_sent = 0

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        dom = domain(self.config.domain_name, self.config.domain_version, self.config.chain_id,
                     self.config.verifying_contract)
        if self.config.fetch_chain_config:
            response = await self.http.request("GET", "/chain/configs", b"", JSON)
            if response.status != 200:
                raise VenueError("venue_error", f"{self.name} GET /chain/configs: {self.error_text(response)}")
            main = schemas.chain_configs_decoder.decode(response.body).main
            dom = domain(main.name, main.version, int(main.chain_id), main.verifying_contract)
        await self._learn_wallet()
        self.sign = BsxSigner(self.creds.signer, self.account, dom)
        self._renewer = asyncio.create_task(self._keep_key(), name=f"{self.name}-api-key")
        self.stream = order_stream(self.config.ws_url, lambda: (self.creds.api_key, self.creds.api_secret),
                                   self._on_ws, ping_secs=self.config.ws_ping_secs)
        await self.stream.start()
        self.connected = True

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        await super().stop()

    # the API key

    def _set_key(self, api_key: str, api_secret: str) -> None:
        # raw header lines built once; they hold the secret, so they are never logged
        self._headers = (JSON + f"bsx-key: {api_key}\r\n"
                         f"bsx-secret: {api_secret}\r\n".encode("latin-1"))

    async def _keep_key(self) -> None:
        """Renew the key API_KEY_RENEW_BEFORE_NS before it expires, as the SDK does."""
        while True:
            wait_s = (self.key_expires_ns - schemas.API_KEY_RENEW_BEFORE_NS - time.time_ns()) / 1e9
            if not self.key_expires_ns:
                return  # the venue gave no expiry: nothing to renew
            await asyncio.sleep(max(wait_s, 0))
            try:
                await self.renew_api_key()
            except (HttpError, VenueError) as exc:
                self.log.error("API key renewal failed, retrying in %g s: %s", _RENEW_RETRY_S, exc)
                await asyncio.sleep(_RENEW_RETRY_S)

    async def renew_api_key(self) -> None:
        response = await self.http.request("POST", "/users/api-key", schemas.encoder.encode(schemas.NewApiKey()),
                                           self._headers)
        if response.status != 200:
            raise VenueError("venue_error", f"{self.name} POST /users/api-key: {self.error_text(response)}")
        key = schemas.api_key_reply_decoder.decode(response.body).api_key
        if not key.api_key or not key.api_secret:
            raise VenueError("venue_error", f"{self.name} POST /users/api-key: no key in the reply")
        expires = int(key.expired_at or 0)
        if expires and expires - time.time_ns() <= schemas.API_KEY_RENEW_BEFORE_NS:
            # a key that would be renewed at once again: keep it, but do not spin on it
            self.log.warning("the renewed API key expires within the renewal margin")
            expires = time.time_ns() + schemas.API_KEY_RENEW_BEFORE_NS + int(_RENEW_RETRY_S * 1e9)
        self.creds = dataclasses.replace(self.creds, api_key=key.api_key, api_secret=key.api_secret)
        self._set_key(key.api_key, key.api_secret)  # one assignment: every later request carries it
        self.key_expires_ns = expires
        self.key_renewals += 1
        try:
            if not save_api_key(self.config, key.api_key, key.api_secret):
                self.log.warning("the renewed API key comes from the environment and is not saved: "
                                 "a restart uses the old one until the environment is updated")
        except OSError as exc:
            self.log.error("renewed API key could not be saved (a restart will use the old one): %s", exc)
        self.log.info("API key renewed; it expires in %.0f s", (expires - time.time_ns()) / 1e9)

    async def _learn_wallet(self) -> None:
        """The wallet (`sender`) is the API key's; a configured one must agree."""
        response = await self.http.request("GET", "/users/api-key", b"", self._headers)
        if response.status != 200:
            raise VenueError("login_failed", f"{self.name} GET /users/api-key: {self.error_text(response)}")
        keys = schemas.api_keys_decoder.decode(response.body).api_keys
        mine = next((k for k in keys if k.api_key == self.creds.api_key), None)
        if mine is None or not mine.sender:
            raise VenueError("login_failed", f"{self.name}: the venue lists no wallet for this API key")
        if self.account and self.account.lower() != mine.sender.lower():
            raise VenueError("config", f"{self.name}: wallet {self.account} is not the API key's ({mine.sender})")
        if mine.signer and mine.signer.lower() != self.creds.signer.address.lower():
            self.log.warning("signer %s is not the one registered for this key (%s): orders will be refused",
                             self.creds.signer.address, mine.signer)
        self.account = mine.sender
        self.key_expires_ns = int(mine.expired_at or 0)

    # requests and batches

    async def _send(self, method: str, path: str, body, on_reply) -> None:
        reply = await self.http.send(method, path, body, self._headers)
        reply.add_done_callback(on_reply)

    def batch_key(self, request: VenueRequest) -> str | None:
        kind = type(request)
        if kind is Place or (kind is Cancel and request.order.venue_order_id is not None):
            return _BATCH
        return None  # a cancel of an order not named yet waits for its name (defer)

    def batch_weight(self, key: str, requests: list[VenueRequest]) -> float:
        # an assumption: BSX's docs (seed 001) say nothing of how its rate limit counts a batch;
        # taken as the one request it is, as the HTTP client counted it before the line did
        return 1

    async def send_batch(self, key: str, requests: list[VenueRequest]) -> None:
        await self._send_batch([(_CREATE if type(r) is Place else _CANCEL, r.order) for r in requests])

    def _fail_ops(self, ops: list[tuple[str, Order]], why: str) -> None:
        for kind, order in ops:
            if kind == _CREATE:
                if BsxVenueData.read(order).nonce is not None:
                    self.resolver.ask(order, why)
                else:
                    self.tracker.apply(order, Status.REJECTED, reason=why)
            else:
                self.cancel_refused(order, f"cancel outcome unknown: {why}")

    async def _send_batch(self, ops: list[tuple[str, Order]]) -> None:
        def body() -> bytes:
            data = []
            for kind, order in ops:
                if kind == _CREATE:
                    data.append(schemas.BatchOp("CREATE", create_order_request=self._create(order)))
                else:
                    data.append(schemas.BatchOp("CANCEL", cancel_request=schemas.CancelRequest(
                        order_id=order.venue_order_id)))
            return schemas.encoder.encode(schemas.Batch(data))

        self.batches_sent += 1
        await self._send("POST", "/orders/batch", body, partial(self._on_batch_reply, ops))

    def _on_batch_reply(self, ops: list[tuple[str, Order]], reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except HttpError as exc:
            self.metrics.venue_error(self.name, "transport")
            self._fail_ops(ops, str(exc))
            return
        results: list[schemas.BatchResult] = []
        if response.status == 200:
            try:
                results = schemas.batch_reply_decoder.decode(response.body).data
            except Exception as exc:  # noqa: BLE001
                self.log.error("unreadable batch reply: %s", exc)
        if len(results) != len(ops):
            self.metrics.venue_error(self.name, f"http_{response.status}")
            error = self.error_text(response)
            for kind, order in ops:
                if kind == _CREATE:
                    self.tracker.apply(order, Status.REJECTED, reason=error)
                    self.fail_deferred(order, "order was rejected")
                else:
                    self.cancel_refused(order, error)
            return
        for (kind, order), result in zip(ops, results):
            if kind == _CREATE:
                self.observe_ack(order)  # a batch's reply answers each of its orders
                if result.code == 0 and result.create_order_response is not None:
                    self._accepted(order, result.create_order_response)
                else:
                    self.tracker.apply(order, Status.REJECTED, reason=result.message or f"code {result.code}")
                    self.fail_deferred(order, "order was rejected")
            elif result.code != 0:
                self.cancel_refused(order, result.message or f"code {result.code}")

    # orders

    def _create(self, order: Order) -> schemas.CreateOrder:
        """Nonce and signature made here, when the request is about to be written."""
        create = self.timed_sign(self._signed_create, order)
        self.stamp_sent(order)
        return create

    def _signed_create(self, order: Order) -> schemas.CreateOrder:
        """The body's decimal strings and the signed e18 integers come from the same ints
        (order.price, order.quantity), so they cannot disagree."""
        nonce = self.assign_nonce(order)
        index = int(self.instruments[order.symbol].product_id)
        side = schemas.ORDER_SIDE["BUY" if order.side is Side.BUY else "SELL"]
        if order.stop_price is not None:
            kind = schemas.ORDER_TYPE["STOP"]
        elif order.type is OrderType.MARKET:
            kind = schemas.ORDER_TYPE["MARKET"]
        else:
            kind = schemas.ORDER_TYPE["LIMIT"]
        price = order.price or 0
        signature = self.sign.sign_order(order.quantity, price, nonce, index, side)
        return schemas.CreateOrder(
            side="BUY" if side == 0 else "SELL", type=kind, product_index=index,
            price=format_scaled(price, SCALE), size=format_scaled(order.quantity, SCALE),
            post_only=order.post_only, reduce_only=order.reduce_only,
            time_in_force=order.tif.value.upper(), expired_at=0, nonce=nonce, signature=signature,
            client_order_id=venue_client_id(order.order_id),  # from the gateway's id: unique across strategies
            stop_price=None if order.stop_price is None else format_scaled(order.stop_price, SCALE),
        )

    def check_new(self, order: Order) -> None:
        if order.stop_price is not None and order.type is OrderType.MARKET:
            raise VenueError("unsupported", f"{self.name} stop orders carry a limit price: give one")

    async def place(self, order: Order) -> None:
        await self._send_create(order)

    async def _send_create(self, order: Order) -> None:
        await self._send("POST", "/orders", lambda: schemas.encoder.encode(self._create(order)),
                         partial(self._on_place_reply, order))

    def _on_place_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.place_reply(order, reply)
        if response is not None:
            self.place_answered(order, response, lambda body: self._accepted(order, schemas.order_decoder.decode(body)))

    def _accepted(self, order: Order, venue_order: schemas.Order) -> None:
        """The REST answer to a create: it names the order and says it was accepted.
        Fills and closes come from the stream, which carries the trades."""
        if order.venue_order_id is None:
            self.tracker.bind_venue_id(order, venue_order.id)
        if venue_order.status == schemas.STOP_ACCEPTED:
            self.tracker.apply(order, Status.UNTRIGGERED)
        elif venue_order.status == schemas.OPEN and _e18(venue_order.filled_size) == 0:
            self.tracker.apply(order, Status.TRIGGERED if order.stop_price is not None else Status.OPEN)
        self.run_deferred(order)

    async def _query_order(self, query: str) -> schemas.Order | None:
        response = await self.http.request("GET", f"/order?{query}", b"", self._headers)
        if response.status == 200:
            return schemas.order_decoder.decode(response.body)
        if response.status == 404:
            return None
        raise VenueError("venue_error", self.error_text(response))

    def error_words(self, response: Response) -> str | None:
        error = schemas.error_decoder.decode(response.body)
        return f"{error.message or 'error'} (code {error.code})" if error.code else error.message

    async def lookup(self, order: Order) -> str:
        """By its venue id, else by the nonce it was signed with."""
        if order.venue_order_id is not None:
            venue_order = await self._query_order(f"order_id={order.venue_order_id}")
        elif BsxVenueData.read(order).nonce is not None:
            venue_order = await self._query_order(f"nonce={order.venue_data.nonce}")
        else:
            return NOT_FOUND  # never signed, so never sent
        if venue_order is None:
            return NOT_FOUND
        self._apply_venue_order(venue_order, order)
        return FOUND

    def _apply_venue_order(self, venue_order: schemas.Order, order: Order | None = None,
                           channel: str | None = None) -> None:
        if order is None:
            order = self.tracker.by_venue(self.name, venue_order.id)
            if order is None:
                order = self._by_nonce.get(int(venue_order.nonce))
            if order is None:
                return  # not ours: another session of the same account, or long forgotten
        if order.venue_order_id is None:
            self.tracker.bind_venue_id(order, venue_order.id)
            self.run_deferred(order)
        fills = self._fills(order, venue_order)
        status, reason = self._status(order, venue_order)
        if order.status is Status.UNTRIGGERED and (venue_order.status == schemas.OPEN or (
                venue_order.status == schemas.DONE and _e18(venue_order.filled_size) > 0)):
            # the venue does not say "triggered": a stop it shows live or trading has been
            self.tracker.apply(order, Status.TRIGGERED)
        self.tracker.apply(order, status, fills, reason=order.reason or reason, channel=channel)
        if order.is_closed:
            self.forget_nonce(order)

    def _fills(self, order: Order, venue_order: schemas.Order) -> list[Fill]:
        trades = [
            Fill(trade_id=t.id, price=_e18(t.price), quantity=_e18(t.size), ts_ns=int(t.time),
                 is_maker=t.liquidity_indicator == "MAKER", fee=_e18(t.trading_fee, signed=True))
            for t in venue_order.last_trades or ()
        ]
        # repeats go to the tracker too: it drops and counts them
        seen = [f for f in trades if f.trade_id in order.trade_ids]
        fresh = [f for f in trades if f.trade_id not in order.trade_ids]
        venue_filled = _e18(venue_order.filled_size)
        booked = order.filled + sum(f.quantity for f in fresh)
        if booked > venue_filled:
            # already booked from a gap fill made at a reconcile: the venue's total is the truth
            return seen
        if booked < venue_filled:
            # trades made while the stream was down: one fill for what we missed, priced so
            # the order's average matches the venue's
            missed = venue_filled - booked
            notional = _e18(venue_order.avg_price) * venue_filled - order.notional \
                - sum(f.price * f.quantity for f in fresh)
            fresh.append(Fill(trade_id=f"{venue_order.id}:filled:{venue_order.filled_size}",
                              price=max(notional, 0) // missed, quantity=missed,
                              ts_ns=int(venue_order.updated_at)))
        return seen + fresh

    def _status(self, order: Order, venue_order: schemas.Order) -> tuple[Status | None, str | None]:
        wire = venue_order.status
        if wire == schemas.PENDING:
            return None, None
        if wire == schemas.STOP_ACCEPTED:
            return Status.UNTRIGGERED, None
        if wire == schemas.OPEN:
            return (Status.TRIGGERED if order.stop_price is not None else Status.OPEN), None
        if wire != schemas.DONE:
            self.log.warning("unknown BSX status %r for order %s", wire, order.order_id)
            return None, None
        if _e18(venue_order.filled_size) >= _e18(venue_order.size):
            return Status.FILLED, None
        if venue_order.reject_reason:
            return Status.REJECTED, venue_order.reject_reason
        why = venue_order.cancel_reason
        if why == schemas.CANCEL_POST_ONLY and _e18(venue_order.filled_size) == 0:
            return Status.REJECTED, "post only: the order would have taken liquidity"
        if why == schemas.CANCEL_USER:
            return Status.CANCELED, ("canceled by request" if order.status is Status.PENDING_CANCEL
                                     else "canceled by the account owner")
        if why == schemas.CANCEL_STP:
            return Status.CANCELED, f"self-trade prevention ({venue_order.stp})"
        if order.type is OrderType.MARKET:
            return Status.CANCELED, "market order remainder canceled"
        if order.tif is not TimeInForce.GTC:
            return Status.CANCELED, f"{order.tif.value.upper()} remainder canceled"
        return Status.CANCELED, f"canceled by the venue: {why or 'no reason given'}"

    # the orders channel

    def _on_ws(self, payload: bytes) -> None:
        try:
            self._on_message(schemas.ws_decoder.decode(payload))
        except (*DECODE_ERRORS, ValueError, TypeError) as exc:
            self.message_dropped(exc)

    def _on_message(self, message) -> None:
        if message.channel == schemas.ORDERS_CHANNEL:
            if message.type == "update":
                for venue_order in message.data or ():
                    self._apply_venue_order(venue_order, channel="stream")
            elif message.type == "snapshot":
                self._apply_snapshot(message.data or [])
                self.stream.up.set()
            elif message.type == "error":
                self.log.warning("orders channel error %s: %s", message.code, message.message)
        elif message.channel == schemas.AUTH_CHANNEL and message.type != "authenticated":
            self.log.warning("stream auth refused: %s %s", message.code, message.message)

    async def reconcile(self, orders: list[Order]) -> None:
        """Every (re)subscribe brings the snapshot of the open orders (_apply_snapshot): nothing to ask here."""

    def _apply_snapshot(self, snapshot: list[schemas.Order]) -> None:
        listed = set()
        for venue_order in snapshot:
            self._apply_venue_order(venue_order)
            order = self.tracker.by_venue(self.name, venue_order.id)
            if order is not None:
                listed.add(order.order_id)
        # not in the open snapshot: filled or canceled while we were away, or never taken
        self.not_listed(self.tracker.open_orders(venue=self.name), listed)

    # cancels

    async def cancel(self, order: Order) -> None:
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        await self._send_cancel(order)

    async def _send_cancel(self, order: Order) -> None:
        await self._send("DELETE", f"/order?order_id={order.venue_order_id}", b"",
                         partial(self._on_cancel_reply, order))

    def _on_cancel_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.cancel_reply((order,), reply)
        if response is None:
            return
        # 200 means "cancel requested": the order is closed when the stream says DONE
        if response.status != 200:
            self.cancel_refused(order, self.error_text(response))

    async def cancel_all(self, orders: list[Order]) -> None:
        """One DELETE /orders for every order the venue has named; the rest wait for their id."""
        named = [o for o in orders if o.venue_order_id is not None]
        for order in orders:
            if order.venue_order_id is None:
                await self.cancel(order)
        if not named:
            return
        body = schemas.encoder.encode(schemas.CancelOrders(order_ids=[o.venue_order_id for o in named]))
        await self._send("DELETE", "/orders", body, partial(self._on_cancel_many_reply, named))

    def _on_cancel_many_reply(self, orders: list[Order], reply: asyncio.Future) -> None:
        response = self.cancel_reply(orders, reply)
        if response is None:
            return
        if response.status != 200:
            for order in orders:
                self.cancel_refused(order, self.error_text(response))
            return
        try:
            listed = schemas.cancel_requested_decoder.decode(response.body).cancel_requested_orders
        except DECODE_ERRORS as exc:
            for order in orders:
                self.cancel_refused(order, f"cancel outcome unknown: unreadable reply ({exc})")
            return
        requested = {r.id or r.order_id for r in listed}
        for order in orders:
            if order.venue_order_id not in requested:
                self.cancel_refused(order, "the venue did not take the cancel: order not open")

    async def cancel_product(self, symbol: str) -> list[str]:
        """DELETE /orders/all: every open order of the account on symbol, the gateway's or not.
        Returns the venue ids the venue will cancel; the stream confirms each."""
        response = await self.http.request("DELETE", f"/orders/all?product_id={symbol}", b"", self._headers)
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        return [r.order_id or r.id for r in schemas.cancel_requested_decoder.decode(
            response.body).cancel_requested_orders]
