"""A short, seed-fixed chaos run per venue (bench/chaos.py has the long one: make chaos):
random faults, then faults off, and every order converges to the simulator's own book."""
from __future__ import annotations

import asyncio

import pytest

from bench.chaos import run_venue


@pytest.mark.parametrize("venue", ["citrex", "bsx", "poloniex", "bluefin", "dxtrade"])
def test_every_order_converges_to_the_venue_after_random_faults(tmp_path, venue):
    report = asyncio.run(run_venue(tmp_path, venue, orders=60, seed=7, bound_s=30))
    assert report.acked >= 50 and sum(report.faults.values()) == 6
    assert report.ok, (report.faults, report.problems[:10])
    assert sum(report.statuses.values()) == report.acked
