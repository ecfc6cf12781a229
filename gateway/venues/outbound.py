"""Each venue's outbound line: accepted requests wait here, in arrival order,
until a connection is free and the venue's rate limit allows.

The line owns its venue's rate limiter. The strategy's request path never
waits for a venue: it validates, tracks and journals an order, admits it here
(or refuses it at once with `rate_limited` when the line is full or its turn
would come later than `rate_limit_max_wait_ms`, projected from the limiter
and what already waits) and acks. One drain task per busy venue, none when
idle, then hands the requests to the adapter in order, taking their tokens as
they leave (the HTTP client takes none); the adapter signs each as it goes
out, so nonces are as fresh as the send. A request is never sent before one
queued ahead of it, so a cancel never overtakes its place.

Where the venue takes several requests in one (a batch), the drain hands it
the due requests at the head of the line that may share one, in line order:
what arrived together leaves together, and a lone request is never held back
to wait for company.

A place still in the line when its cancel arrives is taken out: the order
ends CANCELED without the venue ever hearing of it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Hashable
from typing import Protocol

from gateway.net.http import HttpError
from gateway.net.ratelimit import TokenBucket
from gateway.venues.errors import VenueError
from gateway.venues.requests import Refusals, Venue, VenueRequest

log = logging.getLogger("gateway.outbound")


class QueueRefused(Exception):
    """The request cannot be queued: the strategy gets `rate_limited` at once."""


class LineVenue(Venue, Protocol):
    """What the line needs of its venue's adapter (gateway/venues/base.py has the contract)."""
    name: str
    http: object  # its order path's HTTP client: has_slot() and slot_free(), as gateway/net/http.py's
    stages: object  # gateway.metrics stage histograms: queue_wait
    metrics: object
    log: logging.Logger
    max_batch: int

    def batch_key(self, request: VenueRequest) -> Hashable | None: ...

    def batch_weight(self, key: Hashable, requests: list[VenueRequest]) -> float: ...

    async def send_batch(self, key: Hashable, requests: list[VenueRequest]) -> None: ...


