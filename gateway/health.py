"""What the running gateway says of itself: read by /metrics (gateway/metrics.py's
MetricsSource) and by the `status` reply (gateway/status.py), never written."""
from __future__ import annotations

import time

from gateway.admission import AdmissionGate
from gateway.ipc.sessions import Sessions
from gateway.orders.tracker import Tracker
from gateway.risk import RiskLimits
from gateway.venues.base import VenueAdapter


class GatewayHealth:
    def __init__(self, tracker: Tracker, sessions: Sessions, gate: AdmissionGate,
                 venues: dict[str, VenueAdapter], risk: RiskLimits | None = None):
        self.tracker = tracker
        self.risk = risk  # a reload that builds new limits sets them here too
        self.sessions = sessions
        self.gate = gate
        self.venues = venues
        self.drop_copy = None  # gateway.dropcopy.publisher.DropCopy, when [drop_copy] is set
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

    def strategies_connected(self) -> int:
        return len(self.sessions.strategies)

    def risk_usage(self) -> list[tuple[str, str, float]]:
        """(strategy, limit, ratio used) for each strategy and limit set."""
        if self.risk is None:
            return []
        from gateway.risk.view import usage_ratios

        return usage_ratios(self.risk, self.tracker, self.venues, self.sessions.strategies)

    def risk_reply(self, req_id: int, strategy: str | None):
        from gateway.risk.view import risk_reply

        return risk_reply(req_id, self.risk, self.tracker, self.venues, self.sessions.strategies, strategy)

    def venue_list(self) -> list[VenueAdapter]:
        return [self.venues[name] for name in sorted(self.venues)]
