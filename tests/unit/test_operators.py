"""An operator's requests (set_risk_state, reload) come only from an operator's peer: root, the
gateway's own user, or [server] operator_uids / operator_gids. A strategy run as another user
cannot lift its own halt by opening a second connection without hello."""
from __future__ import annotations

import os
import time

from gateway.assembly import assemble
from gateway.config import RiskConfig
from gateway.ipc import frames as f
from gateway.risk import RiskLimits
from gateway.ipc.admittance import operators


class Peer:
    strategy = None
    peer_pid = 1

    def __init__(self, uid: int, gid: int = -1):
        self.peer_uid, self.peer_gid = uid, gid
        self.peer = ("uid", uid)

    def said_hello(self, strategy):  # pragma: no cover - these never say hello
        self.strategy = strategy

    def send(self, message):
        pass


def _set_state(router, link, state="active"):
    return router.handle(link, f.SetRiskState(req_id=1, strategy="algo", state=state), time.perf_counter_ns())


def test_only_an_operators_peer_may_set_a_state():
    parts = assemble(RiskLimits(RiskConfig()), closed_ttl_ns=10**12)
    router = parts.router
    router.may_operate = operators([4242], [777])
    parts.states.set("algo", "halted", "desk")
    other = Peer(uid=31337)  # a strategy run as its own user, on a connection without hello
    refused = _set_state(router, other)
    assert refused.error.code == "operator_only" and "uid 31337 is not an operator" in refused.error.message
    assert parts.states.state("algo") == "halted"  # its halt stands
    assert _set_state(router, Peer(uid=4242)).ok  # a listed operator
    assert _set_state(router, Peer(uid=31337, gid=777), "halted").ok  # an operator group
    assert _set_state(router, Peer(uid=os.getuid())).ok  # the gateway's own user
    assert parts.states.state("algo") == "active"
    reload = router.handle(other, f.Reload(req_id=2), time.perf_counter_ns())
    assert reload.error.code == "operator_only"
