"""Faults and limits, each test naming the invariant it checks."""
from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time

import msgspec

from gateway.ipc import frames as f
from tests.integration.harness import CONFIG, run_gateway, strategy

E18 = 10**18


def venue_option(line: str):
    """Add an option to the [[venues]] table of the test config."""
    return lambda text: text.replace('name = "citrex"\n', f'name = "citrex"\n{line}\n', 1)


def risk_option(line: str):
    return lambda text: text.replace("[risk]\n", f"[risk]\n{line}\n", 1)


def test_fill_while_the_stream_is_down_reaches_the_strategy_exactly_once(tmp_path):
    """Invariant: no lost fill, no duplicate fill across a WS reconnect."""
    async def scenario(gw):
        sim = gw.sims["citrex"]
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1", "2999", client_order_id="w1")
            await s.wait_status("w1", "OPEN")
            await sim.drop_streams()
            # the venue fills it while nobody listens: its event is lost for good
            assert await sim.outside_trade("ETH-PERP", "sell", "2999", "1") == 1
            done = await s.wait_status("w1", "FILLED", timeout_s=15)
            assert done.filled == "1" and len(done.last_trades) == 1
            assert gw.venues["citrex"].reconnects >= 1
            await asyncio.sleep(0.3)
            [order] = await s.orders(open_only=False)
            assert order.filled == "1" and order.status == "FILLED"
            fills = gw.tracker.by_client("alpha", "w1").fills
            assert len(fills) == 1, fills

    run_gateway(tmp_path, scenario)


def test_429_rejects_clearly_then_the_next_order_waits_for_retry_after(tmp_path):
    """Invariant: a 429 never drops an order silently, and we stop until Retry-After."""
    async def scenario(gw):
        sim = gw.sims["citrex"]
        sim.faults.answer_429, sim.faults.retry_after_s = 1, 1
        async with strategy(gw, "alpha") as s:
            assert (await s.place("citrex", "ETH-PERP", "buy", "1", "2950", client_order_id="h1")).ok
            refused = await s.wait_status("h1", "REJECTED")
            assert "429" in refused.reason and "retry after 1 s" in refused.reason
            t0 = time.monotonic()
            requests = sim.requests
            assert (await s.place("citrex", "ETH-PERP", "buy", "1", "2950", client_order_id="h2")).ok
            # accepted at once: the ack came while the order waits in the venue's line
            assert sim.requests == requests
            await s.wait_status("h2", "OPEN")
            assert time.monotonic() - t0 >= 0.8  # held back by the limiter, not sent into the 429
            assert sim.requests_429 == 1

    run_gateway(tmp_path, scenario, edit=venue_option("rate_limit_per_s = 100"))


def test_over_the_rate_limit_requests_are_refused_at_once_not_dropped(tmp_path):
    """Invariant: over the venue's limit a request that cannot go within the wait bound
    gets `rate_limited` at once (the line's own bound is tests/unit/test_ratelimit.py)."""
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            acks = await asyncio.gather(*(
                s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"q{i}") for i in range(5)))
            codes = [a.error.code if a.error else "ok" for a in acks]
            assert codes == ["ok", "ok", "rate_limited", "rate_limited", "rate_limited"], codes
            assert "rate limit" in acks[2].error.message
            # refused before being tracked: no order, and the client_order_id stays free
            known = {o.client_order_id for o in await s.orders(open_only=False)}
            assert known == {"q0", "q1"}, known
            limiter = gw.venues["citrex"].limiter
            for _ in range(600):  # the bucket refills: the next one goes
                if limiter.projected_wait(1) == 0 and not gw.venues["citrex"].outbound.busy:
                    break
                await asyncio.sleep(0.05)
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id="q2")).ok
            await s.wait_status("q2", "OPEN")

    # a burst of 2: only the venue line's requests take tokens (the login, off the line, takes none)
    run_gateway(tmp_path, scenario, edit=venue_option(
        "rate_limit_per_s = 2\nrate_limit_burst = 2\nrate_limit_queue = 1\nrate_limit_max_wait_ms = 300"))


