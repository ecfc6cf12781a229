"""The simulators' bench-only `verify_every`: a Citrex simulator that recovers one order
signature in N still refuses what it can check without recovering, and the default one
recovers every signature. Plus the ccxt client of bench baseline (d) against the Poloniex
simulator (ccxt is a test dependency: the venue's own client is the oracle)."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway.config import parse_config
from gateway.signer import Signer
from gateway.sim.base import scaled
from gateway.sim.citrex import CitrexSim, Product
from gateway.venues.citrex.signing import CitrexSigner

DOMAIN = dict(chain_id=1329, verifying_contract="0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9",
              domain_name="ciao", domain_version="0.0.0")
PRODUCT = Product(product_id=1002, symbol="ethperp", tick=scaled("0.1"), lot=scaled("0.001"),
                  min_quantity=scaled("0.001"))


def _order_body(signer: CitrexSigner, account: str, nonce: int, *, signature: str | None = None) -> dict:
    """A resting buy at 1000.0 for account, signed by signer (which need not be the account's key)."""
    price, quantity, expiration = scaled("1000"), scaled("0.001"), time.time_ns() // 1_000_000 + 60_000
    if signature is None:
        # the digest names the account, so a foreign key signs the account's own order
        digest = signer.order.digest((account, 0, 1002, True, 0, 0, expiration, price, quantity, nonce))
        signature = "0x" + signer.signer.sign_digest(digest).hex()
    return {"account": account, "subAccountId": 0, "productId": 1002, "isBuy": True, "orderType": 0,
            "timeInForce": 0, "expiration": expiration, "price": str(price), "quantity": str(quantity),
            "nonce": nonce, "signature": signature}


async def _scenario(verify_every: int) -> tuple[list[tuple[int, str]], CitrexSim]:
    sim = CitrexSim([PRODUCT], market_maker=False, verify_every=verify_every, **DOMAIN)
    await sim.start()
    mine = CitrexSigner(Signer(b"\x01" * 32), sub_account_id=0, **DOMAIN)
    other = CitrexSigner(Signer(b"\x02" * 32), sub_account_id=0, **DOMAIN)
    account = mine.account
    results: list[tuple[int, str]] = []
    try:
        async with aiohttp.ClientSession() as http:
            # a login signed by the wrong key: refused whatever verify_every says
            ts = time.time_ns() // 1_000_000
            bad_login = {"account": account, "message": "I would like to log into ciao finance", "timestamp": ts,
                         "signature": other.sign_login("I would like to log into ciao finance", ts)}
            async with http.post(sim.rest_url + "/v1/session/login", json=bad_login) as r:
                results.append((r.status, (await r.json()).get("error") or "ok"))

            async def post(body: dict) -> None:
                async with http.post(sim.rest_url + "/v1/order", json=body) as r:
                    reply = await r.json()
                    results.append((r.status, reply.get("error") or reply.get("status")))

            replayed = _order_body(other, account, 2)
            await post(_order_body(other, account, 1))  # 1st order: always recovered
            await post(replayed)  # 2nd
            await post(replayed)  # 3rd: the same digest and nonce again
            await post(_order_body(other, account, 4))  # 4th
            await post(_order_body(mine, account, 5, signature="0x" + "11" * 64))  # 5th: 64 bytes, no v
            await post(_order_body(mine, account, 6))  # 6th: the account's own key
    finally:
        await sim.stop()
    return results, sim


def test_verify_every_skips_recovery_but_not_the_other_checks():
    results, sim = asyncio.run(_scenario(verify_every=3))
    login, *orders = results
    assert login[0] == 400 and "signer is not the account" in login[1]
    assert orders[0][0] == 400 and "signer is not the account" in orders[0][1]  # recovered
    assert orders[1] == (200, "OPEN")  # not recovered: the foreign signature goes through
    assert orders[2][0] == 400 and "already used" in orders[2][1]  # a replay is still refused
    assert orders[3][0] == 400 and "signer is not the account" in orders[3][1]  # the 4th is recovered again
    assert orders[4][0] == 400 and orders[4][1] == "invalid signature"  # format checked when not recovered
    assert orders[5] == (200, "OPEN")
    assert sim.signed_requests == 6 and sim.unverified_signatures == 3  # the 2nd, 3rd and 6th


def test_default_simulator_recovers_every_signature():
    results, sim = asyncio.run(_scenario(verify_every=1))
    login, *orders = results
    assert login[0] == 400
    assert [status for status, _ in orders] == [400, 400, 400, 400, 400, 200]
    assert all("signer is not the account" in why for _, why in orders[:4])  # the 2nd and 3rd too
    assert orders[4][1] == "invalid signature"
    assert sim.unverified_signatures == 0


def test_verify_every_comes_from_the_sim_config_and_defaults_to_every_signature(tmp_path):
    from bench.processes import INSTRUMENTS, MID, SIM_CONFIG

    config = parse_config(SIM_CONFIG.format(tmp=tmp_path, mid=MID, instruments=INSTRUMENTS, verify_every=7))
    assert config.venues[0].sim.verify_every == 7
    default = parse_config(SIM_CONFIG.format(tmp=tmp_path, mid=MID, instruments=INSTRUMENTS, verify_every=1)
                           .replace("verify_every = 1\n", ""))
    assert default.venues[0].sim.verify_every == 1

    async def started(cfg) -> int:
        from gateway.sim.citrex import start_for

        sim = await start_for(cfg.venues[0])
        try:
            return sim.verify_every
        finally:
            await sim.stop()

    assert asyncio.run(started(config)) == 7
    assert asyncio.run(started(default)) == 1
    with pytest.raises(ValueError, match="verify_every"):
        CitrexSim([PRODUCT], market_maker=False, verify_every=0)


def test_ccxt_client_of_baseline_d_places_on_the_poloniex_simulator():
    from bench.baselines import CCXT_SYMBOL, ccxt_exchange
    from gateway.sim.poloniex import PoloniexSim
    from gateway.sim.poloniex import Product as PoloProduct

    async def scenario() -> tuple[dict, PoloniexSim]:
        sim = PoloniexSim([PoloProduct("ETH_USDT", scaled("0.01"), scaled("0.0001"), scaled("0.0001"))],
                          market_maker=False)
        sim.register("KEY-1", "secret-1")
        await sim.start()
        try:
            exchange = await ccxt_exchange(sim.rest_url, "KEY-1", "secret-1")
            try:
                order = await exchange.create_order(CCXT_SYMBOL, "limit", "buy", "0.001", "1000.1")
            finally:
                await exchange.close()
        finally:
            await sim.stop()
        return order, sim

    order, sim = asyncio.run(scenario())
    resting = sim.regular[order["id"]]
    assert resting.price == scaled("1000.1") and resting.quantity == scaled("0.001") and resting.is_open
    assert sim.refused_signatures == 0
