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
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable, Sequence
from typing import NamedTuple, TypeVar

import msgspec

from gateway._core.fixedpoint import parse_scaled
from gateway._core.nonce import NonceAllocator

from gateway.metrics import Metrics
from gateway.net.http import HttpClient, HttpError, Response
from gateway.net.ratelimit import TokenBucket, retry_after_s
from gateway.orders.model import SCALE, Order, OrderType, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.config import InstrumentConfig, VenueConfig
from gateway.venues.errors import VenueError  # re-exported: adapters and callers import it from here
from gateway.venues.outbound import Outbound
from gateway.venues.requests import VenueRequest
from gateway.venues.resolver import UNDECIDED, Answer, Resolver, lookup_each
from gateway.venues.venue_data import VenueData

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


class Steps(NamedTuple):
    """An instrument's tick, lot and minimum quantity, as e18 ints."""
    tick: int
    lot: int
    min_quantity: int


# the response headers adapters read; the HTTP client keeps no others
RESPONSE_HEADERS = frozenset({b"set-cookie", b"retry-after", b"etag"})
# NonceAllocator's units, in nanoseconds (the nonce age metric)
NONCE_UNIT_NS = {"ns": 1, "us": 1000}
T = TypeVar("T")


class VenueAdapter(abc.ABC):
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
        self.instruments: dict[str, InstrumentConfig] = dict(config.instruments)
        # the config's decimal sizes as e18 ints, parsed once rather than per order
        self.steps: dict[str, Steps] = {
            symbol: Steps(parse_scaled(i.tick_size, SCALE), parse_scaled(i.lot_size, SCALE),
                          parse_scaled(i.min_quantity, SCALE))
            for symbol, i in config.instruments.items()
        }
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

    # the order request: its nonce, its signature, its send time

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

    def sent(self, order: Order, queue_wait_ns: int = 0) -> None:
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

    def place_reply(self, order: Order, reply: asyncio.Future):
        """The reply to a place request, or None when its fate is unknown (the
        connection broke, or no reply in time): then the resolver asks the venue."""
        try:
            response = reply.result()
        except HttpError as exc:
            self.metrics.venue_error(self.name, "transport")
            self.resolver.ask(order, str(exc))
            return None
        self.observe_ack(order)
        return response

    def place_answered(self, order: Order, response: Response, accept: Callable[[bytes], None],
                       ok: Collection[int] = (200,)) -> None:
        """The venue answered a place: accept(body) takes a success; an error, or a success
        whose body cannot be read (accept raised), rejects the order."""
        if response.status in ok:
            try:
                accept(response.body)
                return
            except Exception as exc:  # noqa: BLE001 - a body we cannot read is the venue's error
                self.log.error("unreadable order reply for %s: %s", order.order_id, exc)
        self.place_refused(order, response, self.error_text(response))

    def place_refused(self, order: Order, response, reason: str) -> None:
        """The venue answered a place with an error: the order is REJECTED with its reason."""
        self.reject(order, self.refusal(response, reason))

    def refusal(self, response: Response, reason: str) -> str:
        """An error reply to an order request, counted; its reason, a rate limit's said as one."""
        self.metrics.venue_error(self.name, f"http_{response.status}")
        if response.status == 429:
            return f"venue rate limit (HTTP 429), retry after {retry_after_s(response.headers):g} s"
        return reason

    def reject(self, order: Order, reason: str) -> None:
        """The order is REJECTED, and what waited for its venue id is refused."""
        self.tracker.apply(order, Status.REJECTED, reason=reason)
        self.fail_deferred(order, "order was rejected")

    def error_text(self, response: Response) -> str:
        """An error reply in words, for reasons and logs: the venue's own (error_words), else
        the HTTP status."""
        try:
            words = self.error_words(response)
        except Exception:  # noqa: BLE001 - a body that is not the venue's error says nothing
            words = None
        return words or f"HTTP {response.status}"

    def error_words(self, response: Response) -> str | None:
        """What the venue's error body says (its message, code, ...), in its own format; None
        when it says nothing. Raising is the same as None."""
        return None

    def cancel_reason(self, order: Order, venue_reason: str | None = None) -> str:
        """Why the order closed CANCELED, in the words strategies see: its replacement, the
        strategy's cancel, the venue's reason when it gave one, else the terms that canceled
        the remainder."""
        if order.status is Status.PENDING_REPLACE and order.replaced_by:
            return self.replaced_reason(order)
        if order.status is Status.PENDING_CANCEL:
            return "canceled by request"
        if venue_reason:
            return f"canceled by the venue: {venue_reason}"
        if order.type is OrderType.MARKET:
            return "market order remainder canceled"
        if order.tif is not TimeInForce.GTC:
            return f"{order.tif.value.upper()} remainder canceled"
        return "canceled by the venue"

    def replaced_reason(self, order: Order) -> str:
        """The reason of an order canceled by its replace (order.replaced_by set)."""
        new = self.tracker.get(order.replaced_by)
        return f"replaced by {new.client_order_id if new else order.replaced_by}"

    def cancel_reply(self, orders: Sequence[Order], reply: asyncio.Future) -> Response | None:
        """The reply to a cancel of these orders, or None when its outcome is unknown: then
        each one's cancel is refused (and the resolver asks about those still open)."""
        try:
            return reply.result()
        except (HttpError, VenueError) as exc:
            for order in orders:
                self.cancel_refused(order, f"cancel outcome unknown: {exc}")
            return None

    async def lookup(self, order: Order) -> str:
        """Ask the venue about this one order (by our id, its id or its nonce) and apply what it
        says. Returns FOUND, NOT_FOUND (the venue says it does not know it) or UNDECIDED (it cannot
        tell); raises when it could not be asked (the resolver asks again later)."""
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
        if self.nonces is not None and not self.nonces.closed:
            self.nonces.sync()
            self.nonces.close()

    async def reconcile(self, orders: list[Order]) -> None:
        """Bring these orders (open as far as the gateway knows) in line with the venue:
        after a restart from the journal and after every stream reconnect. What the venue
        lists of them is applied (apply_listing); each one it does not list, or every one
        when it cannot list them, goes to the resolver, never left as it was."""
        if not orders:
            return
        try:
            listed = await self.apply_listing(orders)
        except (HttpError, VenueError) as exc:
            self.log.error("reconcile: cannot list orders: %s; asking order by order", exc)
            listed = set()
        self.not_listed(orders, listed)
        self.log.info("reconciled %d orders with the venue", len(orders))

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
