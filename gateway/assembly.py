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
from gateway.orders.records import HALT, SWITCH, Record
from gateway.orders.tracker import OrderListener, Tracker
from gateway.reference.prices import ReferencePrices
from gateway.risk import RiskLimits
from gateway.router import Router
from gateway.status import status_reply
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

    @property
    def venues(self) -> dict[str, VenueAdapter]:
        return self.entry.venues

    def add_venue(self, adapter: VenueAdapter) -> None:
        self.entry.add_venue(adapter)

    def add_listener(self, listener: OrderListener) -> None:
        self.tracker.listeners.append(listener)

    def gateway_state(self) -> list[Record]:
        """The gateway's own state as journal records (armed dead man's switches, the fleet
        halt): what a compacted journal must hold besides the orders."""
        return [*self.sessions.switches.records(), *self.gate.records()]

    def restore_gateway_state(self, records: list[Record]) -> None:
        """After a restart, once the venues are up (a switch past due cancels at once)."""
        self.gate.restore(r for r in records if r.k == HALT)
        self.sessions.switches.restore(r for r in records if r.k == SWITCH)


def assemble(risk: RiskLimits, *, closed_ttl_ns: int, max_closed: int = 100_000, metrics: Metrics | None = None,
             journal: Journal | None = None) -> Parts:
    metrics = metrics or Metrics()
    views = ChangeViews()
    reference = risk.reference
    tracker = Tracker(closed_ttl_ns=closed_ttl_ns, max_closed=max_closed, journal=journal)
    entry = OrderEntry(tracker, risk, {})
    sessions = Sessions(tracker, metrics, views, entry.cancel_orders)
    sessions.switches.journal = journal
    entry.modify_rejected = sessions.modify_rejected
    gate = AdmissionGate(journal)
    health = GatewayHealth(tracker, sessions, gate, entry.venues, risk)
    metrics.source = health
    router = Router(sessions, entry, gate, metrics, lambda req_id: status_reply(req_id, health, metrics),
                    health.risk_reply)
    # the strategy first: its update leaves before anything else is done with the change
    tracker.listeners += [sessions, ConfirmationTimer(metrics), risk.exposure]
    return Parts(tracker, gate, sessions, entry, router, health, metrics, risk, views, reference)
