"""BSX secrets: the API key and secret, and the order signer key (the rules and messages
are gateway/venues/credentials.py's).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from gateway.signer import Signer
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.credentials import load_api_key, load_signer


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)
    signer: Signer = field(repr=False)


def load_credentials(config: BsxConfig) -> Credentials:
    key = load_api_key(config, lambda: secrets.token_hex(16), lambda: secrets.token_hex(32))
    signer = load_signer(config.signer_key_file, config.signer_key_env, "signer key", config.generate_key)
    return Credentials(api_key=key.api_key, api_secret=key.api_secret, signer=signer)


def _replace_secret_file(path: str, value: str) -> None:
    # a new file of mode 0600 renamed over the old one: a reader sees the old or the new key
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def save_api_key(config: BsxConfig, api_key: str, api_secret: str) -> bool:
    """Keep a renewed key for the next start. Files are rewritten; a key from the
    environment cannot be: False, and the caller says so."""
    if config.api_key_env or config.api_secret_env or not config.api_key_file or not config.api_secret_file:
        return False
    # two renames: a crash between them leaves a key and secret that do not match, which
    # the venue refuses (code 16) at the next start: loud, never silently wrong
    _replace_secret_file(config.api_secret_file, api_secret)
    _replace_secret_file(config.api_key_file, api_key)
    return True
