"""The strategy protocol: every frame on the Unix socket.

A frame is a 4-byte big-endian length, then one msgpack map whose "op" field
names its type (see README "Strategy protocol"). Prices and quantities are
decimal strings, never floats. Requests carry a strategy-chosen req_id; the
gateway answers each with one `ack` (or `orders` for a query, in pages when
larger than a frame may be; `pong` for a ping) at once, and streams
`order_update` and `cancel_reject` events later.
"""
from __future__ import annotations

from typing import Literal, Union

import msgspec

Side = Literal["buy", "sell"]
OrderTypeName = Literal["limit", "market"]  # the wire spelling of orders.model.OrderType
Tif = Literal["gtc", "ioc", "fok"]


class _Frame(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, omit_defaults=True):
    pass


# requests (strategy -> gateway)

class _Reply(msgspec.Struct, tag_field="op", omit_defaults=True):
    """What the gateway sends: clients ignore fields they do not know, so the protocol can gain
    fields without breaking a client built before them."""


class Hello(_Frame, tag="hello"):
    req_id: int
    strategy: str
    cancel_on_disconnect: bool = False


class Place(_Frame, tag="place"):
    req_id: int
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    quantity: str
    price: str | None = None
    type: OrderTypeName = "limit"
    tif: Tif = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    stop_price: str | None = None


class Cancel(_Frame, tag="cancel"):
    """Names the order by the strategy's client_order_id or the gateway's order_id."""
    req_id: int
    client_order_id: str | None = None
    order_id: str | None = None


class CancelAll(_Frame, tag="cancel_all"):
    req_id: int
    venue: str | None = None
    symbol: str | None = None


class Replace(_Frame, tag="replace"):
    """Cancel client_order_id and place new_client_order_id in its stead (same venue,
    symbol, side, type and tif; new price and quantity). With proceed_on_failure the
    new order is placed even when the cancel fails."""
    req_id: int
    client_order_id: str
    new_client_order_id: str
    quantity: str
    price: str | None = None
    proceed_on_failure: bool = False


class Modify(_Frame, tag="modify"):
    """Amend price and/or quantity in place, where the venue can."""
    req_id: int
    client_order_id: str
    price: str | None = None
    quantity: str | None = None


