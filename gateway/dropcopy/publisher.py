"""The drop copy: every order change, published to JetStream off the order path.

On the request path the tracker calls `order_changed` / `cancel_rejected`: the change
(with the order's view, the one its strategy got when it was connected) is appended to a bounded in-memory buffer,
nothing else (no await, no I/O); the publishing task makes the JSON.
A task on the same loop publishes the buffer in batches, each message with a reply
subject so JetStream acknowledges it, and waits for the batch's acks before the next:
per order, changes reach the stream in order. After each batch the journal records the
last change of each order JetStream holds.

While NATS is slow or away the buffer fills; past `max_buffer_events` new events are
left to the journal (which has every one) and, once the buffer is published, the
publisher rebuilds what is missing from the journal (catchup.py). After a restart the
same catch-up publishes whatever the last run did not. A batch whose acks never came
may have been stored: before sending it again, the publisher asks the stream for the
last message of each of its subjects and drops the events the stream already holds
(the server stores one connection's messages in order), so nothing is stored twice
even past the stream's duplicate window.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from gateway.assembly import Parts
from gateway.dropcopy.catchup import event_record, journal_events, published_record, restart_plan
from gateway.dropcopy.config import DropCopyConfig
from gateway.dropcopy.connection import connect_options
from gateway.dropcopy.events import Change, Event, EventMaker, change, stream_subjects
from gateway.ipc.views import ChangeViews
from gateway.orders.journal import Journal
from gateway.orders.records import Record
from gateway.orders.model import Order

log = logging.getLogger("gateway.dropcopy")

MSG_ID = "Nats-Msg-Id"
COUNTED_BATCH = 64  # from this size a batch is checked by the stream's count, not a reply each


def hpub_frames(batch: list[Event], reply_prefix: str, *, last_only: bool = False) -> bytes:
    """NATS protocol HPUB frames for a batch: each event with its Nats-Msg-Id header and the
    reply subject {reply_prefix}{index} that JetStream acknowledges to (last_only: only the
    last event has one)."""
    parts = []
    last = len(batch) - 1
    for i, event in enumerate(batch):
        header = b"NATS/1.0\r\nNats-Msg-Id: " + event.msg_id.encode() + b"\r\n\r\n"
        reply = f" {reply_prefix}{i}" if i == last or not last_only else ""
        parts.append(f"HPUB {event.subject}{reply} {len(header)} {len(header) + len(event.payload)}\r\n"
                     .encode())
        parts.append(header)
        parts.append(event.payload)
        parts.append(b"\r\n")
    return b"".join(parts)


class DropCopy:
    def __init__(self, config: DropCopyConfig, parts: Parts | None, journal: Journal):
        self.config = config
        self.parts = parts
        self._views = parts.views if parts is not None else ChangeViews()
        self.journal = journal
        self.gateway_id = config.gateway_name
        self.maker = EventMaker(config.subject_prefix, self.gateway_id)
        self.buffer: deque[Event | Change] = deque()
        self.max_buffer = config.max_buffer_events
        # events left to the journal: the buffer was full, or a restart found them unpublished
        self.overflow = False
        self.overflow_since_ns = 0
        self.overflowed = 0
        self.acked: dict[str, int] = {}  # order id -> last change JetStream acknowledged
        # counters (metrics, status)
        self.published = 0
        self.publish_errors = 0
        self.catchup_events = 0
        self.state = "connecting"
        self._catchup_left = 0
        self._inflight: list[Event] = []
        self._idle = False
        self._wake = asyncio.Event()
        self._closing = False
        self._nc = None
        self._js = None
        self._inbox = ""
        self._batch_no = 0
        self._acks: list[bool] = []
        self._acks_left = 0
        self._ack_error: str | None = None
        self._batch_done: asyncio.Future | None = None
        self._uncertain = True  # a restart may follow a batch that was stored but never acked
        self._ack_each = False  # the next batch gets a reply per event
        self._counted_before: int | None = None  # the count before a counted batch in doubt
        self._task: asyncio.Task | None = None
        self.control = None

    # start-up: before the journal is rewritten as a snapshot

    def plan_restart(self, records: list[Record], orders: list[Order]) -> tuple[list[Order], list[Record]]:
        """What the journal snapshot keeps for the drop copy; arms the catch-up when the last
        run left changes unpublished."""
        snapshot, extra, self.acked, missing = restart_plan(records, orders)
        # the first thing published is the journal's catch-up, whatever start-up changes (orders
        # reconciled with the venues) come before the drop copy is connected
        self.overflow = True
        self.overflow_since_ns = time.monotonic_ns()
        self.overflowed = missing
        if missing:
            log.info("drop copy: %d order changes of the last run to publish from the journal", missing)
        return snapshot, extra

    # online compaction of the journal (gateway/daemon.py)

    def may_compact(self) -> bool:
        """Only while every unpublished change is in memory: the journal's own records of a
        change are what a catch-up needs, and a compaction keeps only the last state."""
        return not self.overflow and not self._catchup_left and self.state != "catching up"

    def compaction_head(self) -> list[Record]:
        """What the compacted journal must start with: the events made but not yet published
        (as they are), and the marks of what JetStream has."""
        acked, made = self.acked, self.maker.change_event
        tracked = self.parts.tracker.orders if self.parts is not None else {}
        head = []
        for item in list(self._inflight) + list(self.buffer):
            if item.seq > acked.get(item.order_id, 0):
                head.append(event_record(made(item) if type(item) is Change else item))
        # marks of orders the gateway forgot are of no use any more
        pending = {r.id for r in head}
        self.acked = {k: v for k, v in acked.items() if k in tracked or k in pending}
        head.append(published_record(dict(self.acked)))
        return head

    # tracker listener: the request path

    def order_changed(self, order: Order, new_fills: int) -> None:
        if self.overflow:  # the catch-up rebuilds it from the journal
            self.overflowed += 1
            return
        # the JSON is made by the publishing task, many at a time with warm caches (it costs
        # two to three times more made here, one between two requests)
        self._push(change(order, self._views.view(order, len(order.fills) - new_fills)))

    def cancel_rejected(self, order: Order, reason: str) -> None:
        if self.overflow:
            self.overflowed += 1
            return
        self._push(self.maker.cancel_reject_event(order, order.seq, reason))

    def _push(self, event: Event | Change) -> None:
        if len(self.buffer) >= self.max_buffer:
            self.overflow = True
            self.overflow_since_ns = self.buffer[0].t_ns
            self.overflowed += 1
            log.warning("drop copy: buffer full (%d events); later changes wait in the journal", self.max_buffer)
            return
        self.buffer.append(event)
        if self._idle:
            self._idle = False
            self._wake.set()

    # what metrics and status read

    @property
    def pending(self) -> int:
        return len(self.buffer) + len(self._inflight) + self.overflowed + self._catchup_left

    def oldest_pending_age_s(self) -> float:
        times = []
        if self._inflight:
            times.append(self._inflight[0].t_ns)
        if self.buffer:
            times.append(self.buffer[0].t_ns)
        if self.overflow or self._catchup_left:
            times.append(self.overflow_since_ns)
        return (time.monotonic_ns() - min(times)) / 1e9 if times else 0.0

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    # the publishing task

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self, deadline_s: float = 2.0) -> None:
        """Publish what is pending for up to deadline_s; the journal keeps the rest."""
        if self._task is not None and self.connected:
            end = time.monotonic() + deadline_s
            while self.pending and time.monotonic() < end:
                await asyncio.sleep(0.02)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:  # noqa: BLE001
                pass
        self.journal.flush()
        if self.pending:
            log.info("drop copy: %d changes left to publish from the journal at the next start", self.pending)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._connect()
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the order path goes on; we retry
                self.publish_errors += 1
                log.warning("drop copy: %s: %s; retrying", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _connect(self) -> None:
        cfg = self.config
        if self._nc is None:
            import nats

            options = connect_options(cfg, f"order-gateway {self.gateway_id}")
            options.update(
                allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                # no second buffer behind ours: a publish while disconnected fails at once
                pending_size=0,
                disconnected_cb=self._on_disconnected, reconnected_cb=self._on_reconnected,
                error_cb=self._on_error,
            )
            delay = 0.2
            while True:
                try:
                    nc = await nats.connect(**options)
                    break
                except Exception as exc:  # noqa: BLE001 - NATS away at start: keep trying
                    self.state = "disconnected"
                    log.warning("drop copy: cannot reach %s: %s", ", ".join(cfg.urls),
                                exc or type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            self._nc = nc
            self._js = nc.jetstream(timeout=cfg.ack_timeout_secs)
            self._inbox = nc.new_inbox()
            # the client subscribes again by itself after a reconnect
            await nc.subscribe(f"{self._inbox}.>", cb=self._on_ack)
            if cfg.control:
                from gateway.dropcopy.control import Control

                self.control = Control(self.parts, cfg, self.gateway_id, self.journal)
                await self.control.subscribe(nc)
            log.info("drop copy: connected to NATS as gateway %s", self.gateway_id)
        await self._ensure_stream()
        self.state = "connected"

    async def _ensure_stream(self) -> None:
        """Created with file storage when missing; a stream that exists is never altered."""
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        cfg = self.config
        try:
            await self._js.stream_info(cfg.stream)
            return
        except NotFoundError:
            pass
        await self._js.add_stream(StreamConfig(
            name=cfg.stream, subjects=stream_subjects(cfg.subject_prefix), storage=StorageType.FILE,
            num_replicas=cfg.stream_replicas, duplicate_window=float(cfg.duplicate_window_secs)))
        log.info("drop copy: created stream %s (%s)", cfg.stream, ", ".join(stream_subjects(cfg.subject_prefix)))

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self.state = "disconnected"
            log.warning("drop copy: disconnected from NATS; events wait (buffer, then journal)")

    async def _on_reconnected(self) -> None:
        self.state = "connected"
        self._uncertain = True
        log.info("drop copy: reconnected to NATS")
        if self._idle:
            self._idle = False
            self._wake.set()

    async def _on_error(self, exc: Exception) -> None:
        log.debug("drop copy: NATS client: %s", exc)

    async def _pump(self) -> None:
        linger = self.config.batch_linger_ms / 1000
        limit = self.config.batch_max_events
        while not self._closing:
            if self.buffer:
                if linger and len(self.buffer) < limit:
                    await asyncio.sleep(linger)
                batch = self._take()
                if batch:
                    await self._send(batch)
            elif self.overflow:
                await self._catch_up()
            else:
                self._idle = True
                self._wake.clear()
                await self._wake.wait()

    def _take(self) -> list[Event]:
        """The buffer's next batch, without what JetStream has already (a catch-up published it)."""
        buffer, acked = self.buffer, self.acked
        batch = []
        limit = self.config.batch_max_events
        made = self.maker.change_event
        while buffer and len(batch) < limit:
            event = buffer.popleft()
            if event.seq > acked.get(event.order_id, 0):
                batch.append(made(event) if type(event) is Change else event)
        return batch

    async def _catch_up(self) -> None:
        """What the buffer could not hold, rebuilt from the journal and published in order."""
        # no await from here to the journal's read: every change left to the journal is in it,
        # and every later one goes to the buffer
        self.overflow = False
        self._catchup_left, self.overflowed = self.overflowed, 0
        self.state = "catching up"
        self.journal.flush()
        log.info("drop copy: catching up %d changes from the journal", self._catchup_left)
        t0 = time.monotonic()
        n = 0
        batch: list[Event] = []
        limit = self.config.batch_max_events
        sending: asyncio.Future | None = None
        try:
            for event in journal_events(self.journal.read(), self.maker, self.acked, self.overflow_since_ns):
                batch.append(event)
                if len(batch) >= limit:
                    # the next batch is made while JetStream stores the last one; one batch
                    # in flight at a time all the same
                    if sending is not None:
                        await sending
                    n += len(batch)
                    sending = asyncio.ensure_future(self._send(batch, catchup=True))
                    batch = []
                    await asyncio.sleep(0)  # it writes the batch before the next is made
            if sending is not None:
                await sending
            if batch:
                n += len(batch)
                await self._send(batch, catchup=True)
        except BaseException:
            if sending is not None:
                sending.cancel()
            raise
        self._catchup_left = 0
        if self.state == "catching up":
            self.state = "connected"
        log.info("drop copy: caught up, %d changes published from the journal in %.2f s", n,
                 time.monotonic() - t0)

    async def _send(self, batch: list[Event], *, catchup: bool = False) -> None:
        """Until JetStream has every event of the batch, in order (or the gateway stops)."""
        self._inflight = batch
        delay = 0.1
        try:
            while batch:
                if not self.connected:
                    await asyncio.sleep(0.05)
                    continue
                try:
                    if self._uncertain:
                        stored = await self._stored_prefix(batch)
                        if self._counted_before is not None:
                            # a counted batch: the prefix holds only if the count agrees
                            if await self._subject_count() - self._counted_before != stored:
                                self._ack_each, stored = True, 0
                            self._counted_before = None
                        self._uncertain = False
                        if stored:
                            log.info("drop copy: %d events of an unacknowledged batch were stored", stored)
                            self._done(batch[:stored], catchup)
                            batch = batch[stored:]
                            self._inflight = batch
                            continue
                    n_ok, error = await self._publish(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - connection lost mid-batch, timeouts
                    n_ok, error = 0, f"{type(exc).__name__}: {exc}"
                if n_ok:
                    self._done(batch[:n_ok], catchup)
                    batch = batch[n_ok:]
                    self._inflight = batch
                if batch:
                    self.publish_errors += 1
                    self._uncertain = not self._ack_each
                    log.warning("drop copy: %d events not acknowledged (%s); retrying", len(batch), error)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    if self.connected:
                        try:
                            await self._ensure_stream()
                        except Exception:  # noqa: BLE001 - the next round says why
                            pass
                else:
                    delay = 0.1
        finally:
            self._inflight = []

    def _done(self, events: list[Event], catchup: bool) -> None:
        acked = self.acked
        marks = {}
        for event in events:
            acked[event.order_id] = marks[event.order_id] = event.seq
        self.published += len(events)
        if catchup:
            self.catchup_events += len(events)
            self._catchup_left = max(0, self._catchup_left - len(events))
        # written now, not at the loop turn's end: at most one batch is ever stored but unmarked
        self.journal.add(published_record(marks))
        self.journal.flush()

    async def _subject_count(self) -> int:
        """Messages of this gateway in the stream (JetStream keeps a count per subject)."""
        info = await self._js.stream_info(self.config.stream,
                                          subjects_filter=f"{self.config.subject_prefix}.{self.gateway_id}.>")
        return sum((info.state.subjects or {}).values())

    async def _publish(self, batch: list[Event]) -> tuple[int, str | None]:
        """One batch out; returns how many leading events JetStream is known to hold and the
        first error. A big batch is acknowledged by its last event and checked by the stream's
        count of this gateway's messages (a reply per message costs more than making the
        event); small ones, and a batch whose count did not add up, get a reply each."""
        self._batch_no += 1
        n = len(batch)
        nc = self._nc
        send = getattr(nc, "_send_command", None)
        counted = n >= COUNTED_BATCH and not self._ack_each and send is not None
        self._ack_each = False
        before = await self._subject_count() if counted else 0
        self._counted_before = before if counted else None
        self._acks = [False] * n
        self._acks_left = 1 if counted else n
        self._ack_error = None
        done = self._batch_done = asyncio.get_running_loop().create_future()
        prefix = f"{self._inbox}.{self._batch_no}."
        if send is not None and hasattr(nc, "_flush_pending"):
            # the batch as one write of HPUB frames: nats-py's publish() costs ~8 us per message
            # in Python (header dict, validation, a flusher wake-up), half of the catch-up's time
            if not nc.is_connected:
                raise ConnectionError("not connected to NATS")
            await send(hpub_frames(batch, prefix, last_only=counted))
            await nc._flush_pending()
        else:
            for i, event in enumerate(batch):
                await nc.publish(event.subject, event.payload, reply=f"{prefix}{i}", headers={MSG_ID: event.msg_id})
        try:
            await asyncio.wait_for(done, self.config.ack_timeout_secs)
        except asyncio.TimeoutError:
            self._ack_error = self._ack_error or f"no acknowledgement within {self.config.ack_timeout_secs} s"
        acks = self._acks
        if counted:
            if not acks[-1]:
                return 0, self._ack_error
            # the last one stored means the server has taken all of them in (one connection's
            # messages are handled in order); the count says whether each one was stored
            stored = await self._subject_count() - before
            self._counted_before = None
            if stored == n:
                return n, None
            # a message lost between two stored ones (a stream leader changing): resend the
            # batch with a reply each; JetStream drops the ones it has by their ids
            self._ack_each = True
            self._uncertain = False
            return 0, f"the stream holds {stored} of the {n} events sent; resending with a reply each"
        k = 0
        while k < n and acks[k]:
            k += 1
        return k, self._ack_error

    async def _on_ack(self, msg) -> None:
        _, batch_no, index = msg.subject.rsplit(".", 2)
        if int(batch_no) != self._batch_no:
            return  # a late ack of a batch given up on
        i = int(index)
        data = msg.data
        if data and b'"error"' not in data:
            self._acks[i] = True
        elif self._ack_error is None:
            status = (msg.headers or {}).get("Status") if hasattr(msg, "headers") else None
            self._ack_error = (data.decode(errors="replace") if data
                               else f"no stream answers (status {status})")
        self._acks_left -= 1
        if self._acks_left == 0 and self._batch_done is not None and not self._batch_done.done():
            self._batch_done.set_result(None)

    async def _stored_prefix(self, batch: list[Event]) -> int:
        """How many leading events of a batch the stream already holds: for each of the batch's
        subjects, the stream's last message on it names the last event stored there."""
        from nats.js.errors import NotFoundError

        index = {event.msg_id: i for i, event in enumerate(batch)}
        stored = 0
        for subject in {event.subject for event in batch}:
            try:
                msg = await self._js.get_last_msg(self.config.stream, subject)
            except NotFoundError:
                continue
            i = index.get((msg.headers or {}).get(MSG_ID, ""))
            if i is not None and i + 1 > stored:
                stored = i + 1
        return stored
