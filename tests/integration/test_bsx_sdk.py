"""Conformance: BSX's official Python SDK (bsx-sdk-py, a test dependency)
against our BSX simulator, and our adapter's key renewal and client ids.

The SDK is synchronous (requests): it runs in a worker thread while the
simulator serves on the event loop. Everything it does here (chain config,
registration with wallet + signer, API-key init and renewal, orders, batch,
listing, cancels) must work unaided, and it must send nothing the simulator
counts as unknown."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from decimal import Decimal

import aiohttp
import pytest
import uvloop
from bsx_py import BSXInstance
from bsx_py.client.rest.base import RestClient
from bsx_py.common.exception import BSXRequestException
from bsx_py.common.types.market import (
    BatchOrderUpdateParams,
    CancelAllParams,
    CancelOrderParams,
    CancelOrdersParams,
    CreateOrderParams,
    OrderType,
    Side,
)
from eth_account import Account

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.ipc.client import GatewayClient
from gateway.sim.bsx import BsxSim, Product, stable_wallet, start_for
from gateway.venues.bsx import schemas
from gateway.venues.bsx.adapter import venue_client_id
from tests.contract.suite import SERVER, VenueContract
from tests.contract.test_bsx import BSX_CONFIG

CONTRACT = "0x0000000000000000000000000000000000000002"
ETH = 2


def with_sim(scenario, timeout_s: float = 30, **kw):
    async def main():
        sim = BsxSim([Product(index=ETH, product_id="ETH-PERP", tick=10**17, lot=10**15)], chain_id=8453,
                     verifying_contract=CONTRACT, mid_prices={"ETH-PERP": 3000 * 10**18}, mm_levels=3, **kw)
        await sim.start()
        try:
            await asyncio.wait_for(scenario(sim), timeout_s)
        finally:
            await sim.stop()

    uvloop.run(main())


def order(side=Side.BUY, price="2990", size="0.5", kind=OrderType.LIMIT, cid=None, post_only=False, tif="GTC"):
    return CreateOrderParams(side=side, type=kind, product_index=ETH, price=Decimal(price), size=Decimal(size),
                             time_in_force=tif, nonce=time.time_ns(), post_only=post_only, client_order_id=cid)


def test_sdk_registers_with_wallet_and_signer_and_trades():
    async def scenario(sim):
        wallet, signer = Account.create(), Account.create()
        bsx = await asyncio.to_thread(BSXInstance, sim.rest_url, wallet, signer)
        assert sim.registrations == 1
        [user] = [u for u in sim.users.values() if u.sender == wallet.address.lower()]
        assert user.signer == signer.address.lower()

        limit = await asyncio.to_thread(bsx.create_order, order(cid="sdk1"))
        assert limit.status == "OPEN" and limit.client_order_id == "sdk1" and limit.price == Decimal("2990")
        maker = await asyncio.to_thread(bsx.create_order, order(price="2991", post_only=True))
        assert sim.engine.get(maker.id).extra["post_only"] is True
        market = await asyncio.to_thread(bsx.create_order, order(side=Side.SELL, price="0", size="0.2",
                                                                 kind=OrderType.MARKET, tif="IOC"))
        assert sim.engine.get(market.id).filled == 2 * 10**17  # sold into the bids
        listed = await asyncio.to_thread(bsx.get_all_open_orders, "ETH-PERP")
        assert {o.id for o in listed.orders} == {limit.id, maker.id}

        batch = await asyncio.to_thread(bsx.batch_update_orders, BatchOrderUpdateParams(operations=[
            order(price="2980", cid="b1"), order(price="2981", cid="b2"), order(price="2982", cid="b3"),
            order(price="2983", cid="b4")]))
        assert [r.code for r in batch.data] == [0, 0, 0, 0]
        ids = {r.detail.client_order_id: r.detail.id for r in batch.data}
        batch = await asyncio.to_thread(bsx.batch_update_orders, BatchOrderUpdateParams(operations=[
            CancelOrderParams(order_id=ids["b1"]), CancelOrderParams(client_order_id="B2"),
            CancelOrdersParams(order_ids=[ids["b3"]])]))
        assert [r.code for r in batch.data] == [0, 0, 0]
        assert [sim.engine.get(ids[c]).is_open for c in ("b1", "b2", "b3", "b4")] == [False, False, False, True]

        cancelled = await asyncio.to_thread(bsx.cancel_order, limit.id)
        assert cancelled.order_id == limit.id and not sim.engine.get(limit.id).is_open
        bulk = await asyncio.to_thread(bsx.cancel_bulk_orders, [maker.id])
        assert [c.order_id for c in bulk.cancelled_orders] == [maker.id]
        more = await asyncio.to_thread(bsx.create_order, order(price="2970"))
        everything = await asyncio.to_thread(bsx.cancel_all_orders, "ETH-PERP")
        assert {c.order_id for c in everything.cancelled_orders} == {more.id, ids["b4"]}
        batch = await asyncio.to_thread(bsx.batch_update_orders, BatchOrderUpdateParams(operations=[
            order(price="2960"), CancelAllParams(product_id="ETH-PERP")]))
        assert [r.code for r in batch.data] == [0, 0]
        assert not (await asyncio.to_thread(bsx.get_all_open_orders, "ETH-PERP")).orders

        # the venue's refusals come back as JSON the SDK reads, never a crash
        with pytest.raises(BSXRequestException, match="client_order_id"):
            await asyncio.to_thread(bsx.create_order, order(cid="not-alnum"))
        with pytest.raises(BSXRequestException, match="code: 5"):
            await asyncio.to_thread(RestClient(sim.rest_url).get, "/no/such/path")
        assert not sim.unknown_fields, dict(sim.unknown_fields)

    with_sim(scenario)


def test_register_checks_both_signatures():
    async def scenario(sim):
        wallet, signer, stranger = Account.create(), Account.create(), Account.create()
        bsx = await asyncio.to_thread(BSXInstance, sim.rest_url, wallet, signer)
        [(_, body)] = [(w, b) for w, b in sim.received if w == "POST /users/register"]
        assert set(body) == schemas.SDK_REGISTER
        async with aiohttp.ClientSession() as http:
            url = sim.rest_url + "/users/register"
            # the same signatures under another wallet: neither verifies for it
            forged = {**body, "user_wallet": stranger.address, "nonce": body["nonce"] + 1}
            async with http.post(url, json=forged) as r:
                assert r.status == 400 and "wallet_signature" in (await r.json())["message"]
            async with http.post(url, json=body) as r:  # a replay
                assert r.status == 409 and (await r.json())["code"] == schemas.CODE_EXISTS
            async with http.post(url, json={**body, "signer": stranger.address, "nonce": body["nonce"] + 2}) as r:
                assert r.status == 400 and (await r.json())["code"] == schemas.CODE_INVALID
            async with http.post(url, json={"user_wallet": wallet.address}) as r:  # fields missing
                assert r.status == 400 and "invalid request" in (await r.json())["message"]
        assert sim.registrations == 1 and bsx is not None

    with_sim(scenario)


def test_sdk_from_api_key_renews_a_key_near_expiry():
    async def scenario(sim):
        signer = Account.create()
        wallet = "0x" + "ab" * 20
        sim.register("old-key", "old-secret", wallet, signer.address, life_s=120)  # inside the 5 minutes
        bsx = await asyncio.to_thread(BSXInstance.from_api_key, "old-key", "old-secret", signer, sim.rest_url)
        assert sim.renewals == 0
        placed = await asyncio.to_thread(bsx.create_order, order(cid="r1"))
        assert sim.renewals == 1 and placed.status == "OPEN"
        new = [u for u in sim.users.values() if u.api_key != "old-key"]
        assert len(new) == 1 and new[0].sender == wallet and new[0].expires_ns > time.time_ns() + 86400 * 10**9
        [(_, renewal)] = [(w, b) for w, b in sim.received if w == "POST /users/api-key"]
        assert renewal == {"name": ""}
        assert not sim.unknown_fields

    with_sim(scenario)


# our adapter

def test_venue_client_ids_are_32_letters_and_digits_at_most():
    for order_id in ("18c3f2a9b7e01-1", "18c3f2a9b7e01-123456", "x" * 40, "a_b.c:d"):
        cid = venue_client_id(order_id)
        assert cid.isalnum() and len(cid) <= schemas.CLIENT_ORDER_ID_MAX
    assert venue_client_id("18c3f2a9b7e01-1") != venue_client_id("18c3f2a9b7e01-11")
    assert len({venue_client_id(f"18c3f2a9b7e01-{i}") for i in range(1000)}) == 1000


def _write_secret(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")


def test_adapter_renews_its_key_ahead_of_expiry_without_dropping_orders(tmp_path):
    """A key 301 s from expiry is renewed about a second after start (5 minutes ahead, as the
    SDK); orders sent before, during and after all arrive, and the new key is saved (to the state
    directory: here the nonce file's folder; the key files stay as they are)."""
    async def main():
        sim = BsxSim([Product(index=ETH, product_id="ETH-PERP", tick=10**17, lot=10**15)], chain_id=8453,
                     verifying_contract=CONTRACT, mid_prices={"ETH-PERP": 3000 * 10**18}, mm_levels=3)
        signer = Account.create()
        (tmp_path / "signer.hex").write_text(signer.key.hex().removeprefix("0x") + "\n")
        os.chmod(tmp_path / "signer.hex", 0o600)
        _write_secret(tmp_path / "bsx.key", "first-key")
        _write_secret(tmp_path / "bsx.secret", "first-secret")
        sim.register("first-key", "first-secret", stable_wallet("first-key"), signer.address, life_s=301)
        await sim.start()
        config = (SERVER + f"""
[[venues]]
kind = "bsx"
name = "bsx"
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
api_key_file = "{tmp_path}/bsx.key"
api_secret_file = "{tmp_path}/bsx.secret"
signer_key_file = "{tmp_path}/signer.hex"
nonce_file = "{tmp_path}/bsx.nonce"
[venues.instruments.ETH-PERP]
product_id = 2
tick_size = "0.1"
lot_size = "0.001"
""").replace("{tmp}", str(tmp_path))
        gw = await Gateway.start(parse_config(config))
        try:
            ad = gw.venues["bsx"]
            assert ad.key_renewals == 0
            async with GatewayClient(gw.config.server.socket_path, strategy="alpha") as s:
                cids = []
                for i in range(200):  # orders flow until the scheduled renewal happens
                    if ad.key_renewals:
                        break
                    if len(cids) < 20:
                        cids.append(f"k{i}")
                        assert (await s.place("bsx", "ETH-PERP", "buy", "0.01", str(2900 + i),
                                              client_order_id=cids[-1])).ok
                    await asyncio.sleep(0.1)
                assert ad.key_renewals == 1 and sim.renewals == 1
                # a second renewal racing a burst: every order goes with one valid key or the other
                burst = [f"b{j}" for j in range(12)]
                acks = await asyncio.gather(ad.renew_api_key(), *[
                    s.place("bsx", "ETH-PERP", "buy", "0.01", "2899", client_order_id=cid) for cid in burst])
                assert all(a.ok for a in acks[1:])
                cids += burst
                for _ in range(1000):  # events of a burst come in any order: read the state
                    states = {o.client_order_id: o.status for o in await s.orders(open_only=False)}
                    if all(states.get(cid) == "OPEN" for cid in cids):
                        break
                    await asyncio.sleep(0.02)
                assert all(states.get(cid) == "OPEN" for cid in cids), states
            assert sim.renewals == 2 and len(sim.engine.open_orders(ad.account)) == len(cids)
            new_key = ad.creds.api_key
            assert new_key != "first-key"
            saved = json.loads((tmp_path / "bsx.renewed-api-key").read_text())
            assert (saved["api_key"], saved["api_secret"]) == (new_key, sim.users[new_key].api_secret)
            assert os.stat(tmp_path / "bsx.renewed-api-key").st_mode & 0o777 == 0o600
            assert (tmp_path / "bsx.key").read_text().strip() == "first-key"
            assert (tmp_path / "bsx.secret").read_text().strip() == "first-secret"
            assert ad.key_expires_ns == sim.users[new_key].expires_ns
            # the stream signs its next auth with the new key
            auths = len([1 for w, _ in sim.received if w == "ws auth"])
            await sim.drop_streams()
            for _ in range(500):
                seen = [b for w, b in sim.received if w == "ws auth"]
                if len(seen) > auths:
                    break
                await asyncio.sleep(0.01)
            assert seen[-1]["key"] == new_key
            assert not sim.unknown_fields
        finally:
            await gw.stop()
            await sim.stop()

    uvloop.run(asyncio.wait_for(main(), 60))


def _bsx_config(sim, tmp_path, keys) -> str:
    return (SERVER + f"""
[[venues]]
kind = "bsx"
name = "bsx"
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
api_key_file = "{keys}/bsx.key"
api_secret_file = "{keys}/bsx.secret"
signer_key_file = "{tmp_path}/signer.hex"
nonce_file = "{tmp_path}/bsx.nonce"
[venues.instruments.ETH-PERP]
product_id = 2
tick_size = "0.1"
lot_size = "0.001"
""").replace("{tmp}", str(tmp_path))


def test_a_renewed_key_goes_to_the_state_directory_and_is_used_at_the_next_start(tmp_path, monkeypatch, caplog):
    """As under the unit: the key files are read-only credentials ($CREDENTIALS_DIRECTORY,
    LoadCredential=) and the state directory is $STATE_DIRECTORY (StateDirectory=). The key is
    renewed; the renewal is saved there (0600), the credentials stay as they were; at the next
    start (the old key expired at the venue meanwhile) the renewed key is the one used, and no
    log line holds a key or secret."""
    keys, state = tmp_path / "credentials", tmp_path / "state"
    keys.mkdir()
    state.mkdir(mode=0o700)
    signer = Account.create()
    _write_secret(tmp_path / "signer.hex", signer.key.hex().removeprefix("0x"))
    for name, value in (("bsx.key", "first-key"), ("bsx.secret", "first-secret")):
        _write_secret(keys / name, value)
        os.chmod(keys / name, 0o400)
    os.chmod(keys, 0o500)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(keys))
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}

    async def main():
        sim = BsxSim([Product(index=ETH, product_id="ETH-PERP", tick=10**17, lot=10**15)], chain_id=8453,
                     verifying_contract=CONTRACT, mid_prices={"ETH-PERP": 3000 * 10**18}, mm_levels=3)
        sim.register("first-key", "first-secret", stable_wallet("first-key"), signer.address, life_s=301)
        await sim.start()
        config = parse_config(_bsx_config(sim, tmp_path, keys))
        try:
            gw = await Gateway.start(config)
            try:
                ad = gw.venues["bsx"]
                for _ in range(200):  # renewed about a second after start
                    if ad.key_renewals:
                        break
                    await asyncio.sleep(0.05)
                assert ad.key_renewals == 1
                renewed = seen["key"] = ad.creds.api_key
                seen["secret"] = sim.users[renewed].api_secret
            finally:
                await gw.stop()
            saved = state / "bsx.renewed-api-key"
            assert os.stat(saved).st_mode & 0o777 == 0o600
            assert {k: v for k, v in json.loads(saved.read_text()).items() if k.startswith("api_")} == {
                "api_key": renewed, "api_secret": seen["secret"]}
            assert (keys / "bsx.key").read_text().strip() == "first-key"
            assert (keys / "bsx.secret").read_text().strip() == "first-secret"
            sim.users["first-key"].expires_ns = 0  # the old key no longer opens the account
            auths = len([1 for w, _ in sim.received if w == "ws auth"])
            gw = await Gateway.start(config)
            try:
                ad = gw.venues["bsx"]
                assert ad.creds.api_key == renewed and ad.key_renewals == 0
                assert [b["key"] for w, b in sim.received if w == "ws auth"][auths:] == [renewed]
                async with GatewayClient(gw.config.server.socket_path, strategy="alpha") as s:
                    assert (await s.place("bsx", "ETH-PERP", "buy", "0.01", "2900", client_order_id="n1")).ok
                    await s.wait_status("n1", "OPEN")
            finally:
                await gw.stop()
            # a venue that no longer takes the renewal (an in-process simulator starts afresh with
            # the configured key): the configured key is tried
            del sim.users[renewed]
            sim.users["first-key"].expires_ns = time.time_ns() + 3600 * 10**9
            gw = await Gateway.start(config)
            try:
                assert gw.venues["bsx"].creds.api_key == "first-key"
            finally:
                await gw.stop()
            assert not sim.unknown_fields
        finally:
            await sim.stop()

    try:
        uvloop.run(asyncio.wait_for(main(), 60))
    finally:
        os.chmod(keys, 0o700)
    said = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "API key renewed" in said
    for secret in (seen["key"], seen["secret"], "first-key", "first-secret"):
        assert secret not in said


