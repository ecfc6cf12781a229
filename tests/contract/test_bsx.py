"""BSX (seed 001) through the venue contract."""
from tests.contract.suite import VenueContract

BSX_CONFIG = """
[[venues]]
kind = "bsx"
name = "bsx"
api_key_file = "{tmp}/bsx.key"
api_secret_file = "{tmp}/bsx.secret"
signer_key_file = "{tmp}/bsx-signer.hex"
generate_key = true
nonce_file = "{tmp}/bsx.nonce"
[venues.sim]
mid_prices = { ETH-PERP = "3000" }
market_maker_levels = 3
market_maker_quantity = "1"
# tick 0.1 is stricter than BSX's 0.01 (allowed); lot and minimum are the venue's
[venues.instruments.ETH-PERP]
product_id = 2
tick_size = "0.1"
lot_size = "0.01"
min_quantity = "0.01"
"""


class TestBsx(VenueContract):
    venue = "bsx"
    closed_order_is_the_cancels_outcome = True
    venue_config = BSX_CONFIG
