import pytest

from gateway.config import DEFAULT_CONFIG, ConfigError, load_config, parse_config

BASE = """
[[venues]]
kind = "citrex"
name = "c"
key_file = "k.hex"
[venues.instruments.ETH-PERP]
product_id = 1
tick_size = "0.1"
lot_size = "0.001"
"""


def test_embedded_default_loads_and_resolves_paths():
    config = load_config(DEFAULT_CONFIG)
    assert config.venues[0].name == "citrex" and config.venues[0].sim.enabled
    assert config.server.socket_path.endswith("run/gateway.sock")
    assert config.server.socket_path.startswith("/")
    assert config.server.socket_mode == 0o660


def test_unknown_key_names_its_path():
    with pytest.raises(ConfigError, match=r"unknown field `tick`.*\$\.venues\[0\]\.instruments"):
        parse_config(BASE.replace('tick_size = "0.1"', 'tick_size = "0.1"\ntick = 1'))
    with pytest.raises(ConfigError, match=r"unknown field `sokcet_path`.*\$\.server"):
        parse_config(BASE + '\n[server]\nsokcet_path = "x"\n')


def test_bad_decimal_in_config_is_an_error():
    with pytest.raises(ConfigError, match="tick_size"):
        parse_config(BASE.replace('"0.1"', '"0.1.2"'))
    with pytest.raises(ConfigError, match="must be above zero"):
        parse_config(BASE.replace('"0.001"', '"0"'))


def test_unknown_venue_kind_and_duplicate_names():
    with pytest.raises(ConfigError, match="kind"):
        parse_config(BASE.replace('"citrex"', '"nasdaq"'))
    with pytest.raises(ConfigError, match="unique"):
        parse_config(BASE + BASE.replace("[[venues]]", "[[venues]]"))


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[[venues")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")
