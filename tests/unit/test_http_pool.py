"""The HTTP pool never holds more connections than configured, counting those
being opened: ten simultaneous sends on a pool of two open two TCP connections
(a real server on loopback counts them), and every request gets its answer."""
from __future__ import annotations

import asyncio

import uvloop

from gateway.net.http import HttpClient


def test_simultaneous_sends_never_open_more_connections_than_configured():
    async def main():
        accepted = 0
        peak_open = 0
        open_now = 0

        async def handle(reader, writer):
            nonlocal accepted, open_now, peak_open
            accepted += 1
            open_now += 1
            peak_open = max(peak_open, open_now)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n")
                                  if l.lower().startswith(b"content-length"))
                    await reader.readexactly(length)
                    await asyncio.sleep(0.01)  # each answer takes a moment: the rest must queue
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                open_now -= 1
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = HttpClient(f"http://127.0.0.1:{port}", connections=2)
        try:
            replies = await asyncio.gather(*(client.request("POST", f"/r{i}", b"x") for i in range(10)))
            assert [r.status for r in replies] == [200] * 10
            # a second wave reuses them
            replies = await asyncio.gather(*(client.request("GET", "/again") for i in range(10)))
            assert [r.body for r in replies] == [b"ok"] * 10
        finally:
            await client.close()
            server.close()
            await server.wait_closed()
        return accepted, peak_open

    accepted, peak = uvloop.run(main())
    assert accepted == 2 and peak == 2, (accepted, peak)


def test_a_failed_connect_frees_its_place():
    async def main():
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens there
        client = HttpClient(f"http://127.0.0.1:{port}", connections=1, timeout_ms=2000)
        results = await asyncio.gather(*(client.request("GET", "/") for _ in range(3)), return_exceptions=True)
        await client.close()
        return results

    results = uvloop.run(main())
    assert len(results) == 3 and all("cannot connect" in str(r) for r in results), results


def test_an_unanswered_request_times_out_and_its_connection_is_not_reused():
    """The client's one sweeping timer fails a request the server never answers (after the
    timeout, within one sweep period) and closes that connection: the next request, which
    waited for the pool's only connection, gets a fresh one."""
    async def main():
        connections = []

        async def handle(reader, writer):
            connections.append(writer)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if b"/silent" in head:
                        continue  # never answered
                    await asyncio.sleep(0.05)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = HttpClient(f"http://127.0.0.1:{port}", connections=1, timeout_ms=300)
        loop = asyncio.get_running_loop()
        try:
            started = loop.time()
            silent, answered = await asyncio.gather(client.request("GET", "/silent"), client.request("GET", "/ok"),
                                                    return_exceptions=True)
            waited = loop.time() - started
            after = await client.request("GET", "/ok")  # the same connection as the answered one
        finally:
            await client.close()
            server.close()
        return silent, answered, waited, after, len(connections), client._sweeper

    silent, answered, waited, after, opened, sweeper = uvloop.run(main())
    assert "GET /silent: no response within 0.3 s" in str(silent), silent
    assert answered.status == 200 and after.status == 200
    assert 0.3 <= waited < 0.3 + 0.5, waited  # the timeout, plus at most a sweep period and slack
    assert opened == 2  # the timed-out connection was closed, not reused
    assert sweeper is None  # nothing left waiting: no timer left armed


def test_the_client_takes_no_tokens_and_a_429_pauses_its_venues_limit():
    """Tokens are the venue line's to take (gateway/venues/outbound.py): the client never waits
    on the limiter, but a 429 stops the bucket until its Retry-After."""
    from gateway.net.ratelimit import TokenBucket

    async def main():
        async def handle(reader, writer):
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if head.startswith(b"POST /slow-down"):
                        writer.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
                    else:
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        bucket = TokenBucket(1, 1)
        client = HttpClient(f"http://127.0.0.1:{port}", connections=1, limiter=bucket)
        try:
            replies = [await client.request("GET", f"/r{i}") for i in range(3)]  # over 1/s: none waits
            assert [r.status for r in replies] == [200] * 3
            assert bucket.wait_to_take(1) == 0  # and none took a token
            assert (await client.request("POST", "/slow-down")).status == 429
            assert bucket.wait_to_take(1) > 1.5
        finally:
            await client.close()
            server.close()
            await server.wait_closed()

    uvloop.run(main())
