"""The limits in force for one (strategy, venue, symbol), resolved from the `[risk]` tables
once and kept: the order path reads plain ints, never walks the tables.

Most specific first: [risk.strategies.NAME.symbols."VENUE:SYMBOL"],
[risk.strategies.NAME.symbols."SYMBOL"], [risk.strategies.NAME], [risk.symbols."VENUE:SYMBOL"],
[risk.symbols."SYMBOL"], [risk]. The strategy-wide limits (open notional, open orders, orders
per second) come from [risk.strategies.NAME], else [risk]."""
from __future__ import annotations

import re

from gateway._core.fixedpoint import parse_scaled
from gateway.risk.config import LIMIT_KEYS, SCALE, STRATEGY_KEYS, RiskConfig

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    """A table name as TOML spells it: bare where it can be, quoted otherwise."""
    return name if _BARE_KEY.match(name) else f'"{name}"'


class Limits:
    """One (strategy, venue, symbol)'s limits, as the checks use them: amounts e18 ints
    (0: no limit where "0" means that), the age in ns. source: limit -> the table it came from."""
    __slots__ = ("max_order_quantity", "max_order_notional", "max_position", "price_band_pct",
                 "require_reference_price", "reference_max_age_ns", "max_open_notional", "max_open_orders",
                 "max_orders_per_sec", "values", "source")

    def __init__(self, values: dict[str, object], source: dict[str, str]):
        self.values = values  # the tables' own spelling, for `gateway risk`
        self.source = source
        self.max_order_quantity = parse_scaled(values["max_order_quantity"], SCALE)
        self.max_order_notional = parse_scaled(values["max_order_notional"], SCALE)
        self.max_position = parse_scaled(values["max_position"], SCALE)
        self.price_band_pct = parse_scaled(values["price_band_pct"], SCALE)  # percent, e18
        self.require_reference_price = bool(values["require_reference_price"])
        self.reference_max_age_ns = int(values["reference_max_age_secs"] * 10**9)
        self.max_open_notional = parse_scaled(values["max_open_notional"], SCALE)
        self.max_open_orders = int(values["max_open_orders"])
        self.max_orders_per_sec = float(values["max_orders_per_sec"])


class LimitTables:
    """The [risk] tree, and each (strategy, venue, symbol)'s limits resolved from it on first
    use. A strategy no table names shares the defaults' entries (the cache stays as small as
    the config, whatever names strategies say hello with). A new config is a new LimitTables:
    nothing resolved from the old one survives it."""

    def __init__(self, config: RiskConfig):
        self.config = config
        self._cache: dict[tuple[str | None, str, str], Limits] = {}

    def get(self, strategy: str, venue: str, symbol: str) -> Limits:
        key = (strategy if strategy in self.config.strategies else None, venue, symbol)
        limits = self._cache.get(key)
        if limits is None:
            limits = self._cache[key] = self._resolve(*key)
        return limits

    def clear(self) -> None:
        self._cache.clear()

    def tables(self, strategy: str | None, venue: str | None, symbol: str | None) -> list[tuple[str, object]]:
        """The tables that apply, most specific first: (name, table)."""
        config = self.config
        found: list[tuple[str, object]] = []
        names = ([f"{venue}:{symbol}", symbol] if venue is not None else [symbol]) if symbol is not None else []
        own = config.strategies.get(strategy) if strategy is not None else None
        if own is not None:
            base = f"risk.strategies.{_key(strategy)}"
            for name in names:
                table = own.symbols.get(name)
                if table is not None:
                    found.append((f"{base}.symbols.{_key(name)}", table))
            found.append((base, own))
        for name in names:
            table = config.symbols.get(name)
            if table is not None:
                found.append((f"risk.symbols.{_key(name)}", table))
        found.append(("risk", config))
        return found

    def _resolve(self, strategy: str | None, venue: str | None, symbol: str | None) -> Limits:
        tables = self.tables(strategy, venue, symbol)
        values: dict[str, object] = {}
        source: dict[str, str] = {}
        for key in LIMIT_KEYS:
            for name, table in tables:
                value = getattr(table, key, None)  # a symbol table has no strategy-wide keys
                if value is not None:
                    values[key], source[key] = value, name
                    break
        return Limits(values, source)

    def strategy_wide(self, strategy: str) -> Limits:
        """The strategy's limits before any symbol's table ([risk.strategies.NAME] over [risk])."""
        return self._resolve(strategy if strategy in self.config.strategies else None, None, None)


__all__ = ["LimitTables", "Limits", "STRATEGY_KEYS"]
