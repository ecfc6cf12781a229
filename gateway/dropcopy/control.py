"""Fleet control: commands on `{prefix}.control.{gateway_id}` and `{prefix}.control.all`.

`{"op": "halt", "reason": ...}` refuses every new order (`halted`) until `{"op": "resume"}`;
`{"op": "cancel_all", "venue": null | name}` cancels every open order of every strategy.
`{"op": "set_state", "strategy": name, "state": "active" | "reducing" | "halted", "reason": ...}`
sets one strategy's state (gateway/strategy_states.py), as `gateway risk set-state` does.
Each command is answered on its reply subject with what was done. Who may publish here
is NATS's to decide (accounts and permissions: README "Many gateways").
"""
from __future__ import annotations

import logging
import msgspec

from gateway.assembly import Parts
from gateway.dropcopy.config import DropCopyConfig
from gateway.dropcopy.events import control_subjects
from gateway.orders.journal import Journal

log = logging.getLogger("gateway.dropcopy.control")


class Command(msgspec.Struct, forbid_unknown_fields=True):
    op: str
    reason: str | None = None
    venue: str | None = None
    strategy: str | None = None  # set_state
    state: str | None = None  # set_state


class Reply(msgspec.Struct, omit_defaults=True):
    gateway: str
    op: str
    ok: bool
    error: str | None = None
    halted: bool = False
    reason: str | None = None
    cancel_requested: int | None = None  # cancel_all: open orders whose cancel was sent or queued
    by_venue: dict[str, int] | None = None
    strategy: str | None = None  # set_state: the strategy, its state now and the state it had
    state: str | None = None
    was: str | None = None


_decode = msgspec.json.Decoder(Command).decode
_encode = msgspec.json.Encoder().encode


class Control:
    def __init__(self, parts: Parts, config: DropCopyConfig, gateway_id: str, journal: Journal):
        self._gate = parts.gate
        self._tracker = parts.tracker
        self._entry = parts.entry
        self._states = parts.states
        self._journal = journal
        self.gateway_id = gateway_id
        self.subjects = control_subjects(config.subject_prefix, gateway_id)
        self.commands = 0

    async def subscribe(self, nc) -> None:
        for subject in self.subjects:
            await nc.subscribe(subject, cb=self._on_message)

    async def _on_message(self, msg) -> None:
        reply = self.apply(msg.data)
        if msg.reply:
            await msg.respond(_encode(reply))

    def apply(self, data: bytes) -> Reply:
        """One command, carried out at once; the reply says what was done."""
        self.commands += 1
        try:
            cmd = _decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return Reply(self.gateway_id, "?", False, error=f"bad command: {exc}")
        gate = self._gate
        if cmd.op == "halt":
            reason = cmd.reason or "halted by fleet control"
            gate.halt(reason)
            log.warning("HALTED by fleet control: %s", reason)
            return Reply(self.gateway_id, cmd.op, True, halted=True, reason=reason)
        if cmd.op == "resume":
            was = gate.resume()
            log.warning("resumed by fleet control (was halted: %s)", was)
            return Reply(self.gateway_id, cmd.op, True, halted=False, reason=was)
        if cmd.op == "cancel_all":
            venues = self._entry.venues
            if cmd.venue is not None and cmd.venue not in venues:
                return Reply(self.gateway_id, cmd.op, False, halted=gate.halted is not None,
                             error=f"no venue {cmd.venue!r}; configured: {', '.join(sorted(venues))}")
            orders = self._tracker.open_orders(venue=cmd.venue)
            by_venue: dict[str, int] = {}
            for order in orders:
                by_venue[order.venue] = by_venue.get(order.venue, 0) + 1
            self._entry.cancel_orders(orders)
            self._journal.flush()  # the cancels are journaled before the reply says so
            log.warning("fleet control: cancel_all (%s): %d open orders", cmd.venue or "every venue", len(orders))
            return Reply(self.gateway_id, cmd.op, True, halted=gate.halted is not None,
                         cancel_requested=len(orders), by_venue=by_venue)
        if cmd.op == "set_state":
            from gateway.strategy_states import FLEET_CONTROL
            from gateway.validation import RequestError

            if cmd.strategy is None or cmd.state is None:
                return Reply(self.gateway_id, cmd.op, False, halted=gate.halted is not None,
                             error="set_state needs strategy and state")
            try:
                was = self._states.set(cmd.strategy, cmd.state, cmd.reason or "set by fleet control", FLEET_CONTROL)
            except RequestError as exc:
                return Reply(self.gateway_id, cmd.op, False, halted=gate.halted is not None, error=exc.message)
            return Reply(self.gateway_id, cmd.op, True, halted=gate.halted is not None, reason=cmd.reason,
                         strategy=cmd.strategy, state=cmd.state, was=was)
        return Reply(self.gateway_id, cmd.op, False, halted=gate.halted is not None,
                     error=f"unknown op {cmd.op!r}: halt, resume, cancel_all or set_state")
