"""A Citrex venue for `gateway bench --venue stub` only: cheaper per order than the gateway.

The simulator (gateway/sim/citrex.py) costs more CPU per order than the whole gateway (its
aiohttp front end, the matching engine, the market maker), so with it on the same two cores
`gateway bench` measured the simulator as much as the gateway. This speaks the same protocol
the gateway's Citrex adapter uses, on the same libraries as the gateway's own hot path
(uvloop, httptools, picows, msgspec), and does only what a venue must to answer it:

    POST /v1/session/login   the login's signature recovered; a session cookie
    POST /v1/order           the session, the fields, tick, lot, expiry and a fresh nonce checked;
                             one signature in `verify_every` recovered (the first always), orders
                             and cancels alike; the order rests: its JSON is the reply, then pushed
                             on the stream
    DELETE /v1/order         canceled and pushed
    POST /v1/order/cancel-and-replace   both checked first, then the old canceled, the new placed
    DELETE /v1/openOrders    the product's open orders canceled; GET lists them, GET /v1/orders
                             lists closed ones too (the adapter's look-up reads it)
    GET /v1/products, /v1/ticker/24hr, /v1/depth   the reference data, fixed, as the gateway polls it
    WS /v1/ws/operate        JSON-RPC `subscribe` to the `orders` channel (the session's account)

No matching: every order rests (the bench places resting limit orders). A bad request gets the
simulator's error shape, so the gateway's refusal path is the same.

    python -m bench.stubvenue -c sim.toml   # its [venues.sim] verify_every, as the simulator's
prints "citrex stub: REST http://...  WS ws://..." and serves until SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import signal
import time

import httptools
import msgspec
import picows
import uvloop

from gateway.config import load_config
from gateway.eip712 import StructType
from gateway.signer import recover_address
from gateway.sim.base import scaled
from gateway.venues.citrex import schemas
from gateway.venues.citrex.config import CitrexConfig

_place_decoder = msgspec.json.Decoder(schemas.PlaceOrder)
_cancel_decoder = msgspec.json.Decoder(schemas.CancelOrder)
_cancel_all_decoder = msgspec.json.Decoder(schemas.CancelOrders)
_replace_decoder = msgspec.json.Decoder(schemas.CancelAndReplace)
_login_decoder = msgspec.json.Decoder(schemas.Login)
_rpc_decoder = msgspec.json.Decoder(dict)
_encode = msgspec.json.Encoder().encode
_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}


class _Reject(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class StubVenue:
    def __init__(self, venue):
        # the config's [venues.sim] verify_every, as the simulator reads it (config checks it is >= 1)
        self.verify_every = venue.sim.verify_every if venue.sim is not None else 1
        self.products = {int(i.product_id): (symbol.lower().replace("-", ""), scaled(i.tick_size),
                                              scaled(i.lot_size), scaled(i.min_quantity))
                         for symbol, i in venue.instruments.items()}
        domain = {"name": venue.domain_name, "version": venue.domain_version, "chainId": venue.chain_id,
                  "verifyingContract": venue.verifying_contract}
        types = schemas.eip712_types()
        self._order_t = StructType(types, "Order", domain)
        self._login_t = StructType(types, "LoginMessage", domain)
        self._cancel_t = StructType(types, "CancelOrder", domain)
        self._cancel_all_t = StructType(types, "CancelOrders", domain)
        self.sessions: dict[bytes, str] = {}  # cookie value -> account (lower case)
        self.subscribers: dict[str, list[picows.WSTransport]] = {}
        self.orders: dict[str, dict] = {}  # order id -> its wire form, closed ones too
        self.open: set[str] = set()
        self.nonces: set[tuple[str, int]] = set()
        self.signed = 0
        self._ids = itertools.count(1)
        # the public list and prices, fixed: the gateway's polls cost what they cost on a venue
        mids = venue.sim.mid_prices if venue.sim is not None else {}
        e18 = 10**18
        self._public = {
            b"/v1/products": _encode([
                {"id": pid, "symbol": sym, "increment": str(tick), "minQuantity": str(max(lot, minimum)),
                 "active": True, "baseAsset": sym.removesuffix("perp").upper(), "quoteAsset": "USDC"}
                for pid, (sym, tick, lot, minimum) in self.products.items()]),
            b"/v1/ticker/24hr": _encode([
                {"productId": pid, "productSymbol": sym, "markPrice": str(scaled(mids.get(symbol, "0")))}
                for (symbol, i), (pid, (sym, *_)) in zip(venue.instruments.items(), self.products.items())]),
            b"/v1/depth": _encode({"bids": [[str(3000 * e18 - e18), str(e18), str(e18)]],
                                   "asks": [[str(3000 * e18 + e18), str(e18), str(e18)]]}),
        }

    # REST

    def handle(self, method: bytes, path: bytes, cookie: bytes | None, body: bytes) -> tuple[int, bytes, bytes]:
        """(status, body, extra headers) of one request."""
        try:
            route = path.split(b"?", 1)[0]
            if route == b"/v1/session/login" and method == b"POST":
                return self._login(body)
            if method == b"GET" and route in self._public:  # the reference data the gateway polls
                return 200, self._public[route], b""
            account = self._session(cookie)
            if route == b"/v1/order":
                if method == b"POST":
                    return 200, self._place(account, body), b""
                if method == b"DELETE":
                    return 200, self._cancel(account, body), b""
            elif route == b"/v1/order/cancel-and-replace" and method == b"POST":
                return 200, self._replace(account, body), b""
            elif route == b"/v1/openOrders":
                if method == b"GET":
                    return 200, _encode([self.orders[i] for i in self.open if self._owned(i, account)]), b""
                if method == b"DELETE":
                    return 200, self._cancel_product(account, body), b""
            elif route == b"/v1/orders" and method == b"GET":  # closed ones too, as the venue lists them
                return 200, _encode([o for o in self.orders.values() if o["account"].lower() == account]), b""
            raise _Reject(f"no route {method.decode()} {route.decode()}", 404)
        except _Reject as exc:
            return exc.status, _encode({"success": False, "error": str(exc)}), b""
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return 400, _encode({"success": False, "error": f"invalid request: {exc}"}), b""

    def _session(self, cookie: bytes | None) -> str:
        for part in (cookie or b"").split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == schemas.SESSION_COOKIE.encode() and value in self.sessions:
                return self.sessions[value]
        raise _Reject("unauthorized: log in first", 401)

    def _owned(self, order_id: str, account: str) -> bool:
        return self.orders[order_id]["account"].lower() == account

    def _login(self, body: bytes) -> tuple[int, bytes, bytes]:
        login = _login_decoder.decode(body)
        digest = self._login_t.digest((login.account, login.message, login.timestamp))
        if recover_address(digest, bytes.fromhex(login.signature.removeprefix("0x"))).lower() != login.account.lower():
            raise _Reject("invalid signature: signer is not the account")
        token = secrets.token_urlsafe(24)
        self.sessions[token.encode()] = login.account.lower()
        cookie = f"Set-Cookie: {schemas.SESSION_COOKIE}={token}; Path=/; HttpOnly\r\n".encode()
        return 200, _encode({"name": schemas.SESSION_COOKIE, "value": token}), cookie

    def _check_signature(self, account: str, signature: str, digest) -> None:
        """The simulator's sampled check: 65 bytes with v 27 or 28 always; the signer recovered
        for the first signed request and then one in verify_every (digest: made only then)."""
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise _Reject("invalid signature") from None
        if len(raw) != 65 or raw[64] not in (27, 28):
            raise _Reject("invalid signature")
        self.signed += 1
        if (self.signed - 1) % self.verify_every == 0 and recover_address(digest(), raw).lower() != account:
            raise _Reject("invalid signature: signer is not the account")

    def _checked(self, account: str, o: schemas.PlaceOrder) -> dict:
        """A new order's wire form, every check passed; not yet on the book (nothing kept)."""
        if o.account.lower() != account:
            raise _Reject("account does not match the session", 401)
        product = self.products.get(o.productId)
        if product is None:
            raise _Reject(f"unknown productId {o.productId}")
        symbol, tick, lot, min_quantity = product
        try:
            price, quantity = int(o.price), int(o.quantity)
        except ValueError:
            raise _Reject("price and quantity must be e18 integer strings") from None
        # the simulator's order of checks: the signature, then the rest
        self._check_signature(account, o.signature, lambda: self._order_t.digest((
            o.account, o.subAccountId, o.productId, o.isBuy, o.orderType, o.timeInForce, o.expiration, price,
            quantity, o.nonce)))
        if price <= 0 or price % tick:
            raise _Reject(f"price {o.price} is not a positive multiple of the tick {tick}")
        if quantity <= 0 or quantity % lot or quantity < min_quantity:
            raise _Reject(f"quantity {o.quantity} is not a multiple of the lot {lot} at least {min_quantity}")
        if o.expiration <= time.time_ns() // 1_000_000:
            raise _Reject("order expired")
        if (account, o.nonce) in self.nonces:
            raise _Reject("nonce already used")
        return {"id": f"0x{next(self._ids):016x}", "productId": o.productId, "productSymbol": symbol,
                "account": o.account, "subAccountId": o.subAccountId, "isBuy": o.isBuy, "orderType": o.orderType,
                "timeInForce": o.timeInForce, "price": o.price, "quantity": o.quantity, "nonce": o.nonce,
                "sender": o.account, "signature": o.signature, "expiration": o.expiration, "txHash": "",
                "createdAt": time.time_ns() // 1_000_000, "status": "OPEN", "residualQuantity": o.quantity,
                "trades": []}

    def _rest(self, account: str, wire: dict) -> bytes:
        """The order on the book (it rests: no matching); its reply, then its stream event."""
        self.nonces.add((account, wire["nonce"]))
        self.orders[wire["id"]] = wire
        self.open.add(wire["id"])
        asyncio.get_running_loop().call_soon(self._push, account, wire)  # after the reply, as the simulator
        return _encode(wire)

    def _place(self, account: str, body: bytes) -> bytes:
        return self._rest(account, self._checked(account, _place_decoder.decode(body)))

    def _cancel_open(self, account: str, order_id: str) -> None:
        if order_id not in self.open or not self._owned(order_id, account):
            raise _Reject("order not found")
        self.open.discard(order_id)
        wire = self.orders[order_id] = {**self.orders[order_id], "status": "CANCELLED"}
        self._push(account, wire)

    def _cancel(self, account: str, body: bytes) -> bytes:
        c = _cancel_decoder.decode(body)
        self._check_signature(account, c.signature, lambda: self._cancel_t.digest(
            (c.account, c.subAccountId, c.productId, c.orderId)))
        self._cancel_open(account, c.orderId)
        return b'{"success":true,"error":null}'

    def _replace(self, account: str, body: bytes) -> bytes:
        r = _replace_decoder.decode(body)
        try:
            new = self._checked(account, r.newOrder)
        except _Reject as exc:
            raise _Reject(f"newOrder: {exc}", exc.status) from None
        try:
            self._cancel_open(account, r.idToCancel)
        except _Reject as exc:
            raise _Reject(f"idToCancel: {exc}") from None
        return self._rest(account, new)

    def _cancel_product(self, account: str, body: bytes) -> bytes:
        c = _cancel_all_decoder.decode(body)
        self._check_signature(account, c.signature, lambda: self._cancel_all_t.digest(
            (c.account, c.subAccountId, c.productId)))
        for order_id in [i for i in self.open if self._owned(i, account)
                         and self.orders[i]["productId"] == c.productId]:
            self._cancel_open(account, order_id)
        return b'{"success":true,"error":null}'

    # the stream

    def _push(self, account: str, wire: dict) -> None:
        sockets = self.subscribers.get(account)
        if sockets:
            frame = _encode({"jsonrpc": "2.0", "method": schemas.WS_ORDER_UPDATE, "params": wire})
            for transport in sockets:
                transport.send(picows.WSMsgType.TEXT, frame)

    def ws_listener(self, request: picows.WSUpgradeRequest):
        if request.path.split(b"?", 1)[0] != b"/v1/ws/operate":
            return None
        try:
            account = self._session(request.headers.get("cookie", "").encode())
        except _Reject:
            return picows.WSUpgradeResponseWithListener(picows.WSUpgradeResponse.create_error_response(401), None)
        return _Stream(self, account)


