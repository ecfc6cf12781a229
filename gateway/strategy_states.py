"""Strategy states: what one strategy may do, apart from every other.

- `active`: what the limits allow.
- `reducing`: only orders that make the strategy's absolute position on that venue and
  symbol smaller, counting its open orders on the same side. An order that would take the
  position past zero (flip it) is refused, never trimmed: the strategy decides what to send.
- `halted`: no new orders, replaces or modifies.

Cancels always pass: nothing here is asked about them. Refusals have their own codes,
`strategy_reducing` and `strategy_halted`, so a client tells them from a breached limit.

A state is set by an operator (the `set_risk_state` op: `gateway risk set-state`), by fleet
control (the drop copy's `set_state`), or by a `max_loss` breach, which moves the strategy once
to `on_max_loss` (never to a looser state than it has). Every change is journaled and flushed
before it is said to be done, restored after a restart, and kept by a compaction (records());
the strategy is told with a `risk_state` event.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.metrics import STRATEGY_STATES
from gateway.orders.journal import Journal
from gateway.orders.model import SCALE, Order, Side
from gateway.orders.records import RiskStateRecord
from gateway.orders.tracker import Tracker
from gateway.validation import STRATEGY_NAME, RequestError, clip

log = logging.getLogger("gateway.risk.states")

STATES = STRATEGY_STATES
ACTIVE, REDUCING, HALTED = STATES
_STRICTNESS = {ACTIVE: 0, REDUCING: 1, HALTED: 2}
# who set a state (the change counter's `source` label)
OPERATOR, FLEET_CONTROL, MAX_LOSS = "operator", "fleet_control", "max_loss"


class Position(Protocol):
    net: int  # e18 base units, signed: + long


class PositionBook(Protocol):
    """What states need of the positions book (gateway/positions/)."""

    def get(self, strategy: str, venue: str, symbol: str) -> Position | None: ...
    def pnl(self, strategy: str) -> tuple[int, int]: ...  # (realized, unrealized), e18 quote units
    def strategies(self) -> list[str]: ...  # every strategy with a position, flat ones too


class StateCounters(Protocol):
    """What states count (gateway/metrics.py's Metrics)."""

    def state_changed(self, strategy: str, state: str, source: str) -> None: ...
    def max_loss_breached(self, strategy: str) -> None: ...


@dataclass(slots=True)
class StrategyState:
    state: str
    reason: str | None
    source: str
    since_ns: int  # wall clock of the change


def _q(value: int) -> str:
    return format_scaled(value, SCALE)


class StrategyStates:
    def __init__(self, tracker: Tracker, metrics: StateCounters, journal: Journal | None = None):
        self._tracker = tracker
        self._metrics = metrics
        self._journal = journal
        self.limited: dict[str, StrategyState] = {}  # the strategies that are not active
        # strategies a max_loss breach has moved: not moved again until their PnL is back above
        # the limit (an operator who sets one active again is not overruled every second)
        self.breached: set[str] = set()
        self.positions: PositionBook | None = None  # the positions book, assigned once composed
        # tells the strategy of its new state (the sessions', set when composed)
        self.notify: Callable[[str, str, str | None], None] = lambda strategy, state, reason: None
        self.max_loss: int | None = None  # [risk]'s; a strategy's own: loss_limit()
        self.on_max_loss = REDUCING
        self.any_max_loss = False

    def configure(self, config: RiskConfig) -> None:
        """The [risk] options states read (at start and on every reload): max_loss and
        on_max_loss, from [risk.strategies.NAME] over [risk]."""
        self._config = config
        self._loss_limits: dict[str, tuple[int | None, str]] = {}
        self.max_loss = None if config.max_loss is None else parse_scaled(config.max_loss, SCALE)
        # whether any table sets one: no table, no PnL to watch
        self.any_max_loss = self.max_loss is not None or any(
            s.max_loss is not None for s in config.strategies.values())
        self.on_max_loss = config.on_max_loss

    def loss_limit(self, strategy: str) -> tuple[int | None, str]:
        """(max_loss e18 or None, on_max_loss) in force for the strategy."""
        found = self._loss_limits.get(strategy)
        if found is None:
            config = getattr(self, "_config", None)
            if config is None:
                return self.max_loss, self.on_max_loss
            text, on, _ = config.max_loss_of(strategy)
            found = (None if text is None else parse_scaled(text, SCALE), on)
            if len(self._loss_limits) < 100_000:  # strategy names come from hellos: bounded
                self._loss_limits[strategy] = found
        return found

    def state(self, strategy: str) -> str:
        entry = self.limited.get(strategy)
        return ACTIVE if entry is None else entry.state

    # the order path's checks

    def check_new_work(self, strategy: str) -> None:
        """A halted strategy takes no new order, replace or modify (asked by the admission gate)."""
        entry = self.limited.get(strategy)
        if entry is not None and entry.state == HALTED:
            raise RequestError("strategy_halted", f"strategy {strategy} is halted ({entry.source}): "
                                                  f"{entry.reason or 'no reason given'}; cancels still pass")

    def check_orders(self, strategy: str, orders: list[Order], replacing: Order | None = None) -> None:
        """New orders (a place, a group's legs, a replace's new order) of a reducing strategy:
        each must reduce the position, counting the strategy's open orders on its side and the
        legs before it. replacing: an order whose remaining quantity the new one takes over."""
        entry = self.limited.get(strategy)
        if entry is None or entry.state != REDUCING:
            return
        for i, order in enumerate(orders):
            ahead = sum(o.quantity for o in orders[:i]
                        if o.venue == order.venue and o.symbol == order.symbol and o.side is order.side)
            self._check_reduces(strategy, order.venue, order.symbol, order.side, order.quantity + ahead,
                                replacing, entry)

    def check_amendment(self, order: Order, quantity: int | None) -> None:
        """A modify of a reducing strategy's order: the order as it would be must still reduce."""
        entry = self.limited.get(order.strategy)
        if entry is None or entry.state != REDUCING:
            return
        left = (order.quantity if quantity is None else quantity) - order.filled
        self._check_reduces(order.strategy, order.venue, order.symbol, order.side, left, order, entry)

    def _check_reduces(self, strategy: str, venue: str, symbol: str, side: Side, quantity: int,
                       exclude: Order | None, entry: StrategyState) -> None:
        why = f"strategy {strategy} is reducing ({entry.source}: {entry.reason or 'no reason given'})"
        if self.positions is None:
            raise RequestError("strategy_reducing", f"{why}: its positions are not known, so no order can be "
                                                    "shown to reduce one")
        position = self.positions.get(strategy, venue, symbol)
        net = 0 if position is None else position.net
        if net == 0:
            raise RequestError("strategy_reducing", f"{why}: it holds no position in {venue} {symbol} to reduce")
        reduces = Side.SELL if net > 0 else Side.BUY
        if side is not reduces:
            raise RequestError("strategy_reducing", f"{why}: a {side.value} adds to its "
                                                    f"{'long' if net > 0 else 'short'} position {_q(net)} "
                                                    f"in {venue} {symbol}")
        # their remaining quantity, and what they filled that the book has not booked yet
        working = sum(o.at_risk for o in self._tracker.open_orders(strategy=strategy, venue=venue)
                      if o.symbol == symbol and o.side is side and o is not exclude)
        if working + quantity > abs(net):
            raise RequestError("strategy_reducing",
                               f"{why}: position {_q(net)} in {venue} {symbol}, open {side.value}s {_q(working)}, "
                               f"this {side.value} {_q(quantity)}: together they would flip it (refused, not "
                               f"trimmed); at most {_q(max(0, abs(net) - working))} more may go")

    # setting a state

    def set(self, strategy: str, state: str, reason: str | None, source: str = OPERATOR) -> str:
        """Set the strategy's state; returns the state it had. Journaled (and flushed) first."""
        if state not in STATES:
            raise RequestError("bad_field", f"state must be one of {', '.join(STATES)}; got {clip(str(state), 40)!r}")
        if not STRATEGY_NAME.match(strategy):
            raise RequestError("bad_field", "strategy must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        reason = clip(reason) if reason else None
        was = self.state(strategy)
        if state == ACTIVE:
            self.limited.pop(strategy, None)
        else:
            self.limited[strategy] = StrategyState(state, reason, source, time.time_ns())
        self._journal_state(strategy)
        if was != state:
            log.warning("strategy %s: %s -> %s by %s: %s", strategy, was, state, source, reason or "no reason given")
            self._metrics.state_changed(strategy, state, source)
            self.notify(strategy, state, reason)
        else:
            log.info("strategy %s stays %s (%s: %s)", strategy, state, source, reason or "no reason given")
        return was

    # max_loss

    def order_changed(self, order: Order, new_fills: int) -> None:
        """A tracker listener, after the positions book: a fill may breach max_loss."""
        if new_fills and self.any_max_loss:
            self.check_max_loss((order.strategy,))

    def cancel_rejected(self, order: Order, reason: str) -> None:
        pass

    def check_max_loss(self, strategies: Iterable[str] | None = None) -> None:
        """Each strategy's realized plus unrealized PnL against -max_loss (on fills, and every
        second for reference prices that moved): a breach moves it once to on_max_loss."""
        positions = self.positions
        if not self.any_max_loss or positions is None:
            return
        # every strategy with fills (the book's), and those breached (told when they recover)
        for strategy in ({*positions.strategies(), *self.breached} if strategies is None else strategies):
            limit, target = self.loss_limit(strategy)
            if limit is None:
                continue
            realized, unrealized = positions.pnl(strategy)
            pnl = realized + unrealized
            if pnl < -limit:
                if strategy not in self.breached:
                    self._breach(strategy, pnl, limit, target)
            elif strategy in self.breached:
                self.breached.discard(strategy)
                self._journal_state(strategy)
                log.warning("strategy %s: PnL %s is back above the max_loss of -%s (it stays %s until set "
                            "otherwise)", strategy, _q(pnl), _q(limit), self.state(strategy))

    def _breach(self, strategy: str, pnl: int, limit: int, target: str) -> None:
        self.breached.add(strategy)
        self._metrics.max_loss_breached(strategy)
        reason = f"max_loss: PnL {_q(pnl)} is below -{_q(limit)}"
        log.error("strategy %s breached max_loss: PnL %s is below -%s; on_max_loss = %s", strategy, _q(pnl),
                  _q(limit), target)
        if _STRICTNESS[target] > _STRICTNESS[self.state(strategy)]:
            self.set(strategy, target, reason, MAX_LOSS)
        else:
            self._journal_state(strategy)  # stricter already: only the breach is kept

    # journal: a change, what a compaction keeps, and the restart

    def _record(self, strategy: str) -> RiskStateRecord:
        entry = self.limited.get(strategy)
        if entry is None:
            return RiskStateRecord(strategy, ACTIVE, None, OPERATOR, time.time_ns(), strategy in self.breached)
        return RiskStateRecord(strategy, entry.state, entry.reason, entry.source, entry.since_ns,
                               strategy in self.breached)

    def _journal_state(self, strategy: str) -> None:
        if self._journal is not None:
            self._journal.add(self._record(strategy))
            self._journal.flush()  # said to the operator as done: on file first

    def records(self) -> list[RiskStateRecord]:
        """What is in force: every strategy not active, or moved by a breach not yet over."""
        return [self._record(s) for s in sorted(self.limited.keys() | self.breached)]

    def restore(self, records: Iterable[RiskStateRecord]) -> None:
        for r in records:  # the last of each strategy holds
            if r.state == ACTIVE or r.state not in STATES:
                self.limited.pop(r.strategy, None)
            else:
                self.limited[r.strategy] = StrategyState(r.state, r.reason, r.source, r.ts)
            if r.breached:
                self.breached.add(r.strategy)
            else:
                self.breached.discard(r.strategy)
        for strategy, entry in sorted(self.limited.items()):
            log.warning("strategy %s is still %s after the restart (%s: %s)", strategy, entry.state, entry.source,
                        entry.reason or "no reason given")

    def reply(self, req_id: int, strategy: str | None, every: bool) -> f.RiskStatesReply:
        """The `risk_states` reply: that strategy's state, or (every) each one not plainly active."""
        names = {strategy} if strategy is not None else (set(self.limited) | self.breached if every else set())
        views = []
        for name in sorted(names):
            entry = self.limited.get(name)
            views.append(f.StrategyStateView(
                strategy=name, state=self.state(name), reason=entry.reason if entry else None,
                source=entry.source if entry else None, since_ns=entry.since_ns if entry else 0,
                max_loss_breached=name in self.breached))
        return f.RiskStatesReply(req_id=req_id, strategies=views)


def in_force(records: Iterable[RiskStateRecord]) -> list[RiskStateRecord]:
    """Of the journal's state records, each strategy's last, where it is not plain active."""
    last: dict[str, RiskStateRecord] = {}
    for r in records:
        last[r.strategy] = r
    return [r for r in last.values() if r.state != ACTIVE or r.breached]
