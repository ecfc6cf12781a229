"""Metrics over real HTTP: our /metrics, promtool's check, and a real
Prometheus server scraping the gateway (Debian's prometheus package; `make
test` installs it)."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import aiohttp
import pytest

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient
from tests.integration.harness import CONFIG, strategy

import uvloop

METRICS = '\n[metrics]\nenabled = true\naddress = "127.0.0.1:0"\n'


def run_with_metrics(tmp, scenario, timeout_s=60, edit=None):
    async def main():
        text = CONFIG.format(tmp=tmp).replace("[[venues]]", METRICS + "[[venues]]", 1)
        gw = await Gateway.start(parse_config(edit(text) if edit else text))
        try:
            await asyncio.wait_for(scenario(gw), timeout_s)
        finally:
            await gw.stop()

    uvloop.run(main())


async def scrape(gw) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{gw.metrics.address}/metrics") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            return await r.text()


def sample(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name}{labels}")


async def place_some(gw, n, name="m"):
    async with strategy(gw, name) as s:
        for i in range(n):
            await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"{name}{i}")
            await s.wait_status(f"{name}{i}", "OPEN")
        await s.place("citrex", "DOGE", "buy", "1", "1", client_order_id="bad")  # a reject


def test_metrics_endpoint_series_move_and_pass_promtool(tmp_path):
    texts = []

    async def scenario(gw):
        texts.append(await scrape(gw))
        await place_some(gw, 5)
        texts.append(await scrape(gw))

    run_with_metrics(tmp_path, scenario)
    before, after = texts
    for stage in ("decode", "validate", "sign", "queue_wait", "tick_to_wire", "venue_ack", "confirmation"):
        assert sample(after, f"gateway_order_{stage}_seconds_count", venue="citrex") == 5, stage
        assert sample(after, f"gateway_order_{stage}_seconds_sum", venue="citrex") > 0
    assert sample(after, "gateway_order_tick_to_wire_seconds_bucket", venue="citrex", le="1.0") == 5
    assert sample(before, "gateway_order_tick_to_wire_seconds_count", venue="citrex") == 0
    assert sample(after, "gateway_requests_total", op="place", outcome="ok") == 5
    assert sample(after, "gateway_rejects_total", reason="unknown_symbol") == 1
    assert sample(after, "gateway_open_orders", venue="citrex", strategy="m") == 5
    assert sample(after, "gateway_venue_connected", venue="citrex") == 1
    assert abs(sample(after, "gateway_nonce_high_water_age_seconds", venue="citrex")) < 60
    assert "order_id" not in after  # never an unbounded label
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make test installs Debian's prometheus package)")
    check = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_real_prometheus_scrapes_the_gateway(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (make test installs Debian's prometheus package)")

    async def query(http, url, q) -> float | None:
        async with http.get(f"{url}/api/v1/query", params={"query": q}) as r:
            body = await r.json()
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    async def wait_value(http, url, q, predicate, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            try:
                value = await query(http, url, q)
            except aiohttp.ClientError:
                value = None
            if value is not None and predicate(value):
                return value
            await asyncio.sleep(0.3)
        raise AssertionError(f"{q}: last value {value}")

    async def scenario(gw):
        port = _free_port()
        (tmp_path / "prom.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: order-gateway\n    static_configs:\n"
            f"      - targets: ['{gw.metrics.address}']\n")
        prom = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                await wait_value(http, url, 'up{job="order-gateway"}', lambda v: v == 1)
                q = 'gateway_order_tick_to_wire_seconds_count{venue="citrex"}'
                assert await wait_value(http, url, q, lambda v: v >= 0) == 0
                await place_some(gw, 3)
                assert await wait_value(http, url, q, lambda v: v >= 3) == 3
                p99 = ('histogram_quantile(0.99, sum by (le, venue) '
                       '(rate(gateway_order_tick_to_wire_seconds_bucket[1m])))')
                assert 0 < await wait_value(http, url, p99, lambda v: v > 0) <= 1
        finally:
            prom.terminate()
            prom.wait(10)

    run_with_metrics(tmp_path, scenario, timeout_s=90)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_queue_wait_is_its_own_stage_and_not_tick_to_wire(tmp_path):
    """Three orders at 2/s with a burst of 1: the 2nd waits ~0.5 s and the 3rd ~1 s for the
    rate limit. That wait is gateway_order_queue_wait_seconds; tick-to-wire is the gateway's
    own work only, and `status` reports both."""
    texts, statuses = [], []

    async def scenario(gw):
        async with strategy(gw, "q") as s:
            for i in range(3):
                assert (await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"q{i}")).ok
            for i in range(3):
                await s.wait_status(f"q{i}", "OPEN")
        texts.append(await scrape(gw))
        async with GatewayClient(gw.config.server.socket_path, strategy=None) as observer:
            statuses.append(await observer.status())

    def edit(text):
        return text.replace('name = "citrex"\n', 'name = "citrex"\nrate_limit_per_s = 2\nrate_limit_burst = 1\n'
                            'rate_limit_max_wait_ms = 5000\n', 1)

    run_with_metrics(tmp_path, scenario, edit=edit)
    [text], [st] = texts, statuses
    assert sample(text, "gateway_order_queue_wait_seconds_count", venue="citrex") == 3
    waited = sample(text, "gateway_order_queue_wait_seconds_sum", venue="citrex")
    assert waited >= 1.4  # the limiter holds the 2nd for 0.5 s and the 3rd for 1 s at least
    assert sample(text, "gateway_order_tick_to_wire_seconds_count", venue="citrex") == 3
    assert sample(text, "gateway_order_tick_to_wire_seconds_sum", venue="citrex") < waited / 2
    [v] = st.venues
    assert v.queue_wait_p99_us >= 900_000 and v.tick_to_wire_p99_us < v.queue_wait_p99_us


def test_unknown_transitions_and_duplicate_fills_are_labelled_and_zero_in_normal_use(tmp_path):
    """An ordinary fill (REST reply and stream both carry it) and a cancel leave both alert
    counters at 0; each reason is exported from the start."""
    texts = []

    async def scenario(gw):
        async with strategy(gw, "n") as s:
            await s.place("citrex", "ETH-PERP", "buy", "0.5", "3003", client_order_id="fill")
            await s.wait_status("fill", "FILLED")
            await s.place("citrex", "ETH-PERP", "buy", "0.5", "2900", client_order_id="rest")
            await s.wait_status("rest", "OPEN")
            assert (await s.cancel("rest")).ok
            await s.wait_status("rest", "CANCELED")
        texts.append(await scrape(gw))

    run_with_metrics(tmp_path, scenario)
    [text] = texts
    assert sample(text, "gateway_unknown_transitions_total", reason="contradiction") == 0
    assert sample(text, "gateway_unknown_transitions_total", reason="stale") >= 0
    assert sample(text, "gateway_duplicate_fills_total") == 0
