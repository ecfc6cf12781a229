"""The secrets venues read, each from a file readable by its owner only or from an
environment variable (systemd credentials). With generate (simulators only) a missing
file is made with fresh random contents. Values never appear in messages: errors name
the file or variable, not what is in it.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.signer import KeyFileError, Signer, check_secret_file
from gateway.venues.config import ApiKeyConfig


@dataclass(frozen=True)
class ApiKey:
    api_key: str
    api_secret: str = field(repr=False)


def load_api_key(config: ApiKeyConfig, make_key: Callable[[], str], make_secret: Callable[[], str]) -> ApiKey:
    return ApiKey(read_secret(config.api_key_file, config.api_key_env, "API key", config.generate_key, make_key),
                  read_secret(config.api_secret_file, config.api_secret_env, "API secret", config.generate_key,
                              make_secret))


def read_secret(path: str, env: str, what: str, generate: bool, make: Callable[[], str]) -> str:
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise KeyFileError(f"environment variable {env} ({what}) is not set")
        return value
    if not path:
        raise KeyFileError(f"{what}: set a file or an environment variable")
    if generate and not os.path.exists(path):
        try:
            _write_secret_file(path, make())
        except FileExistsError:
            pass  # another process (the simulator) made it first
    return read_secret_file(path)


def load_signer(path: str, env: str, what: str, generate: bool) -> Signer:
    """A secp256k1 key (64 hex digits), as read_secret reads a secret."""
    if env:
        return Signer.from_env(env)
    if not path:
        raise KeyFileError(f"{what}: set a file or an environment variable")
    if generate and not os.path.exists(path):
        try:
            return Signer.generate_file(path)
        except FileExistsError:
            pass  # another process (the simulator) made it first
    return Signer.from_file(path)


def read_secret_file(path: str) -> str:
    p = Path(path)
    check_secret_file(p, "secret file")
    value = p.read_text().strip()
    if not value:
        raise KeyFileError(f"secret file {p} is empty")
    return value


def _write_secret_file(path: str, value: str) -> None:
    p = Path(path)
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
