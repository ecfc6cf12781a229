"""NonceAllocator.next() against the bare clock read it is built on."""

import time

import pytest

from gateway._core.nonce import NonceAllocator


@pytest.fixture
def alloc(tmp_path):
    with NonceAllocator(tmp_path / "nonce", "us") as a:
        yield a


def test_next(benchmark, alloc):
    benchmark(alloc.next)


def test_next_ms_bumping(benchmark, tmp_path):
    # in "ms" nearly every draw lands in the same tick and takes the cur + 1 path
    with NonceAllocator(tmp_path / "nonce", "ms") as a:
        benchmark(a.next)


def test_time_ns_baseline(benchmark):
    benchmark(time.time_ns)
