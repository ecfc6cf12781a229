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
from gateway.orders.model import AWAITING_VENUE, ONE, Order
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
    def strategy_states(self) -> dict[str, str]: ...  # strategy -> active | reducing | halted
    drop_copy: object | None  # gateway.dropcopy.publisher.DropCopy, when [drop_copy] is set
    def venue_list(self) -> Sequence[VenueHealth]: ...
    def risk_usage(self) -> list[tuple[str, str, float]]: ...  # (strategy, limit, ratio used)

# a strategy's states (gateway/strategy_states.py), named here: that module imports the order
# path, which imports this one
STRATEGY_STATES = ("active", "reducing", "halted")

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
        self.state_changes: dict[tuple[str, str, str], int] = {}  # (strategy, state, source) -> n
        self.max_loss_breaches: dict[str, int] = {}  # strategy -> n
        self.config_reloads: dict[str, int] = {"ok": 0, "invalid": 0}  # result -> n
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

    def state_changed(self, strategy: str, state: str, source: str) -> None:
        key = (strategy, state, source)
        self.state_changes[key] = self.state_changes.get(key, 0) + 1

    def max_loss_breached(self, strategy: str) -> None:
        self.max_loss_breaches[strategy] = self.max_loss_breaches.get(strategy, 0) + 1

    def config_reloaded(self, result: str) -> None:
        self.config_reloads[result] = self.config_reloads.get(result, 0) + 1

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
        yield _counted("gateway_rejects", "Refused strategy requests by error code.", ["reason"], m.rejects)
        yield _counted("gateway_risk_refusals", "Requests refused risk_limit, by the limit that refused.", ["limit"],
                       m.risk_refusals)
        yield _counted("gateway_venue_errors", "Errors returned or caused by a venue.", ["venue", "code"],
                       m.venue_errors)
        yield _counted("gateway_cancel_all_after_fired", "Dead man's switches (cancel_all_after) that fired, by "
                       "strategy.", ["strategy"], m.switches_fired)
        yield from _risk_state_counters(m)

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
        yield from _strategy_state_family(source)
        yield from _drop_copy_families(source)
        yield from _reference_families(source)
        yield from _position_families(getattr(source, "positions", None))
        drift = getattr(source, "drift", None)
        if drift is not None:
            fam = GaugeMetricFamily("gateway_position_drift",
                                    "What the venue says the account holds minus the sum of the strategies' positions, "
                                    "base units, as of the venue's last reconcile (venues whose API says).",
                                    labels=["venue", "symbol"])
            for (venue, symbol), d in sorted(drift.by_symbol.items()):
                fam.add_metric([venue, symbol], d.drift / ONE)
            yield fam


def _reference_families(source):
    """Each venue's public prices (gateway/reference/): the reference price risk checks
    against, and how old it is; which symbols take no new orders."""
    reference = getattr(source, "reference", None)
    if reference is None:
        return
    price = GaugeMetricFamily("gateway_reference_price", "The venue's public price of a symbol, by kind "
                              "(bid, ask, mark where the venue publishes one).", labels=["venue", "symbol", "kind"])
    age = GaugeMetricFamily("gateway_reference_age_seconds", "Time since the symbol's price was received.",
                            labels=["venue", "symbol"])
    now = time.monotonic_ns()
    for (venue, symbol), quote in reference.items():
        for kind, value in (("bid", quote.bid), ("ask", quote.ask), ("mark", quote.mark)):
            if value is not None:
                price.add_metric([venue, symbol, kind], value / 1e18)  # a metric, not money
        age.add_metric([venue, symbol], (now - quote.received_ns) / 1e9)
    yield price
    yield age
    unavailable = GaugeMetricFamily("gateway_instrument_unavailable",
                                    "1 for a symbol whose new orders are refused instrument_unavailable "
                                    "(halted or delisted on the venue, or its list not read yet).",
                                    labels=["venue", "symbol"])
    for adapter in source.venue_list():
        for symbol in sorted(adapter.instruments.keys() | adapter.unavailable.keys()):
            unavailable.add_metric([adapter.name, symbol], 1 if symbol in adapter.unavailable else 0)
    yield unavailable


def _risk_state_counters(m: Metrics):
    """Strategy states changed, max_loss breaches, config reloads (gateway/strategy_states.py,
    gateway/reload.py)."""
    yield _counted("gateway_strategy_state_changes", "Strategy state changes, by the state entered and who set it "
                   "(operator, fleet_control, max_loss).", ["strategy", "state", "source"], m.state_changes)
    yield _counted("gateway_max_loss_breaches", "Strategies whose PnL fell below -max_loss (each breach once).",
                   ["strategy"], m.max_loss_breaches)
    yield _counted("gateway_config_reloads", "Config reloads (SIGHUP, `gateway reload`): ok, or invalid (nothing "
                   "changed).", ["result"], m.config_reloads)


def _counted(name: str, text: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    """A counter family from a dict: its label values (a tuple, or one value) -> the count."""
    fam = CounterMetricFamily(name, text, labels=labels)
    for key, n in sorted(counts.items()):
        fam.add_metric(list(key) if isinstance(key, tuple) else [key], n)
    return fam


def _strategy_state_family(source):
    """One series per strategy and state: 1 for the state it is in, 0 for the others."""
    fam = GaugeMetricFamily("gateway_strategy_state", "1 for the state each strategy is in (active, reducing, "
                            "halted), 0 for the others.", labels=["strategy", "state"])
    for strategy, current in sorted(source.strategy_states().items()):
        for state in STRATEGY_STATES:
            fam.add_metric([strategy, state], 1 if state == current else 0)
    yield fam


def _position_families(positions):
    """Every strategy's net position per venue and symbol, and its PnL (gateway/positions/): floats
    here, as Prometheus has them; the book's integers are exact."""
    if positions is None:
        return
    position = GaugeMetricFamily("gateway_position",
                                 "Net position by strategy, venue and symbol, base units (+ long, - short).",
                                 labels=["strategy", "venue", "symbol"])
    for strategy, venue, symbol, p in positions.items():
        position.add_metric([strategy, venue, symbol], p.net / ONE)
    yield position
    pnl = GaugeMetricFamily("gateway_pnl", "PnL by strategy, quote units: realized (fills, fees apart) and "
                            "unrealized (open positions at the reference price; a symbol without one adds nothing).",
                            labels=["strategy", "kind"])
    for strategy in positions.strategies():
        realized, unrealized = positions.pnl(strategy)
        pnl.add_metric([strategy, "realized"], realized / ONE)
        pnl.add_metric([strategy, "unrealized"], unrealized / ONE)
    yield pnl


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
