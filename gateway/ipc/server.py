"""The strategy socket: a Unix stream socket, length-prefixed msgpack frames.

Requests are handled in arrival order as they are read, each to its reply
without waiting on a venue (gateway/router.py); the replies to one read
leave in one write, before that read's callback returns. A frame that cannot be read gets one
`error` frame and closes that connection only; a frame that decodes but is
not a valid request gets an `ack` with the reason, and the connection stays.

One client cannot hurt the others (README "Limits"): at most
max_requests_per_turn of a connection's requests are handled per loop turn,
the rest wait with the connection unread; a strategy whose unread replies
pass reply_backpressure_bytes is not read until it catches up, its further
replies and events wait in its ReplyWriter and go as it reads, and it is cut
off only when it stops reading for slow_reader_secs (or, holding more than
max_outbound_buffer_bytes, reads slower than they come); bytes before hello,
the wait for hello, a partial frame's wait, the number of connections and
those of one peer are capped; every client string echoed or logged is
clipped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import stat
import struct
import time
from collections import deque

import msgspec

from gateway._core.framing import FrameError, FrameSplitter
from gateway.config import ServerConfig
from gateway.ipc import frames as f
from gateway.ipc.admittance import Admittance
from gateway.ipc.bad_frames import Close, answer_invalid, answer_undecodable
from gateway.ipc.before_hello import BeforeHello
from gateway.ipc.busypoll import BusyPoll
from gateway.ipc.replies import ReplyWriter
from gateway.ipc.slow_reader import UnreadReplies
from gateway.ipc.sessions import Sessions
from gateway.metrics import Metrics
from gateway.orders.journal import Journal
from gateway.router import Router

log = logging.getLogger("gateway.ipc")

_UCRED = struct.Struct("3i")
# requests whose ack is followed by venue work (signing, a venue write)
_VENUE_WORK = frozenset({f.Place, f.PlaceGroup, f.Cancel, f.CancelAll, f.Replace, f.Modify})
# descriptors besides strategy connections: venues' HTTP pools and streams, journal, nonces, metrics
FD_RESERVE = 256


class StrategyConnection(BeforeHello, asyncio.Protocol):
    def __init__(self, server: StrategyServer):
        self._server = server
        self._router = server.router
        self._metrics = server.metrics
        self._journal = server.journal
        config = server.config
        self._splitter = FrameSplitter(config.max_frame_bytes)
        self._busy_poll = server.busy_poll
        self._per_turn = config.max_requests_per_turn
        self._yield = config.yield_after_acks
        self._venue_work = False  # this read's requests gave a venue's line work
        self._replies: ReplyWriter | None = None  # made with the transport
        self.transport: asyncio.Transport | None = None
        self.strategy: str | None = None  # once it said hello
        self.peer_pid = self.peer_uid = self.peer_gid = -1
        self.peer: tuple[str, int] = ("pid", -1)  # whose connections count together (peer_key)
        self.closing = False
        self._hello_timer: asyncio.TimerHandle | None = None
        # requests read but not handled yet (past one turn's budget), their read time, and
        # the error that ends the stream after them
        self._pending: deque[bytes] = deque()
        self._pending_t_in = 0
        self._pending_close: tuple[str, str] | None = None
        self._pump_scheduled = False
        self._reading_paused = False
        self.writing_paused = False
        # monotonic time a partial frame started waiting (0: none)
        self.partial_since = 0.0
        self.unread = UnreadReplies()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()  # once: each lookup costs a getpid() on 3.11
        config = self._server.config
        self._replies = ReplyWriter(transport, self._loop, self._journal, config.reply_backpressure_bytes,
                                    config.max_frame_bytes)
        self.send = self._replies.send  # the order path's sends go straight to it
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.peer_pid, self.peer_uid, self.peer_gid = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        server = self._server
        self.peer = server.admittance.peer_key(self.peer_pid, self.peer_uid)
        refusal = server.admittance.refusal(self)
        if refusal is not None:
            self._fatal(*refusal)
            return
        sessions = server.sessions
        # replies above the mark pause this connection's reading (pause_writing below)
        transport.set_write_buffer_limits(high=config.reply_backpressure_bytes)
        sessions.opened(self)
        self._hello_timer = self._loop.call_later(config.hello_timeout_ms / 1000, self._no_hello)

    def data_received(self, data: bytes) -> None:
        """Every request in these bytes handled to its reply (up to one turn's budget); the
        replies leave in one write."""
        t_in = time.perf_counter_ns()
        if self.closing:
            return
        if self._busy_poll is not None:
            self._busy_poll.touch()
        close_after = None
        try:
            payloads = self._splitter.feed(data)
        except FrameError as exc:
            # the well-formed requests before the bad header are answered first
            close_after = ("bad_frame", str(exc))
            payloads = exc.frames
        if self._splitter.buffered:
            if not self.partial_since:
                self.partial_since = time.monotonic()
        elif self.partial_since:
            self.partial_since = 0.0
        if payloads:
            # the replies gather while these requests are handled and are written below, in one
            # write, before this callback returns: before any venue's line takes up the orders
            # (README "Latency of the ack": the ack never includes the signature). uvloop queues a write
            # made here to the end of this poll phase; lines run in a later pass.
            replies = self._replies
            replies.gathering = True
            try:
                if len(payloads) > self._per_turn or self.strategy is None or self._pending:
                    self._pending.extend(payloads)
                    self._pending_t_in = t_in
                    self._pending_close = self._pending_close or close_after
                    self._pump()
                    return
                if not self._handle(payloads, t_in):
                    return
            finally:
                replies.gathering = False
                replies.flush()
                if self._venue_work:
                    self._venue_work = False
                    if self._yield:
                        os.sched_yield()
        if close_after is not None:
            self._fatal(*close_after)
        elif self.strategy is None:
            self._check_before_hello()

    def _handle(self, payloads, t_in: int) -> bool:
        """Handle these requests in order; returns whether the connection is still open."""
        router = self._router
        decode = f.request_decoder.decode
        for payload in payloads:
            t0 = time.perf_counter_ns()
            try:
                request = decode(payload)
            except msgspec.ValidationError as exc:
                if not self._bad_frame(answer_invalid(payload, str(exc))):
                    return False
                continue
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                if not self._bad_frame(answer_undecodable(payload, exc)):
                    return False
                continue
            reply = router.handle(self, request, t_in, time.perf_counter_ns() - t0)
            if reply is not None:
                self.send(reply)
                if type(request) in _VENUE_WORK and reply.ok:
                    self._venue_work = True
            if self.closing:
                return False
        return True

    def _pump(self) -> None:
        """Handle up to one turn's budget of the waiting requests; read again once none wait
        (and the strategy reads its replies)."""
        self._pump_scheduled = False
        pending = self._pending
        if self.closing:
            pending.clear()
            return
        budget = self._per_turn
        batch = []
        while pending and len(batch) < budget:
            payload = pending.popleft()
            if self.strategy is None and len(payload) > self._server.config.max_bytes_before_hello:
                self._too_much_before_hello(len(payload))
                return
            batch.append(payload)
            if self.strategy is None:
                # hello changes what the next frame may be: one at a time until it is said
                break
        if batch:
            replies = self._replies
            gathering, replies.gathering = replies.gathering, True
            handled = self._handle(batch, self._pending_t_in)
            replies.gathering = gathering
            if not gathering:
                replies.flush()  # these replies leave before the lines take up what they accepted
            if not handled:
                return
        if pending:
            if not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
            if not self.writing_paused:
                self._pump_scheduled = True
                self._loop.call_soon(self._pump)
            return
        if self._pending_close is not None:
            self._fatal(*self._pending_close)
            return
        if self.strategy is None and self._check_before_hello():
            return
        self._resume_reading()

    def answer_read(self) -> None:
        """At shutdown: the requests read and still waiting for their turn are handled (past
        the turn's budget), and every reply is written."""
        if self.closing:
            return
        if self._pending:
            pending = list(self._pending)
            self._pending.clear()
            if not self._handle(pending, self._pending_t_in):
                return
        self._replies.write_all()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self.writing_paused and not self._pending and not self.closing:
            self._reading_paused = False
            if self._splitter.buffered:
                self.partial_since = time.monotonic()  # its wait restarts: we were not reading
            self.transport.resume_reading()

    # flow control: asyncio calls these as the unread replies cross the marks (pause_writing
    # from inside the write that passes the high mark; resume_writing once the strategy read
    # down to the low one)

    def pause_writing(self) -> None:
        self.writing_paused = self._replies.paused = True
        self.unread.piled_up(self._replies, time.monotonic())
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._replies.resume()  # the next part of what waits; may pause again at once
        if self.writing_paused:
            return
        self.unread.caught_up()
        if self._pending:
            if not self._pump_scheduled:
                self._pump_scheduled = True
                self._loop.call_soon(self._pump)
        else:
            self._resume_reading()

    def check_budgets(self, now: float) -> None:
        """Called about once a second: a partial frame waiting too long, a strategy that
        stopped reading its replies or reads them slower than they come."""
        if self.closing:
            return
        config = self._server.config
        if self.partial_since and not self._reading_paused and \
                now - self.partial_since > config.partial_frame_timeout_ms / 1000:
            self._fatal("bad_frame", f"a partial frame waited more than "
                                     f"{config.partial_frame_timeout_ms} ms for its end "
                                     "(partial_frame_timeout_ms)")
            return
        why = self.unread.verdict(self._replies, config, now)
        if why is not None:
            self._cut_off(why)

    def _cut_off(self, why: str) -> None:
        log.warning("strategy %s stopped reading (%s): disconnecting it", self.strategy or f"pid {self.peer_pid}",
                    why)
        self.mark_closed()
        self.transport.abort()

    def send(self, message) -> None:
        """Queue a frame (replaced by the connection's ReplyWriter.send once it is made)."""

    def _fatal(self, code: str, message: str) -> None:
        log.warning("closing strategy connection %s: %s", self.strategy or f"pid {self.peer_pid}", message)
        self.send(f.ProtocolError(code=code, message=message))
        self._replies.write_all()  # what was queued, then the error, then close
        self.mark_closed()
        self.transport.close()
        if self.transport.get_write_buffer_size():
            # close waits for the strategy to read what is buffered: one that reads nothing
            # would keep the connection (and its slot) for good
            self._loop.call_later(self._server.config.slow_reader_secs, self.transport.abort)

    def _bad_frame(self, answer: f.Ack | Close) -> bool:
        """Answer a frame that is no valid request; returns whether the connection is still open."""
        if isinstance(answer, Close):
            self._pending.clear()
            self._fatal(*answer)
            return False
        self._metrics.request_done("invalid", answer.error.code)
        self.send(answer)
        return True

    def mark_closed(self) -> None:
        self.closing = True
        self._pending.clear()
        if self._replies is not None:
            self._replies.closed = True
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    def connection_lost(self, exc) -> None:
        self.mark_closed()
        self._server.sessions.closed(self)


class StrategyServer:
    def __init__(self, config: ServerConfig, router: Router, sessions: Sessions, metrics: Metrics,
                 journal: Journal | None = None):
        self.config = config
        self.router = router
        self.sessions = sessions  # the one registry of open connections
        self.metrics = metrics
        self.journal = journal  # what is acknowledged is in it first
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task | None = None
        self.busy_poll = BusyPoll(config.busy_poll_us) if config.busy_poll_us > 0 else None
        self.admittance = Admittance(config, sessions)

    async def start(self) -> None:
        path = self.config.socket_path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise RuntimeError(f"socket_path {path} exists and is not a socket: refusing to replace it")
            if _socket_alive(path):
                raise RuntimeError(f"another gateway is serving {path}")
            os.unlink(path)  # left over from a crash
        _ensure_fd_limit(self.config.max_connections)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: StrategyConnection(self), path,
                                                     backlog=self.config.listen_backlog)
        self._inode = os.stat(path).st_ino
        os.chmod(path, self.config.socket_mode)
        self._sweeper = asyncio.ensure_future(self._sweep())
        log.info("serving strategies on %s (mode %04o, at most %d connections)", path, self.config.socket_mode,
                 self.config.max_connections)

    async def _sweep(self) -> None:
        """Once a second, what only time reveals: partial frames left hanging, strategies
        that stopped reading."""
        while True:
            await asyncio.sleep(min(1.0, self.config.slow_reader_secs / 2,
                                    self.config.partial_frame_timeout_ms / 2000))
            now = time.monotonic()
            for conn in list(self.sessions.open):
                if conn.partial_since or conn.unread.since:
                    conn.check_budgets(now)

    async def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def close(self) -> None:
        await self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.sessions.open):
            conn.answer_read()  # every request read is answered before the connection closes
            conn.mark_closed()
            conn.transport.close()  # what is buffered still leaves
        if self._server is None:
            return  # never listened: the path, whatever it is, is not ours
        # only the socket we made: never another gateway's, never a file that took its place
        try:
            st = os.lstat(self.config.socket_path)
        except FileNotFoundError:
            return
        if stat.S_ISSOCK(st.st_mode) and st.st_ino == self._inode:
            os.unlink(self.config.socket_path)


def _ensure_fd_limit(max_connections: int) -> None:
    """Raise the soft open-files limit to what max_connections needs (up to the hard limit);
    say so when even that is too low (systemd: LimitNOFILE=)."""
    need = max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < need:
        log.warning("open files limit %d is below max_connections %d + %d for venues and files: strategies "
                    "may be refused without a reply; raise LimitNOFILE (or lower max_connections)",
                    soft, max_connections, FD_RESERVE)


def _socket_alive(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
