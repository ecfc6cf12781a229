"""cancel_all's symbol is checked as place checks it, through the socket: a symbol its venue
does not list is `unknown_symbol` (and cancels nothing); without a venue, a symbol no
configured venue lists is."""
from __future__ import annotations

from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import run_gateway, strategy

BTC = """
[venues.instruments.BTC-PERP]
product_id = 1001
tick_size = "1"
lot_size = "0.0001"
min_quantity = "0.0001"
"""


def _two_venues(text: str) -> str:
    # citrex lists ETH-PERP and BTC-PERP; dxtrade (appended after it) ETH-PERP only
    return text + BTC + DXTRADE_CONFIG.replace("{tmp}", text.split('socket_path = "')[1].rsplit("/gw.sock", 1)[0])


def test_cancel_all_refuses_a_symbol_as_place_does(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "s") as client:
            for venue in ("citrex", "dxtrade"):
                ack = await client.place(venue, "ETH-PERP", "buy", "0.1", "2950", client_order_id=f"{venue}-1")
                assert ack.ok, ack
            place = await client.place("citrex", "NOPE", "buy", "0.1", "2950")
            assert not place.ok and place.error.code == "unknown_symbol"

            for venue, symbol in (("citrex", "NOPE"), ("dxtrade", "BTC-PERP"), (None, "NOPE")):
                ack = await client.cancel_all(venue, symbol)
                assert not ack.ok and ack.error.code == "unknown_symbol", (venue, symbol, ack)
                assert repr(symbol) in ack.error.message
            ack = await client.cancel_all("dxtrade", "BTC-PERP")
            assert "dxtrade has no symbol 'BTC-PERP'; configured: ETH-PERP" == ack.error.message
            # refused: nothing was canceled
            assert {o.client_order_id for o in await client.orders()} == {"citrex-1", "dxtrade-1"}

            # a symbol some venue lists is fine without a venue, even where nothing rests on it
            assert (await client.cancel_all(None, "BTC-PERP")).ok
            assert (await client.cancel_all("citrex", "BTC-PERP")).ok
            assert (await client.cancel_all("citrex", "ETH-PERP")).ok
            open_now = {o.client_order_id for o in await client.orders()
                        if o.status not in ("PENDING_CANCEL", "CANCELED")}
            assert open_now == {"dxtrade-1"}
            unknown_venue = await client.cancel_all("nope", "ETH-PERP")
            assert unknown_venue.error.code == "unknown_venue"

    run_gateway(tmp_path, scenario, edit=_two_venues)
