"""BSX secrets: the API key and secret, and the order signer key (the rules and messages
are gateway/venues/credentials.py's); and the renewed API key the daemon keeps.

A renewed key (api_key.py) is written to the daemon's state directory, never over the
configured key files or variables: those are the operator's, and read-only under the
unit's `LoadCredential=`. The state directory is `$STATE_DIRECTORY` under systemd (the
unit's `StateDirectory=`), else the journal's folder, else the nonce file's (both state
that must outlive the process). The file, `<venue>.renewed-api-key` (JSON, mode 0600),
names the configured key it renews by a digest: it is preferred over that key at the next
start, and ignored once the configured key is another one (the operator put in a new key).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway.signer import KeyFileError, Signer, check_secret_file
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.credentials import load_api_key, load_signer

RENEWED_KEY_SUFFIX = ".renewed-api-key"


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)
    signer: Signer = field(repr=False)


def load_credentials(config: BsxConfig) -> Credentials:
    """The configured key (files or environment) and the signer key."""
    key = load_api_key(config, lambda: secrets.token_hex(16), lambda: secrets.token_hex(32))
    signer = load_signer(config.signer_key_file, config.signer_key_env, "signer key", config.generate_key)
    return Credentials(api_key=key.api_key, api_secret=key.api_secret, signer=signer)


# the renewed key, in the state directory

class RenewedKey(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str
    api_secret: str
    renews: str  # renews_tag() of the configured key it descends from
    expired_at: int = 0  # ns; 0: the venue gave none

    def __repr__(self) -> str:  # never the secret, should one be printed
        return f"RenewedKey(renews={self.renews!r}, expired_at={self.expired_at})"


def renews_tag(configured_api_key: str) -> str:
    """What a renewed key file says of the configured key it renews: a digest, not the key."""
    return "sha256:" + hashlib.sha256(configured_api_key.encode()).hexdigest()


def state_directory(config: BsxConfig, journal_path: str | None = None) -> Path:
    """Where the daemon keeps what must outlive it: $STATE_DIRECTORY under systemd (its first
    folder), else the journal's folder, else the nonce file's."""
    env = os.environ.get("STATE_DIRECTORY", "")
    if env.split(":")[0]:
        return Path(env.split(":")[0])
    return Path(journal_path or config.nonce_file).resolve().parent


def renewed_key_path(config: BsxConfig, journal_path: str | None = None) -> Path:
    return state_directory(config, journal_path) / (re.sub(r"[^A-Za-z0-9_.-]", "_", config.name) + RENEWED_KEY_SUFFIX)


def read_renewed_key(path: Path) -> RenewedKey | None:
    """The renewed key saved at path, None if there is none; a file readable by others than its
    owner, or unreadable, is an error naming the file (never its contents)."""
    if not path.exists():
        return None
    check_secret_file(path, "renewed API key file")
    try:
        return msgspec.json.decode(path.read_bytes(), type=RenewedKey)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise KeyFileError(f"renewed API key file {path} is not one this gateway wrote: remove it") from None


def save_renewed_key(path: Path, key: RenewedKey) -> None:
    """Written whole or not at all: a new 0600 file synced and renamed over the old one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.encode(key) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power loss
    finally:
        os.close(folder)
