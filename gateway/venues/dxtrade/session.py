"""The DXtrade session: the token every request carries, and the venue's health.

`POST /dxsca-web/login` gives a token, sent as `Authorization: DXAPI <token>`;
`POST /dxsca-web/ping` keeps it alive. A 401 on any request logs in again
(once, however many requests saw it) and resends that request once, so a
request in flight is never lost to an expired session. Two HTTP clients:
the adapter's trading one (under the venue's rate limit, journaled) and the
session's own for login, ping and queries (neither).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from gateway.decoding import DECODE_ERRORS
from gateway.net.http import HttpClient, HttpError, Response
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.credentials import Credentials
from gateway.venues.dxtrade.wire import JSON, P
from gateway.venues.errors import VenueError
from gateway.venues.outbound import Outbound


class SessionVenue(Protocol):
    """What the session needs of its adapter (gateway/venues/dxtrade/adapter.py)."""
    name: str
    config: DxtradeConfig
    log: logging.Logger
    http: HttpClient | None  # trading requests: under the venue's rate limit
    outbound: Outbound
    session_up: bool

    def http_client(self, base_url: str, *, connections: int | None = None, limited: bool = True,
                    journaled: bool = True) -> HttpClient: ...

    def error_text(self, response: Response) -> str: ...


class DxtradeSession:
    def __init__(self, venue: SessionVenue, credentials: Credentials):
        self.venue = venue
        self.credentials = credentials
        self.query: HttpClient | None = None  # login, ping, order list: not trading requests
        self._token: str | None = None
        self.auth = b""  # the header lines every request carries (the token: never logged)
        self._login_lock = asyncio.Lock()
        self.logins = 0
        self._pinger: asyncio.Task | None = None

    @property
    def token(self) -> str | None:
        return self._token

    async def open(self) -> None:
        venue = self.venue
        self.query = venue.http_client(venue.config.rest_url, connections=2, limited=False, journaled=False)
        await self.login(None)
        self._pinger = asyncio.ensure_future(self._ping_loop())

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
        if self.query is not None:
            await self.query.close()

    async def login(self, stale: str | None) -> None:
        """Log in, unless someone already replaced the token `stale` that got the 401."""
        venue = self.venue
        async with self._login_lock:
            if self._token is not None and self._token != stale:
                return
            body = schemas.encoder.encode(schemas.Login(
                username=self.credentials.username, domain=venue.config.domain,
                password=self.credentials.password))
            response = await self.query.request("POST", f"{P}/login", body, JSON)
            if response.status != 200:
                # the reply never echoes the credentials; neither does this message
                raise VenueError("login_failed", f"{venue.name} login refused: {venue.error_text(response)}")
            try:
                token = schemas.login_decoder.decode(response.body).sessionToken
            except DECODE_ERRORS as exc:
                raise VenueError("login_failed", f"{venue.name}: unreadable login reply: {exc}") from None
            self._token = token
            self.auth = JSON + f"Authorization: DXAPI {token}\r\n".encode()
            self.logins += 1

    async def send(self, method: str, path: str, body=b"", extra: bytes = b"", *,
                   trading: bool = True) -> asyncio.Future:
        """Write one request; the future is its response, after one fresh login and
        resend if the session had expired (a request in flight is never lost to it)."""
        client = self.venue.http if trading else self.query
        token = self._token
        first = await client.send(method, path, body, self.auth + extra)
        out = asyncio.get_running_loop().create_future()

        def done(fut: asyncio.Future) -> None:
            if out.done():
                return
            if fut.exception() is not None:
                out.set_exception(fut.exception())
            elif fut.result().status == 401:
                asyncio.ensure_future(self._resend(out, token, client, method, path, body, extra))
            else:
                out.set_result(fut.result())

        first.add_done_callback(done)
        return out

    async def _resend(self, out, token, client, method, path, body, extra) -> None:
        venue = self.venue
        try:
            venue.log.info("session expired; logging in again")
            await self.login(token)
            if client is venue.http:
                await venue.outbound.pay()  # a trading request again: the venue's limit counts it
            out.set_result(await client.request(method, path, body, self.auth + extra))
        except Exception as exc:  # noqa: BLE001 - handed to whoever waits for the reply
            if not out.done():
                out.set_exception(exc)

    async def request(self, method: str, path: str, body=b"", extra: bytes = b"", *,
                      trading: bool = True) -> Response:
        return await (await self.send(method, path, body, extra, trading=trading))

    # health: no stream says the venue went away, the ping does

    async def _ping_loop(self) -> None:
        # every health_interval_secs (at least every ping_interval_secs, the session's keep-alive)
        config = self.venue.config
        while True:
            await asyncio.sleep(min(config.ping_interval_secs, config.health_interval_secs))
            await self.ping()

    async def ping(self) -> bool:
        venue = self.venue
        try:
            response = await self.request("POST", f"{P}/ping", trading=False)
        except (HttpError, VenueError) as exc:
            if venue.session_up:
                venue.log.warning("ping failed: %s; venue down until one answers", exc)
            venue.session_up = False
            return False
        up = response.status == 200
        if up != venue.session_up:
            venue.log.warning("venue %s", "back: ping answered" if up else f"down: ping answered {response.status}")
        venue.session_up = up
        return up
