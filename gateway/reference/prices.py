"""The latest public price of each (venue, symbol): best bid and ask, and the venue's mark
price where it publishes one, with when the gateway received them.

Prices are e18 ints, like every amount inside the gateway. The age is measured from when the
gateway received the price, not from a time the venue stamps on it: a quiet market's ticker
may carry an old stamp and still be the venue's current word."""
from __future__ import annotations

import time
from typing import NamedTuple


class Quote(NamedTuple):
    bid: int | None
    ask: int | None
    mark: int | None
    received_ns: int  # time.monotonic_ns() when the gateway received it

    @property
    def reference(self) -> int | None:
        """The price risk checks against: the venue's mark where it has one, else the mid."""
        if self.mark:
            return self.mark
        if self.bid and self.ask:
            return (self.bid + self.ask) // 2
        return None


class ReferencePrices:
    """Written by each venue's price feed, read by risk, status, metrics and the CLI."""

    def __init__(self) -> None:
        self._quotes: dict[tuple[str, str], Quote] = {}
        self.updates = 0
        self.bad_messages: dict[str, int] = {}  # venue -> price messages that could not be read

    def update(self, venue: str, symbol: str, bid: int | None, ask: int | None, mark: int | None = None,
               received_ns: int | None = None) -> None:
        self._quotes[(venue, symbol)] = Quote(bid or None, ask or None, mark or None,
                                              time.monotonic_ns() if received_ns is None else received_ns)
        self.updates += 1

    def bad_message(self, venue: str) -> None:
        self.bad_messages[venue] = self.bad_messages.get(venue, 0) + 1

    def forget(self, venue: str, symbol: str) -> None:
        self._quotes.pop((venue, symbol), None)

    def quote(self, venue: str, symbol: str) -> Quote | None:
        return self._quotes.get((venue, symbol))

    def price(self, venue: str, symbol: str, max_age_ns: int | None = None) -> int | None:
        """The reference price (mark, else mid), or None when there is none or, given
        max_age_ns, it is older than that."""
        quote = self._quotes.get((venue, symbol))
        if quote is None:
            return None
        if max_age_ns is not None and time.monotonic_ns() - quote.received_ns > max_age_ns:
            return None
        return quote.reference

    def age_s(self, venue: str, symbol: str, now_ns: int | None = None) -> float | None:
        quote = self._quotes.get((venue, symbol))
        if quote is None:
            return None
        return ((time.monotonic_ns() if now_ns is None else now_ns) - quote.received_ns) / 1e9

    def items(self) -> list[tuple[tuple[str, str], Quote]]:
        return sorted(self._quotes.items())
