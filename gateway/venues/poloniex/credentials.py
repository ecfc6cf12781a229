"""Poloniex secrets: the API key and its HMAC secret, from 0600 files or the
environment (the same rules and messages as BSX's; values never in errors)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from gateway.venues.bsx.credentials import _secret
from gateway.venues.poloniex.config import PoloniexConfig


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)


def load_credentials(config: PoloniexConfig) -> Credentials:
    api_key = _secret(config.api_key_file, config.api_key_env, "API key", config.generate_key,
                      lambda: secrets.token_hex(16).upper())
    api_secret = _secret(config.api_secret_file, config.api_secret_env, "API secret", config.generate_key,
                         lambda: secrets.token_hex(32))
    return Credentials(api_key=api_key, api_secret=api_secret)
