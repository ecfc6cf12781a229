"""A short, seed-fixed chaos run per venue (bench/chaos.py has the long one: make chaos): the
venue's simulator, the gateway and the strategy each in its own process; random faults, the
gateway killed with SIGKILL at least once (one of its resting orders filling while it is down)
and started again from its journal; then faults off, and every order converges to the
simulator's own book, no fill is booked twice, and every fill reached the strategy as trades."""
from __future__ import annotations

import asyncio
import logging
import re
import socket

import pytest

from bench.chaos import run_venue

VENUES = ["citrex", "bsx", "poloniex", "bluefin", "dxtrade"]

# What a venue still gets wrong, found by this run and not fixed here: the problems it causes
# (anything else fails the test), and why. Once fixed, the test fails until the entry goes.
KNOWN: dict[str, tuple[re.Pattern, str]] = {}

_reports: dict[str, object] = {}


def _report(venue: str, tmp_path_factory):
    """One run per venue, shared by the tests below."""
    if venue not in _reports:
        _reports[venue] = asyncio.run(run_venue(tmp_path_factory.mktemp(f"chaos-{venue}"), venue, orders=60, seed=7,
                                                bound_s=20))
    return _reports[venue]


@pytest.mark.parametrize("venue", VENUES)
def test_every_order_converges_to_the_venue_after_random_faults_and_kill_9(tmp_path_factory, venue):
    report = _report(venue, tmp_path_factory)
    assert report.acked >= 50 and sum(report.faults.values()) == 6
    assert report.kills >= 1  # a real process, killed with SIGKILL and started again from its journal
    assert sum(report.statuses.values()) == report.acked
    problems = report.problems
    known = KNOWN.get(venue)
    if known is not None:
        pattern, why = known
        problems = [p for p in problems if not pattern.match(p)]
    assert not problems, (report.faults, problems[:10], f"logs: {report.logs}")
    if known is not None:
        if report.problems:
            pytest.xfail(why)
        pytest.fail(f"{venue} converges now: remove its KNOWN entry ({why})")
    assert report.ok


@pytest.mark.parametrize("venue", VENUES)
def test_every_fill_reaches_the_strategy_as_trades(tmp_path_factory, venue):
    """For every order, the trades the strategy was told of add up to its filled: a fill learned
    from a venue's total (a look-up, a reconcile, a stream gap) comes with its trade records."""
    report = _report(venue, tmp_path_factory)
    assert report.filled_orders >= 1  # the run's fill while the gateway was down at least
    assert report.trades_ok, (len(report.trade_gaps), report.trade_gaps[:10], f"logs: {report.logs}")


def test_simulator_logs_a_client_that_went_away_as_one_line(caplog):
    """The gateway gives up on a slow reply and closes the connection: the simulator says so in one
    warning line, not an aiohttp traceback (make chaos printed thousands of lines of them)."""
    from aiohttp import web

    from gateway.sim.base import SimServer

    class SlowVenue(SimServer):
        def app(self) -> web.Application:
            async def place(request: web.Request) -> web.Response:
                await self.slow_reply()  # as BSX's: slow before it reads the order
                await request.read()
                return web.json_response({})

            app = web.Application()
            app.add_routes([web.post("/orders", place)])
            return app

    async def main():
        sim = SlowVenue()
        sim.faults.reply_delay_ms = 300
        await sim.start()
        try:
            port = int(sim.rest_url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port)) as s:
                # headers only: the body never comes, and the client is gone before the venue reads it
                s.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{")
            await asyncio.sleep(0.6)
        finally:
            await sim.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.WARNING and gone[0].exc_info is None, caplog.text
    assert gone[0].getMessage().startswith("POST /orders: ")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
