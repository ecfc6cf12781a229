"""The ack of a request leaves before the request's venue work starts: before the
order is signed, before its first byte goes to the venue (README "Latency").

Observed inside the gateway at the two steps that matter: each signature
(the venue's signer) and each write to the venue's connections look
(MSG_PEEK, without reading) into the strategy's socket, which only the
gateway writes to. The strategy's kernel buffer holding the ack at that
moment is the order of the two, whatever either process does afterwards.
"""
from __future__ import annotations

import asyncio
import socket

import msgspec
import pytest

from gateway._core.framing import FrameSplitter, encode_frame
from gateway.net import http
from gateway.signer import Signer
from tests.integration.harness import run_gateway

JOURNAL = '\n[journal]\npath = "{tmp}/orders.journal"\n'


class _ObservedWrites:
    """A venue connection's transport whose writes note what the strategy can read by then."""

    def __init__(self, transport, seen: list):
        self._transport = transport
        self._seen = seen

    def write(self, data) -> None:
        self._seen.append((bytes(data[:64]), _acked_so_far()))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


_strategy: socket.socket | None = None


def _acked_so_far() -> set[int]:
    """req_ids of the acks in the strategy's socket, not read (peeked)."""
    if _strategy is None:
        return set()  # the venue's login, before the strategy connects
    try:
        data = _strategy.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return set()
    frames = FrameSplitter(1 << 20).feed(data)
    return {m["req_id"] for m in map(msgspec.msgpack.decode, frames) if m.get("op") == "ack"}


@pytest.fixture
def venue_writes(monkeypatch):
    global _strategy
    _strategy = None
    seen: list[tuple[bytes, set[int]]] = []
    made = http._Connection.connection_made

    def observed(self, transport):
        made(self, _ObservedWrites(transport, seen))

    sign = Signer.sign_digest

    def observed_sign(self, digest):
        seen.append((b"SIGN", _acked_so_far()))
        return sign(self, digest)

    monkeypatch.setattr(http._Connection, "connection_made", observed)
    monkeypatch.setattr(Signer, "sign_digest", observed_sign)
    return seen


def _frame(**message) -> bytes:
    return encode_frame(msgspec.msgpack.encode(message))


def _place(req_id: int, cid: str, price: str = "2900") -> bytes:
    return _frame(op="place", req_id=req_id, venue="citrex", symbol="ETH-PERP", side="buy", type="limit",
                  price=price, quantity="0.001", client_order_id=cid)


async def _connect(gw) -> socket.socket:
    global _strategy
    sock = _strategy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect(gw.config.server.socket_path)
    sock.send(_frame(op="hello", req_id=1, strategy="alpha"))
    await _drain_replies(sock, 0.2)
    return sock


async def _drain_replies(sock: socket.socket, wait_s: float) -> None:
    await asyncio.sleep(wait_s)
    while True:
        try:
            if not sock.recv(1 << 20):
                return
        except BlockingIOError:
            return


def _first_write(seen, marker: bytes) -> set[int]:
    writes = [acked for head, acked in seen if head.startswith(marker)]
    assert writes, f"no {marker!r} reached the venue: {[h for h, _ in seen]}"
    return writes[0]


@pytest.mark.parametrize("journal", [False, True], ids=["no_journal", "journal"])
def test_a_place_is_acked_before_it_is_signed(tmp_path, venue_writes, journal):
    async def scenario(gw):
        sock = await _connect(gw)
        for i in range(10):
            venue_writes.clear()
            sock.send(_place(100 + i, f"p{i}"))
            await asyncio.sleep(0.05)
            assert 100 + i in _first_write(venue_writes, b"SIGN"), f"order {i} signed before its ack"
            assert 100 + i in _first_write(venue_writes, b"POST /v1/order "), f"order {i}"
            await _drain_replies(sock, 0)
        sock.close()

    run_gateway(tmp_path, scenario, edit=(lambda t: t + JOURNAL.format(tmp=tmp_path)) if journal else None)


def test_a_cancel_is_acked_before_it_is_signed(tmp_path, venue_writes):
    async def scenario(gw):
        sock = await _connect(gw)
        for i in range(5):
            sock.send(_place(100 + i, f"c{i}"))
        await _drain_replies(sock, 0.3)  # all resting
        for i in range(5):
            venue_writes.clear()
            sock.send(_frame(op="cancel", req_id=200 + i, client_order_id=f"c{i}"))
            await asyncio.sleep(0.05)
            assert 200 + i in _first_write(venue_writes, b"SIGN"), f"cancel {i} signed before its ack"
            assert 200 + i in _first_write(venue_writes, b"DELETE /v1/order "), f"cancel {i}"
            await _drain_replies(sock, 0)
        sock.close()

    run_gateway(tmp_path, scenario, edit=lambda t: t + JOURNAL.format(tmp=tmp_path))


def test_requests_past_one_turns_budget_are_acked_before_they_leave(tmp_path, venue_writes):
    """More requests in one read than a turn handles: the rest are handled on later passes of
    the loop, while the venue's line is already busy with the first ones."""
    def edit(text: str) -> str:
        return text.replace("max_frame_bytes = 65536", "max_frame_bytes = 65536\nmax_requests_per_turn = 2") \
            + JOURNAL.format(tmp=tmp_path)

    async def scenario(gw):
        sock = await _connect(gw)
        venue_writes.clear()
        sock.send(b"".join(_place(100 + i, f"b{i}") for i in range(12)))
        await asyncio.sleep(0.5)
        for step in (b"SIGN", b"POST /v1/order "):
            orders = [acked for head, acked in venue_writes if head.startswith(step)]
            assert len(orders) == 12, [h for h, _ in venue_writes]
            # the i-th order is signed and leaves after its ack (the line keeps arrival order)
            for i, acked in enumerate(orders):
                assert 100 + i in acked, f"{step!r} of order {i}: acks {sorted(acked)}"
        sock.close()

    run_gateway(tmp_path, scenario, edit=edit)
