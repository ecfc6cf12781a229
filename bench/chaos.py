"""Chaos run: a venue's simulator with random faults, then faults off; every order must
converge to the simulator's own book, and every fill must have reached the strategy as trades.

    python -m bench.chaos [--venue citrex ...] [--orders 400] [--seed 1]    (make chaos)

Per venue, three processes: the venue's simulator (bench/chaos_sim.py: `gateway sim`'s
simulator, its faults switched through a pipe), the gateway (`gateway run`, the embedded
default config reduced to that venue, with a 1 s request timeout, no rate limit, its journal
and metrics on), and this one, the strategy. Orders go out in batches of ten; before each
batch one fault is switched on (duplicated, reordered or held stream events, a dropped
stream, replies slower than the timeout, 429s, an expired session, or a restart: the
gateway killed with SIGKILL right after the batch, its requests still in its line or in
flight, then started again from its journal while the venue trades on: an outside trader
fills one of our resting orders while it is down (a restart batch first waits, up to 5 s,
for one to rest); at least one restart per run), some resting orders are canceled, an
outside trader crosses the book, and the fault is switched off again. Then every fault is off and the run waits (up to
--bound-s) until:

- no order is pending and no look-up is outstanding (the gateway's metrics),
- every acked order is known, with the simulator's status, filled quantity and
  average price (an order the simulator never got: closed with a reason that says so),
- every order of our account in the simulator's book is one we track.

Then the gateway is stopped (SIGTERM) and its journal (each process's, kept before each
restart) is read:

- no fill booked twice (no trade journaled twice for an order, booked quantity within the total),
- the journal's last state of every order is what the strategy was last told.

And for every order, the quantities of the trades the strategy was told of (`last_trades`
of its order_updates, and of the `orders` replies it asked for after reconnecting, which
carry the trades it missed; each trade id once) add up to its `filled` (issue 25, item 1).

tests/integration/test_chaos.py runs a short seed-fixed version for every venue.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.config import load_config
from gateway.ipc import frames as f
from gateway.ipc.client import GatewayClient
from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, SCALE
from gateway.orders.records import FILL, STATE

VENUES = ("citrex", "bsx", "poloniex", "bluefin", "dxtrade")
FAULTS = ("none", "duplicate_events", "reorder_ack", "hold_events", "drop_streams", "slow_replies", "answer_429",
          "session_expiry")
REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "gateway.toml"
TIMEOUT_MS = 1000
STRATEGY = "chaos"

# the simulator's final statuses as ours; CANCELLED covers an IOC remainder we call EXPIRED
_SAME = {"OPEN": {"OPEN"}, "PARTIALLY_FILLED": {"PARTIALLY_FILLED"}, "FILLED": {"FILLED"},
         "CANCELLED": {"CANCELED", "EXPIRED"}, "REJECTED": {"REJECTED"}, "UNTRIGGERED": {"UNTRIGGERED"}}
_PENDING = ("PENDING_NEW", "PENDING_CANCEL", "PENDING_REPLACE")
# venues that cannot be asked about a closed order (Bluefin lists open orders and trades only):
# an order whose acceptance we never heard of and that closed there without a fill can only be
# called not received; counted apart, not as a mismatch
_BLIND = {"bluefin"}
# why an acked order may be missing from the simulator's book
_NEVER_THERE = ("not sent", "not received", "rate limit", "429", "canceled before it was sent")
# the reasons of an order closed on a guess (gateway/venues/resolver.py)
_GUESSES = ("not received by the venue", "unknown to the venue")

GUESS_NOTE = """\
closed on a guess: orders whose fate the venue could not tell (the reply was lost, and look-ups found
  nothing for longer than a request can travel: 2x the request timeout) were closed without its word,
  REJECTED "not received by the venue" (EXPIRED "unknown to the venue" if it had confirmed the order),
  marked as guesses that a later report from the venue reopens ("reopened"). Not a problem where the
  simulator's book agrees ("confirmed by the book": it never had the order, e.g. one journaled as sent
  that had not left when the gateway was killed, or a request the venue dropped when the gateway gave up
  on a slow reply; or it closed the order unfilled); a guess the book contradicts is a mismatch listed
  under its venue."""


@dataclass
class Report:
    venue: str
    seed: int
    orders: int = 0
    acked: int = 0
    kills: int = 0  # the gateway killed with SIGKILL and started again from its journal
    faults: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    filled_orders: int = 0
    closed_on_guess: int = 0  # orders that ended closed without the venue's word
    guess_confirmed: int = 0  # ...of which the simulator's book agrees (it never had the order, or closed it unfilled)
    reopened: int = 0  # orders closed on a guess that the venue's later word reopened
    converged_s: float | None = None
    problems: list[str] = field(default_factory=list)
    # orders whose trades told to the strategy do not add up to their filled quantity (issue 25, item 1)
    trade_gaps: list[str] = field(default_factory=list)
    logs: Path | None = None

    @property
    def ok(self) -> bool:
        """Converged: every order where the simulator's book says, no fill booked twice."""
        return self.converged_s is not None and not self.problems

    @property
    def trades_ok(self) -> bool:
        return not self.trade_gaps