def test_orders_per_second_and_price_band(tmp_path):
    """Invariant: pre-trade limits refuse with a reason before anything reaches the venue. The
    price band is measured from the venue's reference price (here the simulated Citrex's mark,
    its book's mid), read from its public market data, not from a fill."""
    async def scenario(gw):
        sim = gw.sims["citrex"]
        reference = gw.parts.reference
        while reference.price("citrex", "ETH-PERP") is None:  # the first poll of the venue's prices
            await asyncio.sleep(0.05)
        ref = reference.price("citrex", "ETH-PERP")
        # the market maker's book around 3000: its mid is the mark, and nothing here moves it
        assert ref == 3000 * E18
        async with strategy(gw, "alpha") as s:
            requests = sim.requests
            far = await s.place("citrex", "ETH-PERP", "buy", "1", "2840", client_order_id="b2")  # 5.3% under
            assert far.error.code == "risk_limit", far
            assert "2840 is more than 5% from the reference price 3000" in far.error.message
            assert far.error.limit == "price_band_pct"
            high = await s.place("citrex", "ETH-PERP", "sell", "1", "3160", client_order_id="b4")  # 5.3% over
            assert high.error.code == "risk_limit" and "from the reference price 3000" in high.error.message
            assert sim.requests == requests  # refused before the venue saw them
            near = await s.place("citrex", "ETH-PERP", "buy", "1", "2860", client_order_id="b3")  # 4.7% under
            assert near.ok
            await s.wait_status("b3", "OPEN")
            assert sim.requests == requests + 1
            burst = [await s.place("citrex", "ETH-PERP", "buy", "0.001", "2950", client_order_id=f"r{i}")
                     for i in range(6)]
            assert any(a.error and a.error.code == "risk_limit" and "orders per second" in a.error.message
                       for a in burst)

    run_gateway(tmp_path, scenario, edit=risk_option(
        'max_orders_per_sec = 4\nprice_band_pct = "5"\nreference_max_age_secs = 3600'))


def test_an_order_refused_after_the_risk_checks_costs_no_orders_per_second_token(tmp_path):
    """The venue's line refuses an order that passed risk (its own rate limit is spent): the
    strategy's orders/s token stays, so the next order meets the venue's refusal again, not
    risk's (it met risk's while the refused order took the token)."""
    def edit(text: str) -> str:
        text = risk_option("max_orders_per_sec = 5")(text)
        return text.replace("[venues.sim]", "rate_limit_per_s = 0.01\nrate_limit_burst = 3\n"
                                            "rate_limit_max_wait_ms = 0\n[venues.sim]", 1)

    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            accepted = 0  # until the venue's line is out of tokens (its session took some)
            while (await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900",
                                 client_order_id=f"a{accepted}")).ok:
                accepted += 1
            assert 1 <= accepted <= 3
            # 5 - accepted risk tokens are left: none is spent by an order the line refuses
            codes = [(await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=f"r{i}")).error.code
                     for i in range(6)]
            assert codes == ["rate_limited"] * 6, codes
            await s.cancel_all()

    run_gateway(tmp_path, scenario, edit=edit)


def test_a_strategy_that_stops_reading_is_cut_off_and_slows_no_one(tmp_path):
    """Invariant: bounded buffering per strategy; others keep their latency."""
    async def scenario(gw):
        reader, writer = await asyncio.open_unix_connection(gw.config.server.socket_path)
        hello = msgspec.msgpack.encode({"op": "hello", "req_id": 1, "strategy": "sleepy"})
        writer.write(struct.pack(">I", len(hello)) + hello)
        ping = msgspec.msgpack.encode({"op": "ping", "req_id": 2})
        writer.write((struct.pack(">I", len(ping)) + ping) * 40000)  # ~1.5 MB of pongs it never reads
        try:
            await writer.drain()
        except ConnectionError:
            pass  # the gateway may have cut it off already: that is the point
        async with strategy(gw, "busy") as s:
            for _ in range(200):
                if "sleepy" not in gw.parts.sessions.strategies:
                    break
                assert await s.ping() < 1_000_000_000
                await asyncio.sleep(0.02)
            assert "sleepy" not in gw.parts.sessions.strategies
            assert (await s.place("citrex", "ETH-PERP", "buy", "1", "2950", client_order_id="k1")).ok
        writer.close()

    run_gateway(tmp_path, scenario, edit=lambda t: t.replace(
        "max_frame_bytes = 65536", "max_frame_bytes = 65536\nreply_backpressure_bytes = 65536\nslow_reader_secs = 1"))


