"""Busy polling keeps the loop turning for its window after activity, then lets it sleep."""
from __future__ import annotations

import asyncio

import uvloop

from gateway.ipc.busypoll import BusyPoll


class Counting(BusyPoll):
    __slots__ = ("spins",)

    def _spin(self) -> None:
        self.spins += 1
        super()._spin()


def test_spins_for_its_window_then_stops():
    async def main():
        poll = Counting(20_000)  # 20 ms
        poll.spins = 0
        poll.touch()
        assert poll._spinning
        await asyncio.sleep(0.06)
        assert not poll._spinning and poll.spins > 100  # it turned the loop many times, then stopped
        stopped_at = poll.spins
        await asyncio.sleep(0.02)
        assert poll.spins == stopped_at  # no activity, no spinning
        poll.touch()  # activity again: spinning again
        await asyncio.sleep(0)
        assert poll._spinning

    uvloop.run(main())
