"""What every venue simulator offers besides its venue's protocol: the test
and demo hooks the contract suite and `gateway sim` use.

    rest_url, ws_url           where it listens, after `await start(host, port)`
    engine                     the shared MatchingEngine
    faults                     a Faults instance, flipped at run time
    await outside_trade(symbol, side, price, quantity)
                               a trader outside the gateway crosses the book
    await release_events()     deliver what faults.hold_events kept back
    await drop_streams()       close every WebSocket, as a venue restart would
    unknown_fields             Counter of "where.field" a request carried that the
                               venue's official client never sends (the contract
                               suite asserts adapters send none)
    await stop()
"""
from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web

from gateway._core.fixedpoint import parse_scaled


@dataclass
class Faults:
    reorder_ack: bool = False  # push the WS events first, then a REST reply as of acceptance
    duplicate_events: bool = False  # push every WS event twice
    hold_events: bool = False  # keep WS events back until release_events()
    reply_delay_ms: int = 0  # every REST reply waits this long (a slow venue; Citrex acts first)
    answer_429: int = 0  # the next N order requests get 429 with Retry-After: retry_after_s
    retry_after_s: int = 1
    held: list = field(default_factory=list)


def scaled(text: str) -> int:
    """A decimal string as the simulators' e18 integer."""
    return parse_scaled(text, 18)


class SimServer:
    """The aiohttp server and WebSocket fan-out the simulators share.

    A subclass provides app() and ws_path, keeps subscribers (account -> open
    sockets) and calls deliver() with each account's frames."""

    ws_path = "/ws"

    def __init__(self) -> None:
        self.faults = Faults()
        self.subscribers: dict[str, set[web.WebSocketResponse]] = {}
        self.unknown_fields: collections.Counter[str] = collections.Counter()
        # the last request bodies, decoded: what the tests compare with the official clients'
        self.received: collections.deque[tuple[str, object]] = collections.deque(maxlen=256)
        self._runner: web.AppRunner | None = None
        self.rest_url = self.ws_url = ""

    def app(self) -> web.Application:
        raise NotImplementedError

    def count_unknown(self, where: str, data: dict, known: Iterable[str]) -> None:
        """Accept, as the venue does, but count every field its official client never sends:
        an adapter that drifts from the client fails the contract suite, not production."""
        for name in data.keys() - set(known):
            self.unknown_fields[f"{where}.{name}"] += 1

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

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # port 0: learn the one chosen
        self.rest_url = f"http://{host}:{bound}"
        self.ws_url = f"ws://{host}:{bound}{self.ws_path}"

    async def stop(self) -> None:
        await self.drop_streams()
        if self._runner is not None:
            await self._runner.cleanup()

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
