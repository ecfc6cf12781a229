"""Prometheus metrics, paid for on the hot path with plain integer arithmetic.

prometheus-client's own Histogram takes a lock and, with labels, a dict
look-up per observation. Here every per-order number lives in a plain
counter the event loop owns (one thread: no lock needed), each venue's
stage histograms (_core/histogram.pyx: C counters) are resolved once when the venue is added, and a custom
collector turns them into Prometheus families only when scraped. /metrics is
served by aiohttp on the same event loop, so a scrape never races an update.
"""
from __future__ import annotations

import time
from collections.abc import Sequence, Sized
from typing import Protocol

from aiohttp import web
from gateway._core.histogram import BUCKETS_NS, StageHistogram
from gateway.orders.model import AWAITING_VENUE, Order
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily



class VenueHealth(Protocol):
    name: str
    connected: bool

    @property
    def reconnects(self) -> int: ...
    def nonce_age_seconds(self) -> float | None: ...
    @property
    def resolver(self) -> Sized: ...  # orders whose fate is being asked of the venue; .oldest_age_s()


class MetricsSource(Protocol):
    """What /metrics reads of the running gateway (gateway/health.py provides it)."""

    @property
    def unknown_transitions_by_reason(self) -> dict[str, int]: ...  # reason -> n
    @property
    def duplicate_fills(self) -> int: ...
    def open_order_counts(self) -> dict[tuple[str, str], int]: ...  # (venue, strategy) -> n
    def strategies_connected(self) -> int: ...
    def journal_health(self) -> tuple[bool, int]: ...  # (failing, failed writes so far)
    halted: str | None  # fleet control's reason, while it halts new orders
    drop_copy: object | None  # gateway.dropcopy.publisher.DropCopy, when [drop_copy] is set
    def venue_list(self) -> Sequence[VenueHealth]: ...
    def risk_usage(self) -> list[tuple[str, str, float]]: ...  # (strategy, limit, ratio used)

STAGES = ("decode", "validate", "sign", "queue_wait", "tick_to_wire", "venue_ack", "confirmation")
STAGE_HELP = {
    "decode": "strategy frame decode",
    "validate": "schema, instrument and risk checks",
    "sign": "nonce and signature",
    "queue_wait": "request accepted to handed to the venue's adapter (its line and rate limiter)",
    "tick_to_wire": "strategy frame in to venue bytes written, less the queue wait",
    "venue_ack": "venue request sent to its reply",
    "confirmation": "venue request sent to the venue's first status for the order",
}


class VenueStages:
    __slots__ = STAGES

    def __init__(self) -> None:
        for stage in STAGES:
            setattr(self, stage, StageHistogram())


