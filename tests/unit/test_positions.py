"""Positions: the average-cost arithmetic against exact fractions, the book as a tracker
listener, and the book through the journal: partial fills, cancels, closed orders forgotten,
online compactions with fills landing mid-way, kills at any point and restarts mid-fill, each
compared with the book made from the fills directly."""
from __future__ import annotations

import asyncio
import random
import shutil
from fractions import Fraction

import pytest

from gateway.orders.journal import Journal, replay
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.orders.records import PositionsRecord, decode, encoder
from gateway.orders.tracker import Tracker
from gateway.positions import Position, Positions
from gateway.reference.prices import ReferencePrices


# the arithmetic

class Exact:
    """Average cost in exact fractions: the definition the integers are held to."""

    def __init__(self):
        self.net, self.avg, self.realized = Fraction(0), Fraction(0), Fraction(0)

    def book(self, qty: Fraction, price: Fraction) -> None:
        if self.net == 0 or (self.net > 0) == (qty > 0):
            self.avg = (self.avg * abs(self.net) + price * abs(qty)) / (abs(self.net) + abs(qty))
            self.net += qty
            return
        sign = 1 if self.net > 0 else -1
        closed = min(abs(qty), abs(self.net))
        self.realized += sign * (price - self.avg) * closed
        rest = abs(qty) - closed
        self.net += qty
        if rest:
            self.avg = price
        elif self.net == 0:
            self.avg = Fraction(0)


