import os

import pytest
from Crypto.Hash import keccak as oracle
from hypothesis import given
from hypothesis import strategies as st

from gateway._core.keccak import keccak256


def reference(data: bytes) -> bytes:
    return oracle.new(digest_bits=256, data=data).digest()


def test_empty_input_is_ethereums_well_known_hash():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_is_keccak_not_sha3():
    import hashlib

    assert keccak256(b"abc") != hashlib.sha3_256(b"abc").digest()


def test_every_length_up_to_1000_matches_pycryptodome():
    data = os.urandom(1000)
    for n in range(1001):
        assert keccak256(data[:n]) == reference(data[:n]), n


@pytest.mark.parametrize("n", [135, 136, 137, 271, 272, 273])
def test_block_boundaries(n):
    data = bytes(range(256)) * 2
    assert keccak256(data[:n]) == reference(data[:n])


@given(st.binary(max_size=4096))
def test_random_data_matches_pycryptodome(data):
    assert keccak256(data) == reference(data)


def test_accepts_any_buffer():
    data = os.urandom(300)
    expected = reference(data)
    assert keccak256(bytearray(data)) == expected
    assert keccak256(memoryview(data)) == expected


def test_refuses_text():
    with pytest.raises(TypeError, match="encode"):
        keccak256("abc")
