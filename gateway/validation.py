"""Every check of a strategy's request that needs no venue: fields, instrument
steps, capabilities and risk. It builds the new order (untracked, without
an id) or raises RequestError with a stable code; nothing here waits.
"""
from __future__ import annotations

import re

from gateway._core.fixedpoint import FixedPointError, format_scaled, parse_scaled
from gateway.orders.model import SCALE, Order, OrderType, Side, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.risk import RiskError, RiskLimits
from gateway.venues.base import VenueAdapter

STRATEGY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,64}$")

_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_TIFS = {t.value: t for t in TimeInForce}


# a client's text in a reply or a log line: never more than this
MAX_ECHO_CHARS = 200


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """A client-supplied string cut to `limit` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class RequestError(Exception):
    """A refusal with a stable code; its message may echo the client's strings, so it is clipped."""

    def __init__(self, code: str, message: str, limit: str | None = None):
        message = clip(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.limit = limit  # risk_limit: which limit (the ack's error.limit)


def amount(field: str, text: str, step: int | None = None) -> int:
    """A positive decimal string as an e18 int, a multiple of step when given."""
    try:
        value = parse_scaled(text, SCALE)
    except FixedPointError as exc:
        raise RequestError("bad_decimal", f"{field}: {exc}") from None
    except TypeError:
        raise RequestError("bad_decimal", f"{field} must be a decimal string") from None
    if value == 0:
        raise RequestError("bad_field", f"{field} must be above zero")
    if step and value % step:
        raise RequestError(
            f"bad_{field}" if field in ("price", "quantity") else "bad_field",
            f"{field} {text} is not a multiple of {format_scaled(step, SCALE)}",
        )
    return value


def _check_available(venue: VenueAdapter, symbol: str) -> None:
    """New orders on a symbol the venue halted or delisted (or whose block is still to be read
    from the venue's list) are refused; cancels never come here."""
    why = venue.unavailable.get(symbol)
    if why is not None:
        raise RequestError("instrument_unavailable", f"{venue.name} {symbol}: {why}")


class OrderValidator:
    def __init__(self, risk: RiskLimits, tracker: Tracker):
        self.risk = risk
        self.tracker = tracker

    def new_order(self, strategy: str, venue: VenueAdapter, cid: str, symbol: str, side: str, order_type_name: str,
                  tif: str, price_text: str | None, quantity_text: str, post_only: bool, reduce_only: bool,
                  stop_text: str | None, earlier: list[Order] | tuple = (), replaces: Order | None = None) -> Order:
        """The order a request asks for, checked and untracked; RequestError when it may not go.
        earlier: orders of the same request validated before this one (a group's legs: risk
        counts them as open); replaces: the open order a cancel-and-replace takes the place of."""
        if not CLIENT_ORDER_ID.match(cid):
            raise RequestError("bad_field", "client_order_id must be 1-64 printable ASCII characters")
        steps = venue.steps.get(symbol)
        if steps is None or venue.unavailable:
            _check_available(venue, symbol)
            if steps is None:
                raise RequestError("unknown_symbol", f"{venue.name} has no symbol {symbol!r}; "
                                   f"configured: {', '.join(sorted(venue.instruments))}")
        tick = steps.tick
        quantity = amount("quantity", quantity_text, steps.lot)
        if quantity < steps.min_quantity:
            raise RequestError("bad_quantity", f"quantity {quantity_text} is below the minimum "
                               f"{venue.instruments[symbol].min_quantity}")
        order_type = _TYPES[order_type_name]
        price = None
        caps = venue.capabilities
        if order_type is OrderType.LIMIT:
            if price_text is None:
                raise RequestError("missing_field", "a limit order needs a price")
            price = amount("price", price_text, tick)
        elif price_text is not None:
            raise RequestError("bad_field", "a market order takes no price")
        elif not caps.market_orders:
            raise RequestError("unsupported", f"{venue.name} takes no market orders")
        if post_only and not caps.post_only:
            raise RequestError("unsupported", f"{venue.name} has no post-only orders")
        if post_only and (order_type is not OrderType.LIMIT or tif != "gtc"):
            raise RequestError("bad_field", "post_only needs a GTC limit order")
        stop = None
        if stop_text is not None:
            if not caps.stop_orders:
                raise RequestError("unsupported", f"{venue.name} has no stop orders")
            stop = amount("stop_price", stop_text, tick)
        if reduce_only and not caps.reduce_only:
            raise RequestError("unsupported", f"{venue.name} has no reduce-only orders")
        tracker = self.tracker
        if tracker.by_client(strategy, cid) is not None:
            raise RequestError("duplicate_client_order_id",
                               f"client_order_id {cid!r} is already used by an order of this strategy")
        order_side = _SIDES[side]
        pending = len(earlier)
        try:
            self.risk.check(quantity, price, tracker.open_count(strategy) + pending, strategy=strategy,
                            venue=venue.name, symbol=symbol, pending=pending, side=order_side, earlier=earlier,
                            replaces=replaces)
        except RiskError as exc:
            raise RequestError("risk_limit", str(exc), exc.limit) from None
        return Order("", strategy, cid, venue.name, symbol, order_side, order_type, _TIFS[tif], price,
                     quantity, post_only, reduce_only, stop)

    def amendment(self, order: Order, venue: VenueAdapter, price_text: str | None,
                  quantity_text: str | None) -> tuple[int | None, int | None]:
        """A modify's new price and quantity, held to the same steps and limits as a new order."""
        if venue.unavailable:
            _check_available(venue, order.symbol)
        steps = venue.steps[order.symbol]
        price = None if price_text is None else amount("price", price_text, steps.tick)
        quantity = None if quantity_text is None else amount("quantity", quantity_text, steps.lot)
        if price is None and quantity is None:
            raise RequestError("missing_field", "a modify needs a price or a quantity")
        if quantity is not None and quantity < steps.min_quantity:
            raise RequestError("bad_quantity", f"quantity {quantity_text} is below the minimum "
                               f"{venue.instruments[order.symbol].min_quantity}")
        try:
            self.risk.check_amendment(quantity if quantity is not None else order.quantity,
                                      price if price is not None else order.price,
                                      strategy=order.strategy, venue=venue.name, symbol=order.symbol, order=order)
        except RiskError as exc:
            raise RequestError("risk_limit", str(exc), exc.limit) from None
        return price, quantity
