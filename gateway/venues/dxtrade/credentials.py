"""DXtrade login secrets: username and password (gateway/venues/credentials.py); with
generate_credentials (simulators only) missing files are made.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from gateway.venues.credentials import read_secret
from gateway.venues.dxtrade.config import DxtradeConfig


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def load_credentials(config: DxtradeConfig) -> Credentials:
    username = read_secret(config.username_file, config.username_env, "username", config.generate_credentials,
                           lambda: f"sim-{secrets.token_hex(4)}")
    password = read_secret(config.password_file, config.password_env, "password", config.generate_credentials,
                           lambda: secrets.token_hex(16))
    return Credentials(username=username, password=password)
