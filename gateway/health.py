"""What the running gateway says of itself: read by /metrics (gateway/metrics.py's
MetricsSource) and by the `status` reply (gateway/status.py), never written."""
from __future__ import annotations

import time

from gateway.admission import AdmissionGate
from gateway.ipc.sessions import Sessions
from gateway.orders.tracker import Tracker
from gateway.risk import RiskLimits
from gateway.strategy_states import ACTIVE, StrategyStates
from gateway.venues.base import VenueAdapter


class GatewayHealth:
    def __init__(self, tracker: Tracker, sessions: Sessions, gate: AdmissionGate,
                 venues: dict[str, VenueAdapter], states: StrategyStates, risk: RiskLimits | None = None):
        self.tracker = tracker
        self.risk = risk  # a reload that builds new limits sets them here too
        self.sessions = sessions
        self.gate = gate
        self.venues = venues
        self.states = states
        self.drop_copy = None  # gateway.dropcopy.publisher.DropCopy, when [drop_copy] is set
        self.reference = None  # gateway.reference.prices.ReferencePrices (the risk's)
        # venue -> gateway.reference.sync.VenueReference, as the daemon starts each venue
        self.references: dict = {}
        self.positions = None  # gateway.positions.Positions (assembly.py sets it)
        self.drift = None  # gateway.positions.drift.PositionDrift (assembly.py sets it)
        self.started_ns = time.time_ns()

    @property
    def unknown_transitions_by_reason(self) -> dict[str, int]:
        return self.tracker.unknown_by_reason

    @property
    def duplicate_fills(self) -> int:
        return self.tracker.duplicate_fills

    @property
    def halted(self) -> str | None:
        return self.gate.halted

    def open_order_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for order in self.tracker.open_orders():
            key = (order.venue, order.strategy)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def journal_health(self) -> tuple[bool, int]:
        """(failing, failed writes so far); without a journal it never fails."""
        journal = self.tracker.journal
        return (False, 0) if journal is None else (journal.failing is not None, journal.write_errors)

    def strategy_states(self) -> dict[str, str]:
        """Every strategy connected or not active, and its state."""
        out = {strategy: ACTIVE for strategy in self.sessions.strategies}
        out.update((strategy, entry.state) for strategy, entry in self.states.limited.items())
        return out

    def strategies_connected(self) -> int:
        return len(self.sessions.strategies)

    def risk_usage(self) -> list[tuple[str, str, float]]:
        """(strategy, limit, ratio used) for each strategy and limit set."""
        if self.risk is None:
            return []
        return [(view.strategy, limit, ratio) for view in self.risk_reply(0, None).strategies
                for limit, ratio in sorted(view.usage.items())]

    def risk_reply(self, req_id: int, strategy: str | None):
        """The limits' view (gateway/risk/view.py) with what the other parts own filled in: each
        strategy's state (gateway/strategy_states.py), its PnL (gateway/positions/) and the use
        of its max_loss."""
        from gateway.risk.checks import fmt
        from gateway.risk.view import risk_reply

        states = self.states
        shown = {*self.sessions.strategies, *states.limited, *states.breached}
        reply = risk_reply(req_id, self.risk, self.tracker, self.venues, shown, strategy)
        for view in reply.strategies:
            name = view.strategy
            view.state = states.state(name)
            entry = states.limited.get(name)
            if entry is not None:
                view.state_reason, view.state_source = entry.reason, entry.source
            if self.positions is None:
                continue
            pnl = self.positions.pnl(name)
            realized, unrealized = pnl
            view.realized_pnl = fmt(realized)
            view.unrealized_pnl = None if getattr(pnl, "unpriced", None) else fmt(unrealized)
            limit, _on = states.loss_limit(name)
            if limit:
                view.max_loss = fmt(limit)
                view.usage["max_loss"] = max(0, -(realized + unrealized)) / limit
        return reply

    def venue_list(self) -> list[VenueAdapter]:
        return [self.venues[name] for name in sorted(self.venues)]
