"""Poloniex secrets: the API key and its HMAC secret (gateway/venues/credentials.py)."""
from __future__ import annotations

import secrets

from gateway.venues.credentials import ApiKey, load_api_key
from gateway.venues.poloniex.config import PoloniexConfig

Credentials = ApiKey


def load_credentials(config: PoloniexConfig) -> Credentials:
    return load_api_key(config, lambda: secrets.token_hex(16).upper(), lambda: secrets.token_hex(32))
