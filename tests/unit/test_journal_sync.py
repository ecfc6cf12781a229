"""fsync = "batch": the last record of a burst is synced within batch_ms (a timer),
by one syncing thread, never a thread per sync. A counting shim in place of
os.fsync records what each sync covered."""
from __future__ import annotations

import asyncio
import os
import threading

from gateway.orders import journal as journal_mod
from gateway.orders.journal import Journal


class FsyncShim:
    def __init__(self, real):
        self.real = real
        self.calls: list[tuple[int, int, str]] = []  # (fd, file size synced, thread name)
        self.changed = threading.Event()

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size  # everything written before this point is covered
        self.real(fd)
        self.calls.append((fd, size, threading.current_thread().name))
        self.changed.set()

    def synced_size(self) -> int:
        # the journal syncs a dup of its fd (compaction may close its own meanwhile)
        return max((size for _, size, _ in self.calls), default=0)


async def wait_synced(shim: FsyncShim, fd: int, size: int, timeout_s: float = 10) -> None:
    async def poll():
        while shim.synced_size() < size:
            shim.changed.clear()
            await asyncio.get_running_loop().run_in_executor(None, shim.changed.wait, 0.05)
    await asyncio.wait_for(poll(), timeout_s)


def test_batch_syncs_the_end_of_a_burst_on_one_thread(tmp_path, monkeypatch):
    shim = FsyncShim(os.fsync)
    monkeypatch.setattr(journal_mod.os, "fsync", shim)

    async def main():
        j = Journal(str(tmp_path / "orders.journal"), fsync="batch", batch_ms=20)
        j.open([])
        fd = j._fd
        shim.calls.clear()  # open() syncs its snapshot itself
        # two writes 1 ms apart, then quiet: both must be synced
        j.add({"k": "X", "n": 1})
        j.flush()
        await asyncio.sleep(0.001)
        j.add({"k": "X", "n": 2})
        j.flush()
        await wait_synced(shim, fd, os.fstat(fd).st_size)
        # bursts over and over, each ending in quiet: each end synced, all on one thread
        for burst in range(20):
            for i in range(5):
                j.add({"k": "X", "burst": burst, "i": i})
                j.flush()
                await asyncio.sleep(0)
            await wait_synced(shim, fd, os.fstat(fd).st_size)
        threads = {name for _, _, name in shim.calls}
        j.close()
        return threads

    threads = asyncio.run(main())
    assert len(threads) == 1, threads
