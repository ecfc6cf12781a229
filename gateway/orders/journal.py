"""Append-only journal of orders: every order before it is sent, every venue
id and nonce, every state change and fill.

Records are buffered and written with one os.write before the gateway sends
any reply to a strategy (and at the end of each loop turn), so every order a
strategy got an ack for is in the file even if the process is killed right
after: the kernel has it. `fsync` decides what survives the machine losing
power: "never" (the kernel flushes in its own time), "batch" (fsync at most
every batch_ms, on a helper thread), "always" (fsync before each reply: slow).

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
import threading
import time
from collections.abc import Iterator

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.orders.model import Fill, Order, OrderType, Side, Status, TimeInForce

log = logging.getLogger("gateway.journal")

# record kinds: the order, its venue ids, a state change, a fill, its request handed to the
# venue (SENT: without it, the order certainly never left), a modify queued, a modify taken
NEW, VENUE, STATE, FILL, SENT, MODIFY, AMEND = "N", "V", "S", "F", "X", "M", "A"

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
            "updated": order.updated_ns, "replaced_by": order.replaced_by, "g": order.guessed}


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
        self._sync_lock = threading.Lock()
        self._last_sync = 0.0
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

    def open(self, snapshot: list[Order]) -> None:
        """Rewrite the file as the snapshot (atomically), then append from there."""
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = _snapshot_bytes(snapshot)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.snapshot_size = len(data)

    def wants_compaction(self, above_bytes: int) -> bool:
        return self._fd >= 0 and self._next_fd < 0 and self.size > max(above_bytes, 2 * self.snapshot_size)

    async def compact(self, orders: list[Order], *, slice_orders: int = 2000) -> None:
        """Rewrite the file online as a snapshot of these orders (see the module's doc)."""
        tmp = f"{self.path}.compact"
        self.flush()
        self._next_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        written = 0
        try:
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
            self._dirty_since_sync = True
            now = time.monotonic()
            if now - self._last_sync >= self.batch_s and self._sync_lock.acquire(blocking=False):
                self._last_sync = now
                threading.Thread(target=self._sync, daemon=True).start()

    def _sync(self) -> None:
        try:
            self._dirty_since_sync = False
            os.fsync(self._fd)
        except OSError as exc:
            log.error("journal fsync failed: %s", exc)
        finally:
            self._sync_lock.release()

    def close(self) -> None:
        self.flush()
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


def replay(records: Iterator[dict]) -> list[Order]:
    """Orders as the journal last knew them, in creation order."""
    orders: dict[str, Order] = {}
    for r in records:
        kind = r.get("k")
        if kind == NEW:
            orders[r["id"]] = Order(
                order_id=r["id"], strategy=r["strategy"], client_order_id=r["cid"], venue=r["venue"],
                symbol=r["symbol"], side=Side(r["side"]), type=OrderType(r["type"]), tif=TimeInForce(r["tif"]),
                price=_i(r["price"]), quantity=_i(r["qty"]), post_only=r["post_only"],
                reduce_only=r["reduce_only"], stop_price=_i(r["stop"]), replaces=r["replaces"], created_ns=r["created"], updated_ns=r["created"],
            )
            continue
        order = orders.get(r.get("id"))
        if order is None:
            continue
        if kind == VENUE:
            order.venue_order_id = r["vid"] or order.venue_order_id
            order.venue_data.update(r["data"])
        elif kind == STATE:
            order.status = Status(r["status"])
            order.filled, order.notional, order.reason = _i(r["filled"]), _i(r["notional"]), r["reason"]
            order.closed_ns, order.updated_ns, order.replaced_by = r["closed"], r["updated"], r["replaced_by"]
            order.guessed = r.get("g", False)  # journals before issue 14 have no "g"
        elif kind == FILL and r["t"] not in order.trade_ids:
            order.trade_ids.add(r["t"])
            fill = Fill(trade_id=r["t"], price=_i(r["p"]), quantity=_i(r["q"]), ts_ns=r["ts"],
                        is_maker=r["maker"], fee=_i(r["fee"]))
            order.fills.append(fill)
            order.booked += fill.quantity
            order.booked_notional += fill.price * fill.quantity
        elif kind == SENT:
            order.sent_at_ns = r["t"]
        elif kind == AMEND:
            order.price, order.quantity = _i(r["price"]), _i(r["qty"])
    for order in orders.values():
        order.fills_reported = len(order.fills)
        if order.venue_order_id is not None or order.venue_data:
            # journals before issue 14 have no SENT record: a venue id or nonce means it may have left
            order.sent_at_ns = order.sent_at_ns or order.updated_ns
    return list(orders.values())
