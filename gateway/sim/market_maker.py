"""A resting ladder on both sides of each product, refilled after every action,
so orders sent to a simulator have something to trade against."""
from __future__ import annotations

from gateway.sim.engine import MatchingEngine, Order, OrderType, Side, TimeInForce, Update


class MarketMaker:
    def __init__(self, engine: MatchingEngine, account: str, *, levels: int, quantity: int,
                 ladders: dict[str, tuple[int, int]]):
        """ladders: product -> (mid price, step between levels), both scaled ints."""
        self.engine = engine
        self.account = account
        self.levels = levels
        self.quantity = quantity
        self.ladders = ladders
        self._seq = 0

    @classmethod
    def quoting(cls, engine: MatchingEngine, account: str, mids: dict[str, tuple[int, int]], *, levels: int,
                quantity: int) -> MarketMaker:
        """A market maker already resting around each product's mid: mids maps product -> (mid, tick).
        The mid is rounded down to the tick; levels are a tenth of a percent of it apart, a tick at least."""
        ladders = {product: (mid // tick * tick, max(tick, (mid // 1000) // tick * tick))
                   for product, (mid, tick) in mids.items()}
        mm = cls(engine, account, levels=levels, quantity=quantity, ladders=ladders)
        mm.refill()
        return mm

    def prices(self, product: str) -> list[tuple[Side, int]]:
        mid, step = self.ladders[product]
        out = []
        for i in range(1, self.levels + 1):
            out.append((Side.BUY, mid - i * step))
            out.append((Side.SELL, mid + i * step))
        return out

    def refill(self) -> list[Update]:
        updates: list[Update] = []
        for product in self.ladders:
            resting = {(o.side, o.price) for o in self.engine.open_orders(self.account, product)}
            for side, price in self.prices(product):
                if price > 0 and (side, price) not in resting:
                    updates += self.engine.submit(self._order(product, side, price, self.quantity, TimeInForce.GTC))
        return updates

    def take(self, product: str, side: Side, price: int, quantity: int) -> list[Update]:
        """Cross the book as an outside trader would: an IOC at price for quantity.

        It trades from its own account: the maker's own account would meet its
        ladder first and self-trade prevention would cancel it."""
        order = self._order(product, side, price, quantity, TimeInForce.IOC, f"{self.account}-taker")
        return self.engine.submit(order)

    def _order(self, product: str, side: Side, price: int, quantity: int, tif: TimeInForce,
               account: str | None = None) -> Order:
        self._seq += 1
        return Order(
            order_id=f"mm-{self._seq}", account=account or self.account, product=product, side=side,
            type=OrderType.LIMIT, tif=tif, price=price, quantity=quantity,
        )
