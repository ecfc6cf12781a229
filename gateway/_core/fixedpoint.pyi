from typing import Final

U128_MAX: Final[int]

class FixedPointError(ValueError):
    """A decimal string that is not an exact value at the requested scale."""
    code: str
    def __init__(self, code: str, message: str) -> None: ...

def parse_scaled(
    text: str | bytes, decimals: int, *, signed: bool = False, max_value: int = ...,
) -> int:
    """Decimal string -> integer scaled by 10**decimals, exactly; never accepts floats."""

def format_scaled(value: int, decimals: int) -> str:
    """Shortest exact decimal string for value / 10**decimals."""

def rescale(value: int, from_decimals: int, to_decimals: int) -> int:
    """Change scale exactly; FixedPointError("excess_precision") if digits would drop."""
