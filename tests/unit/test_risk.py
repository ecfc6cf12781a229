"""Pre-trade limits: every limit on every change, the rate token spent last."""
from __future__ import annotations

import pytest

from gateway.config import RiskConfig
from gateway.orders.model import ONE
from gateway.risk import RiskError, RiskLimits


def limits(**kw) -> RiskLimits:
    # these tests' market orders go without a reference price where they say so
    kw.setdefault("require_reference_price", False)
    return RiskLimits(RiskConfig(**kw))


def test_a_refused_order_does_not_spend_the_rate_token():
    risk = limits(max_order_quantity="10", max_orders_per_sec=1)
    with pytest.raises(RiskError, match=r"quantity 11 is over the limit 10 \(max_order_quantity\)"):
        risk.check(11 * ONE, None, 0, strategy="s")
    with pytest.raises(RiskError, match="open orders"):
        risk.check(ONE, None, 10**9, strategy="s")
    risk.check(ONE, None, 0, strategy="s")  # the one token is still there
    risk.check(ONE, None, 0, strategy="s")  # and a check only looks at it
    risk.spend("s")  # accepted: now it is spent
    with pytest.raises(RiskError, match="orders per second"):
        risk.check(ONE, None, 0, strategy="s")


def test_market_order_notional_is_valued_at_the_reference_price():
    risk = limits(max_order_notional="1000")
    risk.check(5 * ONE, None, 0, venue="v", symbol="X")  # no reference yet: nothing to value it at
    risk.reference.update("v", "X", 299 * ONE, 301 * ONE)  # the mid, 300
    risk.check(3 * ONE, None, 0, venue="v", symbol="X")
    with pytest.raises(RiskError, match=r"notional 1500 is over the limit 1000 \(max_order_notional; a market order"):
        risk.check(5 * ONE, None, 0, venue="v", symbol="X")


def test_amendment_is_held_to_size_notional_band_and_rate():
    risk = limits(max_order_quantity="100", max_order_notional="1000", price_band_pct="10", max_orders_per_sec=2)
    risk.reference.update("v", "X", 90 * ONE, 110 * ONE, mark=100 * ONE)  # the mark wins over the mid
    with pytest.raises(RiskError, match="quantity"):
        risk.check_amendment(101 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="notional"):
        risk.check_amendment(20 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="from the reference price 100"):
        risk.check_amendment(ONE, 200 * ONE, strategy="s", venue="v", symbol="X")
    for _ in range(2):
        risk.check_amendment(ONE, 105 * ONE, strategy="s", venue="v", symbol="X")
        risk.spend("s")
    with pytest.raises(RiskError, match="orders per second"):
        risk.check_amendment(ONE, 105 * ONE, strategy="s", venue="v", symbol="X")


# scoped limits, exposure, reference prices

import time  # noqa: E402

import msgspec  # noqa: E402

from gateway.config import ConfigError, parse_config  # noqa: E402
from gateway.orders.model import Fill, Order, OrderType, Side, Status, TimeInForce  # noqa: E402
from gateway.orders.tracker import Tracker  # noqa: E402

VENUES = """
[[venues]]
kind = "citrex"
name = "c"
key_file = "k.hex"
symbols = ["BTC-PERP"]
[venues.instruments.ETH-PERP]
product_id = 1
tick_size = "0.1"
lot_size = "0.001"
[[venues]]
kind = "citrex"
name = "d"
key_file = "k2.hex"
[venues.instruments.ETH-PERP]
product_id = 1
tick_size = "0.1"
lot_size = "0.001"
"""


def tree(text: str) -> RiskLimits:
    return RiskLimits(parse_config(VENUES + text).risk)


SCOPED = """
[risk]
max_order_quantity = "100"
[risk.symbols."ETH-PERP"]
max_order_quantity = "50"
max_position = "500"
[risk.symbols."c:ETH-PERP"]
max_order_quantity = "40"
[risk.strategies.alpha]
max_order_quantity = "30"
max_open_orders = 7
[risk.strategies.alpha.symbols."ETH-PERP"]
max_order_quantity = "20"
[risk.strategies.alpha.symbols."c:ETH-PERP"]
max_order_quantity = "10"
"""


