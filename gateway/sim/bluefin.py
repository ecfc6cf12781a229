"""Bluefin Pro simulator: the venue's REST and account-stream protocol on loopback.

Checks what the venue checks: the login's payloadSignature (ed25519 over
blake2b-256 of the exact body, from the key of accountAddress), a Bearer
access token on every trade call and on the WS upgrade, and the ed25519
signature of every order over the signed payload it rebuilds from
signedFields. The HTTP reply to an order or a cancel is only an ACK after
schema validation (202 {"orderHash"}, the hash as the current SDK computes
it); what happened comes on the account stream as the current SDK's
envelopes {event, reason, payload}: AccountOrderUpdate with an active-order
payload (OPEN, PARTIALLY_FILLED_OPEN, FILLED, PARTIALLY_FILLED_CANCELED for
an IOC remainder), AccountTradeUpdate {"trade": ...} per trade, and
AccountOrderUpdate with a cancellation payload for a rejected order, a done
cancel (cancellationReason) or a failed one (null and
failureToCancelReason); a cancel of a whole market answers one cancellation
per order it closed (reason OrdersForMarketCancelled).

Stop orders (STOP_LIMIT / STOP_MARKET with triggerPriceE9) rest STANDBY
until the last trade price reaches the trigger (set_last_price moves it).

Strict as the SDK's models: a missing required field or a wrong type is a
400; a field the SDK never sends is accepted and counted in unknown_fields.

Public data, no auth: GET /v1/exchange/info lists the simulator's own CATALOGUE (never the
gateway's config) in the SDK's full ExchangeInfoResponse shape; /v1/exchange/ticker(s) are
the SDK's TickerResponse from the engine's book (mark: the mid, else the last trade). Hooks:
halt() / resume() / set_status(), delist(), set_steps(); list_fault and prices_fault
("garbage": a body that is no JSON, "empty": nothing listed) break them.

The public market-data stream, no auth: /ws/market (market_ws_url) takes the SDK's
MarketSubscriptionMessage; each market's Ticker is answered {success, message}, then pushed
as {"event": "TickerUpdate", "payload": <the SDK's TickerUpdate>} at once, whenever the book's
best bid, best ask or last trade changes, and every ticker_push_secs. Hooks: market_fault
"garbage" (every push a frame that is no JSON) or "silent" (no push; pings still answered),
drop_market_streams() (drop_streams() closes these too, as a venue restart would).

Faults besides the shared ones: expire_access_tokens() / expire_refresh_tokens()
end sessions early; access_token_secs / refresh_token_secs set their lives.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import contextlib
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, replace

import msgspec
from aiohttp import web

from gateway.sim.base import Refused, SimServer, scaled
from gateway.sim.bluefin_account import account
from gateway.venues.bluefin.account import ACCOUNT_PATH
from gateway.sim.engine import (EngineError, MatchingEngine, Order, OrderType, Reason, Side, Status, Stp,
                                TimeInForce, Update)
from gateway.sim.market_maker import MarketMaker
from gateway.venues.bluefin import schemas
from gateway.venues.bluefin.signing import (
    blake2b256,
    order_hash,
    order_json,
    order_signing_digest,
    parse_serialized,
    sui_address,
    verify,
)

log = logging.getLogger("gateway.sim.bluefin")

E9_TO_E18 = 10**9
LOGIN_MAX_AGE_MS = 30_000
SIGNED_AT_MAX_AGE_MS = 60_000
TIFS = {"GTT": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
TIF_NAMES = {v: k for k, v in TIFS.items()}
STREAMS = frozenset({"AccountOrderUpdate", "AccountTradeUpdate", "AccountPositionUpdate", "AccountUpdate",
                     "AccountTransactionUpdate", "AccountAggregatedTradeUpdate", "AccountCommandFailureUpdate"})


def tif_name(tif: TimeInForce) -> str:
    return TIF_NAMES[tif]
ENGINE_REASON = {
    Reason.USER: schemas.USER_CANCELLED,
    Reason.POST_ONLY_WOULD_CROSS: schemas.POST_ONLY_WOULD_TRADE,
    Reason.SELF_TRADE: schemas.SELF_TRADE_PREVENTION,
    Reason.EXPIRED: "ORDER_EXPIRED",
}


@dataclass(frozen=True)
class Market:
    symbol: str  # the venue's, e.g. "ETH-PERP"
    tick: int  # e18
    lot: int  # e18
    min_quantity: int = 0
    status: str = schemas.MARKET_ACTIVE  # the SDK's MarketStatus: ACTIVE | BETA | MAINTENANCE | DELISTED

    @property
    def base(self) -> str:
        return self.symbol.split("-")[0]


# What the venue lists: its markets as the official SDK's examples and venues.md name them,
# with the steps config/gateway.toml has always used for them. The gateway's config is checked
# against this; it is never built from that config.
CATALOGUE = (
    Market("ETH-PERP", tick=10**16, lot=10**16, min_quantity=10**16),
    Market("BTC-PERP", tick=10**17, lot=10**15, min_quantity=10**15),
)


class BluefinSim(SimServer):
    ws_path = schemas.WS_PATH

    def __init__(self, markets: list[Market], *, ids_id: str = "0x" + "1d" * 32,
                 mid_prices: dict[str, int] | None = None, market_maker: bool = True, mm_levels: int = 5,
                 mm_quantity: int = 10**18, access_token_secs: float = 600, refresh_token_secs: float = 3600):
        super().__init__()
        self.markets = {m.symbol: m for m in markets}
        # faults of the public data: None, "garbage" (a body that is no JSON) or "empty"
        # (a well-formed answer that lists nothing)
        self.list_fault: str | None = None
        self.prices_fault: str | None = None
        self.public_requests: collections.Counter[str] = collections.Counter()  # path -> reads (no auth)
        # the market-data stream: its faults (None, "garbage", "silent"), its sockets -> markets
        # subscribed, the book state last pushed per market, the periodic push
        self.market_fault: str | None = None
        self.ticker_push_secs = 1.0
        self.market_sockets: dict[web.WebSocketResponse, set[str]] = {}
        self.market_ws_url = ""
        self._pushed: dict[str, tuple] = {}
        self._ticker_task: asyncio.Task | None = None
        self.ids_id = ids_id
        self.eds_id = "0x" + blake2b256(b"eds" + ids_id.encode()).hex()
        self.contract_address = "0x" + blake2b256(b"contract" + ids_id.encode()).hex()
        self.access_token_secs = access_token_secs
        self.refresh_token_secs = refresh_token_secs
        trade_ids = itertools.count(1)
        self.engine = MatchingEngine(stp=Stp.CANCEL_TAKER, trade_id_factory=lambda: f"T{next(trade_ids)}")
        self.access: dict[str, tuple[str, float]] = {}  # token -> (account, expires at, monotonic)
        self.refresh: dict[str, tuple[str, float]] = {}
        self.hashes: set[str] = set()
        self.requests_401 = self.logins = self.refreshes = 0
        # what went out, in order: ("ACK", order hash) and (event name, frame text)
        self.wire_log: list[tuple[str, str]] = []
        if market_maker:
            self.mm = MarketMaker.quoting(
                self.engine, "0x" + secrets.token_hex(32),
                {symbol: (mid, self.markets[symbol].tick) for symbol, mid in (mid_prices or {}).items()},
                levels=mm_levels, quantity=mm_quantity)

    # server

    @web.middleware
    async def _faults(self, request: web.Request, handler):
        if request.path.startswith("/api/v1/trade/orders"):
            if self.refuse_next():
                return self.too_many_requests({"error": "TOO_MANY_REQUESTS", "message": "rate limited"})
            await self.slow_reply()
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults])
        app.add_routes([
            web.get(schemas.EXCHANGE_INFO_PATH, self._exchange_info),
            web.get(schemas.TICKER_PATH, self._ticker),
            web.get(schemas.TICKERS_PATH, self._tickers),
            web.post(schemas.LOGIN_PATH, self._login),
            web.put(schemas.REFRESH_PATH, self._refresh),
            web.post(schemas.ORDERS_PATH, self._place),
            web.put(schemas.CANCEL_PATH, self._cancel),
            web.get(schemas.OPEN_ORDERS_PATH, self._open_orders),
            web.get(schemas.ACCOUNT_TRADES_PATH, self._account_trades),
            web.get(ACCOUNT_PATH, functools.partial(account, self)),
            web.get(self.ws_path, self._ws),
            web.get(schemas.MARKET_WS_PATH, self._market_ws),
        ])
        self.not_found_as_json(app)
        return app

    @staticmethod
    def _error(message: str, status: int = 400) -> web.Response:
        return web.json_response({"error": "BAD_REQUEST" if status == 400 else str(status), "message": message},
                                 status=status)

    def invalid_body(self, exc: Exception) -> Refused:
        return Refused(f"invalid request: {exc}")

    # session

    def _issue(self, account: str) -> dict:
        now = time.monotonic()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = (account, now + self.access_token_secs)
        self.refresh[refresh] = (account, now + self.refresh_token_secs)
        return {"accessToken": access, "accessTokenValidForSeconds": self.access_token_secs,
                "refreshToken": refresh, "refreshTokenValidForSeconds": self.refresh_token_secs}

    def _account(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        entry = self.access.get(token)
        if entry is None or time.monotonic() >= entry[1]:
            self.requests_401 += 1
            raise Refused("access token missing, unknown or expired", 401)
        return entry[0]

    def expire_access_tokens(self) -> None:
        """Fault: every access token stops working now (refresh tokens still do)."""
        self.access = {t: (a, 0.0) for t, (a, _) in self.access.items()}

    def expire_refresh_tokens(self) -> None:
        """Fault: refresh tokens stop working too: only a new login helps."""
        self.expire_access_tokens()
        self.refresh = {t: (a, 0.0) for t, (a, _) in self.refresh.items()}

    async def _login(self, request: web.Request) -> web.Response:
        self.count_request(request)
        body = await request.read()
        try:
            login = self.decode(body, schemas.login_decoder, "login", {"": schemas.Login.__struct_fields__})
            sig, pubkey = parse_serialized(request.headers.get("payloadSignature", ""), urlsafe=True)
        except (Refused, ValueError) as exc:
            return self._error(f"invalid login: {exc}")
        if login.audience != schemas.AUDIENCE:
            return self._error(f"unknown audience {login.audience!r}")
        if sui_address(pubkey) != login.accountAddress.lower() or not verify(blake2b256(body), sig, pubkey):
            return self._error("payloadSignature does not verify for accountAddress", 401)
        if abs(time.time_ns() // 1_000_000 - login.signedAtMillis) > LOGIN_MAX_AGE_MS:
            return self._error("signedAtMillis too far from now", 401)
        self.logins += 1
        return web.json_response(self._issue(login.accountAddress.lower()))

    async def _refresh(self, request: web.Request) -> web.Response:
        self.count_request(request)
        try:
            token = self.decode(await request.read(), schemas.refresh_decoder).refreshToken
        except Refused as exc:
            return self._error(str(exc), exc.status)
        entry = self.refresh.pop(token, None)  # a refresh token is used once
        if entry is None or time.monotonic() >= entry[1]:
            return self._error("refresh token unknown or expired", 401)
        self.refreshes += 1
        return web.json_response(self._issue(entry[0]))

    # public data: the market list and the tickers, no auth

    async def _exchange_info(self, request: web.Request) -> web.Response:
        """Every field of the SDK's ExchangeInfoResponse, none null (its models refuse a null);
        the addresses are this simulator's own."""
        self.public_requests[request.path] += 1
        if self.list_fault == "garbage":
            return web.Response(body=b"<html>bad gateway</html>", content_type="application/json")
        return web.json_response({
            "contractsConfig": {
                "edsId": self.eds_id, "idsId": self.ids_id, "network": "devnet",
                "baseContractAddress": self.contract_address, "currentContractAddress": self.contract_address,
                "operators": {role: "0x" + blake2b256(role.encode()).hex()
                              for role in ("admin", "operator", "sequencer", "funding", "fee")},
            },
            "assets": [{"assetType": self._address("USDC") + "::usdc::USDC", "symbol": "USDC", "decimals": 6,
                        "weight": str(10**9), "marginAvailable": True}],
            "markets": [] if self.list_fault == "empty" else [self._market_info(m) for m in self.markets.values()],
            "tradingGasFeeE9": "0",
            "serverTimeAtMillis": time.time_ns() // 1_000_000,
            "timezone": "UTC",
        })

    def _address(self, name: str) -> str:
        return "0x" + blake2b256(name.encode() + self.ids_id.encode()).hex()

    def _market_info(self, m: Market) -> dict:
        """The SDK's Market model, every field: steps and limits as e9 strings."""
        e9 = lambda value: str(value // E9_TO_E18)  # noqa: E731
        return {
            "symbol": m.symbol, "marketAddress": self._address(m.symbol), "status": m.status,
            "baseAssetSymbol": m.base, "baseAssetName": m.base, "baseAssetDecimals": 9,
            "stepSizeE9": e9(m.lot), "tickSizeE9": e9(m.tick), "minOrderQuantityE9": e9(m.min_quantity),
            "maxLimitOrderQuantityE9": e9(10**6 * m.lot), "maxMarketOrderQuantityE9": e9(10**5 * m.lot),
            "minOrderPriceE9": e9(m.tick), "maxOrderPriceE9": e9(10**9 * m.tick),
            "maintenanceMarginRatioE9": str(3 * 10**7), "initialMarginRatioE9": str(5 * 10**7),
            "insurancePoolRatioE9": str(3 * 10**8), "defaultLeverageE9": str(3 * 10**9),
            "maxNotionalAtOpenE9": [str(10**18 // (i + 1)) for i in range(20)],
            "minTradeQuantityE9": e9(m.min_quantity), "maxTradeQuantityE9": e9(10**6 * m.lot),
            "minTradePriceE9": e9(m.tick), "maxTradePriceE9": e9(10**9 * m.tick),
            "maxFundingRateE9": str(10**6), "defaultMakerFeeE9": str(10**5), "defaultTakerFeeE9": str(35 * 10**4),
            "insurancePoolAddress": self._address("insurance"), "feePoolAddress": self._address("fee"),
            "tradingStartTimeAtMillis": "0", "mtbLongE9": str(2 * 10**7), "mtbShortE9": str(2 * 10**7),
            "delistingPriceE9": "0", "isolatedOnly": False,
        }

    def _ticker_of(self, m: Market) -> dict:
        """The SDK's TickerResponse from this simulator's own book: best bid and ask, the last
        trade, and as mark (and oracle: there is no oracle here) the mid, else the last trade.
        A side with nothing on it is "0"."""
        bid, ask = self.engine.best_bid(m.symbol), self.engine.best_ask(m.symbol)
        last = self.engine.last_price(m.symbol)
        mid = (bid + ask) // 2 // m.tick * m.tick if bid is not None and ask is not None else None
        mark = mid if mid is not None else last
        e9 = lambda value: str((value or 0) // E9_TO_E18)  # noqa: E731
        now = time.time_ns() // 1_000_000
        depth = self.engine.depth(m.symbol, 1)
        bid_qty = depth[0][0][1] if depth[0] else 0
        ask_qty = depth[1][0][1] if depth[1] else 0
        return {
            "symbol": m.symbol, "lastQuantityE9": "0", "lastTimeAtMillis": now, "lastPriceE9": e9(last),
            "lastFundingRateE9": "0", "nextFundingTimeAtMillis": now // 3_600_000 * 3_600_000 + 3_600_000,
            "avgFundingRate8hrE9": "0", "oraclePriceE9": e9(mark), "oraclePriceDirection": 0,
            "markPriceE9": e9(mark), "markPriceDirection": 0, "marketPriceE9": e9(mid if mid is not None else last),
            "marketPriceDirection": 0, "bestBidPriceE9": e9(bid), "bestBidQuantityE9": e9(bid_qty),
            "bestAskPriceE9": e9(ask), "bestAskQuantityE9": e9(ask_qty), "openInterestE9": "0",
            "highPrice24hrE9": e9(last), "lowPrice24hrE9": e9(last), "volume24hrE9": "0", "quoteVolume24hrE9": "0",
            "closePrice24hrE9": e9(last), "openPrice24hrE9": e9(last), "closeTime24hrAtMillis": now,
            "openTime24hrAtMillis": now - 86_400_000, "firstId24hr": 0, "lastId24hr": 0, "count24hr": "0",
            "priceChange24hrE9": "0", "priceChangePercent24hrE9": "0", "updatedAtMillis": now,
            "estimatedFundingRateE9": "0",
        }

    def _prices_broken(self) -> web.Response | None:
        if self.prices_fault == "garbage":
            return web.Response(body=b"<html>502 Bad Gateway</html>", content_type="application/json")
        return None

    async def _ticker(self, request: web.Request) -> web.Response:
        self.public_requests[request.path] += 1
        broken = self._prices_broken()
        if broken is not None:
            return broken
        market = self.markets.get(request.query.get("symbol", ""))
        if market is None or self.prices_fault == "empty":
            return self._error("market not found", 404)
        return web.json_response(self._ticker_of(market))

    async def _tickers(self, request: web.Request) -> web.Response:
        self.public_requests[request.path] += 1
        broken = self._prices_broken()
        if broken is not None:
            return broken
        if self.prices_fault == "empty":
            return web.json_response([])
        return web.json_response([self._ticker_of(m) for m in self.markets.values()])

    # the public market-data stream

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        self.market_ws_url = self.ws_url.removesuffix(self.ws_path) + schemas.MARKET_WS_PATH
        self._ticker_task = asyncio.ensure_future(self._ticker_loop())

    async def stop(self) -> None:
        if self._ticker_task is not None:
            self._ticker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker_task
        await super().stop()

    def config_urls(self) -> dict[str, str]:
        """The config fields besides rest_url and ws_url that point at this simulator."""
        return {"market_ws_url": self.market_ws_url}

    async def drop_streams(self) -> None:
        await super().drop_streams()
        await self.drop_market_streams()

    async def drop_market_streams(self) -> None:
        """Fault: close every market-data socket."""
        for ws in list(self.market_sockets):
            await ws.close()

    async def _market_ws(self, request: web.Request) -> web.StreamResponse:
        self.public_requests[request.path] += 1  # connections: public, no token asked
        async with self.websocket(request) as ws:
            subscribed = self.market_sockets[ws] = set()
            try:
                async for text in self.texts(ws):
                    ok, message, method, markets = self._market_subscription(text)
                    await ws.send_str(msgspec.json.encode({"success": ok, "message": message}).decode())
                    if not ok:
                        continue
                    if method == "Unsubscribe":
                        subscribed.difference_update(markets)
                        continue
                    subscribed.update(markets)
                    await self._push_tickers(markets, only=ws)  # the current ticker at once
            finally:
                self.market_sockets.pop(ws, None)
        return ws

    def _market_subscription(self, text: str) -> tuple[bool, str, str, set[str]]:
        """(ok, the reply's message, method, markets): strict as the SDK's model; a market this
        simulator does not list, or a stream other than Ticker, is refused (our assumption of
        the venue's answer)."""
        try:
            sub = self.decode(text, schemas.market_subscribe_decoder, "market subscribe",
                              {"": schemas.MARKET_SUBSCRIBE_FIELDS, "dataStreams[]": schemas.MARKET_STREAMS_FIELDS})
        except Refused as exc:
            return False, str(exc), "", set()
        unknown = sorted(f"{d.symbol} {stream}" for d in sub.dataStreams for stream in d.streams
                         if d.symbol not in self.markets or stream != schemas.TICKER_STREAM)
        if sub.method not in ("Subscribe", "Unsubscribe") or unknown:
            return False, f"unknown method, market or stream: {sub.method} {unknown}", "", set()
        markets = {d.symbol for d in sub.dataStreams}
        return True, f"{sub.method}d to {', '.join(sorted(markets))}", sub.method, markets

    def _ticker_update(self, m: Market) -> str:
        """The SDK's TickerUpdate: the REST ticker's fields but estimatedFundingRateE9."""
        payload = self._ticker_of(m)
        del payload["estimatedFundingRateE9"]
        return msgspec.json.encode({"event": schemas.TICKER_UPDATE, "payload": payload}).decode()

    def _book_state(self, symbol: str) -> tuple:
        return self.engine.best_bid(symbol), self.engine.best_ask(symbol), self.engine.last_price(symbol)

    async def _push_tickers(self, markets: set[str] | None = None, *,
                            only: web.WebSocketResponse | None = None) -> None:
        """Each subscriber's markets (those of `markets` only, when given) as TickerUpdates."""
        if self.market_fault == "silent":
            return
        for ws, subscribed in list(self.market_sockets.items()):
            if only is not None and ws is not only:
                continue
            for symbol in sorted(subscribed if markets is None else subscribed & markets):
                market = self.markets.get(symbol)
                if market is None:  # delisted: no ticker any more
                    continue
                self._pushed[symbol] = self._book_state(symbol)
                frame = "<html>502 Bad Gateway</html>" if self.market_fault == "garbage" else self._ticker_update(market)
                await self._send(ws, frame)

    async def _push_book_changes(self) -> None:
        if not self.market_sockets:
            return
        changed = {s for s in self.markets if self._book_state(s) != self._pushed.get(s)}
        if changed:
            await self._push_tickers(changed)

    async def _ticker_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ticker_push_secs)
            try:
                await self._push_tickers()
            except Exception:  # noqa: BLE001 - a socket closing mid-push: the next round goes on
                log.exception("ticker push failed")

    # test hooks: the venue changes its list

    def set_status(self, symbol: str, status: str) -> None:
        """ACTIVE, BETA, MAINTENANCE (a halt) or DELISTED, as the SDK's MarketStatus."""
        self.markets[symbol] = replace(self.markets[symbol], status=status)

    def halt(self, symbol: str) -> None:
        self.set_status(symbol, "MAINTENANCE")

    def resume(self, symbol: str) -> None:
        self.set_status(symbol, schemas.MARKET_ACTIVE)

    def delist(self, symbol: str) -> None:
        """Gone from the list (orders on it are refused MARKET_NOT_FOUND)."""
        del self.markets[symbol]

    def set_steps(self, symbol: str, *, tick: int | None = None, lot: int | None = None,
                  min_quantity: int | None = None) -> None:
        """The venue changes a market's tick, lot or minimum (e18 ints); orders are held to it."""
        m = self.markets[symbol]
        self.markets[symbol] = replace(m, tick=m.tick if tick is None else tick, lot=m.lot if lot is None else lot,
                                       min_quantity=m.min_quantity if min_quantity is None else min_quantity)

    # orders

    def _verify_order(self, account: str, body: schemas.CreateOrder) -> tuple[str, tuple]:
        """Schema-level checks and the signature: a failure here is an HTTP error, no event."""
        f = body.signedFields
        if f.accountAddress.lower() != account:
            raise Refused("accountAddress is not the token's account", 403)
        if f.idsId != self.ids_id:
            raise Refused("idsId is not this exchange's")
        if f.side not in ("LONG", "SHORT") or body.type not in schemas.ORDER_TYPES \
                or (body.timeInForce is not None and body.timeInForce not in schemas.TIME_IN_FORCE) \
                or (body.selfTradePreventionType is not None and body.selfTradePreventionType not in schemas.STP_TYPES):
            raise Refused("side, type, timeInForce or selfTradePreventionType out of range")
        if body.type.startswith("STOP_") != (body.triggerPriceE9 is not None):
            raise Refused("triggerPriceE9 goes with STOP_LIMIT and STOP_MARKET, and only with them")
        try:
            values = (int(f.priceE9), int(f.quantityE9), int(f.leverageE9), int(f.salt))
        except ValueError:
            raise Refused("E9 fields and salt must be decimal-integer strings") from None
        if any(v < 0 or v >= 1 << 64 for v in values):
            raise Refused("E9 fields and salt must fit a u64")
        price, quantity, leverage, salt = values
        position = "ISOLATED" if f.isIsolated else "CROSS"
        fields = (f.idsId, f.accountAddress, f.symbol, price, quantity, leverage, f.side, position,
                  f.expiresAtMillis, salt, f.signedAtMillis)
        try:
            sig, pubkey = parse_serialized(body.signature)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        if sui_address(pubkey) != account or not verify(order_signing_digest(order_json(*fields)), sig, pubkey):
            raise Refused("signature does not verify for the account")
        return order_hash(*fields), fields

    def _admit(self, account: str, body: schemas.CreateOrder, digest: str) -> Order | str:
        """What the matching service checks after the ACK: an engine order, or the rejection reason."""
        f = body.signedFields
        market = self.markets.get(f.symbol)
        if market is None:
            return "MARKET_NOT_FOUND"
        if market.status != schemas.MARKET_ACTIVE:  # the reason's name is our assumption
            return "MARKET_NOT_ACTIVE"
        if digest in self.hashes:
            return "DUPLICATE_ORDER"
        self.hashes.add(digest)
        now = time.time_ns() // 1_000_000
        if now - f.signedAtMillis > SIGNED_AT_MAX_AGE_MS:
            return "SIGNED_AT_TOO_OLD"
        if f.expiresAtMillis <= now:
            return "ORDER_EXPIRED"
        price, quantity = int(f.priceE9) * E9_TO_E18, int(f.quantityE9) * E9_TO_E18
        is_market = body.type in ("MARKET", "STOP_MARKET")
        trigger = None
        if body.triggerPriceE9 is not None:
            if not body.triggerPriceE9.isdigit() or int(body.triggerPriceE9) <= 0:
                return "INVALID_TRIGGER_PRICE"
            trigger = int(body.triggerPriceE9) * E9_TO_E18
        if not is_market:
            if price <= 0:
                return "INVALID_PRICE"
            if price % market.tick:
                return "PRICE_OUT_OF_TICK_SIZE"
        if quantity <= 0 or quantity % market.lot or quantity < market.min_quantity:
            return "QUANTITY_OUT_OF_STEP_SIZE"
        # no timeInForce: GTT for a limit order, IOC for a market one
        tif = TIFS[body.timeInForce] if body.timeInForce else (TimeInForce.IOC if is_market else TimeInForce.GTC)
        if body.postOnly and tif is not TimeInForce.GTC:
            return "POST_ONLY_MUST_BE_GTT"
        return Order(
            order_id=digest, account=account, product=f.symbol, side=Side.BUY if f.side == "LONG" else Side.SELL,
            type=OrderType.MARKET if is_market else (OrderType.LIMIT_MAKER if body.postOnly else OrderType.LIMIT),
            tif=tif, price=None if is_market else price, quantity=quantity, client_id=body.clientOrderId,
            reduce_only=body.reduceOnly, stop_price=trigger,
            extra={"signed": f, "type": body.type, "timeInForce": body.timeInForce or tif_name(tif),
                   "postOnly": bool(body.postOnly), "triggerPriceE9": body.triggerPriceE9,
                   "stp": body.selfTradePreventionType or "MAKER", "signer": account},
        )

    async def _place(self, request: web.Request) -> web.Response:
        self.count_request(request)
        try:
            account = self._account(request)
            body = self.decode(await request.read(), schemas.create_decoder, "order",
                               {"": schemas.CREATE_ORDER_FIELDS, "signedFields": schemas.SIGNED_FIELDS})
            digest, _ = self._verify_order(account, body)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        work = self._process(account, body, digest)
        if self.faults.reorder_ack:
            await work  # the stream hears of it before the caller gets its ACK
        else:
            self.after_reply(work)
        self.wire_log.append(("ACK", digest))
        return web.json_response({"orderHash": digest}, status=202)

    async def _process(self, account: str, body: schemas.CreateOrder, digest: str) -> None:
        admitted = self._admit(account, body, digest)
        if isinstance(admitted, str):
            await self._send_frames(account, [self._cancellation(account, body.signedFields.symbol, digest, admitted,
                                                                 client_id=body.clientOrderId)])
            return
        try:
            updates = self.engine.submit(admitted)
        except EngineError as exc:
            await self._send_frames(account, [self._cancellation(account, body.signedFields.symbol, digest, "UNSPECIFIED",
                                                                 client_id=body.clientOrderId)])
            log.warning("engine refused %s: %s", digest, exc)
            return
        await self._publish(updates)

    # frames

    @staticmethod
    def _frame(event: str, reason: str | None, payload: dict) -> str:
        return msgspec.json.encode({"event": event, "reason": reason, "payload": payload}).decode()

    def _cancellation(self, account: str, symbol: str, digest: str | None, reason: str | None, *,
                      failure: str | None = None, client_id: str | None = None, remaining: int = 0,
                      why: str = schemas.ORDER_CANCELLED) -> tuple[str, str]:
        payload = {"orderHash": digest or "", "clientOrderId": client_id, "symbol": symbol,
                   "accountAddress": account, "createdAtMillis": time.time_ns() // 1_000_000,
                   "cancellationReason": reason, "failureToCancelReason": failure,
                   "remainingQuantityE9": str(remaining // E9_TO_E18)}
        return "OrderCancellation", self._frame(schemas.ACCOUNT_ORDER_UPDATE, why, payload)

    def _order_payload(self, order: Order, status: str) -> dict:
        f: schemas.SignedFields = order.extra["signed"]
        payload = {
            "orderHash": order.order_id, "clientOrderId": order.client_id, "symbol": order.product,
            "accountAddress": f.accountAddress, "priceE9": f.priceE9, "quantityE9": f.quantityE9,
            "filledQuantityE9": str(order.filled // E9_TO_E18),
            "remainingQuantityE9": str(order.remaining // E9_TO_E18 if order.is_open else 0),
            "side": f.side, "leverageE9": f.leverageE9, "isIsolated": f.isIsolated, "salt": f.salt,
            "expiresAtMillis": f.expiresAtMillis, "signedAtMillis": f.signedAtMillis,
            "signerAddress": order.extra["signer"], "type": order.extra["type"], "reduceOnly": order.reduce_only,
            "postOnly": order.extra["postOnly"], "timeInForce": order.extra["timeInForce"],
            "status": status, "selfTradePreventionType": order.extra["stp"],
            "createdAtMillis": order.created_ns // 1_000_000, "updatedAtMillis": time.time_ns() // 1_000_000,
        }
        if order.extra["triggerPriceE9"] is not None:
            payload["triggerPriceE9"] = order.extra["triggerPriceE9"]
        return payload

    @staticmethod
    def _trade_payload(order, trade) -> dict:
        price, quantity = trade.price // E9_TO_E18, trade.quantity // E9_TO_E18
        return {
            "id": trade.trade_id, "clientOrderId": order.client_id, "symbol": order.product,
            "orderHash": order.order_id, "orderType": order.extra["type"], "tradeType": "ORDER",
            "side": "LONG" if order.side is Side.BUY else "SHORT",
            "isMaker": trade.maker_order_id == order.order_id,
            "priceE9": str(price), "quantityE9": str(quantity),
            "quoteQuantityE9": str(price * quantity // 10**9), "tradingFeeE9": "0",
            "executedAtMillis": trade.ts_ns // 1_000_000}

    def _order_frames(self, update: Update) -> list[tuple[str, str]]:
        order = update.order
        frames = []
        for trade in update.new_trades:
            frames.append((schemas.ACCOUNT_TRADE_UPDATE, self._frame(
                schemas.ACCOUNT_TRADE_UPDATE, schemas.ORDER_MATCHED, {"trade": self._trade_payload(order, trade)})))
        status, reason = order.status, order.reason
        if status is Status.UNTRIGGERED:
            wire, why = schemas.STANDBY, schemas.ORDER_CREATED
        elif status is Status.OPEN:
            wire, why = schemas.OPEN, schemas.ORDER_CREATED
        elif status is Status.PARTIALLY_FILLED:
            wire, why = schemas.PARTIALLY_FILLED_OPEN, schemas.ORDER_MATCHED
        elif status is Status.FILLED:
            wire, why = schemas.FILLED, schemas.ORDER_MATCHED
        elif reason in (Reason.IOC_REMAINDER, Reason.FOK_UNFILLED, Reason.NO_LIQUIDITY):
            # the seed: no dedicated cancel event for what an IOC could not fill
            wire = schemas.PARTIALLY_FILLED_CANCELED if order.filled else schemas.CANCELLED
            why = schemas.ORDER_CANCELLED
        else:
            frames.append(self._cancellation(order.account, order.product, order.order_id,
                                             ENGINE_REASON.get(reason, "UNSPECIFIED"),
                                             client_id=order.client_id, remaining=order.remaining))
            return frames
        frames.append(("ActiveOrder", self._frame(schemas.ACCOUNT_ORDER_UPDATE, why,
                                                  self._order_payload(order, wire))))
        return frames

    async def _publish(self, updates: list[Update]) -> None:
        if self.mm is not None:
            updates = updates + self.mm.refill()
        by_account: dict[str, list[tuple[str, str]]] = {}
        for update in updates:
            if "signed" in update.order.extra:  # the market maker has no account stream
                by_account.setdefault(update.order.account, []).extend(self._order_frames(update))
        for account, frames in by_account.items():
            await self._send_frames(account, frames)
        await self._push_book_changes()

    async def _send_frames(self, account: str, frames: list[tuple[str, str]]) -> None:
        for event, frame in frames:
            self.wire_log.append((event, frame))
        await self.deliver(account, [frame for _, frame in frames])

    # cancels and queries

    async def _cancel(self, request: web.Request) -> web.Response:
        self.count_request(request)
        try:
            account = self._account(request)
            body = self.decode(await request.read(), schemas.cancel_decoder, "cancel", {"": schemas.CANCEL_FIELDS})
            if body.orderHashes is not None and len(body.orderHashes) > schemas.MAX_CANCEL_HASHES:
                raise Refused(f"at most {schemas.MAX_CANCEL_HASHES} orderHashes")
        except Refused as exc:
            return self._error(str(exc), exc.status)
        self.after_reply(self._do_cancel(account, body))
        return web.json_response({}, status=202)

    async def _do_cancel(self, account: str, body: schemas.CancelOrders) -> None:
        symbol = body.symbol
        if symbol not in self.markets:
            await self._send_frames(account, [self._cancellation(account, symbol, h, None, failure="MARKET_NOT_FOUND")
                                              for h in body.orderHashes or [None]])
            return
        if not body.orderHashes:
            updates = self.engine.cancel_all(account, symbol)
            if not updates:
                await self._send_frames(account, [self._cancellation(account, symbol, None, None,
                                                                     failure="NO_OPEN_ORDERS_ON_MARKET")])
                return
            # one cancellation per order closed, each saying the whole market went
            await self._send_frames(account, [
                self._cancellation(account, symbol, u.order.order_id, schemas.USER_CANCELLED_ALL,
                                   client_id=u.order.client_id, why=schemas.ORDERS_FOR_MARKET_CANCELLED)
                for u in updates])
            if self.mm is not None:
                await self._publish([])
            return
        frames, updates = [], []
        for digest in body.orderHashes:
            try:
                updates.append(self.engine.cancel(account, digest))
            except EngineError:
                frames.append(self._cancellation(account, symbol, digest, None, failure="ORDER_NOT_FOUND"))
        await self._send_frames(account, frames)
        await self._publish(updates)

    async def _open_orders(self, request: web.Request) -> web.Response:
        self.count_request(request)
        try:
            account = self._account(request)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        symbol = request.query.get("symbol")
        status = {Status.OPEN: schemas.OPEN, Status.PARTIALLY_FILLED: schemas.PARTIALLY_FILLED_OPEN}
        return web.json_response([
            {**self._order_payload(o, status.get(o.status, schemas.STANDBY)),
             "orderTimeAtMillis": o.created_ns // 1_000_000}
            for o in self.engine.open_orders(account, symbol)])

    async def _account_trades(self, request: web.Request) -> web.Response:
        """The account's trade history, as the adapter's schemas assume it pages (the excerpts
        are silent): by symbol, from startTimeAtMillis (7 days ago unless given) to
        endTimeAtMillis (now unless given), both inclusive, less than 90 days apart; newest
        first; `limit` per page (500 unless given, at most 1000), `page` from 1."""
        self.count_request(request)
        query = request.query
        try:
            account = self._account(request)
            end_ms = int(query.get("endTimeAtMillis", time.time_ns() // 1_000_000))
            since_ms = int(query.get("startTimeAtMillis", end_ms - 7 * 86_400_000))
            limit = int(query.get("limit", schemas.TRADES_DEFAULT_LIMIT))
            page = int(query.get("page", "1"))
        except ValueError:
            return self._error("startTimeAtMillis, endTimeAtMillis, limit and page are integers", 400)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        if not 1 <= limit <= schemas.TRADES_PAGE_LIMIT or page < 1:
            return self._error(f"limit is 1 to {schemas.TRADES_PAGE_LIMIT} and page 1 or more", 400)
        if not 0 < end_ms - since_ms < schemas.TRADES_MAX_WINDOW_MS:
            return self._error("endTimeAtMillis must be after startTimeAtMillis, less than 90 days apart", 400)
        symbol = request.query.get("symbol")
        trades = [(t.ts_ns, self._trade_payload(o, t)) for o in self.engine.orders.values()
                  if o.account == account and (symbol is None or o.product == symbol)
                  for t in o.trades if since_ms <= t.ts_ns // 1_000_000 <= end_ms]
        trades.sort(key=lambda pair: -pair[0])  # stable: the same order page after page
        first = (page - 1) * limit
        return web.json_response([payload for _, payload in trades[first:first + limit]])

    # the account stream

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        try:
            account = self._account(request)
        except Refused as exc:
            return self._error(str(exc), exc.status)
        async with self.websocket(request) as ws:
            async for text in self.texts(ws):
                try:
                    sub = self.decode(text, schemas.subscribe_decoder, "subscribe", {"": schemas.SUBSCRIBE_FIELDS})
                except Refused as exc:
                    await ws.send_str(msgspec.json.encode({"success": False, "message": str(exc)}).decode())
                    continue
                unknown = set(sub.dataStreams) - STREAMS
                if sub.method not in ("Subscribe", "Unsubscribe") or unknown:
                    await ws.send_str(msgspec.json.encode({
                        "success": False, "message": f"unknown method or data streams: {sub.method} {sorted(unknown)}",
                    }).decode())
                    continue
                if sub.method == "Subscribe":
                    self.subscribe(account, ws)
                else:
                    self.subscribers.get(account, set()).discard(ws)
                await ws.send_str(msgspec.json.encode({
                    "success": True, "message": f"{sub.method}d to {', '.join(sub.dataStreams)}"}).decode())
        return ws


def catalogue_product(symbol: str, markets: dict[str, Market]) -> str | None:
    """The market a unified symbol names, as the gateway maps them: the venue's own symbol,
    else the one market on that base asset."""
    if symbol in markets:
        return symbol
    base = symbol.replace("/", "-").split("-")[0].upper()
    found = [m.symbol for m in markets.values() if m.base == base]
    return found[0] if len(found) == 1 else None


async def start_for(venue) -> BluefinSim:
    """The simulator for a configured Bluefin venue: the venue's own catalogue (the config is
    checked against it, never the source of it); the sim section's mid_prices pick which
    markets the market maker quotes."""
    from gateway.venues.config import SimConfig

    cfg = venue.sim or SimConfig()
    markets = {m.symbol: m for m in CATALOGUE}
    mids = {}
    for symbol, price in cfg.mid_prices.items():
        product = catalogue_product(symbol, markets)
        if product is None:
            log.warning("sim %s: no market for mid_prices symbol %s", venue.name, symbol)
            continue
        mids[product] = scaled(price)
    sim = BluefinSim(list(CATALOGUE), ids_id=venue.ids_id or "0x" + "1d" * 32, mid_prices=mids,
                     market_maker=cfg.market_maker, mm_levels=cfg.market_maker_levels,
                     mm_quantity=scaled(cfg.market_maker_quantity))
    return await sim.start_from(cfg)
