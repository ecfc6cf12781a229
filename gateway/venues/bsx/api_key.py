"""The BSX API key: the REST headers that carry it, the wallet it belongs to, its renewal.

The key expires (`expired_at`); as the official SDK does, it is renewed 5
minutes ahead (POST /users/api-key). The new key goes into the pre-built
headers in one assignment, so a request is sent with the old key or the new
one, both valid then: none waits and none is dropped. The stream signs its
next auth with it (credentials()).

The new key is saved to the daemon's state directory (credentials.py: mode
0600, never over the configured key files, read-only under the unit's
`LoadCredential=`), and at the next start it is used instead of the
configured key it renews; should the venue refuse it there, the configured
key is tried. Logs name keys by fingerprint only.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Protocol

from gateway.net.http import HttpClient, HttpError, Response
from gateway.signer import fingerprint
from gateway.venues.bsx import schemas
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.bsx.credentials import Credentials, RenewedKey, read_renewed_key, renews_tag, save_renewed_key
from gateway.venues.bsx.wire import JSON
from gateway.venues.errors import VenueError

RENEW_RETRY_S = 5.0


def key_headers(api_key: str, api_secret: str) -> bytes:
    """The raw header lines of every REST request: they hold the secret, so they are never logged."""
    return JSON + f"bsx-key: {api_key}\r\nbsx-secret: {api_secret}\r\n".encode("latin-1")


class KeyVenue(Protocol):
    """What the key keeper needs of its adapter (gateway/venues/bsx/adapter.py)."""
    name: str
    config: BsxConfig
    log: logging.Logger
    http: HttpClient | None
    account: str

    def error_text(self, response: Response) -> str: ...


class ApiKey:
    def __init__(self, venue: KeyVenue, creds: Credentials, renewed_path: Path | None = None):
        self.venue = venue
        self.configured = creds  # the configured key: what a saved renewal renews
        self.renewed_path = renewed_path
        self.creds = self._renewed(creds) or creds
        self.headers = key_headers(self.creds.api_key, self.creds.api_secret)
        self.expires_ns = 0
        self.renewals = 0
        self._renewer: asyncio.Task | None = None

    def _renewed(self, configured: Credentials) -> Credentials | None:
        """The renewal of the configured key saved by an earlier run, if there is one."""
        path, log = self.renewed_path, self.venue.log
        saved = read_renewed_key(path) if path is not None else None
        if saved is None:
            return None
        if saved.renews != renews_tag(configured.api_key):
            log.warning("%s renews another API key than the configured one (%s): ignored", path,
                        fingerprint(configured.api_key))
            return None
        log.info("API key %s: the renewal of the configured %s saved in %s", fingerprint(saved.api_key),
                 fingerprint(configured.api_key), path)
        return dataclasses.replace(configured, api_key=saved.api_key, api_secret=saved.api_secret)

    def credentials(self) -> tuple[str, str]:
        """The current (api_key, api_secret): what the stream's next auth signs with."""
        return self.creds.api_key, self.creds.api_secret

    async def learn_wallet(self) -> None:
        """The wallet (`sender`) is the API key's; a configured one must agree. A saved renewal
        the venue refuses gives way to the configured key."""
        try:
            await self._learn_wallet()
        except VenueError as exc:
            if self.creds is self.configured or exc.code != "login_failed":
                raise
            self.venue.log.warning("the renewed API key from %s is refused (%s); trying the configured %s",
                                   self.renewed_path, exc, fingerprint(self.configured.api_key))
            self.creds = self.configured
            self.headers = key_headers(self.creds.api_key, self.creds.api_secret)
            await self._learn_wallet()

    async def _learn_wallet(self) -> None:
        venue = self.venue
        response = await venue.http.request("GET", "/users/api-key", b"", self.headers)
        if response.status != 200:
            raise VenueError("login_failed", f"{venue.name} GET /users/api-key: {venue.error_text(response)}")
        keys = schemas.api_keys_decoder.decode(response.body).api_keys
        mine = next((k for k in keys if k.api_key == self.creds.api_key), None)
        if mine is None or not mine.sender:
            raise VenueError("login_failed", f"{venue.name}: the venue lists no wallet for this API key")
        if venue.account and venue.account.lower() != mine.sender.lower():
            raise VenueError("config", f"{venue.name}: wallet {venue.account} is not the API key's ({mine.sender})")
        if mine.signer and mine.signer.lower() != self.creds.signer.address.lower():
            venue.log.warning("signer %s is not the one registered for this key (%s): orders will be refused",
                              self.creds.signer.address, mine.signer)
        venue.account = mine.sender
        self.expires_ns = int(mine.expired_at or 0)

    # renewal

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._keep(), name=f"{self.venue.name}-api-key")

    def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()

    async def _keep(self) -> None:
        """Renew the key API_KEY_RENEW_BEFORE_NS before it expires, as the SDK does."""
        while True:
            wait_s = (self.expires_ns - schemas.API_KEY_RENEW_BEFORE_NS - time.time_ns()) / 1e9
            if not self.expires_ns:
                return  # the venue gave no expiry: nothing to renew
            await asyncio.sleep(max(wait_s, 0))
            try:
                await self.renew()
            except (HttpError, VenueError) as exc:
                self.venue.log.error("API key renewal failed, retrying in %g s: %s", RENEW_RETRY_S, exc)
                await asyncio.sleep(RENEW_RETRY_S)

    async def renew(self) -> None:
        venue = self.venue
        response = await venue.http.request("POST", "/users/api-key", schemas.encoder.encode(schemas.NewApiKey()),
                                            self.headers)
        if response.status != 200:
            raise VenueError("venue_error", f"{venue.name} POST /users/api-key: {venue.error_text(response)}")
        key = schemas.api_key_reply_decoder.decode(response.body).api_key
        if not key.api_key or not key.api_secret:
            raise VenueError("venue_error", f"{venue.name} POST /users/api-key: no key in the reply")
        expires = int(key.expired_at or 0)
        if expires and expires - time.time_ns() <= schemas.API_KEY_RENEW_BEFORE_NS:
            # a key that would be renewed at once again: keep it, but do not spin on it
            venue.log.warning("the renewed API key expires within the renewal margin")
            expires = time.time_ns() + schemas.API_KEY_RENEW_BEFORE_NS + int(RENEW_RETRY_S * 1e9)
        self.creds = dataclasses.replace(self.creds, api_key=key.api_key, api_secret=key.api_secret)
        self.headers = key_headers(key.api_key, key.api_secret)  # one assignment: every later request carries it
        self.expires_ns = expires
        self.renewals += 1
        self._save(RenewedKey(key.api_key, key.api_secret, renews_tag(self.configured.api_key), expires))
        venue.log.info("API key renewed (now %s); it expires in %.0f s", fingerprint(key.api_key),
                       (expires - time.time_ns()) / 1e9)

    def _save(self, key: RenewedKey) -> None:
        log = self.venue.log
        if self.renewed_path is None:
            log.warning("no state directory: the renewed API key is kept in memory only")
            return
        try:
            save_renewed_key(self.renewed_path, key)
        except OSError as exc:  # the path, never the key: the message is the OS's about the file
            log.error("renewed API key could not be saved to %s (a restart uses the one before): %s",
                      self.renewed_path, exc.strerror or exc)
