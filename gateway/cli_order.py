"""`gateway order ...`: every strategy request from a terminal, as strategy `cli`.

Each command sends its request, prints the ack, then (unless --no-wait) follows
the venue's answer and prints the outcome, so a refusal is never invisible.
`--json` prints one JSON object per line instead: the frames as the protocol
has them (`{"op": "ack", ...}`, `{"op": "order_update", "order": {...}}`, ...),
`{"op": "order", "order": {...}}` for an order's state read from the gateway
rather than heard as an event, and for `list` one bare order object per line.

Exit codes (README "Command line"): 0 done as asked; 1 refused (by the gateway:
the ack's error; or by the venue: REJECTED, a cancel or modify reject, a cancel
that found the order filled); 2 bad usage or config; 4 the wait ended with the
outcome still open (the order's last state is printed); 5 the gateway cannot be
reached or dropped the connection.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

import msgspec

from gateway.orders.model import AWAITING_VENUE, TERMINAL, Status

OK, REFUSED, USAGE, STILL_WORKING, UNREACHABLE = 0, 1, 2, 4, 5
CLOSED = frozenset(s.value for s in TERMINAL)
RESTING = frozenset({Status.OPEN.value, Status.UNTRIGGERED.value})  # on the book (or its trigger), nothing due
AWAITING = frozenset(s.value for s in AWAITING_VENUE)

_json = msgspec.json.Encoder()


class Out:
    """Human table lines or JSON lines; the order table's header is printed once."""

    COLUMNS = (("order id", 22), ("client order id", 24), ("venue", 8), ("symbol", 10), ("side", 4),
               ("quantity", 10), ("price", 10), ("status", 16), ("filled", 10), ("avg", 10))

    def __init__(self, as_json: bool):
        self.json = as_json
        self._header = False

    def frame(self, frame) -> None:
        """A protocol frame (ack, event): JSON as is, or one human line."""
        from gateway.ipc import frames as f

        if self.json:
            print(_json.encode(frame).decode(), flush=True)
        elif isinstance(frame, f.OrderUpdate):
            self.order(frame.order)
        elif isinstance(frame, f.CancelReject):
            print(f"cancel refused for {frame.client_order_id} (order {frame.order_id}): {frame.reason}", flush=True)
        elif isinstance(frame, f.ModifyReject):
            print(f"modify refused for {frame.client_order_id} (order {frame.order_id}): {frame.code}: "
                  f"{frame.reason}", flush=True)
        elif isinstance(frame, f.CancelAllAfterFired):
            print(f"cancel_all_after fired ({frame.timeout_ms} ms without a request): "
                  f"{len(frame.order_ids)} orders canceled", flush=True)
        elif isinstance(frame, f.Ack):
            if frame.ok:
                ids = frame.order_ids or ([frame.order_id] if frame.order_id else [])
                print(f"accepted (order {', '.join(ids)})" if ids else "accepted", flush=True)
            else:
                print(f"refused: {frame.error.code}: {frame.error.message}", file=sys.stderr, flush=True)

    def order(self, o, *, state: bool = False) -> None:
        """One order: a `list` row, or (state) where an order stands now, outside any event;
        as JSON a bare order object, or {"op": "order", "order": {...}} for a state."""
        if self.json:
            print(_json.encode({"op": "order", "order": o} if state else o).decode(), flush=True)
            return
        if not self._header:
            self._header = True
            print("  ".join(f"{name.upper():<{w}}" for name, w in self.COLUMNS) + "  REASON")
        cells = (o.order_id, o.client_order_id, o.venue, o.symbol, o.side, o.quantity,
                 o.price or ("market" if o.type == "market" else "-"), _status(o), o.filled, o.avg_price or "-")
        row = "  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, self.COLUMNS)) + f"  {o.reason or ''}"
        print(row.rstrip(), flush=True)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr if self.json else sys.stdout, flush=True)


def _status(o) -> str:
    return f"{o.status} @{o.stop_price}" if o.stop_price and o.status == "UNTRIGGERED" else o.status


