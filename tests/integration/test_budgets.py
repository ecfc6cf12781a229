"""Per-connection budgets on the strategy socket: one client, however hostile
(an allowed uid), cannot take the gateway's memory, stall its loop or crowd
out the others. RSS and another client's ping are asserted with generous
bounds (a shared machine): the failures they catch are hundreds of MB and
seconds."""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
import sys

import msgspec

from gateway.ipc import frames as f
from tests.integration.harness import run_gateway, strategy
from tests.integration.test_protocol import hello, raw_connection, read_reply, send_raw


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def server_option(text: str):
    return lambda t: t.replace("max_frame_bytes = 65536", text)


def frame(obj) -> bytes:
    payload = msgspec.msgpack.encode(obj)
    return struct.pack(">I", len(payload)) + payload


async def read_error_or_eof(reader, timeout_s: float = 20):
    """The error frame the gateway sends before it closes (None if it just closed), then EOF."""
    try:
        reply = await read_reply_within(reader, timeout_s)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    assert await asyncio.wait_for(reader.read(), timeout_s) == b""
    return reply


async def read_reply_within(reader, timeout_s):
    head = await asyncio.wait_for(reader.readexactly(4), timeout_s)
    return f.reply_decoder.decode(await asyncio.wait_for(reader.readexactly(struct.unpack(">I", head)[0]),
                                                         timeout_s))


async def worst_ping_ns(client, stop: asyncio.Event) -> int:
    worst = 0
    while not stop.is_set():
        worst = max(worst, await client.ping())
        await asyncio.sleep(0.01)
    return worst


def test_partial_frames_before_hello_are_capped(tmp_path):
    """200 connections each start a 1 MiB frame before hello: each is cut off after a few
    KiB, so the gateway's memory stays put (unbounded, it held 200 MiB)."""
    conns = 200

    def hog(path: str, i: int, out: list) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        try:
            s.sendall(struct.pack(">I", (1 << 20) - 1) + b"\x00" * ((1 << 20) - 2))
        except OSError:
            pass  # cut off mid-write: the point
        out.append(s)

    async def scenario(gw):
        path = gw.config.server.socket_path
        loop = asyncio.get_running_loop()
        before = rss_bytes()
        socks: list[socket.socket] = []
        stop = asyncio.Event()
        async with strategy(gw, "bystander") as other:
            watcher = asyncio.ensure_future(worst_ping_ns(other, stop))
            for start in range(0, conns, 20):
                await asyncio.gather(*(loop.run_in_executor(None, hog, path, i, socks)
                                       for i in range(start, start + 20)))
            grown = rss_bytes() - before
            stop.set()
            worst = await watcher
        for s in socks:
            s.close()
        assert grown < 64 << 20, f"RSS grew {grown >> 20} MiB for {conns} partial frames before hello"
        assert worst < 2_000_000_000, f"another client's ping took {worst / 1e6:.0f} ms"

    run_gateway(tmp_path, scenario, timeout_s=120, edit=server_option("max_frame_bytes = 1048576"))


def test_a_frame_before_hello_above_the_cap_is_refused_with_the_reason(tmp_path):
    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        writer.write(frame({"op": "hello", "req_id": 1, "strategy": "x" * 10, "pad": "y" * 5000}))
        err = await read_error_or_eof(reader)
        assert isinstance(err, f.ProtocolError) and err.code == "bad_frame"
        assert "before hello may hold at most 4096 bytes" in err.message
        writer.close()
        # after hello, frames up to max_frame_bytes are fine
        reader, writer = await raw_connection(gw)
        await hello(reader, writer)
        await send_raw(writer, msgspec.msgpack.encode({"op": "ping", "req_id": 9, "pad": "y" * 30000}))
        ack = await read_reply(reader)
        assert ack.req_id == 9 and ack.error.code == "bad_field"
        writer.close()

    run_gateway(tmp_path, scenario)


