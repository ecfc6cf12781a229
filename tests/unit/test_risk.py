"""Pre-trade limits: every limit on every change, the rate token spent last."""
from __future__ import annotations

import pytest

from gateway.config import RiskConfig
from gateway.orders.model import ONE
from gateway.risk import RiskError, RiskLimits


def limits(**kw) -> RiskLimits:
    return RiskLimits(RiskConfig(**kw))


def test_a_refused_order_does_not_spend_the_rate_token():
    risk = limits(max_order_quantity="10", max_orders_per_sec=1)
    with pytest.raises(RiskError, match="quantity 11 is over the limit 10"):
        risk.check(11 * ONE, None, 0, strategy="s")
    with pytest.raises(RiskError, match="open orders"):
        risk.check(ONE, None, 10**9, strategy="s")
    risk.check(ONE, None, 0, strategy="s")  # the one token is still there
    risk.check(ONE, None, 0, strategy="s")  # and a check only looks at it
    risk.spend("s")  # accepted: now it is spent
    with pytest.raises(RiskError, match="orders per second"):
        risk.check(ONE, None, 0, strategy="s")


def test_market_order_notional_is_valued_at_the_reference_price():
    risk = limits(max_order_notional="1000")
    risk.check(5 * ONE, None, 0, venue="v", symbol="X")  # no reference yet: nothing to value it at
    risk.reference.update("v", "X", 299 * ONE, 301 * ONE)  # the mid, 300
    risk.check(3 * ONE, None, 0, venue="v", symbol="X")
    with pytest.raises(RiskError, match=r"notional 1500 is over the limit 1000 \(a market order"):
        risk.check(5 * ONE, None, 0, venue="v", symbol="X")


def test_amendment_is_held_to_size_notional_band_and_rate():
    risk = limits(max_order_quantity="100", max_order_notional="1000", price_band_pct="10", max_orders_per_sec=2)
    risk.reference.update("v", "X", 90 * ONE, 110 * ONE, mark=100 * ONE)  # the mark wins over the mid
    with pytest.raises(RiskError, match="quantity"):
        risk.check_amendment(101 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="notional"):
        risk.check_amendment(20 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="from the reference price 100"):
        risk.check_amendment(ONE, 200 * ONE, strategy="s", venue="v", symbol="X")
    for _ in range(2):
        risk.check_amendment(ONE, 105 * ONE, strategy="s", venue="v", symbol="X")
        risk.spend("s")
    with pytest.raises(RiskError, match="orders per second"):
        risk.check_amendment(ONE, 105 * ONE, strategy="s", venue="v", symbol="X")
