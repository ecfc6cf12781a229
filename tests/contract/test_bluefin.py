"""Bluefin Pro (seed 000) through the venue contract."""
import asyncio

from gateway.ipc import frames as f
from tests.contract.suite import VenueContract

BLUEFIN_CONFIG = """
[[venues]]
kind = "bluefin"
name = "bluefin"
key_file = "{tmp}/bluefin.key"
generate_key = true
[venues.sim]
mid_prices = { ETH-PERP = "3000" }
market_maker_levels = 3
market_maker_quantity = "1"
# the simulator lists ETH-PERP with tick, lot and minimum 0.01: a 0.1 tick is stricter (allowed)
[venues.instruments.ETH-PERP]
product_id = "ETH-PERP"
tick_size = "0.1"
lot_size = "0.01"
min_quantity = "0.01"
"""


class TestBluefin(VenueContract):
    venue = "bluefin"
    venue_config = BLUEFIN_CONFIG

    def test_cancel_racing_a_fill_gets_cancel_reject_then_filled(self, tmp_path):
        """Bluefin answers a cancel only on the account stream, the same stream that carries
        the fill: while that stream is held back neither can arrive. Released, the fill comes
        first and the cancel's failure (ORDER_NOT_FOUND) after it, as the venue ordered them."""
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.filled_behind_the_gateways_back(gw, s, "r1")
                assert (await s.cancel("r1")).ok
                await asyncio.sleep(0.1)
                assert gw.tracker.by_client("alpha", "r1").status.value == "PENDING_CANCEL"
                await self.sim(gw).release_events()
                reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
                assert reject.client_order_id == "r1" and "ORDER_NOT_FOUND" in reject.reason
                [order] = await s.orders(open_only=False)
                assert order.status == "FILLED" and order.filled == "1"

        self.run(tmp_path, scenario)
