"""Each venue's outbound line: accepted requests wait here, in arrival order,
until a connection is free and the venue's rate limit allows.

The strategy's request path never waits for a venue: it validates, tracks and
journals an order, admits it here (or refuses it at once with
`rate_limited` when the line is full or its turn would come later than
`rate_limit_max_wait_ms`) and acks. One drain task per busy venue, none when
idle, then hands the requests to the adapter in order; the adapter signs each
as it goes out, so nonces are as fresh as the send. A request is never sent
before one queued ahead of it, so a cancel never overtakes its place.

A place still in the line when its cancel arrives is taken out: the order
ends CANCELED without the venue ever hearing of it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.net.http import HttpError
from gateway.net.ratelimit import RateLimited
from gateway.orders.model import Order

if TYPE_CHECKING:
    from gateway.venues.base import VenueAdapter

log = logging.getLogger("gateway.outbound")

# what a job asks of the adapter
PLACE, CANCEL, CANCEL_MANY, REPLACE, MODIFY, GROUP = range(6)


class QueueRefused(Exception):
    """The request cannot be queued: the strategy gets `rate_limited` at once."""


class Job:
    __slots__ = ("kind", "order", "orders", "args", "weight", "queued_ns")

    def __init__(self, kind: int, order: Order | None, orders: list[Order] | None = None, args: tuple = (),
                 weight: float = 1):
        self.kind = kind
        self.order = order
        self.orders = orders
        self.args = args
        self.weight = weight
        self.queued_ns = 0  # perf_counter_ns when accepted into the line


class Outbound:
    def __init__(self, adapter: VenueAdapter, max_requests: int):
        self._adapter = adapter
        self._jobs: deque[Job] = deque()
        self._weight = 0.0  # rate-limit weight of what waits in the line
        self._max = max_requests
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: asyncio.Event | None = None
        # a job came while the drain was running: it may have come in this very pass of the
        # loop (a strategy's requests handled past one turn's budget), its ack not written yet
        self._arrived = False
        # set by order entry: what becomes of a job the venue could not take
        self.on_failure: Callable[[Job, str, str], None] | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def admit(self, weight: float = 1) -> None:
        """Refuse (QueueRefused) a request that could not leave within the venue's wait bound."""
        name = self._adapter.name
        if len(self._jobs) >= self._max:
            raise QueueRefused(f"{name}'s outbound queue is full ({self._max} requests waiting)")
        limiter = self._adapter.limiter
        if limiter is not None:
            wait = limiter.projected_wait(self._weight + weight)
            if wait > limiter.max_wait_s or (wait > 0 and len(self._jobs) >= limiter.queue):
                limiter.refused += 1
                raise QueueRefused(
                    f"over the venue's rate limit ({limiter.rate:g}/s, burst {limiter.burst:g}): "
                    f"{len(self._jobs)} requests queued (bound {limiter.queue}), this one would leave in "
                    f"{wait * 1000:.0f} ms (bound {limiter.max_wait_s * 1000:.0f} ms)")

    def submit(self, job: Job) -> None:
        """Queue an admitted job; the drain starts on the next loop turn (after the acks are written)."""
        job.queued_ns = time.perf_counter_ns()
        self._jobs.append(job)
        self._weight += job.weight
        if job.kind == PLACE:
            job.order.queued = True
        if self._task is None:
            loop = self._loop
            if loop is None or not loop.is_running():
                loop = self._loop = asyncio.get_running_loop()  # once per loop: a getpid() per call on 3.11
            # its first step runs on a later pass of the loop than this one, after the writes
            # this pass queued (the strategy's ack among them)
            self._task = loop.create_task(self._drain())
        else:
            self._arrived = True

    def withdraw(self, order: Order) -> bool:
        """Take a place out of the line if it has not left yet; returns whether it had not."""
        if not order.queued:
            return False
        order.queued = False  # the drain skips the job when it comes to it
        return True

    async def _drain(self) -> None:
        adapter = self._adapter
        jobs = self._jobs
        try:
            while jobs:
                if self._arrived:
                    # a request accepted in this very pass has its ack written at the pass's end:
                    # its signature and bytes come after it (at most one yield per job)
                    self._arrived = False
                    await asyncio.sleep(0)
                job = jobs[0]
                if not _withdrawn(job) and not adapter.can_send(job.weight):
                    await adapter.ready(job.weight)  # a coroutine only when it has to wait
                jobs.popleft()
                self._weight -= job.weight
                if _withdrawn(job):
                    continue  # canceled while it waited (for its turn, or for a connection)
                if job.kind == PLACE:
                    job.order.queued = False
                # the line's and the rate limiter's share, kept out of tick-to-wire
                waited = time.perf_counter_ns() - job.queued_ns
                adapter.stages.queue_wait.observe_recent(waited, job.queued_ns + waited)
                try:
                    await self._run(adapter, job, waited)
                except RateLimited as exc:
                    self._failed(job, "rate_limited", str(exc))
                except HttpError as exc:
                    self._failed(job, "venue_unavailable", str(exc))
                except Exception as exc:  # noqa: BLE001 - one bad job must not stop the line
                    code = getattr(exc, "code", None)  # a VenueError
                    if code is None:
                        log.exception("venue %s failed on a queued request", adapter.name)
                        code, exc = "internal", "the gateway failed on this request; see its log"
                    self._failed(job, code, str(getattr(exc, "message", exc)))
        finally:
            self._task = None
            if self._idle is not None:
                self._idle.set()

    @staticmethod
    async def _run(adapter: VenueAdapter, job: Job, waited_ns: int) -> None:
        kind = job.kind
        note_sent = adapter.tracker.note_sent
        if kind == PLACE:
            note_sent(job.order)
            await adapter.place(job.order)
            adapter.sent(job.order, waited_ns)
        elif kind == CANCEL:
            await adapter.cancel(job.order)
        elif kind == CANCEL_MANY:
            await adapter.cancel_all(job.orders)
        elif kind == REPLACE:
            note_sent(job.args[0])
            await adapter.replace(job.order, *job.args)
            adapter.sent(job.args[0], waited_ns)
        elif kind == MODIFY:
            await adapter.modify(job.order, *job.args)
        elif kind == GROUP:
            for order in job.orders:
                note_sent(order)
            await adapter.place_group(job.orders, *job.args)
            for order in job.orders:
                adapter.sent(order, waited_ns)

    def _failed(self, job: Job, code: str, message: str) -> None:
        adapter = self._adapter
        adapter.log.warning("request not sent: %s", message)
        adapter.metrics.venue_error(adapter.name, f"not_sent_{code}")
        if self.on_failure is not None:
            self.on_failure(job, code, message)

    async def stop(self) -> None:
        """Hand nothing more to the adapter: what still waits stays unsent (journaled as acked,
        never as sent, so the next start closes it as not sent)."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def drained(self) -> None:
        """Return once the line is empty and nothing is being handed to the adapter."""
        while self._task is not None:
            self._idle = asyncio.Event()
            await self._idle.wait()


def _withdrawn(job: Job) -> bool:
    return job.kind == PLACE and not job.order.queued
