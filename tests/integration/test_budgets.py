"""Per-connection budgets on the strategy socket: one client, however hostile
(an allowed uid), cannot take the gateway's memory, stall its loop or crowd
out the others. RSS and another client's ping are asserted with generous
bounds (a shared machine): the failures they catch are hundreds of MB and
seconds."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import subprocess
import sys

import msgspec

from gateway.ipc import frames as f
from gateway.ipc.client import GatewayError
from gateway.orders.model import Status
from tests.integration.harness import run_gateway, strategy
from tests.integration.test_protocol import (
    hello, raw_connection, read_orders_pages, read_reply, send_raw, track_orders,
)


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


async def held_and_refused(gw, count: int) -> tuple[list, list]:
    """count raw connections that never say hello: those the gateway keeps, each as (its error
    frame and EOF to come: a task, its writer), and the error frames of those it refused."""
    conns = []
    for _ in range(count):
        reader, writer = await raw_connection(gw)
        conns.append((asyncio.ensure_future(read_error_or_eof(reader, 60)), writer))
    await asyncio.sleep(0.3)  # each was accepted or refused by now
    held = [(t, w) for t, w in conns if not t.done()]
    refused = [t.result() for t, _ in conns if t.done()]
    for t, w in conns:
        if t.done():
            w.close()
    return held, refused


def test_connections_that_never_say_hello_are_closed_with_the_reason(tmp_path):
    """hello_timeout_ms: a connection without hello is closed with a `hello_timeout` error
    frame (they used to keep their slot for as long as they liked: 92 s and counting); one
    that said hello is not."""
    async def scenario(gw):
        held, refused = await held_and_refused(gw, 10)
        assert len(held) == 10 and not refused
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "prompt")
        for closed, _ in held:
            err = await asyncio.wait_for(closed, 10)
            assert isinstance(err, f.ProtocolError) and err.code == "hello_timeout", err
            assert "no hello within 2000 ms" in err.message and "hello_timeout_ms" in err.message
        assert [c.strategy for c in gw.parts.sessions.open] == ["prompt"]
        await send_raw(writer, msgspec.msgpack.encode({"op": "ping", "req_id": 2}))
        assert (await read_reply(reader)).req_id == 2  # past the timeout, still served
        writer.close()

    # well above held_and_refused's 0.3 s look (at 300 ms a loaded machine closed some before it)
    run_gateway(tmp_path, scenario, edit=server_option("max_frame_bytes = 65536\nhello_timeout_ms = 2000"))


def test_a_flood_of_connections_without_hello_locks_no_strategy_out(tmp_path, caplog):
    """As found: more raw connections than max_connections, none says hello, then strategies
    connect (every one used to get too_many_connections for as long as the flood stayed). Now
    the flooding process holds at most max_connections_per_peer (the rest get
    too_many_peer_connections naming it); a strategy in another process is served at once;
    one in the flooding process itself is its own peer and gets in once the hello timeout has
    closed the flood's connections: reconnecting, it is served."""
    async def scenario(gw):
        sock = gw.config.server.socket_path
        with caplog.at_level(logging.WARNING, logger="gateway.ipc"):
            held, refused = await held_and_refused(gw, 20)
        assert len(held) == 6 and len(gw.parts.sessions.open) == 6
        assert len(refused) == 14 and all(e.code == "too_many_peer_connections" for e in refused), refused
        assert f"process {os.getpid()} holds 6 connections" in refused[0].message
        assert "max_connections_per_peer" in refused[0].message
        assert any("max_connections_per_peer = 6" in r.getMessage() and str(os.getpid()) in r.getMessage()
                   for r in caplog.records)
        # another process: its own peer, served while the flood holds its slots
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "order", "ping", "--socket", sock, "--strategy", "elsewhere",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and out.startswith(b"pong in "), err
        assert len(gw.parts.sessions.open) == 6
        # this process reconnects until it is served: the hello timeout frees its slots
        codes = []
        while True:
            try:
                async with strategy(gw, "back") as s:
                    assert await s.ping() > 0
                    break
            except GatewayError as exc:
                codes.append(exc.code)
                await asyncio.sleep(0.1)
        assert set(codes) <= {"too_many_peer_connections"}
        for closed, w in held:
            assert (await asyncio.wait_for(closed, 10)).code == "hello_timeout"
            w.close()

    run_gateway(tmp_path, scenario, timeout_s=90, edit=server_option(
        "max_frame_bytes = 65536\nmax_connections = 16\nmax_connections_per_peer = 6\nhello_timeout_ms = 1500"))


