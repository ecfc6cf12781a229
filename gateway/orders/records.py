"""The journal's records: one fixed-layout msgpack array per record, its kind first.

Each kind is a msgspec Struct encoded as an array (`["S", id, status, ...]`), so a record
costs one small object and no key strings, and reading one back is a typed decode. Amounts
are e18 integers: those that fit 64 bits are written as integers, larger ones (a price of
65000 is 6.5e22) as decimal digits; readers accept both.

Journals written before this layout hold one msgpack map per record (`{"k": "S", ...}`);
`decode` reads those too, into the same types, so an old journal replays as it did.
"""
from __future__ import annotations

from typing import ClassVar, Union

import msgspec

from gateway.orders.model import Fill, Order, OrderType, Side, Status, TimeInForce, book_fill

# record kinds: the order, its venue ids, a state change, a fill, its request handed to the
# venue (SENT: without it, the order certainly never left), a modify queued (old journals), a modify taken
NEW, VENUE, STATE, FILL, SENT, MODIFY, AMEND = "N", "V", "S", "F", "X", "M", "A"
# the drop copy's (gateway/dropcopy/catchup.py), which change no order on replay: a cancel
# reject, the last change JetStream holds of orders, an event made but not yet published
CANCEL_REJECT, PUBLISHED, EVENT = "R", "P", "E"
# the gateway's own state, which changes no order either: a strategy's dead man's switch, the
# fleet halt (gateway/deadman.py, gateway/admission.py), a strategy's state
# (gateway/strategy_states.py): the last of each kind (per strategy) holds
SWITCH, HALT, RISK_STATE = "W", "H", "T"
# every strategy's positions as booked from every fill journaled before it (gateway/positions/):
# the last one, plus the fills after it, is the book
POSITIONS = "Q"

Amount = Union[int, str, None]
_I64 = 1 << 63


def _a(v: int | None) -> Amount:
    return v if v is None or -_I64 <= v < _I64 else str(v)


def _i(v: Amount) -> int | None:
    return v if v is None or v.__class__ is int else int(v)


class Record(msgspec.Struct, array_like=True, tag_field="kind"):  # the tag: the array's first item
    k: ClassVar[str]
    id: ClassVar[str | None] = None  # overridden by every kind about one order


class NewRecord(Record, tag=NEW):
    k: ClassVar[str] = NEW
    id: str
    strategy: str
    cid: str
    venue: str
    symbol: str
    side: str
    type: str
    tif: str
    price: Amount
    qty: Amount
    post_only: bool
    reduce_only: bool
    stop: Amount
    replaces: str | None
    created: int


class VenueRecord(Record, tag=VENUE):
    k: ClassVar[str] = VENUE
    id: str
    vid: str | None
    data: dict[str, Union[bool, int, str]] = {}  # msgspec reads no bool as an int: named apart


class StateRecord(Record, tag=STATE):
    k: ClassVar[str] = STATE
    id: str
    status: str
    filled: Amount
    notional: Amount
    reason: str | None
    closed: int
    updated: int
    replaced_by: str | None
    g: bool = False  # older journals have no "g"
    seq: int = -1  # -1: an older journal, which numbered no change


class FillRecord(Record, tag=FILL):
    k: ClassVar[str] = FILL
    id: str
    t: str
    p: Amount
    q: Amount
    ts: int
    maker: bool | None
    fee: Amount


class SentRecord(Record, tag=SENT):
    k: ClassVar[str] = SENT
    id: str
    t: int


class AmendRecord(Record, tag=AMEND):
    k: ClassVar[str] = AMEND
    id: str
    price: Amount
    qty: Amount


class ModifyRecord(AmendRecord, tag=MODIFY):
    """A modify queued: older journals have it; no longer written, read and
    ignored (after a restart the venue's price comes from the reconcile, a modify taken from
    its AMEND record)."""
    k: ClassVar[str] = MODIFY


