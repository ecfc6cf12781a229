"""`gateway order ...` and `gateway status` as a trader and an operator run them: a real
daemon (`gateway run`, Citrex and DXtrade simulators), the CLI in its own process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import CONFIG


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    yield from _daemon(tmp, CONFIG.format(tmp=tmp) + DXTRADE_CONFIG.replace("{tmp}", str(tmp)) + RISK)


# t5's stop-market orders go without a reference price (the venues' prices come a poll after
# the start); the rest keep the default (refused without one)
RISK = """
[risk.strategies.t5]
require_reference_price = false
[risk.strategies.t5.symbols."dxtrade:ETH-PERP"]
max_order_quantity = "2"
"""


def _daemon(tmp, config_text: str):
    (tmp / "gw.toml").write_text(config_text)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(tmp / "gw.toml")],
                            stderr=subprocess.PIPE, text=True)
    sock = tmp / "gw.sock"
    for _ in range(600):
        if sock.exists() and _run(sock, "status").returncode == 0:
            break
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        time.sleep(0.1)
    else:
        raise AssertionError("gateway did not start")
    yield sock
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _run(sock, *argv, strategy=None):
    extra = ["--socket", str(sock)] + (["--strategy", strategy] if strategy else [])
    cmd = [sys.executable, "-m", "gateway", *argv[:2], *extra, *argv[2:]] if argv[0] == "order" else \
        [sys.executable, "-m", "gateway", argv[0], "--socket", str(sock), *argv[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ, COLUMNS="200"))


def order(sock, action, *args, strategy):
    return _run(sock, "order", action, *args, strategy=strategy)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_place_resting_until_done_or_resting_exits_0_and_list_has_header_and_ids(daemon):
    r = order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.5", "2950", "--client-order-id", "r1",
              "--until-done", "--or-resting", "--wait", "30", strategy="t1")
    assert r.returncode == 0, r.stderr
    assert "OPEN" in r.stdout and "r1" in r.stdout
    r = order(daemon, "list", strategy="t1")
    header, row = r.stdout.splitlines()
    assert header.split()[:4] == ["ORDER", "ID", "CLIENT", "ORDER"]
    [listed] = lines(order(daemon, "list", "--json", strategy="t1").stdout)
    assert row.split()[0] == listed["order_id"] and listed["client_order_id"] == "r1"
    assert listed["status"] == "OPEN" and listed["price"] == "2950"


def test_until_done_on_a_resting_order_ends_with_exit_4_and_its_state(daemon):
    r = order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.5", "2950", "--client-order-id", "w1",
              "--until-done", "--wait", "1", strategy="t2")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "the wait ended" in r.stdout and r.stdout.rstrip().splitlines()[-1].split()[1] == "w1"
    assert "OPEN" in r.stdout.splitlines()[-1]


def test_cancel_and_cancel_all_wait_and_print_each_outcome(daemon):
    for cid, price in (("c1", "2950"), ("c2", "2940"), ("c3", "2930")):
        assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", price, "--client-order-id", cid,
                     strategy="t3").returncode == 0
    r = order(daemon, "cancel", "c1", "--json", strategy="t3")
    assert r.returncode == 0, r.stderr
    events = lines(r.stdout)
    assert events[0]["op"] == "ack" and events[0]["ok"] is True
    # the update itself, or (when it beat the CLI's listening) the order's state read back
    assert events[-1]["op"] in ("order_update", "order") and events[-1]["order"]["status"] == "CANCELED"
    r = order(daemon, "cancel-all", "citrex", strategy="t3")
    assert r.returncode == 0, r.stderr
    canceled = [line for line in r.stdout.splitlines() if "CANCELED" in line]
    assert {line.split()[1] for line in canceled} == {"c2", "c3"}
    r = order(daemon, "cancel", "c1", strategy="t3")  # closed already: refused, said why
    assert r.returncode == 1 and "order_closed" in r.stderr


def test_venue_refusal_is_visible_and_exits_1(daemon):
    # post-only at the ask would take liquidity: the venue rejects it
    r = order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", "3003", "--post-only", "--client-order-id",
              "p1", strategy="t4")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REJECTED" in r.stdout


def test_replace_modify_stop_and_group_from_the_terminal(daemon):
    assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", "2950", "--client-order-id", "x1",
                 strategy="t5").returncode == 0
    r = order(daemon, "replace", "x1", "0.2", "2951", "--new-client-order-id", "x2", "--json", strategy="t5")
    assert r.returncode == 0, r.stdout + r.stderr
    final = {e["order"]["client_order_id"]: e["order"] for e in lines(r.stdout) if e["op"] == "order_update"}
    assert final["x1"]["status"] == "CANCELED" and final["x2"]["status"] == "OPEN"
    assert final["x2"]["price"] == "2951" and final["x2"]["quantity"] == "0.2"

    assert order(daemon, "place", "dxtrade", "ETH-PERP", "buy", "0.1", "2950", "--client-order-id", "m1",
                 strategy="t5").returncode == 0
    r = order(daemon, "modify", "m1", "--price", "2948", strategy="t5")
    assert r.returncode == 0, r.stdout + r.stderr
    [m1] = [o for o in lines(order(daemon, "list", "--json", strategy="t5").stdout) if o["client_order_id"] == "m1"]
    assert m1["price"] == "2948"

    r = order(daemon, "place", "dxtrade", "ETH-PERP", "sell", "0.1", "--stop-price", "2900", "--client-order-id",
              "s1", "--json", strategy="t5")
    assert r.returncode == 0, r.stdout + r.stderr
    stop = lines(r.stdout)[-1]["order"]
    # DXtrade lists a waiting stop WORKING (no status of its own): the gateway shows it UNTRIGGERED
    assert stop["stop_price"] == "2900" and stop["type"] == "market" and stop["status"] == "UNTRIGGERED"

    r = order(daemon, "place-group", "dxtrade", "oco", "--leg", "ETH-PERP sell 0.1 3100 cid=g1",
              "--leg", "ETH-PERP sell 0.1 stop=2800 cid=g2", "--json", strategy="t5")
    assert r.returncode == 0, r.stdout + r.stderr
    ack = lines(r.stdout)[0]
    assert ack["op"] == "ack" and len(ack["order_ids"]) == 2
    r = order(daemon, "place-group", "citrex", "oco", "--leg", "ETH-PERP sell 0.1 3100",
              "--leg", "ETH-PERP sell 0.1 3200", strategy="t5")
    assert r.returncode == 1 and "unsupported" in r.stderr
    r = order(daemon, "place-group", "dxtrade", "oco", "--leg", "ETH-PERP sideways 1", strategy="t5")
    assert r.returncode == 2 and "side must be buy or sell" in r.stderr


def test_cancel_all_over_dxtrade_oco_groups_exits_0_with_every_order_canceled(daemon):
    # the venue cancels each group's other leg itself: our cancel of it finds it CANCELED
    for tag in ("a", "b"):
        r = order(daemon, "place-group", "dxtrade", "oco", "--leg", f"ETH-PERP buy 0.1 2950 cid={tag}1",
                  "--leg", f"ETH-PERP sell 0.1 3100 cid={tag}2", strategy="t8")
        assert r.returncode == 0, r.stdout + r.stderr
    r = order(daemon, "cancel-all", "dxtrade", "--json", strategy="t8")
    assert r.returncode == 0, r.stdout + r.stderr
    events = lines(r.stdout)
    assert not [e for e in events if e["op"] == "cancel_reject"]
    final = {e["order"]["client_order_id"]: e["order"]["status"] for e in events if "order" in e}
    assert final == {cid: "CANCELED" for cid in ("a1", "a2", "b1", "b2")}


def test_status_units_json_and_armed_switch(daemon):
    assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", "2950", "--client-order-id", "d1",
                 strategy="t6").returncode == 0
    r = order(daemon, "cancel-all-after", "600000", strategy="t6")
    assert r.returncode == 0 and "600000 ms" in r.stdout
    r = _run(daemon, "status")
    assert r.returncode == 0, r.stderr
    assert "cancel_all_after armed for t6: 600000 ms" in r.stdout
    citrex = next(line for line in r.stdout.splitlines() if line.startswith("citrex"))
    assert " us" not in citrex and ("µs" in citrex or " ms" in citrex)
    [st] = lines(_run(daemon, "status", "--json").stdout)
    assert st["op"] == "status" and {v["name"] for v in st["venues"]} == {"citrex", "dxtrade"}
    assert [(s["strategy"], s["timeout_ms"]) for s in st["switches"]] == [("t6", 600000)]
    assert order(daemon, "cancel-all-after", "0", strategy="t6").returncode == 0
    assert lines(_run(daemon, "status", "--json").stdout)[0]["switches"] == []


# what README's protocol table documents of the `status` reply: a JSON reader finds every one
STATUS_FIELDS = {"op", "req_id", "uptime_s", "strategies", "venues", "switches", "drop_copy", "halted",
                 "position_drift"}
VENUE_FIELDS = {"name", "kind", "connected", "open_orders", "reconnects", "orders_last_minute",
                "tick_to_wire_p50_us", "tick_to_wire_p99_us", "queued", "queue_wait_p50_us", "queue_wait_p99_us",
                "prices"}


def test_status_json_has_every_field_every_time(daemon):
    """Zeros, empty lists and unknown latencies are printed too (null where unknown); a venue
    that has sent nothing in the last minute has no latency: null, not missing."""
    r = _run(daemon, "status", "--json")
    assert r.returncode == 0, r.stderr
    [st] = lines(r.stdout)
    assert set(st) == STATUS_FIELDS
    assert st["switches"] == [] and st["drop_copy"] is None and st["halted"] is None
    assert st["position_drift"] == []  # neither Citrex nor DXtrade says what the account holds
    assert len(st["venues"]) == 2
    for venue in st["venues"]:
        assert set(venue) == VENUE_FIELDS, venue
        assert isinstance(venue["reconnects"], int) and isinstance(venue["queued"], int)
    # a venue with nothing in the last minute, as the wire has it (its defaults left out)
    from gateway.cli import status_json
    from gateway.ipc import frames as f

    wire = f.reply_decoder.decode(f.encoder.encode(f.StatusReply(
        req_id=1, uptime_s=0, strategies=[], venues=[f.VenueStatus(name="v", kind="dxtrade", connected=False,
                                                                   open_orders=0)])))
    assert "reconnects" not in msgspec.msgpack.decode(f.encoder.encode(wire.venues[0]))  # omitted on the wire
    full = status_json(wire)
    assert set(full) == STATUS_FIELDS and set(full["venues"][0]) == VENUE_FIELDS
    assert full["venues"][0]["reconnects"] == 0 and full["venues"][0]["queued"] == 0
    assert full["venues"][0]["tick_to_wire_p50_us"] is None and full["venues"][0]["queue_wait_p99_us"] is None
    assert full["switches"] == [] and full["drop_copy"] is None and full["halted"] is None
    # and the README's protocol table names each of them
    row = next(line for line in (Path(__file__).resolve().parents[2] / "README.md").read_text().splitlines()
               if line.startswith("| `status` | `req_id`"))
    assert [f for f in sorted(VENUE_FIELDS | STATUS_FIELDS - {"op"}) if f not in row] == []


def test_unreachable_gateway_exits_5(tmp_path):
    r = _run(tmp_path / "none.sock", "order", "list")
    assert r.returncode == 5 and "cannot connect" in r.stderr
    r = _run(tmp_path / "none.sock", "status")
    assert r.returncode == 5 and r.stdout == "" and "cannot connect" in r.stderr
    r = _run(tmp_path / "none.sock", "status", "--json")
    assert r.returncode == 5 and "cannot connect" in r.stderr
    [error] = lines(r.stdout)
    assert error["op"] == "error" and error["code"] == "unreachable" and "cannot connect" in error["message"]
    assert error["socket"] == str(tmp_path / "none.sock")


def test_bench_help_names_the_command_the_user_typed():
    r = subprocess.run([sys.executable, "-m", "gateway", "bench", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("usage: gateway bench ")


def test_watch_lists_open_orders_then_follows_and_ping_answers(daemon):
    assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", "2950", "--client-order-id", "v1",
                 strategy="t7").returncode == 0
    r = order(daemon, "watch", "--wait", "1", "--json", strategy="t7")
    assert r.returncode == 0, r.stderr
    ack, update = lines(r.stdout)[:2]
    assert ack["op"] == "ack" and update["op"] == "order_update" and update["order"]["client_order_id"] == "v1"
    r = order(daemon, "ping", strategy="t7")
    assert r.returncode == 0 and r.stdout.startswith("pong in ")


def test_cancel_all_with_a_symbol_no_venue_lists_is_refused_like_a_place(daemon):
    assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.1", "2950", "--client-order-id", "k1",
                 strategy="t8").returncode == 0
    r = order(daemon, "place", "citrex", "NOPE", "buy", "0.1", "2950", strategy="t8")
    assert r.returncode == 1 and "unknown_symbol" in r.stderr
    for args in (("citrex", "--symbol", "NOPE"), ("--symbol", "NOPE")):
        r = order(daemon, "cancel-all", *args, strategy="t8")
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "refused: unknown_symbol" in r.stderr and "'NOPE'" in r.stderr
    [k1] = lines(order(daemon, "list", "--json", strategy="t8").stdout)
    assert k1["status"] == "OPEN"  # nothing was canceled
    r = order(daemon, "cancel-all", "citrex", "--symbol", "ETH-PERP", strategy="t8")
    assert r.returncode == 0 and "CANCELED" in r.stdout, r.stdout + r.stderr


def test_cancel_all_default_wait_covers_a_rate_limited_line(tmp_path):
    """DXtrade-like limit (2/s here, 0.9/s in the embedded default): 12 cancels take ~5.5 s,
    past a fixed 5 s wait. The default follows them while they keep ending: exit 0, each
    order CANCELED; an explicit --wait still bounds it (exit 4, the last states printed)."""
    import asyncio

    from gateway.ipc.client import GatewayClient

    limited = DXTRADE_CONFIG.replace("{tmp}", str(tmp_path)).replace(
        "poll_interval_ms = 20\n",
        "poll_interval_ms = 20\nrate_limit_per_s = 2\nrate_limit_burst = 1\nrate_limit_max_wait_ms = 20000\n")
    assert "rate_limit_per_s = 2" in limited
    gen = _daemon(tmp_path, CONFIG.format(tmp=tmp_path) + limited)
    sock = next(gen)
    try:
        async def place(n: int, prefix: str) -> None:
            async with GatewayClient(str(sock), strategy="t9") as gw:
                for i in range(n):
                    ack = await gw.place("dxtrade", "ETH-PERP", "buy", "0.1", str(2900 + i),
                                         client_order_id=f"{prefix}{i}")
                    assert ack.ok, ack
                opened: set[str] = set()

                def all_open(event) -> bool:
                    order = getattr(event, "order", None)
                    if order is not None and order.status == "OPEN":
                        opened.add(order.client_order_id)
                    return len(opened) == n

                await gw.wait_for(all_open, 30)

        asyncio.run(place(12, "q"))
        t0 = time.monotonic()
        r = order(sock, "cancel-all", "dxtrade", strategy="t9")
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        canceled = {line.split()[1] for line in r.stdout.splitlines() if "CANCELED" in line}
        assert canceled == {f"q{i}" for i in range(12)}
        assert took > 5.0, took  # it did outlast what a fixed 5 s wait allowed

        asyncio.run(place(4, "r"))
        r = order(sock, "cancel-all", "dxtrade", "--wait", "0.5", strategy="t9")
        assert r.returncode == 4, r.stdout + r.stderr
        assert "the wait ended before the outcome" in r.stdout
    finally:
        next(gen, None)


def test_list_all_reads_every_page_of_a_reply_above_the_frame_limit(tmp_path):
    """`gateway order list --all` with 6,000 orders, an `orders` reply over the 1 MiB frame
    limit (it used to exit 5 with `bad_frame: frame length ... exceeds max_frame`): every order
    is listed, once, and the table has them all."""
    import asyncio

    from tests.integration.harness import run_gateway
    from tests.integration.test_protocol import track_orders

    async def cli(sock, *argv):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "order", "list", "--socket", str(sock), "--strategy", "deep", *argv,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ, COLUMNS="200"))
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out.decode(), err.decode()

    async def scenario(gw):
        ids = track_orders(gw, "deep", 6000, closed=500)
        sock = gw.config.server.socket_path
        code, out, err = await cli(sock, "--all", "--json")
        assert code == 0, err
        assert sorted(o["order_id"] for o in lines(out)) == sorted(ids)
        code, out, err = await cli(sock, "--all")
        assert code == 0, err
        rows = out.splitlines()[1:]
        assert len(rows) == 6000 and sum("CANCELED" in row for row in rows) == 500
        code, out, err = await cli(sock, "--json")
        assert code == 0, err
        assert len(lines(out)) == 5500

    run_gateway(tmp_path, scenario, timeout_s=180,
                edit=lambda t: t.replace("max_frame_bytes = 65536", "max_frame_bytes = 1048576"))


def test_risk_shows_each_limit_its_source_and_use(daemon):
    assert order(daemon, "place", "citrex", "ETH-PERP", "buy", "0.25", "2900", "--client-order-id", "rk1",
                 strategy="rk").returncode == 0
    r = _run(daemon, "risk", "--json")
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert reply["op"] == "risk"
    views = {v["strategy"]: v for v in reply["strategies"]}
    t5 = {lim["name"]: lim for lim in views["t5"]["limits"]}
    assert t5["require_reference_price"] == {"name": "require_reference_price", "value": "false",
                                             "source": "risk.strategies.t5"}
    assert t5["max_open_orders"] == {"name": "max_open_orders", "value": "50", "source": "risk"}
    [dx] = [sym for sym in views["t5"]["symbols"] if sym["venue"] == "dxtrade"]
    assert {"name": "max_order_quantity", "value": "2",
            "source": 'risk.strategies.t5.symbols."dxtrade:ETH-PERP"'} in dx["limits"]
    rk = views["rk"]
    assert rk["open_orders"] == 1 and rk["open_notional"] == "725" and rk["usage"]["max_open_orders"] == 0.02
    [eth] = rk["symbols"]
    assert (eth["venue"], eth["symbol"], eth["open_buy"], eth["worst_position"]) == ("citrex", "ETH-PERP", "0.25",
                                                                                      "0.25")
    one = _run(daemon, "risk", "--strategy", "rk")
    assert one.returncode == 0 and "strategy rk (active): 1 open orders, open notional 725" in one.stdout
    assert "t5" not in one.stdout


def test_instruments_shows_what_each_venue_lists_and_how_our_symbols_map(daemon):
    r = _run(daemon, "instruments", "--json")
    assert r.returncode == 0, r.stderr  # every configured symbol confirmed and trading
    reply = json.loads(r.stdout)
    assert reply["op"] == "instruments"
    venues = {v["venue"]: v for v in reply["venues"]}
    assert set(venues) == {"citrex", "dxtrade"}
    citrex = venues["citrex"]
    assert citrex["listed"] >= 2 and citrex["unchecked"] == [] and citrex["list_age_s"] is not None
    [eth] = [i for i in citrex["instruments"] if i["symbol"] == "ETH-PERP"]
    assert (eth["product_id"], eth["venue_symbol"], eth["tick_size"], eth["status"]) == ("1002", "ethperp", "0.1",
                                                                                         "trading")
    assert eth["differences"] == [] and eth["from_venue"] is False and eth["unavailable"] is None
    # the venue's others are listed too, with no symbol of ours
    assert any(i["symbol"] is None and i["venue_symbol"] == "btcperp" for i in citrex["instruments"])
    table = _run(daemon, "instruments", "citrex")
    assert table.returncode == 0 and "ETH-PERP" in table.stdout and "ethperp" in table.stdout
    assert "btcperp" not in table.stdout and "--all" in table.stdout  # the venue's others only with --all
    assert "btcperp" in _run(daemon, "instruments", "citrex", "--all").stdout
    nosuch = _run(daemon, "instruments", "nosuch")
    assert nosuch.returncode == 2 and "unknown_venue" in nosuch.stderr


def test_instruments_exits_5_when_the_gateway_cannot_be_reached(tmp_path):
    r = _run(tmp_path / "none.sock", "instruments")
    assert r.returncode == 5 and r.stdout == "" and "cannot connect" in r.stderr
