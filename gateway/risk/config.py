"""The `[risk]` tables: the defaults, and the overrides per symbol, per strategy and per
strategy and symbol (README "Risk limits").

A table leaves out what it does not change: None here means "the next table down says".
Amounts are decimal strings (quantities in the symbol's base units, notionals in its quote
units), checked here so a typo is a config error naming its path, never a refused order."""
from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from gateway._core.fixedpoint import FixedPointError, parse_scaled

SCALE = 18

# per order or per (strategy, venue, symbol): any table may set them
SYMBOL_KEYS = ("max_order_quantity", "max_order_notional", "max_position", "price_band_pct",
               "require_reference_price", "reference_max_age_secs")
# over all of a strategy's orders: [risk] and [risk.strategies.NAME] only
STRATEGY_KEYS = ("max_open_notional", "max_open_orders", "max_orders_per_sec")
LIMIT_KEYS = SYMBOL_KEYS + STRATEGY_KEYS

# decimal keys: (must be above zero, or "0" means no limit)
_DECIMALS = {"max_order_quantity": True, "max_order_notional": True, "max_position": False,
             "price_band_pct": False, "max_open_notional": False}

# a strategy name as hello accepts it (gateway/validation.py STRATEGY_NAME)
_STRATEGY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _check_decimals(table: msgspec.Struct) -> None:
    for key, above_zero in _DECIMALS.items():
        text = getattr(table, key, None)
        if text is None:
            continue
        try:
            value = parse_scaled(text, SCALE)
        except FixedPointError as exc:
            raise ValueError(f"{key}: {exc}") from None
        except TypeError:
            raise ValueError(f"{key} must be a decimal string, e.g. \"1.5\"") from None
        if above_zero and value == 0:
            raise ValueError(f"{key} must be above zero (it would refuse every order)")


def _set(text: str | None) -> bool:
    """A limit given and not "0" (no limit)."""
    return text is not None and parse_scaled(text, SCALE) != 0


def _check_max_loss(text: str | None) -> None:
    if text is None:
        return
    try:
        value = parse_scaled(text, SCALE)
    except (FixedPointError, TypeError):
        raise ValueError(f"max_loss must be a positive decimal string (quote units), got {text!r}") from None
    if value <= 0:
        raise ValueError(f"max_loss must be above zero, got {text!r}")


class SymbolRisk(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """[risk.symbols."SYMBOL"], [risk.symbols."VENUE:SYMBOL"] and the same under a strategy:
    the limits of one order and of the position in one symbol."""
    max_order_quantity: str | None = None
    max_order_notional: str | None = None
    max_position: str | None = None
    price_band_pct: str | None = None
    require_reference_price: bool | None = None
    reference_max_age_secs: Annotated[float, msgspec.Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        _check_decimals(self)


class StrategyRisk(SymbolRisk, frozen=True, forbid_unknown_fields=True):
    """[risk.strategies.NAME]: the strategy's own limits over [risk] (a symbol table's, and
    the strategy-wide ones), and its own symbols'."""
    max_open_notional: str | None = None
    max_open_orders: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_orders_per_sec: Annotated[float, msgspec.Meta(ge=0)] | None = None
    # this strategy's own loss limit and what a breach moves it to (README "Strategy states")
    max_loss: str | None = None
    on_max_loss: Literal["reducing", "halted"] | None = None
    symbols: dict[str, SymbolRisk] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_max_loss(self.max_loss)


class RiskConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Pre-trade limits, the defaults of every strategy and symbol. Quantities (base units) and
    notionals (quote units) are decimal strings; "0" where allowed: no limit."""
    max_order_quantity: str = "1000000"
    max_order_notional: str = "100000000"
    # |net position + the strategy's open orders on the order's side + the order|; "0": no limit
    max_position: str = "0"
    # the sum of remaining quantity x price over the strategy's open orders; "0": no limit
    max_open_notional: str = "0"
    max_open_orders: Annotated[int, msgspec.Meta(ge=1)] = 10000
    max_orders_per_sec: Annotated[float, msgspec.Meta(ge=0)] = 0  # places per strategy; 0: no limit
    # a limit price further than this from the venue's reference price (mark, else mid) is
    # refused (decimal percent; "0": no band)
    price_band_pct: str = "0"
    # without a reference price younger than reference_max_age_secs, market orders (and limit
    # orders whose band cannot be checked) are refused: fail closed
    require_reference_price: bool = True
    reference_max_age_secs: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # a strategy whose realized plus unrealized PnL falls below minus this (quote units, decimal
    # string; absent: no limit) is moved once to on_max_loss (README "Strategy states")
    max_loss: str | None = None
    on_max_loss: Literal["reducing", "halted"] = "reducing"
    symbols: dict[str, SymbolRisk] = {}
    strategies: dict[str, StrategyRisk] = {}

    def __post_init__(self) -> None:
        _check_decimals(self)
        _check_max_loss(self.max_loss)
        for name in self.strategies:
            if not _STRATEGY_NAME.match(name):
                raise ValueError(f'strategies["{name}"]: not a strategy name a hello accepts '
                                 "(1-64 of A-Z a-z 0-9 _ . : -)")

    def reads_open_orders(self) -> bool:
        """Whether a table sets max_position or max_open_notional (the limits that read the open
        orders' sums)."""
        tables = [self, *self.symbols.values()]
        for own in self.strategies.values():
            tables += [own, *own.symbols.values()]
        return any(_set(getattr(t, key, None)) for t in tables for key in ("max_position", "max_open_notional"))

    def max_loss_of(self, strategy: str) -> tuple[str | None, str, str]:
        """(max_loss, on_max_loss, the table max_loss came from) in force for a strategy."""
        own = self.strategies.get(strategy)
        on = (own.on_max_loss if own is not None and own.on_max_loss is not None else self.on_max_loss)
        if own is not None and own.max_loss is not None:
            return own.max_loss, on, f"risk.strategies.{strategy}"
        return self.max_loss, on, "risk"

    def check_symbols(self, venue_symbols: dict[str, set[str]]) -> None:
        """Every symbol a table names is one some venue trades (`VENUE:SYMBOL`: that venue);
        ValueError naming the table otherwise. venue_symbols: venue -> its symbols."""
        every = set().union(*venue_symbols.values()) if venue_symbols else set()
        tables = [("risk.symbols", self.symbols)]
        tables += [(f'risk.strategies["{name}"].symbols', s.symbols) for name, s in self.strategies.items()]
        for path, symbols in tables:
            for key in symbols:
                venue, sep, symbol = key.partition(":")
                if sep and venue in venue_symbols:
                    if symbol not in venue_symbols[venue]:
                        raise ValueError(f'{path}["{key}"]: venue {venue} has no symbol {symbol!r}; it trades: '
                                         f"{', '.join(sorted(venue_symbols[venue])) or 'none'}")
                elif key not in every:
                    # not a venue's symbol, and not VENUE:SYMBOL of a configured venue either
                    raise ValueError(f'{path}["{key}"]: no venue trades a symbol {key!r} (a symbol, or '
                                     f"VENUE:SYMBOL); configured: {', '.join(sorted(every)) or 'none'}")