def test_the_most_specific_table_wins_and_says_which_it_is():
    risk = tree(SCOPED)
    cases = [
        (("alpha", "c", "ETH-PERP"), "10", 'risk.strategies.alpha.symbols."c:ETH-PERP"'),
        (("alpha", "d", "ETH-PERP"), "20", 'risk.strategies.alpha.symbols.ETH-PERP'),
        (("alpha", "c", "BTC-PERP"), "30", "risk.strategies.alpha"),
        (("beta", "c", "ETH-PERP"), "40", 'risk.symbols."c:ETH-PERP"'),
        (("beta", "d", "ETH-PERP"), "50", "risk.symbols.ETH-PERP"),
        (("beta", "c", "BTC-PERP"), "100", "risk"),
    ]
    for key, value, source in cases:
        lim = risk.limits(*key)
        assert (lim.values["max_order_quantity"], lim.source["max_order_quantity"]) == (value, source), key
        assert lim.max_order_quantity == int(value) * ONE
    # a key a table leaves out comes from the next table down
    alpha = risk.limits("alpha", "c", "ETH-PERP")
    assert alpha.source["max_position"] == "risk.symbols.ETH-PERP" and alpha.max_position == 500 * ONE
    assert alpha.source["max_open_orders"] == "risk.strategies.alpha" and alpha.max_open_orders == 7
    assert risk.limits("beta", "c", "ETH-PERP").max_open_orders == 10000
    # resolved once: the same object each time; strategies no table names share the defaults' entry
    assert risk.limits("alpha", "c", "ETH-PERP") is alpha
    assert risk.limits("gamma", "d", "ETH-PERP") is risk.limits("beta", "d", "ETH-PERP")


def test_each_limit_is_checked_at_its_own_scope():
    risk = tree(SCOPED)
    with pytest.raises(RiskError, match="quantity 11 is over the limit 10") as exc:
        risk.check(11 * ONE, 3000 * ONE, 0, strategy="alpha", venue="c", symbol="ETH-PERP")
    assert exc.value.limit == "max_order_quantity"
    risk.check(11 * ONE, 3000 * ONE, 0, strategy="alpha", venue="d", symbol="ETH-PERP")  # 20 there
    with pytest.raises(RiskError, match="max_open_orders is 7") as exc:
        risk.check(ONE, 3000 * ONE, 7, strategy="alpha", venue="d", symbol="ETH-PERP")
    assert exc.value.limit == "max_open_orders"
    risk.check(ONE, 3000 * ONE, 7, strategy="beta", venue="d", symbol="ETH-PERP")


