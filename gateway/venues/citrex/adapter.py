"""Citrex adapter: EIP-712 signed orders over REST, order updates over the WS.
What it asks the venue outside the order path (the account's order list, for
reconcile and look-ups) is gateway/venues/citrex/queries.py's."""
from __future__ import annotations

import asyncio
import time
from functools import partial

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError, Response
from gateway.orders.model import Fill, Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.signer import Signer
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.requests import Place
from gateway.venues.citrex import reference, schemas
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.citrex.queries import CitrexQueries
from gateway.venues.credentials import load_signer
from gateway.venues.citrex.venue_data import CitrexVenueData
from gateway.venues.citrex.signing import CitrexSigner
from gateway.net.ws import ReconnectingStream
from gateway.venues.citrex.ws import order_stream

STATUS = {
    "OPEN": Status.OPEN,
    "FILLED": Status.FILLED,
    "CANCELLED": Status.CANCELED,
    "CANCELED": Status.CANCELED,
    "EXPIRED": Status.EXPIRED,
    "REJECTED": Status.REJECTED,
    "PENDING": None,
}
TIF = {TimeInForce.GTC: 0, TimeInForce.FOK: 1, TimeInForce.IOC: 2}
JSON = b"Content-Type: application/json\r\n"

# the simulator (and, as far as its docs say, the venue) prefixes a failed
# cancel-and-replace with the half that failed
CANCEL_FAILED_PREFIX = "idToCancel:"


