"""What `gateway risk` and /metrics show of risk: each strategy's limits in force, the table
each came from, and how much of them its open orders and position use. Read-only, off the
order path (a pass over the config's tables and the strategy's symbols)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.ipc import frames as f
from gateway.orders.model import Side
from gateway.risk.checks import RiskLimits, fmt
from gateway.risk.config import LIMIT_KEYS, SYMBOL_KEYS
from gateway.risk.effective import Limits
from gateway.risk.exposure import OpenExposure


def _spell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _limit_views(lim: Limits, keys: Iterable[str]) -> list[f.LimitView]:
    return [f.LimitView(name=k, value=_spell(lim.values[k]), source=lim.source[k]) for k in keys]


def venue_symbols(venues: Mapping[str, object]) -> dict[str, set[str]]:
    """venue -> the symbols it trades (its instruments and the symbols given alone)."""
    out = {}
    for name, adapter in venues.items():
        config = getattr(adapter, "config", None)
        out[name] = {*adapter.instruments, *(getattr(config, "symbols", ()) or ())}
    return out


def strategies(risk: RiskLimits, tracker, connected: Iterable[str] = (),
               exposure: OpenExposure | None = None) -> list[str]:
    """Strategies worth showing: those a table names, those with open orders or a position,
    and those connected."""
    exposure = exposure or _exposure(risk, tracker)
    names = set(risk.config.strategies) | set(exposure.strategies()) | set(connected)
    names |= {o.strategy for o in tracker.open_orders()} if tracker is not None else set()
    positions = risk.positions
    if positions is not None and hasattr(positions, "strategies"):
        names |= set(positions.strategies())
    return sorted(names)


def _exposure(risk: RiskLimits, tracker):
    """The open orders' sums: the limits' own while a limit keeps them, else made now."""
    if risk.exposure.active or tracker is None:
        return risk.exposure
    return OpenExposure.of(tracker.open_orders(), lambda venue, symbol: risk.reference.price(venue, symbol))


def _symbols(risk: RiskLimits, exposure, strategy: str, symbols_of: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(venue, symbol) the strategy trades now or a table names for it or for every strategy."""
    found = set(exposure.symbols(strategy))
    positions = risk.positions
    if positions is not None and hasattr(positions, "of"):
        found |= set(positions.of(strategy))
    keys = list(risk.config.symbols)
    own = risk.config.strategies.get(strategy)
    if own is not None:
        keys += list(own.symbols)
    for key in keys:
        venue, sep, symbol = key.partition(":")
        if sep and venue in symbols_of and symbol in symbols_of[venue]:
            found.add((venue, symbol))
        else:
            found |= {(v, key) for v, listed in symbols_of.items() if key in listed}
    return sorted(found)


def strategy_view(risk: RiskLimits, strategy: str, open_orders: int,
                  symbols_of: dict[str, set[str]], exposure: OpenExposure | None = None) -> f.StrategyRiskView:
    exposure = exposure or risk.exposure
    wide = risk.tables.strategy_wide(strategy)
    open_notional = exposure.notional(strategy)
    usage: dict[str, float] = {"max_open_orders": open_orders / wide.max_open_orders}
    if wide.max_open_notional:
        usage["max_open_notional"] = open_notional / wide.max_open_notional
    views = []
    for venue, symbol in _symbols(risk, exposure, strategy, symbols_of):
        lim = risk.limits(strategy, venue, symbol)
        buy = exposure.quantity(strategy, venue, symbol, Side.BUY)
        sell = exposure.quantity(strategy, venue, symbol, Side.SELL)
        position = None
        if risk.positions is not None:
            held = risk.positions.get(strategy, venue, symbol)
            position = 0 if held is None else held.net
        net = position or 0
        worst = max(net + buy, net - sell, key=abs)
        ratio = None
        if lim.max_position:
            ratio = abs(worst) / lim.max_position
            usage["max_position"] = max(usage.get("max_position", 0.0), ratio)
        ref = risk.reference.price(venue, symbol)
        views.append(f.SymbolRiskView(
            venue=venue, symbol=symbol, limits=_limit_views(lim, SYMBOL_KEYS), open_buy=fmt(buy), open_sell=fmt(sell),
            position=None if position is None else fmt(position), worst_position=fmt(worst),
            max_position_usage=ratio, reference_price=None if ref is None else fmt(ref)))
    return f.StrategyRiskView(strategy=strategy, limits=_limit_views(wide, LIMIT_KEYS), open_orders=open_orders,
                              open_notional=fmt(open_notional), usage=usage, symbols=views)


def risk_reply(req_id: int, risk: RiskLimits, tracker, venues: Mapping[str, object], connected: Iterable[str],
               only: str | None = None) -> f.RiskReply:
    symbols_of = venue_symbols(venues)
    exposure = _exposure(risk, tracker)
    names = [only] if only is not None else strategies(risk, tracker, connected, exposure)
    return f.RiskReply(req_id=req_id, strategies=[
        strategy_view(risk, name, tracker.open_count(name), symbols_of, exposure) for name in names])


def usage_ratios(risk: RiskLimits, tracker, venues: Mapping[str, object],
                 connected: Iterable[str]) -> list[tuple[str, str, float]]:
    """(strategy, limit, ratio) for /metrics' gateway_risk_limit_usage_ratio."""
    symbols_of = venue_symbols(venues)
    exposure = _exposure(risk, tracker)
    out = []
    for name in strategies(risk, tracker, connected, exposure):
        view = strategy_view(risk, name, tracker.open_count(name), symbols_of, exposure)
        out += [(name, limit, ratio) for limit, ratio in sorted(view.usage.items())]
    return out
