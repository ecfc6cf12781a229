"""The gateway's own view of an order. Quantities and prices are integers
scaled by 10**SCALE (e18) whatever the venue uses; venue adapters convert."""
from __future__ import annotations

import enum

import msgspec

SCALE = 18
ONE = 10**SCALE


class _FastHash(enum.Enum):
    # members are singletons compared by identity: hash them by identity too, in C, instead of
    # Enum.__hash__ (a Python call hashing the name) on every `status in TERMINAL` of the order path
    __hash__ = object.__hash__


class Status(_FastHash):
    PENDING_NEW = "PENDING_NEW"
    UNTRIGGERED = "UNTRIGGERED"
    TRIGGERED = "TRIGGERED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


TERMINAL = frozenset({Status.FILLED, Status.CANCELED, Status.REJECTED, Status.EXPIRED})
# the gateway's own guess, before the venue has spoken of the order (or of its cancel / replace)
# a cancel (or the cancel of a replace) of the order is on its way: another is not sent
CANCEL_PENDING = frozenset({Status.PENDING_CANCEL, Status.PENDING_REPLACE})
AWAITING_VENUE = frozenset({Status.PENDING_NEW}) | CANCEL_PENDING


class Side(_FastHash):
    BUY = "buy"
    SELL = "sell"


class OrderType(_FastHash):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(_FastHash):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


# Fill and Order: msgspec Structs (slotted, made in C: a third of a dataclass's construction
# cost). gc=False: neither ever refers back to anything that refers to it (an order holds its
# fills, its trade ids and the adapter's record of scalars), so the collector need not track
# them; tracked, every open order was walked by each full collection.


class Fill(msgspec.Struct, gc=False):
    trade_id: str
    price: int
    quantity: int
    ts_ns: int
    is_maker: bool | None = None
    fee: int | None = None


class Order(msgspec.Struct, gc=False):
    order_id: str
    strategy: str
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int | None
    quantity: int
    post_only: bool = False
    reduce_only: bool = False
    stop_price: int | None = None
    status: Status = Status.PENDING_NEW
    venue_order_id: str | None = None
    filled: int = 0
    notional: int = 0  # sum of price * quantity over fills, scaled e36
    fills: list[Fill] = msgspec.field(default_factory=list)
    reason: str | None = None
    created_ns: int = 0
    updated_ns: int = 0
    closed_ns: int = 0
    # status to return to when a cancel or replace is refused by the venue
    status_before_pending: Status | None = None
    replaces: str | None = None  # order_id this one replaces (cancel-and-replace)
    replaced_by: str | None = None
    trade_ids: dict[str, str | None] = msgspec.field(default_factory=dict)  # trade id -> channel that booked it
    # adapter-private (nonce, product id, ...): the adapter's VenueData (its venue_data_type),
    # made when it first needs one; a plain dict as replayed from the journal until then
    venue_data: object = None
    # the request path's own timestamps (time.perf_counter_ns) and place
    received_ns: int = 0  # the strategy's frame was read
    sent_ns: int = 0  # the venue request was written (0: not yet, or its reply came)
    queued: bool = False  # waiting in its venue's outbound line, not sent yet
    sent_at_ns: int = 0  # wall clock when its request was handed to the venue (journaled); 0: never
    # fills booked from trade records: a venue's cumulative `filled` (without records) raises
    # `filled` to its total, and records arriving later count toward that same total, not on top
    booked: int = 0
    booked_notional: int = 0
    # a modify's new quantity while it is on its way to the venue (0: none): risk counts the
    # larger of it and the quantity until the venue takes it or refuses it (not journaled)
    amending: int = 0
    # closed without the venue's word (not found by a look-up, or unknown after a restart):
    # a later report from the venue reopens it
    guessed: bool = False
    # the order's change number: 0 when tracked, +1 for every change or cancel reject (journaled)
    seq: int = 0

    @property
    def remaining(self) -> int:
        return 0 if self.status in TERMINAL else self.quantity - self.filled

    @property
    def avg_price(self) -> int | None:
        """Average fill price, truncated to e18 (the exact value is notional / filled)."""
        return self.notional // self.filled if self.filled else None

    @property
    def at_risk(self) -> int:
        """What may still move the position beyond what the positions book holds: the remaining
        quantity while open, and what the venue reported filled whose trades (which book it) have
        not come yet; risk counts both (a total without its trades is real, just unbooked)."""
        if self.status in TERMINAL:
            return max(0, self.filled - self.booked)
        # a modify on its way counts at the larger of the two quantities until the venue answers
        quantity = self.quantity if self.amending <= self.quantity else self.amending
        return quantity - self.filled + max(0, self.filled - self.booked)

    @property
    def is_closed(self) -> bool:
        return self.status in TERMINAL


def book_fill(order: Order, fill: Fill, channel: str | None) -> None:
    """A trade record added to the order (live, or replayed from the journal): the same books."""
    order.trade_ids[fill.trade_id] = channel
    order.fills.append(fill)
    order.booked += fill.quantity
    order.booked_notional += fill.price * fill.quantity
