"""An account's positions as a simulator's engine made them: every trade of the account's
orders, in time order, booked per product at average cost (as gateway/positions/ books the
strategies'). What the venues' position calls serve (gateway/sim/bsx_account.py,
gateway/sim/dxtrade_account.py)."""
from __future__ import annotations

from collections.abc import Iterator

from gateway.positions.position import Position
from gateway.sim.engine import Order, Side, Trade


def account_trades(engine, account: str) -> Iterator[tuple[Order, Trade, int]]:
    """(order, trade, signed quantity: + bought) for every trade of the account, oldest first.
    A trade between two of the account's own orders comes once per side (they cancel out)."""
    trades = sorted(((t.ts_ns, i, j), o, t) for i, o in enumerate(engine.orders.values()) if o.account == account
                    for j, t in enumerate(o.trades))
    for _, order, trade in trades:
        yield order, trade, trade.quantity if order.side is Side.BUY else -trade.quantity


def account_books(engine, account: str) -> dict[str, Position]:
    """product -> the account's position there (flat ones included)."""
    books: dict[str, Position] = {}
    for order, trade, signed in account_trades(engine, account):
        books.setdefault(order.product, Position()).book(signed, trade.price)
    return books
