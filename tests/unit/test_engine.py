import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sim.engine import (
    EngineError,
    MatchingEngine,
    Order,
    OrderType,
    Reason,
    Side,
    Status,
    Stp,
    TimeInForce,
    Update,
)

P = "ETH"
BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


def make_engine(stp: Stp = Stp.CANCEL_TAKER) -> MatchingEngine:
    clock = itertools.count(1_000)
    return MatchingEngine(stp=stp, now_ns=lambda: next(clock))


_ids = itertools.count(1)


def order(account: str, side: Side, price: int | None, qty: int, *, type: OrderType = OrderType.LIMIT,
          tif: TimeInForce = GTC, stop: int | None = None, product: str = P) -> Order:
    if price is None and type is OrderType.LIMIT:
        type = OrderType.MARKET
    return Order(order_id=f"t{next(_ids)}", account=account, product=product, side=side, type=type, tif=tif,
                 price=price, quantity=qty, stop_price=stop)


def place(engine: MatchingEngine, *args, **kwargs) -> Order:
    o = order(*args, **kwargs)
    engine.submit(o)
    return o


def trades_of(updates: list[Update]):
    """Each trade once (it shows up under both its taker and its maker)."""
    seen = {}
    for u in updates:
        for t in u.new_trades:
            seen[t.trade_id] = t
    return list(seen.values())


# priority and fills

def test_price_time_priority_better_price_first_then_arrival():
    e = make_engine()
    a = place(e, "m1", SELL, 100, 1)
    b = place(e, "m2", SELL, 100, 1)
    c = place(e, "m3", SELL, 99, 1)
    taker = order("t", BUY, 100, 3)
    updates = e.submit(taker)
    assert [t.maker_order_id for t in taker.trades] == [c.order_id, a.order_id, b.order_id]
    assert [t.price for t in taker.trades] == [99, 100, 100]
    # one Update per order touched: taker first, then makers in match order
    assert [u.order.order_id for u in updates] == [taker.order_id, c.order_id, a.order_id, b.order_id]
    assert all(o.status is Status.FILLED for o in (a, b, c, taker))
    assert e.depth(P) == ([], [])


def test_partial_fill_rests_remainder():
    e = make_engine()
    maker = place(e, "m", SELL, 100, 5)
    taker = place(e, "t", BUY, 100, 8)
    assert maker.status is Status.FILLED
    assert taker.status is Status.PARTIALLY_FILLED
    assert (taker.filled, taker.remaining) == (5, 3)
    assert e.best_bid(P) == 100 and e.best_ask(P) is None
    assert e.depth(P) == ([(100, 3)], [])
    assert e.open_orders("t") == [taker]


def test_maker_partially_filled_keeps_priority():
    e = make_engine()
    first = place(e, "m1", SELL, 100, 5)
    second = place(e, "m2", SELL, 100, 5)
    place(e, "t", BUY, 100, 2)
    place(e, "t", BUY, 100, 2)
    assert (first.filled, first.status) == (4, Status.PARTIALLY_FILLED)
    assert second.filled == 0
    assert e.depth(P)[1] == [(100, 6)]


def test_trades_at_maker_price_and_notional():
    e = make_engine()
    place(e, "m", SELL, 100, 2)
    place(e, "m", SELL, 102, 2)
    taker = place(e, "t", BUY, 105, 3)
    assert [(t.price, t.quantity) for t in taker.trades] == [(100, 2), (102, 1)]
    assert taker.notional == 302 and taker.status is Status.FILLED
    assert e.last_price(P) == 102
    t = taker.trades[0]
    assert (t.taker_side, t.taker_account, t.maker_account, t.product) == (BUY, "t", "m", P)


def test_ioc_partial_cancels_remainder():
    e = make_engine()
    place(e, "m", BUY, 100, 2)
    taker = order("t", SELL, 99, 5, tif=IOC)
    updates = e.submit(taker)
    assert (taker.status, taker.reason, taker.filled) == (Status.CANCELLED, Reason.IOC_REMAINDER, 2)
    assert e.depth(P) == ([], [])
    assert updates[0].order is taker and len(updates[0].new_trades) == 1


def test_fok_unfillable_trades_nothing_and_leaves_book():
    e = make_engine()
    m1 = place(e, "m", SELL, 100, 2)
    m2 = place(e, "m", SELL, 101, 2)
    place(e, "m", SELL, 103, 10)  # beyond the FOK's limit
    before = e.depth(P)
    taker = order("t", BUY, 101, 5, tif=FOK)
    updates = e.submit(taker)
    assert (taker.status, taker.reason, taker.filled) == (Status.CANCELLED, Reason.FOK_UNFILLED, 0)
    assert [u.order for u in updates] == [taker] and not trades_of(updates)
    assert e.depth(P) == before
    assert m1.filled == m2.filled == 0 and e.last_price(P) is None