def test_worked_example():
    p = Position()
    p.book(2 * ONE, 100 * ONE)
    p.book(1 * ONE, 110 * ONE)  # re-averages: 310 / 3
    assert p.net == 3 * ONE and p.avg_price == 103_333333333333333333 and p.realized_pnl == 0
    p.book(-1 * ONE, 120 * ONE)  # realizes (120 - 103.33...) x 1, truncated toward zero
    assert p.realized_pnl == 16_666666666666666666 and p.avg_price == 103_333333333333333333
    p.book(-3 * ONE, 90 * ONE, fee=5 * ONE // 100)  # flips: closes 2 at 90 (-26.66...), opens 1 short at 90
    assert p.net == -ONE and p.avg_price == 90 * ONE and p.realized_pnl == -10 * ONE
    assert p.unrealized_pnl(80 * ONE) == 10 * ONE and p.unrealized_pnl(91 * ONE) == -ONE
    p.book(ONE, 95 * ONE)  # closes the short: -5
    assert p.net == 0 and p.avg_price == 0 and p.realized_pnl == -15 * ONE and p.unrealized_pnl(1) == 0
    assert p.fees == 5 * ONE // 100  # apart: never in the PnL
    # flat: realized is the cash the fills made, exactly (buys 200 + 110 + 95, sells 120 + 270)
    assert p.realized_e36 == (120 + 270 - 200 - 110 - 95) * ONE * ONE


@pytest.mark.parametrize("seed", range(20))
def test_integers_follow_the_exact_average_cost(seed):
    rnd = random.Random(seed)
    p, exact, cash, reductions = Position(), Exact(), 0, 0
    for _ in range(300):
        qty = rnd.choice([1, -1]) * rnd.randrange(1, 5 * ONE)  # odd sizes: thirds and sevenths of a lot
        price = rnd.randrange(90 * ONE, 110 * ONE)
        if p.net and (p.net > 0) != (qty > 0):
            reductions += 1
        p.book(qty, price)
        exact.book(Fraction(qty, ONE), Fraction(price, ONE))
        cash -= qty * price
        assert p.net == exact.net * ONE
        # the basis's share is rounded down to the e36 unit once per reduction, never more
        assert abs(Fraction(p.realized_e36, ONE * ONE) - exact.realized) <= Fraction(reductions, ONE * ONE)
        assert p.avg_price == int(exact.avg * ONE) or abs(p.avg_price - exact.avg * ONE) <= 1
        if p.net == 0:
            assert p.realized_e36 == cash  # back to flat: exactly the cash made
    cash += p.net * 100 * ONE
    p.book(-p.net, 100 * ONE)
    assert p.net == 0 and p.cost == 0 and p.realized_e36 == cash


# the book

def _tracker(*listeners, journal=None, clock=None):
    return Tracker(*listeners, journal=journal, now_ns=clock or (lambda: 1_000), closed_ttl_ns=100)


def _order(tracker, cid, side=Side.BUY, qty=10 * ONE, strategy="s", venue="v", symbol="X"):
    return tracker.new_order(strategy=strategy, client_order_id=cid, venue=venue, symbol=symbol, side=side,
                             type=OrderType.LIMIT, tif=TimeInForce.GTC, price=100 * ONE, quantity=qty)


def test_the_book_follows_the_trackers_fills_once_each():
    reference = ReferencePrices()
    book = Positions(reference)
    tracker = _tracker(book)
    buy, sell = _order(tracker, "b"), _order(tracker, "s", Side.SELL, symbol="Y")
    tracker.apply(buy, Status.OPEN, [Fill("t1", 100 * ONE, 4 * ONE, 0, fee=ONE // 10)])
    tracker.apply(buy, Status.OPEN, [Fill("t1", 100 * ONE, 4 * ONE, 0)], channel="rest")  # seen again
    tracker.apply(buy, None, [Fill("t2", 106 * ONE, 2 * ONE, 0)], filled=8 * ONE)  # the venue's total ahead
    tracker.apply(sell, Status.OPEN, [Fill("u1", 50 * ONE, 3 * ONE, 0)])
    tracker.apply(buy, Status.CANCELED)
    x = book.get("s", "v", "X")
    assert x.net == 6 * ONE and x.avg_price == 102 * ONE and x.fees == ONE // 10
    assert book.get("s", "v", "Y").net == -3 * ONE and book.get("other", "v", "X") is None
    assert set(book.of("s")) == {("v", "X"), ("v", "Y")}
    # unrealized from the reference price; a symbol with none adds nothing and is named
    reference.update("v", "X", 109 * ONE, 111 * ONE)  # mid 110
    pnl = book.pnl("s")
    assert pnl == (0, 6 * 8 * ONE) and pnl.unpriced == [("v", "Y")]
    reference.update("v", "Y", None, None, mark=49 * ONE)
    realized, unrealized = book.pnl("s")
    assert (realized, unrealized) == (0, 48 * ONE + 3 * ONE) and book.pnl("s").unpriced == []
    assert book.pnl("nobody") == (0, 0)


def test_a_positions_record_holds_amounts_past_64_bits():
    book = Positions()
    tracker = _tracker(book)
    order = _order(tracker, "big", qty=10**9 * ONE)
    tracker.apply(order, Status.OPEN, [Fill("t", 65_000 * ONE, 10**6 * ONE, 0, fee=-ONE)])
    record = decode(encoder.encode(book.records()[0]))
    assert isinstance(record, PositionsRecord)
    back = Positions()
    back.restore_record(record)
    assert back.get("s", "v", "X") == book.get("s", "v", "X") and back.get("s", "v", "X").fees == -ONE


# through the journal

class Recorder:
    """Every fill as booked, in order: what the book must equal when made from them directly."""

    def __init__(self):
        self.fills = []

    def order_changed(self, order, new_fills):
        if new_fills:
            self.fills += [(order.strategy, order.venue, order.symbol, order.side, f) for f in order.fills[-new_fills:]]

    def cancel_rejected(self, order, reason):
        pass


def from_fills(fills) -> list:
    book = Positions()
    for strategy, venue, symbol, side, fill in fills:
        class O:  # noqa: N801 - the fields book() reads
            pass
        o = O()
        o.strategy, o.venue, o.symbol, o.side = strategy, venue, symbol, side
        book.book(o, fill)
    return rows(book)


def rows(book: Positions) -> list:
    return [(s, v, y, p.row()) for s, v, y, p in book.items()]


class Clock:
    def __init__(self):
        self.t = 1_000

    def __call__(self):
        return self.t


class Run:
    """One gateway's life as the daemon lives it: restart = replay, then the journal rewritten
    as the snapshot with the book after it."""
    n = 0

    def __init__(self, path: str, clock: Clock, recorder: Recorder):
        self.path, self.clock, self.recorder = path, clock, recorder
        self.journal = Journal(path)
        self.book = Positions()
        Run.n += 1
        self.tracker = Tracker(journal=self.journal, now_ns=clock, closed_ttl_ns=50, id_prefix=f"r{Run.n}-")
        self.tracker.restore(replay(self.journal.read(), [], self.book))
        self.journal.open(list(self.tracker.orders.values()), self.book.records())
        self.tracker.listeners += [self.book, recorder]


def restarted_rows(path: str) -> list:
    book = Positions()
    replay(Journal(path).read(), [], book)
    return rows(book)


@pytest.mark.parametrize("seed", range(4))
def test_positions_survive_compactions_purges_kills_and_restarts_exactly(tmp_path, seed):
    rnd = random.Random(seed)
    path = str(tmp_path / "journal")
    clock, recorder = Clock(), Recorder()
    crashes = []  # (copy of the journal as a kill -9 would leave it, the fills booked by then)
    cids = iter(range(10**6))
    trades = iter(range(10**6))

    def step(run: Run) -> None:
        tracker = run.tracker
        open_orders = tracker.open_orders()
        roll = rnd.random()
        if roll < 0.3 or not open_orders:
            _order(tracker, f"c{next(cids)}", rnd.choice([Side.BUY, Side.SELL]), rnd.randrange(1, 20) * ONE // 4,
                   strategy=rnd.choice(["a", "b"]), venue=rnd.choice(["v", "w"]), symbol=rnd.choice(["X", "Y"]))
        elif roll < 0.8:  # a partial (or last) fill at an odd price
            order = rnd.choice(open_orders)
            qty = min(order.remaining, rnd.randrange(1, 8) * ONE // 8)
            fill = Fill(f"t{next(trades)}", rnd.randrange(95 * ONE, 105 * ONE), qty, clock.t,
                        fee=rnd.choice([None, ONE // 1000, -ONE // 5000]))
            tracker.apply(order, Status.OPEN, [fill])
            if rnd.random() < 0.2:
                tracker.apply(order, Status.OPEN, [fill])  # the same trade again: booked once
        else:
            tracker.apply(rnd.choice(open_orders), Status.CANCELED)
        clock.t += 1
        if rnd.random() < 0.05:
            tracker.purge_closed()  # closed orders past their TTL forgotten: their fills only in the book
        if rnd.random() < 0.1:
            crash(run)

    def crash(run: Run) -> None:
        run.journal.flush()  # what the kernel has: every record written before a reply
        copy = f"{path}.kill{len(crashes)}"
        shutil.copyfile(path, copy)
        crashes.append((copy, list(recorder.fills)))

    async def life() -> None:
        run = Run(path, clock, recorder)
        for _ in range(4):  # restarts
            for _ in range(3):  # online compactions, fills landing while the snapshot is written
                for _ in range(40):
                    step(run)
                run.tracker.purge_closed()
                task = asyncio.ensure_future(run.journal.compact(
                    run.tracker.orders.values(), slice_orders=2, tail=run.book.records))
                while not task.done():
                    step(run)
                    await asyncio.sleep(0)
                await task
                assert rows(run.book) == from_fills(recorder.fills)
            run.journal.flush()  # killed: no close; open orders partly filled go on after the restart
            run = Run(path, clock, recorder)
            assert rows(run.book) == from_fills(recorder.fills)
        run.journal.close()

    asyncio.run(life())
    assert len(recorder.fills) > 300
    assert restarted_rows(path) == from_fills(recorder.fills)
    assert crashes
    for copy, fills in crashes:
        assert restarted_rows(copy) == from_fills(fills), copy


def test_a_journal_without_a_positions_record_books_every_fill_it_has(tmp_path):
    """An older journal (no POSITIONS record): the fills of the orders it holds, once each."""
    path = str(tmp_path / "j")
    journal = Journal(path)
    journal.open([])
    recorder = Recorder()
    tracker = _tracker(recorder, journal=journal)
    order = _order(tracker, "a")
    tracker.apply(order, Status.OPEN, [Fill("t1", 100 * ONE, ONE, 0)])
    tracker.apply(order, Status.OPEN, [Fill("t2", 101 * ONE, ONE, 0)])
    journal.close()
    Journal(path).open(replay(Journal(path).read()))  # rewritten as a snapshot by a gateway without positions
    assert restarted_rows(path) == from_fills(recorder.fills)


# drift: the generic part

def test_drift_compares_each_venue_apart_and_skips_venues_that_cannot_say():
    from gateway.positions.drift import PositionDrift

    book = Positions()
    tracker = _tracker(book)
    for cid, venue, side in (("1", "v", Side.BUY), ("2", "w", Side.SELL)):
        order = _order(tracker, cid, side, venue=venue)
        tracker.apply(order, Status.OPEN, [Fill(f"t{cid}", 100 * ONE, 2 * ONE, 0)])
    drift = PositionDrift(book)

    class Venue:
        def __init__(self, name, held):
            self.name, self.held, self.asked = name, held, 0

        async def fetch_account_positions(self):
            self.asked += 1
            if isinstance(self.held, Exception):
                raise self.held
            return self.held

    async def go():
        v = Venue("v", {"X": 3 * ONE, "Z": -ONE})  # one more than ours on X; Z not traded through us
        await drift.check(v)
        assert {k: d.drift for k, d in drift.by_symbol.items()} == {("v", "X"): ONE, ("v", "Z"): -ONE}
        w = Venue("w", NotImplementedError())
        drift.reconciled(w)
        await drift._checks["w"]
        drift.reconciled(w)  # not asked again: its API cannot say
        assert w.asked == 1 and "w" in drift.unsupported
        await drift.check(Venue("v", ConnectionError("down")))  # a failed read keeps the last comparison
        assert drift.by_symbol[("v", "X")].drift == ONE
        await drift.check(Venue("v", {"X": 2 * ONE}))  # the venue's word replaces the last, symbol by symbol
        assert {k: d.drift for k, d in drift.by_symbol.items()} == {("v", "X"): 0}

    asyncio.run(go())


def test_bluefin_account_positions_are_read_exactly_and_a_bad_one_refused():
    from gateway.venues.base import VenueError
    from gateway.venues.bluefin.account import positions_of

    body = (b'{"positions": [{"symbol": "ETH-PERP", "side": "SHORT", "sizeE9": "1500000001", "avgEntryPriceE9": "1"},'
            b' {"symbol": "BTC-PERP", "side": "LONG", "sizeE9": "2"}]}')
    assert positions_of(body) == {"ETH-PERP": -1_500_000_001 * 10**9, "BTC-PERP": 2 * 10**9}
    assert positions_of(b'{"positions": []}') == {} and positions_of(b"{}") == {}
    for bad in (b'{"positions": [{"symbol": "X", "side": "UP", "sizeE9": "1"}]}',
                b'{"positions": [{"symbol": "X", "side": "LONG", "sizeE9": "1.5"}]}', b"nope"):
        with pytest.raises(VenueError):
            positions_of(bad)
