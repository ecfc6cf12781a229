"""Pre-trade limits, checked before an order is tracked or sent (README "Risk limits").

Every refusal is a RiskError naming its limit (`max_position`, `reference_price`, ...) with
the numbers in its message. Nothing here scans orders: the open orders' notional and
quantities are running sums (gateway/risk/exposure.py), the limits are resolved once per
(strategy, venue, symbol) (gateway/risk/effective.py)."""
from __future__ import annotations

from collections.abc import Sequence

from gateway._core.fixedpoint import format_scaled
from gateway.net.ratelimit import TokenBucket
from gateway.orders.model import SCALE, Order, Side
from gateway.reference.prices import ReferencePrices
from gateway.risk.config import RiskConfig
from gateway.risk.effective import Limits, LimitTables
from gateway.risk.exposure import OpenExposure

_ONE = 10**SCALE


class RiskError(ValueError):
    """A limit refused the order; limit names which (the ack's error.limit)."""

    def __init__(self, message: str, limit: str = ""):
        super().__init__(message)
        self.limit = limit


def fmt(value: int) -> str:
    """An e18 amount as a decimal string, signed."""
    return f"-{format_scaled(-value, SCALE)}" if value < 0 else format_scaled(value, SCALE)


class RiskLimits:
    """Built from the [risk] tree alone (a reload builds a new one and adopts the old one's
    live state); `reference` and `positions` are the gateway's, assigned after."""

    def __init__(self, config: RiskConfig):
        self.config = config
        self.tables = LimitTables(config)
        self._buckets: dict[str, TokenBucket] = {}
        # each venue's public prices: the band's reference, and a market order's value
        self.reference = ReferencePrices()
        # the positions book (gateway/positions/): .get(strategy, venue, symbol) -> Position | None
        # with .net (e18, signed); None: no positions known (every position counts as flat)
        self.positions = None
        # the strategies' open orders as running sums; a tracker listener (gateway/assembly.py)
        self.exposure = OpenExposure(self.reference.price)
        self.exposure.active = config.reads_open_orders()

    def adopt(self, old: RiskLimits) -> None:
        """Take over the live state of the limits this replaces (a reload): the rate buckets,
        the reference prices, the positions and the open orders' sums. The new tables'
        limits are resolved afresh."""
        self._buckets = old._buckets
        self.reference = old.reference
        self.positions = old.positions
        self.exposure = old.exposure  # valued at the same prices: the reference is the old one's

    def limits(self, strategy: str, venue: str, symbol: str) -> Limits:
        return self.tables.get(strategy, venue, symbol)

    # the checks

    def check(self, quantity: int, price: int | None, open_orders: int, *, strategy: str = "",
              venue: str = "", symbol: str = "", pending: int = 0, side: Side = Side.BUY,
              earlier: Sequence[Order] = (), replaces: Order | None = None) -> None:
        """Every limit of a new order. The orders/s rate is only looked at here: its token is
        spent (spend) once the order is accepted, so an order refused by this or a later check
        (the venue's line, a duplicate id, the venue's own rules) does not cost the strategy
        its rate. pending: orders of the same request checked before this one; earlier: those
        orders (a group's legs), counted as open. replaces: the open order a cancel-and-replace
        takes the place of (its part is not counted: the new one goes only once it is gone)."""
        lim = self.tables.get(strategy, venue, symbol)
        value = self._value(lim, price, venue, symbol)
        self._check_size(lim, quantity, price, value)
        if lim.max_position or lim.max_open_notional:  # most strategies set neither: no sums read
            self._check_exposure(lim, quantity, value, strategy, venue, symbol, side, earlier, replaces)
        if replaces is not None:
            open_orders -= 1
        if open_orders >= lim.max_open_orders:
            raise RiskError(f"{open_orders} open orders: max_open_orders is {lim.max_open_orders}", "max_open_orders")
        self._check_rate(lim, strategy, pending + 1)

    def _check_exposure(self, lim: Limits, quantity: int, value: int | None, strategy: str, venue: str,
                        symbol: str, side: Side, earlier: Sequence[Order], replaces: Order | None) -> None:
        """max_position and max_open_notional: the open orders' sums, with the request's earlier
        legs and less the order a replace takes the place of."""
        exposure = self.exposure
        same_side = exposure.quantity(strategy, venue, symbol, side)
        open_notional = exposure.notional(strategy)
        for leg in earlier:
            leg_value = exposure.value(leg) or 0
            open_notional += leg.quantity * leg_value // _ONE
            if leg.venue == venue and leg.symbol == symbol and leg.side is side:
                same_side += leg.quantity
        if replaces is not None:
            part = exposure.part(replaces)
            if part is not None:
                same_side -= part[0]
                open_notional -= part[1]
        self._check_position(lim, strategy, venue, symbol, side, same_side, same_side + quantity)
        if lim.max_open_notional and value is not None:
            self._check_open_notional(lim, open_notional, open_notional + quantity * value // _ONE)

    def check_amendment(self, quantity: int, price: int | None, *, strategy: str = "", venue: str = "",
                        symbol: str = "", order: Order | None = None) -> None:
        """A modify's resulting price and quantity: the same band, size and rate limits as a new
        order, and, for the order given, its new part in the position and open notional (the
        open-order count does not change)."""
        lim = self.tables.get(strategy, venue, symbol)
        value = self._value(lim, price, venue, symbol)
        self._check_size(lim, quantity, price, value)
        if order is not None:
            exposure = self.exposure
            remaining = max(0, quantity - order.filled)
            part = exposure.part(order) or (0, 0)
            same_side = exposure.quantity(strategy, venue, symbol, order.side)
            self._check_position(lim, strategy, venue, symbol, order.side, same_side,
                                 same_side - part[0] + remaining)
            if lim.max_open_notional and value is not None:
                now = exposure.notional(strategy)
                self._check_open_notional(lim, now, now - part[1] + remaining * value // _ONE)
        self._check_rate(lim, strategy, 1)

    def count(self, order: Order) -> None:
        """The order's part in the open orders' sums, as it is now: just accepted, or with a modify
        of it on its way (or no longer on its way)."""
        self.exposure.count(order)

    def spend(self, strategy: str, n: int = 1) -> None:
        """The strategy's order (or n of them, a group's legs) was accepted: its rate tokens go.
        Checked by check() in the same loop turn, so they are there (tokens only accrue)."""
        bucket = self._buckets.get(strategy)
        if bucket is not None:
            bucket.try_take(n)

    # each limit

    def _value(self, lim: Limits, price: int | None, venue: str, symbol: str) -> int | None:
        """The price the order is valued at (its own, else the reference price); refuses a
        market order without a fresh reference price, and a limit price outside the band."""
        if price is not None and not lim.price_band_pct:
            return price
        ref = self.reference.price(venue, symbol, lim.reference_max_age_ns)
        if ref is None:
            if lim.require_reference_price:
                self._no_reference(lim, venue, symbol, "a market order cannot be valued" if price is None
                                   else "the price band cannot be checked")
            return price
        if price is None:
            return ref
        band = lim.price_band_pct
        # |price - ref| / ref > band / 100, in integers
        if abs(price - ref) * 100 * _ONE > band * ref:
            raise RiskError(f"price {fmt(price)} is more than {fmt(band)}% from the reference price {fmt(ref)}",
                            "price_band_pct")
        return price

    def _no_reference(self, lim: Limits, venue: str, symbol: str, why: str) -> None:
        age = self.reference.age_s(venue, symbol)
        have = "none" if age is None else f"the last is {age:.1f}s old"
        raise RiskError(f"no reference price for {venue} {symbol} younger than "
                        f"{lim.reference_max_age_ns / 1e9:g}s ({have}): {why}", "reference_price")

    def _check_size(self, lim: Limits, quantity: int, price: int | None, value: int | None) -> None:
        if quantity > lim.max_order_quantity:
            raise RiskError(f"quantity {fmt(quantity)} is over the limit {fmt(lim.max_order_quantity)} (max_order_quantity)",
                            "max_order_quantity")
        if value is not None:
            notional = quantity * value // _ONE
            if notional > lim.max_order_notional:
                raise RiskError(
                    f"notional {fmt(notional)} is over the limit {fmt(lim.max_order_notional)} (max_order_notional"
                    + (")" if price is not None else "; a market order, valued at the reference price)"),
                    "max_order_notional")

    def _check_position(self, lim: Limits, strategy: str, venue: str, symbol: str, side: Side,
                        open_before: int, open_after: int) -> None:
        """The worst case: the position if every open order of the order's side filled. Over
        the limit is refused only when the order makes it worse: an order that brings the worst
        case closer to flat on its side passes (a position over a lowered limit can be reduced)."""
        if not lim.max_position:
            return
        position = self._position(strategy, venue, symbol)
        sign = 1 if side is Side.BUY else -1
        before, after = position + sign * open_before, position + sign * open_after
        # over the limit, only a move towards flat on the same side passes: not a flip past zero
        # to the other side (-90 from +100 is no reduction of a limit of 10), not a larger one
        if abs(after) > lim.max_position and (abs(after) > abs(before) or (after > 0) != (before > 0)):
            raise RiskError(
                f"position {fmt(position)} with this strategy's open {side.value} orders and this one "
                f"would be {fmt(after)}: over max_position {fmt(lim.max_position)}", "max_position")

    def _position(self, strategy: str, venue: str, symbol: str) -> int:
        positions = self.positions
        if positions is None:
            return 0
        position = positions.get(strategy, venue, symbol)
        return 0 if position is None else position.net

    def _check_open_notional(self, lim: Limits, before: int, after: int) -> None:
        if after > lim.max_open_notional and after > before:
            raise RiskError(f"open orders' notional would be {fmt(after)}: over max_open_notional "
                            f"{fmt(lim.max_open_notional)}", "max_open_notional")

    def _check_rate(self, lim: Limits, strategy: str, n: int) -> None:
        rate = lim.max_orders_per_sec
        if rate > 0:
            bucket = self._buckets.get(strategy)
            if bucket is None or bucket.rate != rate:  # a reload that changed the rate: a fresh bucket
                bucket = self._buckets[strategy] = TokenBucket(rate, max(1.0, rate))
            if bucket.projected_wait(n) > 0:
                raise RiskError(f"over {rate:g} orders per second for this strategy (max_orders_per_sec)",
                                "max_orders_per_sec")
