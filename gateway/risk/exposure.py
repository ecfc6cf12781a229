"""What each strategy's open orders commit it to, kept as running sums so a check reads
them in O(1) whatever the number of open orders: the open notional per strategy (remaining
quantity x price) and the open quantity per (strategy, venue, symbol, side).

A tracker listener: told of every change of an order, it replaces the order's part in the
sums by its new one (nothing when closed). A new order is told by order entry the moment it
is tracked (count), before the venue says anything of it. A market order has no price: it
is valued at the reference price when it was accepted, and keeps that value, so the sums
never drift with the market."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.orders.model import SCALE, Order, Side

_ONE = 10**SCALE


class OpenExposure:
    def __init__(self, reference_price: Callable[[str, str], int | None] | None = None):
        # (venue, symbol) -> the price a market order is valued at (None: unknown, valued 0)
        self._reference_price = reference_price or (lambda venue, symbol: None)
        # order_id -> (strategy, (strategy, venue, symbol, side), remaining, notional, valuation price)
        self._parts: dict[str, tuple[str, tuple, int, int, int]] = {}
        self._notional: dict[str, int] = {}  # strategy -> sum of its open orders' notional
        self._quantity: dict[tuple, int] = {}  # (strategy, venue, symbol, side) -> open remaining quantity
        # kept only while a limit reads the sums (max_position, max_open_notional): the order path
        # pays nothing for them otherwise; `gateway risk` then sums the open orders when asked
        self.active = True

    # read by the checks

    def notional(self, strategy: str) -> int:
        return self._notional.get(strategy, 0)

    def quantity(self, strategy: str, venue: str, symbol: str, side: Side) -> int:
        return self._quantity.get((strategy, venue, symbol, side), 0)

    def part(self, order: Order) -> tuple[int, int] | None:
        """The order's (remaining, notional) in the sums; None: not in them."""
        entry = self._parts.get(order.order_id)
        return None if entry is None else (entry[2], entry[3])

    def value(self, order: Order) -> int | None:
        """The price an order is valued at: its own, else the reference price."""
        if order.price is not None:
            return order.price
        entry = self._parts.get(order.order_id)
        if entry is not None:
            return entry[4]
        return self._reference_price(order.venue, order.symbol)

    def strategies(self) -> list[str]:
        """Strategies with open orders (views and metrics only: a pass over the open orders)."""
        return sorted({entry[0] for entry in self._parts.values()})

    def symbols(self, strategy: str) -> list[tuple[str, str]]:
        """(venue, symbol) of the strategy's open orders (views and metrics only)."""
        return sorted({(k[1], k[2]) for k in self._quantity if k[0] == strategy})

    # told by order entry and the tracker

    def count(self, order: Order) -> None:
        if self.active:
            self._set(order)

    def order_changed(self, order: Order, new_fills: int) -> None:
        if not self.active:
            return
        # most changes are a status (PENDING_NEW -> OPEN): the order's part stays as it was
        entry = self._parts.get(order.order_id)
        if (entry is not None and not new_fills and not order.is_closed
                and entry[2] == order.at_risk and entry[4] == (order.price or entry[4])):
            return
        self._set(order)

    def cancel_rejected(self, order: Order, reason: str) -> None:
        pass

    def rebuild(self, orders: Iterable[Order]) -> None:
        """After the journal's replay: the open orders it restored (the tracker tells no
        listener of them); and when a reload makes a limit read the sums again."""
        self._parts.clear()
        self._notional.clear()
        self._quantity.clear()
        if self.active:
            for order in orders:
                self._set(order)

    def keep(self, active: bool, open_orders: Callable[[], Iterable[Order]]) -> None:
        """Keep the sums (from the open orders as they are now) or stop keeping them."""
        if active != self.active:
            self.active = active
            self.rebuild(open_orders() if active else ())

    @classmethod
    def of(cls, orders: Iterable[Order], reference_price: Callable[[str, str], int | None]) -> OpenExposure:
        """The sums of these orders, made when asked (a view while no limit keeps them)."""
        exposure = cls(reference_price)
        exposure.rebuild(orders)
        return exposure

    def _set(self, order: Order) -> None:
        old = self._parts.pop(order.order_id, None)
        if old is not None:
            strategy, key, remaining, notional, _ = old
            self._notional[strategy] -= notional
            self._quantity[key] -= remaining
            if not self._notional[strategy]:
                del self._notional[strategy]
            if not self._quantity[key]:
                del self._quantity[key]
        # open, or closed with fills the venue reported whose trades have not booked them yet
        remaining = order.at_risk
        if remaining <= 0:
            return
        # a stop-market order at its stop price; a market order at the reference price when it was
        # accepted, kept (a value of 0: none was known then, e.g. orders restored before the venues'
        # prices came; valued again at each change until one is)
        price = order.price if order.price is not None else order.stop_price
        if price is None:
            price = (old[4] if old is not None and old[4] else
                     self._reference_price(order.venue, order.symbol) or 0)
        strategy = order.strategy
        key = (strategy, order.venue, order.symbol, order.side)
        notional = remaining * price // _ONE
        self._parts[order.order_id] = (strategy, key, remaining, notional, price)
        self._notional[strategy] = self._notional.get(strategy, 0) + notional
        self._quantity[key] = self._quantity.get(key, 0) + remaining
