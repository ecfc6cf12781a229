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
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.orders.model import Fill, Order, OrderType, Side, Status, TimeInForce

log = logging.getLogger("gateway.journal")

# record kinds: the order, its venue ids, a state change, a fill, its request handed to the
# venue (SENT: without it, the order certainly never left), a modify queued, a modify taken
NEW, VENUE, STATE, FILL, SENT, MODIFY, AMEND = "N", "V", "S", "F", "X", "M", "A"
# the drop copy's (gateway/dropcopy/catchup.py), which change no order on replay: a cancel
# reject, the last change JetStream holds of orders, an event made but not yet published
CANCEL_REJECT, PUBLISHED, EVENT = "R", "P", "E"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def _s(v: int | None) -> str | None:
    # amounts are e18 integers, beyond msgpack's 64 bits: kept as decimal digits
    return None if v is None else str(v)


def _i(v: str | None) -> int | None:
    return None if v is None else int(v)


def order_record(order: Order) -> dict:
    return {
        "k": NEW, "id": order.order_id, "strategy": order.strategy, "cid": order.client_order_id,
        "venue": order.venue, "symbol": order.symbol, "side": order.side.value, "type": order.type.value,
        "tif": order.tif.value, "price": _s(order.price), "qty": _s(order.quantity), "post_only": order.post_only,
        "reduce_only": order.reduce_only, "stop": _s(order.stop_price), "replaces": order.replaces,
        "created": order.created_ns,
    }


def state_record(order: Order) -> dict:
    return {"k": STATE, "id": order.order_id, "status": order.status.value, "filled": _s(order.filled),
            "notional": _s(order.notional), "reason": order.reason, "closed": order.closed_ns,
            "updated": order.updated_ns, "replaced_by": order.replaced_by, "g": order.guessed,
            "seq": order.seq}


def cancel_reject_record(order: Order, reason: str) -> dict:
    return {"k": CANCEL_REJECT, "id": order.order_id, "seq": order.seq, "reason": reason}


def sent_record(order: Order) -> dict:
    return {"k": SENT, "id": order.order_id, "t": order.sent_at_ns}


def modify_record(order: Order, price: int | None, quantity: int | None) -> dict:
    return {"k": MODIFY, "id": order.order_id, "price": _s(price), "qty": _s(quantity)}


def amend_record(order: Order) -> dict:
    return {"k": AMEND, "id": order.order_id, "price": _s(order.price), "qty": _s(order.quantity)}


def venue_record(order: Order) -> dict:
    return {"k": VENUE, "id": order.order_id, "vid": order.venue_order_id,
            "data": {k: v for k, v in order.venue_data.items() if isinstance(v, (int, str))}}


def fill_record(order: Order, fill: Fill) -> dict:
    return {"k": FILL, "id": order.order_id, "t": fill.trade_id, "p": _s(fill.price), "q": _s(fill.quantity),
            "ts": fill.ts_ns, "maker": fill.is_maker, "fee": _s(fill.fee)}


class Journal:
    def __init__(self, path: str, *, fsync: str = "never", batch_ms: int = 10):
        if fsync not in ("never", "batch", "always"):
            raise ValueError(f"journal fsync must be never, batch or always, not {fsync!r}")
        self.path = path
        self.fsync = fsync
        self.batch_s = batch_ms / 1000
        self._buf: list[bytes] = []
        self._fd = -1
        self._flush_scheduled = False
        self._dirty_since_sync = False
        self._sync_timer: asyncio.TimerHandle | None = None
        self._sync_executor: ThreadPoolExecutor | None = None
        self._syncing = False
        self.records_written = 0
        self.size = 0  # bytes in the file
        self.snapshot_size = 0  # bytes of its last snapshot
        self._next_fd = -1  # the file a running compaction writes, beside the current one
        self.compactions = 0

    # reading

    def read(self) -> Iterator[dict]:
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
                yield _decoder.decode(frame)
            except msgspec.DecodeError:
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
            data = _snapshot_bytes(snapshot) + b"".join(encode_frame(_encoder.encode(r)) for r in extra)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.snapshot_size = len(data)

    def wants_compaction(self, above_bytes: int) -> bool:
        return self._fd >= 0 and self._next_fd < 0 and self.size > max(above_bytes, 2 * self.snapshot_size)

    async def compact(self, orders: list[Order], *, slice_orders: int = 2000, head: list[dict] = ()) -> None:
        """Rewrite the file online as a snapshot of these orders (see the module's doc); head:
        records written first as they are (the drop copy's changes not yet published)."""
        tmp = f"{self.path}.compact"
        self.flush()
        self._next_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        written = 0
        try:
            if head:
                data = b"".join(encode_frame(_encoder.encode(r)) for r in head)
                os.write(self._next_fd, data)
                written += len(data)
            for i in range(0, len(orders), slice_orders):
                data = _snapshot_bytes(orders[i:i + slice_orders])
                os.write(self._next_fd, data)
                written += len(data)
                await asyncio.sleep(0)  # strategies' requests between slices
            self.flush()
            fd = self._next_fd
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, fd)
            self.flush()  # what came during the sync: on the new file (and the old) too
        except BaseException:
            os.close(self._next_fd)
            self._next_fd = -1
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

    def add(self, record: dict) -> None:
        self._buf.append(encode_frame(_encoder.encode(record)))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.flush()  # no loop (tools, tests): write now

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._buf or self._fd < 0:
            return
        data = b"".join(self._buf)
        self.records_written += len(self._buf)
        self._buf.clear()
        os.write(self._fd, data)
        self.size += len(data)
        if self._next_fd >= 0:
            os.write(self._next_fd, data)
        if self.fsync == "always":
            os.fsync(self._fd)
        elif self.fsync == "batch":
            self._batch_written()

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
        self.flush()
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


