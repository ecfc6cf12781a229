"""The account's positions as BSX lists them (`GET /portfolio/detail`, what the official SDK's
get_portfolio_detail reads: positions[] with product_index, product_id and a signed net_size),
for the positions' drift check (gateway/positions/drift.py). See schemas.py for what was
checked against the SDK and what is assumed."""
from __future__ import annotations

import msgspec

from gateway.venues.bsx import schemas
from gateway.venues.bsx.wire import e18
from gateway.venues.errors import VenueError


def positions_of(body: bytes, symbols: dict[int, str]) -> dict[str, int]:
    """Our symbol -> net position, e18 (+ long). symbols: product_index -> our symbol (the
    configured instruments); a product the gateway does not trade is named as the venue names
    it (its product_id), so it still shows as held."""
    try:
        portfolio = schemas.portfolio_decoder.decode(body)
        held: dict[str, int] = {}
        for p in portfolio.positions:
            index = None if p.product_index is None else int(p.product_index)
            symbol = symbols.get(index) if index is not None else None
            symbol = symbol or p.product_id
            if not symbol:
                raise ValueError("a position names no product (no product_index or product_id)")
            held[symbol] = held.get(symbol, 0) + e18(p.net_size, signed=True)
        return held
    except (msgspec.DecodeError, ValueError) as exc:  # FixedPointError is a ValueError
        raise VenueError("venue_error", f"unreadable portfolio: {exc}") from None
