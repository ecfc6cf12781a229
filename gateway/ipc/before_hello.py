"""A strategy connection before its hello: what it may do, and for how long.

Until it says hello a connection may hold only `max_bytes_before_hello` bytes,
has `hello_timeout_ms` to say it, and is the one closed first when a new
connection needs its slot (gateway/ipc/admittance.py).
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("gateway.ipc")


class BeforeHello:
    """Mixed into gateway/ipc/server.py's StrategyConnection, whose state it reads."""
    _hello_timer: asyncio.TimerHandle | None

    def make_room(self, limit: int) -> None:
        """Closed for a new connection while every slot is taken: this one has not said hello."""
        if self.closing:
            return  # closed already (its hello timeout), its close not done yet: the slot is free
        log.warning("closing connection of pid %s uid %s that has not said hello: all %d connections are "
                    "taken (max_connections) and a new one came", self.peer_pid, self.peer_uid, limit)
        self._fatal("too_many_connections",
                    f"all {limit} connections of the gateway are taken (max_connections) and this one had not "
                    "said hello: it is closed to make room for a new one")

    def _no_hello(self) -> None:
        self._hello_timer = None
        if self.strategy is None and not self.closing:
            timeout = self._server.config.hello_timeout_ms
            self._fatal("hello_timeout", f"no hello within {timeout} ms of connecting (hello_timeout_ms): "
                                         "a connection must say hello first; it is closed")

    def said_hello(self, strategy: str) -> None:
        self.strategy = strategy
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    def _check_before_hello(self) -> bool:
        """Before hello a client may hold only a few bytes here; returns whether it was cut off."""
        if self._splitter.buffered > self._server.config.max_bytes_before_hello:
            self._too_much_before_hello(self._splitter.buffered)
            return True
        return False

    def _too_much_before_hello(self, size: int) -> None:
        self._pending.clear()
        self._fatal("bad_frame", f"a frame before hello may hold at most "
                                 f"{self._server.config.max_bytes_before_hello} bytes (max_bytes_before_hello); "
                                 f"got {size} or more")
