"""Bluefin Pro's session: who the adapter is to the venue.

Login (POST /auth/token, the exact body bytes signed) gives an access and a
refresh token. A timer refreshes the access token before it expires (PUT
/auth/token/refresh) and logs in again when the refresh token has expired too.
A request the venue refuses with 401 anyway (a token revoked early) renews the
session once, single-flight (`renew` with the generation the caller saw), and
is sent again, re-signed: a 401 means the venue did not take it, so nothing is
lost or doubled. REST and the WS upgrade carry `Authorization: Bearer`.
"""
from __future__ import annotations

import asyncio
import time

from gateway.net.http import HttpClient, HttpError, Response
from gateway.venues.bluefin import schemas
from gateway.venues.errors import VenueError
from gateway.venues.base import VenueAdapter

JSON = b"Content-Type: application/json\r\n"
RESENDS = 2  # a request refused with 401 is sent again after a session renewal, at most this often


class BluefinSession:
    def __init__(self, adapter: VenueAdapter):  # the BluefinAdapter this is part of
        self.adapter = adapter
        self.http: HttpClient | None = None  # the auth host's client
        # pre-encoded so the order path adds it without formatting; holds the token: never logged
        self.headers = JSON
        self.access_token = ""
        self._refresh_token = ""
        self._access_expires = self._refresh_expires = 0.0
        self.generation = 0  # one more per new pair of tokens
        self.logins = self.refreshes = 0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._keeper: asyncio.Task | None = None

    async def start(self, http: HttpClient) -> None:
        """Log in, and keep the session fresh from now on."""
        self.http = http
        await self.login()
        self._keeper = asyncio.create_task(self._keep(), name=f"{self.adapter.name}-session")

    def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()

    async def login(self) -> None:
        ad = self.adapter
        body = schemas.encoder.encode(schemas.Login(accountAddress=ad.account,
                                                    signedAtMillis=time.time_ns() // 1_000_000))
        headers = JSON + f"payloadSignature: {ad.key.sign_login(body)}\r\n".encode()
        response = await self.http.request("POST", schemas.LOGIN_PATH, body, headers)
        if response.status != 200:
            raise VenueError("login_failed", f"{ad.name} login refused: {ad.error_text(response)}")
        self._set_tokens(schemas.tokens_decoder.decode(response.body))
        self.logins += 1

    async def _refresh(self) -> bool:
        body = schemas.encoder.encode(schemas.Refresh(refreshToken=self._refresh_token))
        response = await self.http.request("PUT", schemas.REFRESH_PATH, body, JSON)
        if response.status != 200:
            self.adapter.log.info("token refresh refused (%s): logging in again",
                                  self.adapter.error_text(response))
            return False
        self._set_tokens(schemas.tokens_decoder.decode(response.body))
        self.refreshes += 1
        return True

    def _set_tokens(self, tokens: schemas.Tokens) -> None:
        now = time.monotonic()
        self.access_token = tokens.accessToken
        self._refresh_token = tokens.refreshToken
        self._access_expires = now + tokens.accessTokenValidForSeconds
        self._refresh_expires = now + tokens.refreshTokenValidForSeconds
        self.headers = JSON + f"Authorization: Bearer {tokens.accessToken}\r\n".encode()
        self.generation += 1
        self._changed.set()

    async def renew(self, seen_generation: int | None = None) -> None:
        """Refresh, or log in when the refresh token is gone; callers that saw the same
        session share one renewal."""
        async with self._lock:
            if seen_generation is not None and seen_generation != self.generation:
                return  # someone renewed it while we waited
            if self._refresh_token and time.monotonic() < self._refresh_expires - 1:
                try:
                    if await self._refresh():
                        return
                except HttpError as exc:
                    self.adapter.log.warning("token refresh failed: %s", exc)
            await self.login()

    def _refresh_in(self) -> float:
        life = self._access_expires - time.monotonic()
        margin = min(self.adapter.config.token_refresh_margin_secs, max(life, 0) / 5)
        return max(life - margin, 0.05)

    async def _keep(self) -> None:
        while True:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), self._refresh_in())
                continue  # new tokens (a 401 renewed them): a new schedule
            except asyncio.TimeoutError:
                pass
            try:
                await self.renew(self.generation)
            except (HttpError, VenueError) as exc:
                self.adapter.log.error("session renewal failed, retrying: %s", exc)
                await asyncio.sleep(1)

    async def fresh_headers(self) -> bytes:
        """The request headers, the access token in them still valid."""
        if time.monotonic() >= self._access_expires:
            await self.renew(self.generation)
        return self.headers

    async def ws_headers(self, fresh: bool = False) -> dict[str, str]:
        if fresh:
            # the drop may have been the venue ending the session: never reconnect on a stale token
            await self.renew(self.generation)
        return {"Authorization": f"Bearer {self.access_token}"}

    async def get(self, http: HttpClient, path: str) -> Response:
        """A GET, sent again after a session renewal when the venue says 401."""
        for _ in range(RESENDS + 1):
            generation = self.generation
            response = await http.request("GET", path, b"", await self.fresh_headers())
            if response.status != 401:
                return response
            await self.renew(generation)
        return response
