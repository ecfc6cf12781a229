"""secp256k1 signing with one coincurve key built once per process.

Building a coincurve PrivateKey costs tens of microseconds and eth-account
rebuilds one for every signature; the Signer keeps it. Keys come from a hex
file that only its owner can read, or from an environment variable, and are
never shown by repr, str, logs or errors.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from coincurve import PrivateKey, PublicKey
from coincurve._libsecp256k1 import ffi, lib

from gateway._core.keccak import keccak256

__all__ = ["KeyFileError", "Signer", "checksum_address", "recover_address"]


class KeyFileError(ValueError):
    """A key file or variable that cannot be used; the message never holds the key."""


def checksum_address(raw20: bytes) -> str:
    """EIP-55 mixed-case hex of a 20-byte address."""
    hex_addr = raw20.hex()
    digest = keccak256(hex_addr.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(hex_addr))


def _parse_key(text: str, origin: str) -> bytes:
    value = text.strip()
    if value[:2] in ("0x", "0X"):
        value = value[2:]
    if len(value) != 64:
        raise KeyFileError(f"{origin}: expected 64 hex digits (32 bytes), found {len(value)} characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"{origin}: not hex") from None


def check_secret_file(p: Path, what: str) -> None:
    """A secret file must be readable by its owner only (0600 / 0400), except under
    $CREDENTIALS_DIRECTORY: there systemd (LoadCredential=) presents it read-only, maybe
    group-readable through an ACL, in a directory only the service can reach."""
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{what} {p} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not _in_credentials_directory(p):
        raise KeyFileError(f"{what} {p} has mode {stat.S_IMODE(mode):04o}: group and others must have "
                           f"no access (chmod 600 {p})")


def _in_credentials_directory(p: Path) -> bool:
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not creds:
        return False
    try:
        return p.resolve().is_relative_to(Path(creds).resolve())
    except OSError:
        return False


def fingerprint(secret: str | bytes) -> str:
    """A short name for a secret in logs and errors: never the secret, nor enough to find it."""
    data = secret.encode() if isinstance(secret, str) else secret
    return "sha256:" + hashlib.sha256(data).hexdigest()[:8]


class Signer:
    """One secp256k1 private key: address, digest signing (v = 27/28)."""

    __slots__ = ("_key", "_ctx", "_secret", "address_bytes", "address")

    def __init__(self, secret: bytes | str):
        raw = _parse_key(secret, "private key") if isinstance(secret, str) else bytes(secret)
        if len(raw) != 32:
            raise KeyFileError(f"private key: expected 32 bytes, got {len(raw)}")
        try:
            self._key = PrivateKey(raw)
        except ValueError:
            raise KeyFileError("private key: not a valid secp256k1 scalar") from None
        self._ctx = self._key.context.ctx
        self._secret = self._key.secret
        pub = self._key.public_key.format(compressed=False)[1:]
        self.address_bytes = keccak256(pub)[12:]
        self.address = checksum_address(self.address_bytes)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Signer:
        """Load a hex key from a file readable by its owner only (mode 0600 or 0400)."""
        p = Path(path)
        check_secret_file(p, "key file")
        return cls(_parse_key(p.read_text(), f"key file {p}"))

    @classmethod
    def from_env(cls, name: str) -> Signer:
        value = os.environ.get(name)
        if not value:
            raise KeyFileError(f"environment variable {name} is not set")
        return cls(_parse_key(value, f"environment variable {name}"))

    @classmethod
    def generate_file(cls, path: str | os.PathLike[str]) -> Signer:
        """Create a new random key in a 0600 file (for simulators and the embedded default)."""
        p = Path(path)
        p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = os.urandom(32)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret.hex() + "\n")
        return cls(secret)

    def sign_digest(self, digest: bytes) -> bytes:
        """65 bytes r ‖ s ‖ v over a ready 32-byte digest, v = recovery id + 27.

        Calls coincurve's own libsecp256k1 binding directly: the same C calls
        as PrivateKey.sign_recoverable without its per-call Python wrapping,
        which is a measurable share of an order's signing time. Buffers are
        per call so threads may share a Signer (cffi drops the GIL in C).
        """
        if len(digest) != 32:
            raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
        rsig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
        out = ffi.new("unsigned char[65]")
        recid = ffi.new("int *")
        if not lib.secp256k1_ecdsa_sign_recoverable(self._ctx, rsig, digest, self._secret, ffi.NULL, ffi.NULL):
            raise ValueError("secp256k1 signing failed")
        lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(self._ctx, out, recid, rsig)
        out[64] = recid[0] + 27
        return ffi.buffer(out, 65)[:]

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Signer holds a private key and cannot be pickled")


def recover_address(digest: bytes, signature: bytes) -> str:
    """The checksummed address whose key made signature (r ‖ s ‖ v, v 27/28) over digest."""
    if len(signature) != 65:
        raise ValueError(f"signature must be 65 bytes, got {len(signature)}")
    v = signature[64]
    if v not in (27, 28):
        raise ValueError(f"signature v must be 27 or 28, got {v}")
    pub = PublicKey.from_signature_and_message(signature[:64] + bytes((v - 27,)), digest, hasher=None)
    return checksum_address(keccak256(pub.format(compressed=False)[1:])[12:])
