"""keccak, EIP-712 hashing and order signing against what a user would otherwise call."""
import os

import pytest
from coincurve import PrivateKey
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from gateway._core.keccak import keccak256
from gateway.eip712 import StructType, hash_typed_data
from gateway.signer import Signer
from tests.typed_data import CITREX_DOMAIN, CITREX_TYPES, citrex_message

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
SIGNER = Signer(KEY)
MESSAGE = citrex_message(SIGNER.address)
FULL = {"types": CITREX_TYPES, "primaryType": "Order", "domain": CITREX_DOMAIN, "message": MESSAGE}
ORDER = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
VALUES = tuple(MESSAGE[name] for name in ORDER.field_names)
DIGEST = ORDER.digest(VALUES)
DATA32 = os.urandom(32)


@pytest.mark.benchmark(group="keccak-32B")
def test_keccak_ours(benchmark):
    assert benchmark(keccak256, DATA32) == pycryptodome_keccak.new(digest_bits=256, data=DATA32).digest()


@pytest.mark.benchmark(group="keccak-32B")
def test_keccak_baseline_pycryptodome(benchmark):
    benchmark(lambda: pycryptodome_keccak.new(digest_bits=256, data=DATA32).digest())


@pytest.mark.benchmark(group="eip712-hash-citrex-order")
def test_eip712_fast_path(benchmark):
    assert benchmark(ORDER.digest, VALUES) == DIGEST


@pytest.mark.benchmark(group="eip712-hash-citrex-order")
def test_eip712_general_encoder(benchmark):
    assert benchmark(hash_typed_data, FULL) == DIGEST


@pytest.mark.benchmark(group="eip712-hash-citrex-order")
def test_eip712_baseline_eth_account(benchmark):
    assert benchmark(lambda: _hash_eip191_message(encode_typed_data(full_message=FULL))) == DIGEST


@pytest.mark.benchmark(group="sign-citrex-order")
def test_sign_order_fast_path(benchmark):
    sig = benchmark(lambda: SIGNER.sign_digest(ORDER.digest(VALUES)))
    assert sig == bytes(Account.sign_message(encode_typed_data(full_message=FULL), KEY).signature)


@pytest.mark.benchmark(group="sign-citrex-order")
def test_sign_baseline_bare_coincurve_on_ready_digest(benchmark):
    key = PrivateKey(KEY)
    benchmark(key.sign_recoverable, DIGEST, hasher=None)


@pytest.mark.benchmark(group="sign-citrex-order")
def test_sign_order_eth_account(benchmark):
    benchmark(lambda: Account.sign_message(encode_typed_data(full_message=FULL), KEY))


def _interleaved(fn_a, fn_b, rounds: int, block: int) -> tuple[float, float]:
    """Medians of per-call time of a and b, measured in alternating blocks so a
    shared machine's drift hits both alike (the ratio is the figure to read)."""
    import statistics
    import time

    a, b = [], []
    for _ in range(rounds):
        for fn, out in ((fn_a, a), (fn_b, b)):
            t0 = time.perf_counter_ns()
            for _ in range(block):
                fn()
            out.append((time.perf_counter_ns() - t0) / block)
    return statistics.median(a), statistics.median(b)


@pytest.mark.benchmark(group="sign-citrex-order-interleaved")
def test_sign_order_vs_bare_interleaved(benchmark):
    if benchmark.disabled:
        pytest.skip("a timing run for `make bench`; make test runs test_smoke_sign_order_vs_bare")
    key = PrivateKey(KEY)
    result = {}

    def measure():
        ours, bare = _interleaved(lambda: SIGNER.sign_digest(ORDER.digest(VALUES)),
                                  lambda: key.sign_recoverable(DIGEST, hasher=None), rounds=40, block=100)
        result.update(ours_us=ours / 1e3, bare_us=bare / 1e3, ratio=ours / bare)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["ours_us"] > 0 and result["bare_us"] > 0


def test_smoke_sign_order_vs_bare():
    """The two things the interleaved benchmark compares sign the same digest the same way
    (RFC 6979: byte for byte), ours with v = 27 + recovery id, and a short run of it works."""
    key = PrivateKey(KEY)
    ours, bare = SIGNER.sign_digest(ORDER.digest(VALUES)), key.sign_recoverable(DIGEST, hasher=None)
    assert ours[:64] == bare[:64] and ours[64] == bare[64] + 27
    a, b = _interleaved(lambda: SIGNER.sign_digest(ORDER.digest(VALUES)),
                        lambda: key.sign_recoverable(DIGEST, hasher=None), rounds=2, block=3)
    assert a > 0 and b > 0