class _Stream(picows.WSListener):
    def __init__(self, venue: StubVenue, account: str):
        self.venue, self.account = venue, account
        self.transport: picows.WSTransport | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
            return
        if frame.msg_type != picows.WSMsgType.TEXT:
            return
        try:
            call = _rpc_decoder.decode(frame.get_payload_as_bytes())
            rid, params = call.get("id"), call.get("params") or {}
        except (msgspec.DecodeError, AttributeError):
            transport.send(picows.WSMsgType.TEXT, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,'
                                                  b'"message":"parse error"}}')
            return
        if call.get("method") == schemas.WS_SUBSCRIBE and params.get("channel") == schemas.ORDERS_CHANNEL \
                and str(params.get("account", "")).lower() == self.account:
            self.venue.subscribers.setdefault(self.account, []).append(transport)
            transport.send(picows.WSMsgType.TEXT, _encode({"jsonrpc": "2.0", "id": rid, "result": "OK"}))
        else:
            transport.send(picows.WSMsgType.TEXT, _encode({"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32601, "message": "method not found or not this session's account"}}))

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        sockets = self.venue.subscribers.get(self.account, [])
        if transport in sockets:
            sockets.remove(transport)


class _Http(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (as the gateway sends them)."""

    def __init__(self, venue: StubVenue):
        self.venue = venue
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self._url, self._cookie, self._body = b"", None, []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"cookie":
            self._cookie = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status, body, headers = self.venue.handle(self.parser.get_method(), self._url, self._cookie,
                                                  b"".join(self._body))
        self._url, self._cookie, self._body = b"", None, []
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
                             % (status, _REASONS.get(status, b"Error"), len(body), headers, body))
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(config_path: str, host: str = "127.0.0.1") -> None:
    venue_config = next(v for v in load_config(config_path).venues if isinstance(v, CitrexConfig))
    venue = StubVenue(venue_config)
    loop = asyncio.get_running_loop()
    rest = await loop.create_server(lambda: _Http(venue), host, 0)
    ws = await picows.ws_create_server(venue.ws_listener, host, 0)
    rest_port, ws_port = rest.sockets[0].getsockname()[1], ws.sockets[0].getsockname()[1]
    print(f"citrex stub: REST http://{host}:{rest_port}  WS ws://{host}:{ws_port}/v1/ws/operate", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    rest.close()
    ws.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.stubvenue", description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--config", required=True,
                   help="a config with one citrex venue (its instruments, domain, [venues.sim] verify_every)")
    args = p.parse_args(argv)
    uvloop.run(serve(args.config))


if __name__ == "__main__":
    main()
