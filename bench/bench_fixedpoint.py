"""Money-path conversions; the Decimal baseline is what a pure-Python gateway would do."""

from decimal import Decimal

import pytest

from gateway._core.fixedpoint import format_scaled, parse_scaled

PRICE = "65000.5"
WIDE = "123456789012.345678901234567890"  # 30 digits: past the uint64 mantissa fast path
SCALE = 10**18

# one group, so the conftest's ratios compare against this file's baseline only
pytestmark = pytest.mark.benchmark(group="fixedpoint")


def test_parse_price_e18(benchmark):
    assert benchmark(parse_scaled, PRICE, 18) == 65000500000000000000000


def test_parse_30_digits_e18(benchmark):
    assert benchmark(parse_scaled, WIDE, 18) == 123456789012345678901234567890


def test_format_price_e18(benchmark):
    assert benchmark(format_scaled, 65000500000000000000000, 18) == PRICE


def _decimal_parse(text):
    return int(Decimal(text) * SCALE)


def test_parse_price_e18_decimal_baseline(benchmark):
    assert benchmark(_decimal_parse, PRICE) == 65000500000000000000000
