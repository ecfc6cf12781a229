"""Positions per strategy, venue and symbol, from the fills the gateway books (book.py), their
arithmetic (position.py), and what the protocol and metrics show of them (views.py)."""
from gateway.positions.book import Pnl, Positions
from gateway.positions.position import Position

__all__ = ["Pnl", "Position", "Positions"]