class CancelRejectRecord(Record, tag=CANCEL_REJECT):
    k: ClassVar[str] = CANCEL_REJECT
    id: str
    seq: int
    reason: str


class PublishedRecord(Record, tag=PUBLISHED):
    k: ClassVar[str] = PUBLISHED
    m: dict[str, int]


class EventRecord(Record, tag=EVENT):
    k: ClassVar[str] = EVENT
    id: str
    seq: int
    s: str  # subject
    m: str  # message id
    p: bytes  # payload


class SwitchRecord(Record, tag=SWITCH):
    k: ClassVar[str] = SWITCH
    strategy: str
    timeout_ms: int  # 0: disarmed
    last_request_ns: int  # wall clock (time.time_ns) of the strategy's last request known to the gateway


class HaltRecord(Record, tag=HALT):
    k: ClassVar[str] = HALT
    reason: str | None  # None: resumed


class RiskStateRecord(Record, tag=RISK_STATE):
    """A strategy's state (active, reducing, halted) as set, and whether its max_loss breach
    has moved it already (so a restart does not move it again)."""
    k: ClassVar[str] = RISK_STATE
    strategy: str
    state: str
    reason: str | None
    source: str  # who set it: operator, fleet_control, max_loss
    ts: int  # wall clock (time.time_ns) of the change
    breached: bool = False


class PositionEntry(msgspec.Struct, array_like=True):
    """One (strategy, venue, symbol) of a POSITIONS record: gateway/positions/position.py."""
    strategy: str
    venue: str
    symbol: str
    net: Amount  # e18 base units, signed
    cost: Amount  # e36: the open position's cost basis
    realized: Amount  # e36 quote units
    fees: Amount  # e18, as the venues charged them


class PositionsRecord(Record, tag=POSITIONS):
    k: ClassVar[str] = POSITIONS
    p: list[PositionEntry]


_KINDS = (NewRecord, VenueRecord, StateRecord, FillRecord, SentRecord, ModifyRecord, AmendRecord,
          CancelRejectRecord, PublishedRecord, EventRecord, SwitchRecord, HaltRecord, RiskStateRecord, PositionsRecord)
AnyRecord = Union[_KINDS]  # type: ignore[valid-type]
_BY_KIND = {cls.k: cls for cls in _KINDS}

encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyRecord)
_legacy_decoder = msgspec.msgpack.Decoder(dict)


def decode(frame: bytes) -> Record:
    """One record, in this layout or a map of a journal written before it. Raises
    msgspec.DecodeError (or ValidationError) for what is neither."""
    first = frame[0]
    if 0x80 <= first <= 0x8F or first in (0xDE, 0xDF):  # a msgpack map: the old layout
        return _from_map(_legacy_decoder.decode(frame))
    return _decoder.decode(frame)


def _from_map(r: dict) -> Record:
    cls = _BY_KIND.get(r.get("k"))
    if cls is None:
        raise msgspec.ValidationError(f"unknown record kind {r.get('k')!r}")
    # the maps' keys are the fields' names; keys a later field added are absent and default
    try:
        return cls(**{name: r[name] for name in cls.__struct_fields__ if name in r})
    except TypeError as exc:  # a field it must have is missing
        raise msgspec.ValidationError(f"record {r.get('k')!r}: {exc}") from None


# writing: what the tracker journals for an order (an enum's `_value_` is its plain attribute:
# `.value` is a descriptor costing 4x as much, on every record)


def order_record(order: Order) -> NewRecord:
    return NewRecord(order.order_id, order.strategy, order.client_order_id, order.venue, order.symbol,
                     order.side._value_, order.type._value_, order.tif._value_, _a(order.price), _a(order.quantity),
                     order.post_only, order.reduce_only, _a(order.stop_price), order.replaces, order.created_ns)


def state_record(order: Order) -> StateRecord:
    return StateRecord(order.order_id, order.status._value_, _a(order.filled), _a(order.notional), order.reason,
                       order.closed_ns, order.updated_ns, order.replaced_by, order.guessed, order.seq)


