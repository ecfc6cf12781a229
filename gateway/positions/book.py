"""The positions book: every strategy's position per venue and symbol, from the fills the
gateway books. A tracker listener (gateway/orders/tracker.py): each change's new fills are
booked as they come, on the request path (a dict look-up and a few integer operations each).

Journaled: the order records already carry every fill, but closed orders are forgotten after
their TTL and a compaction keeps only the orders it snapshots, so the book is written too: a
POSITIONS record (gateway/orders/records.py) holds the whole book as it was after every fill
journaled before it. It is written where that holds: after the snapshot when the journal is
rewritten at start, and into the journal's own stream of records (both files) once an online
compaction has written its snapshot. A replay (gateway/orders/journal.py's `replay`) starts
from the last one and books each fill after it once (a trade id is booked once per order, as
the tracker does): a fill is in the book exactly once, whatever was purged or compacted.
"""
from __future__ import annotations

from collections.abc import Iterator

from gateway.orders.model import Fill, Order, Side
from gateway.orders.records import PositionsRecord, position_rows, positions_record
from gateway.positions.position import Position
from gateway.reference.prices import ReferencePrices

Key = tuple[str, str]  # (venue, symbol)


class Pnl(tuple):
    """(realized, unrealized), e18 quote units; `unpriced`: the (venue, symbol) of the
    strategy's open positions with no reference price, which add nothing to unrealized."""
    unpriced: list[Key]

    def __new__(cls, realized: int, unrealized: int, unpriced: list[Key]):
        pnl = super().__new__(cls, (realized, unrealized))
        pnl.unpriced = unpriced
        return pnl

    @property
    def realized(self) -> int:
        return self[0]

    @property
    def unrealized(self) -> int:
        return self[1]


class Positions:
    def __init__(self, reference: ReferencePrices | None = None):
        self.reference = reference if reference is not None else ReferencePrices()
        self._by_strategy: dict[str, dict[Key, Position]] = {}

    # booking (tracker listener)

    def order_changed(self, order: Order, new_fills: int) -> None:
        if new_fills:
            for fill in order.fills[-new_fills:]:
                self.book(order, fill)

    def cancel_rejected(self, order: Order, reason: str) -> None:
        pass

    def book(self, order: Order, fill: Fill) -> None:
        book = self._by_strategy.get(order.strategy)
        if book is None:
            book = self._by_strategy[order.strategy] = {}
        key = (order.venue, order.symbol)
        position = book.get(key)
        if position is None:
            position = book[key] = Position()
        position.book(fill.quantity if order.side is Side.BUY else -fill.quantity, fill.price, fill.fee)

    # reading

    def get(self, strategy: str, venue: str, symbol: str) -> Position | None:
        book = self._by_strategy.get(strategy)
        return None if book is None else book.get((venue, symbol))

    def of(self, strategy: str) -> dict[Key, Position]:
        return dict(self._by_strategy.get(strategy, {}))

    def strategies(self) -> list[str]:
        return sorted(self._by_strategy)

    def items(self) -> Iterator[tuple[str, str, str, Position]]:
        """(strategy, venue, symbol, position), sorted."""
        for strategy in sorted(self._by_strategy):
            for (venue, symbol), position in sorted(self._by_strategy[strategy].items()):
                yield strategy, venue, symbol, position

    def price(self, venue: str, symbol: str, max_age_ns: int | None = None) -> int | None:
        return self.reference.price(venue, symbol, max_age_ns)

    def pnl(self, strategy: str, max_age_ns: int | None = None) -> Pnl:
        realized = unrealized = 0
        unpriced = []
        for (venue, symbol), position in sorted(self._by_strategy.get(strategy, {}).items()):
            realized += position.realized_pnl
            if position.net:
                price = self.reference.price(venue, symbol, max_age_ns)
                if price is None:
                    unpriced.append((venue, symbol))
                else:
                    unrealized += position.unrealized_pnl(price)
        return Pnl(realized, unrealized, unpriced)

    def net_by_symbol(self) -> dict[Key, int]:
        """(venue, symbol) -> the sum of every strategy's net position."""
        total: dict[Key, int] = {}
        for book in self._by_strategy.values():
            for key, position in book.items():
                total[key] = total.get(key, 0) + position.net
        return total

    # the journal

    def records(self) -> list[PositionsRecord]:
        """The book as one POSITIONS record: journaled after every fill it holds (see the module's doc)."""
        return [positions_record((s, v, y, *p.row()) for s, v, y, p in self.items())]

    def restore_record(self, record: PositionsRecord) -> None:
        """Replay: the book becomes the record's (the fills journaled after it are booked next)."""
        self._by_strategy = {}
        for strategy, venue, symbol, net, cost, realized, fees in position_rows(record):
            self._by_strategy.setdefault(strategy, {})[(venue, symbol)] = Position(net, cost, realized, fees)
