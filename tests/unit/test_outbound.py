"""The venue line against a scripted adapter: tokens taken once, as a request leaves; line
order kept, batches included; what was withdrawn never reaches the venue; each request
type's refusal when the venue never saw it."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from gateway.metrics import Metrics
from gateway.net.http import HttpError
from gateway.net.ratelimit import TokenBucket
from gateway.orders.model import ONE, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.venues.errors import VenueError
from gateway.venues.outbound import Outbound, QueueRefused
from gateway.venues.requests import Cancel, CancelAll, Group, Modify, Place, Replace
from tests.unit.test_tracker import Listener


class Venue:
    """What the line needs of an adapter; every call is recorded, in the order made."""
    name = "v"
    http = None
    max_batch = 1

    def __init__(self, fail: Exception | None = None):
        self.tracker = Tracker(Listener(), closed_ttl_ns=10**12)
        self.metrics = Metrics()
        self.stages = self.metrics.stages(self.name)
        self.log = logging.getLogger("test.venue")
        self.fail = fail
        self.calls: list[tuple] = []
        self.placed: list[tuple[str, float]] = []
        self.batch_weights: dict[str, float] = {}

    def _call(self, *what) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(what)

    async def place(self, order):
        self._call("place", order.client_order_id)
        self.placed.append((order.client_order_id, time.monotonic()))

    async def cancel(self, order):
        self._call("cancel", order.client_order_id)

    async def cancel_all(self, orders):
        self._call("cancel_all", *(o.client_order_id for o in orders))

    async def replace(self, old, new, proceed_on_failure):
        self._call("replace", old.client_order_id, new.client_order_id)

    async def modify(self, order, price, quantity):
        self._call("modify", order.client_order_id)

    async def place_group(self, orders, contingency):
        self._call("group", *(o.client_order_id for o in orders))

    def observe_tick_to_wire(self, order, queue_wait_ns=0):
        pass

    def batch_key(self, request):
        if type(request) is Place:
            return "places"
        if type(request) is Cancel:
            return "cancels"
        return None

    def batch_weight(self, key, requests):
        return self.batch_weights.get(key, 1)

    async def send_batch(self, key, requests):
        self._call("batch", *(r.order.client_order_id for r in requests))


class Refusals:
    def __init__(self, tracker):
        self.tracker = tracker
        self.asked: list[tuple[str, str]] = []
        self.modify_rejects: list[tuple[str, str, str]] = []

    def ask_venue(self, order, why):
        self.asked.append((order.client_order_id, why))

    def modify_rejected(self, order, code, reason):
        self.modify_rejects.append((order.client_order_id, code, reason))


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


def new_order(tracker, cid):
    order = tracker.new_order(strategy="s", client_order_id=cid, venue="v", symbol="X", side=Side.BUY,
                              type=OrderType.LIMIT, tif=TimeInForce.GTC, price=100 * ONE, quantity=ONE)
    return order


def opened(tracker, cid):
    order = new_order(tracker, cid)
    tracker.journal_sent(order)
    tracker.apply(order, Status.OPEN)
    return order


def test_tokens_are_taken_once_as_a_request_leaves():
    async def main():
        venue = Venue()
        bucket = TokenBucket(10, 3, clock=Clock())  # a stopped clock: nothing refills
        line = Outbound(venue, 1000, bucket)
        for cid in "abc":
            line.admit()
            line.submit(Place(new_order(venue.tracker, cid)))
        assert bucket.projected_wait(1) == 0  # queued, not taken: admission only projects
        await line.drained()
        assert [c[1] for c in venue.calls] == ["a", "b", "c"]
        # three tokens gone, not six: the next one is a tenth of a second away
        assert bucket.projected_wait(1) == pytest.approx(0.1)

    asyncio.run(main())


def test_nothing_overtakes_what_was_queued_before_it():
    async def main():
        venue = Venue()
        line = Outbound(venue, 1000, TokenBucket(200, 1))  # one at a time, 5 ms apart
        tracker = venue.tracker
        a, b = opened(tracker, "a"), opened(tracker, "b")
        tracker.mark_pending(a, Status.PENDING_CANCEL)
        line.submit(Place(new_order(tracker, "p")))
        line.take(Cancel(a))
        line.submit(Modify(b, 101 * ONE, None))
        line.submit(Replace(b, new_order(tracker, "r"), False))
        line.submit(Group([new_order(tracker, "g1"), new_order(tracker, "g2")], "oco"))
        line.take(CancelAll([b]))
        await line.drained()
        assert venue.calls == [("place", "p"), ("cancel", "a"), ("modify", "b"), ("replace", "b", "r"),
                               ("group", "g1", "g2"), ("cancel_all", "b")]

    asyncio.run(main())


def test_a_cancel_is_never_refused_but_waits_its_turn():
    async def main():
        venue = Venue()
        line = Outbound(venue, 1, TokenBucket(20, 1, queue=1, max_wait_s=0.01))
        tracker = venue.tracker
        placed = opened(tracker, "o")
        tracker.mark_pending(placed, Status.PENDING_CANCEL)
        line.admit()
        line.submit(Place(new_order(tracker, "p")))
        with pytest.raises(QueueRefused):
            line.admit()  # the line is full, and over its rate limit
        line.take(Cancel(placed))  # a cancel goes in all the same, behind the place
        assert len(line) == 2
        await line.drained()
        assert venue.calls == [("place", "p"), ("cancel", "o")]
        assert line.limiter.wait_to_take(1) > 0  # it took a token of its own as it left

    asyncio.run(main())


def test_a_withdrawn_place_never_reaches_the_venue_nor_takes_tokens():
    async def main():
        venue = Venue()
        bucket = TokenBucket(20, 1)
        line = Outbound(venue, 1000, bucket)
        first, second = new_order(venue.tracker, "a"), new_order(venue.tracker, "b")
        line.submit(Place(first))
        line.submit(Place(second))
        await asyncio.sleep(0.01)  # a left, b waits for a token
        assert second.queued and line.withdraw(second) and not line.withdraw(second)
        await line.drained()
        assert venue.calls == [("place", "a")] and len(line) == 0
        assert bucket.try_take()  # b's token is still there
        assert not line.withdraw(first)  # it left

    asyncio.run(main())


def test_due_requests_leave_together_in_line_order():
    async def main():
        venue = Venue()
        venue.max_batch = 3
        tracker = venue.tracker
        line = Outbound(venue, 1000)
        named = opened(tracker, "n")
        tracker.mark_pending(named, Status.PENDING_CANCEL)
        places = [new_order(tracker, f"p{i}") for i in range(6)]
        for order in places[:4]:
            line.submit(Place(order))
        line.take(Cancel(named))
        line.submit(Place(places[4]))
        line.submit(Place(places[5]))
        line.withdraw(places[1])  # taken back: the batch closes over it
        await line.drained()
        assert venue.calls == [("batch", "p0", "p2", "p3"), ("cancel", "n"), ("batch", "p4", "p5")]
        # a lone request goes as itself
        line.submit(Place(new_order(tracker, "lone")))
        await line.drained()
        assert venue.calls[-1] == ("place", "lone")
        assert all(not o.queued for o in places) and places[0].sent_at_ns and not places[1].sent_at_ns

    asyncio.run(main())


def test_under_a_rate_limit_a_batch_goes_only_where_it_costs_no_more():
    async def main():
        venue = Venue()
        venue.max_batch = 20
        venue.batch_weights["places"] = 5  # a venue that counts a batch as five requests
        bucket = TokenBucket(1000, 100)
        line = Outbound(venue, 1000, bucket)
        for i in range(3):
            line.submit(Place(new_order(venue.tracker, f"s{i}")))
        await line.drained()
        assert venue.calls == [("place", "s0"), ("place", "s1"), ("place", "s2")]  # 3 < 5
        for i in range(6):
            line.submit(Place(new_order(venue.tracker, f"b{i}")))
        await line.drained()
        assert venue.calls[3:] == [("batch", *(f"b{i}" for i in range(6)))]
        assert bucket.projected_wait(100 - 3 - 5) == 0 and bucket.projected_wait(100 - 3 - 5 + 1) > 0

    asyncio.run(main())


def _refused(fail: Exception, make, **venue_attrs):
    async def main():
        venue = Venue(fail)
        for name, value in venue_attrs.items():
            setattr(venue, name, value)
        line = Outbound(venue, 1000)
        refusals = line.refusals = Refusals(venue.tracker)
        make(venue.tracker, line)
        await line.drained()
        return venue.tracker, refusals

    return asyncio.run(main())


def test_each_request_refuses_as_its_kind_says():
    # a place the venue never saw is REJECTED; one the adapter failed on after it may have left
    # is asked about
    tracker, refusals = _refused(HttpError("connection refused"),
                                 lambda t, line: line.submit(Place(new_order(t, "p"))))
    assert tracker.by_client("s", "p").status is Status.REJECTED and refusals.asked == []
    tracker, refusals = _refused(RuntimeError("bug"), lambda t, line: line.submit(Place(new_order(t, "p"))))
    assert tracker.by_client("s", "p").status is Status.PENDING_NEW
    assert refusals.asked == [("p", "the gateway failed on this request; see its log")]

    # a cancel: refused locally, the order goes back to what it was
    def cancel(t, line):
        order = opened(t, "c")
        t.mark_pending(order, Status.PENDING_CANCEL)
        line.take(Cancel(order))
    tracker, _ = _refused(VenueError("venue_error", "no"), cancel)
    assert tracker.by_client("s", "c").status is Status.OPEN

    # a replace: the old order's cancel refused, the new order REJECTED
    def replace(t, line):
        old = opened(t, "old")
        t.mark_pending(old, Status.PENDING_REPLACE)
        line.submit(Replace(old, new_order(t, "new"), True))
    tracker, _ = _refused(VenueError("venue_error", "no"), replace)
    assert tracker.by_client("s", "old").status is Status.OPEN
    assert tracker.by_client("s", "new").status is Status.REJECTED

    # a modify: the strategy is told, with the code
    tracker, refusals = _refused(VenueError("stale_order", "changed"),
                                 lambda t, line: line.submit(Modify(opened(t, "m"), ONE, None)))
    assert refusals.modify_rejects == [("m", "stale_order", "changed")]

    # a group: every leg REJECTED
    tracker, _ = _refused(HttpError("down"), lambda t, line: line.submit(Group([new_order(t, "g1"),
                                                                               new_order(t, "g2")], "oco")))
    assert {tracker.by_client("s", c).status for c in ("g1", "g2")} == {Status.REJECTED}

    # a batch: each of its requests refuses as its own kind
    def batch(t, line):
        for cid in ("b1", "b2"):
            line.submit(Place(new_order(t, cid)))
    tracker, _ = _refused(HttpError("down"), batch, max_batch=5)
    assert {tracker.by_client("s", c).status for c in ("b1", "b2")} == {Status.REJECTED}


def test_no_import_circle_among_the_contract_the_line_and_the_resolver():
    """venues/base.py imports the line and the resolver; neither imports it back, not even
    behind TYPE_CHECKING (what they need of an adapter is a Protocol of their own)."""
    import ast
    from pathlib import Path

    import gateway.venues

    modules = ("base", "outbound", "resolver", "requests", "errors")
    folder = Path(gateway.venues.__file__).parent
    imports = {}
    for name in modules:
        text = (folder / f"{name}.py").read_text()
        assert "TYPE_CHECKING" not in text, name
        imports[name] = {node.module.rsplit(".", 1)[1] for node in ast.walk(ast.parse(text))
                         if isinstance(node, ast.ImportFrom) and node.module
                         and node.module.startswith("gateway.venues.") and node.module.rsplit(".", 1)[1] in modules}
    done: list[str] = []
    while len(done) < len(modules):  # a module whose imports are all placed goes next; none: a circle
        ready = [m for m in modules if m not in done and imports[m] <= set(done)]
        assert ready, {m: imports[m] for m in modules if m not in done}
        done += ready
    assert done.index("errors") < done.index("outbound") < done.index("resolver") < done.index("base")


class _SlotHttp:
    """An HTTP client whose one connection is busy until `free` is set."""

    def __init__(self, loop):
        self.free = loop.create_future()

    def has_slot(self) -> bool:
        return self.free.done()

    async def slot_free(self) -> None:
        await self.free


def test_a_request_accepted_while_the_line_runs_leaves_after_its_ack_is_written():
    """On uvloop a transport's write leaves at the end of the loop's pass. A request accepted
    in a pass in which the line also runs (the line woke in the same pass: its connection came
    free) waits for the next pass, so its ack is on the strategy's socket before the adapter
    signs it. Observed as the adapter sees it: the strategy's socket, peeked at each place."""
    import socket

    import uvloop

    async def main():
        loop = asyncio.get_running_loop()
        ours, strategys = socket.socketpair()
        strategys.setblocking(False)
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        venue = Venue()
        venue.http = _SlotHttp(loop)
        seen: dict[str, bytes] = {}

        async def place(order):
            try:
                seen[order.client_order_id] = strategys.recv(100, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                seen[order.client_order_id] = b""

        venue.place = place
        line = Outbound(venue, 1000)
        line.submit(Place(new_order(venue.tracker, "first")))
        await asyncio.sleep(0.01)  # the line waits for its connection

        def accept():  # a strategy's request handled: ack written, request queued
            transport.write(b"ack-second")
            line.submit(Place(new_order(venue.tracker, "second")))

        loop.call_soon(accept)
        venue.http.free.set_result(None)  # the line wakes in the same pass, after accept()
        await line.drained()
        transport.close()
        strategys.close()
        assert seen["second"] == b"ack-second"

    uvloop.run(main())
