"""Citrex simulator: the venue's REST and WebSocket protocol on loopback.

Checks what the venue checks: every order, cancel and login signature is
recovered and must be the account's; a nonce or a digest is accepted once;
a login timestamp older than 10 s is refused; prices must sit on the
product's tick. Orders then trade on the shared matching engine, and every
change to an order is pushed to the account's subscribed WebSockets.

For the load generator only, `verify_every = N` (N > 1) recovers the
signature of the first order or cancel and then of one in N: recovering a
secp256k1 key (and checksumming the address) costs this process about as
much CPU as the gateway spends on a whole order, so a simulator that recovers
all of them measures itself more than the gateway. The others are still
parsed and checked in every other way (hex, 65 bytes, v, digest and nonce
once, tick, lot, expiry). Logins are always verified.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, replace

import msgspec
from aiohttp import web

from gateway.eip712 import StructType
from gateway.signer import Signer, recover_address
from gateway.sim.engine import (
    EngineError,
    MatchingEngine,
    Order,
    OrderType,
    Side,
    Status,
    Stp,
    TimeInForce,
    Update,
)
from gateway.sim.base import Refused, SimServer, scaled, trades_made
from gateway.sim.market_maker import MarketMaker
from gateway.sim.reference_faults import ReferenceFaults
from gateway.venues.citrex import schemas

log = logging.getLogger("gateway.sim.citrex")

ORDER_TYPES = {0: OrderType.LIMIT, 1: OrderType.LIMIT_MAKER, 2: OrderType.MARKET}
TIFS = {0: TimeInForce.GTC, 1: TimeInForce.FOK, 2: TimeInForce.IOC}
WIRE_STATUS = {
    Status.UNTRIGGERED: "OPEN", Status.OPEN: "OPEN", Status.PARTIALLY_FILLED: "OPEN",
    Status.FILLED: "FILLED", Status.CANCELLED: "CANCELLED", Status.REJECTED: "REJECTED",
}
LOGIN_MAX_AGE_MS = 10_000
_LIST_SLICE = 500  # orders per slice of a listing
SESSION_SECS = 21_600


@dataclass(frozen=True)
class Product:
    product_id: int
    symbol: str  # the venue's spelling, e.g. "ethperp"
    tick: int  # e18
    lot: int  # e18
    min_quantity: int = 0
    base_asset: str = ""  # the venue lists the wrapped token: "WETH"
    quote_asset: str = "USDC"
    active: bool = True


# The venue's products as the simulator lists them (`GET /v1/products`): ids and sizes as the
# embedded config has them (ETH-PERP 1002 is the seed's own example product). The list has no
# quantity step: the lot is the minimum (see gateway/venues/citrex/schemas.py).
CATALOGUE = (
    Product(1001, "btcperp", tick=10**18, lot=10**14, min_quantity=10**14, base_asset="WBTC"),
    Product(1002, "ethperp", tick=10**17, lot=10**15, min_quantity=10**15, base_asset="WETH"),
)


_place_decoder = msgspec.json.Decoder(schemas.PlaceOrder)
_cancel_decoder = msgspec.json.Decoder(schemas.CancelOrder)
_cancel_all_decoder = msgspec.json.Decoder(schemas.CancelOrders)
_replace_decoder = msgspec.json.Decoder(schemas.CancelAndReplace)
_login_decoder = msgspec.json.Decoder(schemas.Login)


class CitrexSim(SimServer):
    ws_path = "/v1/ws/operate"

    def __init__(self, products: list[Product], *, chain_id: int = 1329,
                 verifying_contract: str = "0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9",
                 domain_name: str = "ciao", domain_version: str = "0.0.0",
                 mid_prices: dict[int, int] | None = None, market_maker: bool = True,
                 mm_levels: int = 5, mm_quantity: int = 10**18, verify_every: int = 1):
        if verify_every < 1:
            raise ValueError(f"verify_every must be 1 or more, got {verify_every}")
        self.products = {p.product_id: p for p in products}
        self.verify_every = verify_every
        self.signed_requests = 0  # orders and cancels (incl. cancel-replace) through the sampled check
        self.unverified_signatures = 0  # of those, the ones not recovered (verify_every > 1)
        domain = {"name": domain_name, "version": domain_version, "chainId": chain_id,
                  "verifyingContract": verifying_contract}
        types = schemas.eip712_types()
        self._order_t = StructType(types, "Order", domain)
        self._cancel_t = StructType(types, "CancelOrder", domain)
        self._cancel_all_t = StructType(types, "CancelOrders", domain)
        self._login_t = StructType(types, "LoginMessage", domain)
        ids = itertools.count(1)
        trade_ids = itertools.count(1)
        self.engine = MatchingEngine(
            stp=Stp.CANCEL_TAKER,
            id_factory=lambda: f"0x{next(ids):016x}",
            trade_id_factory=lambda: f"{secrets.token_hex(4)}-{next(trade_ids):012d}",
        )
        super().__init__()
        self.used_nonces: set[tuple[str, int]] = set()
        self.used_digests: set[bytes] = set()
        self.sessions: dict[str, str] = {}  # cookie value -> account (lower case)
        self.reference_faults = ReferenceFaults()
        self.delisted: dict[int, Product] = {}  # gone from the list; their old orders still read
        if market_maker:
            self.mm = MarketMaker.quoting(
                self.engine, Signer(secrets.token_bytes(32)).address.lower(),
                {str(pid): (mid, self.products[pid].tick) for pid, mid in (mid_prices or {}).items()},
                levels=mm_levels, quantity=mm_quantity)

    # server

    @web.middleware
    async def _slow_venue(self, request: web.Request, handler):
        if request.path.startswith("/v1/order"):
            if self.refuse_next():
                return self.too_many_requests({"success": False, "error": "too many requests"})
            if self.faults.reply_delay_ms:
                # the venue acts at once and its reply is slow: a client that gave up waiting
                # does not know whether the order was taken (it was)
                await request.read()
                response = await handler(request)
                await asyncio.sleep(self.faults.reply_delay_ms / 1000)
                return response
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._slow_venue])
        app.add_routes([
            web.post("/v1/session/login", self._login),
            web.post("/v1/order", self._place),
            web.delete("/v1/order", self._cancel),
            web.post("/v1/order/cancel-and-replace", self._replace),
            web.delete("/v1/openOrders", self._cancel_product),
            web.get("/v1/openOrders", self._open_orders),
            web.get("/v1/orders", self._orders),
            web.get("/v1/products", self._products),
            web.get("/v1/ticker/24hr", self._tickers),
            web.get("/v1/depth", self._depth),
            web.get(self.ws_path, self._ws),
            web.post("/_sim/take", self._take),
        ])
        return app

    # helpers

    @staticmethod
    def _error(message: str, status: int = 400) -> web.Response:
        return web.json_response({"success": False, "error": message}, status=status)

    async def _body(self, request: web.Request, decoder: msgspec.json.Decoder):
        self.count_request(request)
        return await self.read_body(request, decoder)

    def invalid_body(self, exc: Exception) -> Refused:
        if isinstance(exc, msgspec.ValidationError):
            return Refused(f"invalid request: {exc}")
        return Refused("invalid request: body is not JSON")

    def _session(self, request: web.Request) -> str:
        account = self.sessions.get(request.cookies.get(schemas.SESSION_COOKIE, ""))
        if account is None:
            raise Refused("unauthorized: log in first", 401)
        return account

    def _check_signer(self, digest: bytes, signature: str, account: str, *, sampled: bool = False) -> None:
        """Recover the signer and compare it with the account. sampled (orders and cancels): with
        verify_every = N > 1, only the first and then one in N are recovered; the rest get the
        format checks alone."""
        try:
            raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
            if sampled:
                self.signed_requests += 1
                if (self.signed_requests - 1) % self.verify_every:
                    if len(raw) != 65 or raw[64] not in (27, 28):
                        raise ValueError("not r || s || v with v 27 or 28")
                    self.unverified_signatures += 1
                    return
            signer = recover_address(digest, raw)
        except ValueError:
            raise Refused("invalid signature") from None
        if signer.lower() != account.lower():
            raise Refused("invalid signature: signer is not the account")

    def _use_nonce(self, account: str, nonce: int, digest: bytes) -> None:
        if digest in self.used_digests:
            raise Refused("digest already used")
        if (account.lower(), nonce) in self.used_nonces:
            raise Refused("nonce already used")
        self.used_digests.add(digest)
        self.used_nonces.add((account.lower(), nonce))

    def _product(self, product_id: int) -> Product:
        product = self.products.get(product_id)
        if product is None:
            raise Refused(f"unknown productId {product_id}")
        return product

    def _engine_order(self, body: schemas.PlaceOrder) -> Order:
        """Verify a signed order and turn it into an engine order (not yet submitted)."""
        product = self._product(body.productId)
        if not product.active:
            raise Refused(f"product {product.symbol} is not active")
        if body.orderType not in ORDER_TYPES:
            raise Refused(f"orderType {body.orderType} is not implemented")
        if body.timeInForce not in TIFS:
            raise Refused(f"invalid timeInForce {body.timeInForce}")
        try:
            price, quantity = int(body.price), int(body.quantity)
        except ValueError:
            raise Refused("price and quantity must be e18 integer strings") from None
        digest = self._order_t.digest((body.account, body.subAccountId, body.productId, body.isBuy,
                                       body.orderType, body.timeInForce, body.expiration, price,
                                       quantity, body.nonce))
        self._check_signer(digest, body.signature, body.account, sampled=True)
        kind = ORDER_TYPES[body.orderType]
        if kind is not OrderType.MARKET and (price <= 0 or price % product.tick):
            raise Refused(f"price {body.price} is not a positive multiple of the tick {product.tick}")
        if quantity <= 0 or quantity % product.lot or quantity < product.min_quantity:
            raise Refused(f"quantity {body.quantity} is not a multiple of the lot {product.lot} "
                          f"at least {product.min_quantity}")
        if body.expiration <= time.time_ns() // 1_000_000:
            raise Refused("order expired")
        self._use_nonce(body.account, body.nonce, digest)
        return Order(
            order_id=self.engine.new_id(), account=body.account.lower(), product=str(body.productId),
            side=Side.BUY if body.isBuy else Side.SELL, type=kind, tif=TIFS[body.timeInForce],
            price=None if kind is OrderType.MARKET else price, quantity=quantity,
            extra={"nonce": body.nonce, "signature": body.signature, "expiration": body.expiration,
                   "subAccountId": body.subAccountId, "orderType": body.orderType,
                   "timeInForce": body.timeInForce, "account": body.account},
        )

    def _wire(self, order: Order, *, as_accepted: bool = False) -> dict:
        product = self.products.get(int(order.product)) or self.delisted[int(order.product)]
        extra = order.extra
        trades = [] if as_accepted else [
            {"price": str(t.price), "quantity": str(t.quantity), "isTaker": t.taker_order_id == order.order_id,
             "fee": "0", "createdAt": t.ts_ns // 1_000_000, "uid": t.trade_id}
            for t in order.trades
        ]
        return {
            "id": order.order_id, "productId": product.product_id, "productSymbol": product.symbol,
            "account": extra.get("account", order.account), "subAccountId": extra.get("subAccountId", 0),
            "isBuy": order.side is Side.BUY, "orderType": extra.get("orderType", 0),
            "timeInForce": extra.get("timeInForce", 0), "price": str(order.price or 0),
            "quantity": str(order.quantity), "nonce": extra.get("nonce", 0),
            "sender": extra.get("account", order.account), "signature": extra.get("signature", ""),
            "expiration": extra.get("expiration", 0), "txHash": "", "createdAt": order.created_ns // 1_000_000,
            "status": "OPEN" if as_accepted else WIRE_STATUS[order.status],
            "residualQuantity": str(order.quantity if as_accepted else order.quantity - order.filled),
            "trades": trades,
        }

    async def _publish(self, updates: list[Update]) -> None:
        if self.mm is not None:
            updates = updates + self.mm.refill()
        for update in updates:
            order = update.order
            sockets = self.subscribers.get(order.account)
            if not sockets:
                continue
            frame = schemas.encoder.encode({"jsonrpc": "2.0", "method": schemas.WS_ORDER_UPDATE,
                                            "params": self._wire(order)}).decode()
            await self.deliver(order.account, [frame])

    # REST handlers

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request, _login_decoder)
            now_ms = time.time_ns() // 1_000_000
            if body.timestamp < now_ms - LOGIN_MAX_AGE_MS:
                raise Refused("login timestamp is older than 10 seconds")
            digest = self._login_t.digest((body.account, body.message, body.timestamp))
            self._check_signer(digest, body.signature, body.account)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        token = secrets.token_urlsafe(24)
        self.sessions[token] = body.account.lower()
        response = web.json_response({"name": schemas.SESSION_COOKIE, "value": token, "path": "/",
                                      "max_age": SESSION_SECS, "secure": True, "http_only": True})
        response.set_cookie(schemas.SESSION_COOKIE, token, max_age=SESSION_SECS, path="/", httponly=True)
        return response

    async def _place(self, request: web.Request) -> web.Response:
        try:
            order = self._engine_order(await self._body(request, _place_decoder))
        except Refused as exc:
            return self._error(str(exc), exc.status)
        return await self._submit(order)

    async def _submit(self, order: Order) -> web.Response:
        try:
            updates = self.engine.submit(order)
        except EngineError as exc:
            return self._error(str(exc))
        if order.status is Status.REJECTED:
            return self._error(f"order rejected: {order.reason.value if order.reason else 'rejected'}")
        return await self.reply_and_push(self._wire(order, as_accepted=self.faults.reorder_ack),
                                         self._publish(updates))

    async def _cancel(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request, _cancel_decoder)
            if body.productId not in self.delisted:  # a product taken off the list: its orders still cancel
                self._product(body.productId)
            digest = self._cancel_t.digest((body.account, body.subAccountId, body.productId, body.orderId))
            self._check_signer(digest, body.signature, body.account, sampled=True)
            update = self._engine_cancel(body.account, body.orderId)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        await self._publish([update])
        return web.json_response({"success": True, "error": None})

    def _engine_cancel(self, account: str, order_id: str) -> Update:
        try:
            return self.engine.cancel(account.lower(), order_id)
        except EngineError as exc:
            if exc.code == "unknown_order":
                raise Refused("order not found") from None
            raise Refused(f"order is not open: {self.engine.get(order_id).status.value}") from None

    async def _replace(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request, _replace_decoder)
            try:
                new = self._engine_order(body.newOrder)
            except Refused as exc:
                raise Refused(f"newOrder: {exc}") from None
            old = self.engine.get(body.idToCancel)
            if old is not None and old.account == new.account and old.is_open and new.type is OrderType.LIMIT_MAKER:
                self._check_post_only(new)
            try:
                cancelled = self._engine_cancel(body.newOrder.account, body.idToCancel)
            except Refused as exc:
                raise Refused(f"idToCancel: {exc}") from None
        except Refused as exc:
            return self._error(str(exc), exc.status)
        await self._publish([cancelled])
        return await self._submit(new)

    def _check_post_only(self, order: Order) -> None:
        product = order.product
        best = self.engine.best_ask(product) if order.side is Side.BUY else self.engine.best_bid(product)
        if best is not None and (order.price >= best if order.side is Side.BUY else order.price <= best):
            raise Refused("newOrder: post-only order would cross")

    async def _cancel_product(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request, _cancel_all_decoder)
            self._product(body.productId)
            digest = self._cancel_all_t.digest((body.account, body.subAccountId, body.productId))
            self._check_signer(digest, body.signature, body.account, sampled=True)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        await self._publish(self.engine.cancel_all(body.account.lower(), str(body.productId)))
        return web.json_response({"success": True, "error": None})

    async def _list(self, request: web.Request, open_only: bool) -> web.Response:
        self.count_request(request)
        try:
            account = self._session(request)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        if request.query.get("account", "").lower() != account:
            return self._error("account does not match the session", 403)
        orders = (self.engine.open_orders(account) if open_only
                  else [o for o in self.engine.orders.values() if o.account == account])
        # an account with thousands of orders: written in slices, so an in-process simulator does
        # not stall the loop it shares with the gateway
        parts = []
        for i in range(0, len(orders), _LIST_SLICE):
            parts.append(schemas.encoder.encode([self._wire(o) for o in orders[i:i + _LIST_SLICE]])[1:-1])
            await asyncio.sleep(0)
        return web.Response(body=b"[" + b",".join(parts) + b"]", content_type="application/json")

    async def _open_orders(self, request: web.Request) -> web.Response:
        return await self._list(request, True)

    async def _orders(self, request: web.Request) -> web.Response:
        return await self._list(request, False)

    # reference data: public, no session (the shapes of the official client's types)

    async def _products(self, request: web.Request) -> web.Response:
        broken = self.reference_faults.list_reply()
        if broken is not None:
            return broken
        return web.json_response([self._product_wire(p) for p in self.products.values()])

    def _mark(self, product: Product) -> int | None:
        """The simulator's mark: the book's mid, else the last trade (the venue's is its own)."""
        key = str(product.product_id)
        bid, ask = self.engine.best_bid(key), self.engine.best_ask(key)
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return self.engine.last_price(key)

    def _product_wire(self, p: Product) -> dict:
        mark = self._mark(p)
        return {
            "active": p.active, "baseAsset": p.base_asset or p.symbol.removesuffix("perp").upper(),
            "baseAssetAddress": "0x" + f"{p.product_id:040x}", "id": p.product_id,
            "increment": str(p.tick), "initialLongWeight": "950000000000000000",
            "initialShortWeight": "1050000000000000000", "isMakerRebate": True,
            "maintenanceLongWeight": "970000000000000000", "maintenanceShortWeight": "1030000000000000000",
            "makerFee": "0", "markPrice": str(mark or 0), "maxQuantity": str(10**30),
            "minQuantity": str(p.min_quantity), "quoteAsset": p.quote_asset,
            "quoteAssetAddress": "0xb8be1401e65dc08bfb8f832fc1a27a16ca821b05", "symbol": p.symbol,
            "takerFee": "0", "type": "PERP",
        }

    def _by_symbol(self, symbol: str) -> Product | None:
        return next((p for p in self.products.values() if p.symbol == symbol.lower()), None)

    async def _tickers(self, request: web.Request) -> web.Response:
        broken = self.reference_faults.price_reply()
        if broken is not None:
            return broken
        symbol = request.query.get("symbol")
        products = [p for p in self.products.values() if symbol is None or p.symbol == symbol.lower()]
        out = []
        for p in products:
            key, mark = str(p.product_id), self._mark(p)
            last = self.engine.last_price(key) or 0
            out.append({"fundingRateHourly": "0", "fundingRateYearly": "0", "high": str(last), "low": str(last),
                        "markPrice": str(mark or 0), "nextFundingTime": int(time.time()) // 3600 * 3600 + 3600,
                        "openInterest": "0", "oraclePrice": str(mark or 0), "priceChange": "0",
                        "priceChangePercent": "0", "productId": p.product_id, "productSymbol": p.symbol,
                        "volume": "0"})
        return web.json_response(out)

    async def _depth(self, request: web.Request) -> web.Response:
        broken = self.reference_faults.price_reply()
        if broken is not None:
            return broken
        product = self._by_symbol(request.query.get("symbol", ""))
        if product is None:
            return self._error("unknown symbol", 404)
        try:
            limit = int(request.query.get("limit", "5"))
        except ValueError:
            return self._error("limit must be 5, 10 or 20")
        bids, asks = self.engine.depth(str(product.product_id), limit)

        def rows(levels: list[tuple[int, int]]) -> list[list[str]]:
            total, out = 0, []
            for price, quantity in levels:
                total += quantity
                out.append([str(price), str(quantity), str(total)])
            return out

        return web.json_response({"asks": rows(asks), "bids": rows(bids)})

    # test hooks: the venue changes its list

    def _named(self, symbol: str) -> Product:
        """A product by the venue's symbol ("ethperp") or a unified one ("ETH-PERP")."""
        return self.products[int(self.venue_product(symbol))]

    def halt(self, symbol: str) -> None:
        p = self._named(symbol)
        self.products[p.product_id] = replace(p, active=False)

    def resume(self, symbol: str) -> None:
        p = self._named(symbol)
        self.products[p.product_id] = replace(p, active=True)

    def delist(self, symbol: str) -> None:
        p = self._named(symbol)
        self.delisted[p.product_id] = self.products.pop(p.product_id)

    def set_steps(self, symbol: str, *, tick: str | None = None, min_quantity: str | None = None) -> None:
        """The venue changes a product's price step or minimum (decimal strings); the lot follows the minimum."""
        p = self._named(symbol)
        minimum = p.min_quantity if min_quantity is None else scaled(min_quantity)
        self.products[p.product_id] = replace(p, tick=p.tick if tick is None else scaled(tick),
                                              lot=minimum, min_quantity=minimum)

    async def _take(self, request: web.Request) -> web.Response:
        """Simulator control, not Citrex: an outside trader crosses the book."""
        body = await request.json()
        updates = self.take(str(int(body["productId"])), Side.BUY if body["isBuy"] else Side.SELL,
                            int(body["price"]), int(body["quantity"]))
        await self._publish(updates)
        return web.json_response({"trades": trades_made(updates)})

    def venue_product(self, symbol: str) -> str:
        # the engine knows a product by its id; the venue spells "ETH-PERP" "ethperp"
        return str(next(p.product_id for p in self.products.values()
                        if p.symbol == symbol.lower().replace("-", "")))

    # WebSocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        try:
            account = self._session(request)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        parse_error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        async with self.websocket(request) as ws:
            async for call in self.json_frames(ws, parse_error):
                await self._rpc(ws, account, call)
        return ws

    async def _rpc(self, ws: web.WebSocketResponse, account: str, call: dict) -> None:
        rid, method, params = call.get("id"), call.get("method"), call.get("params") or {}
        if not isinstance(rid, str):
            await ws.send_json({"jsonrpc": "2.0", "id": None,
                                "error": {"code": -32600, "message": "id must be a string"}})
            return
        if method == schemas.WS_SUBSCRIBE and params.get("channel") == schemas.ORDERS_CHANNEL:
            if str(params.get("account", "")).lower() != account:
                await ws.send_json({"jsonrpc": "2.0", "id": rid,
                                    "error": {"code": 403, "message": "account does not match the session"}})
                return
            self.subscribe(account, ws)
            await ws.send_json({"jsonrpc": "2.0", "id": rid, "result": "OK"})
        else:
            await ws.send_json({"jsonrpc": "2.0", "id": rid,
                                "error": {"code": -32601, "message": f"method not found: {method}"}})

    def expire_sessions(self) -> None:
        """Fault: every session cookie stops working, as after the venue's 6 hours."""
        self.sessions.clear()


def listings(products) -> list:
    """The simulator's products as the gateway reads them (to map mid_prices as it does)."""
    from gateway.venues.citrex import reference

    return [reference.listing(schemas.Product(id=p.product_id, symbol=p.symbol, increment=str(p.tick),
                                              minQuantity=str(p.min_quantity), active=p.active,
                                              baseAsset=p.base_asset, quoteAsset=p.quote_asset))
            for p in products]


async def start_for(venue) -> CitrexSim:
    """The simulator for a configured Citrex venue: its own catalogue (never the gateway's
    instruments, which it would always agree with), the config's domain and sim section.
    mid_prices (by unified symbol) pick the products the market maker quotes, mapped to the
    catalogue as the gateway maps its symbols."""
    from gateway.reference.instruments import find_for_symbol
    from gateway.venues.config import SimConfig

    cfg = venue.sim or SimConfig()
    products = list(CATALOGUE)
    listed = listings(products)
    mids = {int(find_for_symbol(venue.name, s, listed).product_id): scaled(p) for s, p in cfg.mid_prices.items()}
    sim = CitrexSim(products, chain_id=venue.chain_id, verifying_contract=venue.verifying_contract,
                    domain_name=venue.domain_name, domain_version=venue.domain_version, mid_prices=mids,
                    market_maker=cfg.market_maker, mm_levels=cfg.market_maker_levels,
                    mm_quantity=scaled(cfg.market_maker_quantity), verify_every=cfg.verify_every)
    if cfg.verify_every > 1:
        log.warning("simulator %s recovers one order signature in %d (benchmarks only)", venue.name,
                    cfg.verify_every)
    return await sim.start_from(cfg)
