"""The strategy socket's answers to bad input: specific errors, and a bad
connection never disturbs the others."""
from __future__ import annotations

import asyncio
import os
import stat
import struct

import msgspec

from gateway.ipc import frames as f
from tests.integration.harness import run_gateway, strategy


async def raw_connection(gw):
    return await asyncio.open_unix_connection(gw.config.server.socket_path)


async def send_raw(writer, payload: bytes) -> None:
    writer.write(struct.pack(">I", len(payload)) + payload)
    await writer.drain()


async def read_reply(reader):
    head = await asyncio.wait_for(reader.readexactly(4), 5)
    return f.reply_decoder.decode(await reader.readexactly(struct.unpack(">I", head)[0]))


async def hello(reader, writer, name="raw"):
    await send_raw(writer, msgspec.msgpack.encode({"op": "hello", "req_id": 1, "strategy": name}))
    ack = await read_reply(reader)
    assert ack.ok


def test_garbage_and_oversize_frames_close_only_their_connection(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "good") as good:
            # not msgpack at all
            r1, w1 = await raw_connection(gw)
            await send_raw(w1, b"\xc1\xc1\xc1 definitely not msgpack")
            err = await read_reply(r1)
            assert isinstance(err, f.ProtocolError) and err.code == "bad_msgpack"
            assert await r1.read() == b""  # closed
            # a length prefix far over the limit: refused from the header alone
            r2, w2 = await raw_connection(gw)
            w2.write(struct.pack(">I", 1 << 30) + b"x" * 10)
            await w2.drain()
            err = await read_reply(r2)
            assert isinstance(err, f.ProtocolError) and err.code == "bad_frame"
            assert await r2.read() == b""
            # msgpack, but no req_id to answer
            r3, w3 = await raw_connection(gw)
            await send_raw(w3, msgspec.msgpack.encode([1, 2, 3]))
            err = await read_reply(r3)
            assert isinstance(err, f.ProtocolError) and err.code == "bad_request"
            # the well-behaved strategy never noticed
            assert await good.ping() > 0
            ack = await good.place("citrex", "ETH-PERP", "buy", "1", "2990", client_order_id="g1")
            assert ack.ok
            assert (await good.wait_status("g1", "OPEN")).price == "2990"

    run_gateway(tmp_path, scenario)


def test_schema_errors_get_specific_acks_and_keep_the_connection(tmp_path):
    async def scenario(gw):
        r, w = await raw_connection(gw)
        await hello(r, w)
        await send_raw(w, msgspec.msgpack.encode({"op": "teleport", "req_id": 7}))
        ack = await read_reply(r)
        assert ack.req_id == 7 and ack.error.code == "unknown_op" and "teleport" in ack.error.message
        await send_raw(w, msgspec.msgpack.encode({"op": "place", "req_id": 8, "venue": "citrex"}))
        ack = await read_reply(r)
        assert ack.req_id == 8 and ack.error.code == "missing_field"
        await send_raw(w, msgspec.msgpack.encode({
            "op": "place", "req_id": 9, "venue": "citrex", "symbol": "ETH-PERP", "side": "buy",
            "quantity": 1.5, "price": "3000", "client_order_id": "x"}))
        ack = await read_reply(r)
        assert ack.req_id == 9 and ack.error.code == "bad_field" and "quantity" in ack.error.message
        await send_raw(w, msgspec.msgpack.encode({"op": "ping", "req_id": 10}))
        assert isinstance(await read_reply(r), f.Pong)
        w.close()

    run_gateway(tmp_path, scenario)


def test_requests_before_hello_are_refused(tmp_path):
    async def scenario(gw):
        r, w = await raw_connection(gw)
        await send_raw(w, msgspec.msgpack.encode({"op": "orders", "req_id": 3}))
        ack = await read_reply(r)
        assert ack.error.code == "hello_required"
        w.close()

    run_gateway(tmp_path, scenario)


def test_order_validation_errors(tmp_path):
    async def scenario(gw):
        async with strategy(gw, "alpha") as s:
            cases = [
                (dict(venue="nowhere", symbol="ETH-PERP", side="buy", quantity="1", price="3000"), "unknown_venue"),
                (dict(venue="citrex", symbol="DOGE-PERP", side="buy", quantity="1", price="3000"), "unknown_symbol"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="1", price="3000.05"), "bad_price"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="0.0001", price="3000"), "bad_quantity"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="1e3", price="3000"), "bad_decimal"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="-1", price="3000"), "bad_decimal"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="1"), "missing_field"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="101", price="3000"), "risk_limit"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="99", price="20000"), "risk_limit"),
                (dict(venue="citrex", symbol="ETH-PERP", side="buy", quantity="1", price="3000",
                      stop_price="2900"), "unsupported"),
            ]
            for i, (fields, code) in enumerate(cases):
                ack = await s.place(client_order_id=f"v{i}", **fields)
                assert not ack.ok and ack.error.code == code, (fields, ack)
                assert ack.error.message
            assert (await s.place("citrex", "ETH-PERP", "buy", "1", "2980", client_order_id="dup")).ok
            again = await s.place("citrex", "ETH-PERP", "buy", "1", "2980", client_order_id="dup")
            assert again.error.code == "duplicate_client_order_id"
            modify = await s.modify("dup", price="2981")
            assert modify.error.code == "unsupported" and "replace" in modify.error.message
            assert (await s.cancel("nope")).error.code == "unknown_order"
            # nothing invalid reached the venue
            assert [o.client_order_id for o in await s.orders(open_only=False)] == ["dup"]

    run_gateway(tmp_path, scenario)


