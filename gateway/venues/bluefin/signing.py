"""Bluefin Pro signatures: ed25519 (signing: cryptography; verifying: pycryptodome) over blake2b-256 digests.

- order: the signed payload is the JSON of the order's fields, keys in a
  fixed order, indented 2 (what the SDK's JSON.stringify(obj, null, 2) gives),
  BCS-encoded as a string (ULEB128 length, then the bytes) behind the intent
  bytes [3, 0, 0]; signed bytes = blake2b-256 of that. Sent as standard
  base64 of 0x00 ‖ sig(64) ‖ pubkey(32).
- login: blake2b-256 of the exact body bytes; urlsafe base64, same layout.
- order hash (what the venue answers with): blake2b-256 of the raw BCS
  bytes of the order's fields, lowercase hex without 0x (the current SDK;
  until May 2025 it hashed the ASCII hex of those bytes, and answers made that
  way would never match).

The JSON is filled into a template instead of going through a JSON encoder:
every value is a hex address, a symbol we check once, a decimal-integer
string or a fixed word, so nothing needs escaping (bench/bench_bluefin.py
measures the difference; tests check it equals json.dumps(..., indent=2)).
"""
from __future__ import annotations

import base64
import hashlib
import re

from Crypto.Signature import eddsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_FLAG = b"\x00"
INTENT = b"\x03\x00\x00"
ORDER_TYPE = "Bluefin Pro Order"
_SYMBOL = re.compile(r"^[A-Za-z0-9_\-/.]{1,64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


def blake2b256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def uleb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sui_address(pubkey: bytes) -> str:
    return "0x" + blake2b256(ED25519_FLAG + pubkey).hex()


def signable_symbol(symbol: str) -> bool:
    return _SYMBOL.match(symbol) is not None


def check_symbol(symbol: str) -> str:
    if not signable_symbol(symbol):
        raise ValueError(f"market symbol {symbol!r} has characters the signed payload cannot carry")
    return symbol


def check_address(address: str) -> str:
    if not _ADDRESS.match(address):
        raise ValueError(f"{address!r} is not a 0x hex address")
    return address


def order_json(ids: str, account: str, market: str, price_e9: int, quantity_e9: int, leverage_e9: int,
               side: str, position_type: str, expiration_ms: int, salt: int, signed_at_ms: int) -> bytes:
    """The signed payload (ids, account and market checked by the caller once)."""
    return (
        '{\n  "type": "Bluefin Pro Order",\n  "ids": "%s",\n  "account": "%s",\n  "market": "%s",\n'
        '  "price": "%d",\n  "quantity": "%d",\n  "leverage": "%d",\n  "side": "%s",\n'
        '  "positionType": "%s",\n  "expiration": "%d",\n  "salt": "%d",\n  "signedAt": "%d"\n}'
        % (ids, account, market, price_e9, quantity_e9, leverage_e9, side, position_type, expiration_ms,
           salt, signed_at_ms)
    ).encode()


def order_signing_digest(payload: bytes) -> bytes:
    return blake2b256(INTENT + uleb128(len(payload)) + payload)


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:].rjust(64, "0"))


def _bcs_str(text: str) -> bytes:
    raw = text.encode()
    return uleb128(len(raw)) + raw


def order_hash(ids: str, account: str, market: str, price_e9: int, quantity_e9: int, leverage_e9: int,
               side: str, position_type: str, expiration_ms: int, salt: int, signed_at_ms: int) -> str:
    bcs = b"".join((
        _address_bytes(ids), _address_bytes(account), _bcs_str(market),
        price_e9.to_bytes(8, "little"), quantity_e9.to_bytes(8, "little"), leverage_e9.to_bytes(8, "little"),
        _bcs_str(side), _bcs_str(position_type),
        expiration_ms.to_bytes(8, "little"), salt.to_bytes(8, "little"), signed_at_ms.to_bytes(8, "little"),
    ))
    return blake2b256(bcs).hex()


class Ed25519Key:
    """The account key, built once: signs digests, knows its public key and address."""

    __slots__ = ("_sign", "pubkey", "address", "_suffix")

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an ed25519 key is a 32-byte seed")
        # cryptography (OpenSSL) signs in ~54 µs where pycryptodome takes ~1.3 ms here
        # (bench/bench_bluefin.py); ed25519 is deterministic, so both give the same bytes
        # (tests/integration/test_bluefin.py checks it), and pycryptodome stays the oracle
        key = Ed25519PrivateKey.from_private_bytes(seed)
        self._sign = key.sign
        self.pubkey = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.address = sui_address(self.pubkey)
        self._suffix = self.pubkey

    def __repr__(self) -> str:
        return f"Ed25519Key({self.address})"  # never the seed

    def serialized(self, message: bytes) -> bytes:
        """0x00 ‖ sig(64) ‖ pubkey(32)."""
        return ED25519_FLAG + self._sign(message) + self._suffix

    def sign_order(self, payload: bytes) -> str:
        return base64.b64encode(self.serialized(order_signing_digest(payload))).decode()

    def sign_login(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(self.serialized(blake2b256(body))).decode()


def parse_serialized(text: str, urlsafe: bool = False) -> tuple[bytes, bytes]:
    """(signature, pubkey) of a serialized signature; ValueError if malformed."""
    try:
        raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(text.encode())
    except Exception:  # noqa: BLE001
        raise ValueError("signature is not base64") from None
    if len(raw) != 97 or raw[:1] != ED25519_FLAG:
        raise ValueError("signature is not 0x00 ‖ sig(64) ‖ pubkey(32)")
    return raw[1:65], raw[65:]


def verify(message: bytes, signature: bytes, pubkey: bytes) -> bool:
    try:
        key = eddsa.import_public_key(pubkey)
        eddsa.new(key, "rfc8032").verify(message, signature)
        return True
    except (ValueError, TypeError):
        return False
