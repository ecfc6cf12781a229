"""The order path's parts, made and wired in one place (the daemon, tests and benches
all start from here): tracker, admission gate, sessions, order entry, the request
router, and what metrics and `status` read."""
from __future__ import annotations

from dataclasses import dataclass

from gateway.admission import AdmissionGate
from gateway.entry import OrderEntry
from gateway.health import GatewayHealth
from gateway.ipc.sessions import Sessions
from gateway.ipc.views import ChangeViews
from gateway.metrics import ConfirmationTimer, Metrics
from gateway.orders.journal import Journal
from gateway.orders.records import HALT, RISK_STATE, SWITCH, Record
from gateway.orders.tracker import OrderListener, Tracker
from gateway.positions import Positions
from gateway.positions.drift import PositionDrift
from gateway.positions.views import positions_reply
from gateway.reference.prices import ReferencePrices
from gateway.reference.views import instruments_reply
from gateway.risk import RiskLimits
from gateway.router import Router
from gateway.status import status_reply
from gateway.strategy_states import StrategyStates
from gateway.venues.base import VenueAdapter


@dataclass
class Parts:
    tracker: Tracker
    gate: AdmissionGate
    sessions: Sessions
    entry: OrderEntry
    router: Router
    health: GatewayHealth
    metrics: Metrics
    risk: RiskLimits
    views: ChangeViews  # the latest change's view, shared by the sessions and the drop copy
    reference: ReferencePrices  # each venue's public prices (gateway/reference/)
    states: StrategyStates  # each strategy's state: active, reducing, halted
    positions: Positions  # every strategy's positions, from the fills booked (gateway/positions/)
    drift: PositionDrift  # the positions against what each venue says the account holds

    @property
    def venues(self) -> dict[str, VenueAdapter]:
        return self.entry.venues

    def swap_risk(self, risk: RiskLimits) -> None:
        """A reloaded RiskLimits in the old one's place, everywhere it is held, in one step
        (nothing on the loop runs in between: no order is checked half by each)."""
        # the open orders' sums are kept only while a limit reads them: the new tables decide
        risk.exposure.keep(risk.config.reads_open_orders(), self.tracker.open_orders)
        self.risk = self.entry.risk = self.entry.validator.risk = self.health.risk = risk

    def add_venue(self, adapter: VenueAdapter) -> None:
        self.entry.add_venue(adapter)
        adapter.reconciled = self.drift.reconciled

    def add_listener(self, listener: OrderListener) -> None:
        self.tracker.listeners.append(listener)

    def gateway_state(self) -> list[Record]:
        """The gateway's own state as journal records (armed dead man's switches, the fleet
        halt, strategies' states): what a compacted journal must hold besides the orders. The
        positions book is not among them: it must follow the fills it holds, so it is the
        compaction's tail (`positions.records()`), not its head."""
        return [*self.sessions.switches.records(), *self.gate.records(), *self.states.records()]

    def restore_gateway_state(self, records: list[Record]) -> None:
        """After a restart, once the venues are up (a switch past due cancels at once)."""
        self.gate.restore(r for r in records if r.k == HALT)
        self.sessions.switches.restore(r for r in records if r.k == SWITCH)

    def restore_states(self, records: list[Record]) -> None:
        """Strategies' states, right after the journal's replay and before any venue starts: a
        fill the reconcile finds meets the state in force (an operator's halt is not loosened by a
        max_loss breach that arrives before it is restored)."""
        self.states.restore(r for r in records if r.k == RISK_STATE)


def assemble(risk: RiskLimits, *, closed_ttl_ns: int, max_closed: int = 100_000, metrics: Metrics | None = None,
             journal: Journal | None = None) -> Parts:
    metrics = metrics or Metrics()
    views = ChangeViews()
    reference = risk.reference
    tracker = Tracker(closed_ttl_ns=closed_ttl_ns, max_closed=max_closed, journal=journal)
    entry = OrderEntry(tracker, risk, {})
    sessions = Sessions(tracker, metrics, views, entry.cancel_orders)
    sessions.switches.journal = journal
    entry.tell_modify_rejected = sessions.modify_rejected
    gate = AdmissionGate(journal)
    positions = Positions(reference)
    drift = PositionDrift(positions)
    risk.positions = positions
    states = StrategyStates(tracker, metrics, journal)
    gate.states = entry.states = sessions.states = states
    states.notify = sessions.risk_state
    states.positions = positions
    health = GatewayHealth(tracker, sessions, gate, entry.venues, states, risk)
    health.reference = reference
    health.positions, health.drift = positions, drift
    metrics.source = health
    router = Router(sessions, entry, gate, metrics, lambda req_id: status_reply(req_id, health, metrics),
                    lambda req_id, venue: instruments_reply(req_id, health, venue),
                    positions=lambda strategy, req: positions_reply(positions, strategy, req),
                    risk=health.risk_reply)
    # the strategy first: its update leaves before anything else is done with the change
    tracker.listeners += [sessions, positions, ConfirmationTimer(metrics), risk.exposure]
    # states watch max_loss on fills: after the positions book has booked them
    tracker.listeners.append(states)
    return Parts(tracker, gate, sessions, entry, router, health, metrics, risk, views, reference, states, positions,
                 drift)
