"""What goes on the bus: subjects, message ids and JSON payloads of order events.

`{prefix}.{gateway_id}.{venue}.{strategy}.order` carries `{gateway, strategy, seq, order}`
(`order`: the strategy protocol's order object, amounts as decimal strings);
`....cancel_reject` carries `{gateway, strategy, seq, order_id, client_order_id, reason}`.
`seq` is the order's change number; the `Nats-Msg-Id` header `{gateway_id}:{order_id}:{seq}`
lets JetStream drop a message published twice. A `.` in a strategy or venue name is `~`
in the subject (a token cannot hold a dot; `~` is in neither name's alphabet).
"""
from __future__ import annotations

import time
from typing import NamedTuple

import msgspec

from gateway.ipc.frames import OrderView
from gateway.ipc.views import order_view
from gateway.orders.model import Order

ORDER, CANCEL_REJECT = "order", "cancel_reject"


class OrderEvent(msgspec.Struct, omit_defaults=True):
    gateway: str
    strategy: str
    seq: int
    order: OrderView


class CancelRejectEvent(msgspec.Struct):
    gateway: str
    strategy: str
    seq: int
    order_id: str
    client_order_id: str
    reason: str


class Event(NamedTuple):
    subject: str
    msg_id: str
    payload: bytes
    order_id: str
    seq: int
    t_ns: int  # time.monotonic_ns() when it was made (pending age)


class Change(NamedTuple):
    """An order change as the request path saw it: the very view its strategy got (the
    tracker makes one per change); its JSON is made later, off that path."""
    order_id: str
    seq: int
    t_ns: int
    strategy: str
    view: OrderView


def change(order: Order, view: OrderView) -> Change:
    """A few attribute reads: the request path's share of the drop copy (the view is made
    for the strategy anyway, the JSON later)."""
    return Change(order.order_id, order.seq, time.monotonic_ns(), order.strategy, view)


_encode = msgspec.json.Encoder().encode


_TOKEN = str.maketrans({".": "~", " ": "_", "\t": "_", "*": "_", ">": "_"})


def token(name: str) -> str:
    return name.translate(_TOKEN)


class EventMaker:
    """Events of one gateway; subjects are made once per (venue, strategy)."""

    def __init__(self, prefix: str, gateway_id: str):
        self.prefix = prefix
        self.gateway_id = gateway_id
        self._subjects: dict[tuple[str, str], str] = {}

    def subject_base(self, venue: str, strategy: str) -> str:
        key = (venue, strategy)
        base = self._subjects.get(key)
        if base is None:
            base = self._subjects[key] = f"{self.prefix}.{self.gateway_id}.{token(venue)}.{token(strategy)}."
        return base

    def order_event(self, order: Order, fills_from: int, t_ns: int) -> Event:
        return self.view_event(order.strategy, order.seq, order_view(order, fills_from=fills_from), t_ns)

    def view_event(self, strategy: str, seq: int, view: OrderView, t_ns: int) -> Event:
        payload = _encode(OrderEvent(self.gateway_id, strategy, seq, view))
        return Event(self.subject_base(view.venue, strategy) + ORDER, f"{self.gateway_id}:{view.order_id}:{seq}",
                     payload, view.order_id, seq, t_ns)

    def change_event(self, c: Change) -> Event:
        return self.view_event(c.strategy, c.seq, c.view, c.t_ns)

    def cancel_reject_event(self, order: Order, seq: int, reason: str, t_ns: int | None = None) -> Event:
        payload = _encode(CancelRejectEvent(self.gateway_id, order.strategy, seq, order.order_id,
                                            order.client_order_id, reason))
        return Event(self.subject_base(order.venue, order.strategy) + CANCEL_REJECT,
                     f"{self.gateway_id}:{order.order_id}:{seq}", payload, order.order_id, seq,
                     time.monotonic_ns() if t_ns is None else t_ns)


def stream_subjects(prefix: str) -> list[str]:
    """The stream's subjects: every gateway's events (5 tokens after the prefix's), never the
    control subjects (3); one subject, so any consumer filter under it is valid."""
    return [f"{prefix}.*.*.*.*"]


def control_subjects(prefix: str, gateway_id: str) -> list[str]:
    return [f"{prefix}.control.{gateway_id}", f"{prefix}.control.all"]
