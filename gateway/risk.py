"""Pre-trade limits, checked before an order is tracked or sent."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.config import RiskConfig
from gateway.net.ratelimit import TokenBucket
from gateway.orders.model import SCALE
from gateway.reference.prices import ReferencePrices


class RiskError(ValueError):
    pass


class RiskLimits:
    def __init__(self, config: RiskConfig):
        self.max_quantity = parse_scaled(config.max_order_quantity, SCALE)
        self.max_notional = parse_scaled(config.max_order_notional, SCALE)
        self.max_open_orders = config.max_open_orders
        self.max_rate = config.max_orders_per_sec
        self.band = parse_scaled(config.price_band_pct, SCALE)  # percent, e18
        self._buckets: dict[str, TokenBucket] = {}
        # each venue's public prices: the band's reference, and a market order's value
        self.reference = ReferencePrices()

    def check(self, quantity: int, price: int | None, open_orders: int, *, strategy: str = "",
              venue: str = "", symbol: str = "", pending: int = 0) -> None:
        """Every limit of a new order. The orders/s rate is only looked at here: its token is
        spent (spend) once the order is accepted, so an order refused by this or a later check
        (the venue's line, a duplicate id, the venue's own rules) does not cost the strategy
        its rate. pending: orders of the same request checked before this one."""
        self._check_band(price, venue, symbol)
        self._check_size(quantity, price, venue, symbol)
        if open_orders >= self.max_open_orders:
            raise RiskError(f"{open_orders} open orders: the limit is {self.max_open_orders}")
        self._check_rate(strategy, pending + 1)

    def check_amendment(self, quantity: int, price: int | None, *, strategy: str = "", venue: str = "",
                        symbol: str = "") -> None:
        """A modify's resulting price and quantity: the same band, size and rate limits as a new
        order (the open-order count does not change)."""
        self._check_band(price, venue, symbol)
        self._check_size(quantity, price, venue, symbol)
        self._check_rate(strategy, 1)

    def _check_rate(self, strategy: str, n: int) -> None:
        if self.max_rate > 0:
            bucket = self._buckets.get(strategy)
            if bucket is None:
                bucket = self._buckets[strategy] = TokenBucket(self.max_rate, max(1.0, self.max_rate))
            if bucket.projected_wait(n) > 0:
                raise RiskError(f"over {self.max_rate:g} orders per second for this strategy")

    def spend(self, strategy: str, n: int = 1) -> None:
        """The strategy's order (or n of them, a group's legs) was accepted: its rate tokens go.
        Checked by check() in the same loop turn, so they are there (tokens only accrue)."""
        bucket = self._buckets.get(strategy)
        if bucket is not None:
            bucket.try_take(n)

    def _check_band(self, price: int | None, venue: str, symbol: str) -> None:
        if price is not None and self.band:
            ref = self.reference.price(venue, symbol)
            # |price - ref| / ref > band / 100, in integers
            if ref and abs(price - ref) * 100 * 10**SCALE > self.band * ref:
                raise RiskError(
                    f"price {format_scaled(price, SCALE)} is more than {format_scaled(self.band, SCALE)}% "
                    f"from the reference price {format_scaled(ref, SCALE)}"
                )

    def _check_size(self, quantity: int, price: int | None, venue: str, symbol: str) -> None:
        if quantity > self.max_quantity:
            raise RiskError(
                f"quantity {format_scaled(quantity, SCALE)} is over the limit "
                f"{format_scaled(self.max_quantity, SCALE)}"
            )
        # a market order is valued at the venue's reference price (its mark, else the mid)
        ref = price if price is not None else self.reference.price(venue, symbol)
        if ref is not None:
            notional = quantity * ref // 10**SCALE
            if notional > self.max_notional:
                raise RiskError(
                    f"notional {format_scaled(notional, SCALE)} is over the limit "
                    f"{format_scaled(self.max_notional, SCALE)}"
                    + ("" if price is not None else " (a market order, valued at the reference price)")
                )
