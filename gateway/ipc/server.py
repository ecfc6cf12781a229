"""The strategy socket: a Unix stream socket, length-prefixed msgpack frames.

Requests are handled in arrival order as they are read, each to its reply
without waiting on a venue (gateway/router.py); the replies to one read
leave in one write, before that read's callback returns. A frame that cannot be read gets one
`error` frame and closes that connection only; a frame that decodes but is
not a valid request gets an `ack` with the reason, and the connection stays.

One client cannot hurt the others (README "Limits"): at most
max_requests_per_turn of a connection's requests are handled per loop turn,
the rest wait with the connection unread; a strategy whose unread replies
pass reply_backpressure_bytes is not read until it catches up, and is cut
off only when they stop shrinking for slow_reader_secs; bytes before hello,
a partial frame's wait and the number of connections are capped; every
client string echoed or logged is clipped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import stat
import struct
import sys
import time
from collections import deque

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.config import ServerConfig
from gateway.decoding import DECODE_ERRORS
from gateway.ipc import frames as f
from gateway.ipc.busypoll import BusyPoll
from gateway.ipc.sessions import Sessions
from gateway.metrics import Metrics
from gateway.orders.journal import Journal
from gateway.router import Router
from gateway.validation import clip

log = logging.getLogger("gateway.ipc")

_UCRED = struct.Struct("3i")
# msgspec's generic decoder stops at the interpreter's recursion limit; above CPython's
# default (something raised it) a deep frame could exhaust the C stack first
SAFE_RECURSION_LIMIT = 1000
# msgpack objects walked to find a deep frame's req_id: a bounded cost per frame
MAX_WALK_ITEMS = 4096
# descriptors besides strategy connections: venues' HTTP pools and streams, journal, nonces, metrics
FD_RESERVE = 256


def _error_code(message: str) -> str:
    if "missing required field" in message:
        return "missing_field"
    if "`$.op`" in message:
        return "unknown_op"
    return "bad_field"


class StrategyConnection(asyncio.Protocol):
    def __init__(self, server: StrategyServer):
        self._server = server
        self._router = server.router
        self._metrics = server.metrics
        self._journal = server.journal
        config = server.config
        self._splitter = FrameSplitter(config.max_frame_bytes)
        self._busy_poll = server.busy_poll
        self._per_turn = config.max_requests_per_turn
        self._out: list[bytes] = []
        self._flush_scheduled = False
        # while requests are handled, their replies gather and leave together at the end
        self._gathering = False
        # the journal cannot write: the replies wait for it (it calls _journal_written)
        self._waiting_journal = False
        self.transport: asyncio.Transport | None = None
        self.strategy: str | None = None  # once it said hello
        self.peer_pid = self.peer_uid = self.peer_gid = -1
        self.closing = False
        # requests read but not handled yet (past one turn's budget), their read time, and
        # the error that ends the stream after them
        self._pending: deque[bytes] = deque()
        self._pending_t_in = 0
        self._pending_close: tuple[str, str] | None = None
        self._pump_scheduled = False
        self._reading_paused = False
        self.writing_paused = False
        # monotonic time a partial frame started waiting (0: none); of the last drain of unread replies
        self.partial_since = 0.0
        self.unread_since = 0.0
        self.unread_low = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()  # once: each lookup costs a getpid() on 3.11
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.peer_pid, self.peer_uid, self.peer_gid = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        if not self._server.peer_allowed(self.peer_uid, self.peer_gid):
            log.warning("refused peer pid %s uid %s gid %s", self.peer_pid, self.peer_uid, self.peer_gid)
            self._fatal("peer_refused", f"uid {self.peer_uid} / gid {self.peer_gid} may not use this gateway")
            return
        limit = self._server.config.max_connections
        sessions = self._server.sessions
        if len(sessions.open) >= limit:
            log.warning("refused strategy connection from pid %s uid %s: %d connections open, max_connections = %d",
                        self.peer_pid, self.peer_uid, len(sessions.open), limit)
            self._fatal("too_many_connections",
                        f"the gateway serves at most {limit} connections (max_connections); try again later")
            return
        # replies above the mark pause this connection's reading (pause_writing below)
        transport.set_write_buffer_limits(high=self._server.config.reply_backpressure_bytes)
        sessions.opened(self)

    def said_hello(self, strategy: str) -> None:
        self.strategy = strategy

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
            # (README "Latency": the ack never includes the signature). uvloop queues a write
            # made here to the end of this poll phase; lines run in a later pass.
            self._gathering = True
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
                self._gathering = False
                self._flush_now()
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
                if not self._invalid_request(payload, str(exc)):
                    return False
                continue
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                if not self._undecodable(payload, exc):
                    return False
                continue
            reply = router.handle(self, request, t_in, time.perf_counter_ns() - t0)
            if reply is not None:
                self.send(reply)
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
            gathering, self._gathering = self._gathering, True
            handled = self._handle(batch, self._pending_t_in)
            self._gathering = gathering
            if not gathering:
                self._flush_now()  # these replies leave before the lines take up what they accepted
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
        if self._out:
            self._flush()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self.writing_paused and not self._pending and not self.closing:
            self._reading_paused = False
            if self._splitter.buffered:
                self.partial_since = time.monotonic()  # its wait restarts: we were not reading
            self.transport.resume_reading()

    def _check_before_hello(self) -> bool:
        """Before hello a client may hold only a few bytes here; returns whether it was cut off."""
        if self._splitter.buffered > self._server.config.max_bytes_before_hello:
            self._too_much_before_hello(self._splitter.buffered)
            return True
        return False

    def _too_much_before_hello(self, size: int) -> None:
        self._pending.clear()
        self._fatal("bad_frame", f"a frame before hello may hold at most "
                                 f"{self._server.config.max_bytes_before_hello} bytes (max_bytes_before_hello); "
                                 f"got {size} or more")

    # flow control: asyncio calls these as the unread replies cross the marks

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.unread_since = time.monotonic()
        self.unread_low = self.transport.get_write_buffer_size()
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._pending:
            if not self._pump_scheduled:
                self._pump_scheduled = True
                self._loop.call_soon(self._pump)
        else:
            self._resume_reading()

    def check_budgets(self, now: float) -> None:
        """Called about once a second: a partial frame waiting too long, a strategy that
        stopped reading its replies."""
        if self.closing:
            return
        if self.partial_since and not self._reading_paused and \
                now - self.partial_since > self._server.config.partial_frame_timeout_ms / 1000:
            self._fatal("bad_frame", f"a partial frame waited more than "
                                     f"{self._server.config.partial_frame_timeout_ms} ms for its end "
                                     "(partial_frame_timeout_ms)")
            return
        if self.writing_paused:
            unread = self.transport.get_write_buffer_size()
            if unread < self.unread_low:
                self.unread_low, self.unread_since = unread, now  # it reads: judged from here
            elif now - self.unread_since > self._server.config.slow_reader_secs:
                self._cut_off(f"{unread} bytes of replies unread for "
                              f"{self._server.config.slow_reader_secs:g} s")

    def _cut_off(self, why: str) -> None:
        log.warning("strategy %s stopped reading (%s): disconnecting it", self.strategy or f"pid {self.peer_pid}",
                    why)
        self.closing = True
        self._pending.clear()
        self.transport.abort()

    def _undecodable(self, payload: bytes, exc: Exception) -> bool:
        """A frame msgspec cannot read: nested too deep gets an error ack when it names a
        req_id; anything else closes. Returns whether still open."""
        req_id = _top_level_scalars(payload).get("req_id") if isinstance(exc, RecursionError) else None
        if isinstance(req_id, bool) or not isinstance(req_id, int):
            req_id = None
        if req_id is None:
            self._pending.clear()
            self._fatal("bad_msgpack", f"frame is not msgpack: {clip(str(exc))}")
            return False
        self._metrics.request_done("invalid", "bad_field")
        self.send(f.Ack(req_id=req_id, ok=False, error=f.ErrorInfo(
            "bad_field", "frame nested too deep to read; requests are flat maps")))
        return True

    def _invalid_request(self, payload: bytes, message: str) -> bool:
        """Ack a schema error when the frame has a req_id; else close. Returns whether still open."""
        message = clip(message)
        try:
            raw = _decode_generic(payload)
        except RecursionError as exc:
            return self._undecodable(payload, exc)
        except DECODE_ERRORS:
            raw = None
        if not isinstance(raw, dict):
            raw = {}
        req_id = raw.get("req_id")
        if not isinstance(req_id, int) or isinstance(req_id, bool):
            self._pending.clear()
            self._fatal("bad_request", f"{message} (and no integer req_id to answer)")
            return False
        op = raw.get("op")
        if not isinstance(op, str) or op not in f.REQUEST_OPS:
            code = "unknown_op"
            message = f"unknown op {clip(repr(op), 64)}; known: {', '.join(sorted(f.REQUEST_OPS))}"
        else:
            code = _error_code(message)
        self._metrics.request_done("invalid", code)
        self.send(f.Ack(req_id=req_id, ok=False, error=f.ErrorInfo(code, message)))
        return True

    def send(self, message) -> None:
        """Queue a frame; all frames queued in one loop turn leave in one write.

        Under load acks and order updates are due at once: one system call
        instead of several (each of which may wake the strategy's process
        before we are done). A lone event waits only for the end of this turn;
        the replies to requests leave at the end of the read that brought them.
        """
        if self.closing or self.transport is None:
            return
        self._out.append(encode_frame(f.encoder.encode(message)))
        if not (self._flush_scheduled or self._gathering or self._waiting_journal):
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush_now(self) -> None:
        if self._out and not self._waiting_journal:
            self._flush()

    def _journal_written(self) -> None:
        self._waiting_journal = False
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closing or not self._out:
            self._out.clear()
            return
        # nothing is acknowledged before the journal has it (the kernel's copy)
        journal = self._journal
        if journal is not None and not journal.flush_or_wait(self._journal_written):
            self._waiting_journal = True  # it cannot write now: these replies wait for it
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self._server.config.max_outbound_buffer_bytes:
            # events pile up for a strategy that reads nothing; its own requests cannot (backpressure)
            self._cut_off(f"more than {self._server.config.max_outbound_buffer_bytes} bytes unread "
                          "(max_outbound_buffer_bytes)")

    def _fatal(self, code: str, message: str) -> None:
        log.warning("closing strategy connection %s: %s", self.strategy or f"pid {self.peer_pid}", message)
        self.send(f.ProtocolError(code=code, message=message))
        self._flush()  # what was queued, then the error, then close
        self.closing = True
        self.transport.close()

    def connection_lost(self, exc) -> None:
        self.closing = True
        self._pending.clear()
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
        self._uids = set(config.allowed_uids) | {os.getuid()}
        self._gids = set(config.allowed_gids)

    def peer_allowed(self, uid: int, gid: int) -> bool:
        return uid in self._uids or gid in self._gids

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
                if conn.partial_since or conn.writing_paused:
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
            conn.closing = True
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


# msgpack type bytes -> (bytes of length prefix, or fixed size), for walking a frame msgspec refused
_FIXED = {0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
          0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
_SIZED = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}  # bin, str: length then bytes
_EXT = {0xc7: 1, 0xc8: 2, 0xc9: 4}  # length, type byte, bytes
_ARRAY = {0xdc: 2, 0xdd: 4}
_MAP = {0xde: 2, 0xdf: 4}


def _top_level_scalars(payload: bytes) -> dict:
    """`req_id` and `op` of a top-level msgpack map, when scalars, found without recursion
    (the frame may nest deeper than any decoder goes), up to where it is unreadable."""
    found = {}
    try:
        b = payload[0]
        if 0x80 <= b <= 0x8f:
            pairs, pos = b & 0x0f, 1
        elif b in _MAP:
            n = _MAP[b]
            pairs, pos = int.from_bytes(payload[1:1 + n], "big"), 1 + n
        else:
            return found
        for _ in range(pairs):
            key_start = pos
            pos = _skip(payload, pos)
            value_start = pos
            pos = _skip(payload, pos)
            key = payload[key_start:value_start]
            if len(key) <= 9 and not _is_container(payload[value_start]):
                name = msgspec.msgpack.decode(key)
                if name in ("req_id", "op"):
                    found[name] = msgspec.msgpack.decode(payload[value_start:pos])
    except (IndexError, msgspec.DecodeError, UnicodeDecodeError):
        pass  # what came before the unreadable (or too long) rest still answers
    return found


def _is_container(b: int) -> bool:
    return 0x80 <= b <= 0x9f or b in _ARRAY or b in _MAP


def _decode_generic(payload: bytes):
    """msgspec's generic decode, its depth bounded by CPython's default recursion limit."""
    limit = sys.getrecursionlimit()
    if limit <= SAFE_RECURSION_LIMIT:
        return msgspec.msgpack.decode(payload)
    try:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
    except RecursionError:
        raise RecursionError("called too deep to decode safely") from None
    try:
        return msgspec.msgpack.decode(payload)
    finally:
        sys.setrecursionlimit(limit)


def _skip(data: bytes, pos: int) -> int:
    """The offset just past the msgpack object at pos; containers counted, never recursed;
    IndexError past MAX_WALK_ITEMS objects."""
    open_ = [1]  # objects still to read at each open container level
    walked = 0
    while open_:
        if not open_[-1]:
            open_.pop()
            continue
        walked += 1
        if walked > MAX_WALK_ITEMS:
            raise IndexError("too many objects to walk")
        open_[-1] -= 1
        b = data[pos]
        pos += 1
        children = 0
        if b <= 0x7f or b >= 0xe0:
            continue
        if b <= 0x8f:
            children = 2 * (b & 0x0f)
        elif b <= 0x9f:
            children = b & 0x0f
        elif b <= 0xbf:
            pos += b & 0x1f
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED:
            n = _SIZED[b]
            pos += n + int.from_bytes(data[pos:pos + n], "big")
        elif b in _EXT:
            n = _EXT[b]
            pos += n + 1 + int.from_bytes(data[pos:pos + n], "big")
        elif b in _ARRAY:
            n = _ARRAY[b]
            children = int.from_bytes(data[pos:pos + n], "big")
            pos += n
        elif b in _MAP:
            n = _MAP[b]
            children = 2 * int.from_bytes(data[pos:pos + n], "big")
            pos += n
        else:
            raise IndexError(f"msgpack type byte {b:#x} is reserved")
        if pos > len(data):
            raise IndexError("truncated")
        if b <= 0x9f or b in _ARRAY or b in _MAP:
            open_.append(children)
    return pos
