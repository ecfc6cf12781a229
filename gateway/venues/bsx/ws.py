"""BSX orders channel: picows client, HMAC auth, subscribe, app-level ping,
reconnect with jittered backoff (re-auth and resubscribe every time)."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import picows

from gateway.venues.bsx import schemas
from gateway.venues.bsx.signing import ws_auth_signature

log = logging.getLogger("gateway.venue.bsx.ws")

_PING = b'{"op":"ping"}'


class _Listener(picows.WSListener):
    def __init__(self, stream: OrderStream):
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


class OrderStream:
    """Keeps the orders subscription up; calls on_message with each raw frame.

    The adapter sets `up` when the subscription's snapshot arrives (that is
    when the stream is in step with the venue) and reconciles from it.
    """

    def __init__(self, url: str, api_key: str, api_secret: str, on_message: Callable[[bytes], None],
                 *, ping_secs: float = 15.0):
        self.url = url
        self._key = api_key
        self._secret = api_secret
        self.on_message = on_message
        self._ping_secs = ping_secs
        self._transport: picows.WSTransport | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.up = asyncio.Event()
        self.reconnects = 0

    def _send(self, payload: bytes) -> None:
        if self._transport is None:
            raise ConnectionError("BSX stream is not connected")
        self._transport.send(picows.WSMsgType.TEXT, payload)

    def _auth_and_subscribe(self) -> None:
        ts = str(time.time_ns())
        self._send(schemas.encoder.encode({"op": "auth", "data": {
            "key": self._key, "timestamp": ts, "signature": ws_auth_signature(self._secret, self._key, ts)}}))
        # the venue handles a connection's frames in order: the sub follows the auth
        self._send(schemas.encoder.encode({"op": "sub", "channel": schemas.ORDERS_CHANNEL}))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bsx-ws")
        await asyncio.wait_for(self.up.wait(), 10)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self._ping_secs)
            try:
                self._send(_PING)
            except ConnectionError:
                return

    async def _run(self) -> None:
        delay = 0.1
        while not self._stopping:
            pinger = None
            try:
                transport, _ = await picows.ws_connect(lambda: _Listener(self), self.url)
                self._auth_and_subscribe()
                pinger = asyncio.ensure_future(self._ping())
                delay = 0.1
                await transport.wait_disconnected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: back off and retry
                log.warning("bsx stream: %s", exc)
            finally:
                if pinger is not None:
                    pinger.cancel()
            self.up.clear()
            if self._stopping:
                break
            self.reconnects += 1
            # full jitter keeps many gateways from reconnecting in step
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 30.0)

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
