"""Order -> OrderView: the whole order as the strategy sees it, amounts as decimal strings."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled
from gateway.ipc.frames import OrderView, TradeView
from gateway.orders.model import SCALE, Order


def order_view(order: Order, fills_from: int) -> OrderView:
    """The whole order; last_trades: order.fills[fills_from:] (the trades its reader has not
    had: each listener keeps its own place)."""
    new_fills = order.fills[fills_from:]
    avg = order.avg_price
    return OrderView(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        venue=order.venue,
        symbol=order.symbol,
        side=order.side._value_,  # the plain attribute: `.value` is a descriptor, 4x the cost
        type=order.type._value_,
        tif=order.tif._value_,
        quantity=format_scaled(order.quantity, SCALE),
        status=order.status._value_,
        filled=format_scaled(order.filled, SCALE),
        remaining=format_scaled(order.remaining, SCALE),
        price=None if order.price is None else format_scaled(order.price, SCALE),
        stop_price=None if order.stop_price is None else format_scaled(order.stop_price, SCALE),
        avg_price=None if avg is None else format_scaled(avg, SCALE),
        venue_order_id=order.venue_order_id,
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        reason=order.reason,
        last_trades=[
            TradeView(trade_id=f.trade_id, price=format_scaled(f.price, SCALE),
                      quantity=format_scaled(f.quantity, SCALE), ts_ns=f.ts_ns, is_maker=f.is_maker,
                      fee=None if f.fee is None else format_scaled(f.fee, SCALE))
            for f in new_fills
        ],
        replaces=order.replaces,
        replaced_by=order.replaced_by,
        updated_ns=order.updated_ns,
    )


class ChangeViews:
    """The view of the latest change, made once: the strategy's session and the drop copy
    both render every change, from the same trade when the strategy was connected all along,
    and then share one frozen view (its JSON for the drop copy costs a third of a second one)."""
    __slots__ = ("_order", "_seq", "_fills_from", "_view")

    def __init__(self) -> None:
        self._order = self._view = None
        self._seq = self._fills_from = -1

    def view(self, order: Order, fills_from: int) -> OrderView:
        if order is self._order and order.seq == self._seq and fills_from == self._fills_from:
            return self._view
        view = order_view(order, fills_from)
        self._order, self._seq, self._fills_from, self._view = order, order.seq, fills_from, view
        return view