class Waiter:
    """Follows events until a command's outcome is known or its deadline passes."""

    def __init__(self, gw, out: Out, wait_s: float):
        self.gw = gw
        self.out = out
        self.deadline = time.monotonic() + wait_s
        self.last: dict[str, object] = {}  # client_order_id -> last OrderView seen

    async def until(self, done) -> bool:
        """Print every event; True once done(event) says so, False when the deadline passes."""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                event = await self.gw.next_event(left)
            except asyncio.TimeoutError:
                return False
            self.out.frame(event)
            order = getattr(event, "order", None)
            if order is not None:
                self.last[order.client_order_id] = order
            if done(event):
                return True

    async def timed_out(self, cids) -> int:
        """The wait ended first: say where each order stands now."""
        self.out.note("the wait ended before the outcome; last known state:")
        by_cid = {o.client_order_id: o for o in await self.gw.orders(open_only=False)}
        for cid in cids:
            if cid in by_cid:
                self.out.order(by_cid[cid], state=True)
        return STILL_WORKING


def _is(event, kind: str, cid: str) -> bool:
    from gateway.ipc import frames as f

    if kind == "update":
        return isinstance(event, f.OrderUpdate) and event.order.client_order_id == cid
    if kind == "cancel_reject":
        return isinstance(event, f.CancelReject) and event.client_order_id == cid
    return isinstance(event, f.ModifyReject) and event.client_order_id == cid


def _leg(text: str) -> dict:
    """'SYMBOL SIDE QUANTITY [PRICE] [stop=P] [tif=T] [cid=ID] [post_only] [reduce_only]'."""
    words = text.split()
    if len(words) < 3:
        raise argparse.ArgumentTypeError(f"leg {text!r}: need SYMBOL SIDE QUANTITY [PRICE] [options]")
    leg: dict = {"symbol": words[0], "side": words[1], "quantity": words[2]}
    if leg["side"] not in ("buy", "sell"):
        raise argparse.ArgumentTypeError(f"leg {text!r}: side must be buy or sell")
    for word in words[3:]:
        key, eq, value = word.partition("=")
        if not eq and key in ("post_only", "reduce_only"):
            leg[key] = True
        elif not eq and "price" not in leg and key[:1].isdigit():
            leg["price"] = key
        elif eq and key in ("stop", "tif", "cid", "price"):
            leg[{"stop": "stop_price", "cid": "client_order_id"}.get(key, key)] = value
        else:
            raise argparse.ArgumentTypeError(
                f"leg {text!r}: unknown {word!r}; options are PRICE, stop=P, tif=gtc|ioc|fok, cid=ID, "
                "post_only, reduce_only")
    leg["type"] = "limit" if "price" in leg else "market"
    return leg


# the commands: each returns its exit code

def _answered(ack, args, out: Out) -> int | None:
    """Print the ack; the exit code when there is nothing to wait for (refused, or --no-wait)."""
    out.frame(ack)
    if not ack.ok:
        return REFUSED
    if args.no_wait or args.wait <= 0:
        return OK
    return None


async def _place(gw, args, out: Out) -> int:
    cid = args.client_order_id or gw.new_client_order_id()
    ack = await gw.place(args.venue, args.symbol, args.side, args.quantity, args.price,
                         type="market" if args.price is None else "limit", tif=args.tif, post_only=args.post_only,
                         reduce_only=args.reduce_only, stop_price=args.stop_price, client_order_id=cid)
    done = _answered(ack, args, out)
    if done is not None:
        return done
    waiter = Waiter(gw, out, args.wait)

    def done(event) -> bool:
        if not _is(event, "update", cid):
            return False
        status = event.order.status
        if status in CLOSED:
            return True
        if not args.until_done:
            return status not in AWAITING  # the venue's first word
        return args.or_resting and status in RESTING

    if not await waiter.until(done):
        return await waiter.timed_out([cid])
    return REFUSED if waiter.last[cid].status == "REJECTED" else OK


async def _place_group(gw, args, out: Out) -> int:
    legs = [dict(leg) for leg in args.leg]
    for leg in legs:
        leg.setdefault("client_order_id", gw.new_client_order_id())
    ack = await gw.place_group(args.venue, args.contingency, legs)
    done = _answered(ack, args, out)
    if done is not None:
        return done
    cids = [leg["client_order_id"] for leg in legs]
    waiter = Waiter(gw, out, args.wait)
    heard: dict[str, str] = {}

    def done(event) -> bool:
        order = getattr(event, "order", None)
        if order is not None and order.client_order_id in cids and order.status not in AWAITING:
            heard[order.client_order_id] = order.status
        return len(heard) == len(cids)

    if not await waiter.until(done):
        return await waiter.timed_out(cids)
    return REFUSED if "REJECTED" in heard.values() else OK


