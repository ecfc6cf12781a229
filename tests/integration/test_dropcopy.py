"""The drop copy against a real JetStream (Debian's nats-server, started here on a free
port with its store in the test's temp dir, stopped by pid): every change of every order
exactly once and in order per order, across a NATS outage longer than the buffer; two
gateways on one stream in `gateway dropcopy book` and `tail`; halt, resume and cancel_all
from `gateway dropcopy` on one gateway or all."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway._core.fixedpoint import format_scaled
from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient
from tests.integration.harness import make_config

NATS_SERVER = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server")
                                              else None)
pytestmark = pytest.mark.skipif(NATS_SERVER is None,
                                reason="nats-server is not installed (make test installs Debian's nats-server)")

STREAM = "GATEWAY_ORDERS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """`nats-server -js` on a free port, its store in tmp; killed or stopped by pid only."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.store = tmp / "nats-store"
        self.log = tmp / "nats.log"
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> NatsServer:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                          "-sd", str(self.store)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"nats-server exited: {self.log.read_text()[-2000:]}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not listen within 30 s"
                time.sleep(0.05)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path).start()
    yield server
    server.stop()


def drop_copy_edit(tmp: Path, url: str, gateway_id: str, **extra):
    """harness config + a journal and [drop_copy]."""
    lines = [f'url = "{url}"', f'gateway_id = "{gateway_id}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    section = (f'[journal]\npath = "{tmp}/{gateway_id}.journal"\n[drop_copy]\n' + "\n".join(lines) + "\n")

    def edit(text: str) -> str:
        return text.replace("[risk]", section + "[risk]", 1)
    return edit


async def stream_events(url: str, *, gateway: str | None = None, timeout_s: float = 30) -> list:
    """Every order event in the stream (optionally one gateway's), in stream order:
    (msg_id, subject, payload)."""
    import nats
    from nats.js.api import DeliverPolicy

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        if not info.state.messages:
            return []
        sub = await js.subscribe(f"gateway.{gateway or '*'}.*.*.*", stream=STREAM, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.ALL)
        out = []
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout_s)
            except Exception:  # nats' TimeoutError: nothing of this gateway
                break
            out.append((msg.headers["Nats-Msg-Id"], msg.subject, json.loads(msg.data)))
            if msg.metadata.num_pending == 0:
                break
        return out
    finally:
        await nc.close()


def check_exactly_once_in_order(events: list, truth: dict[str, tuple[int, str]], gateway_id: str) -> None:
    """truth: order id -> (its last change number, its status). Each order's changes 1..last
    are in the stream once each, in order, and the last one says the order's status."""
    ids = [e[0] for e in events]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events stored twice"
    seqs: dict[str, list[int]] = {}
    last_status: dict[str, str] = {}
    for msg_id, subject, ev in events:
        assert ev["gateway"] == gateway_id and msg_id == f"{gateway_id}:{ev['order']['order_id']}:{ev['seq']}"
        assert subject == f"gateway.{gateway_id}.citrex.{ev['strategy'].replace('.', '~')}.order"
        seqs.setdefault(ev["order"]["order_id"], []).append(ev["seq"])
        last_status[ev["order"]["order_id"]] = ev["order"]["status"]
    assert set(seqs) == set(truth), f"orders missing: {set(truth) - set(seqs)}, unknown: {set(seqs) - set(truth)}"
    for order_id, (last, status) in truth.items():
        assert seqs[order_id] == list(range(1, last + 1)), f"order {order_id}: changes {seqs[order_id]}"
        assert last_status[order_id] == status, order_id


