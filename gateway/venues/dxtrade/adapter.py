"""DXtrade adapter: session-token REST with conditional requests (seed 003).

- Session: `POST /dxsca-web/login` -> token, sent as `Authorization: DXAPI
  <token>`; kept alive with `POST /dxsca-web/ping`. A 401 on any request logs
  in again (once, however many requests saw it) and resends that request once.
- Orders go out with the gateway's order_id as `orderCode`, so an order is
  found in the venue's list before (or without) the reply naming its orderId.
- Every PUT/DELETE carries `If-Match: <ETag>` of the last response about that
  order. A 412 means the order changed since: the adapter reads the order
  again (GET) and sends once more only if what the strategy asked still makes
  sense (the order still works, the new quantity exceeds what filled).
- Order changes: the push API's wire format is in neither the seed nor the
  notes, so the adapter polls `GET .../orders` every poll_interval_ms and
  applies each order by its account `version`: an older version never
  overwrites a newer one. An execution's finalStatus says that update is
  final, not the order: only the order's own status closes it.
- modify waits for the venue's answer before the strategy's ack (it is not on
  the latency path, and the answer is what the strategy needs): ok means the
  venue took the new price/quantity; an error ack carries a specific code.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from decimal import Decimal
from functools import partial
from urllib.parse import quote

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError, Response
from gateway.orders.model import SCALE, Fill, Order, OrderType, Status
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.resolver import FOUND, NOT_FOUND
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.credentials import Credentials, load_credentials
from gateway.venues.dxtrade.venue_data import DxtradeVenueData

P = schemas.PREFIX
JSON = b"Content-Type: application/json\r\n"
STATUS = {
    "WORKING": Status.OPEN,
    "FILLED": Status.FILLED,
    "CANCELED": Status.CANCELED,
    "CANCELLED": Status.CANCELED,
    "REJECTED": Status.REJECTED,
    "EXPIRED": Status.EXPIRED,
    # on their way: the venue has not decided yet
    "SENDING": None,
    "PENDING": None,
    "CANCELING": None,
}
# modify errors -> the codes strategies see
MODIFY_ERRORS = {
    (403, schemas.CONDITIONAL_REQUIRED): "conditional_required",
    (404, schemas.NOT_FOUND): "venue_order_not_found",
    (400, schemas.INCORRECT_REQUEST): "bad_request",
}


def _e18(value: Decimal | None) -> int | None:
    return None if value is None else parse_scaled(format(value, "f"), SCALE)


def _decimal(value: int) -> str:
    return format_scaled(value, SCALE)


def _ts_ns(iso: str | None) -> int:
    if not iso:
        return time.time_ns()
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000
    except ValueError:
        return time.time_ns()


def _if_match(etag: str) -> bytes:
    # no ETag known (the venue never gave one): sent without, the venue answers 403 code 99
    return f"If-Match: {etag}\r\n".encode() if etag else b""


def _error(response: Response) -> schemas.Error:
    try:
        return schemas.error_decoder.decode(response.body)
    except DECODE_ERRORS:
        return schemas.Error()


def _error_code(response: Response) -> int | None:
    try:
        return int(_error(response).errorCode)
    except (TypeError, ValueError):
        return None


class DxtradeAdapter(VenueAdapter):
    capabilities = Capabilities(stop_orders=True, modify=True, order_groups=True, post_only=False,
                                market_orders=True)
    venue_data_type = DxtradeVenueData

    def __init__(self, config: DxtradeConfig, tracker: Tracker, metrics=None, *,
                 credentials: Credentials | None = None):
        super().__init__(config, tracker, metrics)
        self.config: DxtradeConfig = config
        self._credentials = credentials or load_credentials(config)
        self.account = config.account
        self._orders_path = f"{P}/accounts/{quote(config.account, safe='')}/orders"
        self.http: HttpClient | None = None  # trading: under the venue's rate limit
        self.query: HttpClient | None = None  # login, ping, order list: not trading requests
        self._token: str | None = None
        self._auth = b""
        self._login_lock = asyncio.Lock()
        self.logins = 0
        self._by_code: dict[str, Order] = {}  # orderCode we sent (our order_id) -> order
        self._tasks: list[asyncio.Task] = []
        self.stale_versions = 0

    # session

    async def start(self) -> None:
        if not self.config.rest_url:
            raise VenueError("config", f"venue {self.name}: rest_url is required")
        self.http = self.http_client(self.config.rest_url)
        self.query = self.http_client(self.config.rest_url, connections=2, limited=False, journaled=False)
        await self._login(None)
        self._tasks = [asyncio.ensure_future(self._poll_loop()), asyncio.ensure_future(self._ping_loop())]
        self.connected = True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.query is not None:
            await self.query.close()
        await super().stop()

    async def _login(self, stale: str | None) -> None:
        """Log in, unless someone already replaced the token `stale` that got the 401."""
        async with self._login_lock:
            if self._token is not None and self._token != stale:
                return
            body = schemas.encoder.encode(schemas.Login(
                username=self._credentials.username, domain=self.config.domain,
                password=self._credentials.password))
            response = await self.query.request("POST", f"{P}/login", body, JSON)
            if response.status != 200:
                # the reply never echoes the credentials; neither does this message
                raise VenueError("login_failed", f"{self.name} login refused: {self.error_text(response)}")
            try:
                token = schemas.login_decoder.decode(response.body).sessionToken
            except DECODE_ERRORS as exc:
                raise VenueError("login_failed", f"{self.name}: unreadable login reply: {exc}") from None
            self._token = token
            self._auth = JSON + f"Authorization: DXAPI {token}\r\n".encode()
            self.logins += 1

    async def _send(self, method: str, path: str, body=b"", extra: bytes = b"", *,
                    trading: bool = True) -> asyncio.Future:
        """Write one request; the future is its response, after one fresh login and
        resend if the session had expired (a request in flight is never lost to it)."""
        client = self.http if trading else self.query
        token = self._token
        first = await client.send(method, path, body, self._auth + extra)
        out = asyncio.get_running_loop().create_future()

        def done(fut: asyncio.Future) -> None:
            if out.done():
                return
            if fut.exception() is not None:
                out.set_exception(fut.exception())
            elif fut.result().status == 401:
                asyncio.ensure_future(self._resend(out, token, client, method, path, body, extra))
            else:
                out.set_result(fut.result())

        first.add_done_callback(done)
        return out

    async def _resend(self, out, token, client, method, path, body, extra) -> None:
        try:
            self.log.info("session expired; logging in again")
            await self._login(token)
            if client is self.http:
                await self.outbound.pay()  # a trading request again: the venue's limit counts it
            out.set_result(await client.request(method, path, body, self._auth + extra))
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits for the reply
            if not out.done():
                out.set_exception(exc)

    async def _request(self, method: str, path: str, body=b"", extra: bytes = b"", *,
                       trading: bool = True) -> Response:
        return await (await self._send(method, path, body, extra, trading=trading))

    def error_words(self, response: Response) -> str | None:
        err = _error(response)
        return f"{err.description} (HTTP {response.status}, code {err.errorCode})" if err.description else None

    async def _ping_loop(self) -> None:
        # no stream says the venue went away: the ping does, every health_interval_secs (at
        # least every ping_interval_secs, the session's keep-alive)
        while True:
            await asyncio.sleep(min(self.config.ping_interval_secs, self.config.health_interval_secs))
            await self.ping()

    async def ping(self) -> bool:
        try:
            response = await self._request("POST", f"{P}/ping", trading=False)
        except (HttpError, VenueError) as exc:
            if self.session_up:
                self.log.warning("ping failed: %s; venue down until one answers", exc)
            self.session_up = False
            return False
        up = response.status == 200
        if up != self.session_up:
            self.log.warning("venue %s", "back: ping answered" if up else f"down: ping answered {response.status}")
        self.session_up = up
        return up

    # order changes

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_ms / 1000)
            if not self.tracker.open_orders(venue=self.name):
                continue
            try:
                await self.poll()
            except (HttpError, VenueError) as exc:
                self.log.warning("order poll failed: %s", exc)
                if isinstance(exc, HttpError):
                    self.session_up = False  # the next answered ping says it is back
            except Exception:  # noqa: BLE001 - the loop must outlive one bad answer
                self.log.exception("order poll failed")

    async def _list(self) -> list[schemas.Order]:
        response = await self._request("GET", self._orders_path, trading=False)
        if response.status != 200:
            raise VenueError("venue_error", f"order list: {self.error_text(response)}")
        try:
            listed = schemas.orders_decoder.decode(response.body)
        except DECODE_ERRORS as exc:
            self.metrics.venue_error(self.name, "bad_message")
            raise VenueError("venue_error", f"unreadable order list: {exc}") from None
        return listed.orders if isinstance(listed, schemas.OrderList) else listed

    async def poll(self) -> list[schemas.Order]:
        listed = await self._list()
        for venue_order in listed:
            self._apply_venue_order(venue_order)
        return listed

    def _find(self, venue_order: schemas.Order) -> Order | None:
        order = self.tracker.by_venue(self.name, str(venue_order.orderId))
        if order is None:
            code = venue_order.clientOrderId or venue_order.orderCode.rpartition(":")[2]
            order = self._by_code.get(code)
        return order

    def _apply_venue_order(self, venue_order: schemas.Order, order: Order | None = None) -> None:
        order = order or self._find(venue_order)
        if order is None:
            return  # not ours: another session of the account, or long forgotten
        data = DxtradeVenueData.ensure_on(order)
        seen = -1 if data.version is None else data.version
        if venue_order.version < seen:
            self.stale_versions += 1  # an older state of the order: never over a newer one
            return
        if venue_order.version == seen and order.is_closed:
            return
        data.version = venue_order.version
        if order.venue_order_id is None:
            self.tracker.bind_venue_id(order, str(venue_order.orderId))
            self.run_deferred(order)
        leg = venue_order.legs[0] if venue_order.legs else None
        self._take_amendment(order, venue_order, leg)
        # the venue does not say maker or taker: a fill first seen while the order was already
        # resting on the book (we had seen it working) made the market; one that came with the
        # order's first sighting took it. Timestamps cannot tell: they share a millisecond.
        rested = order.status in (Status.OPEN, Status.PARTIALLY_FILLED, Status.PENDING_CANCEL,
                                  Status.PENDING_REPLACE)
        fills = [
            Fill(trade_id=e.executionCode, price=_e18(e.lastPrice), quantity=_e18(e.lastQuantity),
                 ts_ns=_ts_ns(e.transactionTime), is_maker=rested)
            for e in venue_order.executions if e.lastQuantity and e.lastPrice is not None
        ]
        filled = _e18(leg.filledQuantity) if leg is not None else None
        status = STATUS.get(venue_order.status.upper())
        reason = self.cancel_reason(order) if status is Status.CANCELED else None
        if status is Status.REJECTED:
            reason = "rejected by the venue"
        self.tracker.apply(order, status, fills, filled=filled, reason=order.reason or reason)
        if order.is_closed:
            self._by_code.pop(order.order_id, None)

    def _take_amendment(self, order: Order, venue_order: schemas.Order, leg: schemas.Leg | None) -> None:
        """The venue's price and quantity are the order's: a modify (ours or another
        session's) shows here in version order."""
        quantity = _e18(leg.quantity) if leg is not None and leg.quantity else None
        limit = _e18(venue_order.limitPrice)
        if limit is None and leg is not None and venue_order.type in ("LIMIT", "STOP_LIMIT"):
            limit = _e18(leg.price)
        changed = False
        if quantity is not None and quantity != order.quantity:
            order.quantity, changed = quantity, True
        if limit is not None and order.type is OrderType.LIMIT and limit != order.price:
            order.price, changed = limit, True
        if changed:
            self.tracker.amended(order)

    def cancel_reason(self, order: Order, venue_reason: str | None = None) -> str:
        # the venue gives no reason: an order of a group was canceled by its group
        group = DxtradeVenueData.read(order).group
        return super().cancel_reason(order, venue_reason or (f"{group} group" if group else None))

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        for order in orders:
            self._by_code[order.order_id] = order
        return {self._find(o).order_id for o in await self.poll() if self._find(o) is not None}

    # placing

    def _request_of(self, order: Order, *, price: int | None = None, quantity: int | None = None,
                    ) -> schemas.OrderRequest:
        price = order.price if price is None else price
        if order.stop_price is not None:
            kind = "STOP_LIMIT" if order.type is OrderType.LIMIT else "STOP"
        else:
            kind = "LIMIT" if order.type is OrderType.LIMIT else "MARKET"
        return schemas.OrderRequest(
            orderCode=order.order_id, type=kind, instrument=str(self.instruments[order.symbol].product_id),
            quantity=_decimal(order.quantity if quantity is None else quantity),
            side=order.side.value.upper(), tif=order.tif.value.upper(),
            positionEffect=DxtradeVenueData.read(order).position_effect or "OPEN",
            limitPrice=None if price is None or order.type is OrderType.MARKET else _decimal(price),
            stopPrice=None if order.stop_price is None else _decimal(order.stop_price),
        )

    def _body_at_write(self, orders: list[Order], make) -> bytes:
        """The body, made when the connection is ready to write: the orders' send time (no
        signature here: no sign stage either)."""
        body = make()
        for order in orders:
            self.stamp_sent(order)
        return body

    async def place(self, order: Order) -> None:
        self._by_code[order.order_id] = order
        make = partial(schemas.encoder.encode, self._request_of(order))
        reply = await self._send("POST", self._orders_path, partial(self._body_at_write, [order], make))
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
        group = schemas.GroupRequest(orders=[self._request_of(o) for o in orders], contingencyType=wire)
        make = partial(schemas.encoder.encode, group)
        reply = await self._send("POST", self._orders_path, partial(self._body_at_write, orders, make))
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
                # accepted: working (a stale word if the list showed a later state already)
                self.tracker.apply(order, Status.OPEN)
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

    async def lookup(self, order: Order) -> str:
        """The order by its orderCode (our id): 404 is the venue saying it does not know it."""
        response = await self._request("GET", self._order_path(order), trading=False)
        if response.status == 404:
            return NOT_FOUND
        if response.status != 200:
            raise VenueError("venue_error", self.error_text(response))
        etag = response.headers.get("etag")
        if etag:
            DxtradeVenueData.ensure_on(order).etag = etag
        self._apply_venue_order(schemas.order_decoder.decode(response.body), order)
        return FOUND

    # conditional requests

    def _order_path(self, order: Order) -> str:
        return f"{self._orders_path}/{quote(order.order_id, safe='')}"

    async def _fetch_order(self, order: Order) -> schemas.Order | None:
        """The order as the venue has it now, and its ETag; None if it does not know it."""
        response = await self._request("GET", self._order_path(order), trading=False)
        if response.status != 200:
            return None
        etag = response.headers.get("etag")
        if etag:
            DxtradeVenueData.ensure_on(order).etag = etag
        try:
            return schemas.order_decoder.decode(response.body)
        except DECODE_ERRORS:
            return None

    async def _etag(self, order: Order) -> str:
        etag = DxtradeVenueData.read(order).etag
        if etag is None:
            await self._fetch_order(order)
            etag = DxtradeVenueData.read(order).etag or ""
        return etag

    # cancels

    async def cancel(self, order: Order) -> None:
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        etag = await self._etag(order)
        reply = await self._send("DELETE", self._order_path(order), b"", _if_match(etag))
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
                now = await self._fetch_order(order)
            except (HttpError, VenueError) as exc:
                self.cancel_refused(order, f"cancel outcome unknown: {exc}")
                return
            if now is not None and now.status.upper() == "WORKING":
                try:
                    await self.outbound.pay()  # a second cancel: the venue's limit counts it
                    again = await self._send("DELETE", self._order_path(order), b"",
                                             _if_match(DxtradeVenueData.read(order).etag or ""))
                except HttpError as exc:
                    self.cancel_refused(order, str(exc))
                    return
                await asyncio.wait([again])
                await self._on_cancel_reply(order, again, False)
                return
            state = now.status if now is not None else "unknown to the venue"
            # its state arrives through the list, in version order; only the refusal is said here
            self.cancel_refused(order, f"order is {state} at the venue")
            return
        self.cancel_refused(order, self.error_text(response))

    # modify

    def check_modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        if order.is_closed:
            raise VenueError("order_closed", f"order {order.client_order_id} is {order.status.value}")
        if order.venue_order_id is None:
            raise VenueError("order_pending", f"order {order.client_order_id} is not accepted by the venue yet")
        if price is not None and order.type is OrderType.MARKET:
            raise VenueError("bad_field", "a market order has no price to modify")
        if quantity is not None and quantity <= order.filled:
            raise VenueError("bad_quantity", f"quantity must exceed the {_decimal(order.filled)} filled already")

    async def modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        # checked when accepted; the order may have moved on while the request waited
        self.check_modify(order, price, quantity)
        try:
            await self._modify(order, price, quantity)
        except HttpError as exc:
            raise VenueError("venue_unavailable", f"modify of {order.client_order_id}: {exc}") from None

    async def _modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        etag = await self._etag(order)
        for attempt in (1, 2):
            body = schemas.encoder.encode(self._request_of(order, price=price, quantity=quantity))
            if attempt > 1:
                await self.outbound.pay()  # the line paid for the first PUT, not for this one
            response = await self._request("PUT", self._orders_path, body, _if_match(etag))
            if response.status == 200:
                try:
                    answer = schemas.order_response_decoder.decode(response.body)
                    DxtradeVenueData.ensure_on(order).update_order_id = answer.updateOrderId
                except DECODE_ERRORS:
                    pass  # the status said yes; the list will show the new update id
                if response.headers.get("etag"):
                    DxtradeVenueData.ensure_on(order).etag = response.headers["etag"]
                self.tracker.note_venue_data(order)  # the new update id and ETag
                if quantity is not None:
                    order.quantity = quantity
                if price is not None:
                    order.price = price
                self.tracker.amended(order)
                return
            if response.status == 412 and attempt == 1:
                now = await self._fetch_order(order)
                why = self._intent_lost(now, quantity)
                if why:
                    raise VenueError("stale_order", f"modify of {order.client_order_id} not sent again: {why}")
                # the whole order again as the venue has it now (another session may have changed
                # a field the strategy did not touch), with the strategy's changes on top
                seen = DxtradeVenueData.read(order).version
                if now.version >= (-1 if seen is None else seen):
                    self._take_amendment(order, now, now.legs[0] if now.legs else None)
                etag = DxtradeVenueData.read(order).etag or ""
                continue
            raise self._modify_error(order, response)
        raise AssertionError("unreachable")

    @staticmethod
    def _intent_lost(now: schemas.Order | None, quantity: int | None) -> str | None:
        """Whether the strategy's modify no longer applies to the order as it is now."""
        if now is None:
            return "the venue no longer knows the order"
        if now.status.upper() != "WORKING":
            return f"the order is {now.status} at the venue"
        filled = _e18(now.legs[0].filledQuantity) if now.legs else 0
        if quantity is not None and quantity <= filled:
            return f"{_decimal(filled)} has filled meanwhile, not below the new quantity"
        return None

    def _modify_error(self, order: Order, response: Response) -> VenueError:
        what = f"modify of {order.client_order_id}: {self.error_text(response)}"
        if response.status == 412:
            return VenueError("stale_order", f"modify of {order.client_order_id}: the order changed again "
                              f"(HTTP 412 twice)")
        if response.status == 409:
            return VenueError("modify_conflict", what)
        if response.status == 429:
            return VenueError("rate_limited", what)
        code = MODIFY_ERRORS.get((response.status, _error_code(response)))
        if code is None:
            self.metrics.venue_error(self.name, f"http_{response.status}")
            code = "venue_error"
        return VenueError(code, what)
