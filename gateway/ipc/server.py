"""The strategy socket: a Unix stream socket, length-prefixed msgpack frames.

Requests are handled in arrival order as they are read, each to its reply
without waiting on a venue (gateway/router.py); the replies to one read
leave in one write. A frame that cannot be read gets one
`error` frame and closes that connection only; a frame that decodes but is
not a valid request gets an `ack` with the reason, and the connection stays.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.config import ServerConfig
from gateway.decoding import DECODE_ERRORS
from gateway.ipc import frames as f
from gateway.ipc.busypoll import BusyPoll
from gateway.router import Router

log = logging.getLogger("gateway.ipc")

_UCRED = struct.Struct("3i")


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
        self._splitter = FrameSplitter(server.config.max_frame_bytes)
        self._busy_poll = server.busy_poll
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self.transport: asyncio.Transport | None = None
        self.strategy: str | None = None
        self.cancel_on_disconnect = False
        self.peer_pid = self.peer_uid = self.peer_gid = -1
        self.closing = False

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
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Every request in these bytes handled to its reply; the replies leave in one write."""
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
        router = self._router
        decode = f.request_decoder.decode
        if payloads and not self._flush_scheduled:
            # the replies leave at the end of this loop turn, with every update the turn makes
            # for this strategy, in one write; scheduled before any venue's drain, so the acks
            # are written before those orders are signed and sent
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        for payload in payloads:
            t0 = time.perf_counter_ns()
            try:
                request = decode(payload)
            except msgspec.ValidationError as exc:
                if not self._invalid_request(payload, str(exc)):
                    return
                continue
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                close_after = ("bad_msgpack", f"frame is not msgpack: {exc}")
                break
            reply = router.handle(self, request, t_in, time.perf_counter_ns() - t0)
            if reply is not None:
                self.send(reply)
            if self.closing:
                return
        if close_after is not None:
            self._fatal(*close_after)

    def _invalid_request(self, payload: bytes, message: str) -> bool:
        """Ack a schema error when the frame has a req_id; else close. Returns whether still open."""
        try:
            raw = msgspec.msgpack.decode(payload)
        except DECODE_ERRORS:
            raw = None
        req_id = raw.get("req_id") if isinstance(raw, dict) else None
        if not isinstance(req_id, int) or isinstance(req_id, bool):
            self._fatal("bad_request", f"{message} (and no integer req_id to answer)")
            return False
        op = raw.get("op")
        if not isinstance(op, str) or op not in f.REQUEST_OPS:
            code, message = "unknown_op", f"unknown op {op!r}; known: {', '.join(sorted(f.REQUEST_OPS))}"
        else:
            code = _error_code(message)
        self._router.metrics.request_done("invalid", code)
        self.send(f.Ack(req_id=req_id, ok=False, error=f.ErrorInfo(code, message)))
        return True

    def send(self, message) -> None:
        """Queue a frame; all frames queued in one loop turn leave in one write.

        Under load acks and order updates are due at once: one system call
        instead of several (each of which may wake the strategy's process
        before we are done). A lone event waits only for the end of this turn.
        """
        if self.closing or self.transport is None:
            return
        self._out.append(encode_frame(f.encoder.encode(message)))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closing or not self._out:
            self._out.clear()
            return
        # nothing is acknowledged before the journal has it (the kernel's copy)
        self._router.commit()
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self._server.config.max_outbound_buffer_bytes:
            log.warning("strategy %s stopped reading: disconnecting it", self.strategy)
            self.closing = True
            self.transport.abort()

    def _fatal(self, code: str, message: str) -> None:
        log.warning("closing strategy connection %s: %s", self.strategy or f"pid {self.peer_pid}", message)
        self.send(f.ProtocolError(code=code, message=message))
        self._flush()  # what was queued, then the error, then close
        self.closing = True
        self.transport.close()

    def connection_lost(self, exc) -> None:
        self.closing = True
        self._server.connections.discard(self)
        to_cancel = self._router.disconnected(self)
        if to_cancel:
            log.info("cancel-on-disconnect: %d orders of %s", len(to_cancel), self.strategy)
            self._router.cancel_orders(to_cancel)


class StrategyServer:
    def __init__(self, config: ServerConfig, router: Router):
        self.config = config
        self.router = router
        self.connections: set[StrategyConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self.busy_poll = BusyPoll(config.busy_poll_us) if config.busy_poll_us > 0 else None
        self._uids = set(config.allowed_uids) | {os.getuid()}
        self._gids = set(config.allowed_gids)

    def peer_allowed(self, uid: int, gid: int) -> bool:
        return uid in self._uids or gid in self._gids

    async def start(self) -> None:
        path = self.config.socket_path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            if _socket_alive(path):
                raise RuntimeError(f"another gateway is serving {path}")
            os.unlink(path)  # left over from a crash
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: StrategyConnection(self), path)
        os.chmod(path, self.config.socket_mode)
        log.info("serving strategies on %s (mode %04o)", path, self.config.socket_mode)

    async def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def close(self) -> None:
        await self.stop_accepting()
        for conn in list(self.connections):
            if conn._out:
                conn._flush()  # every request read is answered before the connection closes
            conn.closing = True
            conn.transport.close()  # what is buffered still leaves
        try:
            os.unlink(self.config.socket_path)
        except FileNotFoundError:
            pass


def _socket_alive(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