def test_a_partial_frame_that_never_ends_is_cut_off(tmp_path):
    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        await hello(reader, writer)
        writer.write(struct.pack(">I", 1000) + b"\x80" * 10)  # 10 bytes of a 1000-byte frame, then nothing
        await writer.drain()
        err = await read_error_or_eof(reader)
        assert isinstance(err, f.ProtocolError) and err.code == "bad_frame"
        assert "partial frame waited more than 300 ms" in err.message
        async with strategy(gw, "fine") as s:
            assert await s.ping() > 0

    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 65536\npartial_frame_timeout_ms = 300"))


def test_a_flood_of_requests_from_a_slow_reader_is_paced_not_cut_off(tmp_path):
    """200,000 pings written at once by a client that reads its pongs slowly: the gateway
    stops reading it while its replies are unread (backpressure) instead of buffering them
    until it cuts it off as "not reading"; it gets every pong, in order; the gateway's memory
    and another client's pings stay fine."""
    n = 200_000

    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "flood")
        before = rss_bytes()
        stop = asyncio.Event()
        peak = [0]

        async def write_all():
            ping = b"".join(frame({"op": "ping", "req_id": i}) for i in range(n))
            writer.write(ping)
            await writer.drain()

        async def read_slowly():
            splitter_buf = b""
            seen = 0
            while seen < n:
                chunk = await asyncio.wait_for(reader.read(16384), 30)
                assert chunk, f"cut off after {seen} pongs"
                splitter_buf += chunk
                while len(splitter_buf) >= 4:
                    size = struct.unpack(">I", splitter_buf[:4])[0]
                    if len(splitter_buf) < 4 + size:
                        break
                    reply = f.reply_decoder.decode(splitter_buf[4:4 + size])
                    splitter_buf = splitter_buf[4 + size:]
                    assert isinstance(reply, f.Pong) and reply.req_id == seen, reply
                    seen += 1
                peak[0] = max(peak[0], rss_bytes() - before)
                await asyncio.sleep(0.002)
            return seen

        async with strategy(gw, "bystander") as other:
            watcher = asyncio.ensure_future(worst_ping_ns(other, stop))
            writing = asyncio.ensure_future(write_all())
            assert await read_slowly() == n
            await writing
            stop.set()
            worst = await watcher
        assert "flood" in gw.parts.sessions.strategies
        assert peak[0] < 128 << 20, f"RSS grew {peak[0] >> 20} MiB"
        assert worst < 2_000_000_000, f"another client's ping took {worst / 1e6:.0f} ms"
        writer.close()

    run_gateway(tmp_path, scenario, timeout_s=180, edit=server_option(
        "max_frame_bytes = 65536\nmax_outbound_buffer_bytes = 2097152\nreply_backpressure_bytes = 262144"))


def test_one_write_of_many_requests_is_handled_over_several_turns(tmp_path):
    """A connection's requests beyond max_requests_per_turn wait for the next turn with the
    connection unread: another client's ping, sent after the flood is read, is answered
    before the flood's last pong."""
    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "flood")
        conn = next(c for c in gw.parts.sessions.open if c.strategy == "flood")
        seen_pending = asyncio.Event()
        orig = conn._pump

        def pump():
            if len(conn._pending) > 100:
                seen_pending.set()
            orig()

        conn._pump = pump
        writer.write(b"".join(frame({"op": "ping", "req_id": i}) for i in range(2000)))
        await writer.drain()
        await asyncio.wait_for(seen_pending.wait(), 20)
        got = 0
        while got < 2000:
            reply = await read_reply(reader)
            assert isinstance(reply, f.Pong) and reply.req_id == got
            got += 1
        writer.close()

    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 65536\nmax_requests_per_turn = 16"))


def test_max_connections_refuses_with_a_reason_and_a_log_line(tmp_path, caplog):
    async def scenario(gw):
        held = []
        for i in range(5):
            reader, writer = await raw_connection(gw)
            await hello(reader, writer, f"s{i}")
            held.append(writer)
        with caplog.at_level(logging.WARNING, logger="gateway.ipc"):
            reader, writer = await raw_connection(gw)
            err = await read_error_or_eof(reader)
        assert isinstance(err, f.ProtocolError) and err.code == "too_many_connections"
        assert "at most 5 connections" in err.message
        assert any("max_connections = 5" in r.getMessage() for r in caplog.records)
        held.pop().close()
        for _ in range(200):
            if len(gw.parts.sessions.open) < 5:
                break
            await asyncio.sleep(0.02)
        async with strategy(gw, "late") as s:
            assert await s.ping() > 0
        for w in held:
            w.close()

    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 65536\nmax_connections = 5"))