def test_simulated_account_is_the_same_on_every_start(tmp_path):
    async def main():
        venue = parse_config((SERVER + BSX_CONFIG).replace("{tmp}", str(tmp_path))).venues[0]
        accounts = []
        for _ in range(2):
            sim = await start_for(venue)
            try:
                [user] = sim.users.values()
                accounts.append((user.api_key, user.sender, user.signer))
            finally:
                await sim.stop()
        return accounts

    first, second = uvloop.run(main())
    assert first == second


def test_bsx_simulator_fault_hooks(tmp_path):
    """answer_429 and reply_delay_ms, as the other simulators have them."""
    class Gw(VenueContract):
        venue = "bsx"
        venue_config = BSX_CONFIG

    async def scenario(gw):
        sim = gw.sims["bsx"]
        sim.faults.answer_429, sim.faults.retry_after_s = 1, 1
        async with Gw().strategy(gw, "alpha") as s:
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2980", client_order_id="q1")).ok
            refused = await s.wait_status("q1", "REJECTED")
            assert "HTTP 429" in refused.reason and "retry after 1 s" in refused.reason
            assert sim.requests_429 == 1
            sim.faults.reply_delay_ms = 300
            t0 = time.monotonic()
            assert (await s.place("bsx", "ETH-PERP", "buy", "1", "2980", client_order_id="q2")).ok
            await s.wait_status("q2", "OPEN")
            assert time.monotonic() - t0 >= 0.29  # a lower bound only: the reply waited
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.rest_url + "/nowhere") as r:
                assert r.status == 404 and (await r.json())["code"] == schemas.CODE_NOT_FOUND

    Gw().run(tmp_path, scenario)