def test_when_every_slot_is_taken_one_without_hello_makes_room(tmp_path):
    """A flood spread over many peers fills every slot with connections that say nothing: a
    new connection takes the slot of the oldest of them (closed with too_many_connections and
    why), so a strategy that reconnects is served at once; when every slot holds a strategy
    that said hello, the new one is refused as before."""
    async def scenario(gw):
        held, refused = await held_and_refused(gw, 8)
        assert len(held) == 8 and not refused
        async with strategy(gw, "back") as s:
            assert await s.ping() > 0
            err = await asyncio.wait_for(held[0][0], 5)
            assert err.code == "too_many_connections" and "had not said hello" in err.message
            assert "closed to make room" in err.message
            assert not any(t.done() for t, _ in held[1:])
            assert len(gw.parts.sessions.open) == 8
        for t, w in held:
            t.cancel()
            w.close()

    run_gateway(tmp_path, scenario, edit=server_option(
        "max_frame_bytes = 65536\nmax_connections = 8\nmax_connections_per_peer = 100\nhello_timeout_ms = 60000"))


def streaming_option(orders: int):
    """Scaled down: a 64 KiB ceiling and 8 KiB mark, where the field has 8 MiB and 1 MiB."""
    def edit(text: str) -> str:
        text = server_option("max_frame_bytes = 65536\nmax_outbound_buffer_bytes = 65536\n"
                             "reply_backpressure_bytes = 8192\nslow_reader_secs = 1")(text)
        text = text.replace("max_open_orders = 50", f"max_open_orders = {orders + 10}")
        return text.replace("[venues.sim]", "max_queued_requests = 100000\n[venues.sim]\nverify_every = 1000000\n"
                                            "market_maker = false", 1)
    return edit


def test_a_reading_strategy_gets_every_update_of_its_cancel_all_over_thousands_of_orders(tmp_path):
    """cancel_all over 1,500 orders: 1,500 PENDING_CANCEL updates at once (about 8 times the
    ceiling), 1,500 CANCELED as the venue answers. A strategy that reads as fast as it can gets
    every one, and stays connected (it used to be cut off at the ceiling, its ack unanswered)."""
    n = 1500

    async def scenario(gw):
        async with strategy(gw, "many", timeout_s=60) as s:
            acks = await asyncio.gather(*(s.place("citrex", "ETH-PERP", "buy", "0.001", "2000",
                                                  client_order_id=f"m{i}") for i in range(n)))
            assert all(a.ok for a in acks)
            resting = set()
            while len(resting) < n:
                event = await s.next_event(30)
                if event.order.status == "OPEN":
                    resting.add(event.order.client_order_id)
            assert (await s.cancel_all()).ok
            seen: dict[str, list[str]] = {}
            while sum(v[-1] == "CANCELED" for v in seen.values()) < n:
                event = await s.next_event(30)
                seen.setdefault(event.order.client_order_id, []).append(event.order.status)
            assert all(v == ["PENDING_CANCEL", "CANCELED"] for v in seen.values())
            assert await s.ping() > 0
            assert "many" in gw.parts.sessions.strategies

    run_gateway(tmp_path, scenario, timeout_s=120, edit=streaming_option(n))


def test_replies_far_above_the_ceiling_are_streamed_to_a_reader(tmp_path):
    """`orders` over 3,000 orders (40 pages of a 64 KiB frame; 10 times the ceiling) and
    `subscribe` (3,000 updates) sent in one write with a ping: the gateway hands the socket the
    next part as the strategy reads (never the whole at once: the bytes that wait for it are
    seen in the gateway, the transport's buffer stays near the mark), every reply arrives, in
    order, and the strategy stays connected."""
    n = 3000

    async def scenario(gw):
        ids = track_orders(gw, "reader", n)
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "reader")
        conn = gw.parts.sessions.strategies["reader"]
        waited, buffered = [0], [0]
        done = asyncio.Event()

        async def watch():  # the gateway, seen from its own loop while the strategy reads
            while not done.is_set():
                buffered[0] = max(buffered[0], conn.transport.get_write_buffer_size())
                waited[0] = max(waited[0], conn._replies.queued)  # noqa: SLF001
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        writer.write(frame({"op": "orders", "req_id": 2}) + frame({"op": "subscribe", "req_id": 3})
                     + frame({"op": "ping", "req_id": 4}))
        pages = await read_orders_pages(reader, 2, 65536)
        assert len(pages) > 10 and [o["order_id"] for p in pages for o in p["orders"]] == ids
        ack = await read_reply_within(reader, 10)
        assert isinstance(ack, f.Ack) and ack.req_id == 3 and ack.ok
        updates = [await read_reply_within(reader, 10) for _ in range(n)]
        assert [u.order.order_id for u in updates] == ids
        pong = await read_reply_within(reader, 10)
        assert isinstance(pong, f.Pong) and pong.req_id == 4
        done.set()
        await watcher
        assert waited[0] > 100, "the replies were handed to the socket at once, not as it drained"
        assert buffered[0] <= 2 * 65536, f"{buffered[0]} bytes in the transport at once"
        assert "reader" in gw.parts.sessions.strategies
        writer.close()

    run_gateway(tmp_path, scenario, edit=streaming_option(n))


