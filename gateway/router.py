"""A strategy's request -> its reply, from the part that owns it.

Every request is handled in one call from the bytes read, without waiting on
any venue: sessions (gateway/ipc/sessions.py) for hello, queries and the dead
man's switch; the admission gate (gateway/admission.py) for whether new work
is taken at all; order entry (gateway/entry.py) for orders and cancels. `ok`
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
# what an observer (`gateway status`, `gateway risk`) may ask without a hello
_BEFORE_HELLO = (f.Hello, f.StatusRequest, f.RiskRequest)


class Router:
    def __init__(self, sessions: Sessions, entry: OrderEntry, gate: AdmissionGate, metrics: Metrics,
                 status: Callable[[int], f.StatusReply],
                 risk: Callable[[int, str | None], f.RiskReply] | None = None):
        self._sessions = sessions
        self._gate = gate
        self._metrics = metrics
        self._switches = sessions.switches
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
            f.CancelAllAfter: lambda link, req, t_in, _: sessions.cancel_all_after(link, req, t_in),
            f.RiskRequest: lambda link, req, *_: self._risk_view(link, req),
        }
        self._risk = risk

    def _risk_view(self, link: StrategyLink, req: f.RiskRequest) -> f.RiskReply:
        """A strategy sees its own limits only; an observer (no hello) every strategy's."""
        if self._risk is None:
            raise RequestError("unsupported", "this gateway shows no risk view")
        if req.strategy is not None and not STRATEGY_NAME.match(req.strategy):
            raise RequestError("bad_field", "strategy: 1-64 of A-Z a-z 0-9 _ . : -")
        if link.strategy is not None:
            if req.strategy is not None and req.strategy != link.strategy:
                raise RequestError("not_your_order", "a strategy sees only its own risk: ask without hello")
            return self._risk(req.req_id, link.strategy)
        return self._risk(req.req_id, req.strategy)

    def handle(self, link: StrategyLink, request, t_in_ns: int, decode_ns: int = 0):
        """One request, handled to its reply without waiting (None: the handler sent it)."""
        code = limit = None
        try:
            if link.strategy is None and not isinstance(request, _BEFORE_HELLO):
                raise RequestError("hello_required", "send hello before any other request")
            if isinstance(request, _NEW_WORK):
                self._gate.check_new_work()
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
        if self._switches.armed:
            self._switches.touch(link.strategy, t_in_ns)  # any request re-arms it
        return reply
