"""The Bluefin account key: a 32-byte ed25519 seed as hex, read as every venue secret is
(gateway/venues/credentials.py). Never logged."""
from __future__ import annotations

import secrets

from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bluefin.signing import Ed25519Key
from gateway.venues.credentials import read_secret


def load_key(config: BluefinConfig) -> Ed25519Key:
    text = read_secret(config.key_file, config.key_env, "ed25519 key", config.generate_key,
                       lambda: secrets.token_hex(32))
    try:
        seed = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValueError("ed25519 key: not hex") from None
    if len(seed) != 32:
        raise ValueError("ed25519 key: must be a 32-byte seed (64 hex digits)")
    return Ed25519Key(seed)