# the configs


def chaos_config(tmp: Path, venue: str):
    """The embedded default reduced to the venue (its simulator section kept, for the simulator
    process), in tmp/etc: keys, nonces and the journal under tmp/run."""
    etc = tmp / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "gateway.toml").write_text(CONFIG.read_text())
    config = load_config(etc / "gateway.toml")
    [v] = [v for v in config.venues if v.name == venue]
    v = msgspec.structs.replace(v, request_timeout_ms=TIMEOUT_MS, rate_limit_per_s=0)
    return msgspec.structs.replace(
        config, venues=[v], log_level="warning",
        metrics=msgspec.structs.replace(config.metrics, enabled=True, address=f"127.0.0.1:{_free_port()}"),
        # the risk tables of symbols only other venues trade go with them (a table must name a traded symbol)
        risk=msgspec.structs.replace(config.risk, max_open_orders=100_000, symbols={
            key: table for key, table in config.risk.symbols.items()
            if key.partition(":")[2 if ":" in key else 0] in {*v.instruments, *v.symbols}
            and (":" not in key or key.startswith(f"{venue}:"))}))


def toml(config) -> str:
    """A config as TOML that load_config reads back to the same config (None: left out)."""
    lines: list[str] = []

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"no TOML for {v!r}")

    def key(k: str) -> str:
        return k if k and all(c.isalnum() or c in "-_" for c in k) else json.dumps(k)

    def table(path: list[str], d: dict, array: bool = False) -> None:
        if path:
            name = ".".join(key(p) for p in path)
            lines.append(f"\n[[{name}]]" if array else f"\n[{name}]")
        nested = []
        for k, v in d.items():
            if v is None:
                continue
            if isinstance(v, dict) or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
                nested.append((k, v))
            else:
                lines.append(f"{key(k)} = {value(v)}")
        for k, v in nested:
            if isinstance(v, dict):
                table([*path, k], v)
            else:
                for item in v:
                    table([*path, k], item, array=True)

    table([], msgspec.to_builtins(config))
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # the children import this checkout, whatever the caller's cwd and PYTHONPATH
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{path}" if path else str(REPO))


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


# the processes


async def _steps(socket_path: str, venue: str, symbol: str) -> tuple[int, int]:
    """The symbol's tick and smallest quantity as the gateway trades it (from the venue's list
    when the config gives the symbol alone)."""
    from gateway.ipc.client import GatewayClient

    async with GatewayClient(socket_path, strategy=None) as gw:
        reply = await gw.instruments(venue)
    view = next(i for i in reply.venues[0].instruments if i.symbol == symbol)
    return parse_scaled(view.tick_size, SCALE), max(parse_scaled(view.lot_size, SCALE),
                                                    parse_scaled(view.min_quantity, SCALE))