def test_fok_fills_across_levels():
    e = make_engine()
    place(e, "m", SELL, 100, 2)
    place(e, "m", SELL, 101, 2)
    taker = place(e, "t", BUY, 101, 4, tif=FOK)
    assert (taker.status, taker.filled, taker.notional) == (Status.FILLED, 4, 402)
    assert e.best_ask(P) is None


def test_post_only_rejected_when_crossing_and_rests_otherwise():
    e = make_engine()
    place(e, "m", SELL, 100, 1)
    cross = order("t", BUY, 100, 1, type=OrderType.LIMIT_MAKER)
    updates = e.submit(cross)
    assert (cross.status, cross.reason) == (Status.REJECTED, Reason.POST_ONLY_WOULD_CROSS)
    assert [u.order for u in updates] == [cross] and e.best_bid(P) is None
    assert e.get(cross.order_id) is cross  # closed orders stay queryable
    rest = place(e, "t", BUY, 99, 1, type=OrderType.LIMIT_MAKER)
    assert rest.status is Status.OPEN and e.best_bid(P) == 99


def test_market_sweeps_and_cancels_remainder():
    e = make_engine()
    place(e, "m", BUY, 100, 1)
    place(e, "m", BUY, 90, 1)
    taker = place(e, "t", SELL, None, 5)
    assert [t.price for t in taker.trades] == [100, 90]
    assert (taker.status, taker.reason, taker.filled) == (Status.CANCELLED, Reason.IOC_REMAINDER, 2)
    assert e.depth(P) == ([], [])


def test_market_without_liquidity():
    e = make_engine()
    place(e, "m", BUY, 100, 1)  # same side: no help to a buy
    taker = place(e, "t", BUY, None, 1)
    assert (taker.status, taker.reason, taker.filled) == (Status.CANCELLED, Reason.NO_LIQUIDITY, 0)


# self-trade prevention

@pytest.mark.parametrize("stp, taker_status, taker_filled, own_status", [
    (Stp.CANCEL_TAKER, Status.CANCELLED, 0, Status.OPEN),
    (Stp.CANCEL_MAKER, Status.FILLED, 2, Status.CANCELLED),
    (Stp.CANCEL_BOTH, Status.CANCELLED, 0, Status.CANCELLED),
    (Stp.NONE, Status.FILLED, 2, Status.PARTIALLY_FILLED),
])
def test_self_trade_prevention(stp, taker_status, taker_filled, own_status):
    e = make_engine(stp)
    own = place(e, "a", SELL, 100, 3)
    other = place(e, "b", SELL, 100, 2)
    taker = place(e, "a", BUY, 100, 2)
    assert (taker.status, taker.filled) == (taker_status, taker_filled)
    assert own.status is own_status
    if taker_status is Status.CANCELLED or own_status is Status.CANCELLED:
        assert Reason.SELF_TRADE in (taker.reason, own.reason)
    if stp is Stp.CANCEL_MAKER:
        assert [t.maker_order_id for t in taker.trades] == [other.order_id]
    if stp is Stp.NONE:
        assert taker.trades[0].maker_account == taker.trades[0].taker_account == "a"
    if stp is not Stp.NONE:
        assert all(t.maker_account != t.taker_account for t in taker.trades)


def test_fok_accounts_for_stp():
    e = make_engine(Stp.CANCEL_TAKER)
    own = place(e, "a", SELL, 100, 1)
    place(e, "b", SELL, 100, 5)
    taker = place(e, "a", BUY, 100, 3, tif=FOK)  # 6 on offer but the own order blocks the queue
    assert (taker.status, taker.reason, taker.filled) == (Status.CANCELLED, Reason.FOK_UNFILLED, 0)
    assert own.status is Status.OPEN

    e = make_engine(Stp.CANCEL_MAKER)
    own = place(e, "a", SELL, 100, 1)
    place(e, "b", SELL, 100, 2)
    too_big = place(e, "a", BUY, 100, 3, tif=FOK)  # only 2 of others' liquidity
    assert too_big.reason is Reason.FOK_UNFILLED and own.status is Status.OPEN
    fits = place(e, "a", BUY, 100, 2, tif=FOK)
    assert fits.status is Status.FILLED and own.reason is Reason.SELF_TRADE


# stops

