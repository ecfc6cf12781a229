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
    with pytest.raises(ConfigError, match=r'unknown field `tick`.*venues\["c"\]\.instruments'):
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


def test_a_venue_error_names_the_venue_and_a_bad_kind_lists_the_kinds():
    two = BASE + BASE.replace('name = "c"', 'name = "second"')
    with pytest.raises(ConfigError) as err:
        parse_config(two.replace('kind = "citrex"\nname = "second"', 'kind = "bsxx"\nname = "second"'))
    message = str(err.value)
    assert 'venues["second"].kind' in message and "$.venues[1]" not in message
    assert message.endswith("kind must be one of: bluefin, bsx, citrex, dxtrade, poloniex")
    with pytest.raises(ConfigError, match=r"the 2nd \[\[venues\]\] table\.name"):
        parse_config(two.replace('name = "second"', "name = 2"))


def test_login_and_key_files_are_relative_to_the_config_file(tmp_path):
    from tests.contract.test_dxtrade import DXTRADE_CONFIG

    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "gw.toml"
    path.write_text(DXTRADE_CONFIG.replace("{tmp}/", "../keys/"))
    [dx] = load_config(path).venues
    assert dx.username_file == str(tmp_path / "keys" / "dx.user")
    assert dx.password_file == str(tmp_path / "keys" / "dx.password")


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[[venues")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_an_error_inside_a_table_of_tables_names_its_key():
    """msgspec says `instruments[...]`; the message names the symbol (the second one here, so
    the first key is not a lucky guess), and the sim's mid_prices key alike."""
    two = BASE + '[venues.instruments.BTC-PERP]\nproduct_id = 2\ntick_size = "1"\nlot_size = "0.01"\n'
    with pytest.raises(ConfigError) as err:
        parse_config(two.replace('tick_size = "1"', 'tick_sise = "1"'))
    assert str(err.value).endswith('unknown field `tick_sise` - at `venues["c"].instruments["BTC-PERP"]`')
    assert "[...]" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config(two.replace('lot_size = "0.01"', "lot_size = 1"))
    assert str(err.value).endswith('at `venues["c"].instruments["BTC-PERP"].lot_size`')
    with pytest.raises(ConfigError) as err:
        parse_config(two.replace('tick_size = "0.1"', 'tick_size = "0"'))
    assert 'venues["c"].instruments["ETH-PERP"]' in str(err.value) and "above zero" in str(err.value)
    sim = two + '[venues.sim]\nmid_prices = { ETH-PERP = "3000", BTC-PERP = 65000 }\n'
    with pytest.raises(ConfigError, match=r'venues\["c"\]\.sim\.mid_prices\["BTC-PERP"\]'):
        parse_config(sim)
