"""The bench's lean Citrex venue (bench/stubvenue.py) checks what the simulator checks without
recovering a signature, recovers the first and then one in N, and answers in the simulator's
shapes (the gateway end to end against it: tests/integration/test_loadgen.py)."""
from __future__ import annotations

import asyncio
import time

import msgspec

from bench.loadgen import INSTRUMENTS, MID, SIM_CONFIG
from bench.stubvenue import StubVenue
from gateway.config import parse_config
from gateway.signer import Signer
from gateway.venues.citrex import schemas
from gateway.venues.citrex.signing import CitrexSigner
from tests.integration.test_sim_verify_every import DOMAIN, _order_body

MESSAGE = "I would like to log into ciao finance"


def _venue(tmp_path, verify_every: int) -> StubVenue:
    config = parse_config(SIM_CONFIG.format(tmp=tmp_path, mid=MID, instruments=INSTRUMENTS, verify_every=1))
    return StubVenue(config.venues[0], verify_every)


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


def test_the_stub_pushes_each_change_on_the_account_stream_and_cancels(tmp_path):
    class Transport:
        def __init__(self):
            self.sent = []

        def send(self, kind, payload):
            self.sent.append(msgspec.json.decode(payload))

    async def scenario():
        venue = _venue(tmp_path, verify_every=1)
        mine = CitrexSigner(Signer(b"\x01" * 32), sub_account_id=0, **DOMAIN)
        _, cookie = _login(venue, mine, mine.account)
        stream = Transport()
        venue.subscribers[mine.account.lower()] = [stream]
        status, reply, _ = venue.handle(b"POST", b"/v1/order", cookie,
                                        msgspec.json.encode(_order_body(mine, mine.account, 1)))
        placed = schemas.order_decoder.decode(reply)  # the adapter's own decoder reads it
        await asyncio.sleep(0)  # the push follows the reply
        cancel = {"account": mine.account, "subAccountId": 0, "productId": 1002, "orderId": placed.id,
                  "signature": "0x" + "00" * 65}
        canceled = venue.handle(b"DELETE", b"/v1/order", cookie, msgspec.json.encode(cancel))
        again = venue.handle(b"DELETE", b"/v1/order", cookie, msgspec.json.encode(cancel))
        return placed, stream.sent, canceled, again

    placed, pushed, canceled, again = asyncio.run(scenario())
    assert placed.status == "OPEN" and placed.nonce == 1
    assert [(m["method"], m["params"]["id"], m["params"]["status"]) for m in pushed] == [
        (schemas.WS_ORDER_UPDATE, placed.id, "OPEN"), (schemas.WS_ORDER_UPDATE, placed.id, "CANCELLED")]
    assert canceled[0] == 200 and again[0] == 400
