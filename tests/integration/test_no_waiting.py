"""A strategy's requests never wait for a venue: each venue sends from its own
line, acks mean "accepted and queued", and what never left can be taken back.

Two Citrex venues on their own simulators: `citrex` answers every REST request
after 1 s over 2 connections (a slow venue), `fast` at once."""
from __future__ import annotations

import asyncio
import time

from tests.integration.harness import run_gateway, strategy

SLOW_MS = 1000


def two_venues(max_queued: int = 10000):
    def edit(text: str) -> str:
        head, _, venue = text.partition("[[venues]]")
        slow = venue.replace("[venues.sim]", f"http_connections = 2\nmax_queued_requests = {max_queued}\n"
                                             f"[venues.sim]\nreply_delay_ms = {SLOW_MS}")
        fast = venue.replace('name = "citrex"', 'name = "fast"').replace("citrex.hex", "fast.hex") \
                    .replace("citrex.nonce", "fast.nonce")
        return head + "[[venues]]" + slow + "[[venues]]" + fast
    return edit


def place_slow(s, cid: str):
    return s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id=cid)


def test_a_slow_venue_delays_no_request_to_another_venue_nor_a_ping(tmp_path):
    """With 12 orders queued for a venue that answers after 1 s, a ping and a place on
    another venue from the same connection answer within 50 ms."""
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            t0 = time.monotonic()
            acks = await asyncio.gather(*(place_slow(s, f"slow{i}") for i in range(12)))
            assert all(a.ok for a in acks), acks
            assert time.monotonic() - t0 < SLOW_MS / 1000 / 2  # acked as queued, not as answered
            t1 = time.monotonic()
            await s.ping()
            fast = await s.place("fast", "ETH-PERP", "buy", "0.001", "2900", client_order_id="f1")
            elapsed = time.monotonic() - t1
            assert fast.ok and elapsed < 0.05, elapsed
            await s.wait_status("f1", "OPEN", timeout_s=2)
            # the slow venue's first two (one per connection) are on the wire, the rest wait
            assert len(gw.venues["citrex"].outbound) >= 9
            await s.cancel_all(venue="citrex")  # leaves nothing behind for the teardown

    run_gateway(tmp_path, scenario, edit=two_venues())


def test_cancel_of_a_queued_order_takes_it_out_without_a_venue_call(tmp_path):
    async def scenario(gw):
        sim = gw.sims["citrex"]
        requests_before = sim.requests
        async with strategy(gw, "alpha") as s:
            for i in range(6):
                assert (await place_slow(s, f"q{i}")).ok
            line = gw.venues["citrex"].outbound
            for _ in range(200):  # q0, q1 go out (one per connection); q2.. wait for a connection
                if len(line) == 4:
                    break
                await asyncio.sleep(0.005)
            assert len(line) == 4
            assert (await s.cancel("q5")).ok
            gone = await s.wait_status("q5", "CANCELED", timeout_s=0.5)
            assert gone.reason == "canceled before it was sent" and gone.venue_order_id is None
            # cancel_all: what waits is taken out at once; what is out gets a venue cancel
            assert (await s.cancel_all(venue="citrex")).ok
            statuses = {o.client_order_id: o.status for o in await s.orders(open_only=False)}
            assert [statuses[f"q{i}"] for i in range(2, 6)] == ["CANCELED"] * 4, statuses
            assert statuses["q0"] == statuses["q1"] == "PENDING_CANCEL"
            done = {}
            while len(done) < 2:  # never sent before their place: each was opened, then canceled
                event = await s.wait_for(lambda e: getattr(e, "order", None) is not None
                                         and e.order.client_order_id in ("q0", "q1")
                                         and e.order.status == "CANCELED", timeout_s=10)
                done[event.order.client_order_id] = event.order
            assert all(o.venue_order_id is not None and o.reason == "canceled by request" for o in done.values())
            # 2 places and 2 cancels reached the venue; none of the 4 withdrawn orders did
            assert sim.requests - requests_before == 4

    run_gateway(tmp_path, scenario, edit=two_venues(), timeout_s=30)


def test_a_full_line_refuses_at_once_and_tracks_nothing(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            acks = [await place_slow(s, f"l{i}") for i in range(8)]
            codes = [a.error.code if a.error else "ok" for a in acks]
            # 2 on the wire (one per connection; the drain takes them on the next loop turn),
            # then 3 may wait: the rest is refused
            assert codes.count("ok") in (3, 4, 5) and codes[:3] == ["ok"] * 3, codes
            refused = acks[codes.index("rate_limited")]
            assert "queue is full" in refused.error.message
            known = {o.client_order_id for o in await s.orders(open_only=False)}
            assert known == {f"l{i}" for i, c in enumerate(codes) if c == "ok"}
            await s.cancel_all(venue="citrex")

    run_gateway(tmp_path, scenario, edit=two_venues(max_queued=3))
