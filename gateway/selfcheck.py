"""`gateway selfcheck`: proves on this machine that the compiled core loads and
agrees with its reference implementations, before any order depends on it."""
from __future__ import annotations

import os
import tempfile
import time


def _check_keccak() -> str:
    from Crypto.Hash import keccak as oracle

    from gateway._core.keccak import keccak256

    for n in (0, 1, 135, 136, 137, 500):
        data = os.urandom(n)
        if keccak256(data) != oracle.new(digest_bits=256, data=data).digest():
            raise AssertionError(f"keccak256 disagrees with pycryptodome at length {n}")
    return "keccak-256 matches pycryptodome"


def _check_eip712() -> str:
    from gateway.eip712 import StructType, hash_typed_data
    from gateway.signer import Signer, recover_address

    types = {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
        "Ping": [{"name": "who", "type": "address"}, {"name": "n", "type": "uint64"}],
    }
    domain = {"name": "selfcheck", "chainId": 1}
    signer = Signer(os.urandom(32))
    message = {"who": signer.address, "n": 7}
    digest = hash_typed_data({"types": types, "primaryType": "Ping", "domain": domain, "message": message})
    if StructType(types, "Ping", domain).digest((signer.address, 7)) != digest:
        raise AssertionError("EIP-712 fast path disagrees with the general encoder")
    if recover_address(digest, signer.sign_digest(digest)) != signer.address:
        raise AssertionError("a signature does not recover to its signer")
    return "EIP-712 fast path, signing and recovery agree"


def _check_fixedpoint() -> str:
    from gateway._core.fixedpoint import format_scaled, parse_scaled

    if parse_scaled("65000.5", 18) != 65000500000000000000000 or format_scaled(10**18 // 100, 18) != "0.01":
        raise AssertionError("fixed-point conversion is wrong")
    return "fixed point parses and formats exactly"


def _check_nonce() -> str:
    from gateway._core.nonce import NonceAllocator

    with tempfile.TemporaryDirectory() as tmp:
        before = time.time_ns() // 1000
        with NonceAllocator(os.path.join(tmp, "nonce"), "us") as alloc:
            a, b = alloc.next(), alloc.next()
    if not before <= a < b:
        raise AssertionError("nonce allocator is not increasing from the clock")
    return "nonce allocator increases from the clock"


def run_selfcheck() -> list[str]:
    """Returns one line per check; raises AssertionError on the first failure."""
    return [
        _check_keccak(),
        _check_eip712(),
        _check_fixedpoint(),
        _check_nonce(),
    ]
