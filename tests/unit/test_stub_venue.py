"""The bench's lean Citrex venue (bench/stubvenue.py) checks what the simulator checks without
recovering a signature, recovers the first and then one in N, and answers in the simulator's
shapes (the gateway end to end against it: tests/integration/test_loadgen.py)."""
from __future__ import annotations

import asyncio
import time

import msgspec

from bench.processes import INSTRUMENTS, MID, SIM_CONFIG
from bench.stubvenue import StubVenue
from gateway.config import parse_config
from gateway.signer import Signer
from gateway.venues.citrex import schemas
from gateway.venues.citrex.signing import CitrexSigner
from tests.integration.test_sim_verify_every import DOMAIN, _order_body

MESSAGE = "I would like to log into ciao finance"


def _venue(tmp_path, verify_every: int) -> StubVenue:
    config = parse_config(SIM_CONFIG.format(tmp=tmp_path, mid=MID, instruments=INSTRUMENTS,
                                            verify_every=verify_every))
    return StubVenue(config.venues[0])


def _login(venue: StubVenue, signer: CitrexSigner, account: str) -> tuple[int, bytes]:
    ts = time.time_ns() // 1_000_000
    body = msgspec.json.encode({"account": account, "message": MESSAGE, "timestamp": ts,
                                "signature": signer.sign_login(MESSAGE, ts)})
    status, reply, headers = venue.handle(b"POST", b"/v1/session/login", None, body)
    cookie = headers.split(b"Set-Cookie: ", 1)[1].split(b";", 1)[0] if status == 200 else b""
    return status, cookie


def test_the_stub_refuses_what_the_simulator_refuses(tmp_path):
    async def scenario():
        venue = _venue(tmp_path, verify_every=3)
        mine = CitrexSigner(Signer(b"\x01" * 32), sub_account_id=0, **DOMAIN)
        other = CitrexSigner(Signer(b"\x02" * 32), sub_account_id=0, **DOMAIN)
        account = mine.account
        assert _login(venue, other, account)[0] == 400  # signed by another key
        status, cookie = _login(venue, mine, account)
        assert status == 200 and cookie.startswith(schemas.SESSION_COOKIE.encode() + b"=")

        def post(body: dict, cookie=cookie) -> tuple[int, str]:
            status, reply, _ = venue.handle(b"POST", b"/v1/order", cookie, msgspec.json.encode(body))
            reply = msgspec.json.decode(reply)
            return status, reply.get("error") or reply.get("status")

        assert post(_order_body(mine, account, 9), cookie=None)[0] == 401  # no session
        replayed = _order_body(other, account, 2)
        results = [post(_order_body(other, account, 1)), post(replayed), post(replayed),
                   post(_order_body(other, account, 4)),
                   post(_order_body(mine, account, 5, signature="0x" + "11" * 64)),
                   post(_order_body(mine, account, 6)),
                   post({**_order_body(mine, account, 7), "price": "1000000000000000001"})]
        return venue, results

    venue, results = asyncio.run(scenario())
    assert results[0][0] == 400 and "signer is not the account" in results[0][1]  # the first: recovered
    assert results[1] == (200, "OPEN")  # not recovered
    assert results[2][0] == 400 and "already used" in results[2][1]
    assert results[3][0] == 400 and "signer is not the account" in results[3][1]  # one in 3: recovered
    assert results[4] == (400, "invalid signature")  # 64 bytes: checked without recovering
    assert results[5] == (200, "OPEN")
    assert results[6][0] == 400 and "tick" in results[6][1]
    assert len(venue.open) == 2


def test_the_stub_pushes_each_change_and_cancels_replaces_and_lists_as_the_venue(tmp_path):
    class Transport:
        def __init__(self):
            self.sent = []

        def send(self, kind, payload):
            self.sent.append(msgspec.json.decode(payload))

    async def scenario():
        venue = _venue(tmp_path, verify_every=1)
        mine = CitrexSigner(Signer(b"\x01" * 32), sub_account_id=0, **DOMAIN)
        account = mine.account
        _, cookie = _login(venue, mine, account)
        stream = Transport()
        venue.subscribers[account.lower()] = [stream]

        def call(method, path, body):
            status, reply, _ = venue.handle(method, path, cookie, msgspec.json.encode(body))
            return status, msgspec.json.decode(reply)

        def cancel_body(order_id, signer=mine):
            digest = signer.cancel.digest((account, 0, 1002, order_id))
            return {"account": account, "subAccountId": 0, "productId": 1002, "orderId": order_id,
                    "signature": "0x" + signer.signer.sign_digest(digest).hex()}

        status, reply = call(b"POST", b"/v1/order", _order_body(mine, account, 1))
        placed = schemas.order_decoder.decode(msgspec.json.encode(reply))  # the adapter's own decoder reads it
        await asyncio.sleep(0)  # the push follows the reply
        other = CitrexSigner(Signer(b"\x02" * 32), sub_account_id=0, **DOMAIN)
        forged = call(b"DELETE", b"/v1/order", cancel_body(placed.id, signer=other))
        canceled = call(b"DELETE", b"/v1/order", cancel_body(placed.id))
        again = call(b"DELETE", b"/v1/order", cancel_body(placed.id))
        _, second = call(b"POST", b"/v1/order", _order_body(mine, account, 2))
        await asyncio.sleep(0)
        replace = {"idToCancel": second["id"], "newOrder": _order_body(mine, account, 3)}
        replaced = call(b"POST", b"/v1/order/cancel-and-replace", replace)
        await asyncio.sleep(0)
        digest = mine.cancel_all.digest((account, 0, 1002))
        cancel_all = call(b"DELETE", b"/v1/openOrders", {"account": account, "subAccountId": 0, "productId": 1002,
                                                         "signature": "0x" + mine.signer.sign_digest(digest).hex()})
        listed = call(b"GET", b"/v1/orders?account=" + account.encode(), {})[1]
        still_open = call(b"GET", b"/v1/openOrders?account=" + account.encode(), {})[1]
        return placed, second, replaced, stream.sent, forged, canceled, again, cancel_all, listed, still_open

    placed, second, replaced, pushed, forged, canceled, again, cancel_all, listed, still_open = asyncio.run(scenario())
    assert placed.status == "OPEN" and placed.nonce == 1
    assert forged[0] == 400 and "signer is not the account" in forged[1]["error"]  # cancels are checked too
    assert canceled[0] == 200 and again[0] == 400
    assert replaced[0] == 200 and replaced[1]["nonce"] == 3 and replaced[1]["status"] == "OPEN"
    assert cancel_all[0] == 200
    new_id = replaced[1]["id"]
    assert [(m["method"], m["params"]["id"], m["params"]["status"]) for m in pushed] == [
        (schemas.WS_ORDER_UPDATE, placed.id, "OPEN"), (schemas.WS_ORDER_UPDATE, placed.id, "CANCELLED"),
        (schemas.WS_ORDER_UPDATE, second["id"], "OPEN"), (schemas.WS_ORDER_UPDATE, second["id"], "CANCELLED"),
        (schemas.WS_ORDER_UPDATE, new_id, "OPEN"), (schemas.WS_ORDER_UPDATE, new_id, "CANCELLED")]
    assert sorted((o["id"], o["status"]) for o in listed) == sorted(
        [(placed.id, "CANCELLED"), (second["id"], "CANCELLED"), (new_id, "CANCELLED")])  # closed ones listed
    assert still_open == []