@pytest.mark.parametrize("text, match", [
    ('[risk.symbols."BTC-PERPP"]\nmax_position = "1"', r'risk.symbols\["BTC-PERPP"\]: no venue trades'),
    ('[risk.strategies.a.symbols."d:BTC-PERP"]\nmax_position = "1"',
     r'risk.strategies\["a"\].symbols\["d:BTC-PERP"\]: venue d has no symbol'),
    ('[risk.strategies.a.symbols."ETH-PERP"]\nmax_postion = "1"',
     r'unknown field `max_postion`.*risk.strategies\["a"\].symbols\["ETH-PERP"\]'),
    ('[risk.symbols."ETH-PERP"]\nmax_open_orders = 5', r"max_open_orders counts all of a strategy's orders"),
    ('[risk.strategies.a]\nmax_position = "-1"', r'max_position: negative value.*risk.strategies\["a"\]'),
    ('[risk.strategies.a]\nmax_order_notional = "0"', r'max_order_notional must be above zero'),
    ('[risk]\nreference_max_age_secs = 0', r"reference_max_age_secs"),
    ('[risk]\nmax_open_orders = -1', r"max_open_orders"),
    ('[risk.strategies."not a name"]\nmax_position = "1"', r'strategies\["not a name"\]: not a strategy name'),
])
def test_a_bad_risk_table_is_a_config_error_naming_its_path(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(VENUES + text)


def test_a_symbol_given_alone_and_venue_symbol_spellings_are_known():
    risk = tree('[risk.symbols."c:BTC-PERP"]\nmax_position = "2"\n[risk.symbols."BTC-PERP"]\nmax_position = "3"')
    assert risk.limits("s", "c", "BTC-PERP").max_position == 2 * ONE


def test_without_a_fresh_reference_price_market_orders_and_unbanded_checks_fail_closed():
    risk = RiskLimits(RiskConfig(price_band_pct="5", reference_max_age_secs=2))
    with pytest.raises(RiskError, match="no reference price for v X younger than 2s \\(none\\)") as exc:
        risk.check(ONE, None, 0, strategy="s", venue="v", symbol="X")
    assert exc.value.limit == "reference_price"
    with pytest.raises(RiskError, match="the price band cannot be checked"):
        risk.check(ONE, 100 * ONE, 0, strategy="s", venue="v", symbol="X")
    stale = time.monotonic_ns() - 3 * 10**9
    risk.reference.update("v", "X", 99 * ONE, 101 * ONE, received_ns=stale)
    with pytest.raises(RiskError, match="the last is 3.\\ds old"):
        risk.check(ONE, None, 0, strategy="s", venue="v", symbol="X")
    risk.reference.update("v", "X", 99 * ONE, 101 * ONE)
    risk.check(ONE, None, 0, strategy="s", venue="v", symbol="X")
    risk.check(ONE, 104 * ONE, 0, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="more than 5% from the reference price 100") as exc:
        risk.check(ONE, 106 * ONE, 0, strategy="s", venue="v", symbol="X")
    assert exc.value.limit == "price_band_pct"
    # no band: a limit order needs no reference price
    RiskLimits(RiskConfig()).check(ONE, 100 * ONE, 0, strategy="s", venue="v", symbol="Y")


class Held:
    def __init__(self, net):
        self.net = net


class FakePositions:
    """The positions book's read API: get(strategy, venue, symbol) -> Position | None."""

    def __init__(self, book):
        self.book = book

    def get(self, strategy, venue, symbol):
        net = self.book.get((strategy, venue, symbol))
        return None if net is None else Held(net)


def order(strategy, side, quantity, price, cid, symbol="X"):
    return Order("", strategy, cid, "v", symbol, side, OrderType.LIMIT if price else OrderType.MARKET,
                 TimeInForce.GTC, price, quantity)


def booked(risk: RiskLimits, tracker: Tracker, o: Order) -> Order:
    tracker.track(o)
    risk.count(o)
    return o


def test_max_position_holds_the_worst_case_and_lets_a_reducing_order_through():
    risk = RiskLimits(RiskConfig(max_position="10"))
    risk.positions = FakePositions({("s", "v", "X"): 4 * ONE})
    tracker = Tracker(risk.exposure)
    booked(risk, tracker, order("s", Side.BUY, 3 * ONE, 100 * ONE, "b1"))
    booked(risk, tracker, order("s", Side.SELL, 50 * ONE, 200 * ONE, "far"))  # the other side: not counted
    risk.check(3 * ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="X", side=Side.BUY)  # 4 + 3 + 3 = 10
    with pytest.raises(RiskError, match="would be 11: over max_position 10") as exc:
        risk.check(4 * ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="X", side=Side.BUY)
    assert exc.value.limit == "max_position"
    # another strategy's position and orders are its own
    risk.check(10 * ONE, 100 * ONE, 0, strategy="t", venue="v", symbol="X", side=Side.BUY)
    # selling: 4 - 50 - 1 = -47 is worse than -46: refused; a position over a lowered limit
    with pytest.raises(RiskError, match="would be -47"):
        risk.check(ONE, 200 * ONE, 2, strategy="s", venue="v", symbol="X", side=Side.SELL)
    risk.positions.book[("s", "v", "Y")] = 30 * ONE  # over the limit (it was lowered after the fills)
    risk.check(5 * ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="Y", side=Side.SELL)  # closer to flat
    with pytest.raises(RiskError, match="max_position"):
        risk.check(ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="Y", side=Side.BUY)
    # nor past flat to an over-limit position on the other side: +30 - 45 = -15, over 10
    with pytest.raises(RiskError, match="would be -15: over max_position 10"):
        risk.check(45 * ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="Y", side=Side.SELL)
    risk.check(38 * ONE, 100 * ONE, 2, strategy="s", venue="v", symbol="Y", side=Side.SELL)  # -8: within


def test_open_notional_is_a_running_sum_of_the_open_orders_remaining():
    risk = RiskLimits(RiskConfig(max_open_notional="1000", require_reference_price=False))
    tracker = Tracker(risk.exposure)
    a = booked(risk, tracker, order("s", Side.BUY, 4 * ONE, 100 * ONE, "a"))
    b = booked(risk, tracker, order("s", Side.SELL, 2 * ONE, 200 * ONE, "b"))
    assert risk.exposure.notional("s") == 800 * ONE
    with pytest.raises(RiskError, match="open orders' notional would be 1001: over max_open_notional 1000") as exc:
        risk.check(ONE, 201 * ONE, 2, strategy="s", venue="v", symbol="X", side=Side.BUY)
    assert exc.value.limit == "max_open_notional"
    risk.check(ONE, 200 * ONE, 2, strategy="s", venue="v", symbol="X", side=Side.BUY)
    tracker.apply(a, Status.OPEN)
    tracker.apply(a, Status.PARTIALLY_FILLED, [Fill("t1", 100 * ONE, 3 * ONE, 1)])
    assert risk.exposure.notional("s") == 500 * ONE and risk.exposure.quantity("s", "v", "X", Side.BUY) == ONE
    tracker.apply(b, Status.CANCELED)
    assert risk.exposure.notional("s") == 100 * ONE and risk.exposure.quantity("s", "v", "X", Side.SELL) == 0
    tracker.apply(a, Status.FILLED, [Fill("t2", 100 * ONE, ONE, 2)])
    assert risk.exposure.notional("s") == 0 and risk.exposure.part(a) is None
    # a market order is valued at the reference price it was accepted at, and keeps that value
    risk.reference.update("v", "X", 99 * ONE, 101 * ONE)
    m = booked(risk, tracker, order("s", Side.BUY, 2 * ONE, None, "m"))
    risk.reference.update("v", "X", 199 * ONE, 201 * ONE)
    tracker.apply(m, Status.OPEN)
    assert risk.exposure.notional("s") == 200 * ONE
    tracker.apply(m, Status.FILLED, [Fill("t3", 200 * ONE, 2 * ONE, 3)])
    assert risk.exposure.notional("s") == 0


def test_a_replace_counts_the_new_order_in_the_old_ones_place_unless_both_may_live():
    risk = RiskLimits(RiskConfig(max_open_notional="1000", max_position="10", max_open_orders=1))
    tracker = Tracker(risk.exposure)
    old = booked(risk, tracker, order("s", Side.BUY, 8 * ONE, 100 * ONE, "o"))
    risk.check(9 * ONE, 110 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY, replaces=old)
    # proceed_on_failure: both may live, both count
    with pytest.raises(RiskError, match="would be 17"):
        risk.check(9 * ONE, 110 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY)
    with pytest.raises(RiskError, match="max_open_orders"):
        risk.check(ONE, 110 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY)
    with pytest.raises(RiskError, match="would be 1010: over max_open_notional"):
        risk.check(ONE, 210 * ONE, 0, strategy="s", venue="v", symbol="X", side=Side.SELL)


def test_a_groups_earlier_legs_count_as_open():
    risk = RiskLimits(RiskConfig(max_position="10", max_open_notional="10000"))
    leg = order("s", Side.BUY, 6 * ONE, 100 * ONE, "l1")
    risk.check(5 * ONE, 100 * ONE, 0, strategy="s", venue="v", symbol="X", side=Side.BUY)
    with pytest.raises(RiskError, match="would be 11"):
        risk.check(5 * ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY, earlier=[leg],
                   pending=1)
    risk.check(5 * ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.SELL, earlier=[leg], pending=1)


def test_a_modify_is_held_to_its_new_part_in_position_and_open_notional():
    risk = RiskLimits(RiskConfig(max_position="10", max_open_notional="1000"))
    tracker = Tracker(risk.exposure)
    o = booked(risk, tracker, order("s", Side.BUY, 5 * ONE, 100 * ONE, "o"))
    booked(risk, tracker, order("s", Side.BUY, 4 * ONE, 100 * ONE, "p"))
    risk.check_amendment(6 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X", order=o)  # 6 + 4 = 10
    with pytest.raises(RiskError, match="max_position"):
        risk.check_amendment(7 * ONE, 100 * ONE, strategy="s", venue="v", symbol="X", order=o)
    with pytest.raises(RiskError, match="max_open_notional"):
        risk.check_amendment(5 * ONE, 121 * ONE, strategy="s", venue="v", symbol="X", order=o)


def test_adopt_keeps_the_live_state_and_takes_the_new_limits():
    old = RiskLimits(RiskConfig(max_orders_per_sec=1, max_open_notional="1000"))
    tracker = Tracker(old.exposure)
    booked(old, tracker, order("s", Side.BUY, 5 * ONE, 100 * ONE, "o"))
    old.check(ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X")
    old.spend("s")
    old.reference.update("v", "X", 99 * ONE, 101 * ONE)
    new = RiskLimits(RiskConfig(max_orders_per_sec=1, max_open_notional="600"))
    new.adopt(old)
    assert new.reference is old.reference and new.exposure.notional("s") == 500 * ONE
    with pytest.raises(RiskError, match="orders per second"):  # the spent token stays spent
        new.check(ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X")
    with pytest.raises(RiskError, match="over max_open_notional 600"):
        new.check(2 * ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.SELL)


def test_limits_resolve_from_a_plain_dict_too():
    config = msgspec.convert({"strategies": {"a": {"symbols": {"X": {"max_position": "1"}}}}}, RiskConfig)
    assert RiskLimits(config).limits("a", "v", "X").source["max_position"] == "risk.strategies.a.symbols.X"


def test_after_a_restart_the_sums_are_rebuilt_from_the_restored_open_orders():
    risk = RiskLimits(RiskConfig(max_position="1000"))
    tracker = Tracker(risk.exposure)
    a = booked(risk, tracker, order("s", Side.BUY, 4 * ONE, 100 * ONE, "a"))
    booked(risk, tracker, order("s", Side.SELL, 2 * ONE, 200 * ONE, "b"))
    tracker.apply(a, Status.PARTIALLY_FILLED, [Fill("t1", 100 * ONE, ONE, 1)])
    # the restarted daemon's: the tracker restores without telling it
    fresh = RiskLimits(RiskConfig(max_position="1000"))
    fresh.exposure.rebuild(tracker.open_orders())
    assert fresh.exposure.notional("s") == risk.exposure.notional("s") == 700 * ONE
    assert fresh.exposure.quantity("s", "v", "X", Side.BUY) == 3 * ONE


def test_the_sums_are_kept_only_while_a_limit_reads_them():
    """The defaults set neither max_position nor max_open_notional: the order path keeps no
    sums; a table that sets one (a reload) starts them from the open orders as they are."""
    assert not RiskConfig().reads_open_orders()
    assert msgspec.convert({"strategies": {"s": {"symbols": {"X": {"max_position": "1"}}}}}, RiskConfig).reads_open_orders()
    risk = RiskLimits(RiskConfig())
    tracker = Tracker(risk.exposure)
    booked(risk, tracker, order("s", Side.BUY, 4 * ONE, 100 * ONE, "a"))
    assert not risk.exposure.active and risk.exposure.notional("s") == 0  # nothing kept
    risk.exposure.keep(True, tracker.open_orders)
    assert risk.exposure.notional("s") == 400 * ONE and risk.exposure.quantity("s", "v", "X", Side.BUY) == 4 * ONE
    booked(risk, tracker, order("s", Side.BUY, ONE, 100 * ONE, "b"))
    assert risk.exposure.notional("s") == 500 * ONE  # kept from here on
    risk.exposure.keep(False, tracker.open_orders)
    assert risk.exposure.notional("s") == 0


def test_a_fill_reported_as_a_total_without_its_trades_still_counts_until_they_book_it():
    """A venue's cumulative filled with no trade yet: the book has not moved, so the order's
    whole quantity stays in the sums (remaining + unbooked) until the trades come."""
    risk = RiskLimits(RiskConfig(max_position="10"))
    risk.positions = FakePositions({})
    tracker = Tracker(risk.exposure)
    a = booked(risk, tracker, order("s", Side.BUY, 10 * ONE, 100 * ONE, "a"))
    tracker.apply(a, Status.PARTIALLY_FILLED, [], filled=6 * ONE)  # 6 filled, no trade records yet
    assert risk.exposure.quantity("s", "v", "X", Side.BUY) == 10 * ONE  # 4 open + 6 unbooked
    with pytest.raises(RiskError, match="max_position"):
        risk.check(6 * ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY)
    tracker.apply(a, Status.FILLED, [], filled=10 * ONE)  # closed by its total: still unbooked
    assert risk.exposure.quantity("s", "v", "X", Side.BUY) == 10 * ONE
    tracker.apply(a, Status.FILLED, [Fill("t1", 100 * ONE, 10 * ONE, 1)])  # the trade books it
    assert risk.exposure.quantity("s", "v", "X", Side.BUY) == 0


def test_a_modify_on_its_way_counts_at_the_larger_size_until_the_venue_answers():
    from gateway.assembly import assemble

    parts = assemble(RiskLimits(RiskConfig(max_position="10")), closed_ttl_ns=10**12)
    risk, tracker = parts.risk, parts.tracker
    risk.positions = FakePositions({})
    a = booked(risk, tracker, order("s", Side.BUY, 5 * ONE, 100 * ONE, "a"))
    a.amending = 10 * ONE  # as order entry marks an accepted modify to 10
    risk.exposure.order_changed(a, 0)
    assert risk.exposure.quantity("s", "v", "X", Side.BUY) == 10 * ONE
    with pytest.raises(RiskError, match="max_position"):  # 10 on its way + 1 > 10
        risk.check(ONE, 100 * ONE, 1, strategy="s", venue="v", symbol="X", side=Side.BUY)
    parts.entry.modify_rejected(a, "venue_refused", "no")  # the venue refused it: 5 again
    assert a.amending == 0 and risk.exposure.quantity("s", "v", "X", Side.BUY) == 5 * ONE
    a.amending = 8 * ONE
    risk.exposure.order_changed(a, 0)
    a.quantity = 8 * ONE  # the venue took it
    tracker.amended(a)
    assert a.amending == 0 and risk.exposure.quantity("s", "v", "X", Side.BUY) == 8 * ONE
