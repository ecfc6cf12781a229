"""Pre-trade limits, checked before an order is tracked or sent."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.config import RiskConfig
from gateway.orders.model import SCALE


class RiskError(ValueError):
    pass


class RiskLimits:
    def __init__(self, config: RiskConfig):
        self.max_quantity = parse_scaled(config.max_order_quantity, SCALE)
        self.max_notional = parse_scaled(config.max_order_notional, SCALE)
        self.max_open_orders = config.max_open_orders

    def check(self, quantity: int, price: int | None, open_orders: int) -> None:
        if quantity > self.max_quantity:
            raise RiskError(
                f"quantity {format_scaled(quantity, SCALE)} is over the limit "
                f"{format_scaled(self.max_quantity, SCALE)}"
            )
        if price is not None:
            notional = quantity * price // 10**SCALE
            if notional > self.max_notional:
                raise RiskError(
                    f"notional {format_scaled(notional, SCALE)} is over the limit "
                    f"{format_scaled(self.max_notional, SCALE)}"
                )
        if open_orders >= self.max_open_orders:
            raise RiskError(f"{open_orders} open orders: the limit is {self.max_open_orders}")
