"""When a strategy that leaves replies unread is cut off.

Unread replies past `reply_backpressure_bytes` pause the connection's reading
(its own requests wait: they cannot pile up). It is cut off when it reads
nothing of them for `slow_reader_secs`, or when more than
`max_outbound_buffer_bytes` stay unread and do not fall below their lowest for
`slow_reader_secs` (it reads, but slower than its events come). A strategy
that reads as fast as it can is never cut off for the size of its own
request's replies: they are streamed as it drains them (gateway/ipc/replies.py).
"""
from __future__ import annotations

from gateway.config import ServerConfig
from gateway.ipc.replies import ReplyWriter


class UnreadReplies:
    __slots__ = ("since", "reading_since", "taken", "over_since", "over_low")

    def __init__(self) -> None:
        self.since = 0.0  # replies unread past the mark since then (0: none)
        self.reading_since = 0.0  # since when it took nothing of them
        self.taken = 0  # what the socket had taken by then
        self.over_since = 0.0  # more than max_outbound_buffer_bytes unread since then (0: not)
        self.over_low = 0  # the lowest unread since then

    def piled_up(self, replies: ReplyWriter, now: float) -> None:
        if not self.since:
            self.since = self.reading_since = now
            self.taken = replies.taken

    def caught_up(self) -> None:
        self.since = self.over_since = 0.0

    def verdict(self, replies: ReplyWriter, config: ServerConfig, now: float) -> str | None:
        """Why the strategy is cut off now, or None."""
        if not self.since:
            return None
        patience = config.slow_reader_secs
        unread, taken = replies.unread, replies.taken
        if taken > self.taken:
            self.taken, self.reading_since = taken, now  # it reads: judged from here
        elif now - self.reading_since > patience:
            return f"{unread} bytes of replies unread, none read for {patience:g} s"
        if unread <= config.max_outbound_buffer_bytes:
            self.over_since = 0.0
        elif not self.over_since or unread < self.over_low:
            self.over_since, self.over_low = now, unread  # they shrink: judged from here
        elif now - self.over_since > patience:
            return (f"{unread} bytes of replies unread, more than max_outbound_buffer_bytes and not "
                    f"below {self.over_low} for {patience:g} s: it reads slower than they come")
        return None
