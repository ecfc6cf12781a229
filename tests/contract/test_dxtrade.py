"""DXtrade (seed 003) through the venue contract. The simulator's 1 request/s
trading limit is off here (the suite would take minutes); tests/integration/
test_dxtrade.py runs with it on, behind the gateway's own limiter."""
from tests.contract.suite import VenueContract

DXTRADE_CONFIG = """
[[venues]]
kind = "dxtrade"
name = "dxtrade"
username_file = "{tmp}/dx.user"
password_file = "{tmp}/dx.password"
generate_credentials = true
account = "default:ssp1"
poll_interval_ms = 20
sim_trade_limit_per_s = 0
[venues.sim]
mid_prices = { ETH-PERP = "3000" }
market_maker_levels = 3
market_maker_quantity = "1"
[venues.instruments.ETH-PERP]
product_id = "ETH/USD"
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""


class TestDxtrade(VenueContract):
    venue = "dxtrade"
    duplicates_counted = False
    signs_orders = False
    closed_order_is_the_cancels_outcome = True
    venue_config = DXTRADE_CONFIG
