"""The fleet's side of the bus, for `gateway dropcopy`: tail the events, fold them into a
book of open orders and net fills, send control commands and gather the replies."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import msgspec

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.dropcopy.config import DropCopyConfig
from gateway.dropcopy.connection import connect_options
from gateway.dropcopy.events import CANCEL_REJECT, token
from gateway.orders.model import SCALE, TERMINAL

_CLOSED = frozenset(s.value for s in TERMINAL)


class SeenOrder(msgspec.Struct):
    """What the book needs of an order event (unknown fields are fine: the payload gains some)."""
    order_id: str
    venue: str
    symbol: str
    side: str
    status: str
    filled: str


class SeenEvent(msgspec.Struct):
    gateway: str
    strategy: str
    seq: int
    order: SeenOrder


_decode_event = msgspec.json.Decoder(SeenEvent).decode


def event_filter(cfg: DropCopyConfig, gateway: str | None = None, venue: str | None = None) -> str:
    return f"{cfg.subject_prefix}.{gateway or '*'}.{token(venue) if venue else '*'}.*.*"


async def _connect(cfg: DropCopyConfig, name: str):
    import nats

    return await nats.connect(**connect_options(cfg, name), allow_reconnect=False)


def describe(subject: str, data: bytes) -> str:
    """One line for a person; the JSON as it came with --json."""
    ev = json.loads(data)
    if subject.endswith("." + CANCEL_REJECT):
        return (f"{ev['gateway']:<12} {ev['strategy']:<12} #{ev['seq']:<3} cancel_reject "
                f"{ev['client_order_id']} ({ev['order_id']}): {ev['reason']}")
    o = ev["order"]
    return (f"{ev['gateway']:<12} {ev['strategy']:<12} #{ev['seq']:<3} {o['venue']:<8} {o['symbol']:<10} "
            f"{o['side']:<4} {o['quantity']:>10} @ {o.get('price') or 'market':<10} {o['status']:<16} "
            f"filled {o['filled']}  {o['client_order_id']}" + (f"  ({o['reason']})" if o.get("reason") else ""))


async def tail(cfg: DropCopyConfig, out: Callable[[str, bytes], None], *, gateway: str | None = None,
               venue: str | None = None, from_start: bool = False, durable: str | None = None,
               count: int = 0, idle_timeout_s: float = 0) -> int:
    """Events as they come (from the stream's start with from_start); a durable consumer
    resumes where it stopped. Stops after count events or idle_timeout_s without one
    (0: never). Returns how many were shown."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import DeliverPolicy

    nc = await _connect(cfg, "gateway dropcopy tail")
    try:
        js = nc.jetstream()
        policy = DeliverPolicy.ALL if from_start else DeliverPolicy.NEW
        if durable:
            sub = await js.subscribe(event_filter(cfg, gateway, venue), stream=cfg.stream, durable=durable,
                                     deliver_policy=policy, manual_ack=True)
        else:
            sub = await js.subscribe(event_filter(cfg, gateway, venue), stream=cfg.stream,
                                     ordered_consumer=True, deliver_policy=policy)
        n = 0
        while not count or n < count:
            try:
                msg = await sub.next_msg(timeout=idle_timeout_s or 3600)
            except NatsTimeout:
                if idle_timeout_s:
                    break
                continue
            out(msg.subject, msg.data)
            if durable:
                await msg.ack()
            n += 1
        return n
    finally:
        await nc.close()


async def book(cfg: DropCopyConfig, *, gateway: str | None = None, idle_timeout_s: float = 2.0) -> dict:
    """The whole stream replayed: each order's last change (by seq), then per gateway, venue
    and symbol the open orders and the net filled quantity (bought - sold)."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import DeliverPolicy
    from nats.js.errors import NotFoundError

    nc = await _connect(cfg, "gateway dropcopy book")
    last: dict[tuple[str, str], SeenEvent] = {}
    events = 0
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(cfg.stream)
        except NotFoundError:
            info = None
        if info is not None and info.state.messages:
            sub = await js.subscribe(f"{cfg.subject_prefix}.{gateway or '*'}.*.*.order", stream=cfg.stream,
                                     ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
            while True:
                try:
                    msg = await sub.next_msg(timeout=idle_timeout_s)
                except NatsTimeout:
                    break  # nothing (more) matches
                events += 1
                ev = _decode_event(msg.data)
                key = (ev.gateway, ev.order.order_id)
                seen = last.get(key)
                if seen is None or ev.seq > seen.seq:
                    last[key] = ev
                if msg.metadata.num_pending == 0:
                    break
    finally:
        await nc.close()
    rows: dict[tuple[str, str, str], dict] = {}
    for ev in last.values():
        o = ev.order
        row = rows.setdefault((ev.gateway, o.venue, o.symbol), {"open": 0, "bought": 0, "sold": 0})
        if o.status not in _CLOSED:
            row["open"] += 1
        filled = parse_scaled(o.filled, SCALE)
        row["bought" if o.side == "buy" else "sold"] += filled
    out = []
    for (gw, venue, symbol), row in sorted(rows.items()):
        net = row["bought"] - row["sold"]
        out.append({"gateway": gw, "venue": venue, "symbol": symbol, "open_orders": row["open"],
                    "bought": format_scaled(row["bought"], SCALE), "sold": format_scaled(row["sold"], SCALE),
                    "net_filled": format_scaled(net, SCALE)})
    return {"events": events, "orders": len(last), "rows": out}


async def command(cfg: DropCopyConfig, op: str, *, gateway: str | None = None, reason: str | None = None,
                  venue: str | None = None, wait_s: float = 2.0, expect: int = 0, strategy: str | None = None,
                  state: str | None = None) -> list[dict]:
    """Send one control command to a gateway (gateway=None: all of them) and gather the replies:
    one gateway's first, or every reply within wait_s (or until `expect` came)."""
    body: dict = {"op": op}
    if reason is not None:
        body["reason"] = reason
    if op == "cancel_all":
        body["venue"] = venue
    if op == "set_state":
        body["strategy"], body["state"] = strategy, state
    subject = f"{cfg.subject_prefix}.control.{gateway or 'all'}"
    want = 1 if gateway else expect
    nc = await _connect(cfg, "gateway dropcopy control")
    replies: list[dict] = []
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(subject, json.dumps(body).encode(), reply=inbox)
        await nc.flush()
        end = time.monotonic() + wait_s
        while not want or len(replies) < want:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except asyncio.TimeoutError:  # nats' own TimeoutError is one too
                break
            if not msg.data:  # "no responders": nobody subscribes to that subject
                break
            replies.append(json.loads(msg.data))
    finally:
        await nc.close()
    return replies