class Outbound:
    def __init__(self, venue: LineVenue, max_requests: int, limiter: TokenBucket | None = None):
        self._venue = venue
        self.limiter = limiter
        self._jobs: deque[VenueRequest] = deque()
        self._weight = 0.0  # rate-limit weight of what waits in the line
        self._max = max_requests
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: asyncio.Event | None = None
        # set by order entry (gateway/entry.py): what a request the venue never saw refuses to
        self.refusals: Refusals | None = None
        # a request came while the drain was running: it may have come in this very pass of the
        # loop (a strategy's requests handled past one turn's budget), its ack not written yet
        self._arrived = False

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def admit(self, weight: float = 1) -> None:
        """Refuse (QueueRefused) a request that could not leave within the venue's wait bound."""
        if len(self._jobs) >= self._max:
            raise QueueRefused(f"{self._venue.name}'s outbound queue is full ({self._max} requests waiting)")
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.projected_wait(self._weight + weight)
            if wait > limiter.max_wait_s or (wait > 0 and len(self._jobs) >= limiter.queue):
                limiter.refused += 1
                raise QueueRefused(
                    f"over the venue's rate limit ({limiter.rate:g}/s, burst {limiter.burst:g}): "
                    f"{len(self._jobs)} requests queued (bound {limiter.queue}), this one would leave in "
                    f"{wait * 1000:.0f} ms (bound {limiter.max_wait_s * 1000:.0f} ms)")

    def submit(self, request: VenueRequest) -> None:
        """Queue a request admit() let in; the drain starts on the next loop turn (after the acks
        are written)."""
        self._queue(request)

    def take(self, request: VenueRequest) -> None:
        """Queue a request that is never refused: a cancel (at most one waits per open order, and
        refusing it would leave an order working that its strategy wants gone), or the place a
        request the strategy was acked for falls back to. It waits its turn like any other."""
        self._queue(request)

    def _queue(self, request: VenueRequest) -> None:
        request.queued_ns = time.perf_counter_ns()
        request.enter()
        self._jobs.append(request)
        self._weight += request.weight
        if self._task is None:
            loop = self._loop
            if loop is None or not loop.is_running():
                loop = self._loop = asyncio.get_running_loop()  # once per loop: a getpid() per call on 3.11
            # its first step runs on a later pass of the loop than this one, after the writes
            # this pass queued (the strategy's ack among them)
            self._task = loop.create_task(self._drain())
        else:
            self._arrived = True

    def withdraw(self, order) -> bool:
        """Take a place out of the line if it has not left yet; returns whether it had not."""
        if not order.queued:
            return False
        order.queued = False  # the drain skips its request when it comes to it
        return True

    def can_send(self, weight: float = 1) -> bool:
        """Whether a request of this weight could leave now (ready() would not wait)."""
        http = self._venue.http
        if http is not None and not http.has_slot():
            return False
        limiter = self.limiter
        return limiter is None or limiter.wait_to_take(weight) <= 0

    async def ready(self, weight: float = 1) -> None:
        """Return once a request of this weight could leave at once (a free connection, and
        tokens in the rate limit): until then it stays in the line, where a cancel can still
        take it back."""
        http = self._venue.http
        if http is not None:
            await http.slot_free()
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.wait_to_take(weight)
            while wait > 0:
                await asyncio.sleep(wait)
                wait = limiter.wait_to_take(weight)

    async def pay(self, weight: float = 1) -> None:
        """Tokens for a request an adapter sends on its own to finish one that has left the line
        (a retry after a stale ETag, a resend after a new login): it answers a request already
        on its way, so it neither queues behind newer ones nor can be refused; it waits only
        until the rate limit has room, and takes it."""
        limiter = self.limiter
        if limiter is None:
            return
        while not limiter.try_take(weight):
            await asyncio.sleep(max(limiter.wait_to_take(weight), 0.001))

    async def _drain(self) -> None:
        venue = self._venue
        jobs = self._jobs
        limiter = self.limiter
        batching = venue.max_batch > 1
        try:
            while jobs:
                if self._arrived:
                    # a request accepted in this very pass has its ack written at the pass's end:
                    # its signature and bytes come after it (at most one yield per request)
                    self._arrived = False
                    await asyncio.sleep(0)
                request = jobs[0]
                if request.withdrawn:
                    jobs.popleft()  # canceled while it waited (for its turn, or for a connection)
                    self._weight -= request.weight
                    continue
                batch = self._batch(request) if batching and len(jobs) > 1 else None
                weight = request.weight if batch is None else batch[1]
                if not self.can_send(weight):
                    await self.ready(weight)  # a coroutine only when it has to wait
                    continue  # the line may have changed meanwhile: withdrawn, or more to go with it
                if limiter is not None and not limiter.try_take(weight):
                    continue  # a 429's pause came in between: ready() waits it out
                if batch is None:
                    jobs.popleft()
                    self._weight -= request.weight
                    await self._send(request)
                else:
                    requests, _, key = batch
                    last = requests[-1]
                    while True:  # through the batch's last (withdrawn places between go too)
                        gone = jobs.popleft()
                        self._weight -= gone.weight
                        if gone is last:
                            break
                    await self._send_batch(key, requests)
        finally:
            self._task = None
            if self._idle is not None:
                self._idle.set()

    def _batch(self, head: VenueRequest) -> tuple[list[VenueRequest], float, Hashable] | None:
        """The due requests from the head of the line that may go as one venue request, with what
        the venue counts it as; None when the head goes alone."""
        venue = self._venue
        key = venue.batch_key(head)
        if key is None:
            return None
        batch = [head]
        limit = venue.max_batch
        ahead = iter(self._jobs)
        next(ahead)
        for request in ahead:
            if request.withdrawn:
                continue
            if len(batch) >= limit or venue.batch_key(request) != key:
                break
            batch.append(request)
        limiter = self.limiter
        while len(batch) > 1:
            weight = venue.batch_weight(key, batch)
            # under a rate limit a batch goes when the venue counts it as no more than its
            # requests one by one, and as no more than the bucket can ever hold
            if limiter is None or (weight <= sum(r.weight for r in batch) and weight <= limiter.burst):
                return batch, weight, key
            batch.pop()
        return None

    def _left(self, request: VenueRequest) -> int:
        # the line's and the rate limiter's share, kept out of tick-to-wire
        waited = time.perf_counter_ns() - request.queued_ns
        self._venue.stages.queue_wait.observe_recent(waited, request.queued_ns + waited)
        return waited

    async def _send(self, request: VenueRequest) -> None:
        waited = self._left(request)
        try:
            await request.send(self._venue, waited)
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the line
            self._failed((request,), exc)

    async def _send_batch(self, key: Hashable, requests: list[VenueRequest]) -> None:
        venue = self._venue
        tracker = venue.tracker
        waited = [self._left(r) for r in requests]
        try:
            for request in requests:
                request.leave(tracker)
            await venue.send_batch(key, requests)
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the line
            self._failed(requests, exc)
            return
        for request, ns in zip(requests, waited):
            request.sent(venue, ns)

    def _failed(self, requests, exc: Exception) -> None:
        venue = self._venue
        if isinstance(exc, VenueError):
            code, message = exc.code, exc.message
        elif isinstance(exc, HttpError):
            code, message = "venue_unavailable", str(exc)
        else:
            log.error("venue %s failed on a queued request", venue.name, exc_info=exc)
            code, message = "internal", "the gateway failed on this request; see its log"
        venue.log.warning("request not sent: %s", message)
        for request in requests:
            venue.metrics.venue_error(venue.name, f"not_sent_{code}")
            if self.refusals is not None:
                request.refuse(self.refusals, code, message)

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
