"""EIP-712 typed-data hashing and signing.

`hash_typed_data` / `sign_typed_data` take the same `full_message` dict as
eth-account's `encode_typed_data(full_message=...)` and give byte-identical
results. They are general and allocate per call: use them for tests, tools and
rare messages. Venue adapters sign through `StructType`, which resolves the
type once and hashes with the compiled `_core.eip712.StructHasher`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gateway._core.eip712 import StructHasher
from gateway._core.keccak import keccak256

__all__ = [
    "DOMAIN_TYPE",
    "StructType",
    "domain_separator",
    "encode_type",
    "hash_struct",
    "hash_typed_data",
    "sign_typed_data",
    "type_hash",
]

_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")
_UINT = re.compile(r"^uint(\d+)$")
_INT = re.compile(r"^int(\d+)$")
_BYTESN = re.compile(r"^bytes(\d+)$")

Types = Mapping[str, Sequence[Mapping[str, str]]]


def _dependencies(primary: str, types: Types, found: set[str]) -> set[str]:
    if primary in found or primary not in types:
        return found
    found.add(primary)
    for field in types[primary]:
        base = field["type"]
        while (m := _ARRAY.match(base)) is not None:
            base = m.group(1)
        _dependencies(base, types, found)
    return found


def encode_type(primary: str, types: Types) -> str:
    """`Primary(fields)` followed by every referenced struct, sorted by name."""
    if primary not in types:
        raise ValueError(f"unknown struct type {primary!r}")
    deps = _dependencies(primary, types, set())
    deps.discard(primary)
    return "".join(
        name + "(" + ",".join(f"{f['type']} {f['name']}" for f in types[name]) + ")"
        for name in [primary, *sorted(deps)]
    )


def type_hash(primary: str, types: Types) -> bytes:
    return keccak256(encode_type(primary, types).encode())


def _as_int(value: Any, kind: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text, 10)
        except ValueError:
            raise ValueError(f"{kind}: {value!r} is not an integer") from None
    raise TypeError(f"{kind}: expected int, got {type(value).__name__}")


def _as_bytes(value: Any, kind: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{kind}: {value!r} is not hex") from None
    raise TypeError(f"{kind}: expected bytes or hex str, got {type(value).__name__}")


def check_width(kind: str) -> None:
    """ValueError unless a uint/int/bytesN type has a width EIP-712 defines: uint/int 8 to 256
    bits in steps of 8, bytes1 to bytes32 (the native core copies each into a 32-byte word)."""
    if (m := _BYTESN.match(kind)) is not None:
        if not 1 <= int(m.group(1)) <= 32:
            raise ValueError(f"{kind} is not an EIP-712 type: bytesN takes N from 1 to 32")
    elif (m := _UINT.match(kind) or _INT.match(kind)) is not None:
        bits = int(m.group(1))
        if not 8 <= bits <= 256 or bits % 8:
            raise ValueError(f"{kind} is not an EIP-712 type: {kind.rstrip('0123456789')} takes 8 to 256 bits, "
                             "in steps of 8")


def _encode_value(kind: str, value: Any, types: Types) -> bytes:
    if kind in types:
        return hash_struct(kind, value, types)
    if (m := _ARRAY.match(kind)) is not None:
        item, length = m.group(1), m.group(2)
        if length and len(value) != int(length):
            raise ValueError(f"{kind}: expected {length} items, got {len(value)}")
        return keccak256(b"".join(_encode_value(item, v, types) for v in value))
    if kind == "address":
        raw = _as_bytes(value, kind)
        if len(raw) != 20:
            raise ValueError(f"address: expected 20 bytes, got {len(raw)}")
        return bytes(12) + raw
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"bool: expected True or False, got {value!r}")
        return (1 if value else 0).to_bytes(32, "big")
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"string: expected str, got {type(value).__name__}")
        return keccak256(value.encode())
    if kind == "bytes":
        return keccak256(_as_bytes(value, kind))
    check_width(kind)
    if (m := _BYTESN.match(kind)) is not None:
        size = int(m.group(1))
        raw = _as_bytes(value, kind)
        if not 1 <= size <= 32 or len(raw) > size:
            raise ValueError(f"{kind}: {len(raw)} bytes do not fit")
        return raw.ljust(32, b"\0")
    if (m := _UINT.match(kind)) is not None:
        bits, number = int(m.group(1)), _as_int(value, kind)
        if not 0 <= number < 1 << bits:
            raise ValueError(f"{kind}: {number} is out of range")
        return number.to_bytes(32, "big")
    if (m := _INT.match(kind)) is not None:
        bits, number = int(m.group(1)), _as_int(value, kind)
        if not -(1 << (bits - 1)) <= number < 1 << (bits - 1):
            raise ValueError(f"{kind}: {number} is out of range")
        return number.to_bytes(32, "big", signed=True)
    raise ValueError(f"unknown EIP-712 type {kind!r}")


def hash_struct(primary: str, data: Mapping[str, Any], types: Types) -> bytes:
    parts = [type_hash(primary, types)]
    for field in types[primary]:
        name = field["name"]
        if name not in data:
            raise ValueError(f"{primary}.{name} is missing")
        parts.append(_encode_value(field["type"], data[name], types))
    return keccak256(b"".join(parts))


# the usual domain: name, version, chainId, verifyingContract
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

_DOMAIN_FIELDS = (
    ("name", "string"), ("version", "string"), ("chainId", "uint256"),
    ("verifyingContract", "address"), ("salt", "bytes32"),
)


def _with_domain_type(types: Types, domain: Mapping[str, Any]) -> Types:
    if "EIP712Domain" in types:
        return types
    # like eth-account: infer the domain type from the keys present, in canonical order
    inferred = [{"name": n, "type": t} for n, t in _DOMAIN_FIELDS if n in domain]
    return {**types, "EIP712Domain": inferred}


def domain_separator(domain: Mapping[str, Any], types: Types) -> bytes:
    return hash_struct("EIP712Domain", domain, _with_domain_type(types, domain))


def hash_typed_data(full_message: Mapping[str, Any]) -> bytes:
    """The 32-byte digest eth-account signs for `encode_typed_data(full_message=...)`."""
    types = full_message["types"]
    sep = domain_separator(full_message["domain"], types)
    primary = full_message["primaryType"]
    if primary == "EIP712Domain":
        return keccak256(b"\x19\x01" + sep)
    return keccak256(b"\x19\x01" + sep + hash_struct(primary, full_message["message"], types))


def sign_typed_data(private_key: Any, full_message: Mapping[str, Any]) -> bytes:
    """65 bytes r ‖ s ‖ v (v = 27 or 28). private_key: a Signer, 32 raw bytes or hex."""
    from gateway.signer import Signer

    signer = private_key if isinstance(private_key, Signer) else Signer(private_key)
    return signer.sign_digest(hash_typed_data(full_message))


_FAST_KINDS = (("uint", _UINT), ("int", _INT), ("bytesN", _BYTESN))


def _fast_field(name: str, kind: str) -> tuple[str, str, int]:
    if kind in ("address", "bool", "string", "bytes"):
        return (name, kind, 0)
    try:
        check_width(kind)
    except ValueError as exc:
        raise ValueError(f"field {name!r}: {exc}") from None
    for label, pattern in _FAST_KINDS:
        if (m := pattern.match(kind)) is not None:
            return (name, label, int(m.group(1)))
    raise ValueError(f"field {name!r} of type {kind!r} has no fast path: use hash_typed_data")


class StructType:
    """One struct type under one domain, resolved once, hashed natively.

    >>> order = StructType(types, "Order", domain)
    >>> order.digest((account, 0, 1002, True, 0, 0, expiry_ms, price_e18, qty_e18, nonce))

    Values go in field order, as a tuple; uint/int take ints, address takes a
    0x-hex str or 20 bytes.
    """

    __slots__ = ("hasher", "field_names", "digest", "struct_hash")

    def __init__(self, types: Types, primary: str, domain: Mapping[str, Any]):
        fields = [_fast_field(f["name"], f["type"]) for f in types[primary]]
        self.hasher = StructHasher(
            primary, type_hash(primary, types), domain_separator(domain, types), fields
        )
        self.field_names = self.hasher.field_names
        # bound once: adapters call these per order
        self.digest = self.hasher.digest
        self.struct_hash = self.hasher.struct_hash
