"""One (strategy, venue, symbol): net position, cost basis, realized PnL and fees, kept in exact
integers.

Average cost. Net is e18 base units, signed (+ long). The cost basis is the open position's
price x quantity, e36, kept exactly rather than as an average price (which no integer holds
exactly): a fill on the position's side (or from flat) adds its price x quantity; a fill
against it closes min(its quantity, |net|), removes that part's share of the basis
(cost x closed // |net|: rounded down to the e36 unit, so closing all of it removes exactly
what is left) and realizes (price x closed - that share) with the position's sign; what is
left of a fill that flips the position opens the other side at the fill's price.

So a position taken back to flat has realized exactly the cash its fills made (sells' price x
quantity less buys'), to the e36 unit. What is shown is e18: avg_price is the basis over |net|,
rounded down; PnL is truncated toward zero. Fees are summed apart, as the venues charged them
(their fee currency, signed as they sign it: a rebate may be negative), never in the PnL.
"""
from __future__ import annotations

from gateway.orders.model import ONE


def _to_e18(value_e36: int) -> int:
    """e36 -> e18, truncated toward zero."""
    return value_e36 // ONE if value_e36 >= 0 else -(-value_e36 // ONE)


class Position:
    __slots__ = ("net", "cost", "realized_e36", "fees")

    def __init__(self, net: int = 0, cost: int = 0, realized_e36: int = 0, fees: int = 0):
        self.net = net  # e18 base units, signed
        self.cost = cost  # e36, >= 0: price x quantity of what is open
        self.realized_e36 = realized_e36
        self.fees = fees  # e18

    def book(self, quantity: int, price: int, fee: int | None = None) -> None:
        """A fill: quantity e18 signed (+ bought), price e18."""
        if fee:
            self.fees += fee
        net = self.net
        if quantity == 0:
            return
        if net == 0 or (net > 0) == (quantity > 0):  # opens or adds: re-averages
            self.net = net + quantity
            self.cost += price * abs(quantity)
            return
        sign = 1 if net > 0 else -1
        size, q = abs(net), abs(quantity)
        if q <= size:  # reduces (or closes)
            share = self.cost * q // size
            self.realized_e36 += sign * (price * q - share)
            self.cost -= share
        else:  # flips: closes all, opens the rest at the fill's price
            self.realized_e36 += sign * (price * size - self.cost)
            self.cost = price * (q - size)
        self.net = net + quantity

    @property
    def avg_price(self) -> int:
        """Average entry price, e18, rounded down; 0 when flat."""
        return self.cost // abs(self.net) if self.net else 0

    @property
    def realized_pnl(self) -> int:
        """e18 quote units, truncated toward zero."""
        return _to_e18(self.realized_e36)

    def unrealized_pnl(self, price: int) -> int:
        """At this price (e18): e18 quote units, truncated toward zero; 0 when flat."""
        net = self.net
        if not net:
            return 0
        return _to_e18(price * net - self.cost if net > 0 else self.cost + price * net)

    def row(self) -> tuple[int, int, int, int]:
        return self.net, self.cost, self.realized_e36, self.fees

    def __eq__(self, other) -> bool:
        return isinstance(other, Position) and self.row() == other.row()

    def __repr__(self) -> str:
        return (f"Position(net={self.net}, avg_price={self.avg_price}, realized_pnl={self.realized_pnl}, "
                f"fees={self.fees})")
