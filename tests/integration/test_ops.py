"""The operator's files in ops/ against the gateway itself: the alert rules pass promtool's
check and their unit tests, and every metric the Grafana dashboard or an alert queries is one
the gateway exports (and every one it exports is in the README's table)."""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_metrics import _free_port, place_some, run_with_metrics, scrape

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "order-gateway.json"
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bgateway_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def dashboard_queries() -> list[str]:
    def targets(panels):
        for panel in panels:
            yield from (t["expr"] for t in panel.get("targets", ()))
            yield from targets(panel.get("panels", ()))

    board = json.loads(DASHBOARD.read_text())
    queries = list(targets(board["panels"]))
    queries += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return queries


def concrete(query: str) -> str:
    """A dashboard query as Grafana would send it (its variables filled in)."""
    return query.replace("$__rate_interval", "1m").replace("$venue", ".*")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[set[str], set[str]]:
    """(series names a scrape can hold, family names) of a gateway that has traded a little."""
    texts = []

    async def scenario(gw):
        await place_some(gw, 2)
        texts.append(await scrape(gw))

    run_with_metrics(tmp_path_factory.mktemp("ops"), scenario)
    names, families = set(), set()
    for family in text_string_to_metric_families(texts[0]):
        families.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names, families


def test_every_dashboard_and_alert_query_names_exported_metrics(exported):
    names, _ = exported
    queries = dashboard_queries()
    assert len(queries) >= 15
    used = {m for q in queries for m in METRIC.findall(q)}
    used_by_alerts = set(METRIC.findall(ALERTS.read_text()))
    assert not used - names, f"the dashboard queries metrics the gateway does not export: {used - names}"
    assert not used_by_alerts - names, f"alerts query unknown metrics: {used_by_alerts - names}"
    # what the issue asks the dashboard to show
    for metric in ("gateway_order_tick_to_wire_seconds_bucket", "gateway_order_confirmation_seconds_bucket",
                   "gateway_requests_total", "gateway_rejects_total", "gateway_venue_connected",
                   "gateway_open_orders", "gateway_nonce_high_water_age_seconds"):
        assert metric in used, metric


def test_readme_metric_table_lists_every_exported_metric(exported):
    _, families = exported
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(gateway_[a-z0-9_]+)` \|", readme, re.M))
    expected = {f + "_total" if f + "_total" in exported[0] else f for f in families if f.startswith("gateway_")}
    assert expected == documented, (expected - documented, documented - expected)


def test_alert_rules_pass_promtool_check_and_unit_tests():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make test installs Debian's prometheus package)")
    check = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 17 rules found" in check.stdout, check.stdout + check.stderr
    unit = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=ALERTS.parent,
                          capture_output=True, text=True)
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def test_shipped_scrape_config_is_valid_and_scrapes_what_production_serves():
    """ops/prometheus/prometheus.yml: the job the alerts query, production.toml's metrics
    address as its target, and production.toml serves metrics."""
    from gateway.config import load_config

    scrape = ALERTS.parent / "prometheus.yml"
    text = scrape.read_text()
    assert re.search(r"^\s*- job_name: order-gateway$", text, re.M)
    assert 'up{job="order-gateway"}' in ALERTS.read_text()
    production = load_config(ROOT / "config" / "production.toml")
    assert production.metrics.enabled
    assert f'"{production.metrics.address}"' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make test installs Debian's prometheus package)")
    check = subprocess.run([promtool, "check", "config", str(scrape)], capture_output=True, text=True)
    assert check.returncode == 0 and "17 rules found" in check.stdout, check.stdout + check.stderr


def test_dashboard_queries_run_on_a_real_prometheus_scraping_the_gateway(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (make test installs Debian's prometheus package)")
    failures = []

    async def scenario(gw):
        port = _free_port()
        (tmp_path / "prom.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            f"rule_files: ['{ALERTS}']\n"
            "scrape_configs:\n  - job_name: order-gateway\n    static_configs:\n"
            f"      - targets: ['{gw.metrics.address}']\n")
        prom = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                deadline = time.monotonic() + 60
                while True:  # until the gateway's series are in
                    try:
                        async with http.get(f"{url}/api/v1/query",
                                            params={"query": "gateway_venue_connected"}) as r:
                            if (await r.json())["data"]["result"]:
                                break
                    except aiohttp.ClientError:
                        pass
                    assert time.monotonic() < deadline, "prometheus never scraped the gateway"
                    await asyncio.sleep(0.3)
                for query in dashboard_queries():
                    endpoint = "series" if query.startswith("label_values") else "query"
                    params = ({"match[]": "gateway_venue_connected"} if endpoint == "series"
                              else {"query": concrete(query)})
                    async with http.get(f"{url}/api/v1/{endpoint}", params=params) as r:
                        body = await r.json()
                    if body.get("status") != "success":
                        failures.append((query, body.get("error")))
                async with http.get(f"{url}/api/v1/rules") as r:
                    groups = (await r.json())["data"]["groups"]
                assert [g["name"] for g in groups] == ["order-gateway"] and len(groups[0]["rules"]) == 17
        finally:
            prom.terminate()
            prom.wait(10)

    run_with_metrics(tmp_path, scenario, timeout_s=90)
    assert not failures, failures
