"""Keep-alive HTTP/1.1 client for the order path.

DESIGN.md "REST: which HTTP client" has the measurements behind this: on
uvloop a Protocol with httptools parsing costs about a fifth of aiohttp's CPU
per request. One request in flight per connection (no pipelining: a dropped
connection would leave every order in it unknown), a small pool of
connections, one write per request, TLS through an SSLContext.

`send()` returns once the request is handed to the connection, with a future
for the response; the venue's reply is handled when it comes. With a
`before_write` hook (the journal's flush_or_wait), requests made in one loop
turn are written together at its end, after the hook: what the journal holds
about them (a nonce) is on disk before they leave, in one write for all; when
the journal cannot write, they wait until the hook calls back.
"""
from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from gateway.net.ratelimit import TokenBucket, retry_after_s


class HttpError(Exception):
    """The request's fate is unknown or it failed below HTTP (connect, timeout, reset)."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


class _Connection(asyncio.Protocol):
    def __init__(self, pool: HttpClient):
        self._pool = pool
        self._keep = pool.keep_headers
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.deadline = 0.0  # loop time by which the waiter's response is due
        self.method = self.path = ""  # the waiter's request, named in its timeout
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._keep_alive = True
        self.closed = False

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad HTTP response from {self._pool.authority}: {exc}"))
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._pool._forget(self)
        self._fail(HttpError(f"connection to {self._pool.authority} lost" + (f": {exc}" if exc else "")))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if self._keep is None or name in self._keep:
            self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        response = Response(self._parser.get_status_code(), self._headers, b"".join(self._body))
        if response.status == 429 and self._pool.limiter is not None:
            self._pool.limiter.pause(retry_after_s(response.headers))
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if self._keep_alive and not self.closed:
            self._pool._release(self)
        else:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        connections: int = 4,
        timeout_ms: int = 5000,
        ssl_context: ssl.SSLContext | None = None,
        default_headers: dict[str, str] | None = None,
        limiter: TokenBucket | None = None,
        before_write: Callable[[Callable[[], None]], bool] | None = None,
        keep_headers: frozenset[bytes] | None = None,
    ):
        """limiter: the venue's rate limit, paused when the venue answers 429 (the client takes no
        tokens: the venue's line does, when a request leaves it). keep_headers: the lower-case
        response header names callers read (None: all)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.authority = f"{self.host}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self._ssl = ssl_context if ssl_context is not None else (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        self._max = connections
        self._timeout_s = timeout_ms / 1000
        self._idle: deque[_Connection] = deque()
        self._busy: set[_Connection] = set()
        self._opening = 0  # connections being opened: they count against the limit
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        host_header = self.host if parts.port is None else self.authority
        fixed = {"Host": host_header, "Connection": "keep-alive", **(default_headers or {})}
        self._fixed_headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._closing = False
        self.limiter = limiter
        self._before_write = before_write
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unwritten: list[tuple[_Connection, bytes]] = []
        self.keep_headers = keep_headers
        # one timer per client sweeps for overdue replies, instead of a timer per request (arming
        # and canceling one cost ~2.5 us per order): a reply is overdue after the timeout plus
        # at most one sweep period
        self._sweep_s = min(max(self._timeout_s / 8, 0.01), 0.5)
        self._sweeper: asyncio.TimerHandle | None = None

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                self._busy.add(conn)
                return conn
        return None

    async def _acquire(self) -> _Connection:
        while True:
            conn = self._take_idle()
            if conn is not None:
                return conn
            if self._room():
                loop = asyncio.get_running_loop()
                # counted from now: requests arriving while it connects must not open more
                self._opening += 1
                conn = None
                try:
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self._ssl),
                        self._timeout_s,
                    )
                except (OSError, asyncio.TimeoutError) as exc:
                    raise HttpError(f"cannot connect to {self.authority}: {exc or 'timeout'}") from None
                finally:
                    self._opening -= 1
                    if conn is None:
                        self._wake_one()  # the room it held is free again
                self._busy.add(conn)
                return conn
            slot = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(slot)
            await slot

    def _room(self) -> bool:
        """Whether another connection may be opened: the pool's connections, those being
        opened included, are fewer than configured."""
        return len(self._busy) + len(self._idle) + self._opening < self._max

    def has_slot(self) -> bool:
        """Whether a request could get a connection now without waiting for another's reply."""
        return bool(self._idle) or self._room()

    async def slot_free(self) -> None:
        """Return once a request could get a connection without waiting for another's reply."""
        while not self.has_slot():
            slot = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(slot)
            await slot
            if self.has_slot():
                self._wake_one()  # a slot we only looked at: the next waiter may take it
                return

    def _release(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if self._closing:
            conn.transport.close()
            return
        self._idle.append(conn)
        self._wake_one()

    def _forget(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._slot_waiters:
            slot = self._slot_waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return

    async def send(
        self,
        method: str,
        path: str,
        body: bytes | Callable[[], bytes] = b"",
        headers: bytes = b"",
    ) -> asyncio.Future[Response]:
        """Write one request; returns a future of its response (HttpError on failure).

        body may be a callable, called once a connection is ready: order bodies
        carry a nonce and a signature, which must be made as late as possible.
        headers: pre-encoded "Name: value\\r\\n" lines, so callers on the order
        path build them without a dict.
        """
        if self._closing:
            raise HttpError(f"{method} {path}: the client is closed (the gateway is stopping)")
        conn = self._take_idle() or await self._acquire()
        if callable(body):
            try:
                body = body()
            except BaseException:
                self._release(conn)
                raise
        loop = self._loop
        if loop is None:
            # looked up once: asyncio.get_running_loop() costs a getpid() per call on 3.11
            loop = self._loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        conn.waiter = waiter
        conn.deadline = loop.time() + self._timeout_s
        conn.method, conn.path = method, path
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_s, self._sweep)
        head = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n".encode("latin-1")
            + self._fixed_headers
            + headers
            + b"\r\n"
        )
        data = head + body if body else head
        if self._before_write is None:
            conn.transport.write(data)
        else:
            self._unwritten.append((conn, data))
            if len(self._unwritten) == 1:
                loop.call_soon(self._write_unwritten)
        return waiter

    def _write_unwritten(self) -> None:
        if not self._before_write(self._write_unwritten):
            return  # what the journal holds about these requests (a nonce) is not on file yet: they wait
        unwritten, self._unwritten = self._unwritten, []
        for conn, data in unwritten:
            if not conn.closed:
                conn.transport.write(data)

    def _sweep(self) -> None:
        loop = self._loop
        now = loop.time()
        waiting = False
        for conn in list(self._busy):
            waiter = conn.waiter
            if waiter is None or waiter.done():
                continue
            if now < conn.deadline:
                waiting = True
                continue
            conn.waiter = None
            waiter.set_exception(HttpError(f"{conn.method} {conn.path}: no response within {self._timeout_s:g} s"))
            # the connection's state is unknown now: never reuse it
            conn.transport.close()
        self._sweeper = loop.call_later(self._sweep_s, self._sweep) if waiting else None

    async def request(
        self, method: str, path: str, body: bytes | Callable[[], bytes] = b"", headers: bytes = b""
    ) -> Response:
        return await (await self.send(method, path, body, headers))

    async def close(self) -> None:
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._idle) + list(self._busy):
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()
