"""The journal as the drop copy's memory: which changes JetStream has, and the rest rebuilt.

Every event the drop copy publishes is one journal record (an order's STATE
changes, its cancel rejects), and after each acknowledged batch the publisher journals a
PUBLISHED record: the last change JetStream holds of each order in the batch. What is
missing after an outage longer than the memory buffer, or after a restart, is rebuilt by
replaying the journal: the same payloads, in the same order, with the same message ids.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway.dropcopy.events import Event, EventMaker
from gateway.orders.records import (CANCEL_REJECT, EVENT, NEW, PUBLISHED, STATE, EventRecord, PublishedRecord,
                                    Record, apply_record, order_from_record)
from gateway.orders.model import Order


_CHANGES = (STATE, CANCEL_REJECT, EVENT)


def published_record(marks: dict[str, int]) -> PublishedRecord:
    return PublishedRecord(marks)


def published_marks(records: Iterable[Record]) -> dict[str, int]:
    """Order id -> the last change JetStream acknowledged, from the PUBLISHED records."""
    marks: dict[str, int] = {}
    for r in records:
        if r.k == PUBLISHED:
            for order_id, seq in r.m.items():
                if seq > marks.get(order_id, 0):
                    marks[order_id] = seq
    return marks


def last_changes(records: Iterable[Record]) -> dict[str, int]:
    """Order id -> its last change number in the journal."""
    last: dict[str, int] = {}
    for r in records:
        kind = r.k
        if kind == NEW:
            last.setdefault(r.id, 0)
        elif kind in _CHANGES:
            order_id = r.id
            seq = r.seq if r.seq >= 0 else last.get(order_id, 0) + 1  # older journals: no seq
            if seq > last.get(order_id, 0):
                last[order_id] = seq
    return last


def event_record(event: Event) -> EventRecord:
    """An event made but not yet published, kept as it is when an online compaction rewrites
    the journal (the records it was made from are not kept)."""
    return EventRecord(event.order_id, event.seq, event.subject, event.msg_id, event.payload)


def journal_events(records: Iterable[Record], maker: EventMaker, acked: dict[str, int],
                   t_ns: int) -> Iterator[Event]:
    """Every change in the journal that `acked` does not cover, in journal order (so in order
    per order), as the live drop copy made it, each once. `acked` is read as they are made."""
    records = records if isinstance(records, list) else list(records)  # read twice
    last = last_changes(records)
    # orders JetStream has whole (most of a day's journal) are not replayed at all
    wanted = {order_id for order_id, seq in last.items() if seq > acked.get(order_id, 0)}
    orders: dict[str, Order] = {}
    made: dict[str, int] = {}  # a change written twice (a snapshot after its event) is made once
    copied: dict[str, int] = {}  # order id -> its trades made into events so far
    for r in records:
        kind = r.k
        if kind == NEW:
            if r.id in wanted:
                orders[r.id] = order_from_record(r)
            continue
        if kind == EVENT:
            order_id, seq = r.id, r.seq
            if seq > acked.get(order_id, 0) and seq > made.get(order_id, 0):
                made[order_id] = seq
                yield Event(r.s, r.m, r.p, order_id, seq, t_ns)
            continue
        order = orders.get(r.id)
        if order is None:
            continue
        before = order.seq
        apply_record(order, r)
        if kind == STATE:
            seq = order.seq
            if seq > before and seq > acked.get(order.order_id, 0) and seq > made.get(order.order_id, 0):
                made[order.order_id] = seq
                yield maker.order_event(order, copied.get(order.order_id, 0), t_ns)
            copied[order.order_id] = len(order.fills)
        elif kind == CANCEL_REJECT:
            seq = order.seq
            if seq > acked.get(order.order_id, 0) and seq > made.get(order.order_id, 0):
                made[order.order_id] = seq
                yield maker.cancel_reject_event(order, seq, r.reason, t_ns)


def restart_plan(records: list[Record], orders: list[Order]) -> tuple[list[Order], list[Record], dict[str, int], int]:
    """At start, before the journal is rewritten as a snapshot: orders with changes JetStream
    lacks (in the journal read, or made by the start itself) keep their records as written, so
    they can be rebuilt as they were, even after another crash. Returns (orders to snapshot,
    records to keep after it, acked marks, changes to publish)."""
    marks = published_marks(records)
    last = last_changes(records)
    unpublished = {order_id for order_id, seq in last.items() if seq > marks.get(order_id, 0)}
    unpublished |= {o.order_id for o in orders if o.seq > last.get(o.order_id, 0)}
    snapshot = [o for o in orders if o.order_id not in unpublished]
    kept = [r for r in records if r.k != PUBLISHED and r.id in unpublished]
    acked = {o.order_id: o.seq for o in snapshot}
    acked.update({order_id: marks[order_id] for order_id in unpublished if order_id in marks})
    now = {o.order_id: o.seq for o in orders}
    missing = sum(max(now.get(order_id, 0), last.get(order_id, 0)) - marks.get(order_id, 0)
                  for order_id in unpublished)
    return snapshot, kept + [published_record(acked)], acked, missing
