"""NonceAllocator: unique across processes, monotonic, clock-anchored, durable."""

import multiprocessing
import os
import stat
import struct
import time

import pytest

from gateway._core.nonce import NonceAllocator, NonceFileError

DIVISOR = {"ns": 1, "us": 1_000, "ms": 1_000_000}
MARK_OFFSET = 16
PROCS = 4
DRAWS = 20_000


def _clock(unit):
    return time.time_ns() // DIVISOR[unit]


def _worker(path, unit, barrier, queue):
    # every process opens by path, as separate gateway processes would; the
    # file does not exist yet, so they also race to create it
    barrier.wait()
    with NonceAllocator(path, unit) as alloc:
        values = []
        below_clock = 0
        for _ in range(DRAWS):
            before = time.time_ns() // DIVISOR[unit]
            v = alloc.next()
            below_clock += v < before
            values.append(v)
    queue.put((os.getpid(), values, below_clock))


@pytest.mark.parametrize("unit", ["ns", "ms"])
def test_processes_drawing_at_once_never_share_a_nonce(tmp_path, unit):
    # "ms" is the hard case: the clock barely moves, so nearly every draw
    # is a compare-and-swap race on cur + 1
    path = str(tmp_path / "nonce")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCS)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, unit, barrier, queue)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    everything = []
    for _pid, values, below_clock in results:
        assert below_clock == 0
        assert all(a < b for a, b in zip(values, values[1:])), "a process saw its nonce go backwards"
        everything.extend(values)
    assert len(everything) == PROCS * DRAWS
    assert len(set(everything)) == len(everything), "two draws got the same nonce"
    with NonceAllocator(path, unit) as alloc:
        assert alloc.peek() == max(everything)


@pytest.mark.parametrize("unit", ["ns", "us", "ms"])
def test_next_is_increasing_and_not_below_the_clock(tmp_path, unit):
    with NonceAllocator(tmp_path / "nonce", unit) as alloc:
        assert alloc.unit == unit
        last = 0
        for _ in range(2_000):
            before = _clock(unit)
            v = alloc.next()
            after = _clock(unit)
            assert v > last
            assert v >= before
            last = v
        # strictly above the clock only by the draws made within one tick
        assert last <= after + 2_000
        assert alloc.peek() == last


def test_instances_in_one_process_share_the_mark(tmp_path):
    path = str(tmp_path / "nonce")
    a, b = NonceAllocator(path, "ms"), NonceAllocator(path, "ms")
    seen = [x for _ in range(500) for x in (a.next(), b.next())]
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    a.close()
    b.close()


def test_restart_continues_above_the_old_mark(tmp_path):
    path = str(tmp_path / "nonce")
    with NonceAllocator(path, "ms") as alloc:
        # same millisecond, many draws: the mark runs ahead of the clock
        drawn = [alloc.next() for _ in range(1_000)]
        alloc.sync()
    with NonceAllocator(path, "ms") as alloc:
        assert alloc.peek() == drawn[-1]
        assert alloc.next() > drawn[-1]


def test_mark_in_the_future_is_never_gone_back_on(tmp_path):
    path = str(tmp_path / "nonce")
    NonceAllocator(path, "us").close()
    far = _clock("us") + 10**12  # ~11 days ahead: a clock once set wrong
    with open(path, "r+b") as f:
        f.seek(MARK_OFFSET)
        f.write(struct.pack("=Q", far))
    with NonceAllocator(path, "us") as alloc:
        assert alloc.peek() == far
        assert [alloc.next() for _ in range(3)] == [far + 1, far + 2, far + 3]


def test_exhausted_mark_raises_instead_of_wrapping(tmp_path):
    path = str(tmp_path / "nonce")
    NonceAllocator(path, "ns").close()
    with open(path, "r+b") as f:
        f.seek(MARK_OFFSET)
        f.write(struct.pack("=Q", 2**64 - 1))
    with NonceAllocator(path, "ns") as alloc:
        with pytest.raises(OverflowError, match="exhausted"):
            alloc.next()


def test_new_file_is_private_and_has_the_header(tmp_path):
    path = tmp_path / "nonce"
    NonceAllocator(path, "us").close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = path.read_bytes()
    assert data[:8] == b"OGNONCE1"
    assert struct.unpack("=QQ", data[8:24]) == (2, 0)
    assert os.listdir(tmp_path) == ["nonce"], "temporary file left behind"


def test_unit_mismatch_is_refused(tmp_path):
    path = str(tmp_path / "nonce")
    NonceAllocator(path, "ns").close()
    with pytest.raises(NonceFileError, match=r"unit 'ns', not 'ms'") as info:
        NonceAllocator(path, "ms")
    assert path in str(info.value)


def test_bad_magic_is_refused(tmp_path):
    path = tmp_path / "nonce"
    path.write_bytes(b"NOTNONCE" + bytes(16))
    with pytest.raises(NonceFileError, match="bad magic") as info:
        NonceAllocator(path, "ms")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("size", [0, 8, 23])
def test_short_file_is_refused(tmp_path, size):
    path = tmp_path / "nonce"
    path.write_bytes(b"OGNONCE1\x03" + bytes(32))
    os.truncate(path, size)
    with pytest.raises(NonceFileError, match="short file"):
        NonceAllocator(path, "ms")
    assert path.stat().st_size == size, "a refused file must be left as found"


def test_bad_unit_argument():
    with pytest.raises(ValueError, match="'ns', 'us', 'ms'"):
        NonceAllocator("/nonexistent/never-created", "s")


def test_unopenable_path_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        NonceAllocator(tmp_path / "missing-dir" / "nonce", "ms")


def test_after_close_every_call_raises(tmp_path):
    alloc = NonceAllocator(tmp_path / "nonce", "ms")
    alloc.next()
    alloc.close()
    alloc.close()  # idempotent
    assert alloc.closed
    for call in (alloc.next, alloc.peek, alloc.sync):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert "closed" in repr(alloc)


def test_context_manager_closes(tmp_path):
    with NonceAllocator(tmp_path / "nonce", "ms") as alloc:
        assert not alloc.closed
        assert alloc.path == str(tmp_path / "nonce")
    assert alloc.closed
    with pytest.raises(ValueError, match="closed"):
        alloc.next()
