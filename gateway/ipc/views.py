"""Order -> OrderView: the whole order as the strategy sees it, amounts as decimal strings."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled
from gateway.ipc.frames import OrderView, TradeView
from gateway.orders.model import SCALE, Order


def order_view(order: Order, *, fills_from: int | None = None) -> OrderView:
    """last_trades: fills[fills_from:] (a change's view: its listener's cursor), or the fills
    not yet reported to the strategy (queries and snapshots). Nothing is marked reported here:
    the listener that sends a change's view moves its own cursor."""
    new_fills = order.fills[order.fills_reported if fills_from is None else fills_from:]
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
                      quantity=format_scaled(f.quantity, SCALE), ts_ns=f.ts_ns, is_maker=f.is_maker)
            for f in new_fills
        ],
        replaces=order.replaces,
        replaced_by=order.replaced_by,
        updated_ns=order.updated_ns,
    )
