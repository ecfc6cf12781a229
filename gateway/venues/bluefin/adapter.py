"""Bluefin Pro adapter: ed25519-signed orders over REST, whose replies are
only ACKs; the outcome of every order and cancel arrives on the WS account
stream (seed 000).

The adapter is split by what each part holds, composed here:
  adapter.py   the requests the venue line calls (place, cancel, cancel_all,
               cancel_product), their bodies, signatures and replies;
  session.py   the login and token session every request carries;
  events.py    the account stream's events, applied to the orders they name;
  queries.py   what is asked outside the order path: open orders (reconcile,
               look-ups) and the account's trade history;
  reference.py the public market list and prices the reference data reads;
  parsing.py   wire values as the gateway's.

Identity. The venue names an order by its hash, which depends only on the
signed fields: the adapter computes it while signing (the current recipe:
blake2b-256 of the raw BCS bytes, hex without 0x) and binds it before the
bytes leave, so a WS event that beats the ACK finds its order. The ACK's hash
is checked against it; every hash from the venue is compared lowercased and
without 0x.

The ACK says "the venue holds it, still pending": it is applied as
PENDING_NEW, so a late ACK (after the stream said OPEN or FILLED) is counted
and ignored like any stale report. A cancel waits for the ACK (or the first
stream event): before that the venue may not know the hash yet. A request the
venue refuses with 401 is sent again, re-signed, after one session renewal.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from functools import partial

from gateway._core.fixedpoint import FixedPointError, parse_scaled, rescale
from gateway.net.http import HttpClient, HttpError, Response
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import CANCEL_PENDING, SCALE, Order, OrderType, Side, Status
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.account import ACCOUNT_PATH, positions_of
from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bluefin.credentials import load_key
from gateway.venues.bluefin.events import AccountEvents
from gateway.venues.bluefin.parsing import E9
from gateway.venues.bluefin.queries import BluefinQueries
from gateway.venues.bluefin.reference import BluefinReference
from gateway.venues.bluefin.session import JSON, RESENDS, BluefinSession
from gateway.venues.bluefin.signing import Ed25519Key, check_address, check_symbol, order_hash, order_json
from gateway.venues.bluefin.venue_data import BluefinVenueData
from gateway.venues.bluefin.ws import account_stream


class BluefinAdapter(VenueAdapter):
    # the quote a unified symbol without one names: its perpetuals settle in USDC
    default_quote = "USDC"
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
        # unique and increasing across restarts as long as the clock moves forward
        self._salts = itertools.count(time.time_ns())
        self.http: HttpClient | None = None
        self.auth_http: HttpClient | None = None
        self.api_http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        self.session = BluefinSession(self)
        self.events = AccountEvents(self)
        self.queries = BluefinQueries(self)
        self.reference = BluefinReference(self)

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        self.auth_http = self._side_client(self.config.auth_url)
        self.api_http = self._side_client(self.config.api_url)
        self.queries.start()
        if self.config.fetch_exchange_info:
            response = await self.api_http.request("GET", schemas.EXCHANGE_INFO_PATH, b"", JSON)
            if response.status != 200:
                raise VenueError("venue_error",
                                 f"{self.name} GET {schemas.EXCHANGE_INFO_PATH}: {self.error_text(response)}")
            info = schemas.exchange_info_decoder.decode(response.body)
            self.ids_id = info.contractsConfig.idsId
            self.reference.keep_start_reply(info)  # its markets: the instrument check's first list
        if not self.ids_id:
            raise VenueError("config", f"venue {self.name}: no IDS id (set ids_id or fetch_exchange_info)")
        check_address(self.ids_id)
        await self.session.start(self.auth_http)
        self.stream = account_stream(self.config.ws_url, headers=self.session.ws_headers,
                                     on_message=self.events.on_message, on_up=self.stream_up)
        await self.stream.start()
        self.connected = True

    def _side_client(self, url: str) -> HttpClient:
        if not url or url == self.config.rest_url:
            return self.http
        return self.http_client(url, connections=1, limited=False, journaled=False)

    async def stop(self) -> None:
        self.session.stop()
        await super().stop()
        await self.queries.close()
        for client in {self.auth_http, self.api_http} - {self.http, None}:
            await client.close()

    # reference data (reference.py): exchange/info and the tickers are on the api host, the
    # public market stream at market_ws_url

    def market_data_url(self) -> str:
        return self.config.api_url or self.config.rest_url

    async def list_instruments(self):
        return await self.reference.list_instruments()

    async def fetch_quotes(self, listings):
        return await self.reference.fetch_quotes(listings)

    def price_feed(self, sink):
        # the public stream where it is configured; else None: the tickers are polled
        return self.reference.follow_prices(sink) if self.config.market_ws_url else None

    def apply_instruments(self, instruments) -> None:
        # a market name goes into every signed payload: one it cannot carry is refused here,
        # whether typed in the config or filled from the venue's list
        for inst in instruments.values():
            check_symbol(str(inst.product_id))
        super().apply_instruments(instruments)

    def error_words(self, response: Response) -> str | None:
        error = schemas.error_decoder.decode(response.body)
        text = error.message or error.error
        return f"{text} (HTTP {response.status})" if text else None

    def market(self, order: Order) -> str:
        return BluefinVenueData.read(order).market or str(self.instruments[order.symbol].product_id)

    # reconcile and look-ups (queries.py)

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        return await self.queries.apply_listing(orders)

    async def fetch_account_positions(self) -> dict[str, int]:
        return positions_of(await self.queries._get(self.api_http, ACCOUNT_PATH))

    def lookup_many(self, orders):
        return self.queries.lookup_many(orders)

    async def lookup(self, order: Order) -> str:
        return await self.lookup_from_round(order)

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
        await self._send_place(order, RESENDS)

    async def _send_place(self, order: Order, resends: int) -> None:
        session = self.session
        generation = session.generation
        reply = await self.http.send("POST", schemas.ORDERS_PATH, partial(self._order_body, order),
                                     await session.fresh_headers())
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
            await self.session.renew(generation)
            await self._send_place(order, resends)
        except (HttpError, VenueError) as exc:
            self.reject(order, f"session lost: {exc}")

    def _acked(self, order: Order, ack: schemas.OrderAck) -> None:
        if schemas.norm_hash(ack.orderHash) != order.venue_order_id:
            self.log.warning("order %s: the venue's hash %s is not ours (%s)", order.order_id, ack.orderHash,
                             order.venue_order_id)
            self.tracker.bind_venue_id(order, schemas.norm_hash(ack.orderHash))
        self.mark_acked(order)
        if order.status not in CANCEL_PENDING:
            self.tracker.apply(order, Status.PENDING_NEW)
        self.run_deferred(order)

    def mark_acked(self, order: Order) -> None:
        """The venue has the order (it answered the place, or lists it): journaled, so that after
        a restart a look-up that does not find it among the open orders reads the account's
        trade history (it may have filled while we were away) instead of taking it as never
        received."""
        data = BluefinVenueData.ensure_on(order)
        if not data.acked:
            data.acked = True
            self.tracker.note_venue_data(order)

    # cancels

    def venue_has(self, order: Order) -> bool:
        return order.venue_order_id is not None and (
            BluefinVenueData.read(order).acked or order.status not in (Status.PENDING_NEW, Status.PENDING_CANCEL))

    async def cancel(self, order: Order) -> None:
        if not self.venue_has(order):
            self.defer(order, partial(self.cancel, order))
            return
        await self._send_cancel(self.market(order), [order], RESENDS)

    async def cancel_all(self, orders: list[Order]) -> None:
        """One PUT per market and per 10 hashes; orders the venue has not ACKed wait for it."""
        by_market: dict[str, list[Order]] = {}
        for order in orders:
            if self.venue_has(order):
                by_market.setdefault(self.market(order), []).append(order)
            else:
                await self.cancel(order)
        for market, group in by_market.items():
            for i in range(0, len(group), schemas.MAX_CANCEL_HASHES):
                await self._send_cancel(market, group[i:i + schemas.MAX_CANCEL_HASHES], RESENDS)

    async def cancel_product(self, symbol: str) -> None:
        """Every open order of the account on the market, the gateway's or not (no orderHashes);
        the stream answers with one UserCancelledAllOnMarket."""
        market = str(self.instruments[symbol].product_id)
        body = schemas.encoder.encode(schemas.CancelOrders(symbol=market))
        response = await self.http.request("PUT", schemas.CANCEL_PATH, body, await self.session.fresh_headers())
        if response.status not in (200, 202):
            raise VenueError("venue_error", self.error_text(response))

    async def _send_cancel(self, market: str, orders: list[Order], resends: int) -> None:
        session = self.session
        generation = session.generation
        body = schemas.encoder.encode(schemas.CancelOrders(symbol=market,
                                                           orderHashes=[o.venue_order_id for o in orders]))
        reply = await self.http.send("PUT", schemas.CANCEL_PATH, body, await session.fresh_headers())
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
            await self.session.renew(generation)
            await self._send_cancel(market, orders, resends)
        except (HttpError, VenueError) as exc:
            for order in orders:
                self.cancel_refused(order, f"session lost: {exc}")