def _snapshot_bytes(orders: list[Order]) -> bytes:
    chunks = []
    for order in orders:
        chunks.append(encode_frame(_encoder.encode(order_record(order))))
        if order.sent_at_ns:
            chunks.append(encode_frame(_encoder.encode(sent_record(order))))
        if order.venue_order_id is not None or order.venue_data:
            chunks.append(encode_frame(_encoder.encode(venue_record(order))))
        for fill in order.fills:
            chunks.append(encode_frame(_encoder.encode(fill_record(order, fill))))
        chunks.append(encode_frame(_encoder.encode(state_record(order))))
    return b"".join(chunks)


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replay(records: Iterator[dict]) -> list[Order]:
    """Orders as the journal last knew them, in creation order."""
    orders: dict[str, Order] = {}
    for r in records:
        kind = r.get("k")
        if kind == NEW:
            orders[r["id"]] = order_from_record(r)
            continue
        order = orders.get(r.get("id"))
        if order is not None:
            apply_record(order, r)
    for order in orders.values():
        order.fills_reported = order.copied_fills = len(order.fills)
        if order.venue_order_id is not None or order.venue_data:
            # journals before issue 14 have no SENT record: a venue id or nonce means it may have left
            order.sent_at_ns = order.sent_at_ns or order.updated_ns
    return list(orders.values())


# value -> member without Enum.__call__ (the drop copy's catch-up replays many records)
_SIDES = {m.value: m for m in Side}
_TYPES = {m.value: m for m in OrderType}
_TIFS = {m.value: m for m in TimeInForce}
_STATUSES = {m.value: m for m in Status}


def order_from_record(r: dict) -> Order:
    """The order a NEW record made."""
    return Order(
        order_id=r["id"], strategy=r["strategy"], client_order_id=r["cid"], venue=r["venue"],
        symbol=r["symbol"], side=_SIDES[r["side"]], type=_TYPES[r["type"]], tif=_TIFS[r["tif"]],
        price=_i(r["price"]), quantity=_i(r["qty"]), post_only=r["post_only"],
        reduce_only=r["reduce_only"], stop_price=_i(r["stop"]), replaces=r["replaces"], created_ns=r["created"],
        updated_ns=r["created"],
    )


def apply_record(order: Order, r: dict) -> None:
    """One later record of the order applied to it, as it was when written."""
    kind = r["k"]
    if kind == VENUE:
        order.venue_order_id = r["vid"] or order.venue_order_id
        order.venue_data.update(r["data"])
    elif kind == STATE:
        order.status = _STATUSES[r["status"]]
        order.filled, order.notional, order.reason = _i(r["filled"]), _i(r["notional"]), r["reason"]
        order.closed_ns, order.updated_ns, order.replaced_by = r["closed"], r["updated"], r["replaced_by"]
        order.guessed = r.get("g", False)  # journals before issue 14 have no "g"
        order.seq = r.get("seq", order.seq + 1)  # journals before issue 17 have no "seq"
    elif kind == FILL and r["t"] not in order.trade_ids:
        order.trade_ids[r["t"]] = None
        fill = Fill(trade_id=r["t"], price=_i(r["p"]), quantity=_i(r["q"]), ts_ns=r["ts"],
                    is_maker=r["maker"], fee=_i(r["fee"]))
        order.fills.append(fill)
        order.booked += fill.quantity
        order.booked_notional += fill.price * fill.quantity
    elif kind == SENT:
        order.sent_at_ns = r["t"]
    elif kind == AMEND:
        order.price, order.quantity = _i(r["price"]), _i(r["qty"])
    elif kind == CANCEL_REJECT:
        order.seq = r["seq"]
