"""What every venue simulator offers besides its venue's protocol: the test
and demo hooks the contract suite and `gateway sim` use.

    rest_url, ws_url           where it listens, after `await start(host, port)`
    engine                     the shared MatchingEngine
    faults                     a Faults instance, flipped at run time
    await outside_trade(symbol, side, price, quantity)
                               a trader outside the gateway crosses the book
    await set_last_price(symbol, price)
                               a print elsewhere moves the market (stops may trigger)
    await release_events()     deliver what faults.hold_events kept back
    await drop_streams()       close every WebSocket, as a venue restart would
    requests                   how many requests the venue counted; requests_by_route
                               has them per "METHOD /path" (BsxSim's requests is that)
    received                   the last request bodies, decoded, as (where, body)
    unknown_fields             Counter of "where.field" a request carried that the
                               venue's official client never sends (the contract
                               suite asserts adapters send none)
    await stop()

and the plumbing every front end shares: requests counted and recorded,
bodies decoded as strictly as the official client's models, the 429 and
slow-reply faults, the WebSocket fan-out and its faults, the market maker an
outside trader meets. A front end keeps what is its venue's own: app()
(paths, auth, error shapes), _publish() (engine updates as the venue's
events), invalid_body() (its refusal of a body that does not decode) and,
where the venue names a product otherwise than the gateway, venue_product().
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from aiohttp import WSMsgType, web

from gateway._core.fixedpoint import parse_scaled
from gateway.decoding import DECODE_ERRORS
from gateway.sim.engine import MatchingEngine, Side, Update
from gateway.sim.market_maker import MarketMaker

if TYPE_CHECKING:
    from typing import Self

    from gateway.venues.config import SimConfig

log = logging.getLogger("gateway.sim")

T = TypeVar("T")
# where in a request body ("" the body, "a.b" nested, "items[]" each item of a list)
# -> the fields the venue's official client sends there
Known = Mapping[str, Collection[str]]


@dataclass
class Faults:
    reorder_ack: bool = False  # push the WS events first, then a REST reply as of acceptance
    duplicate_events: bool = False  # push every WS event twice
    hold_events: bool = False  # keep WS events back until release_events()
    reply_delay_ms: int = 0  # every REST reply waits this long (a slow venue; Citrex acts first)
    answer_429: int = 0  # the next N order requests get 429 with Retry-After: retry_after_s
    retry_after_s: int = 1
    held: list = field(default_factory=list)


class Refused(Exception):
    """A request the venue refuses; its front end answers it in the venue's error shape."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def scaled(text: str) -> int:
    """A decimal string as the simulators' e18 integer."""
    return parse_scaled(text, 18)


def trades_made(updates: list[Update]) -> int:
    # a trade touches its maker's order and its taker's: count each once
    return len({t.trade_id for u in updates for t in u.new_trades})


def _parts(data: object, path: str) -> list:
    parts = [data]
    for step in filter(None, path.split(".")):
        if step.endswith("[]"):
            parts = [x for part in parts if isinstance(part, dict) for x in (part.get(step[:-2]) or [])]
        else:
            parts = [part.get(step) for part in parts if isinstance(part, dict)]
    return parts


