"""A journal that cannot write (a full disk): nothing is acknowledged or sent to a venue before
the journal has it, new orders asked for meanwhile are refused with `journal_unavailable`,
/metrics shows it, and once the disk takes writes again everything held goes out, in order,
without a restart."""
from __future__ import annotations

import asyncio
import errno
import os

import gateway.orders.journal as journal_mod
from tests.integration.harness import run_gateway, strategy


def with_journal(tmp):
    def edit(text: str) -> str:
        head, _, rest = text.partition("[risk]")
        return f'{head}[journal]\npath = "{tmp}/orders.journal"\n[risk]{rest}'
    return edit


class FullDisk:
    """os.write for the journal's file fails with ENOSPC while `full`; other fds write."""

    def __init__(self, journal):
        self._write = os.write  # the real one (the patch replaces os.write for everyone)
        self.journal = journal
        self.full = False
        self.refused = 0

    def __call__(self, fd, data):
        if self.full and fd == self.journal._fd:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._write(fd, data)


def test_a_full_disk_holds_acks_and_sends_refuses_new_orders_and_recovers(tmp_path, monkeypatch):
    async def scenario(gw):
        journal = gw.tracker.journal
        disk = FullDisk(journal)
        monkeypatch.setattr(journal_mod.os, "write", disk)
        sim = gw.sims["citrex"]
        async with strategy(gw, "alpha") as s:
            assert (await s.place("citrex", "ETH-PERP", "buy", "0.001", "2900", client_order_id="before")).ok
            await s.wait_status("before", "OPEN", timeout_s=5)
            requests_before = sim.requests
            disk.full = True
            first = asyncio.ensure_future(s.place("citrex", "ETH-PERP", "buy", "0.001", "2901",
                                                  client_order_id="held"))
            await asyncio.sleep(0.5)
            # accepted in memory, but neither acknowledged nor sent while the journal cannot have it
            assert not first.done()
            assert sim.requests == requests_before
            assert journal.failing is not None and disk.refused >= 2  # tried again on its own
            metrics = gw.metrics.render().decode()
            assert "gateway_journal_failing 1.0" in metrics
            second = asyncio.ensure_future(s.place("citrex", "ETH-PERP", "buy", "0.001", "2902",
                                                   client_order_id="during"))
            await asyncio.sleep(0.3)
            assert not second.done()  # its refusal waits behind the held ack (replies keep their order)
            disk.full = False  # room again: no request from anyone is needed to get going
            held, during = await asyncio.wait_for(asyncio.gather(first, second), 5)
            assert held.ok
            assert not during.ok and during.error.code == "journal_unavailable", during
            assert "No space left on device" in during.error.message
            await s.wait_status("held", "OPEN", timeout_s=5)
            assert journal.failing is None
            metrics = gw.metrics.render().decode()
            assert "gateway_journal_failing 0.0" in metrics
            assert "gateway_journal_write_errors_total" in metrics
            after = await s.place("citrex", "ETH-PERP", "buy", "0.001", "2903", client_order_id="after")
            assert after.ok
            await s.wait_status("after", "OPEN", timeout_s=5)
            assert gw.tracker.by_client("alpha", "during") is None  # refused: never tracked
            await s.cancel_all(venue="citrex")

    run_gateway(tmp_path, scenario, edit=with_journal(tmp_path))
    # the journal holds every accepted order, whole: a restart would find them all
    back = {o.client_order_id for o in journal_mod.replay(journal_mod.Journal(str(tmp_path / "orders.journal")).read())}
    assert {"before", "held", "after"} <= back and "during" not in back
