"""Every order the gateway keeps, indexed: by id, by the strategy's client id, by the
venue's id, open apart from closed (nothing scans the closed), and what waits for a
venue's word. Closed orders stay for `closed_ttl_ns` (at most `max_closed` of them), so
late venue events still find them and a strategy cannot reuse a client_order_id while
they may arrive. The tracker (gateway/orders/tracker.py) decides; this only keeps."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from gateway.orders.model import AWAITING_VENUE, TERMINAL, Order, Status


class OrderIndex:
    def __init__(self, *, closed_ttl_ns: int, max_closed: int, now_ns: Callable[[], int]):
        self._closed_ttl_ns = closed_ttl_ns
        self._max_closed = max_closed
        self._now_ns = now_ns
        self.orders: dict[str, Order] = {}
        self._by_client: dict[tuple[str, str], Order] = {}
        self._by_venue: dict[tuple[str, str], Order] = {}
        self._open: dict[str, Order] = {}  # the orders not closed, by order id
        # orders sent or with a cancel / replace on its way, for the pending watchdog; entries
        # whose order has moved on are dropped by the watchdog's own pass (awaiting())
        self._awaiting: dict[str, Order] = {}
        self._by_strategy: dict[str, dict[str, Order]] = {}  # every order kept, per strategy
        self._closed: deque[Order] = deque()  # in the order they closed, for purging
        self._open_count: dict[str, int] = {}  # per strategy, kept as orders open and close

    # look-ups

    def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def by_client(self, strategy: str, client_order_id: str) -> Order | None:
        return self._by_client.get((strategy, client_order_id))

    def by_venue(self, venue: str, venue_order_id: str) -> Order | None:
        return self._by_venue.get((venue, venue_order_id))

    def open_count(self, strategy: str) -> int:
        return self._open_count.get(strategy, 0)

    def open_orders(self, strategy: str | None = None, venue: str | None = None) -> list[Order]:
        return [
            o for o in self._open.values()
            if (strategy is None or o.strategy == strategy) and (venue is None or o.venue == venue)
        ]

    def strategy_orders(self, strategy: str) -> list[Order]:
        return list(self._by_strategy.get(strategy, {}).values())

    def awaiting(self) -> list[Order]:
        """Orders pending at their venue (sent, or a cancel / replace on its way); the pass also
        forgets those that have moved on, so this stays as small as what is in flight."""
        moved_on = [oid for oid, o in self._awaiting.items() if o.status not in AWAITING_VENUE]
        for oid in moved_on:
            del self._awaiting[oid]
        return list(self._awaiting.values())

    # what the tracker tells it

    def add(self, order: Order) -> None:
        """A new order (its client id checked free by the tracker)."""
        self.orders[order.order_id] = order
        self._by_client[(order.strategy, order.client_order_id)] = order
        self._by_strategy.setdefault(order.strategy, {})[order.order_id] = order
        self._open[order.order_id] = order
        self._open_count[order.strategy] = self._open_count.get(order.strategy, 0) + 1

    def restore(self, orders: Iterable[Order]) -> int:
        """Orders replayed from the journal (same ids); returns how many."""
        n = 0
        for order in orders:
            self.orders[order.order_id] = order
            self._by_client[(order.strategy, order.client_order_id)] = order
            self._by_strategy.setdefault(order.strategy, {})[order.order_id] = order
            if order.venue_order_id is not None:
                self._by_venue[(order.venue, order.venue_order_id)] = order
            if order.status not in TERMINAL:
                self._open[order.order_id] = order
                if order.status in AWAITING_VENUE:
                    self._awaiting[order.order_id] = order
                self._open_count[order.strategy] = self._open_count.get(order.strategy, 0) + 1
            else:
                self._closed.append(order)
            n += 1
        self._closed = deque(sorted(self._closed, key=lambda o: o.closed_ns))
        self.purge_closed()
        return n

    def bind_venue_id(self, order: Order, venue_order_id: str) -> None:
        if order.venue_order_id is not None:
            self._by_venue.pop((order.venue, order.venue_order_id), None)
        order.venue_order_id = venue_order_id
        self._by_venue[(order.venue, venue_order_id)] = order

    def await_venue(self, order: Order) -> None:
        self._awaiting[order.order_id] = order

    def closing(self, order: Order) -> None:
        order.closed_ns = self._now_ns()
        self._open.pop(order.order_id, None)
        self._open_count[order.strategy] -= 1
        self._closed.append(order)
        if len(self._closed) > self._max_closed:
            self._forget_oldest_closed()

    def reopened(self, order: Order) -> None:
        order.guessed = False
        order.closed_ns = 0
        self._open[order.order_id] = order
        self._open_count[order.strategy] = self._open_count.get(order.strategy, 0) + 1

    def unsent(self) -> list[Order]:
        """Open orders acked and never sent (no SENT record)."""
        return [o for o in self._open.values() if o.status is Status.PENDING_NEW and not o.sent_at_ns]

    def purge_closed(self) -> int:
        """Forget orders closed longer than the TTL (or beyond max_closed); returns how many went.
        Work is proportional to what goes, never to what is kept."""
        horizon = self._now_ns() - self._closed_ttl_ns
        closed = self._closed
        n = 0
        while closed and (closed[0].closed_ns < horizon or len(closed) > self._max_closed):
            n += self._forget_oldest_closed()
        return n

    def _forget_oldest_closed(self) -> int:
        order = self._closed.popleft()
        if order.status not in TERMINAL or self.orders.get(order.order_id) is not order:
            return 0  # reopened since (it will be queued again when it closes), or gone already
        del self.orders[order.order_id]
        self._by_client.pop((order.strategy, order.client_order_id), None)
        self._by_strategy[order.strategy].pop(order.order_id, None)
        if order.venue_order_id is not None:
            self._by_venue.pop((order.venue, order.venue_order_id), None)
        return 1
