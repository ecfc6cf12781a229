"""Citrex (seed 004) through the venue contract, plus what only Citrex has."""
from tests.contract.suite import VenueContract


class TestCitrex(VenueContract):
    venue = "citrex"
    closed_order_is_the_cancels_outcome = True
    venue_config = """
[[venues]]
kind = "citrex"
name = "citrex"
key_file = "{tmp}/citrex.hex"
generate_key = true
nonce_file = "{tmp}/citrex.nonce"
[venues.sim]
mid_prices = { ETH-PERP = "3000" }
market_maker_levels = 3
market_maker_quantity = "1"
[venues.instruments.ETH-PERP]
product_id = 1002
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""