def test_venue_down_at_start_is_one_clear_error(tmp_path):
    """Invariant: the daemon refuses to start half-connected, and says why in one line."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    head, _, rest = CONFIG.format(tmp=tmp_path).partition("[venues.sim]")
    config = head + f'rest_url = "http://127.0.0.1:{port}"\nws_url = "ws://127.0.0.1:{port}/v1/ws/operate"\n'
    config += rest[rest.index("[venues.instruments"):]
    (tmp_path / "gw.toml").write_text(config)
    run = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(tmp_path / "gw.toml")],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert run.returncode == 1
    assert "gateway: cannot start: cannot connect to 127.0.0.1" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "gw.sock").exists()


def test_session_expiry_and_stream_drop_recover_with_a_fresh_login(tmp_path):
    """Invariant: an expired session never leaves the gateway deaf: it logs in again and resubscribes."""
    async def scenario(gw):
        sim = gw.sims["citrex"]
        async with strategy(gw, "alpha") as s:
            await s.place("citrex", "ETH-PERP", "buy", "1", "2999", client_order_id="e1")
            await s.wait_status("e1", "OPEN")
            sim.expire_sessions()
            await sim.drop_streams()
            adapter = gw.venues["citrex"]
            for _ in range(200):
                if sim.sessions and sim.subscribers.get(adapter.account.lower()):
                    break
                await asyncio.sleep(0.05)
            assert sim.sessions, "no new login"
            # the new stream delivers: a fill now arrives as an event
            await sim.outside_trade("ETH-PERP", "sell", "2999", "1")
            assert (await s.wait_status("e1", "FILLED")).filled == "1"

    run_gateway(tmp_path, scenario)


def test_peers_outside_the_allow_list_are_refused(tmp_path):
    """Invariant: only allowed uids/gids may use the socket (SO_PEERCRED), whatever its mode."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    import shutil
    import tempfile

    # the socket must be reachable for nobody: pytest's own temp tree is 0700
    sockdir = tempfile.mkdtemp(prefix="gw-peer-")
    os.chmod(sockdir, 0o755)
    nobody = 65534

    def connect_as_nobody(path: str) -> bytes:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: become nobody, then connect
            try:
                import socket

                os.setgid(nobody)
                os.setuid(nobody)
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.settimeout(5)
                data = s.recv(4096)
                os.write(w, data)
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
        os.waitpid(pid, 0)
        return data

    async def scenario(gw):
        data = await asyncio.get_running_loop().run_in_executor(
            None, connect_as_nobody, gw.config.server.socket_path)
        reply = f.reply_decoder.decode(data[4:4 + struct.unpack(">I", data[:4])[0]])
        assert isinstance(reply, f.ProtocolError) and reply.code == "peer_refused"
        assert "uid 65534" in reply.message
        async with strategy(gw, "owner") as s:  # our own uid is let in
            assert await s.ping() > 0

    try:
        run_gateway(tmp_path, scenario, edit=lambda t: t.replace(
            "max_frame_bytes = 65536", "max_frame_bytes = 65536\nsocket_mode = 0o666").replace(
            f'socket_path = "{tmp_path}/gw.sock"', f'socket_path = "{sockdir}/gw.sock"'))
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def test_allow_listed_uid_is_let_in(tmp_path):
    """Invariant: a uid on the allow-list passes the peer check."""
    async def scenario(gw):
        assert gw.server.admittance.peer_allowed(65534, 65534)
        assert not gw.server.admittance.peer_allowed(4242, 4242)
        assert gw.server.admittance.peer_allowed(os.getuid(), -1)

    run_gateway(tmp_path, scenario, edit=lambda t: t.replace(
        "max_frame_bytes = 65536", "max_frame_bytes = 65536\nallowed_uids = [65534]"))
