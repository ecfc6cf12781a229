"""Who may hold a connection to the strategy socket, and how many.

A peer (SO_PEERCRED) must be the gateway's own user or one of `allowed_uids` /
`allowed_gids`; an operator's requests (set_risk_state, reload) need root, the gateway's own
user or one of `operator_uids` / `operator_gids`. One peer holds at most `max_connections_per_peer`: another user's
processes all together, the gateway's own user's (every strategy, by default)
per process. At `max_connections` a new connection takes the slot of the
oldest one that has not said hello, so a flood of silent connections cannot
keep out a strategy that connects and says hello at once (README "Limits").
"""
from __future__ import annotations

import logging
import os

from collections.abc import Callable

from gateway.config import ServerConfig
from gateway.ipc.sessions import Sessions, StrategyLink

log = logging.getLogger("gateway.ipc")


class Admittance:
    def __init__(self, config: ServerConfig, sessions: Sessions):
        self._config = config
        self._sessions = sessions
        self._own_uid = os.getuid()
        self._uids = set(config.allowed_uids) | {self._own_uid}
        self._gids = set(config.allowed_gids)
        self.is_operator = operators(config.operator_uids, config.operator_gids)

    def peer_allowed(self, uid: int, gid: int) -> bool:
        return uid in self._uids or gid in self._gids

    def peer_key(self, pid: int, uid: int) -> tuple[str, int]:
        """Whose connections count together against max_connections_per_peer."""
        return ("pid", pid) if uid == self._own_uid else ("uid", uid)

    def refusal(self, link: StrategyLink) -> tuple[str, str] | None:
        """(code, message) when this new connection may not stay; None when it may (a silent
        connection may have been closed to make room for it)."""
        if not self.peer_allowed(link.peer_uid, link.peer_gid):
            log.warning("refused peer pid %s uid %s gid %s", link.peer_pid, link.peer_uid, link.peer_gid)
            return "peer_refused", f"uid {link.peer_uid} / gid {link.peer_gid} may not use this gateway"
        sessions, config = self._sessions, self._config
        held, per_peer = sessions.held_by(link.peer), config.max_connections_per_peer
        if held >= per_peer:
            log.warning("refused strategy connection from pid %s uid %s: that %s holds %d connections, "
                        "max_connections_per_peer = %d", link.peer_pid, link.peer_uid, peer_name(link.peer),
                        held, per_peer)
            return ("too_many_peer_connections",
                    f"{peer_name(link.peer)} holds {held} connections to this gateway, the most one peer may "
                    f"(max_connections_per_peer); close one first")
        limit = config.max_connections
        if len(sessions.open) >= limit:
            idle = sessions.oldest_without_hello()
            if idle is None:
                log.warning("refused strategy connection from pid %s uid %s: %d connections open, "
                            "max_connections = %d", link.peer_pid, link.peer_uid, len(sessions.open), limit)
                return ("too_many_connections",
                        f"the gateway serves at most {limit} connections (max_connections); try again later")
            idle.make_room(limit)
            sessions.closed(idle)  # its slot is this one's now, before its close is done
        return None


def peer_name(peer: tuple[str, int]) -> str:
    return f"process {peer[1]}" if peer[0] == "pid" else f"uid {peer[1]}"


def operators(uids: list[int], gids: list[int]) -> Callable[[StrategyLink], bool]:
    """Whether a connection's peer is an operator: root, the gateway's own user, or one of these."""
    allowed = {0, os.getuid(), *uids}
    groups = set(gids)
    return lambda link: link.peer_uid in allowed or link.peer_gid in groups
