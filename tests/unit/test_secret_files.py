"""Secret files: 0600 everywhere, except as systemd presents credentials
(LoadCredential=: read-only, maybe group-readable through an ACL) under
$CREDENTIALS_DIRECTORY; *_file paths resolve against the config's folder."""
from __future__ import annotations

import os

import pytest

from gateway.config import load_config
from gateway.signer import KeyFileError, Signer, fingerprint
from gateway.venues.credentials import read_secret_file

KEY = "11" * 32


def write(path, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KEY + "\n")
    os.chmod(path, mode)
    return path


def test_group_readable_credentials_under_credentials_directory_are_accepted(tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    for mode in (0o400, 0o440):
        key = write(creds / f"citrex-{mode:o}.key", mode)
        assert Signer.from_file(key).address.startswith("0x")
        assert read_secret_file(str(key)) == KEY


def test_the_0600_rule_holds_everywhere_else(tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    outside = write(tmp_path / "keys" / "citrex.key", 0o440)
    with pytest.raises(KeyFileError, match="has mode 0440"):
        Signer.from_file(outside)
    with pytest.raises(KeyFileError, match="has mode 0440"):
        read_secret_file(str(outside))
    # a link into the credentials folder does not lend its trust to a file elsewhere
    (creds / "link.key").symlink_to(outside)
    with pytest.raises(KeyFileError, match="has mode 0440"):
        Signer.from_file(creds / "link.key")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    inside = write(creds / "c.key", 0o440)
    with pytest.raises(KeyFileError, match="has mode 0440"):
        Signer.from_file(inside)


def test_every_file_path_resolves_against_the_config_folder(tmp_path, monkeypatch):
    conf = tmp_path / "etc" / "gw.toml"
    conf.parent.mkdir()
    conf.write_text("""
[[venues]]
kind = "dxtrade"
name = "dx"
username_file = "keys/dx.user"
password_file = "keys/dx.password"
[venues.instruments.ETH-PERP]
product_id = "ETH/USD"
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
""")
    monkeypatch.chdir(tmp_path)
    [venue] = load_config(conf).venues
    assert venue.username_file == str(tmp_path / "etc" / "keys" / "dx.user")
    assert venue.password_file == str(tmp_path / "etc" / "keys" / "dx.password")


def test_fingerprint_names_a_secret_without_showing_it():
    fp = fingerprint("A1B2C3D4E5F60718293A4B5C6D7E8F90")
    assert fp.startswith("sha256:") and len(fp) == 15 and "A1B2" not in fp
    assert fp == fingerprint("A1B2C3D4E5F60718293A4B5C6D7E8F90") != fingerprint("other")


# BSX's renewed API key: saved to the state directory, preferred at the next start

def _bsx(tmp_path, **kw):
    from gateway.venues.bsx.config import BsxConfig

    return BsxConfig(name="bsx", nonce_file=str(tmp_path / "nonce" / "bsx.nonce"), **kw)


def test_the_state_directory_is_systemds_else_the_journals_else_the_nonce_files(tmp_path, monkeypatch):
    from gateway.venues.bsx.credentials import renewed_key_path, state_directory

    config = _bsx(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert state_directory(config) == tmp_path / "nonce"
    assert state_directory(config, str(tmp_path / "journal" / "orders.journal")) == tmp_path / "journal"
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state:{tmp_path}/other")
    assert state_directory(config, str(tmp_path / "journal" / "orders.journal")) == tmp_path / "state"
    assert renewed_key_path(config) == tmp_path / "state" / "bsx.renewed-api-key"


def test_a_renewed_key_file_is_0600_and_read_back_only_for_the_key_it_renews(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    from gateway.venues.bsx.api_key import ApiKey
    from gateway.venues.bsx.credentials import (Credentials, RenewedKey, read_renewed_key, renews_tag,
                                                save_renewed_key)

    path = tmp_path / "state" / "bsx.renewed-api-key"
    save_renewed_key(path, RenewedKey("new-key", "new-secret", renews_tag("old-key"), 123))
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.stat(path.parent).st_mode & 0o777 == 0o700
    assert read_renewed_key(path).api_secret == "new-secret" and "new-secret" not in repr(read_renewed_key(path))
    assert os.listdir(path.parent) == ["bsx.renewed-api-key"]  # no temporary file left
    caplog.set_level(logging.DEBUG)
    venue = SimpleNamespace(name="bsx", log=logging.getLogger("gateway.venue.bsx"))
    signer = Signer(bytes.fromhex(KEY))
    assert ApiKey(venue, Credentials("old-key", "old-secret", signer), path).creds.api_key == "new-key"
    # the operator put another key in the files: the renewal of the old one is not used
    other = ApiKey(venue, Credentials("another-key", "another-secret", signer), path)
    assert other.creds.api_key == "another-key" and b"another-secret" in other.headers
    assert "renews another API key" in caplog.text
    for secret in ("new-key", "new-secret", "old-key", "old-secret", "another-key", "another-secret"):
        assert secret not in caplog.text
    # the 0600 rule, and a file not of ours: errors naming the file, never what is in it
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="has mode 0640"):
        read_renewed_key(path)
    path.write_text("new-secret garbage")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="not one this gateway wrote") as refused:
        read_renewed_key(path)
    assert "new-secret" not in str(refused.value)
