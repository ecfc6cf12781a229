"""One view per order change: the strategy's frame and the drop copy's event are made from
the same OrderView object whenever both want the same trades, and each gets its own trades
when they do not (a change made while no strategy was connected)."""
from __future__ import annotations

import json

import msgspec
import pytest

from gateway.config import RiskConfig
from gateway.dropcopy.config import DropCopyConfig
from gateway.dropcopy.publisher import DropCopy
from gateway.ipc import frames as f
from gateway.orders.model import ONE, Fill, OrderType, Side, Status, TimeInForce
from gateway.risk import RiskLimits
from gateway.assembly import Parts, assemble


class Link:
    """A strategy's connection as the sessions see it: what it is sent, and the bytes the real
    connection would write for it."""

    def __init__(self):
        self.strategy = None
        self.peer_pid = self.peer_uid = 0
        self.sent = []
        self.wire = []

    def said_hello(self, strategy: str) -> None:
        self.strategy = strategy

    def send(self, message) -> None:
        self.sent.append(message)
        self.wire.append(f.encoder.encode(message))

    def updates(self) -> list[f.OrderView]:
        return [m.order for m in self.sent if isinstance(m, f.OrderUpdate)]


def setup():
    parts = assemble(RiskLimits(RiskConfig()), closed_ttl_ns=10**12)
    dc = DropCopy(DropCopyConfig(gateway_id="gw1"), parts, None)
    parts.tracker.listeners.append(dc)
    order = parts.tracker.new_order(strategy="s.1", client_order_id="c1", venue="citrex", symbol="ETH-PERP",
                                     side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC, price=2900 * ONE,
                                     quantity=10 * ONE)
    return parts, dc, order


def hello(parts: Parts, link: Link) -> None:
    ack = parts.router.handle(link, f.Hello(req_id=1, strategy="s.1"), 0)
    assert ack.ok


def trade(parts: Parts, order, trade_id: str, qty: int, status: Status | None = None) -> None:
    assert parts.tracker.apply(order, status, [Fill(trade_id, 2900 * ONE, qty * ONE, 1)])


def payloads(dc: DropCopy) -> list[dict]:
    return [json.loads(e.payload) for e in dc._take()]


def trade_ids(view: f.OrderView | dict) -> list[str]:
    trades = view.get("last_trades", []) if isinstance(view, dict) else view.last_trades
    return [t["trade_id"] if isinstance(t, dict) else t.trade_id for t in trades]


def test_the_drop_copy_publishes_the_very_view_the_strategy_got():
    parts, dc, order = setup()
    link = Link()
    hello(parts, link)
    parts.tracker.apply(order, Status.OPEN)
    trade(parts, order, "t1", 3)
    trade(parts, order, "t2", 7, Status.FILLED)
    views = link.updates()
    changes = list(dc.buffer)
    assert len(views) == len(changes) == 3
    for seq, (view, c) in enumerate(zip(views, changes), 1):
        assert c.view is view and c.seq == seq  # one object, made once
    assert [trade_ids(v) for v in views] == [[], ["t1"], ["t2"]]
    events = dc._take()
    for seq, (view, event) in enumerate(zip(views, events), 1):
        # the event's order is the strategy's view byte for byte, under the same envelope as before
        assert event.payload == (b'{"gateway":"gw1","strategy":"s.1","seq":%d,"order":' % seq
                                 + msgspec.json.encode(view) + b"}")
        assert event.msg_id == f"gw1:{order.order_id}:{seq}"
        assert event.subject == "gateway.gw1.citrex.s~1.order"
    # and the strategy's frames carry the same view
    decoded = [f.reply_decoder.decode(w) for w in link.wire]
    assert [d.order for d in decoded if isinstance(d, f.OrderUpdate)] == views
    assert trade_ids(parts.sessions.view(order)) == []  # every trade told: a query repeats none
    with pytest.raises(AttributeError):
        views[0].status = "CANCELED"  # shared, so never changed after it is made


def test_changes_made_while_no_strategy_is_connected_give_each_its_own_trades():
    parts, dc, order = setup()
    parts.tracker.apply(order, Status.OPEN)
    trade(parts, order, "t1", 2)  # nobody to tell but the drop copy
    assert [trade_ids(p["order"]) for p in payloads(dc)] == [[], ["t1"]]
    assert trade_ids(parts.sessions.view(order)) == ["t1"]  # kept for the strategy until it has it

    link = Link()
    hello(parts, link)
    trade(parts, order, "t2", 3)
    # the strategy has not had t1 yet; the drop copy has: two views, each with its own trades
    (strategy_view,) = link.updates()
    (c,) = dc.buffer
    assert c.view is not strategy_view
    assert trade_ids(strategy_view) == ["t1", "t2"] and trade_ids(c.view) == ["t2"]
    assert msgspec.structs.replace(c.view, last_trades=strategy_view.last_trades) == strategy_view
    (event,) = payloads(dc)
    assert event["seq"] == 3 and trade_ids(event["order"]) == ["t2"] and event["order"]["filled"] == "5"

    trade(parts, order, "t3", 5, Status.FILLED)  # both have every trade before it: one view again
    (view,) = link.updates()[1:]
    (c,) = dc.buffer
    assert c.view is view and trade_ids(view) == ["t3"] and view.status == "FILLED"


def test_a_drop_copy_leaving_changes_to_the_journal_still_lets_the_strategy_have_its_view():
    parts, dc, order = setup()
    link = Link()
    hello(parts, link)
    dc.overflow = True  # the buffer was full: changes wait in the journal
    parts.tracker.apply(order, Status.OPEN)
    trade(parts, order, "t1", 2)
    assert [trade_ids(v) for v in link.updates()] == [[], ["t1"]]
    assert not dc.buffer and dc.overflowed == 2
    dc.overflow = False  # published again: t1 is the catch-up's (from the journal), t2 is live
    trade(parts, order, "t2", 1)
    (c,) = dc.buffer
    assert trade_ids(c.view) == ["t2"] and c.view is link.updates()[-1]
