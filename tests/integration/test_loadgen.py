"""The load generator end to end (simulator and gateway processes), briefly and slowly."""
from __future__ import annotations

from bench.loadgen import Options, format_table, run_load
from bench.stats import bucket_quantiles_us, percentiles_us


def test_percentile_helpers():
    st = percentiles_us(list(range(1, 1001)))  # 1..1000 ns
    assert st["n"] == 1000 and st["p50"] == 0.5 and st["p99"] == 0.99 and st["max"] == 1.0
    assert percentiles_us([]) == {"n": 0}
    # 10 samples under 1 ms, 10 between 1 and 2 ms: the median sits at the first bound
    q = bucket_quantiles_us([(0.001, 10), (0.002, 20), (float("inf"), 20)])
    assert q["n"] == 20 and q["p50"] == 1000.0 and 1000 < q["p99"] <= 2000


def test_loadgen_short_run():
    report = run_load(Options(conns=2, rate=40, inflight=4, duration=2.0, warmup=0.3, baselines=False,
                              progress=False))
    g = report["gateway"]
    assert g["acked"] > 0, g
    assert not g["errors"] and not g["errors_total"], g
    assert g["disconnected"] == 0 and g["unacked_at_end"] == 0
    assert g["confirmed"] == g["acked"] and g["unconfirmed_at_end"] == 0, g  # every ack got the venue's word
    for key in ("ack_us", "confirm_us", "tick_to_wire_us"):
        st = g[key]
        assert st["n"] > 0, (key, st)
        assert 0 < st["p50"] <= st["p90"] <= st["p99"] <= st["p999"] <= st["max"], (key, st)
    assert g["ack_us"]["p50"] <= g["confirm_us"]["p50"]
    assert g["tick_to_wire_hist_us"]["n"] == g["tick_to_wire_us"]["n"]
    assert g["cpu_us_per_order"]["gateway"] > 0
    assert 20 <= g["throughput_acked_per_s"] <= 60, g["throughput_acked_per_s"]  # 40/s asked
    assert "strategy -> ack" in format_table(report)


def test_loadgen_against_the_stub_venue_places_cancels_and_replaces():
    report = run_load(Options(conns=2, rate=60, inflight=4, duration=2.0, warmup=0.3, baselines=False,
                              progress=False, venue="stub", mix="place=2,cancel=1,replace=1"))
    g = report["gateway"]
    assert g["simulator"]["process"] == "stub"
    assert all(g["sent"][op] > 0 for op in ("place", "cancel", "replace")), g["sent"]
    assert not g["errors"] and not g["errors_total"], g
    assert g["confirmed"] == g["acked"] and g["unconfirmed_at_end"] == 0, g  # the stub's stream confirmed each
    assert g["cpu_us_per_order"]["simulator"] > 0
    assert "Citrex stub venue recovers 1 order signature in 16" in format_table(report)
