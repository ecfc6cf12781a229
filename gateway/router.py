"""A strategy's request -> its reply, from the part that owns it.

Every request is handled in one call from the bytes read, without waiting on
any venue: sessions (gateway/ipc/sessions.py) for hello, queries and the dead
man's switch; the admission gate (gateway/admission.py) for whether new work
is taken at all; order entry (gateway/entry.py) for orders and cancels; the
strategies' states (gateway/strategy_states.py) and the config reload
(gateway/reload.py) for an operator's requests. `ok`
means accepted: valid, within limits, journaled and queued; what the venue
does with it arrives afterwards as order updates, cancel or modify rejects.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.admission import AdmissionGate
from gateway.entry import OrderEntry
from gateway.ipc import frames as f
from gateway.ipc.sessions import Sessions, StrategyLink
from gateway.metrics import Metrics
from gateway.validation import STRATEGY_NAME, RequestError

log = logging.getLogger("gateway.router")

__all__ = ["RequestError", "Router"]

# what the admission gate is asked about (cancels, queries and pings never are)
_NEW_WORK = (f.Place, f.PlaceGroup, f.Replace, f.Modify)
# an operator's requests: only on a connection that has not said hello (`gateway risk
# set-state`, `gateway reload`), so a strategy cannot lift its own halt through its session
_OPERATOR = (f.SetRiskState, f.Reload)
# what a connection may ask before it says hello: the CLI's views, and the operator's requests
_BEFORE_HELLO = (f.Hello, f.StatusRequest, f.InstrumentsRequest, f.RiskStatesRequest, f.Positions, f.RiskRequest,
                 *_OPERATOR)


class Router:
    def __init__(self, sessions: Sessions, entry: OrderEntry, gate: AdmissionGate, metrics: Metrics,
                 status: Callable[[int], f.StatusReply],
                 instruments: Callable[[int, str | None], f.InstrumentsReply],
                 positions: Callable[[str | None, f.Positions], f.PositionsReply] | None = None,
                 risk: Callable[[int, str | None], f.RiskReply] | None = None):
        self._sessions = sessions
        self._gate = gate
        self._metrics = metrics
        self._switches = sessions.switches
        self.states = entry.states
        # the daemon's (gateway/reload.py): re-reads the config file; None: no file to re-read
        self.reload: Callable[[int], f.ReloadReply] | None = None
        self._handlers = {
            f.Hello: lambda link, req, *_: sessions.hello(link, req),
            f.Place: lambda link, req, t_in, decode_ns: entry.place(link.strategy, req, t_in, decode_ns),
            f.PlaceGroup: lambda link, req, t_in, _: entry.place_group(link.strategy, req, t_in),
            f.Cancel: lambda link, req, *_: entry.cancel(link.strategy, req),
            f.CancelAll: lambda link, req, *_: entry.cancel_all(link.strategy, req),
            f.Replace: lambda link, req, t_in, _: entry.replace(link.strategy, req, t_in),
            f.Modify: lambda link, req, *_: entry.modify(link.strategy, req),
            f.Orders: lambda link, req, *_: sessions.orders(link, req),
            f.Subscribe: lambda link, req, *_: sessions.subscribe(link, req),
            f.Ping: lambda link, req, *_: f.Pong(req_id=req.req_id, ts_ns=time.time_ns()),
            f.StatusRequest: lambda link, req, *_: status(req.req_id),
            f.InstrumentsRequest: lambda link, req, *_: instruments(req.req_id, req.venue),
            f.CancelAllAfter: lambda link, req, t_in, _: sessions.cancel_all_after(link, req, t_in),
            f.SetRiskState: lambda link, req, *_: self._set_risk_state(req),
            f.RiskStatesRequest: lambda link, req, *_: self._risk_states(link, req),
            f.Reload: lambda link, req, *_: self._reload(req),
            f.RiskRequest: lambda link, req, *_: self._risk_view(link, req),
        }
        if positions is not None:
            self._handlers[f.Positions] = lambda link, req, *_: positions(
                _whose(link, req.strategy, "positions", "bad_field"), req)
        self._risk = risk
        # whether a connection's peer may send an operator's request (the server's admittance's)
        self.may_operate: Callable[[StrategyLink], bool] = lambda link: True

    def _risk_view(self, link: StrategyLink, req: f.RiskRequest) -> f.RiskReply:
        """A strategy sees its own limits only; an observer (no hello) every strategy's."""
        if self._risk is None:
            raise RequestError("unsupported", "this gateway shows no risk view")
        if req.strategy is not None and not STRATEGY_NAME.match(req.strategy):
            raise RequestError("bad_field", "strategy: 1-64 of A-Z a-z 0-9 _ . : -")
        return self._risk(req.req_id, _whose(link, req.strategy, "risk"))

    def handle(self, link: StrategyLink, request, t_in_ns: int, decode_ns: int = 0):
        """One request, handled to its reply without waiting (None: the handler sent it)."""
        code = limit = None
        try:
            if link.strategy is None:
                if not isinstance(request, _BEFORE_HELLO):
                    raise RequestError("hello_required", "send hello before any other request")
                if isinstance(request, _OPERATOR) and not self.may_operate(link):
                    raise RequestError("operator_only", f"{request.__struct_config__.tag} is an operator's request; "
                                       f"uid {link.peer_uid} is not an operator ([server] operator_uids, "
                                       "operator_gids; root and the gateway's own user always are)")
            elif isinstance(request, _OPERATOR):
                raise RequestError("operator_only", f"{request.__struct_config__.tag} is an operator's request: "
                                   "send it on a connection that has not said hello (`gateway risk set-state`, "
                                   "`gateway reload`)")
            if isinstance(request, _NEW_WORK):
                self._gate.check_new_work(link.strategy)
            reply = self._handlers[type(request)](link, request, t_in_ns, decode_ns)
        except RequestError as exc:
            code, limit = exc.code, exc.limit
            reply = f.Ack(req_id=request.req_id, ok=False, error=f.ErrorInfo(exc.code, exc.message, exc.limit))
        except Exception:
            code = "internal"
            log.exception("request %s failed", type(request).__name__)
            reply = f.Ack(req_id=request.req_id, ok=False,
                          error=f.ErrorInfo("internal", "the gateway failed on this request; see its log"))
        self._metrics.request_done(request.__struct_config__.tag, code, limit)
        if code is not None and isinstance(request, _OPERATOR):
            log.warning("%s refused (%s): %s", request.__struct_config__.tag, code, reply.error.message)
        if self._switches.armed:
            self._switches.touch(link.strategy, t_in_ns)  # any request re-arms it
        return reply

    # an operator's requests

    def _set_risk_state(self, req: f.SetRiskState) -> f.Ack:
        self.states.set(req.strategy, req.state, req.reason)
        return f.Ack(req_id=req.req_id, ok=True)

    def _risk_states(self, link: StrategyLink, req: f.RiskStatesRequest) -> f.RiskStatesReply:
        return self.states.reply(req.req_id, _whose(link, req.strategy, "state"), link.strategy is None)

    def _reload(self, req: f.Reload) -> f.ReloadReply:
        if self.reload is None:
            raise RequestError("unsupported", "this gateway was not started from a config file: nothing to re-read")
        return self.reload(req.req_id)

def _whose(link: StrategyLink, asked: str | None, what: str, code: str = "not_your_order") -> str | None:
    """Whose `what` a request reads: a strategy its own (another's is refused with code); an
    observer (no hello) the one it names, or every strategy's (None)."""
    if link.strategy is None:
        return asked
    if asked is not None and asked != link.strategy:
        raise RequestError(code, f"this connection is strategy {link.strategy!r}: it reads its own {what} only "
                                 "(another's are read without hello, as the `gateway` commands do)")
    return link.strategy
