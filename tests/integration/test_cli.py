"""`gateway order ...` and `gateway status` as a trader and an operator run them: a real
daemon (`gateway run`, Citrex and DXtrade simulators), the CLI in its own process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.contract.test_dxtrade import DXTRADE_CONFIG
from tests.integration.harness import CONFIG


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "gw.toml").write_text(CONFIG.format(tmp=tmp) + DXTRADE_CONFIG.replace("{tmp}", str(tmp)))
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
    assert "switches" not in lines(_run(daemon, "status", "--json").stdout)[0]


def test_unreachable_gateway_exits_5(tmp_path):
    r = _run(tmp_path / "none.sock", "order", "list")
    assert r.returncode == 5 and "cannot connect" in r.stderr
    r = _run(tmp_path / "none.sock", "status")
    assert r.returncode == 5


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
