"""Pre-trade limits, checked before an order is tracked or sent."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.config import RiskConfig
from gateway.net.ratelimit import TokenBucket
from gateway.orders.model import SCALE


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
        self.last_trade: dict[tuple[str, str], int] = {}  # (venue, symbol) -> last fill price

    def check(self, quantity: int, price: int | None, open_orders: int, *, strategy: str = "",
              venue: str = "", symbol: str = "") -> None:
        """Every limit of a new order; the orders/s token is taken only once all others passed,
        so a refused order does not cost the strategy its rate."""
        self._check_band(price, venue, symbol)
        self._check_size(quantity, price, venue, symbol)
        if open_orders >= self.max_open_orders:
            raise RiskError(f"{open_orders} open orders: the limit is {self.max_open_orders}")
        self._take_token(strategy)

    def check_amendment(self, quantity: int, price: int | None, *, strategy: str = "", venue: str = "",
                        symbol: str = "") -> None:
        """A modify's resulting price and quantity: the same band, size and rate limits as a new
        order (the open-order count does not change)."""
        self._check_band(price, venue, symbol)
        self._check_size(quantity, price, venue, symbol)
        self._take_token(strategy)

    def _take_token(self, strategy: str) -> None:
        if self.max_rate > 0:
            bucket = self._buckets.get(strategy)
            if bucket is None:
                bucket = self._buckets[strategy] = TokenBucket(self.max_rate, max(1.0, self.max_rate))
            if not bucket.try_take():
                raise RiskError(f"over {self.max_rate:g} orders per second for this strategy")

    def _check_band(self, price: int | None, venue: str, symbol: str) -> None:
        if price is not None and self.band:
            ref = self.last_trade.get((venue, symbol))
            # |price - ref| / ref > band / 100, in integers
            if ref and abs(price - ref) * 100 * 10**SCALE > self.band * ref:
                raise RiskError(
                    f"price {format_scaled(price, SCALE)} is more than {format_scaled(self.band, SCALE)}% "
                    f"from the last trade {format_scaled(ref, SCALE)}"
                )

    def _check_size(self, quantity: int, price: int | None, venue: str, symbol: str) -> None:
        if quantity > self.max_quantity:
            raise RiskError(
                f"quantity {format_scaled(quantity, SCALE)} is over the limit "
                f"{format_scaled(self.max_quantity, SCALE)}"
            )
        # a market order is valued at the reference price (the last trade we saw there)
        ref = price if price is not None else self.last_trade.get((venue, symbol))
        if ref is not None:
            notional = quantity * ref // 10**SCALE
            if notional > self.max_notional:
                raise RiskError(
                    f"notional {format_scaled(notional, SCALE)} is over the limit "
                    f"{format_scaled(self.max_notional, SCALE)}"
                    + ("" if price is not None else " (a market order, valued at the last trade)")
                )
