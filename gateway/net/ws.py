"""A venue WebSocket kept up: picows client, reconnect with jittered
exponential backoff, fragment reassembly, the closing handshake, optional
application-level pings. Venue packages say only what to send on open."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import picows

log = logging.getLogger("gateway.net.ws")


class _Listener(picows.WSListener):
    def __init__(self, stream: ReconnectingStream):
        self._stream = stream
        self._parts: list[bytes] = []

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._stream._transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == picows.WSMsgType.CLOSE:
            # picows leaves the closing handshake to us
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if kind not in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION):
            return
        payload = frame.get_payload_as_bytes()  # copies: the frame's buffer is reused
        if not frame.fin:
            self._parts.append(payload)
            return
        if self._parts:
            self._parts.append(payload)
            payload, self._parts = b"".join(self._parts), []
        self._stream.on_message(payload)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._stream._transport = None
        self._stream.up.clear()


# a connection up this long counts as good: the next reconnect starts from the shortest backoff
STABLE_S = 5.0


class ReconnectingStream:
    """on_open(stream) sends what the venue needs first (auth, subscribe); then
    on_up() is awaited, for reconciliation. `up` is set after on_up unless
    up_on_open is False (the owner sets it when, say, a snapshot arrives).
    headers(fresh) gives the upgrade request's headers; fresh is True on
    reconnects, so an expired session is renewed instead of refused forever."""

    def __init__(self, name: str, url: str, on_message: Callable[[bytes], None], *,
                 on_open: Callable[[ReconnectingStream], None] | None = None,
                 on_up: Callable[[], Awaitable[None]] | None = None,
                 headers: Callable[[bool], Awaitable[dict[str, str]]] | None = None,
                 ping: bytes | None = None, ping_secs: float = 15.0, up_on_open: bool = True,
                 max_backoff_s: float = 30.0):
        self.name = name
        self.url = url
        self.on_message = on_message
        self._on_open = on_open
        self._on_up = on_up
        self._headers = headers
        self._ping = ping
        self._ping_secs = ping_secs
        self._up_on_open = up_on_open
        self._max_backoff_s = max_backoff_s
        self._transport: picows.WSTransport | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.up = asyncio.Event()
        self.reconnects = 0

    def send(self, payload: bytes) -> None:
        if self._transport is None:
            raise ConnectionError(f"{self.name} stream is not connected")
        self._transport.send(picows.WSMsgType.TEXT, payload)

    @property
    def connected(self) -> bool:
        return self._transport is not None

    def drop(self) -> None:
        """Close the current connection (one that went silent): it is reconnected, with the backoff."""
        if self._transport is not None:
            self._transport.disconnect()

    async def start(self, timeout_s: float = 10) -> None:
        """Connect, and wait until up; timeout_s 0: return at once (the owner watches `up`)."""
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-ws")
        if timeout_s:
            await asyncio.wait_for(self.up.wait(), timeout_s)

    async def _pinger(self) -> None:
        while True:
            await asyncio.sleep(self._ping_secs)
            try:
                self.send(self._ping)
            except ConnectionError:
                return

    async def _run(self) -> None:
        delay = 0.1
        while not self._stopping:
            pinger = None
            try:
                headers = await self._headers(self.reconnects > 0) if self._headers else None
                transport, _ = await picows.ws_connect(
                    lambda: _Listener(self), self.url, extra_headers=headers,
                    # the venue's own ping, where it has one; else WS pings keep it honest
                    enable_auto_ping=self._ping is None, auto_ping_idle_timeout=15, auto_ping_reply_timeout=10,
                )
                if self._on_open is not None:
                    self._on_open(self)
                if self._ping is not None:
                    pinger = asyncio.ensure_future(self._pinger())
                if self._on_up is not None:
                    await self._on_up()
                if self._up_on_open:
                    self.up.set()
                opened = time.monotonic()
                await transport.wait_disconnected()
                # the backoff starts over only after a connection that held: one the venue accepts
                # and closes at once (a refused subscription, an overloaded server) keeps backing off
                if time.monotonic() - opened >= STABLE_S:
                    delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: back off and retry
                log.warning("%s stream: %s", self.name, exc)
            finally:
                if pinger is not None:
                    pinger.cancel()
            self.up.clear()
            if self._stopping:
                break
            self.reconnects += 1
            # full jitter keeps many gateways from reconnecting in step
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self._max_backoff_s)

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.send_close()
            self._transport.disconnect()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
