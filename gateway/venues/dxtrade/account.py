"""The account's positions as DXtrade lists them (`GET /dxsca-web/accounts/{account}/positions`:
positions[] with symbol, an unsigned quantity in units and side BUY/SELL), for the positions'
drift check (gateway/positions/drift.py). What comes from where (the seed shows no positions
call): schemas.py."""
from __future__ import annotations

from gateway.decoding import DECODE_ERRORS
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.wire import e18
from gateway.venues.errors import VenueError


def positions_of(body: bytes, symbols: dict[str, str]) -> dict[str, int]:
    """Our symbol -> net position, e18 (+ long). symbols: the venue's instrument -> our symbol
    (the configured instruments); an instrument the gateway does not trade is named as the
    venue names it, so it still shows as held. Several positions in one instrument are summed."""
    try:
        listed = schemas.positions_decoder.decode(body)
        positions = listed.positions if isinstance(listed, schemas.PositionList) else listed
        held: dict[str, int] = {}
        for p in positions:
            if p.quantity < 0:
                raise ValueError(f"position {p.positionCode} quantity {p.quantity} is negative (the side signs it)")
            size = e18(p.quantity)
            symbol = symbols.get(p.symbol, p.symbol)
            held[symbol] = held.get(symbol, 0) + (size if p.side == "BUY" else -size)
        return held
    except (*DECODE_ERRORS, ValueError) as exc:  # FixedPointError is a ValueError
        raise VenueError("venue_error", f"unreadable positions: {exc}") from None
