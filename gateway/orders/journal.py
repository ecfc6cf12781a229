"""Append-only journal of orders: every order before it is sent, every venue
id and nonce, every state change and fill.

Records are buffered and written with one os.write before the gateway sends
any reply to a strategy (and at the end of each loop turn), so every order a
strategy got an ack for is in the file even if the process is killed right
after: the kernel has it. `fsync` decides what survives the machine losing
power: "never" (the kernel flushes in its own time), "batch" (every record
synced within batch_ms of its write, on one helper thread), "always" (fsync
before each reply: slow).

On start the journal is replayed into the tracker, then rewritten as a
snapshot of the orders still worth keeping, so it never grows across runs.
While running, `compact` rewrites it the same way in the background: the
snapshot is encoded a slice per loop turn into a new file that also gets every
record written meanwhile, in the order they happen, so a record of an order
not yet in the snapshot lands before the snapshot's newer one. Then the new
file replaces the old in one rename.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.orders.model import Order
from gateway.orders.records import (FILL, HALT, NEW, POSITIONS, RISK_STATE, SWITCH, Record, apply_record, decode,
                                    encoder, fill_record, order_from_record, order_record, sent_record, state_record,
                                    venue_record)

log = logging.getLogger("gateway.journal")

RETRY_S = 0.1  # a failed write is tried again this often; what waits for it is woken after


def _append(buf: bytearray, record: Record) -> None:
    buf += encode_frame(encoder.encode(record))


class Journal:
    def __init__(self, path: str, *, fsync: str = "never", batch_ms: int = 10):
        if fsync not in ("never", "batch", "always"):
            raise ValueError(f"journal fsync must be never, batch or always, not {fsync!r}")
        self.path = path
        self.fsync = fsync
        self.batch_s = batch_ms / 1000
        self._buf = bytearray()  # framed records not yet written
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._flush_scheduled = False
        self._dirty_since_sync = False
        self._sync_timer: asyncio.TimerHandle | None = None
        self._sync_executor: ThreadPoolExecutor | None = None
        self._syncing = False
        self.size = 0  # bytes in the file
        self.snapshot_size = 0  # bytes of its last snapshot
        self._next_fd = -1  # the file a running compaction writes, beside the current one
        self._compaction_failed: OSError | None = None  # a write to it failed: compact() gives up
        self.failing: OSError | None = None  # the last write failed: what waits is retried
        self.write_errors = 0
        self._retry: asyncio.TimerHandle | None = None  # the one poller while failing
        self._waiters: list[Callable[[], None]] = []  # what waits for the journal to write again
        self.compactions = 0

    # reading

    def read(self) -> Iterator[Record]:
        """Every record in the file; a torn last record (a crash mid-write) is skipped."""
        try:
            data = open(self.path, "rb").read()
        except FileNotFoundError:
            return
        splitter = FrameSplitter(1 << 24)
        try:
            frames = splitter.feed(data)
        except FrameError as exc:
            frames = list(exc.frames)
            log.warning("journal %s: stopped at a damaged record: %s", self.path, exc)
        if splitter.buffered:
            log.warning("journal %s: ignoring a torn last record (%d bytes)", self.path, splitter.buffered)
        for frame in frames:
            try:
                yield decode(frame)
            except (msgspec.DecodeError, IndexError):
                log.warning("journal %s: skipping an unreadable record", self.path)

    # writing

    def open(self, snapshot: list[Order], extra: list[dict] = ()) -> None:
        """Rewrite the file as the snapshot (atomically), then append from there. extra:
        records written as they are after the snapshot (the drop copy keeps the history
        of orders whose changes it has yet to publish)."""
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = _snapshot_bytes(snapshot, extra)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.snapshot_size = len(data)

    def wants_compaction(self, above_bytes: int) -> bool:
        return self._fd >= 0 and self._next_fd < 0 and self.size > max(above_bytes, 2 * self.snapshot_size)

    async def compact(self, orders: Iterable[Order], *, slice_orders: int = 2000, head: list[Record] = (),
                      tail: Callable[[], list[Record]] | None = None) -> None:
        """Rewrite the file online as a snapshot of these orders (see the module's doc: pass the
        tracker's live `orders.values()`, read when the new file opens); head:
        records written first as they are (the drop copy's changes not yet published); tail:
        records made once the snapshot is written and journaled like any live record (in both
        files, after every record added before them: the positions book, which must follow
        every fill it holds)."""
        tmp = f"{self.path}.compact"
        self.flush()
        self._next_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        # the orders as they are now, between the flush and the next record: an order made after
        # the caller's call but before this first step (its NEW record flushed to the old file
        # only) is in the snapshot, and every later one's records go to the new file
        orders = list(orders)
        written = 0
        try:
            if head:
                data = _snapshot_bytes((), head)
                _write_all(self._next_fd, data)
                written += len(data)
            for i in range(0, len(orders), slice_orders):
                data = _snapshot_bytes(orders[i:i + slice_orders])
                self._check_compaction()
                _write_all(self._next_fd, data)
                written += len(data)
                await asyncio.sleep(0)  # strategies' requests between slices
            if tail is not None:
                for record in tail():
                    self.add(record)
            if not self.flush():
                raise self.failing
            self._check_compaction()
            fd = self._next_fd
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, fd)
            if not self.flush():  # what came during the sync: on the new file (and the old) too
                raise self.failing
            self._check_compaction()
        except BaseException:
            if self._next_fd >= 0:
                os.close(self._next_fd)
                self._next_fd = -1
            self._compaction_failed = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.replace(tmp, self.path)
        old, self._fd, self._next_fd = self._fd, self._next_fd, -1
        os.close(old)
        if self.fsync == "always":
            os.fsync(self._fd)  # records that came after the sync above
        elif self.fsync == "batch":
            self._batch_written()  # the new file's records after the sync above
        self.size = os.fstat(self._fd).st_size
        self.snapshot_size = written
        self.compactions += 1
        log.info("journal %s compacted online: %d orders, %d bytes", self.path, len(orders), self.size)

    def _abandon_compaction(self, exc: OSError) -> None:
        """A write to the compaction's file failed: that file is torn, the compaction is given
        up (compact() raises at its next step) and the journal goes on as it was."""
        log.error("journal %s: online compaction given up: %s", self.path, exc)
        os.close(self._next_fd)
        self._next_fd = -1
        self._compaction_failed = exc

    def _check_compaction(self) -> None:
        if self._compaction_failed is not None:
            raise self._compaction_failed

    def add(self, record: Record) -> None:
        _append(self._buf, record)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = self._loop
            if loop is None or not loop.is_running():
                # looked up once per loop: asyncio.get_running_loop() costs a getpid() per call on 3.11
                try:
                    loop = self._loop = asyncio.get_running_loop()
                except RuntimeError:
                    self.flush()  # no loop (tools, tests): write now
                    return
            loop.call_soon(self.flush)

    def flush(self) -> bool:
        """Write what is buffered; True once all of it is in the file. A write that fails (a
        full disk, an I/O error) leaves the rest buffered, sets `failing` (new orders are
        refused and acks wait: nothing is acknowledged before the journal has it) and is
        tried again every RETRY_S until it goes through."""
        self._flush_scheduled = False
        if not self._buf or self._fd < 0:
            return True
        data = self._buf
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            # what reached the file leaves the buffer and the next flush writes the rest after
            # it: written again whole, a record's head would be in the file twice, and the
            # replay would stop at the torn frame
            del data[:exc.written]
            self.size += exc.written
            self._write_failed(exc)
            return False
        if self.failing is not None:
            log.warning("journal %s: writing again after %d failed writes", self.path, self.write_errors)
            self.failing = None
            self._wake_waiters()
        self.size += len(data)
        if self._next_fd >= 0:
            try:
                _write_all(self._next_fd, data)
            except OSError as exc:
                self._abandon_compaction(exc)  # the journal itself has every byte
        data.clear()
        if self.fsync == "always":
            os.fsync(self._fd)
        elif self.fsync == "batch":
            self._batch_written()
        return True

    def flush_or_wait(self, callback: Callable[[], None]) -> bool:
        """flush(); when it cannot write, callback() is called (once, soon) after it can."""
        if self.flush():
            return True
        self._waiters.append(callback)
        return False

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        if waiters:
            loop = asyncio.get_running_loop()
            for callback in waiters:
                loop.call_soon(callback)

    def _write_failed(self, exc: OSError) -> None:
        self.write_errors += 1
        if self.failing is None:
            log.error("journal %s: cannot write (%s): %d bytes wait; new orders are refused "
                      "(journal_unavailable) and acks wait until it can", self.path, exc, len(self._buf))
        self.failing = exc
        if self._retry is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (tools, tests): the next flush tries again
            self._retry = loop.call_later(RETRY_S, self._retry_flush)

    def _retry_flush(self) -> None:
        self._retry = None
        if self._fd >= 0:
            self.flush()

    # fsync = "batch": every record is synced within batch_ms of its write, by a timer armed at
    # the first unsynced write, on one syncing thread; a write during a sync gets another sync

    def _batch_written(self) -> None:
        self._dirty_since_sync = True
        if self._sync_timer is not None or self._syncing:
            return  # a sync is due (or running; its end looks at _dirty_since_sync)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            os.fsync(self._fd)  # no loop (tools, tests): sync now
            self._dirty_since_sync = False
            return
        self._sync_timer = loop.call_later(self.batch_s, self._start_sync, loop)

    def _start_sync(self, loop) -> None:
        self._sync_timer = None
        if self._fd < 0:
            return
        if self._sync_executor is None:
            self._sync_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-fsync")
        self._syncing = True
        self._dirty_since_sync = False  # what is written from now on needs the next sync
        # its own fd: compaction may close the journal's while this one syncs
        done = self._sync_executor.submit(_fsync_and_close, os.dup(self._fd))
        done.add_done_callback(lambda fut: self._call_in(loop, self._sync_done, loop, fut))

    @staticmethod
    def _call_in(loop, fn, *args) -> None:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is gone (close() syncs what is left itself)

    def _sync_done(self, loop, fut) -> None:
        self._syncing = False
        if fut.exception() is not None:
            log.error("journal fsync failed: %s", fut.exception())
        if self._dirty_since_sync and self._fd >= 0:
            self._start_sync(loop)  # written while it synced: at most batch_ms ago

    def close(self) -> None:
        if not self.flush():
            log.error("journal %s: closed with %d bytes it could not write (%s)", self.path, len(self._buf),
                      self.failing)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        if self._sync_executor is not None:
            self._sync_executor.shutdown(wait=True)
            self._sync_executor = None
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _snapshot_bytes(orders: Iterable[Order], extra: Iterable[Record] = ()) -> bytearray:
    buf = bytearray()
    for order in orders:
        _append(buf, order_record(order))
        if order.sent_at_ns:
            _append(buf, sent_record(order))
        if order.venue_order_id is not None or order.venue_data:
            _append(buf, venue_record(order))
        for fill in order.fills:
            _append(buf, fill_record(order, fill))
        _append(buf, state_record(order))
    for record in extra:
        _append(buf, record)
    return buf


def _write_all(fd: int, data: bytearray) -> None:
    """All of data, or OSError with `written`: how much of it reached the file first (a
    regular file takes all in one write but on a full disk or a signal)."""
    n = 0
    try:
        while n < len(data):
            n += os.write(fd, data[n:] if n else data)  # a copy of the rest: no view holds data
    except OSError as exc:
        exc.written = n
        raise


_GATEWAY_STATE = (SWITCH, HALT, RISK_STATE)


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replay(records: Iterator[Record], gateway_state: list[Record] | None = None, positions=None) -> list[Order]:
    """Orders as the journal last knew them, in creation order; the gateway's own records
    (dead man's switches, the fleet halt, strategy states) go to gateway_state, in the journal's order.
    positions (gateway/positions/book.py's Positions): restored from each POSITIONS record and
    given every fill booked into an order after it, once."""
    orders: dict[str, Order] = {}
    for r in records:
        kind = r.k
        if kind == NEW:
            orders[r.id] = order_from_record(r)
            continue
        if kind in _GATEWAY_STATE:
            if gateway_state is not None:
                gateway_state.append(r)
            continue
        if kind == POSITIONS:
            if positions is not None:
                positions.restore_record(r)
            continue
        order = orders.get(r.id)
        if order is not None:
            if kind == FILL and positions is not None:
                booked = len(order.fills)
                apply_record(order, r)
                if len(order.fills) > booked:  # a trade the order had not booked yet
                    positions.book(order, order.fills[-1])
                continue
            apply_record(order, r)
    for order in orders.values():
        if order.venue_order_id is not None or order.venue_data:
            # older journals have no SENT record: a venue id or nonce means it may have left
            order.sent_at_ns = order.sent_at_ns or order.updated_ns
    return list(orders.values())
