"""An order request's own steps, as every adapter takes them: its nonce (allocated, kept
on the order's venue data, indexed, journaled before the bytes leave), its signature
timed as the sign stage, its send time, and the latencies measured from them."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from gateway._core.nonce import NonceAllocator
from gateway.orders.model import Order
from gateway.venues.errors import VenueError

# NonceAllocator's units, in nanoseconds (the nonce age metric)
NONCE_UNIT_NS = {"ns": 1, "us": 1000}
T = TypeVar("T")


class RequestSteps:
    """Mixed into gateway/venues/base.py's VenueAdapter, whose state it uses (name, tracker,
    stages, venue_data_type, the nonce index)."""

    def open_nonces(self, path: str, unit: str) -> None:
        """The nonce allocator, on its file (unit "ns" or "us": the venue's); the file keeps the
        high-water mark across restarts, so a nonce is never given twice."""
        if not path:
            raise VenueError("config", f"venue {self.name}: nonce_file is required")
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        self.nonces = NonceAllocator(path, unit)
        self.nonce_unit_ns = NONCE_UNIT_NS[unit]

    def assign_nonce(self, order: Order) -> int:
        """A fresh nonce for the order's request, kept where the order is found by it again: its
        venue data (journaled here, so on disk before the bytes leave: the HTTP client's writes
        wait for the journal; after a lost reply or a crash the venue is asked by it) and the
        nonce index the venue's events are matched by."""
        nonce = self.nonces.next()
        data = order.venue_data
        if data is None:  # VenueData.ensure_on, inline: this is on every order's path
            order.venue_data = self.venue_data_type(nonce=nonce)
        else:
            data.nonce = nonce
        self._by_nonce[nonce] = order
        self.tracker.note_venue_data(order)
        return nonce

    def order_by_nonce(self, nonce: int) -> Order | None:
        """The open order signed with this nonce (assign_nonce), if any."""
        return self._by_nonce.get(nonce)

    def forget_nonce(self, order: Order) -> None:
        """The order is done with its nonce (closed, or sent again with a new one)."""
        if order.venue_data is not None:
            self._by_nonce.pop(order.venue_data.nonce, None)

    def timed_sign(self, sign: Callable[..., T], *args) -> T:
        """sign(*args): the venue's signing step for an order request (its signature, and the
        nonce or timestamp made for it), timed as the sign stage."""
        t0 = time.perf_counter_ns()
        signed = sign(*args)
        self.stages.sign.observe(time.perf_counter_ns() - t0)
        return signed

    def stamp_sent(self, order: Order) -> None:
        """The order's request bytes are made, to be written now: the venue's reply and its
        first word on the order are timed from here (venue_ack, confirmation)."""
        order.sent_ns = time.perf_counter_ns()

    def observe_tick_to_wire(self, order: Order, queue_wait_ns: int = 0) -> None:
        """The order's request was handed to the connection: tick-to-wire, from the frame read,
        less the time it waited in the outbound line for a connection or the rate limit (that
        is the venue's pace, not the gateway's work: gateway_order_queue_wait_seconds)."""
        if order.received_ns:
            now = time.perf_counter_ns()
            self.stages.tick_to_wire.observe_recent(now - order.received_ns - queue_wait_ns, now)

    def observe_ack(self, order: Order) -> None:
        """The venue's reply to an order request arrived: time it from the send."""
        sent = order.sent_ns
        if sent:
            self.stages.venue_ack.observe(time.perf_counter_ns() - sent)