def test_second_connection_with_the_same_strategy_is_refused(tmp_path):
    async def scenario(gw):
        from gateway.ipc.client import GatewayClient, GatewayError

        async with strategy(gw, "alpha"):
            try:
                async with GatewayClient(gw.config.server.socket_path, strategy="alpha"):
                    raise AssertionError("a second alpha was let in")
            except GatewayError as exc:
                assert exc.code == "strategy_in_use"

    run_gateway(tmp_path, scenario)


def test_socket_mode(tmp_path):
    async def scenario(gw):
        assert stat.S_IMODE(os.stat(gw.config.server.socket_path).st_mode) == 0o660

    run_gateway(tmp_path, scenario)


def track_orders(gw, strategy_name: str, n: int, *, closed: int = 0) -> list[str]:
    """n orders of strategy_name put straight into the gateway's tracker, as a venue would have
    them (its id, a resting status; the last `closed` canceled, with a reason): views of about
    230 bytes, as in the field. Their changes go to the strategy if it is connected. Returns
    their order ids, in the order `orders` lists them."""
    from gateway.orders.model import OrderType, Side, Status, TimeInForce

    tracker = gw.tracker
    ids = []
    for i in range(n):
        order = tracker.new_order(strategy=strategy_name, client_order_id=f"{strategy_name}-{i:08d}-deep-book",
                                  venue="citrex", symbol="ETH-PERP", side=Side.BUY, type=OrderType.LIMIT,
                                  tif=TimeInForce.GTC, price=(2000 * 10**18) + i * 10**17, quantity=10**16)
        tracker.bind_venue_id(order, f"0x{i:064x}")
        tracker.apply(order, Status.OPEN)
        if i >= n - closed:
            tracker.apply(order, Status.CANCELED, reason="canceled by the strategy")
        ids.append(order.order_id)
    return ids


async def read_orders_pages(reader, req_id: int, max_frame: int) -> list[dict]:
    """The `orders` frames answering req_id, as raw maps, up to the one without more=true; each
    frame's length checked against max_frame."""
    pages = []
    while True:
        head = await asyncio.wait_for(reader.readexactly(4), 30)
        size = struct.unpack(">I", head)[0]
        assert size <= max_frame, f"a {size}-byte frame, above max_frame {max_frame}"
        page = msgspec.msgpack.decode(await asyncio.wait_for(reader.readexactly(size), 30))
        assert page["op"] == "orders" and page["req_id"] == req_id, {k: page[k] for k in page if k != "orders"}
        pages.append(page)
        if not page.get("more"):
            return pages


def test_an_orders_reply_above_the_frame_limit_comes_in_pages_and_the_client_reads_them_all(tmp_path):
    """6,000 orders make an `orders` reply of about 1.8 MB, above the 1 MiB frame limit (it used
    to be one frame no client could read: `bad_frame ... exceeds max_frame 1048576`): it comes
    as several `orders` frames, each under the limit, every one but the last with more=true,
    the orders in order and each once; GatewayClient.orders() returns all of them."""
    n = 6000

    async def scenario(gw):
        ids = track_orders(gw, "deep", n, closed=1000)  # before it connects: no events to read
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "deep")
        await send_raw(writer, msgspec.msgpack.encode({"op": "orders", "req_id": 7, "open_only": False}))
        pages = await read_orders_pages(reader, 7, 1 << 20)
        assert len(pages) >= 2
        assert [p.get("more", False) for p in pages] == [True] * (len(pages) - 1) + [False]
        assert [o["order_id"] for p in pages for o in p["orders"]] == ids
        await send_raw(writer, msgspec.msgpack.encode({"op": "ping", "req_id": 8}))
        assert (await read_reply(reader)).req_id == 8  # the connection goes on after the pages
        writer.close()
        async with strategy(gw, "deep") as s:
            everything = await s.orders(open_only=False)
            assert [o.order_id for o in everything] == ids
            assert sum(o.status == "CANCELED" for o in everything) == 1000
            assert [o.order_id for o in await s.orders()] == ids[:n - 1000]
            assert await s.ping() > 0

    run_gateway(tmp_path, scenario, edit=lambda t: t.replace("max_frame_bytes = 65536", "max_frame_bytes = 1048576"))


def test_an_orders_reply_that_fits_a_frame_is_one_frame_as_before(tmp_path):
    """A client built before pages reads a reply under the limit as ever: one frame, no `more`."""
    async def scenario(gw):
        ids = track_orders(gw, "few", 100)
        reader, writer = await raw_connection(gw)
        await hello(reader, writer, "few")
        await send_raw(writer, msgspec.msgpack.encode({"op": "orders", "req_id": 3}))
        head = await asyncio.wait_for(reader.readexactly(4), 5)
        page = msgspec.msgpack.decode(await reader.readexactly(struct.unpack(">I", head)[0]))
        assert set(page) == {"op", "req_id", "orders"}
        assert [o["order_id"] for o in page["orders"]] == ids
        writer.close()

    run_gateway(tmp_path, scenario)