def test_sdk_portfolio_agrees_with_what_the_adapter_reads_of_the_account(tmp_path):
    """The official SDK's get_portfolio_detail (GET /portfolio/detail, parsed by its Portfolio
    model) against our simulator, on the gateway's own account (its API key and signer): the
    net size it reads per product is what the adapter reads for the drift check, a short
    included, and what the strategies' positions sum to."""
    async def main():
        gw = await Gateway.start(parse_config((SERVER + BSX_CONFIG).replace("{tmp}", str(tmp_path))))
        try:
            ad = gw.venues["bsx"]
            async with GatewayClient(gw.config.server.socket_path, strategy="alpha") as a, \
                    GatewayClient(gw.config.server.socket_path, strategy="beta") as b:
                assert (await a.place("bsx", "ETH-PERP", "buy", "1", "3003", client_order_id="a1")).ok
                await a.wait_status("a1", "FILLED")
                assert await ad.fetch_account_positions() == {"ETH-PERP": 10**18}
                # beta sells 2 into two bids: the account goes short 1
                assert (await b.place("bsx", "ETH-PERP", "sell", "2", "2994", client_order_id="b1")).ok
                await b.wait_status("b1", "FILLED")
            signer = Account.from_key(bytes.fromhex((tmp_path / "bsx-signer.hex").read_text().strip()))
            bsx = await asyncio.to_thread(BSXInstance.from_api_key, ad.creds.api_key, ad.creds.api_secret, signer,
                                          gw.sims["bsx"].rest_url)
            portfolio = await asyncio.to_thread(bsx.get_portfolio_detail)
            assert portfolio.account == ad.account.lower()
            [position] = portfolio.positions
            assert (position.product_index, position.product_id, position.net_size) == (ETH, "ETH-PERP", Decimal("-1"))
            assert position.avg_entry_price == Decimal("2994")  # the second bid's: the first closed the long
            held = await ad.fetch_account_positions()
            assert held == {"ETH-PERP": int(position.net_size * 10**18)} == {"ETH-PERP": -10**18}
            assert gw.parts.positions.net_by_symbol()[("bsx", "ETH-PERP")] == -10**18
            assert not gw.sims["bsx"].unknown_fields, dict(gw.sims["bsx"].unknown_fields)
        finally:
            await gw.stop()

    uvloop.run(asyncio.wait_for(main(), 30))