def test_a_strategy_that_leaves_a_large_reply_unread_is_cut_off(tmp_path, caplog):
    """The cut-off stays for a peer that stops reading: 3,000 orders asked for, none read; it
    is disconnected after slow_reader_secs, the log says why, another strategy is unaffected."""
    async def scenario(gw):
        track_orders(gw, "sleepy", 3000)
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "sleepy")
        with caplog.at_level(logging.WARNING, logger="gateway.ipc"):
            writer.write(frame({"op": "orders", "req_id": 2}))
            async with strategy(gw, "awake") as other:
                for _ in range(300):
                    if "sleepy" not in gw.parts.sessions.strategies:
                        break
                    assert await other.ping() < 1_000_000_000
                    await asyncio.sleep(0.02)
                assert "sleepy" not in gw.parts.sessions.strategies
                assert await other.ping() > 0
        assert any("stopped reading" in r.getMessage() and "none read for 1 s" in r.getMessage()
                   for r in caplog.records)
        writer.close()

    run_gateway(tmp_path, scenario, edit=streaming_option(3000))


def test_a_strategy_that_reads_slower_than_its_events_come_is_cut_off_past_the_ceiling(tmp_path, caplog):
    """It reads, a little at a time, while its orders change faster than that: what it has not
    read passes max_outbound_buffer_bytes and stops getting lower, so it is disconnected after
    slow_reader_secs (reading something does not buy unbounded memory); the log says why."""
    async def scenario(gw):
        track_orders(gw, "trickle", 20)
        orders = gw.tracker.open_orders(strategy="trickle")
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "trickle")
        stop = asyncio.Event()

        async def churn():  # each round: 20 cancels asked for and refused, 60 frames of events
            while not stop.is_set():
                for order in orders:
                    gw.tracker.mark_pending(order, Status.PENDING_CANCEL)
                    gw.tracker.cancel_refused(order, "venue says no")
                await asyncio.sleep(0.005)

        churning = asyncio.ensure_future(churn())
        read = 0
        with caplog.at_level(logging.WARNING, logger="gateway.ipc"):
            try:
                for _ in range(1000):  # 16 KiB every 20 ms: about a quarter of what comes
                    chunk = await asyncio.wait_for(reader.read(16384), 5)
                    if not chunk:
                        break
                    read += len(chunk)
                    await asyncio.sleep(0.02)
            except ConnectionError:
                pass
        stop.set()
        await churning
        assert "trickle" not in gw.parts.sessions.strategies
        assert read > 8192  # it did read: past the mark, not cut off for reading nothing
        [why] = [r.getMessage() for r in caplog.records if "stopped reading" in r.getMessage()]
        assert "max_outbound_buffer_bytes" in why and "it reads slower than they come" in why, why
        writer.close()

    run_gateway(tmp_path, scenario, edit=streaming_option(20))


def test_a_connection_that_neither_says_hello_nor_reads_loses_its_slot(tmp_path):
    """Before hello it asks for `status` over and over and reads none of the answers: at the
    hello timeout its close waits on what it does not read, so after slow_reader_secs more it
    is dropped (it used to keep its slot for good once closing)."""
    async def scenario(gw):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(gw.config.server.socket_path)
        s.setblocking(False)
        for _ in range(100):
            if gw.parts.sessions.open:
                break
            await asyncio.sleep(0.01)
        [conn] = gw.parts.sessions.open
        data, sent = frame({"op": "status", "req_id": 1}) * 20000, 0
        try:
            while sent < len(data) and not conn.closing:
                try:
                    sent += s.send(data[sent:])
                except BlockingIOError:
                    await asyncio.sleep(0.01)
        except OSError:
            pass  # dropped mid-write
        assert conn.closing  # the hello timeout came while it was writing
        for _ in range(200):
            if not gw.parts.sessions.open:
                break
            await asyncio.sleep(0.05)
        assert not gw.parts.sessions.open
        s.close()
        async with strategy(gw, "next") as other:
            assert await other.ping() > 0

    run_gateway(tmp_path, scenario, edit=server_option(
        "max_frame_bytes = 65536\nhello_timeout_ms = 500\nslow_reader_secs = 1\nreply_backpressure_bytes = 8192"))
