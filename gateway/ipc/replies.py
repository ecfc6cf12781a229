"""A strategy connection's outgoing frames: gathered, then written in one write.

The replies to one read leave at the end of that read (the connection says
when: `gathering`), before the venues' lines take up what those requests
accepted; order events gather until the end of the loop turn. Nothing is
written before the journal holds what it acknowledges: while the journal
cannot write, the frames wait and it calls back when it can.

The socket is handed no more than reply_backpressure_bytes unread at a time:
what a request or the events make beyond that (a large `orders` reply in
pages, the updates of a cancel_all over thousands of orders) waits here, in
order, and goes as the strategy reads (the connection's resume_writing). How
long a strategy may leave it unread is the connection's call (README
"Limits").
"""
from __future__ import annotations

import asyncio
from collections import deque

from gateway._core.framing import encode_frame
from gateway.ipc import frames as f
from gateway.orders.journal import Journal

_ORDERS_REPLY = f.OrdersReply
_encode = f.encoder.encode


class ReplyWriter:
    __slots__ = ("_transport", "_loop", "_journal", "_high", "_max_payload", "_out", "_waiting",
                 "_waiting_bytes", "_written", "_scheduled", "_waiting_journal", "gathering", "paused", "closed")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, journal: Journal | None,
                 high_bytes: int, max_payload: int):
        self._transport = transport
        self._loop = loop
        self._journal = journal
        self._high = high_bytes  # the transport's high-water mark (the connection sets it)
        self._max_payload = max_payload  # no frame larger: an `orders` reply above it is paged
        self._out: list[bytes] = []  # queued, not yet covered by a journal flush
        # journaled, waiting for the strategy to read what the socket holds (backpressure)
        self._waiting: deque[bytes] = deque()
        self._waiting_bytes = 0
        # bytes handed to the transport, but for the usual writes of an unpaused transport (the
        # connection compares `taken` only while the strategy lags: then every write counts)
        self._written = 0
        self._scheduled = False
        self._waiting_journal = False
        self.gathering = False  # requests are being handled: their replies leave at the end (flush)
        self.paused = False  # the transport holds more than its high mark (the connection's pause_writing)
        self.closed = False

    @property
    def queued(self) -> int:
        """Frames not handed to the transport yet."""
        return len(self._out) + len(self._waiting)

    @property
    def unread(self) -> int:
        """Bytes the strategy has not read: in the transport's buffer and queued here."""
        return self._transport.get_write_buffer_size() + self._waiting_bytes + sum(map(len, self._out))

    @property
    def taken(self) -> int:
        """Bytes the socket took from the transport so far (give or take a constant): grows while
        the strategy reads."""
        return self._written - self._transport.get_write_buffer_size()

    def send(self, message) -> None:
        """Queue a frame: one write for all queued in a loop turn (one system call instead of
        several, each of which may wake the strategy's process before we are done)."""
        if self.closed:
            return
        if type(message) is _ORDERS_REPLY:
            self._out.extend(map(encode_frame, f.orders_pages(message, self._max_payload)))
        else:
            self._out.append(encode_frame(_encode(message)))
        if not (self._scheduled or self.gathering or self._waiting_journal):
            self._scheduled = True
            self._loop.call_soon(self._write)

    def flush(self) -> None:
        """Write what is queued now (unless it waits for the journal or for the strategy to read)."""
        if self._out and not self._waiting_journal:
            self._write()

    def write_all(self) -> None:
        """The last write before the connection closes: whatever is queued, past the mark too."""
        self._write()
        if self._out or self.closed:
            return  # waiting for the journal (or closed): nothing that is not in it leaves
        if self._waiting:
            data = b"".join(self._waiting)
            self._waiting.clear()
            self._waiting_bytes = 0
            self._written += len(data)
            self._transport.write(data)

    def resume(self) -> None:
        """The strategy read down to the transport's low mark: hand it the next part."""
        self.paused = False
        if self._waiting and not self.closed:
            self._write_waiting()

    def _journal_written(self) -> None:
        self._waiting_journal = False
        self._write()

    def _write(self) -> None:
        self._scheduled = False
        if self.closed or not self._out:
            self._out.clear()
            return
        journal = self._journal
        if journal is not None and not journal.flush_or_wait(self._journal_written):
            self._waiting_journal = True  # it cannot write now: these replies wait for it
            return
        out = self._out
        if not self._waiting and not self.paused:
            data = b"".join(out) if len(out) > 1 else out[0]
            if len(data) <= self._high:  # the usual case: all of it, in one write
                out.clear()
                self._transport.write(data)
                return
        self._waiting.extend(out)
        self._waiting_bytes += sum(map(len, out))
        out.clear()
        if not self.paused:
            self._write_waiting()

    def _write_waiting(self) -> None:
        """Hand the transport the waiting frames, in order, until it holds more than its mark
        (it calls the connection's pause_writing then, before write returns) or none wait."""
        waiting = self._waiting
        transport = self._transport
        while waiting and not self.paused and not self.closed:
            room = self._high - transport.get_write_buffer_size()
            batch = [waiting.popleft()]
            size = len(batch[0])
            while waiting and size <= room:  # the frame that passes the mark goes too: it pauses
                frame = waiting.popleft()
                batch.append(frame)
                size += len(frame)
            self._waiting_bytes -= size
            self._written += size
            transport.write(b"".join(batch) if len(batch) > 1 else batch[0])
