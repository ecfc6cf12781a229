"""BSX simulator: the venue's REST API and `orders` WS channel on loopback.

Checks what the venue checks: the API key headers (code 16 otherwise), the
EIP-712 order signature (the recovered signer must be the one registered for
the order's sender, the key's wallet), nonces (nanoseconds, unique per
account, not older than 10 minutes), client_order_id (at most 32 characters,
unique among open orders), tick and lot. Orders trade on the shared engine;
every change is pushed on the orders channel with the seed's field names and
types. The WS lives at schemas.WS_PATH and wants the HMAC auth before `sub`.

Accounts as the official SDK makes them: POST /users/register (the wallet's
EIP-712 Register signature over the signer address and the signer's SignKey
signature over the wallet, both verified) issues an API key that expires
after key_life_s; POST /users/api-key issues a fresh one for a live key. An
expired key is code 16. Every error is a JSON body {code, message} (the SDK
crashes on anything else), unknown paths included. Fields the SDK never
sends are accepted and counted in unknown_fields.

Faults besides the shared ones: answer_429 and reply_delay_ms on the order
paths (as the other simulators), expire_api_keys() ends every key now.

The account's positions: GET /portfolio/detail (gateway/sim/bsx_account.py) from
the engine's trades of the account, as the SDK's get_portfolio_detail reads them.

Reference data, public (no headers): GET /products lists the simulator's
products in the shape the official SDK's Product model reads (start_for
lists the module's CATALOGUE, the venue's own products, whatever the gateway
config says), with a mark price from the book; GET /products/{id}/book gives
the book (the market maker's and everyone's orders). Hooks: halt / resume /
set_post_only / delist / set_steps a product, and faults.products /
faults.book = "garbage" | "empty" | "silent" break those answers.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from aiohttp import web

from gateway._core.fixedpoint import FixedPointError, format_scaled, parse_scaled
from gateway.eip712 import hash_typed_data
from gateway.signer import Signer, recover_address
from gateway.reference.instruments import Listing, names
from gateway.sim.base import Faults, Refused, SimServer, scaled
from gateway.sim.bsx_account import portfolio
from gateway.sim.engine import (EngineError, MatchingEngine, Order, OrderType, Reason, Side, Status, Stp,
                                TimeInForce, Update)
from gateway.sim.market_maker import MarketMaker
from gateway.venues.bsx import schemas
from gateway.venues.bsx.signing import domain, order_type, ws_auth_signature

log = logging.getLogger("gateway.sim.bsx")

WIRE_STATUS = {
    Status.UNTRIGGERED: schemas.STOP_ACCEPTED, Status.OPEN: schemas.OPEN, Status.PARTIALLY_FILLED: schemas.OPEN,
    Status.FILLED: schemas.DONE, Status.CANCELLED: schemas.DONE, Status.REJECTED: schemas.DONE,
}
CANCEL_REASON = {
    Reason.USER: schemas.CANCEL_USER, Reason.CANCEL_ALL: schemas.CANCEL_USER, Reason.REPLACED: schemas.CANCEL_USER,
    Reason.SELF_TRADE: schemas.CANCEL_STP, Reason.POST_ONLY_WOULD_CROSS: schemas.CANCEL_POST_ONLY,
    Reason.IOC_REMAINDER: "ioc", Reason.FOK_UNFILLED: "fok", Reason.NO_LIQUIDITY: "market",
    Reason.EXPIRED: "expired",
}
TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")  # the SDK: at most 32 letters and digits
REGISTER_MAX_AGE_NS = 600 * 10**9
ORDER_PATHS = ("/order", "/orders")
WS_AUTH_MAX_AGE_NS = 60 * 10**9


@dataclass(frozen=True)
class Product:
    index: int  # product_index in the signature, e.g. 2
    product_id: str  # the venue's name, e.g. "ETH-PERP"
    tick: int  # e18
    lot: int  # e18
    min_quantity: int = 0
    base: str = ""  # base asset; "" = the product_id's first part
    quote: str = "USDC"
    enabled: bool = True  # False: halted, no orders taken
    post_only: bool = False  # True: only post-only orders taken

    @property
    def base_asset(self) -> str:
        return self.base or self.product_id.split("-")[0]


E18 = 10**18
# BSX's products as its docs and official clients give them (product_index BTC-PERP 1,
# ETH-PERP 2, SOL-PERP 3; perps settled in USDC), with the sizes config/gateway.toml has
# always traded them at: what start_for lists, whatever the gateway config says
CATALOGUE = (
    Product(1, "BTC-PERP", tick=E18 // 10, lot=E18 // 1000, min_quantity=E18 // 1000),
    Product(2, "ETH-PERP", tick=E18 // 100, lot=E18 // 100, min_quantity=E18 // 100),
    Product(3, "SOL-PERP", tick=E18 // 100, lot=E18 // 10, min_quantity=E18 // 10),
)


@dataclass
class BsxFaults(Faults):
    # GET /products and GET /products/{id}/book: None answers, "garbage" answers
    # something no client can read, "empty" lists nothing (no products, an empty book),
    # "silent" never answers (until the fault is cleared)
    products: str | None = None
    book: str | None = None


@dataclass
class User:
    api_key: str
    api_secret: str
    sender: str  # the main wallet
    signer: str  # the address allowed to sign its orders
    expires_ns: int = 0
    name: str = ""


class _Reject(Refused):
    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(message, status)
        self.code = code


def _fmt(value: int | None) -> str:
    return format_scaled(value or 0, 18)


class BsxSim(SimServer):
    ws_path = schemas.WS_PATH

    def __init__(self, products: list[Product], *, chain_id: int = 8453,
                 verifying_contract: str = "0x0000000000000000000000000000000000000000",
                 domain_name: str = "BSX Mainnet", domain_version: str = "1",
                 mid_prices: dict[str, int] | None = None, market_maker: bool = True,
                 mm_levels: int = 5, mm_quantity: int = 10**18, key_life_s: float = 30 * 86400):
        self.products = {p.index: p for p in products}
        self.by_symbol = {p.product_id: p for p in products}
        self.chain = {"name": domain_name, "version": domain_version, "chain_id": chain_id,
                      "verifying_contract": verifying_contract}
        self._domain = domain(domain_name, domain_version, chain_id, verifying_contract)
        self._order_t = order_type(self._domain)
        self.key_life_s = key_life_s
        self.registrations = self.renewals = 0
        self.engine = MatchingEngine(stp=Stp.CANCEL_TAKER, id_factory=lambda: str(uuid.uuid4()),
                                     trade_id_factory=lambda: str(uuid.uuid4()))
        super().__init__()
        self.faults: BsxFaults = BsxFaults()
        self.delisted: dict[str, Product] = {}  # gone from the list (orders on them refused)
        self.users: dict[str, User] = {}  # api key -> user
        self.used_nonces: set[tuple[str, int]] = set()
        if market_maker:
            self.mm = MarketMaker.quoting(
                self.engine, Signer(secrets.token_bytes(32)).address.lower(),
                {symbol: (mid, self.by_symbol[symbol].tick) for symbol, mid in (mid_prices or {}).items()},
                levels=mm_levels, quantity=mm_quantity)

    @property
    def requests(self) -> Counter[str]:  # type: ignore[override]
        # BSX's tests ask which calls an adapter made ("GET /order"), not how many
        return self.requests_by_route

    def register(self, api_key: str, api_secret: str, sender: str, signer: str, *,
                 life_s: float | None = None) -> User:
        life = self.key_life_s if life_s is None else life_s
        user = User(api_key, api_secret, sender.lower(), signer.lower(), time.time_ns() + int(life * 1e9))
        self.users[api_key] = user
        return user

    # test hooks: the product list changes as the venue's would

    def _replace(self, symbol: str, **changes) -> Product:
        product = dataclasses.replace(self.by_symbol[symbol], **changes)
        self.products[product.index] = self.by_symbol[symbol] = product
        return product

    def halt(self, symbol: str) -> None:
        self._replace(symbol, enabled=False)

    def resume(self, symbol: str) -> None:
        self._replace(symbol, enabled=True, post_only=False)

    def set_post_only(self, symbol: str, on: bool = True) -> None:
        self._replace(symbol, post_only=on)

    def set_steps(self, symbol: str, *, tick: str | None = None, lot: str | None = None,
                  min_quantity: str | None = None) -> None:
        """Change a product's tick, lot or minimum (decimal strings), as the venue may."""
        changes = {k: scaled(v) for k, v in (("tick", tick), ("lot", lot), ("min_quantity", min_quantity))
                   if v is not None}
        self._replace(symbol, **changes)

    def delist(self, symbol: str) -> None:
        product = self.by_symbol.pop(symbol)
        del self.products[product.index]
        self.delisted[symbol] = product

    def expire_api_keys(self) -> None:
        """Fault: every API key expires now."""
        for user in self.users.values():
            user.expires_ns = 0

    # server

    @web.middleware
    async def _slow_venue(self, request: web.Request, handler):
        if request.path in ORDER_PATHS or request.path.startswith("/orders/"):
            if self.refuse_next():
                return self.too_many_requests({"code": 8, "message": "too many requests"})
            await self.slow_reply()
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._slow_venue])
        self.not_found_as_json(app, {"code": schemas.CODE_NOT_FOUND, "message": "not found"})
        app.add_routes([
            web.get("/chain/configs", self._chain_configs),
            web.get("/products", self._products),
            web.get("/products/{product_id}/book", self._book),
            web.get("/users/api-key", self._api_keys),
            web.post("/users/api-key", self._new_api_key),
            web.post("/users/register", self._register),
            web.post("/orders", self._create),
            web.delete("/order", self._cancel),
            web.get("/order", self._get_order),
            web.delete("/orders", self._cancel_many),
            web.get("/orders", self._open_orders),
            web.delete("/orders/all", self._cancel_all),
            web.post("/orders/batch", self._batch),
            web.get(schemas.PORTFOLIO_PATH, functools.partial(portfolio, self)),
            web.get(schemas.WS_PATH, self._ws),
        ])
        return app

    # helpers

    @staticmethod
    def _error(exc: _Reject) -> web.Response:
        return web.json_response({"code": exc.code, "message": str(exc)}, status=exc.status)

    def _user(self, request: web.Request) -> User:
        self.count_request(request)
        user = self.users.get(request.headers.get("bsx-key", ""))
        if user is None or not hmac.compare_digest(user.api_secret, request.headers.get("bsx-secret", "")):
            raise _Reject(schemas.CODE_UNAUTHENTICATED, "unauthenticated", 401)
        if time.time_ns() >= user.expires_ns:
            raise _Reject(schemas.CODE_UNAUTHENTICATED, "unauthenticated: API key expired", 401)
        return user

    def invalid_body(self, exc: Exception) -> _Reject:
        return _Reject(schemas.CODE_INVALID, f"invalid request: {exc}")

    @staticmethod
    def _amount(name: str, text: str) -> int:
        try:
            return parse_scaled(text, 18)
        except (FixedPointError, TypeError):
            raise _Reject(schemas.CODE_INVALID, f"{name} must be a decimal string, got {text!r}") from None

    def _engine_order(self, user: User, body: schemas.CreateOrder) -> Order:
        """Verify one signed create and turn it into an engine order (not yet submitted)."""
        product = self.products.get(body.product_index)
        if product is None:
            raise _Reject(schemas.CODE_INVALID, f"unknown product_index {body.product_index}")
        if not product.enabled:
            raise _Reject(schemas.CODE_PRECONDITION, f"{product.product_id} is not enabled")
        if product.post_only and not body.post_only:
            raise _Reject(schemas.CODE_PRECONDITION, f"{product.product_id} takes post-only orders only")
        if body.side not in schemas.ORDER_SIDE or body.type not in (0, 1, 2) or body.time_in_force not in TIFS:
            raise _Reject(schemas.CODE_INVALID, "invalid side, type or time_in_force")
        price, size = self._amount("price", body.price), self._amount("size", body.size)
        # the signature carries the e18 integers of the very values the body spells
        digest = self._order_t.digest((user.sender, size, price, body.nonce, body.product_index,
                                       schemas.ORDER_SIDE[body.side]))
        try:
            raw = bytes.fromhex(body.signature.removeprefix("0x"))
            signer = recover_address(digest, raw).lower()
        except ValueError:
            raise _Reject(schemas.CODE_INVALID, "invalid signature") from None
        if signer != user.signer:
            raise _Reject(schemas.CODE_INVALID, "invalid signature: not the registered signer for the sender")
        now = time.time_ns()
        if body.nonce < now - schemas.NONCE_MAX_AGE_NS:
            raise _Reject(schemas.CODE_INVALID, "nonce is older than 10 minutes")
        if (user.sender, body.nonce) in self.used_nonces:
            raise _Reject(schemas.CODE_EXISTS, "nonce already used", 409)
        cid = body.client_order_id
        if cid is not None and cid != "":
            if not CLIENT_ID.match(cid):
                raise _Reject(schemas.CODE_INVALID, "client_order_id must be 1-32 letters and digits")
            if any((o.client_id or "").lower() == cid.lower() for o in self.engine.open_orders(user.sender)):
                raise _Reject(schemas.CODE_EXISTS, "client_order_id is used by an open order", 409)
        stop = None
        if body.type == 2:
            if not body.stop_price:
                raise _Reject(schemas.CODE_INVALID, "a STOP order needs stop_price")
            stop = self._amount("stop_price", body.stop_price)
        elif body.stop_price is not None:
            self.unknown_fields["POST /orders.stop_price on a non-STOP order"] += 1
        if body.type != 1 and (price <= 0 or price % product.tick):
            raise _Reject(schemas.CODE_INVALID, f"price {body.price} is not a positive multiple of the tick")
        if size <= 0 or size % product.lot or size < product.min_quantity:
            raise _Reject(schemas.CODE_INVALID, f"size {body.size} is not a multiple of the lot above the minimum")
        if stop is not None and stop % product.tick:
            raise _Reject(schemas.CODE_INVALID, "stop_price is not a multiple of the tick")
        tif = TIFS[body.time_in_force]
        if body.type == 1:
            kind = OrderType.MARKET
        elif body.post_only:
            if tif is not TimeInForce.GTC:
                raise _Reject(schemas.CODE_INVALID, "post_only needs GTC")
            kind = OrderType.LIMIT_MAKER
        else:
            kind = OrderType.LIMIT
        self.used_nonces.add((user.sender, body.nonce))
        return Order(
            order_id="", account=user.sender, product=product.product_id,
            side=Side(body.side), type=kind, tif=tif, price=None if kind is OrderType.MARKET else price,
            quantity=size, stop_price=stop, client_id=cid or None, reduce_only=body.reduce_only,
            extra={"nonce": body.nonce, "post_only": body.post_only, "wire_type": body.type},
        )

    def _wire(self, order: Order, *, trades=None, pending: bool = False, accepted: bool = False) -> dict:
        """One order as the venue spells it; trades: None leaves last_trades out."""
        extra = order.extra
        status = WIRE_STATUS[order.status]
        done = status == schemas.DONE and not (pending or accepted)
        if pending:
            status = schemas.PENDING
        elif accepted:
            status = schemas.STOP_ACCEPTED if order.stop_price is not None else schemas.OPEN
        filled = 0 if (pending or accepted) else order.filled
        wire = {
            "avg_price": _fmt(order.notional // order.filled if filled else 0),
            "cancel_reason": CANCEL_REASON.get(order.reason, "") if done and order.reason else "",
            "cancel_reject_reason": "",
            "cancel_requested": extra.get("cancel_requested_at", 0) != 0,
            "cancel_requested_at": str(extra.get("cancel_requested_at", 0)),
            "client_order_id": order.client_id or "",
            "created_at_ts": str(order.created_ns),
            "filled_fees": "0",
            "filled_size": _fmt(filled),
            "id": order.order_id,
            "initial_margin": "0",
            "is_liquidation": False,
        }
        if trades is not None:
            wire["last_trades"] = [
                {"id": t.trade_id, "price": _fmt(t.price), "size": _fmt(t.quantity),
                 "liquidity_indicator": "MAKER" if t.maker_order_id == order.order_id else "TAKER",
                 "time": str(t.ts_ns), "funding_payment": "0", "trading_fee": "0", "sequencer_fee": "0"}
                for t in trades
            ]
        wire.update({
            "nonce": str(extra.get("nonce", 0)),
            "order_stop_type": "STOP_NONE" if order.stop_price is None else "STOP_LOSS",
            "post_only": extra.get("post_only", False),
            "price": _fmt(order.price),
            "product_id": order.product,
            "reduce_only": order.reduce_only,
            "reject_reason": "",
            "sender": order.account,
            "side": order.side.value,
            "size": _fmt(order.quantity),
            "status": status,
            "stop_price": _fmt(order.stop_price),
            "stp": "CANCEL_TAKER",
            "time_in_force": order.tif.value,
            "type": "STOP" if order.stop_price is not None else ("MARKET" if order.type is OrderType.MARKET
                                                                 else "LIMIT"),
            "updated_at": str(order.updated_ns),
        })
        return wire

    def _update_wire(self, update: Update) -> dict:
        order = update.order
        if update.new_trades:
            trades = update.new_trades
        elif order.status in (Status.CANCELLED, Status.REJECTED):
            trades = None  # a cancel involves no trades: the field is left out
        else:
            trades = []
        return self._wire(order, trades=trades)

    async def _publish(self, updates: list[Update], pending: list[Order] = ()) -> None:
        """One update message per account for the new orders' PENDING, then one for the changes."""
        if self.mm is not None:
            updates = updates + self.mm.refill()
        now = str(time.time_ns())
        messages: dict[str, list[list[dict]]] = {}
        for order in pending:
            messages.setdefault(order.account, [[], []])[0].append(self._wire(order, trades=[], pending=True))
        for update in updates:
            if update.order.account in self.subscribers:
                messages.setdefault(update.order.account, [[], []])[1].append(self._update_wire(update))
        for account, parts in messages.items():
            frames = [schemas.encoder.encode({"channel": schemas.ORDERS_CHANNEL, "type": "update",
                                              "data": data, "timestamp": now}).decode()
                      for data in parts if data]
            await self.deliver(account, frames)

    # reference data (public)

    def mark_price(self, product: str) -> int:
        """The mark: the book's mid, else the last trade (0: none). BSX's mark follows an index;
        the simulator has no index but its own book, so the mid stands for it and moves with it."""
        bid, ask = self.engine.best_bid(product), self.engine.best_ask(product)
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return self.engine.last_price(product) or 0

    def _product_wire(self, p: Product) -> dict:
        """One product in the shape of GET /products: every field the SDK's Product reads."""
        mark, last = self.mark_price(p.product_id), self.engine.last_price(p.product_id) or 0
        return {
            "index": p.index, "product_id": p.product_id, "base_asset_symbol": p.base_asset,
            "quote_asset_symbol": p.quote, "underlying": p.base_asset,
            "display_name": f"{p.base_asset}-{p.quote} Perp", "display_base_asset_symbol": p.base_asset,
            "enabled": p.enabled, "post_only": p.post_only,
            "base_increment": _fmt(p.lot), "quote_increment": _fmt(p.tick),
            "quote_volume_24h": "0", "change_24h": "0", "high_24h": _fmt(last), "low_24h": _fmt(last),
            "last_price": _fmt(last), "mark_price": _fmt(mark), "index_price": _fmt(mark),
            "max_position_size": "1000000", "open_interest": "0", "funding_interval": "3600000000000",
            "next_funding_rate": "0", "next_funding_time": str((time.time_ns() // 3600_000_000_000 + 1)
                                                               * 3600_000_000_000),
            "last_cumulative_funding": "0", "min_order_size": _fmt(p.min_quantity),
            "predicted_funding_rate": "0",
            "perpetual_product_config": {"initial_margin": "0.05", "maintenance_margin": "0.03",
                                         "max_leverage": "20"},
        }

    async def _broken(self, which: str) -> web.Response | None:
        """The answer of a broken public call (faults.products or faults.book), or None."""
        fault = getattr(self.faults, which)
        if fault == "garbage":
            return web.Response(text='{"products": [{"index": "one", ', content_type="application/json")
        while fault == "silent":  # no answer while the fault lasts: the client times out
            await asyncio.sleep(0.05)
            fault = getattr(self.faults, which)
        return None

    async def _products(self, request: web.Request) -> web.Response:
        self.count_request(request)
        broken = await self._broken("products")
        if broken is not None:
            return broken
        if self.faults.products == "empty":
            return web.json_response({"products": []})
        return web.json_response({"products": [self._product_wire(p) for p in
                                               sorted(self.products.values(), key=lambda p: p.index)]})

    async def _book(self, request: web.Request) -> web.Response:
        self.count_request(request)
        product = request.match_info["product_id"]
        if product not in self.by_symbol:
            return self._error(_Reject(schemas.CODE_NOT_FOUND, f"unknown product_id {product!r}", 404))
        broken = await self._broken("book")
        if broken is not None:
            return broken
        bids, asks = ([], []) if self.faults.book == "empty" else self.engine.depth(product, 20)
        return web.json_response({"product_id": product, "timestamp": str(time.time_ns()),
                                  "bids": [[_fmt(p), _fmt(q)] for p, q in bids],
                                  "asks": [[_fmt(p), _fmt(q)] for p, q in asks]})

    # REST handlers

    async def _chain_configs(self, request: web.Request) -> web.Response:
        self.count_request(request)
        return web.json_response({"main": self.chain})

    @staticmethod
    def _key_wire(user: User) -> dict:
        return {"api_key": user.api_key, "api_secret": user.api_secret, "name": user.name,
                "expired_at": str(user.expires_ns), "sender": user.sender, "signer": user.signer}

    async def _api_keys(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
        except _Reject as exc:
            return self._error(exc)
        now = time.time_ns()
        return web.json_response({"api_keys": [
            self._key_wire(u) for u in self.users.values() if u.sender == user.sender and u.expires_ns > now]})

    def _issue(self, sender: str, signer: str, name: str = "") -> User:
        user = self.register(secrets.token_hex(16), secrets.token_hex(32), sender, signer)
        user.name = name
        return user

    async def _new_api_key(self, request: web.Request) -> web.Response:
        """A fresh key for the same wallet and signer; the one asking stays valid until it expires."""
        try:
            user = self._user(request)
            body = await self.read_body(request, schemas.new_api_key_decoder, {"": schemas.SDK_NEW_API_KEY})
        except _Reject as exc:
            return self._error(exc)
        self.renewals += 1
        return web.json_response({"api_key": self._key_wire(self._issue(user.sender, user.signer, body.name))})

    def _recover(self, types: dict, primary: str, message: dict, signature: str) -> str:
        digest = hash_typed_data({"types": types, "primaryType": primary, "domain": self._domain,
                                  "message": message})
        try:
            return recover_address(digest, bytes.fromhex(signature.removeprefix("0x"))).lower()
        except ValueError:
            raise _Reject(schemas.CODE_INVALID, f"invalid {primary} signature") from None

    async def _register(self, request: web.Request) -> web.Response:
        """Wallet + signer registration: the wallet signs Register(key=signer, message, nonce),
        the signer signs SignKey(account=wallet); both over the chain-config domain."""
        self.count_request(request)
        try:
            body = await self.read_body(request, schemas.register_decoder, {"": schemas.SDK_REGISTER})
            wallet, signer = body.user_wallet.lower(), body.signer.lower()
            if not re.fullmatch(r"0x[0-9a-f]{40}", wallet) or not re.fullmatch(r"0x[0-9a-f]{40}", signer):
                raise _Reject(schemas.CODE_INVALID, "user_wallet and signer must be addresses")
            if not 0 < body.nonce < 1 << 64 or abs(time.time_ns() - body.nonce) > REGISTER_MAX_AGE_NS:
                raise _Reject(schemas.CODE_INVALID, "nonce must be a nanosecond time within 10 minutes")
            if (wallet, body.nonce) in self.used_nonces:
                raise _Reject(schemas.CODE_EXISTS, "nonce already used", 409)
            register = {"key": body.signer, "message": body.message, "nonce": body.nonce}
            if self._recover(schemas.REGISTER_TYPES, "Register", register, body.wallet_signature) != wallet:
                raise _Reject(schemas.CODE_INVALID, "wallet_signature is not the wallet's")
            if self._recover(schemas.SIGN_KEY_TYPES, "SignKey", {"account": body.user_wallet},
                             body.signer_signature) != signer:
                raise _Reject(schemas.CODE_INVALID, "signer_signature is not the signer's")
        except _Reject as exc:
            return self._error(exc)
        self.used_nonces.add((wallet, body.nonce))
        self.registrations += 1
        user = self._issue(wallet, signer)
        return web.json_response({"api_key": user.api_key, "api_secret": user.api_secret,
                                  "expired_at": str(user.expires_ns), "name": user.name})

    async def _create(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            order = self._engine_order(user, await self.read_body(request, schemas.create_decoder,
                                                                  {"": schemas.SDK_CREATE | {"stop_price"}}))
            updates = self._submit(order)
        except _Reject as exc:
            return self._error(exc)
        return await self.reply_and_push(self._wire(order, accepted=self.faults.reorder_ack),
                                         self._publish(updates, [order]))

    def _submit(self, order: Order) -> list[Update]:
        try:
            return self.engine.submit(order)
        except EngineError as exc:
            raise _Reject(schemas.CODE_INVALID, str(exc)) from None

    def _find(self, user: User, order_id: str | None, nonce: int | None, client_id: str | None = None) -> Order:
        order = None
        if order_id:
            order = self.engine.get(order_id)
        elif nonce:
            order = next((o for o in self.engine.orders.values()
                          if o.account == user.sender and o.extra.get("nonce") == nonce), None)
        elif client_id:
            # unique among open orders, case-insensitive (the SDK's words)
            order = next((o for o in self.engine.open_orders(user.sender)
                          if (o.client_id or "").lower() == client_id.lower()), None)
        if order is None or order.account != user.sender:
            raise _Reject(schemas.CODE_NOT_FOUND, "order not found", 404)
        return order

    def _cancel_one(self, user: User, order_id: str | None, nonce: int | None,
                    client_id: str | None = None) -> tuple[Order, Update]:
        order = self._find(user, order_id, nonce, client_id)
        if not order.is_open:
            raise _Reject(schemas.CODE_PRECONDITION, f"order is not open: {WIRE_STATUS[order.status]}")
        order.extra["cancel_requested_at"] = time.time_ns()
        return order, self.engine.cancel(user.sender, order.order_id)

    @staticmethod
    def _int_param(request: web.Request, name: str) -> int | None:
        value = request.query.get(name)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise _Reject(schemas.CODE_INVALID, f"{name} must be an integer") from None

    async def _cancel(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            order, update = self._cancel_one(user, request.query.get("order_id"), self._int_param(request, "nonce"))
        except _Reject as exc:
            return self._error(exc)
        await self._publish([update])
        return web.json_response({"order_id": order.order_id, "nonce": order.extra.get("nonce"),
                                  "client_order_id": order.client_id or ""})

    async def _get_order(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            order = self._find(user, request.query.get("order_id"), self._int_param(request, "nonce"))
        except _Reject as exc:
            return self._error(exc)
        return web.json_response(self._wire(order))

    def _bulk(self, user: User, body: schemas.CancelOrders | schemas.CancelBulkRequest
              ) -> tuple[list[dict], list[Update]]:
        targets: list[Order] = []
        for product in getattr(body, "product_ids", None) or ():
            targets += self.engine.open_orders(user.sender, product)
        for cid in getattr(body, "client_order_ids", None) or ():
            targets += [o for o in self.engine.open_orders(user.sender) if (o.client_id or "").lower() == cid.lower()]
        for order_id in body.order_ids or ():
            order = self.engine.get(order_id)
            if order is not None and order.account == user.sender and order.is_open:
                targets.append(order)
        for nonce in body.nonces or ():
            targets += [o for o in self.engine.open_orders(user.sender) if o.extra.get("nonce") == nonce]
        done, updates = [], []
        for order in {id(o): o for o in targets}.values():
            if order.is_open:
                order.extra["cancel_requested_at"] = time.time_ns()
                updates.append(self.engine.cancel(user.sender, order.order_id))
                done.append({"id": order.order_id, "nonce": order.extra.get("nonce")})
        return done, updates

    async def _cancel_many(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            done, updates = self._bulk(user, await self.read_body(request, schemas.cancel_orders_decoder,
                                                                  {"": schemas.SDK_CANCEL_ORDERS}))
        except _Reject as exc:
            return self._error(exc)
        await self._publish(updates)
        return web.json_response({"cancel_requested_orders": done})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            product = request.query.get("product_id", "")
            if product not in self.by_symbol:
                raise _Reject(schemas.CODE_INVALID, f"unknown product_id {product!r}")
        except _Reject as exc:
            return self._error(exc)
        updates = self.engine.cancel_all(user.sender, product)
        await self._publish(updates)
        return web.json_response({"cancel_requested_orders": [
            {"order_id": u.order.order_id, "nonce": u.order.extra.get("nonce")} for u in updates]})

    async def _open_orders(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
        except _Reject as exc:
            return self._error(exc)
        product = request.query.get("product_id") or None
        return web.json_response([self._wire(o) for o in self.engine.open_orders(user.sender, product)])

    async def _batch(self, request: web.Request) -> web.Response:
        try:
            user = self._user(request)
            batch = await self.read_body(request, schemas.batch_decoder, {
                "data[]": frozenset({"op_type", "create_order_request", "cancel_request", "cancel_orders_request",
                                     "cancel_all_orders_request"}),
                "data[].create_order_request": schemas.SDK_CREATE | {"stop_price"},
                "data[].cancel_request": schemas.SDK_CANCEL,
                "data[].cancel_orders_request": schemas.SDK_CANCEL_BULK,
                "data[].cancel_all_orders_request": schemas.SDK_CANCEL_ALL})
        except _Reject as exc:
            return self._error(exc)
        results, updates, created = [], [], []
        for op in batch.data:
            try:
                if op.op_type == "CREATE" and op.create_order_request is not None:
                    order = self._engine_order(user, op.create_order_request)
                    updates += self._submit(order)
                    created.append(order)
                    results.append({"code": 0, "message": "", "create_order_response": self._wire(order)})
                elif op.op_type == "CANCEL" and op.cancel_request is not None:
                    req = op.cancel_request
                    order, update = self._cancel_one(user, req.order_id, req.nonce, req.client_order_id)
                    updates.append(update)
                    results.append({"code": 0, "message": "", "cancel_response": {
                        "order_id": order.order_id, "nonce": order.extra.get("nonce"),
                        "client_order_id": order.client_id or ""}})
                elif op.op_type == "CANCEL_BULK" and op.cancel_orders_request is not None:
                    done, more = self._bulk(user, op.cancel_orders_request)
                    updates += more
                    results.append({"code": 0, "message": "",
                                    "cancel_orders_response": {"cancel_requested_orders": done}})
                elif op.op_type == "CANCEL_ALL" and op.cancel_all_orders_request is not None:
                    more = self.engine.cancel_all(user.sender, op.cancel_all_orders_request.product_id)
                    updates += more
                    results.append({"code": 0, "message": "", "cancel_orders_response": {
                        "cancel_requested_orders": [{"id": u.order.order_id, "nonce": u.order.extra.get("nonce")}
                                                    for u in more]}})
                else:
                    raise _Reject(schemas.CODE_INVALID, f"invalid op_type {op.op_type!r} or missing request")
            except _Reject as exc:
                results.append({"code": exc.code, "message": str(exc)})
        self.after_reply(self._publish(updates, created))
        return web.json_response({"data": results})

    # WebSocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        user: User | None = None
        async with self.websocket(request) as ws:
            async for call in self.json_frames(ws, {"type": "error", "message": "invalid message", "code": 400}):
                op = call.get("op")
                if op == "auth":
                    user = self._ws_auth(call.get("data") or {})
                    await ws.send_json({"channel": schemas.AUTH_CHANNEL, "type": "authenticated"} if user else
                                       {"channel": schemas.AUTH_CHANNEL, "type": "error",
                                        "message": "authentication failed", "code": 401})
                elif op == "sub" and call.get("channel") == schemas.ORDERS_CHANNEL:
                    if user is None:
                        await ws.send_json({"channel": schemas.ORDERS_CHANNEL, "type": "error",
                                            "message": "not authenticated", "code": 401})
                        continue
                    snapshot = [self._wire(o) for o in self.engine.open_orders(user.sender)]
                    self.subscribe(user.sender, ws)
                    await ws.send_str(schemas.encoder.encode({
                        "channel": schemas.ORDERS_CHANNEL, "type": "snapshot", "data": snapshot,
                        "timestamp": str(time.time_ns())}).decode())
                elif op == "ping":
                    await ws.send_json({"channel": "pong", "type": "pong"})
                else:
                    await ws.send_json({"type": "error", "message": f"unknown op {op!r}", "code": 400})
        return ws

    def _ws_auth(self, data: dict) -> User | None:
        self.record("ws auth", data, {"": schemas.WS_AUTH})
        user = self.users.get(str(data.get("key", "")))
        timestamp = str(data.get("timestamp", ""))
        if user is None or not timestamp.isdigit() or time.time_ns() >= user.expires_ns:
            return None
        if abs(time.time_ns() - int(timestamp)) > WS_AUTH_MAX_AGE_NS:
            return None
        expected = ws_auth_signature(user.api_secret, user.api_key, timestamp)
        return user if hmac.compare_digest(expected, str(data.get("signature", ""))) else None


def stable_wallet(api_key: str) -> str:
    """A wallet address that is a function of the API key alone (no key behind it: the
    simulator only needs the account to stay the same)."""
    return "0x" + hashlib.sha256(b"bsx-sim-wallet:" + api_key.encode()).hexdigest()[:40]


def catalogue_mids(products: list[Product], mid_prices: dict[str, str]) -> dict[str, int]:
    """The sim section's mid prices (keyed by unified symbol, "ETH-PERP") by the products they
    name, as the gateway maps a symbol to a listing: the venue's symbol, else the base asset.
    A symbol the catalogue has no product for is not quoted."""
    out = {}
    for symbol, price in mid_prices.items():
        match = [p for p in products if names(symbol, Listing(p.index, p.product_id, p.base_asset.upper(),
                                                              p.quote.upper(), p.tick, p.lot, p.min_quantity))]
        if len(match) == 1:
            out[match[0].product_id] = scaled(price)
        else:
            log.warning("sim mid price for %s: no single BSX product is that market; not quoted", symbol)
    return out


async def start_for(venue) -> BsxSim:
    """The simulator for a configured BSX venue: its own CATALOGUE of products (never the
    config's instruments, which the gateway checks against it), the config's domain,
    credentials and sim section."""
    from gateway.venues.bsx.credentials import load_credentials
    from gateway.venues.config import SimConfig

    cfg = venue.sim or SimConfig()
    products = list(CATALOGUE)
    sim = BsxSim(products, chain_id=venue.chain_id, verifying_contract=venue.verifying_contract,
                 domain_name=venue.domain_name, domain_version=venue.domain_version,
                 mid_prices=catalogue_mids(products, cfg.mid_prices),
                 market_maker=cfg.market_maker, mm_levels=cfg.market_maker_levels,
                 mm_quantity=scaled(cfg.market_maker_quantity))
    creds = load_credentials(venue)
    # the wallet is the configured one, or an address derived from the API key: the same
    # account on every start with the same key files (orders and positions survive a restart)
    sim.register(creds.api_key, creds.api_secret, venue.wallet or stable_wallet(creds.api_key),
                 creds.signer.address)
    return await sim.start_from(cfg)