async def _cancel(gw, args, out: Out) -> int:
    ack = await gw.cancel(args.client_order_id, order_id=args.order_id)
    done = _answered(ack, args, out)
    if done is not None:
        return done
    cid = args.client_order_id
    if cid is None:  # named by order id: learn its client id to follow it
        cid = next((o.client_order_id for o in await gw.orders(open_only=False) if o.order_id == ack.order_id), None)
    return await _follow_cancels(gw, out, [cid], args.wait)


# cancel-all without --wait follows the cancels as long as they keep ending: a venue's rate
# limit spaces them (DXtrade's 0.9/s: 20 orders take ~22 s), so a fixed wait would end early
CANCEL_ALL_IDLE_S = 5.0


async def _cancel_all(gw, args, out: Out) -> int:
    targets = [o.client_order_id for o in await gw.orders()
               if (args.venue is None or o.venue == args.venue) and (args.symbol is None or o.symbol == args.symbol)]
    ack = await gw.cancel_all(args.venue, args.symbol)
    out.frame(ack)
    if not ack.ok:
        return REFUSED
    idle = args.wait is None  # the default: as long as orders keep ending
    wait_s = CANCEL_ALL_IDLE_S if idle else args.wait
    if args.no_wait or wait_s <= 0:
        return OK
    if not targets:
        out.note("no open orders to cancel")
        return OK
    if idle and len(targets) > 1:
        out.note(f"following {len(targets)} cancels until each ends (a venue's rate limit spaces them); "
                 f"stops after {CANCEL_ALL_IDLE_S:g} s without one, or at --wait SECONDS")
    return await _follow_cancels(gw, out, targets, wait_s, idle_s=wait_s if idle else None)


async def _follow_cancels(gw, out: Out, cids: list[str], wait_s: float, idle_s: float | None = None) -> int:
    """Until each order is closed or its cancel refused; 0 only if every one ended CANCELED.
    idle_s: each outcome moves the deadline to at least idle_s from then (cancel-all's default)."""
    waiter = Waiter(gw, out, wait_s)
    outcome: dict[str, str] = {}

    def done(event) -> bool:
        before = len(outcome)
        for cid in cids:
            if _is(event, "cancel_reject", cid):
                outcome[cid] = "cancel_reject"
            elif _is(event, "update", cid) and event.order.status in CLOSED:
                outcome[cid] = event.order.status
        if idle_s is not None and len(outcome) > before:
            waiter.deadline = max(waiter.deadline, time.monotonic() + idle_s)
        return len(outcome) == len(cids)

    # an order already closed before we listened (canceled while still queued) says so in the list
    for o in await gw.orders(open_only=False):
        if o.client_order_id in cids and o.status in CLOSED:
            outcome[o.client_order_id] = o.status
            out.order(o, state=True)
    if len(outcome) < len(cids) and not await waiter.until(done):
        return await waiter.timed_out([c for c in cids if c not in outcome])
    return OK if all(v == "CANCELED" for v in outcome.values()) else REFUSED


async def _replace(gw, args, out: Out) -> int:
    new_cid = args.new_client_order_id or gw.new_client_order_id()
    ack = await gw.replace(args.client_order_id, args.quantity, args.price, new_client_order_id=new_cid,
                           proceed_on_failure=args.proceed_on_failure)
    done = _answered(ack, args, out)
    if done is not None:
        return done
    waiter = Waiter(gw, out, args.wait)
    state = {"old": None, "new": None}

    def done(event) -> bool:
        if _is(event, "cancel_reject", args.client_order_id):
            state["old"] = "cancel_reject"
        elif _is(event, "update", args.client_order_id) and event.order.status in CLOSED:
            state["old"] = event.order.status
        elif _is(event, "update", new_cid) and event.order.status not in AWAITING:
            state["new"] = event.order.status
        return state["new"] is not None and state["old"] is not None

    if not await waiter.until(done):
        return await waiter.timed_out([args.client_order_id, new_cid])
    return REFUSED if state["new"] == "REJECTED" or state["old"] == "cancel_reject" else OK


async def _modify(gw, args, out: Out) -> int:
    from gateway.ipc.client import shows_amendment

    ack = await gw.modify(args.client_order_id, price=args.price, quantity=args.quantity)
    done = _answered(ack, args, out)
    if done is not None:
        return done
    waiter = Waiter(gw, out, args.wait)
    refused = []

    def done(event) -> bool:
        if _is(event, "modify_reject", args.client_order_id):
            refused.append(event)
            return True
        return _is(event, "update", args.client_order_id) and shows_amendment(event.order, args.price,
                                                                               args.quantity)

    if not await waiter.until(done):
        return await waiter.timed_out([args.client_order_id])
    return REFUSED if refused else OK