class CitrexAdapter(VenueAdapter):
    # the quote a unified symbol without one names: its perpetuals settle in USDC (the SDK's products' quoteAsset)
    default_quote = "USDC"
    capabilities = Capabilities(cancel_replace=True, cancel_all=True, batch_cancel=False)
    venue_data_type = CitrexVenueData

    def __init__(self, config: CitrexConfig, tracker: Tracker, metrics=None, *, signer: Signer | None = None):
        super().__init__(config, tracker, metrics)
        self.config: CitrexConfig = config
        signer = signer or load_signer(config.key_file, config.key_env, "account key", config.generate_key)
        self.sign = CitrexSigner(
            signer, sub_account_id=config.sub_account_id, chain_id=config.chain_id,
            verifying_contract=config.verifying_contract, domain_name=config.domain_name,
            domain_version=config.domain_version,
        )
        self.account = signer.address
        self.open_nonces(config.nonce_file, "us")
        self.http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        self._cookie: str | None = None
        self._session_lock = asyncio.Lock()
        self.queries = CitrexQueries(self)

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        self.queries.start()
        await self._login()
        self.stream = order_stream(self.config.ws_url, self.account, self.config.sub_account_id,
                                   headers=self._ws_headers, on_message=self._on_ws, on_up=self.stream_up)
        await self.stream.start()
        self.connected = True

    async def _login(self) -> None:
        async with self._session_lock:
            ts = time.time_ns() // 1_000_000
            body = schemas.encoder.encode(schemas.Login(
                account=self.account, message=self.config.login_message, timestamp=ts,
                signature=self.sign.sign_login(self.config.login_message, ts)))
            response = await self.http.request("POST", "/v1/session/login", body, JSON)
            cookie = _session_cookie(response)
            if response.status != 200 or cookie is None:
                raise VenueError("login_failed", f"{self.name} login refused: {self.error_text(response)}")
            self._cookie = cookie
            self._auth_headers = JSON + f"Cookie: {schemas.SESSION_COOKIE}={cookie}\r\n".encode()

    async def stop(self) -> None:
        await super().stop()
        await self.queries.close()

    # reference data: public calls, polled (reference.py)

    async def list_instruments(self):
        return await reference.list_instruments(self.market_data_http, self.name)

    async def fetch_quotes(self, listings):
        return await reference.fetch_quotes(self.market_data_http, listings)

    # reconcile and look-ups: one listing of the account's orders answers them all

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        return await self.queries.apply_listing(orders)

    def lookup_many(self, orders):
        return self.queries.lookup_many(orders)

    async def lookup(self, order: Order) -> str:
        """The venue's list of the account's orders (open and closed) has it by nonce, or not."""
        return await self.lookup_from_round(order)

    async def _ws_headers(self, fresh: bool = False) -> dict[str, str]:
        if fresh or self._cookie is None:
            await self._login()
        return {"Cookie": f"{schemas.SESSION_COOKIE}={self._cookie}"}

    # orders

    def _product(self, order: Order) -> int:
        return int(self.instruments[order.symbol].product_id)

    def _order_body(self, order: Order) -> bytes:
        """Nonce and signature made here, when the connection is ready to write."""
        body = schemas.encoder.encode(self.timed_sign(self._signed_order, order))
        self.stamp_sent(order)
        return body

    def _signed_order(self, order: Order) -> schemas.PlaceOrder:
        nonce = self.assign_nonce(order)
        product = self._product(order)
        is_buy = order.side is Side.BUY
        if order.type is OrderType.MARKET:
            kind, price = 2, 0
        else:
            kind, price = (1 if order.post_only else 0), order.price
        tif = TIF[order.tif]
        expiration = time.time_ns() // 1_000_000 + self.config.order_expiry_secs * 1000
        signature = self.sign.sign_order(product, is_buy, kind, tif, expiration, price, order.quantity, nonce)
        return schemas.PlaceOrder(
            account=self.account, subAccountId=self.config.sub_account_id, productId=product, isBuy=is_buy,
            orderType=kind, timeInForce=tif, expiration=expiration, price=str(price),
            quantity=str(order.quantity), nonce=nonce, signature=signature,
        )

    async def place(self, order: Order) -> None:
        reply = await self.http.send("POST", "/v1/order", partial(self._order_body, order), self._auth_headers)
        reply.add_done_callback(partial(self._on_place_reply, order))

    def _on_place_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.place_reply(order, reply)
        if response is not None:
            self.place_answered(order, response, lambda body: self._apply_venue_order(
                schemas.order_decoder.decode(body), order, "rest"))

    def error_words(self, response: Response) -> str | None:
        return schemas.result_decoder.decode(response.body).error

    def _apply_venue_order(self, venue_order: schemas.Order, order: Order | None = None,
                           channel: str | None = None) -> None:
        if order is None:
            order = self.tracker.by_venue(self.name, venue_order.id) or self._by_nonce.get(venue_order.nonce)
            if order is None:
                return  # not ours: another session of the same account, or long forgotten
        if order.venue_order_id is None:
            self.tracker.bind_venue_id(order, venue_order.id)
            self.run_deferred(order)
        fills = [
            Fill(trade_id=t.uid, price=int(t.price), quantity=int(t.quantity),
                 ts_ns=t.createdAt * 1_000_000, is_maker=not t.isTaker, fee=int(t.fee))
            for t in venue_order.trades
        ]
        filled = int(venue_order.quantity) - int(venue_order.residualQuantity)
        status = STATUS.get(venue_order.status)
        reason = None
        if status is Status.CANCELED:
            reason = self.cancel_reason(order)
        self.tracker.apply(order, status, fills, filled=filled, reason=order.reason or reason, channel=channel)
        if order.is_closed:
            self.forget_nonce(order)

    def _on_ws(self, payload: bytes) -> None:
        try:
            message = schemas.ws_decoder.decode(payload)
            if message.method == schemas.WS_ORDER_UPDATE and message.params is not None:
                self._apply_venue_order(message.params, channel="stream")
            elif message.error is not None:
                self.log.warning("stream error %s: %s", message.error.code, message.error.message)
        except (*DECODE_ERRORS, ValueError, TypeError) as exc:
            self.message_dropped(exc)

    # cancels

    async def cancel(self, order: Order) -> None:
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        product = self._product(order)

        def body() -> bytes:
            return schemas.encoder.encode(schemas.CancelOrder(
                account=self.account, subAccountId=self.config.sub_account_id, productId=product,
                orderId=order.venue_order_id, signature=self.sign.sign_cancel(product, order.venue_order_id)))

        reply = await self.http.send("DELETE", "/v1/order", body, self._auth_headers)
        reply.add_done_callback(partial(self._on_cancel_reply, order))

    def _on_cancel_reply(self, order: Order, reply: asyncio.Future) -> None:
        response = self.cancel_reply((order,), reply)
        if response is None:
            return
        result = _result(response)
        if response.status == 200 and result.success:
            self.tracker.apply(order, Status.CANCELED, reason=self.cancel_reason(order))
        elif response.status in (401, 429):
            self.cancel_refused(order, self.refusal(response, self.error_text(response)))
        else:
            # maybe closed at the venue already (a fill): then that is the cancel's outcome
            self.cancel_refused_unless_closed(order, self.error_text(response))

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None:
        if self.deferred_until_named(old, partial(self.replace, old, new, proceed_on_failure)):
            return

        def body() -> bytes:
            return schemas.encoder.encode(schemas.CancelAndReplace(
                idToCancel=old.venue_order_id, newOrder=self._signed_order(new)))

        reply = await self.http.send("POST", "/v1/order/cancel-and-replace", body, self._auth_headers)
        reply.add_done_callback(partial(self._on_replace_reply, old, new, proceed_on_failure))

    def _on_replace_reply(self, old: Order, new: Order, proceed: bool, reply: asyncio.Future) -> None:
        try:
            response: Response = reply.result()
        except HttpError as exc:
            self.resolver.ask(new, str(exc))
            return
        if response.status == 200:
            self.tracker.apply(old, Status.CANCELED, reason=self.cancel_reason(old))
            try:
                self._apply_venue_order(schemas.order_decoder.decode(response.body), new, "rest")
            except (*DECODE_ERRORS, ValueError) as exc:
                self.log.error("unreadable replace reply for %s: %s; asking the venue", new.order_id, exc)
                self.resolver.ask(new, "unreadable reply")
            return
        error = self.error_text(response)
        if error.startswith(CANCEL_FAILED_PREFIX):
            reason = error[len(CANCEL_FAILED_PREFIX):].strip()
            self.cancel_refused(old, reason)
            if proceed:
                # explicit, documented: proceed_on_failure places the new order on its own, in
                # the line like any request (acked with the replace: never refused)
                self.forget_nonce(new)
                new.received_ns = 0  # its tick-to-wire was the replace's: not timed twice
                self.outbound.take(Place(new))
            else:
                self.reject(new, f"not placed: cancel of the old order failed: {reason}")
        else:
            # the venue checks the new order before touching the old one: the old one still works
            self.cancel_refused(old, f"replacement refused: {error}")
            self.reject(new, error)


def _session_cookie(response: Response) -> str | None:
    raw = response.headers.get("set-cookie", "")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == schemas.SESSION_COOKIE and value:
            return value
    return None


def _result(response: Response) -> schemas.Result:
    try:
        return schemas.result_decoder.decode(response.body)
    except Exception:  # noqa: BLE001
        return schemas.Result(success=False, error=f"HTTP {response.status}")
