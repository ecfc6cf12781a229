"""Positions checked against the venue: after each reconcile of a venue (at start, after every
stream reconnect), what the venue says the account holds (VenueAdapter.fetch_account_positions)
is compared with the sum of every strategy's position there. The drift (venue minus ours, per
symbol) is what `gateway_position_drift` and `gateway status` show: not zero when the account
is traded from elsewhere too, held a position from before the journal, or a fill was missed."""
from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from gateway.positions.book import Positions

log = logging.getLogger("gateway.positions")


class Drift(NamedTuple):
    venue: int  # what the venue says, e18 base units
    ours: int  # the sum over strategies

    @property
    def drift(self) -> int:
        return self.venue - self.ours


class PositionDrift:
    def __init__(self, positions: Positions):
        self.positions = positions
        self.by_symbol: dict[tuple[str, str], Drift] = {}  # (venue, symbol) -> the last comparison
        self.unsupported: set[str] = set()  # venues whose API says nothing of positions
        self._checks: dict[str, asyncio.Task] = {}

    def reconciled(self, adapter) -> None:
        """A venue was reconciled: compare (once at a time per venue; never on the request path)."""
        if adapter.name in self.unsupported:
            return
        running = self._checks.get(adapter.name)
        if running is not None and not running.done():
            return
        try:
            self._checks[adapter.name] = asyncio.ensure_future(self.check(adapter))
        except RuntimeError:  # no loop (tools, tests)
            pass

    async def check(self, adapter) -> None:
        try:
            held = await adapter.fetch_account_positions()
        except NotImplementedError:
            self.unsupported.add(adapter.name)
            return
        except Exception as exc:  # noqa: BLE001 - a failed check says so and waits for the next reconcile
            log.warning("position drift on %s not checked: cannot read the account's positions: %s",
                        adapter.name, exc)
            return
        self.compare(adapter.name, held)

    def compare(self, venue: str, held: dict[str, int]) -> dict[str, Drift]:
        ours = {symbol: net for (v, symbol), net in self.positions.net_by_symbol().items() if v == venue}
        now = {symbol: Drift(held.get(symbol, 0), ours.get(symbol, 0)) for symbol in sorted(set(held) | set(ours))}
        for key in [k for k in self.by_symbol if k[0] == venue]:
            del self.by_symbol[key]
        for symbol, d in now.items():
            self.by_symbol[(venue, symbol)] = d
            if d.drift:
                log.warning("position drift on %s %s: the venue holds %d, the strategies' positions sum to %d "
                            "(e18 base units)", venue, symbol, d.venue, d.ours)
        return now

    async def close(self) -> None:
        for task in self._checks.values():
            task.cancel()
        await asyncio.gather(*self._checks.values(), return_exceptions=True)
