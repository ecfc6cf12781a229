"""Bluefin's wire values as the gateway's: e9 decimal-integer text as e18 ints
(exactly, never through a float), order hashes compared as the venue means
them, trades as Fills, cancellation reasons in words."""
from __future__ import annotations

from gateway._core.fixedpoint import parse_scaled, rescale
from gateway.orders.model import SCALE, Fill
from gateway.venues.bluefin import schemas

E9 = 9

REASON_TEXT = {
    schemas.POST_ONLY_WOULD_TRADE: "post only: the order would have taken liquidity",
    schemas.SELF_TRADE_PREVENTION: "self-trade prevention",
}


def int_of(text: str, signed: bool = False) -> int:
    """A decimal-integer string, exactly: never through a float."""
    return parse_scaled(text, 0, signed=signed)


def e18_of_e9(text: str, signed: bool = False) -> int:
    """The venue's e9 decimal-integer text as the gateway's e18 int."""
    return rescale(int_of(text, signed), E9, SCALE)


def same_hash(a: str | None, b: str | None) -> bool:
    return bool(a and b) and schemas.norm_hash(a) == schemas.norm_hash(b)


def fill_of(trade: schemas.TradePayload) -> Fill:
    """One of the account's trades (stream or trade history) as the gateway's fill."""
    return Fill(trade_id=trade.id, price=e18_of_e9(trade.priceE9), quantity=e18_of_e9(trade.quantityE9),
                ts_ns=trade.executedAtMillis * 1_000_000, is_maker=trade.isMaker,
                fee=e18_of_e9(trade.tradingFeeE9 or "0", signed=True))