async def _list(gw, args, out: Out) -> int:
    orders = await gw.orders(open_only=not args.all)
    for order in sorted(orders, key=lambda o: o.updated_ns):
        out.order(order)
    if not orders and not out.json:
        print("no orders" if args.all else "no open orders")
    return OK


async def _watch(gw, args, out: Out) -> int:
    ack = await gw.subscribe()
    out.frame(ack)
    if not ack.ok:
        return REFUSED
    waiter = Waiter(gw, out, args.wait if args.wait > 0 else float("inf"))
    await waiter.until(lambda _event: False)
    return OK


async def _cancel_all_after(gw, args, out: Out) -> int:
    ack = await gw.cancel_all_after(args.timeout_ms)
    out.frame(ack)
    if ack.ok and not out.json:
        print(f"strategy {args.strategy}: " + (
            f"all open orders will be canceled unless it sends a request within {args.timeout_ms} ms"
            if args.timeout_ms else "dead man's switch disarmed"))
    return OK if ack.ok else REFUSED


async def _ping(gw, args, out: Out) -> int:
    rtt_ns = await gw.ping()
    if out.json:
        print(_json.encode({"op": "pong", "round_trip_us": rtt_ns / 1e3}).decode())
    else:
        print(f"pong in {format_duration_us(rtt_ns / 1e3)}")
    return OK


def format_duration_us(us: float | None) -> str:
    """Human units: µs under 1 ms, ms under 10 s, else seconds."""
    if us is None:
        return "-"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 10_000_000:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1e6:.1f} s"


ACTIONS = {
    "place": _place, "place-group": _place_group, "cancel": _cancel, "cancel-all": _cancel_all,
    "replace": _replace, "modify": _modify, "list": _list, "watch": _watch,
    "cancel-all-after": _cancel_all_after, "ping": _ping,
}


# what the gateway answers when it cannot be reached, or went away mid-request
UNREACHABLE_CODES = ("unreachable", "disconnected", "bad_frame")