async def trade_burst(client: GatewayClient, tag: str, n: int) -> list[str]:
    """n orders: resting, crossing (fills), rested then canceled, post-only crossing (rejected)."""
    cids = []
    for i in range(n):
        cid = f"{tag}-{i}"
        kind = i % 4
        if kind == 0:
            ack = await client.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id=cid)
        elif kind == 1:
            ack = await client.place("citrex", "ETH-PERP", "buy", "0.001", "3003", client_order_id=cid)
        elif kind == 2:
            ack = await client.place("citrex", "ETH-PERP", "buy", "0.01", "2901", client_order_id=cid)
        else:
            ack = await client.place("citrex", "ETH-PERP", "buy", "0.01", "3003", post_only=True,
                                     client_order_id=cid)
        assert ack.ok, ack.error
        cids.append(cid)
        if kind == 2:
            assert (await client.cancel(cid)).ok
    return cids


async def until(predicate, timeout_s: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def truth_of(gw: Gateway) -> dict[str, tuple[int, str]]:
    return {o.order_id: (o.seq, o.status.value) for o in gw.tracker.orders.values()}


def settled(gw: Gateway) -> bool:
    """No order waits for its venue's word and the drop copy has nothing pending."""
    tracker = gw.tracker
    return (not any(o.status.value.startswith("PENDING") for o in tracker.orders.values())
            and gw.drop_copy.pending == 0)


def run(coro_fn, timeout_s: float = 120) -> None:
    import uvloop

    async def main():
        await asyncio.wait_for(coro_fn(), timeout_s)
    uvloop.run(main())


def test_every_change_once_and_in_order(tmp_path, nats_server):
    async def scenario():
        gw = await Gateway.start(make_config(tmp_path, drop_copy_edit(tmp_path, nats_server.url, "gw-a")))
        try:
            async with GatewayClient(gw.config.server.socket_path, strategy="alpha.1") as a:
                await trade_burst(a, "a", 40)
            await until(lambda: settled(gw), what="the burst to settle and publish")
            statuses = {s for _, s in truth_of(gw).values()}
            assert {"OPEN", "FILLED", "CANCELED", "REJECTED"} <= statuses, statuses
            events = await stream_events(nats_server.url, gateway="gw-a")
            check_exactly_once_in_order(events, truth_of(gw), "gw-a")
            # a '.' in a strategy name is '~' in the subject; the payload has the name as it is
            assert events[0][1] == "gateway.gw-a.citrex.alpha~1.order" and events[0][2]["strategy"] == "alpha.1"
            # the first event of an order is the venue's first word on it (no PENDING_NEW: a
            # strategy never gets one either)
            first = next(e[2] for e in events if e[2]["order"]["client_order_id"] == "a-0")
            assert first["seq"] == 1 and first["order"]["status"] == "OPEN"
            assert first["order"]["quantity"] == "0.01" and first["order"]["price"] == "2900"
            # absent fields are null / false / empty, as in the strategy protocol
            fills = [e[2]["order"] for e in events if e[2]["order"].get("last_trades")]
            assert fills and all(t["price"] and t["quantity"] for o in fills for t in o["last_trades"])
            dc = gw.drop_copy
            # (changes made before NATS was reached at start-up come from the journal: catchup_events)
            assert dc.published == len(events) and dc.publish_errors == 0
            scrape = gw.metrics.render().decode()
            assert f"gateway_dropcopy_published_total {float(len(events))}" in scrape
            assert "gateway_dropcopy_pending_events 0.0" in scrape and "gateway_dropcopy_connected 1.0" in scrape
            assert "gateway_halted 0.0" in scrape
        finally:
            await gw.stop()
    run(scenario)


def test_nats_killed_mid_burst_and_restarted_loses_and_duplicates_nothing(tmp_path, nats_server):
    counts = {}

    async def scenario():
        # a buffer far smaller than the outage: most of it comes back from the journal
        edit = drop_copy_edit(tmp_path, nats_server.url, "gw-o", max_buffer_events=20, batch_max_events=16,
                              ack_timeout_secs=1.0)
        gw = await Gateway.start(make_config(tmp_path, edit))
        dc = gw.drop_copy
        try:
            async with GatewayClient(gw.config.server.socket_path, strategy="outage") as s:
                await trade_burst(s, "before", 12)
                nats_server.kill()  # mid-burst: batches in flight lose their acks
                await trade_burst(s, "during", 40)
                await until(lambda: all(not o.status.value.startswith("PENDING")
                                        for o in gw.tracker.orders.values()), what="the venue's word")
                counts["pending_during_outage"] = dc.pending
                assert dc.overflow or dc._catchup_left, "the outage outgrew the buffer"
                nats_server.start()
                await until(lambda: settled(gw), what="the catch-up")
            events = await stream_events(nats_server.url, gateway="gw-o")
            check_exactly_once_in_order(events, truth_of(gw), "gw-o")
            counts.update(events=len(events), orders=len(truth_of(gw)), published=dc.published,
                          from_journal=dc.catchup_events, errors=dc.publish_errors)
            assert dc.catchup_events > 0
            assert dc.published <= len(events)  # the rest were stored before the kill, acks lost
        finally:
            await gw.stop()
    run(scenario)
    print(f"outage counts: {counts}")


async def cli(*args: str, timeout_s: float = 60) -> tuple[int, str, str]:
    """`gateway dropcopy ...` as a user runs it, without blocking the gateways' loop."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "dropcopy", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode, out.decode(), err.decode()


def test_two_gateways_book_tail_and_fleet_control(tmp_path, nats_server):
    url = nats_server.url

    async def scenario():
        ta, tb = tmp_path / "a", tmp_path / "b"
        ta.mkdir()
        tb.mkdir()
        gws = {}
        gws["gw-a"] = await Gateway.start(make_config(ta, drop_copy_edit(ta, url, "gw-a", control=True)))
        gws["gw-b"] = await Gateway.start(make_config(tb, drop_copy_edit(tb, url, "gw-b", control=True)))
        try:
            async with GatewayClient(gws["gw-a"].config.server.socket_path, strategy="sa") as a, \
                    GatewayClient(gws["gw-b"].config.server.socket_path, strategy="sb") as b:
                await until(lambda: all(g.drop_copy.control is not None and g.drop_copy.connected
                                        for g in gws.values()), what="control subscriptions")
                await trade_burst(a, "a", 8)
                await trade_burst(b, "b", 12)
                await until(lambda: all(settled(g) for g in gws.values()), what="both to publish")

                code, out, err = await cli("book", "--url", url, "--json")
                assert code == 0, err
                book = json.loads(out)
                rows = {r["gateway"]: r for r in book["rows"]}
                assert set(rows) == {"gw-a", "gw-b"}
                for gid, g in gws.items():
                    orders = list(g.tracker.orders.values())
                    open_n = sum(1 for o in orders if not o.is_closed)
                    bought = sum(o.filled for o in orders)
                    assert rows[gid]["open_orders"] == open_n and open_n > 0
                    assert rows[gid]["venue"] == "citrex" and rows[gid]["symbol"] == "ETH-PERP"
                    assert bought > 0 and rows[gid]["net_filled"] == format_scaled(bought, 18)
                assert book["orders"] == sum(len(g.tracker.orders) for g in gws.values())

                n_b = sum(o.seq for o in gws["gw-b"].tracker.orders.values())
                code, out, err = await cli("tail", "--url", url, "--gateway", "gw-b", "--from-start", "--json",
                                           "--count", str(n_b), "--idle-exit", "10")
                assert code == 0, err
                lines = [json.loads(line) for line in out.splitlines()]
                assert len(lines) == n_b and {ev["gateway"] for ev in lines} == {"gw-b"}

                # halt one gateway: its strategies are refused, the other's are not
                code, out, err = await cli("halt", "--url", url, "--gateway", "gw-a", "--reason", "risk check")
                assert code == 0, err
                reply = json.loads(out)
                assert reply == {"gateway": "gw-a", "op": "halt", "ok": True, "halted": True, "reason": "risk check"}
                ack = await a.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="a-halted")
                assert not ack.ok and ack.error.code == "halted" and "risk check" in ack.error.message
                assert (await b.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="b-ok")).ok
                st = await a.status()
                assert st.halted == "risk check" and st.drop_copy.state == "connected"
                assert "gateway_halted 1.0" in gws["gw-a"].metrics.render().decode()

                # all: both halted; then cancel_all empties both books; resume
                code, out, err = await cli("halt", "--url", url, "--all", "--expect", "2", "--wait", "10")
                assert code == 0, err
                assert sorted(json.loads(line)["gateway"] for line in out.splitlines()) == ["gw-a", "gw-b"]
                ack = await b.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="b-halted")
                assert not ack.ok and ack.error.code == "halted"
                open_before = {gid: len(g.tracker.open_orders()) for gid, g in gws.items()}
                code, out, err = await cli("cancel-all", "--url", url, "--all", "--expect", "2", "--wait", "10")
                assert code == 0, err
                replies = {r["gateway"]: r for r in map(json.loads, out.splitlines())}
                for gid, g in gws.items():
                    assert replies[gid]["cancel_requested"] == open_before[gid] > 0
                await until(lambda: all(not g.tracker.open_orders() for g in gws.values()),
                            what="cancel_all to empty both gateways")
                code, out, err = await cli("resume", "--url", url, "--all", "--expect", "2", "--wait", "10")
                assert code == 0, err
                assert (await a.place("citrex", "ETH-PERP", "buy", "0.01", "2900", client_order_id="a-again")).ok
                code, out, err = await cli("cancel-all", "--url", url, "--gateway", "gw-a", "--venue", "nowhere")
                assert code == 1 and "no venue 'nowhere'" in json.loads(out)["error"]
        finally:
            for g in gws.values():
                await g.stop()
    run(scenario, 180)


def test_fleet_control_sets_one_strategys_state(tmp_path, nats_server):
    """`gateway dropcopy set-state`: the strategy is told and refused, the others trade; a bad
    name is refused in the reply; journaled as the operator's own op is."""
    url = nats_server.url

    async def scenario():
        gw = await Gateway.start(make_config(tmp_path, drop_copy_edit(tmp_path, url, "gw-a", control=True)))
        try:
            sock = gw.config.server.socket_path
            async with GatewayClient(sock, strategy="sa") as a, GatewayClient(sock, strategy="sb") as b:
                await until(lambda: gw.drop_copy.control is not None and gw.drop_copy.connected,
                            what="the control subscription")
                code, out, err = await cli("set-state", "--url", url, "--gateway", "gw-a", "sa", "halted",
                                           "--reason", "desk review")
                assert code == 0, err
                assert json.loads(out) == {"gateway": "gw-a", "op": "set_state", "ok": True, "reason": "desk review",
                                           "strategy": "sa", "state": "halted", "was": "active"}
                event = await a.wait_for(lambda e: e.__struct_config__.tag == "risk_state")
                assert (event.state, event.reason) == ("halted", "desk review")
                ack = await a.place("citrex", "ETH-PERP", "buy", "0.01", "2900")
                assert not ack.ok and ack.error.code == "strategy_halted" and "fleet_control" in ack.error.message
                assert (await b.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok
                code, out, err = await cli("set-state", "--url", url, "--all", "--expect", "1", "sa", "active")
                assert code == 0 and json.loads(out)["was"] == "halted", (out, err)
                assert (await a.place("citrex", "ETH-PERP", "buy", "0.01", "2900")).ok
                code, out, err = await cli("set-state", "--url", url, "--gateway", "gw-a", "no good!", "halted")
                assert code == 1 and "strategy must be" in json.loads(out)["error"]
                assert gw.parts.states.limited == {}
                text = gw.metrics.render().decode()
                assert 'gateway_strategy_state_changes_total{source="fleet_control",state="halted",strategy="sa"} 1.0' \
                    in text
        finally:
            await gw.stop()
    run(scenario, 120)
