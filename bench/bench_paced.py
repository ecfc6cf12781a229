"""Paced, unqueued latency from one blocking client (bench/paced.py): the floor, the
gateway's ping and place -> ack, its tick-to-wire and bare signing, all measured in one
run with the same client and the same pacing; the ratios in extra_info.

    python -m pytest bench/bench_paced.py --benchmark-only -s        # 1 ms pacing, 2000 rounds each
    GATEWAY_PACED_MS=0.5,1,3 GATEWAY_BENCH_ROUNDS=1000 python -m pytest bench/bench_paced.py --benchmark-only

pytest-benchmark's own time is the whole run's (one round); read extra_info (printed after
the tables by bench/conftest.py) or `python -m bench.paced`'s table.
"""
from __future__ import annotations

import os

import pytest

from bench import paced

ROUNDS = int(os.environ.get("GATEWAY_BENCH_ROUNDS", "2000"))
PACINGS = [float(v) for v in os.environ.get("GATEWAY_PACED_MS", "1").split(",")]


@pytest.mark.parametrize("pacing_ms", PACINGS, ids=lambda v: f"{v}ms")
@pytest.mark.benchmark(group="paced-unqueued")
def test_paced_unqueued_latency(benchmark, pacing_ms):
    # with timing disabled (make test) a short run keeps it from rotting
    rounds, warmup = (ROUNDS, max(20, ROUNDS // 10)) if not benchmark.disabled else (20, 5)
    opts = paced.Options(pacing_ms=pacing_ms, rounds=rounds, warmup=warmup, block=min(50, rounds), progress=False)
    report: dict = {}
    benchmark.pedantic(lambda: report.update(paced.run(opts)), rounds=1, iterations=1)
    st, ratios = report["us"], report["ratios"]
    for key in ("floor", "ping", "place", "tick_to_wire", "sign", "order_sign"):
        benchmark.extra_info[f"{key}_p50_us"] = st[key]["p50"]
        benchmark.extra_info[f"{key}_p99_us"] = st[key]["p99"]
    benchmark.extra_info["bare_sign_tight_loop_us"] = report["bare_sign_tight_loop_us"]
    for key, value in ratios.items():
        benchmark.extra_info[f"ratio_{key}"] = value
    benchmark.extra_info["late_slots"] = report["late_slots"]
    benchmark.extra_info["gateway_commit"] = report["code"]["gateway_commit"]
    print("\n" + paced.format_table(report))
    assert report["refused"] == 0, report["refused_first"]
    assert all(st[k]["n"] == rounds for k in paced.KINDS + ("tick_to_wire",)), {k: v["n"] for k, v in st.items()}