class ConfirmationTimer:
    """A tracker listener: an order's request sent -> the venue's first status for it."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    def order_changed(self, order: Order, new_fills: int) -> None:
        sent = order.sent_ns
        if sent and order.status not in AWAITING_VENUE:
            order.sent_ns = 0  # once: the venue's first word
            self._metrics.stages(order.venue).confirmation.observe(time.perf_counter_ns() - sent)

    def cancel_rejected(self, order: Order, reason: str) -> None:
        pass


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.venues: dict[str, VenueStages] = {}
        self.requests_ok: dict[str, int] = {}  # op -> n
        self.requests_failed: dict[str, int] = {}  # op -> n
        self.rejects: dict[str, int] = {}  # error code -> n
        self.risk_refusals: dict[str, int] = {}  # risk limit -> requests it refused
        self.venue_errors: dict[tuple[str, str], int] = {}  # (venue, code) -> n
        self.switches_fired: dict[str, int] = {}  # strategy -> n
        self.source: MetricsSource | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self._runner: web.AppRunner | None = None
        self.address = ""

    def stages(self, venue: str) -> VenueStages:
        stages = self.venues.get(venue)
        if stages is None:
            stages = self.venues[venue] = VenueStages()
        return stages

    def request_done(self, op: str, error_code: str | None, limit: str | None = None) -> None:
        if error_code is None:
            self.requests_ok[op] = self.requests_ok.get(op, 0) + 1
            return
        self.requests_failed[op] = self.requests_failed.get(op, 0) + 1
        self.rejects[error_code] = self.rejects.get(error_code, 0) + 1
        if limit is not None:
            self.risk_refusals[limit] = self.risk_refusals.get(limit, 0) + 1

    def venue_error(self, venue: str, code: str) -> None:
        key = (venue, code)
        self.venue_errors[key] = self.venue_errors.get(key, 0) + 1

    def switch_fired(self, strategy: str) -> None:
        self.switches_fired[strategy] = self.switches_fired.get(strategy, 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        app = web.Application()

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.add_routes([web.get("/metrics", metrics)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host.strip("[]") or "127.0.0.1", int(port))
        await site.start()
        bound = site._server.sockets[0].getsockname()
        self.address = f"{host or '127.0.0.1'}:{bound[1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class _Collector:
    def __init__(self, metrics: Metrics):
        self.m = metrics

    def collect(self):
        m = self.m
        bounds = [floatToGoString(b / 1e9) for b in BUCKETS_NS] + ["+Inf"]
        for stage in STAGES:
            fam = HistogramMetricFamily(
                f"gateway_order_{stage}_seconds", f"Per order: {STAGE_HELP[stage]}.", labels=["venue"])
            for venue, stages in sorted(m.venues.items()):
                h: StageHistogram = getattr(stages, stage)
                cumulative, running = [], 0
                for bound, n in zip(bounds, h.bucket_counts()):
                    running += n
                    cumulative.append((bound, running))
                fam.add_metric([venue], cumulative, h.sum_ns / 1e9)
            yield fam

        fam = CounterMetricFamily("gateway_requests", "Strategy requests by op and outcome.", labels=["op", "outcome"])
        for outcome, counts in (("ok", m.requests_ok), ("error", m.requests_failed)):
            for op, n in sorted(counts.items()):
                fam.add_metric([op, outcome], n)
        yield fam
        fam = CounterMetricFamily("gateway_rejects", "Refused strategy requests by error code.", labels=["reason"])
        for reason, n in sorted(m.rejects.items()):
            fam.add_metric([reason], n)
        yield fam
        fam = CounterMetricFamily("gateway_risk_refusals", "Requests refused risk_limit, by the limit that refused.",
                                  labels=["limit"])
        for limit, n in sorted(m.risk_refusals.items()):
            fam.add_metric([limit], n)
        yield fam
        fam = CounterMetricFamily("gateway_venue_errors", "Errors returned or caused by a venue.",
                                  labels=["venue", "code"])
        for (venue, code), n in sorted(m.venue_errors.items()):
            fam.add_metric([venue, code], n)
        yield fam
        fam = CounterMetricFamily("gateway_cancel_all_after_fired",
                                  "Dead man's switches (cancel_all_after) that fired, by strategy.",
                                  labels=["strategy"])
        for strategy, n in sorted(m.switches_fired.items()):
            fam.add_metric([strategy], n)
        yield fam

        source = m.source
        if source is None:
            return
        fam = CounterMetricFamily(
            "gateway_unknown_transitions",
            "Venue reports the order state table ignored: stale (a status the order has left) or "
            "contradiction (a status it cannot reach from its current one).", labels=["reason"])
        for reason, n in sorted(source.unknown_transitions_by_reason.items()):
            fam.add_metric([reason], n)
        yield fam
        fam = CounterMetricFamily("gateway_duplicate_fills",
                                  "Trades a venue channel reported again, booked once.")
        fam.add_metric([], source.duplicate_fills)
        yield fam
        failing, errors = source.journal_health()
        fam = GaugeMetricFamily("gateway_journal_failing",
                                "1 while the order journal cannot be written: new orders are refused "
                                "(journal_unavailable) and acks wait.")
        fam.add_metric([], 1 if failing else 0)
        yield fam
        fam = CounterMetricFamily("gateway_journal_write_errors", "Journal writes that failed (retried).")
        fam.add_metric([], errors)
        yield fam

        reconnects = CounterMetricFamily("gateway_venue_reconnects", "Venue stream reconnects.", labels=["venue"])
        state = GaugeMetricFamily("gateway_venue_connected", "1 when the venue's connections are up.",
                                  labels=["venue"])
        nonce_age = GaugeMetricFamily("gateway_nonce_high_water_age_seconds",
                                      "Clock minus the nonce allocator's high-water mark (negative: ahead).",
                                      labels=["venue"])
        for adapter in source.venue_list():
            name = adapter.name
            reconnects.add_metric([name], adapter.reconnects)
            state.add_metric([name], 1 if adapter.connected else 0)
            age = adapter.nonce_age_seconds()
            if age is not None:
                nonce_age.add_metric([name], age)
        yield reconnects
        yield state
        yield nonce_age
        unresolved = GaugeMetricFamily("gateway_orders_unresolved",
                                       "Orders whose fate is unknown and being asked of the venue.", labels=["venue"])
        oldest = GaugeMetricFamily("gateway_orders_unresolved_oldest_seconds",
                                   "Age of the oldest order whose fate is being asked of the venue.",
                                   labels=["venue"])
        for adapter in source.venue_list():
            unresolved.add_metric([adapter.name], len(adapter.resolver))
            oldest.add_metric([adapter.name], adapter.resolver.oldest_age_s())
        yield unresolved
        yield oldest

        open_orders = source.open_order_counts()
        fam = GaugeMetricFamily("gateway_open_orders", "Open orders by venue and strategy.",
                                labels=["venue", "strategy"])
        for (venue, strategy), n in sorted(open_orders.items()):
            fam.add_metric([venue, strategy], n)
        yield fam
        fam = GaugeMetricFamily("gateway_risk_limit_usage_ratio",
                                "Share of a risk limit a strategy uses (1: at the limit): max_position (its "
                                "worst symbol, open orders of the worse side filled), max_open_notional, "
                                "max_open_orders; only limits that are set.", labels=["strategy", "limit"])
        for strategy, limit, ratio in source.risk_usage():
            fam.add_metric([strategy, limit], ratio)
        yield fam
        fam = GaugeMetricFamily("gateway_strategies_connected", "Strategy connections that said hello.")
        fam.add_metric([], source.strategies_connected())
        yield fam
        fam = GaugeMetricFamily("gateway_start_time_seconds", "Unix time the gateway started.")
        fam.add_metric([], m.started)
        yield fam
        yield from _drop_copy_families(source)


def _drop_copy_families(source):
    """Fleet control's halt (always), and [drop_copy] (gateway/dropcopy/publisher.py) when set."""
    fam = GaugeMetricFamily("gateway_halted", "1 while fleet control halts new orders.")
    fam.add_metric([], 1 if source.halted is not None else 0)
    yield fam
    dc = source.drop_copy
    if dc is None:
        return
    for name, kind, text, value in (
        ("gateway_dropcopy_published", CounterMetricFamily, "Order events JetStream acknowledged.", dc.published),
        ("gateway_dropcopy_catchup_events", CounterMetricFamily,
         "Of them, events rebuilt from the journal (outage past the buffer, restart).", dc.catchup_events),
        ("gateway_dropcopy_publish_errors", CounterMetricFamily,
         "Batches not (wholly) acknowledged: timeouts, lost connections, stream errors; retried.",
         dc.publish_errors),
        ("gateway_dropcopy_pending_events", GaugeMetricFamily,
         "Order events not yet acknowledged (buffer, in flight, left to the journal).", dc.pending),
        ("gateway_dropcopy_oldest_pending_age_seconds", GaugeMetricFamily,
         "Age of the oldest order event not yet acknowledged (0: none).", dc.oldest_pending_age_s()),
        ("gateway_dropcopy_connected", GaugeMetricFamily, "1 when connected to NATS.", 1 if dc.connected else 0),
    ):
        fam = kind(name, text)
        fam.add_metric([], value)
        yield fam
