"""The matching engine every venue simulator trades on.

Price-time priority, trades at the maker's price, self-trade prevention,
IOC/FOK/post-only/market orders and stop orders. Prices and quantities are
ints already scaled by the caller, so no float ever rounds a fill. The clock
and both id sources are injected so a test run is reproducible.

Every public action returns one Update per order it touched, in the order the
orders were first touched (taker first, then makers in match order, then any
stops the trades triggered); the front end turns each into a venue event.
"""
from __future__ import annotations

import bisect
import enum
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard


class Side(enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.Enum):
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"  # post-only
    MARKET = "MARKET"


class TimeInForce(enum.Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class Stp(enum.Enum):
    CANCEL_TAKER = "CANCEL_TAKER"
    CANCEL_MAKER = "CANCEL_MAKER"
    CANCEL_BOTH = "CANCEL_BOTH"
    NONE = "NONE"


class Status(enum.Enum):
    UNTRIGGERED = "UNTRIGGERED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class Reason(enum.Enum):
    USER = "USER"
    IOC_REMAINDER = "IOC_REMAINDER"
    FOK_UNFILLED = "FOK_UNFILLED"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    SELF_TRADE = "SELF_TRADE"
    NO_LIQUIDITY = "NO_LIQUIDITY"  # a market order found nothing on the other side
    CANCEL_ALL = "CANCEL_ALL"
    REPLACED = "REPLACED"
    EXPIRED = "EXPIRED"


_OPEN = frozenset({Status.UNTRIGGERED, Status.OPEN, Status.PARTIALLY_FILLED})


class EngineError(ValueError):
    """A request the engine refuses outright; code is one of
    "malformed", "unknown_order", "not_open", "duplicate_id"."""

    def __init__(self, message: str, code: str = "malformed"):
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Trade:
    trade_id: str
    product: str
    price: int
    quantity: int
    maker_order_id: str
    taker_order_id: str
    maker_account: str
    taker_account: str
    taker_side: Side
    ts_ns: int


@dataclass(slots=True)
class Order:
    order_id: str  # "" lets the engine assign one from its id factory
    account: str
    product: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int | None  # None for MARKET
    quantity: int
    stop_price: int | None = None
    client_id: str | None = None
    reduce_only: bool = False  # carried for the front end; the engine keeps no positions
    status: Status = Status.OPEN
    filled: int = 0
    notional: int = 0  # sum of price * quantity over fills; notional // filled is the average price
    reason: Reason | None = None
    trades: list[Trade] = field(default_factory=list)
    created_ns: int = 0
    updated_ns: int = 0
    seq: int = 0  # time priority; a stop gets a fresh one when it triggers
    extra: dict[str, Any] = field(default_factory=dict)  # opaque venue data

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN


@dataclass(slots=True)
class Update:
    order: Order
    new_trades: list[Trade] = field(default_factory=list)


def counter_ids(prefix: str) -> Callable[[], str]:
    """Deterministic ids: prefix1, prefix2, ..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


class _BookSide:
    """One side of one product's book: price -> FIFO queue, plus the prices
    kept sorted so the best is an index away and a new level is a bisect."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool):
        self.is_bid = is_bid
        self.levels: dict[int, deque[Order]] = {}
        self.prices: list[int] = []  # ascending for both sides

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def walk(self) -> Iterator[tuple[int, deque[Order]]]:
        """Levels best first."""
        for price in (reversed(self.prices) if self.is_bid else self.prices):
            yield price, self.levels[price]

    def add(self, order: Order) -> None:
        assert order.price is not None
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            bisect.insort(self.prices, order.price)
        queue.append(order)

    def remove(self, order: Order) -> None:
        assert order.price is not None
        queue = self.levels[order.price]
        # by identity: dataclass == compares every field, trades included
        for i, resting in enumerate(queue):
            if resting is order:
                del queue[i]
                break
        if not queue:
            del self.levels[order.price]
            del self.prices[bisect.bisect_left(self.prices, order.price)]


class _Book:
    __slots__ = ("bids", "asks", "stops", "last")

    def __init__(self) -> None:
        self.bids = _BookSide(is_bid=True)
        self.asks = _BookSide(is_bid=False)
        self.stops: list[Order] = []  # untriggered, in submission order
        self.last: int | None = None

    def own(self, side: Side) -> _BookSide:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> _BookSide:
        return self.asks if side is Side.BUY else self.bids


class _Action:
    """What one public call did: its timestamp, the Updates so far (one per
    order, in first-touch order) and the stops waiting to be activated."""

    __slots__ = ("ts", "updates", "triggered")

    def __init__(self, ts: int):
        self.ts = ts
        self.updates: dict[str, Update] = {}
        self.triggered: deque[Order] = deque()

    def touch(self, order: Order, trade: Trade | None = None) -> None:
        order.updated_ns = self.ts
        update = self.updates.get(order.order_id)
        if update is None:
            update = self.updates[order.order_id] = Update(order, [])
        if trade is not None:
            update.new_trades.append(trade)

    def result(self) -> list[Update]:
        return list(self.updates.values())


def _crosses(taker: Order, maker_price: int) -> bool:
    if taker.price is None:  # market
        return True
    return maker_price <= taker.price if taker.side is Side.BUY else maker_price >= taker.price


def _fires(stop: Order, low: int, high: int) -> bool:
    assert stop.stop_price is not None
    return high >= stop.stop_price if stop.side is Side.BUY else low <= stop.stop_price


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; a True quantity is a caller bug, not 1
    return isinstance(value, int) and not isinstance(value, bool)


class MatchingEngine:
    def __init__(self, *, stp: Stp = Stp.CANCEL_TAKER, now_ns: Callable[[], int] = time.time_ns,
                 id_factory: Callable[[], str] | None = None,
                 trade_id_factory: Callable[[], str] | None = None):
        self.stp = stp
        self._now = now_ns
        self._new_id = id_factory or counter_ids("O-")
        self._new_trade_id = trade_id_factory or counter_ids("T-")
        self._seq = itertools.count(1)
        self.orders: dict[str, Order] = {}  # every order ever accepted, closed ones too
        self._open: dict[str, dict[str, Order]] = {}  # account -> open orders, so lookups skip closed history
        self._books: dict[str, _Book] = {}

    # queries

    def new_id(self) -> str:
        return self._new_id()

    def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def open_orders(self, account: str, product: str | None = None) -> list[Order]:
        orders = self._open.get(account, {}).values()
        return [o for o in orders if product is None or o.product == product]

    def best_bid(self, product: str) -> int | None:
        book = self._books.get(product)
        return book.bids.best() if book else None

    def best_ask(self, product: str) -> int | None:
        book = self._books.get(product)
        return book.asks.best() if book else None

    def last_price(self, product: str) -> int | None:
        book = self._books.get(product)
        return book.last if book else None

    def depth(self, product: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best first, asks best first), each level as (price, total remaining)."""
        book = self._books.get(product)
        if book is None:
            return [], []

        def side(s: _BookSide) -> list[tuple[int, int]]:
            return [(p, sum(o.remaining for o in q)) for p, q in itertools.islice(s.walk(), levels)]

        return side(book.bids), side(book.asks)

    # actions

    def submit(self, order: Order) -> list[Update]:
        self._validate(order)
        if not order.order_id:
            order.order_id = self.new_id()
        if order.order_id in self.orders:
            raise EngineError(f"duplicate order id {order.order_id}", "duplicate_id")
        act = _Action(self._now())
        order.created_ns = act.ts
        order.seq = next(self._seq)
        self.orders[order.order_id] = order
        self._open.setdefault(order.account, {})[order.order_id] = order
        book = self._book(order.product)
        if order.stop_price is None:
            self._activate(order, act)
        else:
            order.status = Status.UNTRIGGERED
            book.stops.append(order)
            act.touch(order)
            # a stop already through the last price would have fired on that trade; fire it now
            if book.last is not None:
                self._trigger(book, book.last, book.last, act)
        self._drain(act)
        return act.result()

    def cancel(self, account: str, order_id: str, reason: Reason = Reason.USER) -> Update:
        order = self.orders.get(order_id)
        # another account's order reads as unknown so ids can't be probed
        if order is None or order.account != account:
            raise EngineError(f"unknown order {order_id}", "unknown_order")
        if not order.is_open:
            raise EngineError(f"order {order_id} is not open: {order.status.value}", "not_open")
        act = _Action(self._now())
        self._unbook(order)
        self._close(order, Status.CANCELLED, reason, act)
        return act.updates[order.order_id]

    def cancel_all(self, account: str, product: str | None = None,
                   reason: Reason = Reason.CANCEL_ALL) -> list[Update]:
        act = _Action(self._now())
        for order in self.open_orders(account, product):
            self._unbook(order)
            self._close(order, Status.CANCELLED, reason, act)
        return act.result()

    def set_last_price(self, product: str, price: int) -> list[Update]:
        """Move the market as a print elsewhere would: may trigger stops."""
        if not _is_int(price) or price <= 0:
            raise EngineError(f"last price must be a positive int, got {price!r}")
        act = _Action(self._now())
        book = self._book(product)
        book.last = price
        self._trigger(book, price, price, act)
        self._drain(act)
        return act.result()

    # internals

    def _book(self, product: str) -> _Book:
        book = self._books.get(product)
        if book is None:
            book = self._books[product] = _Book()
        return book

    @staticmethod
    def _validate(order: Order) -> None:
        def bad(message: str) -> EngineError:
            return EngineError(f"malformed order {order.order_id or '(no id)'}: {message}", "malformed")

        if not isinstance(order.side, Side) or not isinstance(order.type, OrderType) \
                or not isinstance(order.tif, TimeInForce):
            raise bad("side, type and tif must be engine enums")
        if not order.account or not order.product:
            raise bad("account and product are required")
        if not _is_int(order.quantity) or order.quantity <= 0:
            raise bad(f"quantity must be a positive int, got {order.quantity!r}")
        if order.type is OrderType.MARKET:
            if order.price is not None:
                raise bad("a market order has no price")
        elif not _is_int(order.price) or order.price <= 0:
            raise bad(f"price must be a positive int, got {order.price!r}")
        if order.type is OrderType.LIMIT_MAKER and order.tif is not TimeInForce.GTC:
            # post-only must rest or be rejected; IOC/FOK would make it a no-op
            raise bad(f"a post-only order must be GTC, got {order.tif.value}")
        if order.stop_price is not None and (not _is_int(order.stop_price) or order.stop_price <= 0):
            raise bad(f"stop_price must be a positive int, got {order.stop_price!r}")
        if order.filled or order.notional or order.trades or order.status is not Status.OPEN:
            raise bad("a new order must be OPEN with no fills")

    def _activate(self, order: Order, act: _Action) -> None:
        """Run a live order (new, or a stop that just triggered) against the book."""
        order.status = Status.OPEN
        act.touch(order)
        book = self._book(order.product)
        best = book.opposite(order.side).best()
        if order.type is OrderType.LIMIT_MAKER and best is not None and _crosses(order, best):
            self._close(order, Status.REJECTED, Reason.POST_ONLY_WOULD_CROSS, act)
            return
        if order.type is OrderType.MARKET and best is None:
            self._close(order, Status.CANCELLED, Reason.NO_LIQUIDITY, act)
            return
        if order.tif is TimeInForce.FOK and self._fillable(order) < order.quantity:
            self._close(order, Status.CANCELLED, Reason.FOK_UNFILLED, act)
            return
        self._match(order, book, act)
        if not order.is_open:  # filled, or cancelled by self-trade prevention
            return
        if order.type is OrderType.MARKET or order.tif is not TimeInForce.GTC:
            self._close(order, Status.CANCELLED, Reason.IOC_REMAINDER, act)
        else:
            book.own(order.side).add(order)

    def _fillable(self, taker: Order) -> int:
        """How much would trade right now, honouring STP, without touching anything."""
        total = 0
        for price, queue in self._book(taker.product).opposite(taker.side).walk():
            if not _crosses(taker, price):
                break
            for maker in queue:
                if maker.account == taker.account and self.stp is not Stp.NONE:
                    if self.stp is Stp.CANCEL_MAKER:
                        continue
                    return total  # the taker would be cancelled here
                total += maker.remaining
                if total >= taker.remaining:
                    return total
        return total

    def _match(self, taker: Order, book: _Book, act: _Action) -> None:
        makers = book.opposite(taker.side)
        low = high = None  # range of this run's prints, for stop triggering
        while taker.remaining > 0:
            price = makers.best()
            if price is None or not _crosses(taker, price):
                break
            maker = makers.levels[price][0]
            if maker.account == taker.account and self.stp is not Stp.NONE:
                if self.stp in (Stp.CANCEL_MAKER, Stp.CANCEL_BOTH):
                    makers.remove(maker)
                    self._close(maker, Status.CANCELLED, Reason.SELF_TRADE, act)
                if self.stp in (Stp.CANCEL_TAKER, Stp.CANCEL_BOTH):
                    self._close(taker, Status.CANCELLED, Reason.SELF_TRADE, act)
                    break
                continue
            quantity = min(taker.remaining, maker.remaining)
            trade = Trade(
                trade_id=self._new_trade_id(), product=taker.product, price=price, quantity=quantity,
                maker_order_id=maker.order_id, taker_order_id=taker.order_id,
                maker_account=maker.account, taker_account=taker.account,
                taker_side=taker.side, ts_ns=act.ts,
            )
            self._fill(taker, trade, act)
            self._fill(maker, trade, act)
            if maker.remaining == 0:
                makers.remove(maker)
            book.last = price
            low = price if low is None else min(low, price)
            high = price if high is None else max(high, price)
        if low is not None and high is not None:
            self._trigger(book, low, high, act)

    def _fill(self, order: Order, trade: Trade, act: _Action) -> None:
        order.filled += trade.quantity
        order.notional += trade.price * trade.quantity
        order.trades.append(trade)
        if order.remaining == 0:
            order.status = Status.FILLED
            self._open[order.account].pop(order.order_id, None)
        else:
            order.status = Status.PARTIALLY_FILLED
        act.touch(order, trade)

    def _trigger(self, book: _Book, low: int, high: int, act: _Action) -> None:
        """Queue every stop that any print in [low, high] went through. Checking
        the range, not just the final price, catches a sweep that passes a stop
        and comes back."""
        fired = [o for o in book.stops if _fires(o, low, high)]
        if not fired:
            return
        fired_ids = {id(o) for o in fired}  # identity: dataclass == would compare every field
        book.stops = [o for o in book.stops if id(o) not in fired_ids]
        for order in fired:
            order.seq = next(self._seq)  # priority from activation, not from when it was parked
            act.touch(order)
            act.triggered.append(order)

    def _drain(self, act: _Action) -> None:
        # triggered stops run after the taker finishes, one at a time, so a cascade is a loop not recursion
        while act.triggered:
            self._activate(act.triggered.popleft(), act)

    def _unbook(self, order: Order) -> None:
        book = self._book(order.product)
        if order.status is Status.UNTRIGGERED:
            book.stops = [o for o in book.stops if o is not order]
        else:
            book.own(order.side).remove(order)

    def _close(self, order: Order, status: Status, reason: Reason, act: _Action) -> None:
        order.status = status
        order.reason = reason
        self._open[order.account].pop(order.order_id, None)
        act.touch(order)