class SimServer:
    """The aiohttp server, WebSocket fan-out and request plumbing the simulators share.

    A subclass provides app() and ws_path, subscribe()s each account's sockets
    (opened with websocket()) and calls deliver() with each account's frames."""

    ws_path = "/ws"
    engine: MatchingEngine

    def __init__(self) -> None:
        self.faults = Faults()
        self.subscribers: dict[str, set[web.WebSocketResponse]] = {}
        self.unknown_fields: collections.Counter[str] = collections.Counter()
        # the last request bodies, decoded: what the tests compare with the official clients'
        self.received: collections.deque[tuple[str, object]] = collections.deque(maxlen=256)
        self.requests_by_route: collections.Counter[str] = collections.Counter()
        self.requests_429 = 0
        self.mm: MarketMaker | None = None
        self._runner: web.AppRunner | None = None
        self.rest_url = self.ws_url = ""

    def app(self) -> web.Application:
        raise NotImplementedError

    # requests

    @property
    def requests(self) -> int:
        return self.requests_by_route.total()

    def count_request(self, request: web.Request) -> None:
        """One request of those the venue counts (each front end says which: its tests compare them)."""
        self.requests_by_route[f"{request.method} {request.path}"] += 1

    def count_unknown(self, where: str, data: dict, known: Iterable[str]) -> None:
        """Accept, as the venue does, but count every field its official client never sends:
        an adapter that drifts from the client fails the contract suite, not production."""
        for name in data.keys() - set(known):
            self.unknown_fields[f"{where}.{name}"] += 1

    def record(self, where: str, data: object, known: Known) -> None:
        """Keep a request as it came and count the fields the official client never sends."""
        self.received.append((where, data))
        for path, names in known.items():
            for part in _parts(data, path):
                if isinstance(part, dict):
                    self.count_unknown(f"{where}.{path}" if path else where, part, names)

    def decode(self, raw: bytes | str, decoder: msgspec.json.Decoder[T], where: str = "",
               known: Known | None = None) -> T:
        """Decode as strictly as the official client's model: a body that does not fit is refused
        with the venue's invalid_body(). With known, the body is recorded first, under where."""
        try:
            if known is not None:
                self.record(where, msgspec.json.decode(raw), known)
            return decoder.decode(raw)
        except DECODE_ERRORS as exc:
            raise self.invalid_body(exc) from None

    async def read_body(self, request: web.Request, decoder: msgspec.json.Decoder[T],
                        known: Known | None = None) -> T:
        """The request's body, decoded (and with known, recorded as "METHOD /path")."""
        return self.decode(await request.read(), decoder, f"{request.method} {request.path}", known)

    def invalid_body(self, exc: Exception) -> Refused:
        """What the front end raises for a body that does not decode: the venue's own refusal."""
        raise NotImplementedError

    # faults, and which goes first: a reply or the events it causes

    def refuse_next(self) -> bool:
        """Fault answer_429: whether this order request is one of the next N the venue refuses."""
        if self.faults.answer_429 <= 0:
            return False
        self.faults.answer_429 -= 1
        self.requests_429 += 1
        return True

    def too_many_requests(self, body: dict) -> web.Response:
        """The venue's 429, in its own error shape, saying when to come back."""
        return web.json_response(body, status=429, headers={"Retry-After": str(self.faults.retry_after_s)})

    async def slow_reply(self) -> None:
        """Fault reply_delay_ms: a slow venue."""
        if self.faults.reply_delay_ms:
            await asyncio.sleep(self.faults.reply_delay_ms / 1000)

    async def reply_and_push(self, reply: dict, push: Coroutine[Any, Any, None]) -> web.Response:
        """A REST reply and the WS events it causes: the reply first, as on the venue, or with
        faults.reorder_ack the events first (reply as of acceptance, which the caller built)."""
        if self.faults.reorder_ack:
            await push
            await asyncio.sleep(0.02)
        else:
            self.after_reply(push)
        return web.json_response(reply)

    @staticmethod
    def after_reply(work: Coroutine[Any, Any, None]) -> None:
        # started a loop turn after the handler returns: its reply goes out first, as the venue's does
        asyncio.get_running_loop().call_soon(asyncio.ensure_future, work)

    # the market

    async def _publish(self, updates: list[Update]) -> None:
        """Tell the venue's clients what the engine did, as the venue's events."""
        raise NotImplementedError

    def venue_product(self, symbol: str) -> str:
        """The engine's product for a unified symbol ("ETH-PERP"): the venue's own name for it."""
        return symbol

    def take(self, product: str, side: Side, price: int, quantity: int) -> list[Update]:
        """An outside trader's IOC (scaled price and quantity) against the market maker."""
        if self.mm is None:
            raise RuntimeError("the simulator runs without a market maker")
        return self.mm.take(product, side, price, quantity)

    async def outside_trade(self, symbol: str, side: str, price: str, quantity: str) -> int:
        """An outside trader sends an IOC ("buy" or "sell", decimal strings); returns the trades made."""
        updates = self.take(self.venue_product(symbol), Side.BUY if side == "buy" else Side.SELL,
                            scaled(price), scaled(quantity))
        await self._publish(updates)
        return trades_made(updates)

    async def set_last_price(self, symbol: str, price: str) -> None:
        """A print elsewhere moves the market (and may trigger stops)."""
        await self._publish(self.engine.set_last_price(self.venue_product(symbol), scaled(price)))

    # the server

    @staticmethod
    def not_found_as_json(app: web.Application, body: dict | None = None) -> None:
        """Unknown paths answer 404 with a JSON body (clients crash on a text one)."""
        body = body or {"message": "not found"}

        @web.middleware
        async def json_404(request: web.Request, handler):
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return web.json_response(body, status=404)
            except web.HTTPMethodNotAllowed:
                return web.json_response({**body, "message": "method not allowed"}, status=405)

        app.middlewares.append(json_404)

    @web.middleware
    async def _client_gone(self, request: web.Request, handler):
        """The client closed the connection before its request was read or answered (it gave up
        on a slow reply): one line. aiohttp would log a traceback for each; what the venue does
        with such a request is its front end's (a body it could not read was not acted on)."""
        try:
            return await handler(request)
        except ConnectionError as exc:
            log.warning("%s %s: the client went away before its request was read or answered (%s: %s)",
                        request.method, request.path, type(exc).__name__, exc)
            return web.Response(status=499)  # written to nobody: the connection is gone

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = self.app()
        app.middlewares.insert(0, self._client_gone)  # outermost: whatever a front end's own raise
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # port 0: learn the one chosen
        self.rest_url = f"http://{host}:{bound}"
        self.ws_url = f"ws://{host}:{bound}{self.ws_path}"

    async def start_from(self, cfg: SimConfig) -> Self:
        """Take the [venues.sim] section's faults and listen where it says."""
        self.faults.reorder_ack = cfg.reorder_ack
        self.faults.duplicate_events = cfg.duplicate_events
        self.faults.reply_delay_ms = cfg.reply_delay_ms
        await self.start(cfg.host, cfg.port)
        return self

    async def stop(self) -> None:
        await self.drop_streams()
        if self._runner is not None:
            await self._runner.cleanup()

    # WebSockets

    @contextlib.asynccontextmanager
    async def websocket(self, request: web.Request) -> AsyncIterator[web.WebSocketResponse]:
        """The accepted socket; once it closes it is no account's subscriber any more."""
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        try:
            yield ws
        finally:
            for sockets in self.subscribers.values():
                sockets.discard(ws)

    @staticmethod
    async def texts(ws: web.WebSocketResponse) -> AsyncIterator[str]:
        """What the client sends, frame by frame (the venues read text frames only)."""
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                yield msg.data

    @classmethod
    async def json_frames(cls, ws: web.WebSocketResponse, invalid: dict) -> AsyncIterator[dict]:
        """What the client sends as JSON objects; any other frame is answered with the venue's invalid."""
        async for text in cls.texts(ws):
            try:
                frame = msgspec.json.decode(text)
            except DECODE_ERRORS:
                frame = None
            if isinstance(frame, dict):
                yield frame
            else:
                await ws.send_json(invalid)

    def subscribe(self, account: str, ws: web.WebSocketResponse) -> None:
        self.subscribers.setdefault(account, set()).add(ws)

    async def deliver(self, account: str, frames: list[str]) -> None:
        """Send frames to the account's sockets, as the faults say (twice, or held back)."""
        copies = 2 if self.faults.duplicate_events else 1
        for ws in list(self.subscribers.get(account, ())):
            for frame in frames:
                for _ in range(copies):
                    if self.faults.hold_events:
                        self.faults.held.append((ws, frame))
                    else:
                        await self._send(ws, frame)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: str) -> None:
        # a subscriber that went away misses the event, as on the venue
        if ws.closed:
            return
        try:
            await ws.send_str(frame)
        except ConnectionError:
            pass

    async def release_events(self) -> None:
        held, self.faults.held = self.faults.held, []
        self.faults.hold_events = False
        for ws, frame in held:
            await self._send(ws, frame)

    async def drop_streams(self) -> None:
        """Fault: close every WebSocket, as a venue restart would."""
        for sockets in list(self.subscribers.values()):
            for ws in list(sockets):
                await ws.close()
