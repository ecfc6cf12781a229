"""Config shared by every venue kind; each venue package subclasses VenueConfig."""
from __future__ import annotations

from typing import Annotated

import msgspec


class InstrumentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One unified symbol on one venue. Sizes are decimal strings, checked at load."""
    product_id: int | str
    tick_size: str
    lot_size: str
    min_quantity: str = "0"

    def __post_init__(self) -> None:
        from gateway._core.fixedpoint import FixedPointError, parse_scaled

        for name in ("tick_size", "lot_size", "min_quantity"):
            try:
                value = parse_scaled(getattr(self, name), 18)
            except FixedPointError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if name != "min_quantity" and value == 0:
                raise ValueError(f"{name} must be above zero")


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Run this venue's simulator inside the gateway (the embedded default)."""
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; the adapter is pointed at it
    # the market maker quotes around these (unified symbol -> decimal price)
    mid_prices: dict[str, str] = {}
    market_maker: bool = True
    market_maker_levels: int = 5
    market_maker_quantity: str = "1"
    # test hooks: deliver the WS event before the REST reply, duplicate WS events
    reorder_ack: bool = False
    duplicate_events: bool = False
    reply_delay_ms: int = 0
    # benchmarks only: recover one order/cancel signature in N (Citrex); 1 checks every one
    verify_every: int = 1


class VenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind"):
    name: str
    # the instruments to trade: a block each (checked against the venue's list at start), or
    # just their unified symbols in `symbols` (the rest read from the venue's list)
    instruments: dict[str, InstrumentConfig] = {}
    symbols: list[str] = []
    # the venue's instrument list is read again this often (halts, delistings, tick changes)
    instruments_refresh_secs: Annotated[float, msgspec.Meta(ge=1)] = 300.0
    # where the venue has no public price stream, its prices are polled this often
    reference_poll_secs: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    rest_url: str = ""
    ws_url: str = ""
    request_timeout_ms: int = 5000
    http_connections: int = 4
    # the venue's documented limit; 0: none. Over it, requests wait in a bounded line, then are refused
    rate_limit_per_s: float = 0
    rate_limit_burst: float = 0
    rate_limit_queue: int = 100
    rate_limit_max_wait_ms: int = 1000
    # accepted requests waiting to be sent; beyond it a request is refused `rate_limited`
    max_queued_requests: int = 10000
    sim: SimConfig | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for symbol in self.symbols:
            if not symbol or symbol != symbol.strip():
                raise ValueError(f"symbols: {symbol!r} is not a symbol")
            if symbol in seen:
                raise ValueError(f"symbols: {symbol} is given twice")
            seen.add(symbol)


class ApiKeyConfig(VenueConfig, frozen=True, forbid_unknown_fields=True):
    """A venue that takes an API key and secret: files of mode 0600 (`api_key_file`,
    `api_secret_file`) or environment variables (`api_key_env`, `api_secret_env`), never
    the config (gateway/venues/credentials.py reads them)."""
    api_key_file: str = ""
    api_secret_file: str = ""
    api_key_env: str = ""
    api_secret_env: str = ""
    # simulators only: make throwaway secrets on first run
    generate_key: bool = False
