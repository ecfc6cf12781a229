"""`gateway run`: wires config, venues (and their embedded simulators), the
order path (gateway/assembly.py) and the strategy socket on one uvloop loop,
and stops cleanly.

SIGHUP re-reads the config file and applies [risk] and log_level (gateway/reload.py).

Shutdown order on SIGTERM / SIGINT: stop accepting strategies, let requests
already handed to venues finish, close venues, remove the socket; all of it
within [shutdown] deadline_secs, whatever is still queued or closing then.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

import msgspec

from gateway import sdnotify
from gateway.assembly import Parts, assemble
from gateway.config import Config
from gateway.ipc.server import StrategyServer
from gateway.metrics import Metrics
from gateway.orders.journal import Journal, replay
from gateway.orders.model import Status
from gateway.orders.tracker import Tracker
from gateway.orders.records import HALT, RISK_STATE, SWITCH
from gateway.reference.sync import VenueReference
from gateway.risk import RiskLimits
from gateway.strategy_states import in_force
from gateway.venues.base import VenueAdapter
from gateway.venues.requests import Cancel
from gateway.venues.resolver import watch_pending
from gateway.venues.bluefin.adapter import BluefinAdapter
from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bsx.adapter import BsxAdapter
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.citrex.adapter import CitrexAdapter
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.dxtrade.adapter import DxtradeAdapter
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.poloniex.adapter import PoloniexAdapter
from gateway.venues.poloniex.config import PoloniexConfig

log = logging.getLogger("gateway.daemon")

# of the shutdown deadline, what closing the venues, simulators and the rest may take at the end
# (the drain sends and waits until the deadline less this): this share of it, at most CLOSE_RESERVE_S
CLOSE_SHARE, CLOSE_RESERVE_S = 0.2, 1.0
# closing is tried for at least this long, even when the deadline has passed
CLOSE_FLOOR_S = 0.05


def setup_logging(level: str) -> None:
    from gateway import logs

    logs.setup(os.environ.get("GATEWAY_LOG_LEVEL", level))


# one entry per venue kind: its adapter, and the module whose start_for(venue) runs its simulator
VENUE_KINDS = {
    CitrexConfig: (CitrexAdapter, "gateway.sim.citrex"),
    BsxConfig: (BsxAdapter, "gateway.sim.bsx"),
    PoloniexConfig: (PoloniexAdapter, "gateway.sim.poloniex"),
    BluefinConfig: (BluefinAdapter, "gateway.sim.bluefin"),
    DxtradeConfig: (DxtradeAdapter, "gateway.sim.dxtrade"),
}


async def start_simulator(venue):
    """Start the venue's simulator in this process; returns (sim, config pointed at it)."""
    import importlib

    module = importlib.import_module(VENUE_KINDS[type(venue)][1])
    sim = await module.start_for(venue)
    log.info("simulated venue %s on %s", venue.name, sim.rest_url)
    # a simulator serving more than these two (Bluefin's public market stream) names the other fields
    urls = getattr(sim, "config_urls", dict)()
    return sim, msgspec.structs.replace(venue, rest_url=sim.rest_url, ws_url=sim.ws_url, **urls)


def make_adapter(venue, parts: Parts) -> VenueAdapter:
    kind = VENUE_KINDS.get(type(venue))
    if kind is None:
        raise ValueError(f"venue {venue.name}: no adapter for kind {type(venue).__name__}")
    return kind[0](venue, parts.tracker, parts.metrics)


