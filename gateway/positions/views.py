"""What the `positions` reply shows of the book: amounts as decimal strings."""
from __future__ import annotations

from gateway._core.fixedpoint import format_scaled
from gateway.ipc import frames as f
from gateway.orders.model import SCALE
from gateway.positions.book import Positions
from gateway.positions.position import Position


def position_view(positions: Positions, strategy: str, venue: str, symbol: str, position: Position) -> f.PositionView:
    price = positions.price(venue, symbol)
    return f.PositionView(
        strategy=strategy, venue=venue, symbol=symbol, position=format_scaled(position.net, SCALE),
        avg_price=format_scaled(position.avg_price, SCALE), realized_pnl=format_scaled(position.realized_pnl, SCALE),
        unrealized_pnl=None if price is None else format_scaled(position.unrealized_pnl(price), SCALE),
        reference_price=None if price is None else format_scaled(price, SCALE),
        fees=format_scaled(position.fees, SCALE))


def positions_reply(positions: Positions, strategy: str | None, req: f.Positions) -> f.PositionsReply:
    """One strategy's positions, or (None) every strategy's, sorted by strategy, venue, symbol."""
    return f.PositionsReply(req_id=req.req_id, positions=[
        position_view(positions, s, venue, symbol, position) for s, venue, symbol, position in positions.items()
        if strategy is None or s == strategy])
