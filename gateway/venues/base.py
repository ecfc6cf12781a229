"""The contract every venue adapter implements.

An adapter knows its venue's wire format and nothing of strategies: the
daemon hands it Orders already validated and tracked, the adapter signs and
sends them, and reports what the venue says back through the Tracker
(`tracker.apply(order, status, fills, ...)`, `self.cancel_refused(...)`).

Order entry (gateway/entry.py) never calls the request methods (place, cancel, ...): it
checks an order with check_new / check_modify (synchronous, VenueError when
the venue could never take it), acks the strategy, and queues the request in
the adapter's `outbound` line, whose drain calls the request method when
its turn comes (or send_batch, for due requests the venue takes in one, as
batch_key says). A request method returns once its bytes are handed to the
connection (or queued behind a request they depend on); replies and stream
events are handled afterwards. Journal records an adapter adds (a nonce, ...)
are written before any request bytes leave: `http_client` builds clients
whose writes wait for the journal.
"""
from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence

import msgspec


from gateway.metrics import Metrics
from gateway.net.http import HttpClient, HttpError
from gateway.net.ratelimit import TokenBucket
from gateway.orders.model import SCALE, Order
from gateway.orders.tracker import Tracker
from gateway.venues.config import InstrumentConfig, VenueConfig
from gateway.venues.errors import VenueError  # re-exported: adapters and callers import it from here
from gateway.venues.outbound import Outbound
from gateway.venues.reference_hooks import ReferenceHooks, Steps
from gateway.venues.request_steps import RequestSteps
from gateway.venues.requests import VenueRequest
from gateway.venues.resolver import UNDECIDED, Answer, Resolver, lookup_each
from gateway.venues.venue_data import VenueData
from gateway.venues.venue_replies import VenueReplies

__all__ = ["Capabilities", "RESPONSE_HEADERS", "Steps", "VenueAdapter", "VenueError"]


class Capabilities(msgspec.Struct, frozen=True):
    stop_orders: bool = False
    modify: bool = False
    cancel_replace: bool = False
    order_groups: bool = False
    batch_cancel: bool = False
    cancel_all: bool = False
    post_only: bool = True
    market_orders: bool = True
    reduce_only: bool = False


# the response headers adapters read; the HTTP client keeps no others
RESPONSE_HEADERS = frozenset({b"set-cookie", b"retry-after", b"etag"})


