import os
import stat

import pytest
from coincurve import PrivateKey
from eth_account import Account

from gateway.signer import KeyFileError, Signer, checksum_address, recover_address


def test_address_matches_eth_account():
    key = os.urandom(32)
    assert Signer(key).address == Account.from_key(key).address


def test_signature_recovers_and_v_is_27_or_28():
    signer = Signer(os.urandom(32))
    seen = set()
    for i in range(40):
        digest = os.urandom(32)
        sig = signer.sign_digest(digest)
        assert len(sig) == 65
        seen.add(sig[64])
        assert recover_address(digest, sig) == signer.address
    assert seen <= {27, 28} and len(seen) == 2


def test_signature_equals_coincurve_deterministic_rfc6979():
    key = os.urandom(32)
    digest = os.urandom(32)
    bare = PrivateKey(key).sign_recoverable(digest, hasher=None)
    assert Signer(key).sign_digest(digest) == bare[:64] + bytes((bare[64] + 27,))


def test_rejects_wrong_digest_length():
    with pytest.raises(ValueError, match="32 bytes"):
        Signer(os.urandom(32)).sign_digest(b"short")


def test_repr_and_errors_never_show_the_key(tmp_path):
    key = os.urandom(32)
    signer = Signer(key)
    for text in (repr(signer), str(signer)):
        assert key.hex() not in text and signer.address in text
    bad = tmp_path / "k"
    bad.write_text(key.hex()[:-2] + "zz")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError) as info:
        Signer.from_file(bad)
    assert key.hex()[:20] not in str(info.value)


def test_key_file_must_be_private(tmp_path):
    path = tmp_path / "key.hex"
    path.write_text(os.urandom(32).hex())
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="mode 0644.*chmod 600"):
        Signer.from_file(path)
    path.chmod(0o600)
    assert Signer.from_file(path).address.startswith("0x")


def test_generate_file_is_0600_and_loads_back(tmp_path):
    path = tmp_path / "sub" / "key.hex"
    made = Signer.generate_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Signer.from_file(path).address == made.address
    with pytest.raises(FileExistsError):
        Signer.generate_file(path)


def test_from_env(monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("GW_TEST_KEY", "0x" + key.hex())
    assert Signer.from_env("GW_TEST_KEY").address == Signer(key).address
    monkeypatch.delenv("GW_TEST_KEY")
    with pytest.raises(KeyFileError, match="GW_TEST_KEY is not set"):
        Signer.from_env("GW_TEST_KEY")


def test_missing_file_and_bad_lengths(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        Signer.from_file(tmp_path / "nope")
    with pytest.raises(KeyFileError, match="expected 32 bytes"):
        Signer(b"\x01" * 31)
    with pytest.raises(KeyFileError, match="not a valid secp256k1 scalar"):
        Signer(b"\x00" * 32)


def test_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Signer(os.urandom(32)))


def test_checksum_address_known_vector():
    # EIP-55's own example
    assert checksum_address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")) == (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )
