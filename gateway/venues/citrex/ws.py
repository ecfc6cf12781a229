"""Citrex account stream: picows client, JSON-RPC subscribe, reconnect with backoff."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import picows

from gateway.venues.citrex import schemas

log = logging.getLogger("gateway.venue.citrex.ws")


class _Listener(picows.WSListener):
    def __init__(self, stream: OrderStream):
        self._stream = stream
        self._parts: list[bytes] = []

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._stream._connected(transport)

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
        self._stream._disconnected()


class OrderStream:
    """Keeps the orders subscription up; calls on_message with each raw frame.

    headers(fresh) is awaited before every connect; fresh is True on reconnects,
    so a session that expired while we were away is renewed (a stale cookie would
    earn 401s forever). on_up runs after each (re)subscribe, for reconciliation.
    """

    def __init__(self, url: str, account: str, sub_account_id: int,
                 headers: Callable[[bool], Awaitable[dict[str, str]]],
                 on_message: Callable[[bytes], None],
                 on_up: Callable[[], Awaitable[None]] | None = None):
        self.url = url
        self._account = account
        self._sub = sub_account_id
        self._headers = headers
        self.on_message = on_message
        self._on_up = on_up
        self._transport: picows.WSTransport | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.up = asyncio.Event()
        self.reconnects = 0
        self._next_id = 0

    def _connected(self, transport: picows.WSTransport) -> None:
        self._transport = transport

    def _disconnected(self) -> None:
        self._transport = None
        self.up.clear()

    def send(self, method: str, params: dict) -> str:
        if self._transport is None:
            raise ConnectionError("Citrex stream is not connected")
        self._next_id += 1
        rid = str(self._next_id)
        self._transport.send(picows.WSMsgType.TEXT, schemas.encoder.encode(
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return rid

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="citrex-ws")
        await asyncio.wait_for(self.up.wait(), 10)

    async def _run(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                transport, _ = await picows.ws_connect(
                    lambda: _Listener(self), self.url, extra_headers=await self._headers(self.reconnects > 0),
                    enable_auto_ping=True, auto_ping_idle_timeout=15, auto_ping_reply_timeout=10,
                )
                self.send(schemas.WS_SUBSCRIBE, {"channel": schemas.ORDERS_CHANNEL,
                                                 "account": self._account, "subAccountId": self._sub})
                if self._on_up is not None:
                    await self._on_up()
                self.up.set()
                delay = 0.1
                await transport.wait_disconnected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: back off and retry
                log.warning("citrex stream: %s", exc)
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