class VenueAdapter(RequestSteps, VenueReplies, ReferenceHooks, abc.ABC):
    capabilities: Capabilities = Capabilities()
    # what the adapter keeps on an order (Order.venue_data, None until it needs one): a
    # VenueData (gateway/venues/venue_data.py), journaled by field name
    venue_data_type: type[VenueData] | None = None
    # most requests one venue request carries (1: the venue takes them one by one); which may
    # share one is batch_key's to say, what the venue counts it as batch_weight's
    max_batch = 1

    def __init__(self, config: VenueConfig, tracker: Tracker, metrics: Metrics | None = None):
        self.config = config
        self.name = config.name
        self.tracker = tracker
        self.metrics = metrics or Metrics()
        self.stages = self.metrics.stages(self.name)
        limiter = (
            TokenBucket(config.rate_limit_per_s, config.rate_limit_burst or config.rate_limit_per_s,
                        queue=config.rate_limit_queue, max_wait_s=config.rate_limit_max_wait_ms / 1000)
            if config.rate_limit_per_s > 0 else None
        )
        self.instruments: dict[str, InstrumentConfig] = {}
        # the sizes as e18 ints, parsed once rather than per order
        self.steps: dict[str, Steps] = {}
        self.apply_instruments(config.instruments)  # until the venue's list is read (gateway/reference/)
        # symbol -> why new orders on it are refused (instrument_unavailable): halted or delisted
        # on the venue, or given without its block and the venue's list not read yet
        self.unavailable: dict[str, str] = {}
        self.log = logging.getLogger(f"gateway.venue.{self.name}")
        self._started = False
        # False while the venue's session does not answer (a venue without a stream says so)
        self.session_up = True
        # requests about an order the venue has not named yet (a cancel right after the place)
        self._deferred: dict[str, list[Callable[[], Awaitable[None]]]] = {}
        # orders by the nonce they were signed with (assign_nonce), while open: how a venue
        # event or listing that does not name the order yet finds it
        self._by_nonce: dict[int, Order] = {}
        # the venue's line owns its rate limit: admission projects from it, a request takes its
        # tokens as it leaves, and nothing else takes any
        self.outbound = Outbound(self, config.max_queued_requests, limiter)
        # a request may be in flight this long: a venue's "unknown" is believed only after it
        self.resolver = Resolver(self, grace_s=max(2 * config.request_timeout_ms / 1000, 1.0))
        self._restore_venue_data()

    def _restore_venue_data(self) -> None:
        """Orders replayed from the journal (restored before the adapters are made) carry their
        venue data as plain dicts: each becomes this adapter's venue_data_type, once, here."""
        if self.venue_data_type is None:
            return
        for order in self.tracker.orders.values():
            if order.venue == self.name and isinstance(order.venue_data, dict):
                order.venue_data = self.venue_data_type.from_journal(order.venue_data)

    @property
    def limiter(self) -> TokenBucket | None:
        """The venue's rate limit (its line's)."""
        return self.outbound.limiter

    def http_client(self, base_url: str, *, connections: int | None = None, limited: bool = True,
                    journaled: bool = True) -> HttpClient:
        """An HTTP client for this venue: its timeout, (optionally) the rate limit a 429 pauses,
        and (for the order requests, journaled) writes that first put the journal's pending
        records on disk: a session's logins, pings and lists need not wait for the journal, nor
        stop with it."""
        journal = self.tracker.journal if journaled else None
        return HttpClient(base_url, connections=connections or self.config.http_connections,
                          timeout_ms=self.config.request_timeout_ms, limiter=self.limiter if limited else None,
                          before_write=journal.flush_or_wait if journal is not None else None,
                          keep_headers=RESPONSE_HEADERS)

    def check_new(self, order: Order) -> None:
        """What only this venue refuses in a new order (VenueError); called before it is queued."""

    def check_modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        """What only this venue refuses in a modify (VenueError); called before it is queued."""

    async def lookup(self, order: Order) -> str:
        """Ask the venue about this one order (by our id, its id or its nonce) and apply what it
        says. Returns FOUND, NOT_FOUND (the venue says it does not know it) or UNDECIDED (it cannot
        tell); raises when it could not be asked (the resolver asks again later)."""
        return UNDECIDED

    async def lookup_from_round(self, order: Order) -> str:
        """lookup() for a venue that answers look-ups in rounds (its own lookup_many): this
        order's answer, raising what stopped it from being asked."""
        async with contextlib.aclosing(self.lookup_many([order])) as answers:
            async for _, answer in answers:
                if isinstance(answer, BaseException):
                    raise answer
                return answer
        return UNDECIDED

    def lookup_many(self, orders: Sequence[Order]) -> AsyncIterator[tuple[Order, Answer]]:
        """Ask the venue about all these orders (the resolver's round) and apply what it says:
        yields (order, FOUND | NOT_FOUND | UNDECIDED) as each is known, or (order, exception)
        for one whose look-up could not be made; raising fails every order not yet answered.
        By default each is looked up alone (lookup), a few at a time within the look-ups' share
        of the rate limit; a venue that lists the account's orders answers them all from one
        listing, applied in slices of the loop (gateway/venues/resolver.py's LoopSlices)."""
        return lookup_each(self, orders)

    def cancel_refused(self, order: Order, reason: str) -> None:
        """The venue refused a cancel or replace (or its outcome is unknown): the order goes back
        and the strategy is told; one we still hold open may have closed or been forgotten at
        the venue, so the resolver asks (and closes it only on the venue's word)."""
        self.tracker.cancel_refused(order, reason)
        if not order.is_closed:
            self.resolver.ask(order, f"cancel refused: {reason}")

    def not_listed(self, orders: list[Order], listed: set[str]) -> None:
        """After a reconnect or restart: orders we hold open that the venue's open orders do not
        show (by order id in `listed`) are asked about (the resolver), never left as they were."""
        for order in orders:
            if order.order_id not in listed and not order.is_closed:
                self.resolver.ask(order, "not among the venue's open orders")

    def defer(self, order: Order, action: Callable[[], Awaitable[None]]) -> None:
        """Run action once the venue has named the order (run_deferred), or refuse it (fail_deferred)."""
        self._deferred.setdefault(order.order_id, []).append(action)

    def deferred_until_named(self, order: Order, action: Callable[[], Awaitable[None]]) -> bool:
        """Whether the venue has yet to name the order: then action waits for it (defer)."""
        if order.venue_order_id is None:
            self.defer(order, action)
            return True
        return False

    def run_deferred(self, order: Order) -> None:
        for action in self._deferred.pop(order.order_id, ()):
            asyncio.ensure_future(action())

    def fail_deferred(self, order: Order, reason: str) -> None:
        if self._deferred.pop(order.order_id, None):
            self.cancel_refused(order, reason)

    # what most adapters hold; set by their start()
    stream = None  # a gateway.net.ws.ReconnectingStream
    http = None  # a gateway.net.http.HttpClient
    nonces = None  # a gateway._core.nonce.NonceAllocator
    nonce_unit_ns = 1  # nanoseconds per nonce unit, for the age metric

    @property
    def connected(self) -> bool:
        """Up only while it is started, its stream (if any) is up, its session answers and its
        look-ups are answered (resolver.failing): what `gateway status` and
        gateway_venue_connected report."""
        if not self._started or not self.session_up or self.resolver.failing is not None:
            return False
        stream = self.stream
        return stream is None or stream.up.is_set()

    @connected.setter
    def connected(self, started: bool) -> None:
        # adapters say True at the end of start() and False in stop(); the rest is live state
        self._started = started

    @property
    def reconnects(self) -> int:
        return self.stream.reconnects if self.stream is not None else 0

    def nonce_age_seconds(self) -> float | None:
        """Clock minus the nonce high-water mark, for the metrics; None without nonces."""
        if self.nonces is None or self.nonces.closed:
            return None
        return (time.time_ns() - self.nonces.peek() * self.nonce_unit_ns) / 1e9

    @abc.abstractmethod
    async def start(self) -> None:
        """Log in, open streams, learn what must be known before the first order."""

    async def stop(self) -> None:
        """Close the stream and the connections; keep the nonce mark on disk."""
        self.connected = False
        await self.outbound.stop()  # nothing may leave once the journal may be closing
        await self.resolver.stop()
        if self.stream is not None:
            await self.stream.stop()
        if self.http is not None:
            await self.http.close()
        await self.close_market_data()
        if self.nonces is not None and not self.nonces.closed:
            self.nonces.sync()
            self.nonces.close()

    async def reconcile(self, orders: list[Order]) -> None:
        """Bring these orders (open as far as the gateway knows) in line with the venue:
        after a restart from the journal and after every stream reconnect. What the venue
        lists of them is applied (apply_listing); each one it does not list, or every one
        when it cannot list them, goes to the resolver, never left as it was. Then
        `reconciled` (the positions' drift check, gateway/positions/drift.py) is told."""
        if orders:
            try:
                listed = await self.apply_listing(orders)
            except (HttpError, VenueError) as exc:
                self.log.error("reconcile: cannot list orders: %s; asking order by order", exc)
                listed = set()
            self.not_listed(orders, listed)
            self.log.info("reconciled %d orders with the venue", len(orders))
        if self.reconciled is not None:
            self.reconciled(self)

    # told after each reconcile (Parts.add_venue sets it)
    reconciled: Callable[[VenueAdapter], None] | None = None

    async def fetch_account_positions(self) -> dict[str, int]:
        """What the venue says the account holds: symbol -> net position, e18 base units (+ long),
        for every symbol it lists a position in. NotImplementedError: the venue's API does not
        say (the default)."""
        raise NotImplementedError(f"{type(self).__name__} reads no account positions")

    async def apply_listing(self, orders: list[Order]) -> set[str]:
        """Apply what the venue's order listing says of these orders; returns the order ids
        of those it lists. Without a listing, every order is looked up alone."""
        return set()

    async def stream_up(self) -> None:
        """The stream is up: after a reconnect, what the venue sent while it was down is lost,
        so every order held open is reconciled with the venue."""
        if self.stream.reconnects:
            await self.reconcile(self.tracker.open_orders(venue=self.name))

    def message_dropped(self, exc: Exception) -> None:
        """A stream message that could not be read or applied: dropped, counted and said; the
        stream goes on."""
        self.metrics.venue_error(self.name, "bad_message")
        self.log.warning("unreadable stream message dropped: %s", exc)

    @abc.abstractmethod
    async def place(self, order: Order) -> None: ...

    @abc.abstractmethod
    async def cancel(self, order: Order) -> None: ...

    async def cancel_all(self, orders: list[Order]) -> None:
        """Cancel these (the strategy's open orders on this venue); one by one unless overridden."""
        for order in orders:
            await self.cancel(order)

    async def replace(self, old: Order, new: Order, proceed_on_failure: bool) -> None:
        raise VenueError("unsupported", f"{self.name} cannot cancel-and-replace")

    async def modify(self, order: Order, price: int | None, quantity: int | None) -> None:
        raise VenueError("unsupported", f"{self.name} cannot amend an order in place: use replace")

    async def place_group(self, orders: list[Order], contingency: str) -> None:
        """Place orders linked at the venue: contingency "oco" or "if_then" (orders[0] the parent)."""
        raise VenueError("unsupported", f"{self.name} has no order groups")

    # batches: several requests from the line in one venue request (max_batch > 1)

    def batch_key(self, request: VenueRequest) -> Hashable | None:
        """Which venue request this one could share with its neighbours in the line: requests
        with the same key go together, in line order; None: it goes alone."""
        return None

    def batch_weight(self, key: Hashable, requests: list[VenueRequest]) -> float:
        """What one venue request carrying these counts as against the venue's rate limit."""
        return 1

    async def send_batch(self, key: Hashable, requests: list[VenueRequest]) -> None:
        """Hand these (consecutive in the line, all of one batch_key) to the venue as one
        request; returns once its bytes are handed over, like a request method."""
        raise NotImplementedError(f"{self.name} takes no batches")
