"""Starts a whole gateway (embedded Citrex simulator, real UDS, real HTTP and
WebSocket on loopback) inside a test, on uvloop, and tears it down."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from gateway.config import Config, parse_config
from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient

CONFIG = """
log_level = "warning"
[server]
socket_path = "{tmp}/gw.sock"
max_frame_bytes = 65536
[risk]
max_order_quantity = "100"
max_order_notional = "1000000"
max_open_orders = 50
[[venues]]
kind = "citrex"
name = "citrex"
key_file = "{tmp}/citrex.hex"
generate_key = true
nonce_file = "{tmp}/citrex.nonce"
[venues.sim]
mid_prices = {{ ETH-PERP = "3000" }}
market_maker_levels = 3
market_maker_quantity = "1"
[venues.instruments.ETH-PERP]
product_id = 1002
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
"""


def make_config(tmp: Path, edit: Callable[[str], str] | None = None) -> Config:
    text = CONFIG.format(tmp=tmp)
    return parse_config(edit(text) if edit else text)


def run_gateway(tmp: Path, scenario: Callable[[Gateway], Awaitable[None]], *, timeout_s: float = 30,
                edit: Callable[[str], str] | None = None) -> None:
    """edit: changes the config text first (e.g. adds a venue's rate limit)."""
    async def main() -> None:
        gw = await Gateway.start(make_config(tmp, edit))
        try:
            await asyncio.wait_for(scenario(gw), timeout_s)
        finally:
            await gw.stop()

    uvloop.run(main())


@contextlib.asynccontextmanager
async def strategy(gw: Gateway, name: str, **kwargs):
    async with GatewayClient(gw.config.server.socket_path, strategy=name, **kwargs) as client:
        yield client


def reference_price(gw: Gateway, venue: str, symbol: str, price: str) -> None:
    """The venue's reference price, set as its price feed sets it (bid = ask = price): risk
    refuses market orders without one (require_reference_price)."""
    from gateway._core.fixedpoint import parse_scaled

    value = parse_scaled(price, 18)
    gw.parts.risk.reference.update(venue, symbol, value, value)


def risk_option(line: str) -> Callable[[str], str]:
    """Add lines to the [risk] table of the test config."""
    return lambda text: text.replace("[risk]\n", f"[risk]\n{line}\n", 1)
