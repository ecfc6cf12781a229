"""BSX secrets: the API key and secret, and the order signer key.

Files must be readable by their owner only; environment variables are the
alternative (systemd credentials). With generate_key (simulators only) any
missing file is created with fresh random contents. Values never appear in
messages: errors name the file or variable, not what is in it.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from gateway.signer import KeyFileError, Signer, check_secret_file
from gateway.venues.bsx.config import BsxConfig


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)
    signer: Signer = field(repr=False)


def _read_secret_file(path: str) -> str:
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


def _secret(path: str, env: str, what: str, generate: bool, make) -> str:
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
    return _read_secret_file(path)


def _signer(config: BsxConfig) -> Signer:
    if config.signer_key_env:
        return Signer.from_env(config.signer_key_env)
    if not config.signer_key_file:
        raise KeyFileError("signer key: set signer_key_file or signer_key_env")
    if config.generate_key and not os.path.exists(config.signer_key_file):
        try:
            return Signer.generate_file(config.signer_key_file)
        except FileExistsError:
            pass
    return Signer.from_file(config.signer_key_file)


def load_credentials(config: BsxConfig) -> Credentials:
    api_key = _secret(config.api_key_file, config.api_key_env, "API key", config.generate_key,
                      lambda: secrets.token_hex(16))
    api_secret = _secret(config.api_secret_file, config.api_secret_env, "API secret", config.generate_key,
                         lambda: secrets.token_hex(32))
    return Credentials(api_key=api_key, api_secret=api_secret, signer=_signer(config))


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
