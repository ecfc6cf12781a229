"""The `status` reply: uptime, strategies, each venue's health, tick-to-wire and queue wait,
and the armed dead man's switches."""
from __future__ import annotations

import time

from gateway._core.fixedpoint import format_scaled
from gateway.health import GatewayHealth
from gateway.ipc import frames as f
from gateway.metrics import Metrics
from gateway.reference.views import price_status
from gateway.orders.model import SCALE


def status_reply(req_id: int, health: GatewayHealth, metrics: Metrics) -> f.StatusReply:
    now = time.perf_counter_ns()
    open_by_venue: dict[str, int] = {}
    for (venue, _strategy), n in health.open_order_counts().items():
        open_by_venue[venue] = open_by_venue.get(venue, 0) + n
    venues = []
    for adapter in health.venue_list():
        name = adapter.name
        stages = metrics.stages(name)
        window = stages.tick_to_wire.window_percentiles(now)
        waits = stages.queue_wait.window_percentiles(now)
        venues.append(f.VenueStatus(
            name=name, kind=type(adapter.config).__struct_config__.tag, connected=adapter.connected,
            open_orders=open_by_venue.get(name, 0), reconnects=adapter.reconnects,
            orders_last_minute=window[0] if window else 0,
            tick_to_wire_p50_us=window[1] / 1e3 if window else None,
            tick_to_wire_p99_us=window[2] / 1e3 if window else None,
            queued=len(adapter.outbound),
            queue_wait_p50_us=waits[1] / 1e3 if waits else None,
            queue_wait_p99_us=waits[2] / 1e3 if waits else None,
            prices=price_status(adapter, health.reference) if health.reference is not None else [],
        ))
    dc = health.drop_copy
    drop_copy = None if dc is None else f.DropCopyStatus(
        state=dc.state, gateway_id=dc.gateway_id, stream=dc.config.stream, published=dc.published,
        pending=dc.pending, oldest_pending_age_s=dc.oldest_pending_age_s(), publish_errors=dc.publish_errors,
        catchup_events=dc.catchup_events, control=dc.config.control)
    drift = [] if health.drift is None else [
        f.DriftStatus(venue=venue, symbol=symbol, venue_position=format_scaled(d.venue, SCALE),
                      gateway_position=format_scaled(d.ours, SCALE), drift=format_scaled(d.drift, SCALE))
        for (venue, symbol), d in sorted(health.drift.by_symbol.items())]
    return f.StatusReply(req_id=req_id, uptime_s=(time.time_ns() - health.started_ns) // 10**9,
                         strategies=sorted(health.sessions.strategies), venues=venues,
                         switches=health.sessions.switches.status(now), drop_copy=drop_copy,
                         halted=health.gate.halted, position_drift=drift)
