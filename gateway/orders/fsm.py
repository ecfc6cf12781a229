"""The order state machine: one table of which status may follow which.

Venue events arrive late, twice or out of order (a fill before the REST ack,
an ack after a cancel). The tracker first books fills (de-duplicated by trade
id), then asks this table whether the reported status may replace the current
one. Anything the table does not allow is ignored and counted, never raised:
a late OPEN never regresses a PARTIALLY_FILLED order, and a terminal order
stays terminal, except CANCELED -> FILLED when the venue reports fills that
happened before the cancel took effect.
"""
from __future__ import annotations

from gateway.orders.model import TERMINAL, Status

S = Status

_LIVE_AFTER_ACCEPT = {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.PENDING_NEW: frozenset(_LIVE_AFTER_ACCEPT | {S.REJECTED, S.UNTRIGGERED, S.TRIGGERED,
                                                   S.PENDING_CANCEL, S.PENDING_REPLACE}),
    S.UNTRIGGERED: frozenset(_LIVE_AFTER_ACCEPT | {S.TRIGGERED, S.REJECTED, S.PENDING_CANCEL}),
    S.TRIGGERED: frozenset(_LIVE_AFTER_ACCEPT | {S.PENDING_CANCEL, S.PENDING_REPLACE}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL,
                       S.PENDING_REPLACE}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED,
                                   S.PENDING_CANCEL, S.PENDING_REPLACE}),
    # a refused cancel or replace goes back through Tracker.cancel_refused, not through here,
    # so a late OPEN from the venue cannot undo a pending cancel
    S.PENDING_CANCEL: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PENDING_REPLACE: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.CANCELED: frozenset({S.FILLED}),
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

# While a cancel or replace is pending, a partial fill is booked without
# leaving the pending status: the request is still outstanding.
KEEP_ON_PARTIAL = frozenset({S.PENDING_CANCEL, S.PENDING_REPLACE})


def allowed(current: Status, new: Status) -> bool:
    return new in TRANSITIONS[current]


def _moved_on_from() -> dict[Status, frozenset[Status]]:
    """For each status, the live statuses an order passes through before it: a report of
    one of those is late (a poll, snapshot or reply older than the order's last change),
    not a contradiction. Edges out of terminal statuses (CANCELED -> FILLED) do not count:
    a venue saying CANCELED about a FILLED order contradicts it."""
    earlier: dict[Status, set[Status]] = {s: set() for s in Status}
    for start in Status:
        if start in TERMINAL:
            continue
        seen, todo = set(), [start]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    if nxt not in TERMINAL:
                        todo.append(nxt)
        for reached in seen:
            earlier[reached].add(start)
    return {s: frozenset(e - {s}) for s, e in earlier.items()}


MOVED_ON_FROM = _moved_on_from()


def stale(current: Status, reported: Status) -> bool:
    """Whether an ignored report names a status the order has left behind (late, expected)."""
    return reported in MOVED_ON_FROM[current]