def cancel_reject_record(order: Order, reason: str) -> CancelRejectRecord:
    return CancelRejectRecord(order.order_id, order.seq, reason)


def sent_record(order: Order) -> SentRecord:
    return SentRecord(order.order_id, order.sent_at_ns)


def amend_record(order: Order) -> AmendRecord:
    return AmendRecord(order.order_id, _a(order.price), _a(order.quantity))


def venue_record(order: Order) -> VenueRecord:
    data = order.venue_data
    if isinstance(data, dict):  # a restored order no adapter has taken back yet
        data = {k: v for k, v in data.items() if v is not None and isinstance(v, (int, str))}
    # an adapter's VenueData (a msgspec Struct with omit_defaults, its fields None by default) goes
    # in as it is: encoded, it is the map of its set fields by name, at half the cost of building
    # that dict (the nonce's record is on the order path). Every caller encodes the record at
    # once, so it never outlives the order's next change.
    return VenueRecord(order.order_id, order.venue_order_id, data if data is not None else {})


def fill_record(order: Order, fill: Fill) -> FillRecord:
    return FillRecord(order.order_id, fill.trade_id, _a(fill.price), _a(fill.quantity), fill.ts_ns,
                      fill.is_maker, _a(fill.fee))


# reading: records back into orders

# value -> member without Enum.__call__ (the drop copy's catch-up replays many records)
_SIDES = {m.value: m for m in Side}
_TYPES = {m.value: m for m in OrderType}
_TIFS = {m.value: m for m in TimeInForce}
_STATUSES = {m.value: m for m in Status}


def order_from_record(r: NewRecord) -> Order:
    """The order a NEW record made."""
    return Order(
        order_id=r.id, strategy=r.strategy, client_order_id=r.cid, venue=r.venue, symbol=r.symbol,
        side=_SIDES[r.side], type=_TYPES[r.type], tif=_TIFS[r.tif], price=_i(r.price), quantity=_i(r.qty),
        post_only=r.post_only, reduce_only=r.reduce_only, stop_price=_i(r.stop), replaces=r.replaces,
        created_ns=r.created, updated_ns=r.created,
    )


def apply_record(order: Order, r: Record) -> None:
    """One later record of the order applied to it, as it was when written."""
    kind = r.k
    if kind == STATE:
        order.status = _STATUSES[r.status]
        order.filled, order.notional, order.reason = _i(r.filled), _i(r.notional), r.reason
        order.closed_ns, order.updated_ns, order.replaced_by = r.closed, r.updated, r.replaced_by
        order.guessed = r.g
        order.seq = r.seq if r.seq >= 0 else order.seq + 1
    elif kind == VENUE:
        order.venue_order_id = r.vid or order.venue_order_id
        if r.data:
            # the adapter turns this into its VenueData when it is made (VenueAdapter)
            order.venue_data = {**order.venue_data, **r.data} if isinstance(order.venue_data, dict) else dict(r.data)
    elif kind == FILL and r.t not in order.trade_ids:
        book_fill(order, Fill(trade_id=r.t, price=_i(r.p), quantity=_i(r.q), ts_ns=r.ts, is_maker=r.maker,
                              fee=_i(r.fee)), None)
    elif kind == SENT:
        order.sent_at_ns = r.t
    elif kind == AMEND:
        order.price, order.quantity = _i(r.price), _i(r.qty)
    elif kind == CANCEL_REJECT:
        order.seq = r.seq


def positions_record(rows) -> PositionsRecord:
    """rows: (strategy, venue, symbol, net, cost, realized, fees) as integers."""
    return PositionsRecord([PositionEntry(s, v, y, _a(n), _a(c), _a(r), _a(f)) for s, v, y, n, c, r, f in rows])


def position_rows(record: PositionsRecord) -> list[tuple[str, str, str, int, int, int, int]]:
    return [(e.strategy, e.venue, e.symbol, _i(e.net), _i(e.cost), _i(e.realized), _i(e.fees)) for e in record.p]
