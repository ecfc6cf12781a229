"""Shared pieces of the fuzz tests: example budgets, and the real StrategyConnection
driven through a fake transport (no socket, no venue)."""
from __future__ import annotations

import asyncio
import os
import socket
import struct

import msgspec

from gateway._core.framing import FrameSplitter, encode_frame
from gateway.config import RiskConfig, ServerConfig
from gateway.ipc import frames as f
from gateway.ipc.server import StrategyConnection, StrategyServer
from gateway.risk import RiskLimits
from gateway.assembly import Parts, assemble

# HYPOTHESIS_PROFILE=long multiplies every budget by 50; FUZZ_SCALE=N by N (both: the product)
SCALE = int(os.environ.get("FUZZ_SCALE", "1")) * (50 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 1)


def examples(n: int) -> int:
    return max(1, n * SCALE)


# README "Strategy protocol": the ack error codes and the codes of the closing `error` frame
ACK_CODES = frozenset("""hello_required already_hello strategy_in_use unknown_op missing_field bad_field
bad_decimal bad_price bad_quantity unknown_venue unknown_symbol duplicate_client_order_id risk_limit
unknown_order not_your_order order_closed order_pending unsupported venue_unavailable internal
instrument_unavailable strategy_halted strategy_reducing operator_only""".split())
CLOSE_CODES = frozenset({"bad_frame", "bad_msgpack", "bad_request", "peer_refused"})
# one of these per request frame
ANSWERS = (f.Ack, f.Pong, f.OrdersReply, f.StatusReply, f.RiskReply, f.RiskStatesReply, f.ReloadReply,
           f.InstrumentsReply, f.PositionsReply)


class FakeSocket:
    """What StrategyConnection asks the transport's socket: SO_PEERCRED of ourselves."""

    def getsockopt(self, level, option, size):
        assert (level, option) == (socket.SOL_SOCKET, socket.SO_PEERCRED)
        return struct.pack("3i", os.getpid(), os.getuid(), os.getgid())


class FakeTransport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.writes_after_close = 0

    def get_extra_info(self, name, default=None):
        return FakeSocket() if name == "socket" else default

    def write(self, data):
        if self.closed:
            self.writes_after_close += 1
        self.written += data

    def get_write_buffer_size(self):
        return 0

    # flow control, as the server uses it (nothing here ever fills up)
    def set_write_buffer_limits(self, high=None, low=None):
        self.high_water = high

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def is_closing(self):
        return self.closed


class Harness:
    """One event loop, one order path (no venues), one StrategyServer; a fresh connection per case."""

    def __init__(self, max_frame: int = 65536):
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict] = []
        self.loop.set_exception_handler(lambda loop, ctx: self.loop_errors.append(ctx))
        self.parts = parts = assemble(RiskLimits(RiskConfig()), closed_ttl_ns=10**12)
        # the cap on bytes before hello has its own tests (tests/integration/test_budgets.py);
        # here any frame up to max_frame goes through the request path
        self.server = StrategyServer(ServerConfig(socket_path="/nonexistent/fuzz.sock",
                                                  max_frame_bytes=max_frame, max_bytes_before_hello=max_frame),
                                     parts.router, parts.sessions, parts.metrics)
        self._n = 0

    def close(self):
        self.loop.close()

    def run(self, chunks: list[bytes]) -> tuple[StrategyConnection, FakeTransport, list]:
        """Feed chunks to a new connection as the loop would, then let its replies go out.
        Returns the connection, its transport and the decoded frames it wrote. Any exception
        out of data_received propagates (that is what the property forbids)."""
        async def go():
            conn = StrategyConnection(self.server)
            transport = FakeTransport()
            conn.connection_made(transport)
            try:
                for chunk in chunks:
                    # as a real transport would: no bytes while the connection paused reading
                    while getattr(transport, "reading_paused", False) and not transport.closed:
                        await asyncio.sleep(0)
                    conn.data_received(chunk)
                    await asyncio.sleep(0)
                for _ in range(1000):
                    if not conn._replies.queued and not conn._pending:
                        break
                    await asyncio.sleep(0)
                await asyncio.sleep(0)
            finally:
                conn.connection_lost(None)
            return conn, transport

        conn, transport = self.loop.run_until_complete(go())
        splitter = FrameSplitter(1 << 30)
        out = [f.reply_decoder.decode(p) for p in splitter.feed(bytes(transport.written))]
        assert splitter.buffered == 0, "the gateway wrote half a frame"
        return conn, transport, out

    def hello_frame(self) -> bytes:
        self._n += 1
        return encode_frame(f.encoder.encode(f.Hello(req_id=-1, strategy=f"fuzz-{self._n}")))


def frame(payload: bytes) -> bytes:
    return encode_frame(payload)


def generic(payload: bytes):
    try:
        return msgspec.msgpack.decode(payload)
    except Exception:  # noqa: BLE001
        return None