class Unanswered(Exception):
    """The gateway refused or could not be asked; said once on stderr. code: the exit status."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def observe(socket_path, call, refused: dict[str, int] | None = None):
    """call(client) on a connection that says no hello (an observer's or an operator's view,
    `gateway status`, `positions`, `instruments`, `risk`): its answer, or Unanswered with the exit
    status: 5 unreachable, else 1 refused (refused maps other error codes to their own)."""
    from gateway.ipc.client import GatewayClient, GatewayError

    async def main():
        async with GatewayClient(socket_path, strategy=None) as gw:
            return await call(gw)

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        code = UNREACHABLE if exc.code in UNREACHABLE_CODES else (refused or {}).get(exc.code, REFUSED)
        raise Unanswered(code) from None
    except asyncio.TimeoutError:
        print("gateway: no reply from the gateway in time", file=sys.stderr)
        raise Unanswered(UNREACHABLE) from None

def full_json(st) -> dict:
    """A reply with every field, every time (null where unknown, 0 and [] as they
    are): the wire frame leaves out its defaults, a JSON reader should not have to know them."""
    import msgspec

    def full(value):
        if isinstance(value, msgspec.Struct):
            out = {}
            tag_field = type(value).__struct_config__.tag_field
            if tag_field is not None:
                out[tag_field] = type(value).__struct_config__.tag
            for name in value.__struct_fields__:
                out[name] = full(getattr(value, name))
            return out
        if isinstance(value, list):
            return [full(v) for v in value]
        return value

    return full(st)


def run(args: argparse.Namespace, socket_path: str) -> int:
    from gateway.ipc.client import GatewayClient, GatewayError

    out = Out(args.json)

    async def main() -> int:
        async with GatewayClient(socket_path, strategy=args.strategy) as gw:
            return await ACTIONS[args.action](gw, args, out)

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return UNREACHABLE if exc.code in UNREACHABLE_CODES else REFUSED
    except asyncio.TimeoutError:
        print("gateway: no reply from the gateway in time", file=sys.stderr)
        return UNREACHABLE
    except KeyboardInterrupt:
        return OK


def add_parser(sub) -> None:
    p = sub.add_parser("order", help="every strategy request from a terminal: place, cancel, replace, modify, ...",
                       description="Trade from a terminal as a strategy (default `cli`). Exit codes: 0 done as "
                       "asked; 1 refused by the gateway or the venue; 2 bad usage; 4 the wait ended before the "
                       "outcome (the last state is printed); 5 the gateway cannot be reached.")
    osub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="config whose socket to use")
    common.add_argument("--socket", help="socket path (overrides the config)")
    common.add_argument("--strategy", default="cli", help="strategy name to trade as (default: cli)")
    common.add_argument("--json", action="store_true", help="one JSON object per line (protocol frames / orders)")
    waits = argparse.ArgumentParser(add_help=False)
    waits.add_argument("--wait", type=float, default=5.0, metavar="SECONDS",
                       help="how long to follow the venue's answer (default 5)")
    waits.add_argument("--no-wait", action="store_true", help="print the ack and return")

    def amounts(q, price_help="limit price; omit for a market order"):
        q.add_argument("quantity")
        q.add_argument("price", nargs="?", help=price_help)

    q = osub.add_parser("place", parents=[common, waits], help="place an order (limit, market, stop)")
    q.add_argument("venue")
    q.add_argument("symbol")
    q.add_argument("side", choices=["buy", "sell"])
    amounts(q)
    q.add_argument("--tif", default="gtc", choices=["gtc", "ioc", "fok"])
    q.add_argument("--post-only", action="store_true")
    q.add_argument("--reduce-only", action="store_true")
    q.add_argument("--stop-price", help="a stop order: works once the market trades at this price")
    q.add_argument("--client-order-id")
    q.add_argument("--until-done", action="store_true",
                   help="follow until the order is closed (filled, canceled, rejected, expired)")
    q.add_argument("--or-resting", action="store_true",
                   help="with --until-done: also done once the order rests on the book (OPEN, UNTRIGGERED)")

    q = osub.add_parser("place-group", parents=[common, waits], help="place linked orders: oco or if_then",
                        description="Legs in order (for if_then the first is the parent). Each --leg is "
                        "'SYMBOL SIDE QUANTITY [PRICE] [stop=P] [tif=gtc|ioc|fok] [cid=ID] [post_only] "
                        "[reduce_only]'; no PRICE is a market leg.")
    q.add_argument("venue")
    q.add_argument("contingency", choices=["oco", "if_then"])
    q.add_argument("--leg", type=_leg, action="append", required=True, metavar="'SYMBOL SIDE QTY [PRICE] ...'")

    q = osub.add_parser("cancel", parents=[common, waits], help="cancel an order and wait for the outcome")
    q.add_argument("client_order_id", nargs="?")
    q.add_argument("--order-id", help="name the order by the gateway's order id instead")

    cancel_all_waits = argparse.ArgumentParser(add_help=False)
    cancel_all_waits.add_argument(
        "--wait", type=float, default=None, metavar="SECONDS",
        help=f"follow the cancels this long at most (default: until each ends, as long as one ends every "
        f"{CANCEL_ALL_IDLE_S:g} s: a venue's rate limit spaces them)")
    cancel_all_waits.add_argument("--no-wait", action="store_true", help="print the ack and return")
    q = osub.add_parser("cancel-all", parents=[common, cancel_all_waits],
                        help="cancel the strategy's open orders (optionally one venue / symbol), print each outcome")
    q.add_argument("venue", nargs="?")
    q.add_argument("--symbol")

    q = osub.add_parser("replace", parents=[common, waits], help="cancel-and-replace with a new price and quantity")
    q.add_argument("client_order_id")
    amounts(q, "new limit price")
    q.add_argument("--new-client-order-id")
    q.add_argument("--proceed-on-failure", action="store_true", help="place the new order even if the cancel fails")

    q = osub.add_parser("modify", parents=[common, waits], help="amend price and/or quantity in place (DXtrade)")
    q.add_argument("client_order_id")
    q.add_argument("--price")
    q.add_argument("--quantity")

    q = osub.add_parser("list", parents=[common], help="list the strategy's orders")
    q.add_argument("--all", action="store_true", help="closed orders too")

    q = osub.add_parser("watch", parents=[common], help="subscribe: the open orders, then every event as it comes")
    q.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="stop after this long (0: Ctrl-C)")

    q = osub.add_parser("cancel-all-after", parents=[common],
                        help="dead man's switch: cancel all the strategy's orders unless it sends a request in time")
    q.add_argument("timeout_ms", type=int, help="milliseconds; 0 disarms")

    osub.add_parser("ping", parents=[common], help="round trip to the gateway")
    p.set_defaults(func=None)
