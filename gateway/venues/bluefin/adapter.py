"""Bluefin Pro adapter: ed25519-signed orders over REST, whose replies are
only ACKs; the outcome of every order and cancel arrives on the WS account
stream (seed 000).

Identity. The venue names an order by its hash, which depends only on the
signed fields: the adapter computes it while signing (the current recipe:
blake2b-256 of the raw BCS bytes, hex without 0x) and binds it before the
bytes leave, so a WS event that beats the ACK finds its order. The ACK's hash
is checked against it; every hash from the venue is compared lowercased and
without 0x.

The account stream is the current SDK's: envelopes {event, reason, payload};
AccountOrderUpdate (an active-order payload or a cancellation payload, told
apart by `status`) and AccountTradeUpdate ({"trade": ...}) are read, any other
event is counted in `ignored_events` and otherwise left alone.

The ACK says "the venue holds it, still pending": it is applied as
PENDING_NEW, so a late ACK (after the stream said OPEN or FILLED) is counted
and ignored like any stale report. A cancel waits for the ACK (or the first
stream event): before that the venue may not know the hash yet.

Session. Login (POST /auth/token, signed body) gives an access and a refresh
token. A timer refreshes the access token before it expires (PUT
/auth/token/refresh) and logs in again when the refresh token has expired too.
A request the venue refuses with 401 anyway (a token revoked early) renews the
session once, single-flight, and is sent again, re-signed: a 401 means the
venue did not take it, so nothing is lost or doubled.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import time
from functools import partial

from gateway._core.fixedpoint import FixedPointError, parse_scaled, rescale
from gateway.net.http import HttpClient, HttpError, Response
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import SCALE, Fill, Order, OrderType, Side, Status
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND, UNDECIDED
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bluefin.credentials import load_key
from gateway.venues.bluefin.venue_data import BluefinVenueData
from gateway.venues.bluefin.signing import Ed25519Key, check_address, check_symbol, order_hash, order_json
from gateway.venues.bluefin.ws import account_stream

JSON = b"Content-Type: application/json\r\n"
E9 = 9
_RESENDS = 2  # a request refused with 401 is sent again after a session renewal, at most this often

REASON_TEXT = {
    schemas.POST_ONLY_WOULD_TRADE: "post only: the order would have taken liquidity",
    schemas.SELF_TRADE_PREVENTION: "self-trade prevention",
}


def _int(text: str, signed: bool = False) -> int:
    # a decimal-integer string, exactly: never through a float
    return parse_scaled(text, 0, signed=signed)


def _e18_of_e9(text: str, signed: bool = False) -> int:
    """The venue's e9 decimal-integer text as the gateway's e18 int."""
    return rescale(_int(text, signed), E9, SCALE)


class BluefinAdapter(VenueAdapter):
    capabilities = Capabilities(reduce_only=True, cancel_all=True, batch_cancel=True, post_only=True,
                                market_orders=True, stop_orders=True, cancel_replace=False, modify=False)
    venue_data_type = BluefinVenueData

    def __init__(self, config: BluefinConfig, tracker: Tracker, metrics=None, *, key: Ed25519Key | None = None):
        super().__init__(config, tracker, metrics)
        self.config: BluefinConfig = config
        self.key = key or load_key(config)
        self.account = self.key.address
        self.ids_id = config.ids_id
        self.leverage_e9 = rescale(parse_scaled(config.leverage, SCALE), SCALE, E9)
        self.position_type = "ISOLATED" if config.isolated else "CROSS"
        for symbol, inst in self.instruments.items():
            check_symbol(str(inst.product_id))
        # unique and increasing across restarts as long as the clock moves forward
        self._salts = itertools.count(time.time_ns())
        self.http: HttpClient | None = None
        self.auth_http: HttpClient | None = None
        self.api_http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        self._auth_headers = JSON
        self._access_expires = self._refresh_expires = 0.0
        self._refresh_token = ""
        self._access_token = ""
        self.session_generation = 0
        self.logins = self.refreshes = 0
        self._auth_lock = asyncio.Lock()
        self._tokens_changed = asyncio.Event()
        self._refresher: asyncio.Task | None = None
        self._pending_fills: dict[str, tuple[Order, list[Fill]]] = {}
        self._fetching_history: set[str] = set()  # orders whose trade history is being read
        self.ignored_events: collections.Counter[str] = collections.Counter()
        self.subscribed = 0  # subscribe replies with success true

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        self.auth_http = self._side_client(self.config.auth_url)
        self.api_http = self._side_client(self.config.api_url)
        if self.config.fetch_exchange_info:
            response = await self.api_http.request("GET", schemas.EXCHANGE_INFO_PATH, b"", JSON)
            if response.status != 200:
                raise VenueError("venue_error",
                                 f"{self.name} GET {schemas.EXCHANGE_INFO_PATH}: {self.error_text(response)}")
            self.ids_id = schemas.exchange_info_decoder.decode(response.body).contractsConfig.idsId
        if not self.ids_id:
            raise VenueError("config", f"venue {self.name}: no IDS id (set ids_id or fetch_exchange_info)")
        check_address(self.ids_id)
        await self._login()
        self._refresher = asyncio.create_task(self._keep_session(), name=f"{self.name}-session")
        self.stream = account_stream(self.config.ws_url, headers=self._ws_headers, on_message=self._on_ws,
                                     on_up=self.stream_up)
        await self.stream.start()
        self.connected = True

    def _side_client(self, url: str) -> HttpClient:
        if not url or url == self.config.rest_url:
            return self.http
        return self.http_client(url, connections=1, limited=False, journaled=False)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await super().stop()
        for client in {self.auth_http, self.api_http} - {self.http, None}:
            await client.close()

    # session

    async def _login(self) -> None:
        body = schemas.encoder.encode(schemas.Login(accountAddress=self.account,
                                                    signedAtMillis=time.time_ns() // 1_000_000))
        headers = JSON + f"payloadSignature: {self.key.sign_login(body)}\r\n".encode()
        response = await self.auth_http.request("POST", schemas.LOGIN_PATH, body, headers)
        if response.status != 200:
            raise VenueError("login_failed", f"{self.name} login refused: {self.error_text(response)}")
        self._set_tokens(schemas.tokens_decoder.decode(response.body))
        self.logins += 1

    async def _refresh(self) -> bool:
        body = schemas.encoder.encode(schemas.Refresh(refreshToken=self._refresh_token))
        response = await self.auth_http.request("PUT", schemas.REFRESH_PATH, body, JSON)
        if response.status != 200:
            self.log.info("token refresh refused (%s): logging in again", self.error_text(response))
            return False
        self._set_tokens(schemas.tokens_decoder.decode(response.body))
        self.refreshes += 1
        return True

    def _set_tokens(self, tokens: schemas.Tokens) -> None:
        now = time.monotonic()
        self._access_token = tokens.accessToken
        self._refresh_token = tokens.refreshToken
        self._access_expires = now + tokens.accessTokenValidForSeconds
        self._refresh_expires = now + tokens.refreshTokenValidForSeconds
        # pre-encoded so the order path adds it without formatting; holds the token: never logged
        self._auth_headers = JSON + f"Authorization: Bearer {tokens.accessToken}\r\n".encode()
        self.session_generation += 1
        self._tokens_changed.set()

    async def renew_session(self, seen_generation: int | None = None) -> None:
        """Refresh, or log in when the refresh token is gone; callers that saw the same
        session share one renewal."""
        async with self._auth_lock:
            if seen_generation is not None and seen_generation != self.session_generation:
                return  # someone renewed it while we waited
            if self._refresh_token and time.monotonic() < self._refresh_expires - 1:
                try:
                    if await self._refresh():
                        return
                except HttpError as exc:
                    self.log.warning("token refresh failed: %s", exc)
            await self._login()

    def _refresh_in(self) -> float:
        life = self._access_expires - time.monotonic()
        margin = min(self.config.token_refresh_margin_secs, max(life, 0) / 5)
        return max(life - margin, 0.05)

    async def _keep_session(self) -> None:
        while True:
            self._tokens_changed.clear()
            try:
                await asyncio.wait_for(self._tokens_changed.wait(), self._refresh_in())
                continue  # new tokens (a 401 renewed them): a new schedule
            except asyncio.TimeoutError:
                pass
            try:
                await self.renew_session(self.session_generation)
            except (HttpError, VenueError) as exc:
                self.log.error("session renewal failed, retrying: %s", exc)
                await asyncio.sleep(1)

    async def _fresh_headers(self) -> bytes:
        if time.monotonic() >= self._access_expires:
            await self.renew_session(self.session_generation)
        return self._auth_headers

    async def _ws_headers(self, fresh: bool = False) -> dict[str, str]:
        if fresh:
            # the drop may have been the venue ending the session: never reconnect on a stale token
            await self.renew_session(self.session_generation)
        return {"Authorization": f"Bearer {self._access_token}"}

    def error_words(self, response: Response) -> str | None:
        error = schemas.error_decoder.decode(response.body)
        text = error.message or error.error
        return f"{text} (HTTP {response.status})" if text else None

    async def _get(self, path: str) -> Response:
        for _ in range(_RESENDS + 1):
            generation = self.session_generation
            response = await self.http.request("GET", path, b"", await self._fresh_headers())
            if response.status != 401:
                return response
            await self.renew_session(generation)
        return response

    # orders

    def check_new(self, order: Order) -> None:
        try:
            price_e9 = rescale(order.price or 0, SCALE, E9)
            quantity_e9 = rescale(order.quantity, SCALE, E9)
            trigger_e9 = None if order.stop_price is None else rescale(order.stop_price, SCALE, E9)
        except FixedPointError as exc:
            raise VenueError("bad_field", f"{self.name} takes 9 decimals at most: {exc}") from None
        order.venue_data = BluefinVenueData(price_e9=price_e9, quantity_e9=quantity_e9, trigger_e9=trigger_e9,
                                            market=str(self.instruments[order.symbol].product_id))

    def _order_body(self, order: Order) -> bytes:
        """Salt, times, signature and hash made here, when the connection is ready to write."""
        data = order.venue_data
        now_ms = time.time_ns() // 1_000_000
        expiration = now_ms + self.config.order_expiry_secs * 1000
        salt = next(self._salts)
        side = "LONG" if order.side is Side.BUY else "SHORT"
        fields = (self.ids_id, self.account, data.market, data.price_e9, data.quantity_e9,
                  self.leverage_e9, side, self.position_type, expiration, salt, now_ms)
        signature = self.timed_sign(self._signature, fields)
        self.tracker.bind_venue_id(order, order_hash(*fields))
        market = order.type is OrderType.MARKET
        if order.stop_price is None:
            kind, trigger = ("MARKET" if market else "LIMIT"), None
        else:  # rests untriggered (STANDBY) until the market reaches triggerPriceE9
            kind, trigger = ("STOP_MARKET" if market else "STOP_LIMIT"), str(data.trigger_e9)
        # type and reduceOnly always (the SDK model requires them); no timeInForce on a market order
        body = schemas.encoder.encode(schemas.CreateOrder(
            signedFields=schemas.SignedFields(
                symbol=data.market, accountAddress=self.account, priceE9=str(data.price_e9),
                quantityE9=str(data.quantity_e9), side=side, leverageE9=str(self.leverage_e9),
                isIsolated=self.config.isolated, salt=str(salt), idsId=self.ids_id,
                expiresAtMillis=expiration, signedAtMillis=now_ms),
            signature=signature, clientOrderId=order.order_id, type=kind,
            reduceOnly=order.reduce_only, postOnly=order.post_only,
            timeInForce=None if market else schemas.TIF[order.tif.value], triggerPriceE9=trigger,
        ))
        self.stamp_sent(order)
        return body

    def _signature(self, fields: tuple) -> str:
        return self.key.sign_order(order_json(*fields))

    async def place(self, order: Order) -> None:
        await self._send_place(order, _RESENDS)

    async def _send_place(self, order: Order, resends: int) -> None:
        generation = self.session_generation
        reply = await self.http.send("POST", schemas.ORDERS_PATH, partial(self._order_body, order),
                                     await self._fresh_headers())
        reply.add_done_callback(partial(self._on_place_reply, order, generation, resends))

    def _on_place_reply(self, order: Order, generation: int, resends: int, reply: asyncio.Future) -> None:
        response = self.place_reply(order, reply)
        if response is None:
            return
        if response.status == 401 and resends > 0:
            asyncio.ensure_future(self._place_again(order, generation, resends - 1))
            return
        self.place_answered(order, response, lambda body: self._acked(order, schemas.ack_decoder.decode(body)),
                            ok=(200, 201, 202))

    async def _place_again(self, order: Order, generation: int, resends: int) -> None:
        try:
            await self.renew_session(generation)
            await self._send_place(order, resends)
        except (HttpError, VenueError) as exc:
            self.reject(order, f"session lost: {exc}")

    def _acked(self, order: Order, ack: schemas.OrderAck) -> None:
        if schemas.norm_hash(ack.orderHash) != order.venue_order_id:
            self.log.warning("order %s: the venue's hash %s is not ours (%s)", order.order_id, ack.orderHash,
                             order.venue_order_id)
            self.tracker.bind_venue_id(order, schemas.norm_hash(ack.orderHash))
        BluefinVenueData.ensure_on(order).acked = True
        if order.status not in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
            self.tracker.apply(order, Status.PENDING_NEW)
        self.run_deferred(order)

    async def lookup(self, order: Order) -> str:
        """The venue lists only open orders: listed settles it. Not listed settles it as never
        taken for an order the venue never acknowledged. One it acknowledged and no longer lists
        (once a request could no longer be on its way into the book) closed at the venue while
        we were not listening: the account's trade history says how much of it filled."""
        market = self._market(order)
        listed = await self._open_orders(market)
        for payload in listed:
            if _same_hash(payload.orderHash, order.venue_order_id):
                BluefinVenueData.ensure_on(order).acked = True
                self._on_order(payload, order, filled=_e18_of_e9(payload.filledQuantityE9))
                self.run_deferred(order)
                return FOUND
        if not BluefinVenueData.read(order).acked:
            return NOT_FOUND
        if self.resolver.waited_s(order) < self.resolver.grace_s:
            return UNDECIDED
        await self._book_history(order, raise_errors=True)
        if not order.is_closed:
            self.tracker.apply(order, Status.CANCELED,
                               reason="closed at the venue while its stream was down (no longer open, not filled)")
        self.fail_deferred(order, "the order is closed at the venue")
        return FOUND

    async def _book_history(self, order: Order, raise_errors: bool = False) -> None:
        """Book the order's trades from the account's trade history (each once, by trade id)."""
        try:
            trades = await self._account_trades(self._market(order), order.created_ns // 1_000_000 - 1000)
        except (HttpError, VenueError) as exc:
            if raise_errors:
                raise
            self.log.warning("order %s: trade history unavailable (%s); its average stays the venue's total",
                             order.order_id, exc)
            return
        fills = [
            Fill(trade_id=t.id, price=_e18_of_e9(t.priceE9), quantity=_e18_of_e9(t.quantityE9),
                 ts_ns=t.executedAtMillis * 1_000_000, is_maker=t.isMaker,
                 fee=_e18_of_e9(t.tradingFeeE9 or "0", signed=True))
            for t in trades if _same_hash(t.orderHash, order.venue_order_id)
        ]
        if fills:
            self.tracker.apply(order, None, fills)

    async def _account_trades(self, market: str, since_ms: int) -> list[schemas.TradePayload]:
        response = await self._get(f"{schemas.ACCOUNT_TRADES_PATH}?symbol={market}&startTimeAtMillis={since_ms}"
                                   "&limit=500")
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        return schemas.trades_decoder.decode(response.body)

    def _market(self, order: Order) -> str:
        return BluefinVenueData.read(order).market or str(self.instruments[order.symbol].product_id)

    # the account stream

    def _by_hash(self, text: str | None) -> Order | None:
        return self.tracker.by_venue(self.name, schemas.norm_hash(text)) if text else None

    def _on_ws(self, payload: bytes) -> None:
        try:
            frame = schemas.frame_decoder.decode(payload)
            event = frame.event
            if event == schemas.ACCOUNT_ORDER_UPDATE:
                update = schemas.order_payload_decoder.decode(frame.payload)
                if update.status is not None:
                    self._on_order(update)
                else:
                    self._on_cancellation(update)
            elif event == schemas.ACCOUNT_TRADE_UPDATE:
                self._on_trade(schemas.trade_update_decoder.decode(frame.payload).trade)
            elif frame.success is not None and not event:
                if frame.success:
                    self.subscribed += 1
                else:
                    self.log.error("the venue refused the account stream subscription: %s", frame.message)
            else:
                # AccountUpdate, AccountPositionUpdate, ...: not about orders, never an error
                self.ignored_events[event or "?"] += 1
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the stream
            self.message_dropped(exc)

    def _on_order(self, payload: schemas.OrderPayload, order: Order | None = None, filled: int | None = None) -> None:
        order = order or self._by_hash(payload.orderHash)
        if order is None:
            return  # not ours: another session of the same account, or long forgotten
        wire = payload.status
        reason = None
        if wire == schemas.STANDBY:
            status = Status.UNTRIGGERED
        elif wire == schemas.OPEN:
            status = Status.OPEN
        elif wire == schemas.PARTIALLY_FILLED_OPEN:
            status = Status.PARTIALLY_FILLED
        elif wire == schemas.FILLED:
            status = Status.FILLED
        elif wire in schemas.PARTIALLY_FILLED_CANCELLED_SPELLINGS or wire in schemas.CANCELLED_SPELLINGS:
            status, reason = Status.CANCELED, self.cancel_reason(order)
        elif wire in schemas.EXPIRED_SPELLINGS:
            status, reason = Status.EXPIRED, "expired"
        elif wire == schemas.UNSPECIFIED:
            self.ignored_events[f"status {wire}"] += 1
            return
        else:
            self.log.warning("unknown Bluefin status %r for order %s", wire, order.order_id)
            return
        fills = self._pending_fills.pop(order.order_id, (None, ()))[1]
        if status is Status.OPEN and order.stop_price is not None:
            status = Status.TRIGGERED  # a stop the venue shows OPEN has left STANDBY
        elif order.status is Status.UNTRIGGERED and status is not Status.UNTRIGGERED and (
                fills or _e18_of_e9(payload.filledQuantityE9) > 0):
            # the venue does not say "triggered": a stop that traded has been
            self.tracker.apply(order, Status.TRIGGERED)
        # every trade comes from the account stream; the order's own total says what we missed
        if filled is None:
            filled = _e18_of_e9(payload.filledQuantityE9) or None
        self.tracker.apply(order, status, fills, filled=filled, reason=order.reason or reason, channel="stream")
        self._fetch_missed_trades(order)

    def _fetch_missed_trades(self, order: Order) -> None:
        """The venue's total is ahead of the trades we booked: the trade history has their prices."""
        if order.filled > order.booked and order.order_id not in self._fetching_history:
            self._fetching_history.add(order.order_id)
            task = asyncio.ensure_future(self._book_history(order))
            task.add_done_callback(lambda _t, oid=order.order_id: self._fetching_history.discard(oid))

    def _on_cancellation(self, payload: schemas.OrderPayload) -> None:
        why = payload.cancellationReason
        if why is None:
            # a cancel the venue could not do: the order (if any) stays as it was
            failure = payload.failureToCancelReason or "UNSPECIFIED"
            if payload.orderHash:
                targets = [o for o in [self._by_hash(payload.orderHash)] if o is not None]
            else:
                targets = [o for o in self.tracker.open_orders(venue=self.name)
                           if o.status is Status.PENDING_CANCEL and BluefinVenueData.read(o).market == payload.symbol]
            for order in targets:
                self.cancel_refused(order, f"cancel failed: {failure}")
            return
        if why in schemas.USER_CANCELLED_ALL_SPELLINGS:
            # one message for the whole market: every order the venue held there is closed
            for order in self.tracker.open_orders(venue=self.name):
                data = BluefinVenueData.read(order)
                if data.market == payload.symbol and order.venue_order_id is not None and (
                        data.acked or order.status is not Status.PENDING_NEW):
                    reason = ("canceled by request" if order.status is Status.PENDING_CANCEL
                              else "canceled: all orders on the market canceled")
                    self.tracker.apply(order, Status.CANCELED, reason=reason)
            return
        order = self._by_hash(payload.orderHash)
        if order is None:
            return
        fills = self._pending_fills.pop(order.order_id, (None, ()))[1]
        remaining = _e18_of_e9(payload.remainingQuantityE9)
        # what was not canceled filled: trades we missed count toward it (a 0 says nothing)
        filled = order.quantity - remaining if 0 < remaining <= order.quantity else None
        if fills or filled:
            self.tracker.apply(order, None, fills, filled=filled, channel="stream")
        self._fetch_missed_trades(order)
        if order.status is Status.PENDING_NEW and not order.filled:
            # the venue never opened it: the seed's way of rejecting an order
            self.reject(order, f"{REASON_TEXT.get(why, why)} ({why})")
        else:
            self.tracker.apply(order, Status.CANCELED, reason=self.cancel_reason(order, REASON_TEXT.get(why, why)))

    def _on_trade(self, trade: schemas.TradePayload) -> None:
        order = self._by_hash(trade.orderHash)
        if order is None:
            return
        fill = Fill(trade_id=trade.id, price=_e18_of_e9(trade.priceE9), quantity=_e18_of_e9(trade.quantityE9),
                    ts_ns=trade.executedAtMillis * 1_000_000, is_maker=trade.isMaker,
                    fee=_e18_of_e9(trade.tradingFeeE9 or "0", signed=True))
        # trades come one frame each, then the order's update: booked with it, so the strategy
        # gets one update carrying every trade of a match; leftovers are booked on their own
        if not self._pending_fills:
            asyncio.get_running_loop().call_soon(self._flush_fills)
        self._pending_fills.setdefault(order.order_id, (order, []))[1].append(fill)

    def _flush_fills(self) -> None:
        pending, self._pending_fills = self._pending_fills, {}
        for order, fills in pending.values():
            self.tracker.apply(order, None, fills, channel="stream")

    # reconciliation

    async def _open_orders(self, market: str) -> list[schemas.OrderPayload]:
        response = await self._get(f"{schemas.OPEN_ORDERS_PATH}?symbol={market}")
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        return schemas.orders_decoder.decode(response.body)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        # open orders only, market by market: those of a market that cannot be listed are looked up
        listed_ids = set()
        for market in sorted({self._market(o) for o in orders}):
            try:
                listed = {schemas.norm_hash(p.orderHash): p for p in await self._open_orders(market)}
            except (HttpError, VenueError) as exc:
                self.log.error("reconcile: cannot list open orders on %s: %s", market, exc)
                continue
            for order in orders:
                if self._market(order) != market:
                    continue
                payload = listed.get(schemas.norm_hash(order.venue_order_id))
                if payload is not None:
                    listed_ids.add(order.order_id)
                    BluefinVenueData.ensure_on(order).acked = True
                    # fills made while away show as the venue's total (no trade records for them)
                    self._on_order(payload, order, filled=_e18_of_e9(payload.filledQuantityE9))
                    self.run_deferred(order)
        return listed_ids

    # cancels

    def _venue_has(self, order: Order) -> bool:
        return order.venue_order_id is not None and (
            BluefinVenueData.read(order).acked or order.status not in (Status.PENDING_NEW, Status.PENDING_CANCEL))

    async def cancel(self, order: Order) -> None:
        if not self._venue_has(order):
            self.defer(order, partial(self.cancel, order))
            return
        await self._send_cancel(self._market(order), [order], _RESENDS)

    async def cancel_all(self, orders: list[Order]) -> None:
        """One PUT per market and per 10 hashes; orders the venue has not ACKed wait for it."""
        by_market: dict[str, list[Order]] = {}
        for order in orders:
            if self._venue_has(order):
                by_market.setdefault(self._market(order), []).append(order)
            else:
                await self.cancel(order)
        for market, group in by_market.items():
            for i in range(0, len(group), schemas.MAX_CANCEL_HASHES):
                await self._send_cancel(market, group[i:i + schemas.MAX_CANCEL_HASHES], _RESENDS)

    async def cancel_product(self, symbol: str) -> None:
        """Every open order of the account on the market, the gateway's or not (no orderHashes);
        the stream answers with one UserCancelledAllOnMarket."""
        market = str(self.instruments[symbol].product_id)
        body = schemas.encoder.encode(schemas.CancelOrders(symbol=market))
        response = await self.http.request("PUT", schemas.CANCEL_PATH, body, await self._fresh_headers())
        if response.status not in (200, 202):
            raise VenueError("venue_error", self.error_text(response))

    async def _send_cancel(self, market: str, orders: list[Order], resends: int) -> None:
        generation = self.session_generation
        body = schemas.encoder.encode(schemas.CancelOrders(symbol=market,
                                                           orderHashes=[o.venue_order_id for o in orders]))
        reply = await self.http.send("PUT", schemas.CANCEL_PATH, body, await self._fresh_headers())
        reply.add_done_callback(partial(self._on_cancel_reply, market, orders, generation, resends))

    def _on_cancel_reply(self, market: str, orders: list[Order], generation: int, resends: int,
                         reply: asyncio.Future) -> None:
        response = self.cancel_reply(orders, reply)
        if response is None:
            return
        if response.status in (200, 202):
            return  # an ACK only: the stream says whether it was done
        if response.status == 401 and resends > 0:
            asyncio.ensure_future(self._cancel_again(market, orders, generation, resends - 1))
            return
        for order in orders:
            self.cancel_refused(order, self.error_text(response))

    async def _cancel_again(self, market: str, orders: list[Order], generation: int, resends: int) -> None:
        try:
            await self.renew_session(generation)
            await self._send_cancel(market, orders, resends)
        except (HttpError, VenueError) as exc:
            for order in orders:
                self.cancel_refused(order, f"session lost: {exc}")


def _same_hash(a: str | None, b: str | None) -> bool:
    return bool(a and b) and schemas.norm_hash(a) == schemas.norm_hash(b)
