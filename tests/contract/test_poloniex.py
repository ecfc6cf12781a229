"""Poloniex (seed 002) through the venue contract."""
from tests.contract.suite import VenueContract

POLONIEX_CONFIG = """
[[venues]]
kind = "poloniex"
name = "poloniex"
api_key_file = "{tmp}/poloniex.key"
api_secret_file = "{tmp}/poloniex.secret"
generate_key = true
[venues.sim]
mid_prices = { ETH-PERP = "3000" }
market_maker_levels = 3
market_maker_quantity = "1"
[venues.instruments.ETH-PERP]
product_id = "ETH_USDT"
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""


class TestPoloniex(VenueContract):
    venue = "poloniex"
    closed_order_is_the_cancels_outcome = True
    venue_config = POLONIEX_CONFIG
