"""A strategy connection's outgoing frames: gathered, then written in one write.

The replies to one read leave at the end of that read (the connection says
when: `gathering`), before the venues' lines take up what those requests
accepted; order events gather until the end of the loop turn. Nothing is
written before the journal holds what it acknowledges: while the journal
cannot write, the frames wait and it calls back when it can.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway._core.framing import encode_frame
from gateway.ipc import frames as f
from gateway.orders.journal import Journal


class ReplyWriter:
    __slots__ = ("_transport", "_loop", "_journal", "_max_unread", "_too_much", "_out", "_scheduled",
                 "_waiting_journal", "gathering", "closed")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, journal: Journal | None,
                 max_unread_bytes: int, too_much: Callable[[str], None]):
        self._transport = transport
        self._loop = loop
        self._journal = journal
        self._max_unread = max_unread_bytes
        self._too_much = too_much  # called with the reason when the peer leaves too much unread
        self._out: list[bytes] = []
        self._scheduled = False
        self._waiting_journal = False
        self.gathering = False  # requests are being handled: their replies leave at the end (flush)
        self.closed = False

    @property
    def queued(self) -> int:
        """Frames not written yet."""
        return len(self._out)

    def send(self, message) -> None:
        """Queue a frame: one write for all queued in a loop turn (one system call instead of
        several, each of which may wake the strategy's process before we are done)."""
        if self.closed:
            return
        self._out.append(encode_frame(f.encoder.encode(message)))
        if not (self._scheduled or self.gathering or self._waiting_journal):
            self._scheduled = True
            self._loop.call_soon(self._write)

    def flush(self) -> None:
        """Write what is queued now (unless it waits for the journal)."""
        if self._out and not self._waiting_journal:
            self._write()

    def write_all(self) -> None:
        """The last write before the connection closes: whatever is queued."""
        self._write()

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
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        transport = self._transport
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_unread:
            # events pile up for a strategy that reads nothing; its own requests cannot (backpressure)
            self._too_much(f"more than {self._max_unread} bytes unread (max_outbound_buffer_bytes)")
