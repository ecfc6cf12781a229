"""Health never lies: a venue that goes away shows DOWN in `gateway status`
(exit 3) and gateway_venue_connected 0 within seconds, and both recover when
it is back. Every venue, through the whole gateway, its simulator stopped and
started again on the same port."""
from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.contract import test_bluefin, test_bsx, test_citrex, test_dxtrade, test_poloniex

# the contract classes by another name, so pytest does not collect their tests here again
CONTRACTS = [test_citrex.TestCitrex, test_bsx.TestBsx, test_poloniex.TestPoloniex, test_bluefin.TestBluefin,
             test_dxtrade.TestDxtrade]

METRICS = '\n[metrics]\nenabled = true\naddress = "127.0.0.1:0"\n'


async def status_exit(gw) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "status", "--socket", gw.config.server.socket_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def gauge(gw, venue: str) -> float:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{gw.metrics.address}/metrics") as r:
            text = await r.text()
    line = next(l for l in text.splitlines() if l.startswith(f'gateway_venue_connected{{venue="{venue}"}}'))
    return float(line.split()[-1])


async def until(predicate, timeout_s: float) -> None:
    async def poll():
        while not await predicate():
            await asyncio.sleep(0.1)
    await asyncio.wait_for(poll(), timeout_s)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.venue)
def test_status_and_gauge_follow_a_venue_going_away_and_back(tmp_path, contract):
    venue = contract.venue
    c = contract()
    c.venue_config = c.venue_config + METRICS
    if venue == "dxtrade":  # no stream: its health ping says it (default every 5 s)
        c.venue_config = c.venue_config.replace("poll_interval_ms = 20", "poll_interval_ms = 20\n"
                                                "health_interval_secs = 0.5")

    async def scenario(gw):
        sim = gw.sims[venue]
        port = urlsplit(sim.rest_url).port
        code, out = await status_exit(gw)
        assert code == 0 and "connected" in out, out
        assert await gauge(gw, venue) == 1

        await sim.stop()

        async def down():
            return (await status_exit(gw))[0] == 3 and await gauge(gw, venue) == 0
        await until(down, 30)
        assert "DOWN" in (await status_exit(gw))[1]

        await sim.start("127.0.0.1", port)

        async def up():
            return (await status_exit(gw))[0] == 0 and await gauge(gw, venue) == 1
        await until(up, 60)

    c.run(tmp_path, scenario, timeout_s=120)
