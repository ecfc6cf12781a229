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