@dataclass
class Gateway:
    config: Config
    parts: Parts
    server: StrategyServer
    sims: dict[str, object] = field(default_factory=dict)
    references: dict[str, VenueReference] = field(init=False)  # venue -> its reference data

    # the parts tests and tools reach for most, named here once
    tracker: Tracker = field(init=False)
    venues: dict[str, VenueAdapter] = field(init=False)
    metrics: Metrics = field(init=False)
    reloader: object | None = field(init=False, default=None)  # gateway.reload.Reloader, with a config file

    def __post_init__(self) -> None:
        self.tracker, self.venues, self.metrics = self.parts.tracker, self.parts.venues, self.parts.metrics
        self.references = self.parts.health.references

    @property
    def drop_copy(self):
        return self.parts.health.drop_copy  # set once the journal is read

    @classmethod
    async def start(cls, config: Config, path: str | os.PathLike[str] | None = None) -> Gateway:
        """path: the file config was read from, which a reload reads again (None: no reload)."""
        # before anything else: a second instance must not touch journal, nonces, socket or venues
        lock = lock_state(config)
        try:
            gw = await cls._start(config)
        except BaseException:
            os.close(lock)
            raise
        gw._lock = lock
        if path is not None:
            from gateway.reload import Reloader

            gw.reloader = Reloader(path, config, gw.parts)
            gw.parts.router.reload = lambda req_id: gw.reload().reply(req_id)
        return gw

    def reload(self):
        """Re-read the config file and apply [risk] and log_level (SIGHUP, the `reload` op)."""
        from gateway.reload import ReloadResult

        if self.reloader is None:
            log.warning("reload asked, but this gateway was not started from a config file")
            return ReloadResult(False, "this gateway was not started from a config file")
        result = self.reloader.reload()
        self.config = self.reloader.config
        return result

    @classmethod
    async def _start(cls, config: Config) -> Gateway:
        journal = records = None
        if config.journal.path:
            journal = Journal(config.journal.path, fsync=config.journal.fsync, batch_ms=config.journal.batch_ms)
            records = journal.read()
            if config.drop_copy is not None:
                records = list(records)  # read twice: orders, then what the drop copy has yet to publish
        parts = assemble(RiskLimits(config.risk), closed_ttl_ns=config.orders.closed_order_ttl_secs * 10**9,
                         max_closed=config.orders.max_closed_orders, metrics=Metrics(), journal=journal)
        parts.states.configure(config.risk)
        tracker = parts.tracker
        drop_copy = None
        # the journal's switch, halt and state records: states restored at once, the rest once venues are up
        gateway_state: list = []
        if journal is not None:
            n = tracker.restore(replay(iter(records), gateway_state, parts.positions))
            unsent = tracker.close_unsent()
            if unsent:
                log.warning("journal: %d acked orders were never sent before the restart: CANCELED", unsent)
            parts.risk.exposure.rebuild(tracker.open_orders())  # the restored orders, as risk counts them
            parts.restore_states(gateway_state)
            snapshot, extra = list(tracker.orders.values()), ()
            if config.drop_copy is not None:
                from gateway.dropcopy.publisher import DropCopy

                drop_copy = parts.health.drop_copy = DropCopy(config.drop_copy, parts, journal)
                snapshot, extra = drop_copy.plan_restart(records, snapshot)
            # the book last: it holds every fill of the snapshot and the records kept beside it
            journal.open(snapshot, [*extra, *_last_state(gateway_state), *parts.positions.records()])
            del records
            log.info("journal %s: %d orders restored, %d open", journal.path, n, len(tracker.open_orders()))
        if drop_copy is not None:
            # from here on: what start-up changed is in the journal, which the catch-up reads first
            parts.add_listener(drop_copy)
        server = StrategyServer(config.server, parts.router, parts.sessions, parts.metrics, journal)
        parts.router.may_operate = server.admittance.is_operator
        gw = cls(config, parts, server)
        try:
            if drop_copy is not None:
                # never waits for NATS: the gateway trades while the drop copy connects
                drop_copy.start()
            for venue in config.venues:
                if venue.sim is not None and venue.sim.enabled:
                    sim, venue = await start_simulator(venue)
                    gw.sims[venue.name] = sim
                adapter = make_adapter(venue, parts)
                await adapter.start()
                reference = gw.references[venue.name] = VenueReference(
                    adapter, parts.reference, refresh_s=venue.instruments_refresh_secs,
                    poll_s=venue.reference_poll_secs)
                try:
                    await reference.load()  # a configured instrument that is not the venue's: no start
                except BaseException:
                    await adapter.stop()  # not yet among the venues gw.stop() closes
                    raise
                parts.add_venue(adapter)
                await adapter.reconcile(tracker.open_orders(venue=venue.name))
                _resend_cancels(adapter)
                log.info("venue %s ready (account %s)", venue.name, getattr(adapter, "account", "-"))
            for reference in gw.references.values():
                reference.start()
            parts.restore_gateway_state(gateway_state)
            await gw.server.start()
            if config.metrics.enabled:
                await parts.metrics.serve(config.metrics.address)
                log.info("metrics on http://%s/metrics", parts.metrics.address)
        except BaseException:
            await gw.stop()
            raise
        gw._purger = asyncio.ensure_future(gw._housekeeping())
        # what start-up made lives as long as the daemon: the collector need not scan it again
        gc.collect()
        gc.freeze()
        return gw

    async def _housekeeping(self) -> None:
        """Every second: orders pending with no word from their venue for longer than a reply may
        take go to the venue's resolver; every 10 s closed orders past their TTL are forgotten and
        a journal grown past [journal] compact_above_bytes is rewritten as a snapshot."""
        tick = 0
        while True:
            await asyncio.sleep(1)
            tick += 1
            watch_pending(self.tracker, self.venues.values())
            self.parts.sessions.switches.journal_touched()
            # unrealized PnL moves with the reference prices, not only with fills
            self.parts.states.check_max_loss()
            if tick % DRIFT_CHECK_SECS == 0:
                # a venue without a stream reconciles only at start: its account is compared anyway
                for adapter in self.venues.values():
                    self.parts.drift.reconciled(adapter)
            if tick % 10 == 0:
                tracker = self.tracker
                tracker.purge_closed()
                journal = tracker.journal
                dc = self.drop_copy
                if (journal is not None and journal.wants_compaction(self.config.journal.compact_above_bytes)
                        and (dc is None or dc.may_compact())):
                    head = [*(dc.compaction_head() if dc is not None else ()), *self.parts.gateway_state()]
                    self._compaction = asyncio.ensure_future(journal.compact(
                        tracker.orders.values(), head=head, tail=self.parts.positions.records))

    async def drain(self) -> None:
        """Stop taking requests; send what the venues' lines still hold; with
        shutdown.cancel_open_orders, cancel every open order and wait for the venues to confirm.
        Draining and closing (stop()) end by shutdown.deadline_secs from here, whatever is still
        queued then: it stays unsent (journaled as acked, so the next start closes it)."""
        secs = self.config.shutdown.deadline_secs
        self._deadline = time.monotonic() + secs
        deadline = self._deadline - min(CLOSE_RESERVE_S, CLOSE_SHARE * secs)  # the rest is stop()'s
        self.parts.gate.drain()
        await self.server.stop_accepting()
        await self._send_queued(deadline)
        if not self.config.shutdown.cancel_open_orders:
            return
        tracker = self.tracker
        orders = tracker.open_orders()
        log.info("shutdown: cancelling %d open orders", len(orders))
        self.parts.entry.cancel_orders(orders)
        await self._send_queued(deadline)
        while tracker.open_orders() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        left = tracker.open_orders()
        if left:
            log.warning("shutdown: %d orders not confirmed closed by the deadline: %s",
                        len(left), ", ".join(o.order_id for o in left[:20]))

    async def _send_queued(self, deadline: float) -> None:
        """Acked requests still waiting for their venue go out before the venues close."""
        lines = [a.outbound.drained() for a in self.venues.values() if a.outbound.busy]
        if not lines:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*lines), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            per_venue = {a.name: len(a.outbound) for a in self.venues.values() if len(a.outbound)}
            log.warning("shutdown: %d acked requests not sent by the deadline (%s); the journal has them",
                        sum(per_venue.values()), ", ".join(f"{v} {n}" for v, n in per_venue.items()) or "-")

    async def stop(self) -> None:
        """Close everything, by the shutdown deadline (drain()'s, else deadline_secs from now):
        a venue, simulator or endpoint that has not closed by then is left, and said so."""
        deadline = getattr(self, "_deadline", None) or time.monotonic() + self.config.shutdown.deadline_secs
        deadline = max(deadline, time.monotonic() + CLOSE_FLOOR_S)
        purger = getattr(self, "_purger", None)
        if purger is not None:
            purger.cancel()
        compaction = getattr(self, "_compaction", None)
        if compaction is not None and not compaction.done():
            compaction.cancel()  # the old file stays whole; the half-written one is removed
            await asyncio.gather(compaction, return_exceptions=True)
        await self.server.stop_accepting()
        await self.server.close()
        for reference in self.references.values():
            await reference.stop()
        for adapter in self.venues.values():
            if len(adapter.resolver):
                log.warning("shutdown: %d orders on %s still of unknown fate: asked again at the next start",
                            len(adapter.resolver), adapter.name)
            try:
                if not await _within(adapter.stop(), deadline, f"closing venue {adapter.name}"):
                    _close_nonces(adapter)
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("closing venue %s", adapter.name)
                _close_nonces(adapter)
        for name, sim in self.sims.items():
            await _within(sim.stop(), deadline, f"stopping the simulated venue {name}")
        if self.drop_copy is not None:
            await _within(self.drop_copy.close(), deadline, "closing the drop copy")
        await self.parts.drift.close()
        await _within(self.metrics.close(), deadline, "closing the metrics endpoint")
        if self.tracker.journal is not None:
            self.tracker.journal.close()
        lock = getattr(self, "_lock", None)
        if lock is not None:
            self._lock = None
            os.close(lock)  # the last thing: the state is free for the next instance


