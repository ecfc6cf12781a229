"""The account's positions as Bluefin Pro lists them (`GET /api/v1/account`: positions[] with
symbol, side LONG/SHORT and sizeE9), for the positions' drift check (gateway/positions/drift.py)."""
from __future__ import annotations

import msgspec

from gateway.venues.base import VenueError
from gateway.venues.bluefin.parsing import e18_of_e9

ACCOUNT_PATH = "/api/v1/account"


class AccountPosition(msgspec.Struct):
    symbol: str
    side: str  # LONG or SHORT
    sizeE9: str


class Account(msgspec.Struct):
    positions: list[AccountPosition] = []


_decoder = msgspec.json.Decoder(Account)


def positions_of(body: bytes) -> dict[str, int]:
    """symbol -> net position, e18 (+ long)."""
    try:
        account = _decoder.decode(body)
        held: dict[str, int] = {}
        for p in account.positions:
            if p.side not in ("LONG", "SHORT"):
                raise ValueError(f"position side {p.side!r}")
            size = e18_of_e9(p.sizeE9)
            held[p.symbol] = held.get(p.symbol, 0) + (size if p.side == "LONG" else -size)
        return held
    except (msgspec.DecodeError, ValueError) as exc:
        raise VenueError("venue_error", f"unreadable account: {exc}") from None