class GroupLeg(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One order of a group: the fields of place, without the venue."""
    client_order_id: str
    symbol: str
    side: Side
    quantity: str
    price: str | None = None
    type: OrderTypeName = "limit"
    tif: Tif = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    stop_price: str | None = None


class PlaceGroup(_Frame, tag="place_group"):
    """Orders linked at the venue: "oco" (one fills or is canceled -> the others are
    canceled) or "if_then" (legs[0] is the parent; the others work once it fills).
    All or nothing: one invalid leg refuses the whole group."""
    req_id: int
    venue: str
    contingency: Literal["oco", "if_then"]
    legs: list[GroupLeg]


class Orders(_Frame, tag="orders"):
    req_id: int
    open_only: bool = True


class Subscribe(_Frame, tag="subscribe"):
    req_id: int


class Ping(_Frame, tag="ping"):
    req_id: int


class StatusRequest(_Frame, tag="status"):
    """Health and latency; allowed before hello (used by `gateway status`); the reply is
    StatusReply (orders.model.Status is an order's status, a different thing)."""
    req_id: int


class InstrumentsRequest(_Frame, tag="instruments"):
    """What each venue lists and how the configured symbols map to it (`gateway instruments`);
    allowed before hello. venue: only that one."""
    req_id: int
    venue: str | None = None


class CancelAllAfter(_Frame, tag="cancel_all_after"):
    """Dead man's switch: unless this strategy sends another request within timeout_ms,
    every open order of it is canceled (and it gets `cancel_all_after_fired`). Any later
    request re-arms it; 0 disarms."""
    req_id: int
    timeout_ms: int


class SetRiskState(_Frame, tag="set_risk_state"):
    """An operator's: set a strategy's state (active, reducing, halted; README "Strategy
    states"). Only on a connection that has not said hello (`gateway risk set-state`): a
    strategy cannot lift its own halt. Answered with an ack."""
    req_id: int
    strategy: str
    state: str
    reason: str | None = None


class RiskStatesRequest(_Frame, tag="risk_states"):
    """Every strategy's state that is not plain active (and the asker's own), with or
    without hello; strategy: that one only."""
    req_id: int
    strategy: str | None = None


class RiskRequest(_Frame, tag="risk"):
    """Each strategy's risk limits in force, where each came from, and how much of them it uses
    (`gateway risk`); allowed before hello (an observer sees every strategy; a strategy's own
    connection sees only itself). strategy: that one only."""
    req_id: int
    strategy: str | None = None


class Positions(_Frame, tag="positions"):
    """The strategy's positions, one per venue and symbol it has traded. Allowed before hello
    (an observer, like `gateway positions`): then `strategy` names whose, and without it every
    strategy's come. After hello a strategy reads its own only."""
    req_id: int
    strategy: str | None = None


class Reload(_Frame, tag="reload"):
    """An operator's: re-read the config file the daemon started from and apply [risk] and
    log_level (README "Reloading the config"). Only on a connection that has not said hello."""
    req_id: int


Request = Union[Hello, Place, PlaceGroup, Cancel, CancelAll, Replace, Modify, Orders, Subscribe, Ping, StatusRequest,
                CancelAllAfter, InstrumentsRequest, SetRiskState, RiskStatesRequest, Reload, Positions,
                RiskRequest]


# replies and events (gateway -> strategy)

class ErrorInfo(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    limit: str | None = None  # risk_limit: the limit that refused (max_position, reference_price, ...)


class Ack(_Reply, tag="ack"):
    req_id: int
    ok: bool
    error: ErrorInfo | None = None
    order_id: str | None = None
    order_ids: list[str] | None = None  # place_group: one per leg, in the legs' order


class TradeView(msgspec.Struct, omit_defaults=True, frozen=True):
    trade_id: str
    price: str
    quantity: str
    ts_ns: int
    is_maker: bool | None = None
    fee: str | None = None  # as the venue charged it, in its fee currency; None: the venue did not say


class OrderView(msgspec.Struct, omit_defaults=True, frozen=True):
    order_id: str
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderTypeName
    tif: Tif
    quantity: str
    status: str
    filled: str
    remaining: str
    price: str | None = None
    stop_price: str | None = None
    avg_price: str | None = None
    venue_order_id: str | None = None
    post_only: bool = False
    reduce_only: bool = False
    reason: str | None = None
    last_trades: list[TradeView] = []
    replaces: str | None = None
    replaced_by: str | None = None
    updated_ns: int = 0


class OrderUpdate(_Reply, tag="order_update"):
    order: OrderView


class CancelReject(_Reply, tag="cancel_reject"):
    client_order_id: str
    order_id: str
    reason: str
    req_id: int | None = None


class ModifyReject(_Reply, tag="modify_reject"):
    """An acked modify the venue refused (or that could not be sent): the order keeps its
    price and quantity. code is as stable as an ack's error code."""
    client_order_id: str
    order_id: str
    code: str
    reason: str


class OrdersReply(_Reply, tag="orders"):
    """A reply larger than max_frame_bytes comes in pages: several `orders` frames with the same
    req_id, every one but the last with more=True (orders_pages)."""
    req_id: int
    orders: list[OrderView]
    more: bool = False


class Pong(_Reply, tag="pong"):
    req_id: int
    ts_ns: int


class PriceStatus(msgspec.Struct, omit_defaults=True):
    """A symbol's reference data: the venue's public prices (decimal strings) and their age."""
    symbol: str
    bid: str | None = None
    ask: str | None = None
    mark: str | None = None
    age_s: float | None = None  # since the gateway received it; None: no price yet
    unavailable: str | None = None  # why new orders on it are refused (instrument_unavailable)


class VenueStatus(msgspec.Struct, omit_defaults=True):
    name: str
    kind: str
    connected: bool
    open_orders: int
    reconnects: int = 0
    orders_last_minute: int = 0
    tick_to_wire_p50_us: float | None = None  # latency, not money: floats are fine here
    tick_to_wire_p99_us: float | None = None
    queued: int = 0  # requests accepted and waiting in the venue's outbound line
    # time from accepted to handed to the adapter (the line and the rate limiter), last minute
    queue_wait_p50_us: float | None = None
    queue_wait_p99_us: float | None = None
    prices: list[PriceStatus] = []  # each configured symbol's reference data


class SwitchStatus(msgspec.Struct):
    """An armed dead man's switch (cancel_all_after)."""
    strategy: str
    timeout_ms: int
    fires_in_ms: int  # if no request comes before then


class DropCopyStatus(msgspec.Struct, omit_defaults=True):
    state: str  # connecting, connected, disconnected, catching up
    gateway_id: str
    stream: str
    published: int = 0
    pending: int = 0
    oldest_pending_age_s: float = 0.0
    publish_errors: int = 0
    catchup_events: int = 0
    control: bool = False


class DriftStatus(msgspec.Struct):
    """A symbol whose account position at the venue was compared with the strategies' sum
    (after the venue's last reconcile): decimal strings, base units; drift = venue - gateway."""
    venue: str
    symbol: str
    venue_position: str
    gateway_position: str
    drift: str


class StatusReply(_Reply, tag="status"):
    req_id: int
    uptime_s: int
    strategies: list[str]
    venues: list[VenueStatus]
    switches: list[SwitchStatus] = []
    drop_copy: DropCopyStatus | None = None  # with [drop_copy]
    halted: str | None = None  # fleet control's reason, while new orders are refused
    position_drift: list[DriftStatus] = []


class PositionView(msgspec.Struct, omit_defaults=True, frozen=True):
    """Amounts as decimal strings: position (base units, signed: + long), avg_price, realized_pnl
    and unrealized_pnl (quote units), reference_price; unrealized_pnl and reference_price are
    null when the gateway has no reference price for the symbol; fees as the venues charged
    them (their fee currency), not in the PnL."""
    strategy: str
    venue: str
    symbol: str
    position: str
    avg_price: str
    realized_pnl: str
    unrealized_pnl: str | None = None
    reference_price: str | None = None
    fees: str = "0"


class PositionsReply(_Reply, tag="positions"):
    req_id: int
    positions: list[PositionView]


class InstrumentView(msgspec.Struct, omit_defaults=True):
    """One instrument as the venue lists it, and what we trade it as. Sizes are decimal strings."""
    venue_symbol: str
    product_id: str
    tick_size: str
    lot_size: str
    min_quantity: str
    status: str  # trading, halted, delisted
    symbol: str | None = None  # ours; None: a venue instrument we do not trade
    # where the config differs from the venue ("tick_size: config 0.2, venue 0.1 (stricter)")
    differences: list[str] = []
    from_venue: bool = False  # given as a symbol alone: its id and sizes are the venue's
    unavailable: str | None = None
    bid: str | None = None
    ask: str | None = None
    mark: str | None = None
    age_s: float | None = None


class VenueInstruments(msgspec.Struct, omit_defaults=True):
    venue: str
    kind: str
    listed: int = 0  # instruments the venue lists
    list_age_s: float | None = None  # since the list was last read; None: never read
    errors: int = 0  # lists that could not be read or checked
    instruments: list[InstrumentView] = []  # ours first, in the config's order, then the rest
    # our symbols the venue's list has not confirmed (not read yet, or no longer listed)
    unchecked: list[str] = []


class InstrumentsReply(_Reply, tag="instruments"):
    req_id: int
    venues: list[VenueInstruments]


class LimitView(msgspec.Struct, omit_defaults=True):
    """One limit in force: its value as the config spells it, and the table it came from
    (`risk`, `risk.symbols."ETH-PERP"`, `risk.strategies.alpha.symbols."citrex:ETH-PERP"`, ...)."""
    name: str
    value: str
    source: str


class SymbolRiskView(msgspec.Struct, omit_defaults=True):
    """A strategy's limits and use on one venue's symbol. position: net, base units, signed (None:
    no positions book); open_buy / open_sell: its open orders' remaining quantity; worst_position:
    the position if every open order of the worse side filled (what max_position is held to)."""
    venue: str
    symbol: str
    limits: list[LimitView]
    open_buy: str = "0"
    open_sell: str = "0"
    position: str | None = None
    worst_position: str = "0"
    max_position_usage: float | None = None  # |worst_position| / max_position; None: no limit
    reference_price: str | None = None


class StrategyRiskView(msgspec.Struct, omit_defaults=True):
    """A strategy's strategy-wide limits ([risk.strategies.NAME] over [risk]) and their use,
    and the same per symbol it trades or a table names. usage: limit -> ratio of it used (1.0:
    at the limit), for the limits that are set. state and PnL are filled by the parts that own
    them (None: not known here)."""
    strategy: str
    limits: list[LimitView]
    open_orders: int = 0
    open_notional: str = "0"
    usage: dict[str, float] = {}
    symbols: list[SymbolRiskView] = []
    state: str | None = None  # active | reducing | halted
    realized_pnl: str | None = None
    unrealized_pnl: str | None = None  # None: a symbol it holds has no reference price
    state_reason: str | None = None  # why it is not active, and who set it (operator, fleet_control, max_loss)
    state_source: str | None = None
    max_loss: str | None = None  # in force: [risk.strategies.NAME] over [risk]; usage["max_loss"] = -PnL / it


class RiskReply(_Reply, tag="risk"):
    req_id: int
    strategies: list[StrategyRiskView]


class CancelAllAfterFired(_Reply, tag="cancel_all_after_fired"):
    """The strategy's dead man's switch fired: no request came within timeout_ms, so every
    open order of it was canceled (order_ids; their outcomes follow as order updates). The
    switch is disarmed until the strategy arms it again."""
    timeout_ms: int
    order_ids: list[str]


class RiskState(_Reply, tag="risk_state"):
    """The strategy's state changed (an operator, fleet control or a max_loss breach), and
    once after hello while it is not active. reducing: only orders that make its position
    smaller are taken; halted: no new orders, replaces or modifies; cancels always pass."""
    strategy: str
    state: str  # active, reducing, halted
    reason: str | None = None


class StrategyStateView(msgspec.Struct, omit_defaults=True):
    strategy: str
    state: str
    reason: str | None = None
    source: str | None = None  # operator, fleet_control, max_loss
    since_ns: int = 0  # wall clock of the change
    max_loss_breached: bool = False


class RiskStatesReply(_Reply, tag="risk_states"):
    req_id: int
    strategies: list[StrategyStateView]


class ReloadReply(_Reply, tag="reload"):
    """ok: the new [risk] and log_level are in force (applied names what changed); else
    error says why and nothing changed. needs_restart: changed sections a reload does not apply."""
    req_id: int
    ok: bool
    error: ErrorInfo | None = None
    applied: list[str] = []
    needs_restart: list[str] = []


class ProtocolError(_Reply, tag="error"):
    """Sent once before the gateway closes a connection whose frame it could not read."""
    code: str
    message: str


Reply = Union[Ack, OrderUpdate, CancelReject, ModifyReject, OrdersReply, Pong, StatusReply, CancelAllAfterFired,
              ProtocolError, InstrumentsReply, RiskState, RiskStatesReply, ReloadReply, PositionsReply,
              RiskReply]

request_decoder = msgspec.msgpack.Decoder(Request)
reply_decoder = msgspec.msgpack.Decoder(Reply)
encoder = msgspec.msgpack.Encoder()

REQUEST_OPS = frozenset(t.__struct_config__.tag for t in Request.__args__)


def orders_pages(reply: OrdersReply, max_payload: int) -> list[bytes]:
    """The reply encoded as one frame's payload when it fits in max_payload (a client that knows
    no pages reads it as ever), else as pages that each fit: the orders in their order, split in
    even runs, a run that is still too large split in two again. An order whose view alone is
    larger goes alone (no frame can hold it)."""
    whole = encoder.encode(reply)
    if len(whole) <= max_payload or len(reply.orders) < 2:
        return [whole]
    pages: list[bytes] = []
    req_id, views = reply.req_id, reply.orders

    def page(run: list[OrderView], more: bool) -> None:
        payload = encoder.encode(OrdersReply(req_id=req_id, orders=run, more=more))
        if len(payload) <= max_payload or len(run) == 1:
            pages.append(payload)
            return
        half = len(run) // 2
        page(run[:half], True)
        page(run[half:], more)

    runs = -(-len(whole) * 5 // (max_payload * 4))  # aim at 80% of a frame
    step = -(-len(views) // runs)
    for start in range(0, len(views), step):
        page(views[start:start + step], more=start + step < len(views))
    return pages