class SimProcess:
    """The venue's simulator in its own process (bench/chaos_sim.py), outliving the gateway."""

    def __init__(self, config_path: Path, venue: str, log: Path):
        self.config_path, self.venue, self.log = config_path, venue, log
        self.proc: asyncio.subprocess.Process | None = None
        self.rest_url = self.ws_url = ""

    async def start(self) -> SimProcess:
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.chaos_sim", "-c", str(self.config_path), "--timeout-ms", str(TIMEOUT_MS),
                self.venue, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                env=_env(), cwd=REPO, limit=1 << 24)  # a reply is one line: the book of every order
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"the {self.venue} simulator did not start:\n{_tail(self.log)}")
        urls = json.loads(line)
        self.rest_url, self.ws_url = urls["rest_url"], urls["ws_url"]
        return self

    async def call(self, op: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **kw}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"the {self.venue} simulator exited:\n{_tail(self.log)}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"simulator {op}: {reply['error']}")
        return reply

    async def fault(self, name: str, on: bool) -> None:
        if name in ("duplicate_events", "reorder_ack", "hold_events", "slow_replies", "answer_429"):
            await self.call("fault", name=name, on=on)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.stdin.close()  # the end of its commands: it stops its server and exits
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class GatewayProcess:
    """`gateway run` in its own process; killed with SIGKILL or stopped with SIGTERM, by its pid."""

    def __init__(self, config, config_path: Path, log: Path):
        self.config, self.config_path, self.log = config, config_path, log
        self.socket_path = config.server.socket_path
        self.metrics_url = f"http://{config.metrics.address}/metrics"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> GatewayProcess:
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "run", "-c", str(self.config_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=_env(), cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"the gateway exited at start ({self.proc.returncode}):\n{_tail(self.log)}")
            try:  # a socket file left by a killed gateway refuses
                _, writer = await asyncio.open_unix_connection(self.socket_path)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return self
        raise RuntimeError(f"the gateway did not open its socket in 60 s:\n{_tail(self.log)}")

    async def kill(self) -> None:
        """SIGKILL: no draining, no journal flush, nothing said to anyone."""
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; its exit code (None: SIGKILL after 30 s)."""
        if self.proc is None or self.proc.returncode is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return None

    def unresolved(self) -> int | None:
        """Orders whose fate the gateway is asking the venue about (gateway_orders_unresolved);
        None when the metrics cannot be read."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                   if line.startswith("gateway_orders_unresolved{"))


class Strategy:
    """The strategy's connection, across gateway restarts, and every trade it was told of."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        self.client: GatewayClient | None = None
        self._reader: asyncio.Task | None = None
        self.trades: dict[str, dict[str, int]] = {}  # client order id -> trade id -> quantity
        self.last: dict[str, f.OrderView] = {}  # client order id -> the last view it had

    async def connect(self) -> None:
        self.client = GatewayClient(self.socket_path, strategy=STRATEGY, timeout_s=30)
        await self.client.__aenter__()
        self._reader = asyncio.ensure_future(self._read(self.client))
        # what a strategy does after (re)connecting: ask for its orders; the views carry the
        # trades it has not had
        await self.orders()

    async def _read(self, client: GatewayClient) -> None:
        async for event in client.events():
            if isinstance(event, f.OrderUpdate):
                self.note(event.order)

    def note(self, view: f.OrderView) -> None:
        self.last[view.client_order_id] = view
        if view.last_trades:
            trades = self.trades.setdefault(view.client_order_id, {})
            for t in view.last_trades:
                trades[t.trade_id] = parse_scaled(t.quantity, SCALE)

    async def orders(self) -> dict[str, f.OrderView]:
        views = {v.client_order_id: v for v in await self.client.orders(open_only=False)}
        for view in views.values():
            self.note(view)
        return views

    async def closed(self) -> None:
        """After the gateway is gone: every event it wrote has been read."""
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 30)
            except asyncio.TimeoutError:
                self._reader.cancel()
        await self.client.__aexit__(None, None, None)


# the run


async def run_venue(tmp: Path, venue: str, orders: int, seed: int, bound_s: float = 60,
                    restarts: bool = True) -> Report:
    """restarts: batches end with the gateway killed (SIGKILL: what was queued is never sent,
    what was in flight is unanswered) and started again from its journal, the simulator kept
    running, as it would outlive a gateway crash; at least once a run."""
    report = Report(venue, seed, logs=tmp / "logs")
    rng = random.Random(seed)
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    config = chaos_config(tmp, venue)
    [venue_config] = config.venues
    (tmp / "etc" / "sim.toml").write_text(toml(config))
    sim = await SimProcess(tmp / "etc" / "sim.toml", venue, logs / "simulator.log").start()
    config = msgspec.structs.replace(config, venues=[msgspec.structs.replace(
        venue_config, rest_url=sim.rest_url, ws_url=sim.ws_url,
        sim=msgspec.structs.replace(venue_config.sim, enabled=False))])
    (tmp / "etc" / "gw.toml").write_text(toml(config))
    journal = Path(config.journal.path)
    kept: list[Path] = []  # each killed gateway's journal (the next start rewrites it as a snapshot)
    faults = FAULTS + (("restart",) if restarts else ())
    batches = max(1, orders // 10)
    gw = s = None
    try:
        gw = await GatewayProcess(config, tmp / "etc" / "gw.toml", logs / "gateway.log").start()
        s = Strategy(config.server.socket_path)
        await s.connect()
        symbol = "ETH-PERP"
        tick, lot = await _steps(config.server.socket_path, venue_config.name, symbol)
        mid = 3000 * ONE
        acked: list[str] = []
        for batch in range(batches):
            fault = rng.choice(faults)
            if restarts and batch == batches // 2 and not report.faults["restart"]:
                fault = "restart"  # every run kills the gateway at least once
            report.faults[fault] += 1
            if fault == "restart":
                # one of our orders rests at the venue first (the line may still be draining an
                # earlier fault's backlog), so that it can fill while the gateway is down
                deadline = time.monotonic() + 5
                while (await sim.call("ours_resting", symbol=symbol))["orders"] == 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            if fault == "drop_streams":
                await sim.call("drop_streams")
            elif fault == "session_expiry":
                await sim.call("expire_sessions")  # venues whose sessions expire
            else:
                await sim.fault(fault, True)
            for i in range(10):
                cid = f"c{batch}-{i}"
                side = rng.choice(("buy", "sell"))
                # a quarter cross the market maker's book at once, the rest rest near it
                away = -rng.randint(1, 5) if rng.random() < 0.25 else rng.randint(20, 200)
                price = mid - away * 10 * tick if side == "buy" else mid + away * 10 * tick
                qty = lot * rng.randint(1, 3)
                report.orders += 1
                ack = await s.client.place(venue, symbol, side, _text(qty), _text(price), client_order_id=cid)
                if ack.ok:
                    acked.append(cid)
            for cid in rng.sample(acked, min(3, len(acked))):
                await s.client.cancel(cid)
            if fault == "restart":
                # at once: the batch's requests are still in the line or in flight
                await gw.kill()
                report.kills += 1
                await s.closed()
                kept.append(journal.with_name(f"{journal.name}.{report.kills}"))
                shutil.copyfile(journal, kept[-1])
            side = rng.choice(("buy", "sell"))
            far = mid + 300 * 10 * tick if side == "buy" else mid - 300 * 10 * tick
            # an outside trader (while a killed gateway is down: the venue trades on without it)
            await sim.call("outside_trade", symbol=symbol, side=side, price=_text(far), quantity=_text(lot * 2))
            if fault == "restart":
                # and one of our resting orders fills meanwhile: the gateway learns it when it is back
                await sim.call("fill_ours", symbol=symbol)
                await gw.start()
                await s.connect()
            await asyncio.sleep(rng.uniform(0, 0.3))
            await sim.fault(fault, False)
            if fault == "hold_events" and rng.random() < 0.5:
                await sim.call("release_events")
        for fault in faults:
            await sim.fault(fault, False)
        await sim.call("release_events")
        report.acked = len(acked)
        t0 = time.monotonic()
        while True:
            views = await s.orders()
            book = (await sim.call("book"))["orders"]
            report.problems = _compare(views, book, gw.unresolved(), venue, acked)
            if not report.problems:
                report.converged_s = time.monotonic() - t0
                break
            if time.monotonic() - t0 >= bound_s:
                break
            await asyncio.sleep(0.25)
        for cid in acked:
            view = views.get(cid)
            if view is not None:
                report.statuses[view.status] += 1
                report.filled_orders += view.filled != "0"
        # stopped as an operator would; everything it wrote to the strategy is read before the checks
        code = await gw.stop()
        if code != 0:
            report.problems.append(f"the gateway exited {code} on SIGTERM")
        await s.closed()
        _check_journal(report, [*kept, journal], views, book, acked)
        _check_trades(report, views, s.trades, acked)
    except Exception as exc:  # noqa: BLE001 - a run that could not finish is a failed run, said why
        report.converged_s = None
        report.problems.append(f"the run stopped: {type(exc).__name__}: {exc}")
    finally:
        if gw is not None and gw.proc is not None and gw.proc.returncode is None:
            await gw.kill()
        if s is not None and s.client is not None:
            await s.client.__aexit__(None, None, None)
        await sim.stop()
    return report


def _compare(views: dict[str, f.OrderView], book: list[dict], unresolved: int | None, venue: str,
             acked: list[str]) -> list[str]:
    """What still differs between the gateway's orders (as the strategy sees them) and the
    simulator's book."""
    problems = []
    by_id = {o["id"]: o for o in book}
    ours = {_bare(v.venue_order_id) for v in views.values() if v.venue_order_id}
    if unresolved is None:
        problems.append("the gateway's metrics cannot be read (orders still being asked about?)")
    elif unresolved:
        problems.append(f"{unresolved} orders still being asked about")
    for cid in acked:
        view = views.get(cid)
        if view is None:
            problems.append(f"{cid}: acked, unknown")
            continue
        if view.status in _PENDING:
            problems.append(f"{cid}: {view.status}")
            continue
        venue_order = by_id.get(_bare(view.venue_order_id or ""))
        if venue_order is None:
            if view.status not in ("REJECTED", "CANCELED") or not any(w in (view.reason or "") for w in _NEVER_THERE):
                problems.append(f"{cid}: {view.status} ({view.reason}) but the venue never had it")
            continue
        same = _SAME[venue_order["status"]]
        if venue_order["status"] == "CANCELLED" and venue_order["reason"] not in (None, "USER"):
            same = same | {"REJECTED"}  # the venue canceled it on arrival (self-trade, post-only): refused
        filled = parse_scaled(view.filled, SCALE)
        if (view.status == "REJECTED" and (view.reason or "").startswith(_GUESSES) and not filled
                and not venue_order["filled"] and venue in _BLIND and venue_order["status"] == "CANCELLED"):
            continue  # closed without a fill either way; which way, the venue cannot be asked
        if view.status not in same:
            problems.append(f"{cid}: {view.status} ({view.reason}), the venue says {venue_order['status']}")
        if filled != venue_order["filled"]:
            problems.append(f"{cid}: filled {view.filled}, the venue says {_text(venue_order['filled'])}")
        elif filled:
            venue_avg = venue_order["notional"] // venue_order["filled"]
            if parse_scaled(view.avg_price or "0", SCALE) != venue_avg:
                problems.append(f"{cid}: average {view.avg_price}, the venue says {_text(venue_avg)}")
    for key, venue_order in by_id.items():
        if not venue_order["maker"] and key not in ours:
            problems.append(f"the venue has order {venue_order['order_id']} ({venue_order['status']}) we do not track")
    return problems


def _check_journal(report: Report, journals: list[Path], views: dict[str, f.OrderView], book: list[dict],
                   acked: list[str]) -> None:
    """Each gateway process's journal: no trade booked twice; the last one's orders are what the
    strategy was told; the orders closed on a guess, and whether the venue's book agrees."""
    ever_guessed: set[str] = set()
    for path in journals:
        booked: Counter = Counter()
        for r in Journal(str(path)).read():
            if r.k == FILL:
                booked[r.id, r.t] += 1
            elif r.k == STATE and r.g:
                ever_guessed.add(r.id)
        for (order_id, trade_id), n in booked.items():
            if n > 1:
                report.problems.append(f"order {order_id}: trade {trade_id} booked {n} times ({path.name})")
    by_id = {o["id"]: o for o in book}
    orders = {o.client_order_id: o for o in replay(Journal(str(journals[-1])).read()) if o.strategy == STRATEGY}
    for cid in acked:
        order, view = orders.get(cid), views.get(cid)
        if order is None:
            report.problems.append(f"{cid}: acked, not in the journal")
            continue
        if order.booked > order.filled:
            report.problems.append(f"{cid}: a fill booked twice (trades {_text(order.booked)} "
                                   f"of {_text(order.filled)})")
        if view is not None and (order.status.value, format_scaled(order.filled, SCALE)) != (view.status, view.filled):
            report.problems.append(f"{cid}: the journal says {order.status.value} filled "
                                   f"{format_scaled(order.filled, SCALE)}, the strategy was told {view.status} "
                                   f"filled {view.filled}")
        if order.guessed:
            report.closed_on_guess += 1
            venue_order = by_id.get(_bare(order.venue_order_id or ""))
            if venue_order is None or (venue_order["status"] == "CANCELLED" and not venue_order["filled"]):
                report.guess_confirmed += 1
        elif order.order_id in ever_guessed:
            report.reopened += 1


def _check_trades(report: Report, views: dict[str, f.OrderView], trades: dict[str, dict[str, int]],
                  acked: list[str]) -> None:
    """Issue 25, item 1: the trades the strategy was told of add up to each order's filled."""
    for cid in acked:
        view = views.get(cid)
        if view is None:
            continue
        told = trades.get(cid, {})
        if sum(told.values()) != parse_scaled(view.filled, SCALE):
            report.trade_gaps.append(f"{cid}: {view.status} filled {view.filled}, trades told "
                                     f"{_text(sum(told.values()))} ({len(told)} trades)")


def _bare(venue_id: str) -> str:
    venue_id = venue_id.lower()
    return venue_id[2:] if venue_id.startswith("0x") else venue_id


def _text(value: int) -> str:
    whole, frac = divmod(value, ONE)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


def summary(report: Report, seconds: float) -> list[str]:
    verdict = "ok" if report.ok and report.trades_ok else "FAILED"
    with_fills = report.filled_orders
    lines = [
        f"{report.venue}: {verdict} in {seconds:.0f} s; {report.orders} orders, {report.acked} acked, "
        f"{with_fills} with fills; statuses {dict(report.statuses)}; faults {dict(report.faults)} "
        f"(the gateway killed {report.kills}x); closed on a guess {report.closed_on_guess} "
        f"(confirmed by the book {report.guess_confirmed}), reopened {report.reopened}; "
        + (f"converged after {report.converged_s:.1f} s" if report.converged_s is not None
           else "DID NOT CONVERGE"),
        "  trades told = filled: " + (
            f"ok for every order ({with_fills} with fills)" if report.trades_ok else
            f"FAILED for {len(report.trade_gaps)} of {report.acked} orders ({with_fills} with fills)"),
    ]
    lines += [f"  {problem}" for problem in report.problems[:10]]
    if len(report.problems) > 10:
        lines.append(f"  ... {len(report.problems) - 10} more")
    lines += [f"  trade gap: {gap}" for gap in report.trade_gaps[:5]]
    if len(report.trade_gaps) > 5:
        lines.append(f"  ... {len(report.trade_gaps) - 5} more")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venue", action="append", choices=VENUES, help="venue to run (repeatable; default all)")
    parser.add_argument("--orders", type=int, default=400, help="orders per venue (default 400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bound-s", type=float, default=60, help="time allowed to converge after the faults")
    parser.add_argument("--logs", type=Path, help="keep each venue's gateway and simulator logs and journals "
                                                  "here (default: kept only for a venue that failed)")
    parser.add_argument("--json", action="store_true", help="one JSON object per venue")
    args = parser.parse_args(argv)
    failed = 0
    for venue in args.venue or VENUES:
        tmp = Path(tempfile.mkdtemp(prefix=f"chaos-{venue}-"))
        t0 = time.monotonic()
        report = asyncio.run(run_venue(tmp, venue, args.orders, args.seed, args.bound_s))
        seconds = time.monotonic() - t0
        bad = not (report.ok and report.trades_ok)
        failed += bad
        kept = None
        if args.logs is not None:
            kept = args.logs / venue
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(tmp / "logs", kept)
            for journal in (tmp / "run" / "journal").glob("orders.journal*"):
                shutil.copy(journal, kept)
        if bad and kept is None:
            kept = tmp
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if args.json:
            print(json.dumps({"venue": venue, "ok": report.ok, "trades_ok": report.trades_ok,
                              "orders": report.orders, "acked": report.acked, "kills": report.kills,
                              "faults": dict(report.faults), "statuses": dict(report.statuses),
                              "filled_orders": report.filled_orders, "converged_s": report.converged_s,
                              "closed_on_guess": report.closed_on_guess, "guess_confirmed": report.guess_confirmed,
                              "reopened": report.reopened, "problems": report.problems[:20],
                              "trade_gaps": len(report.trade_gaps), "trade_gap_examples": report.trade_gaps[:5],
                              "logs": None if kept is None else str(kept)}))
        else:
            for line in summary(report, seconds):
                print(line)
            if kept is not None:
                print(f"  logs and journals: {kept}")
        sys.stdout.flush()
    if not args.json:
        print(GUESS_NOTE)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