def test_buy_stop_triggers_on_trade_at_or_above():
    e = make_engine()
    stop = place(e, "s", BUY, None, 1, stop=101)
    assert stop.status is Status.UNTRIGGERED and e.best_bid(P) is None
    assert e.open_orders("s") == [stop]
    place(e, "m", SELL, 100, 1)
    place(e, "m", SELL, 105, 5)
    place(e, "t", BUY, 100, 1)  # prints 100: below the stop
    assert stop.status is Status.UNTRIGGERED
    place(e, "m", SELL, 101, 1)
    updates = e.submit(order("t", BUY, 101, 1))  # prints 101: triggers, the market stop lifts 105
    assert stop.status is Status.FILLED and stop.trades[0].price == 105
    # the triggering action reports the stop, with its fill, after the trade that fired it
    assert [u.order.account for u in updates] == ["t", "m", "s", "m"]
    assert updates[2].order is stop and updates[2].new_trades == stop.trades


def test_sell_stop_triggers_on_set_last_price_and_rests_as_limit():
    e = make_engine()
    stop = place(e, "s", SELL, 95, 2, stop=96)
    assert e.set_last_price(P, 97) == [] and stop.status is Status.UNTRIGGERED
    updates = e.set_last_price(P, 96)
    assert [u.order for u in updates] == [stop]
    assert stop.status is Status.OPEN and e.best_ask(P) == 95


def test_stop_through_last_price_at_submission_triggers_at_once():
    e = make_engine()
    e.set_last_price(P, 100)
    stop = place(e, "s", SELL, 90, 1, stop=101)
    assert stop.status is Status.OPEN and e.best_ask(P) == 90


def test_stop_fires_on_a_print_inside_a_sweep():
    e = make_engine()
    e.set_last_price(P, 90)
    stop = place(e, "s", BUY, 96, 1, stop=99)
    place(e, "m", BUY, 100, 1)
    place(e, "m", BUY, 95, 1)
    place(e, "t", SELL, None, 2)  # prints 100 then 95: ends below the stop but went through it
    assert e.last_price(P) == 95
    assert stop.status is Status.OPEN and e.best_bid(P) == 96


def test_stops_cascade():
    e = make_engine()
    place(e, "m", BUY, 99, 1)
    place(e, "m", BUY, 98, 1)
    place(e, "m", BUY, 97, 1)
    first = place(e, "s1", SELL, None, 1, stop=99)  # fires on 99, sells into 98
    second = place(e, "s2", SELL, None, 1, stop=98)  # fires on 98, sells into 97
    taker = order("t", SELL, 99, 1)
    updates = e.submit(taker)
    assert first.trades[0].price == 98 and second.trades[0].price == 97
    assert [u.order.account for u in updates] == ["t", "m", "s1", "m", "s2", "m"]
    assert e.last_price(P) == 97 and e.best_bid(P) is None


def test_cancel_untriggered_stop():
    e = make_engine()
    stop = place(e, "s", BUY, 110, 1, stop=105)
    e.cancel("s", stop.order_id)
    assert e.set_last_price(P, 200) == [] and stop.status is Status.CANCELLED


# cancel

def test_cancel_errors_have_codes():
    e = make_engine()
    resting = place(e, "a", BUY, 100, 1)
    with pytest.raises(EngineError) as err:
        e.cancel("a", "nope")
    assert err.value.code == "unknown_order" and isinstance(err.value, ValueError)
    with pytest.raises(EngineError) as err:
        e.cancel("b", resting.order_id)
    assert err.value.code == "unknown_order" and resting.is_open
    update = e.cancel("a", resting.order_id)
    assert update.order is resting and (resting.status, resting.reason) == (Status.CANCELLED, Reason.USER)
    assert e.best_bid(P) is None
    with pytest.raises(EngineError) as err:
        e.cancel("a", resting.order_id)
    assert err.value.code == "not_open" and "CANCELLED" in str(err.value)


def test_cancel_all_by_product():
    e = make_engine()
    a1 = place(e, "a", BUY, 100, 1)
    a2 = place(e, "a", SELL, 110, 1)
    a3 = place(e, "a", BUY, 100, 1, product="BTC")
    b1 = place(e, "b", BUY, 100, 1)
    updates = e.cancel_all("a", P)
    assert [u.order for u in updates] == [a1, a2]
    assert all(o.reason is Reason.CANCEL_ALL for o in (a1, a2))
    assert a3.is_open and b1.is_open and e.open_orders("a") == [a3]
    assert [u.order for u in e.cancel_all("a")] == [a3]


# validation

@pytest.mark.parametrize("kwargs", [
    dict(quantity=0), dict(quantity=1.5), dict(price=0), dict(price=100.0), dict(price=None),
    dict(type=OrderType.MARKET), dict(type=OrderType.LIMIT_MAKER, tif=IOC), dict(stop_price=-1),
])
def test_malformed_orders_raise(kwargs):
    e = make_engine()
    base = dict(order_id="x", account="a", product=P, side=BUY, type=OrderType.LIMIT, tif=GTC,
                price=100, quantity=1)
    with pytest.raises(EngineError) as err:
        e.submit(Order(**{**base, **kwargs}))
    assert err.value.code == "malformed" and e.get("x") is None