def test_listen_backlog_is_configurable(tmp_path):
    async def scenario(gw):
        out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, check=True).stdout
        line = next(l for l in out.splitlines() if gw.config.server.socket_path in l)
        assert line.split()[3] == "7", line  # a listening socket's Send-Q is its backlog

    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 65536\nlisten_backlog = 7"))


def test_client_fields_are_clipped_in_replies_and_logs(tmp_path, caplog):
    """A 1 MB unknown field name comes back in a short error, and no log line carries it."""
    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        await hello(reader, writer)
        with caplog.at_level(logging.DEBUG):
            big = "z" * 1_000_000
            await send_raw(writer, msgspec.msgpack.encode({"op": "ping", "req_id": 5, big: 1}))
            ack = await read_reply(reader)
            assert ack.req_id == 5 and ack.error.code == "bad_field"
            assert len(ack.error.message) < 400 and "chars)" in ack.error.message
            await send_raw(writer, msgspec.msgpack.encode({"op": big, "req_id": 6}))
            ack = await read_reply(reader)
            assert ack.error.code == "unknown_op" and len(ack.error.message) < 400
            await send_raw(writer, msgspec.msgpack.encode({"op": "place", "req_id": 7, "venue": big,
                                                            "client_order_id": "c1", "symbol": "ETH-PERP",
                                                            "side": "buy", "quantity": "1", "price": "1"}))
            ack = await read_reply(reader)
            assert ack.req_id == 7 and not ack.ok and len(ack.error.message) < 400
            await send_raw(writer, msgspec.msgpack.encode({big: 1}))  # no req_id: closed, and logged
            err = await read_error_or_eof(reader)
            assert err.code == "bad_request" and len(err.message) < 400
        assert caplog.records
        assert all(len(r.getMessage()) < 1000 for r in caplog.records)

    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 2097152"))


def test_a_deeply_nested_frame_with_a_req_id_gets_an_error_ack(tmp_path):
    async def scenario(gw):
        reader, writer = await raw_connection(gw)
        await hello(reader, writer)
        deep = b"\x83\xa2op\xa4ping\xa6req_id\x07\xa1x" + b"\x91" * 50_000 + b"\x01"
        await send_raw(writer, deep)
        ack = await read_reply(reader)
        assert isinstance(ack, f.Ack) and ack.req_id == 7 and ack.error.code == "bad_field"
        assert "nested too deep" in ack.error.message
        deep_first = b"\x83\xa1x" + b"\x91" * 3000 + b"\x01" + b"\xa2op\xa4ping\xa6req_id\x08"
        await send_raw(writer, deep_first)
        ack = await read_reply(reader)
        assert ack.req_id == 8 and ack.error.code == "bad_field" and "nested too deep" in ack.error.message
        await send_raw(writer, msgspec.msgpack.encode({"op": "ping", "req_id": 9}))
        assert (await read_reply(reader)).req_id == 9  # still connected
        writer.close()

    import sys

    # as hypothesis does: a raised recursion limit must not let a deep frame reach the C stack
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        run_gateway(tmp_path, scenario)
    finally:
        sys.setrecursionlimit(limit)


def test_open_files_limit_is_raised_for_max_connections_or_said(tmp_path):
    code = """
import logging, resource, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
from gateway.ipc.server import _ensure_fd_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (64, int(sys.argv[1])))
_ensure_fd_limit(1024)
print("soft", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""
    raised = subprocess.run([sys.executable, "-c", code, "4096"], capture_output=True, text=True, check=True)
    assert "soft 1280" in raised.stdout and "LimitNOFILE" not in raised.stdout
    short = subprocess.run([sys.executable, "-c", code, "512"], capture_output=True, text=True, check=True)
    assert "soft 512" in short.stdout and "raise LimitNOFILE" in short.stdout