# the venues' accounts are compared with the positions book at least this often
DRIFT_CHECK_SECS = 60


def lock_state(config: Config) -> int:
    """Take `gateway.lock` in the journal's folder (the socket's without a journal), held
    while the process lives: one gateway per state. Returns the lock's fd."""
    import fcntl

    folder = os.path.dirname(config.journal.path or config.server.socket_path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, "gateway.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise RuntimeError(f"another gateway (pid {holder}) is running on this state: it holds {path}; "
                           "stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd




def _last_state(records: list) -> list:
    """Of the journal's gateway-state records, the ones still in force: each strategy's last
    switch record if armed, the last halt record if halted, each strategy's last state record
    unless plainly active."""
    switches, halt = {}, None
    for r in records:
        if r.k == SWITCH:
            switches[r.strategy] = r
        elif r.k == HALT:
            halt = r
    return ([r for r in switches.values() if r.timeout_ms] + ([halt] if halt is not None and halt.reason else [])
            + in_force(r for r in records if r.k == RISK_STATE))


async def _within(step, deadline: float, what: str) -> bool:
    """Await one closing step until the shutdown deadline; False (said in the log) when it was
    still not done then and is left."""
    try:
        await asyncio.wait_for(step, max(deadline - time.monotonic(), CLOSE_FLOOR_S))
        return True
    except asyncio.TimeoutError:
        log.warning("shutdown: %s not done by the deadline; left", what)
        return False


def _close_nonces(adapter) -> None:
    """A venue that did not close: its nonce mark is put on disk all the same."""
    nonces = adapter.nonces
    if nonces is not None and not nonces.closed:
        nonces.sync()
        nonces.close()


def _resend_cancels(adapter) -> None:
    """Cancels acked but maybe never sent before the restart: the orders the venue still has
    open get their cancel again (a cancel the venue already took is refused, and resolved)."""
    for order in adapter.tracker.open_orders(venue=adapter.name):
        if order.status is Status.PENDING_CANCEL:
            adapter.outbound.take(Cancel(order))


async def serve(config: Config, path: str | os.PathLike[str] | None = None) -> None:
    gw = await Gateway.start(config, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("second stop signal: exiting now")
            logging.shutdown()
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    # `systemctl reload`: its outcome is in the log (and gateway_config_reloads_total)
    loop.add_signal_handler(signal.SIGHUP, gw.reload)
    loop.add_signal_handler(signal.SIGUSR1, _dump_latency, gw.metrics)
    print(f"order-gateway serving on {config.server.socket_path}", file=sys.stderr, flush=True)
    # READY only now: venues are logged in and streaming, the socket accepts
    sdnotify.ready(f"serving on {config.server.socket_path}")
    period = sdnotify.watchdog_interval_s()
    # fed from the loop itself: a blocked loop stops the pings and systemd restarts us
    pinger = asyncio.ensure_future(sdnotify.watchdog_loop(period)) if period else None
    try:
        await stop.wait()
        sdnotify.stopping()
        log.info("stopping")
        await gw.drain()
    finally:
        if pinger is not None:
            pinger.cancel()
        await gw.stop()
        _dump_latency(gw.metrics)


def _dump_latency(metrics: Metrics) -> None:
    """GATEWAY_LATENCY_DUMP=path: write tick-to-wire samples (ns, one a line) for bench/,
    on SIGUSR1 and at exit: the raw samples, which the Prometheus histograms bucket."""
    path = os.environ.get("GATEWAY_LATENCY_DUMP")
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            fh.write("\n".join(str(v) for stages in metrics.venues.values()
                               for v in stages.tick_to_wire.recent()))
        os.replace(tmp, path)  # readers never see half a file


def run(config: Config, path: str | os.PathLike[str] | None = None) -> int:
    import uvloop

    from gateway.net.http import HttpError
    from gateway.reference.instruments import InstrumentMismatch
    from gateway.signer import KeyFileError
    from gateway.venues.base import VenueError

    setup_logging(config.log_level)
    try:
        uvloop.run(serve(config, path))
    except (VenueError, KeyFileError, HttpError, OSError, RuntimeError, InstrumentMismatch) as exc:
        # a start-up failure the operator must fix: one clear line, no traceback
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