def test_duplicate_id_and_engine_assigned_ids():
    e = MatchingEngine(now_ns=lambda: 7, id_factory=iter(["o-1", "o-2"]).__next__,
                       trade_id_factory=iter(["tr-1"]).__next__)
    first = Order("", "a", P, SELL, OrderType.LIMIT, GTC, 100, 1)
    e.submit(first)
    assert first.order_id == "o-1" and first.created_ns == 7
    with pytest.raises(EngineError) as err:
        e.submit(Order("o-1", "b", P, BUY, OrderType.LIMIT, GTC, 100, 1))
    assert err.value.code == "duplicate_id"
    taker = Order(e.new_id(), "b", P, BUY, OrderType.LIMIT, GTC, 100, 1)
    e.submit(taker)
    assert taker.trades[0].trade_id == "tr-1" and taker.trades[0].ts_ns == 7


# conservation, by property

ACCOUNTS = ["a", "b", "c"]
PRICES = st.integers(1, 6)

submit_action = st.builds(
    lambda acct, side, kind, tif, price, qty, stop: ("submit", acct, side, kind, tif, price, qty, stop),
    st.sampled_from(ACCOUNTS), st.sampled_from(list(Side)), st.sampled_from(list(OrderType)),
    st.sampled_from(list(TimeInForce)), PRICES, st.integers(1, 5), st.none() | st.none() | PRICES,
)
actions = st.lists(st.one_of(
    submit_action, submit_action, submit_action,
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 40)),
    st.tuples(st.just("cancel_all"), st.sampled_from(ACCOUNTS)),
    st.tuples(st.just("last"), PRICES),
), max_size=30)


def check_invariants(e: MatchingEngine) -> None:
    trades = {}
    for o in e.orders.values():
        assert 0 <= o.filled <= o.quantity
        assert o.filled == sum(t.quantity for t in o.trades)
        assert o.notional == sum(t.price * t.quantity for t in o.trades)
        assert (o.status is Status.FILLED) == (o.filled == o.quantity)
        for t in o.trades:
            assert o.order_id in (t.maker_order_id, t.taker_order_id)
            trades[t.trade_id] = t
    bought = sum(o.filled for o in e.orders.values() if o.side is Side.BUY)
    sold = sum(o.filled for o in e.orders.values() if o.side is Side.SELL)
    assert bought == sold == sum(t.quantity for t in trades.values())
    if e.stp is not Stp.NONE:
        assert all(t.maker_account != t.taker_account for t in trades.values())
    bid, ask = e.best_bid(P), e.best_ask(P)
    assert bid is None or ask is None or bid < ask
    # the book holds exactly the open, triggered orders, each once
    book = e._books.get(P)
    resting = [] if book is None else [
        o for side in (book.bids, book.asks) for q in side.levels.values() for o in q]
    assert len({id(o) for o in resting}) == len(resting)
    expected = {o.order_id for o in e.orders.values() if o.is_open and o.status is not Status.UNTRIGGERED}
    assert {o.order_id for o in resting} == expected
    assert all(o.remaining > 0 for o in resting)
    bids, asks = e.depth(P, levels=100)
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(q > 0 for _, q in bids + asks)
    opened = {o.order_id for a in ACCOUNTS for o in e.open_orders(a)}
    assert opened == {o.order_id for o in e.orders.values() if o.is_open}


@settings(max_examples=150)
@given(stp=st.sampled_from(list(Stp)), steps=actions)
def test_conservation(stp, steps):
    e = make_engine(stp)
    ids = []
    for step in steps:
        kind = step[0]
        if kind == "submit":
            _, acct, side, otype, tif, price, qty, stop = step
            if otype is OrderType.LIMIT_MAKER:
                tif = GTC
            o = Order(order_id=f"h{len(ids)}", account=acct, product=P, side=side, type=otype, tif=tif,
                      price=None if otype is OrderType.MARKET else price, quantity=qty, stop_price=stop)
            ids.append(o.order_id)
            updates = e.submit(o)
            assert updates[0].order is o
        elif kind == "cancel":
            _, acct, i = step
            if not ids:
                continue
            target = e.get(ids[i % len(ids)])
            try:
                updates = [e.cancel(acct, target.order_id)]
            except EngineError as exc:
                assert exc.code == ("unknown_order" if target.account != acct else "not_open")
                continue
            assert target.status is Status.CANCELLED
        elif kind == "cancel_all":
            updates = e.cancel_all(step[1])
            assert not e.open_orders(step[1])
        else:
            updates = e.set_last_price(P, step[1])
        # one Update per touched order, and every new trade is on its order
        assert len({u.order.order_id for u in updates}) == len(updates)
        for u in updates:
            assert all(t in u.order.trades for t in u.new_trades)
        check_invariants(e)
