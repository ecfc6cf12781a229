"""What a venue request can fail with, in a module of its own: the venue line, the
resolver and every adapter catch it, and none of them has to import the adapter
contract (gateway/venues/base.py, which re-exports it) to do so."""
from __future__ import annotations


class VenueError(Exception):
    """A request the venue could not take; code is a short stable string for strategies."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
