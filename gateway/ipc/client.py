"""asyncio client for the strategy socket.

    async with GatewayClient("run/gateway.sock", strategy="demo") as gw:
        ack = await gw.place("citrex", "ETH-PERP", "buy", "0.01", price="3003")
        async for event in gw.events():
            ...

Requests return the gateway's typed reply (`Ack`, a list of `OrderView`: every
page of an `orders` reply larger than a frame);
order events arrive on `events()` as `OrderUpdate`, `CancelReject`, `ModifyReject`,
`CancelAllAfterFired` and `RiskState` (the strategy's state changed).
Amounts are decimal strings (or Decimal / int); floats are refused, as the
gateway would refuse them.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import msgspec

from gateway._core.framing import FrameError, FrameSplitter, encode_frame
from gateway.ipc import frames as f

Amount = str | Decimal | int
Event = f.OrderUpdate | f.CancelReject | f.ModifyReject | f.CancelAllAfterFired | f.RiskState
_EVENTS = (f.OrderUpdate, f.CancelReject, f.ModifyReject, f.CancelAllAfterFired, f.RiskState)


class GatewayError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _amount(name: str, value: Amount | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name}: pass a decimal string, not {type(value).__name__} (floats lose cents)")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"{name}: expected a decimal string, got {type(value).__name__}")


def shows_amendment(order: f.OrderView, price: Amount | None, quantity: Amount | None) -> bool:
    """Whether the order's view carries this price and quantity (None: not asked for), as
    numbers: the gateway writes "100.5" for an asked "100.50"."""
    return ((price is None or order.price is not None and Decimal(order.price) == Decimal(_amount("price", price)))
            and (quantity is None or Decimal(order.quantity) == Decimal(_amount("quantity", quantity))))


class _Protocol(asyncio.Protocol):
    def __init__(self, client: GatewayClient):
        self.client = client
        self.splitter = FrameSplitter(client.max_frame_bytes)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.splitter.feed(data)
        except FrameError as exc:
            self.client._closed(GatewayError("bad_frame", str(exc)))
            return
        for payload in frames:
            try:
                message = f.reply_decoder.decode(payload)
            except msgspec.ValidationError as exc:
                if str(exc).endswith("- at `$.op`"):
                    continue  # an event op newer than this client (the protocol only gains them): skipped
                raise
            self.client._dispatch(message)

    def connection_lost(self, exc) -> None:
        self.client._closed(GatewayError("disconnected", str(exc) if exc else "the gateway closed the connection"))


class GatewayClient:
    def __init__(self, path: str | os.PathLike[str], strategy: str | None, *, cancel_on_disconnect: bool = False,
                 max_frame_bytes: int = 1 << 20, timeout_s: float = 10.0):
        self.path = os.fspath(path)
        self.strategy = strategy
        self.cancel_on_disconnect = cancel_on_disconnect
        self.max_frame_bytes = max_frame_bytes
        self.timeout_s = timeout_s
        self._req_ids = itertools.count(1)
        self._cids = itertools.count(1)
        self._cid_prefix = f"{(strategy or 'anon')[:20]}-{time.time_ns() // 1000 % 10**10:x}-"
        self._pending: dict[int, asyncio.Future] = {}
        self._pages: dict[int, list[f.OrderView]] = {}  # req_id -> the orders of its pages so far
        self._events: asyncio.Queue = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self._error: GatewayError | None = None

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_unix_connection(lambda: _Protocol(self), self.path)
        except OSError as exc:
            raise GatewayError("unreachable", f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        if self.strategy is None:
            return  # observer: may only ask for status
        ack = await self._request(f.Hello(req_id=0, strategy=self.strategy,
                                          cancel_on_disconnect=self.cancel_on_disconnect))
        if not ack.ok:
            await self.close()
            raise GatewayError(ack.error.code, ack.error.message)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _dispatch(self, message) -> None:
        if isinstance(message, _EVENTS):
            self._events.put_nowait(message)
            return
        if isinstance(message, f.ProtocolError):
            self._closed(GatewayError(message.code, message.message))
            return
        if type(message) is f.OrdersReply:
            if message.more:  # a page: the reply is every page's orders, in order
                self._pages.setdefault(message.req_id, []).extend(message.orders)
                return
            pages = self._pages.pop(message.req_id, None)
            if pages is not None:
                pages.extend(message.orders)
                message.orders = pages
        waiter = self._pending.pop(message.req_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    def _closed(self, error: GatewayError) -> None:
        if self._error is None:
            self._error = error
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(self._error)
        self._pending.clear()
        self._events.put_nowait(None)

    async def _request(self, request):
        if self._error is not None:
            raise self._error
        if self._transport is None:
            raise GatewayError("not_connected", "use `async with GatewayClient(...)` or connect() first")
        if request.req_id == 0:
            request.req_id = next(self._req_ids)
        waiter = asyncio.get_running_loop().create_future()
        self._pending[request.req_id] = waiter
        self._transport.write(encode_frame(f.encoder.encode(request)))
        try:
            return await asyncio.wait_for(waiter, self.timeout_s)
        finally:
            self._pages.pop(request.req_id, None)

    def new_client_order_id(self) -> str:
        return f"{self._cid_prefix}{next(self._cids)}"

    # requests

    async def place(self, venue: str, symbol: str, side: str, quantity: Amount, price: Amount | None = None, *,
                    type: str = "limit", tif: str = "gtc", post_only: bool = False, reduce_only: bool = False,
                    stop_price: Amount | None = None, client_order_id: str | None = None) -> f.Ack:
        return await self._request(f.Place(
            req_id=0, client_order_id=client_order_id or self.new_client_order_id(), venue=venue, symbol=symbol,
            side=side, quantity=_amount("quantity", quantity), price=_amount("price", price), type=type, tif=tif,
            post_only=post_only, reduce_only=reduce_only, stop_price=_amount("stop_price", stop_price)))

    async def place_group(self, venue: str, contingency: str, legs: list[dict]) -> f.Ack:
        """legs: dicts with place's fields (symbol, side, quantity, price, type, tif, post_only,
        reduce_only, stop_price, client_order_id), without the venue."""
        out = []
        for leg in legs:
            leg = dict(leg)
            for name in ("quantity", "price", "stop_price"):
                if name in leg:
                    leg[name] = _amount(name, leg[name])
            leg.setdefault("client_order_id", self.new_client_order_id())
            out.append(f.GroupLeg(**leg))
        return await self._request(f.PlaceGroup(req_id=0, venue=venue, contingency=contingency, legs=out))

    async def cancel(self, client_order_id: str | None = None, *, order_id: str | None = None) -> f.Ack:
        return await self._request(f.Cancel(req_id=0, client_order_id=client_order_id, order_id=order_id))

    async def cancel_all(self, venue: str | None = None, symbol: str | None = None) -> f.Ack:
        return await self._request(f.CancelAll(req_id=0, venue=venue, symbol=symbol))

    async def replace(self, client_order_id: str, quantity: Amount, price: Amount | None = None, *,
                      new_client_order_id: str | None = None, proceed_on_failure: bool = False) -> f.Ack:
        return await self._request(f.Replace(
            req_id=0, client_order_id=client_order_id,
            new_client_order_id=new_client_order_id or self.new_client_order_id(),
            quantity=_amount("quantity", quantity), price=_amount("price", price),
            proceed_on_failure=proceed_on_failure))

    async def modify(self, client_order_id: str, *, price: Amount | None = None,
                     quantity: Amount | None = None) -> f.Ack:
        return await self._request(f.Modify(req_id=0, client_order_id=client_order_id,
                                            price=_amount("price", price), quantity=_amount("quantity", quantity)))

    async def cancel_all_after(self, timeout_ms: int) -> f.Ack:
        """Dead man's switch: unless this strategy sends another request (any) within timeout_ms,
        the gateway cancels all its open orders and sends `CancelAllAfterFired`. 0 disarms.
        Keep it armed by sending something (ping() will do) more often than the timeout."""
        return await self._request(f.CancelAllAfter(req_id=0, timeout_ms=timeout_ms))

    async def orders(self, open_only: bool = True) -> list[f.OrderView]:
        """The strategy's orders (open only, or closed ones the gateway still keeps too): all of
        them, however many frames the gateway's reply takes."""
        reply = await self._request(f.Orders(req_id=0, open_only=open_only))
        if isinstance(reply, f.Ack):
            raise GatewayError(reply.error.code, reply.error.message)
        return reply.orders

    async def positions(self, strategy: str | None = None) -> list[f.PositionView]:
        """This strategy's positions, one per venue and symbol; amounts are decimal strings
        (unrealized_pnl and reference_price None without a reference price). An observer
        (strategy=None at connect) names the strategy, or gets every strategy's."""
        reply = await self._request(f.Positions(req_id=0, strategy=strategy))
        if isinstance(reply, f.Ack):
            raise GatewayError(reply.error.code, reply.error.message)
        return reply.positions

    async def subscribe(self) -> f.Ack:
        return await self._request(f.Subscribe(req_id=0))

    async def status(self) -> f.StatusReply:
        """Venues, their connection state, open orders, last minute's tick-to-wire (no hello needed)."""
        return await self._request(f.StatusRequest(req_id=0))

    async def instruments(self, venue: str | None = None) -> f.InstrumentsReply:
        """What each venue lists and how the configured symbols map to it (allowed before hello)."""
        reply = await self._request(f.InstrumentsRequest(req_id=0, venue=venue))
        if isinstance(reply, f.Ack):
            raise GatewayError(reply.error.code, reply.error.message)
        return reply

    async def risk(self, strategy: str | None = None) -> f.RiskReply:
        """Each strategy's risk limits in force, where each came from, and their use (no hello
        needed; a strategy's own client sees only itself)."""
        reply = await self._request(f.RiskRequest(req_id=0, strategy=strategy))
        if isinstance(reply, f.Ack):
            raise GatewayError(reply.error.code, reply.error.message)
        return reply

    async def set_risk_state(self, strategy: str, state: str, reason: str | None = None) -> f.Ack:
        """An operator's (a client without a strategy): active, reducing or halted."""
        return await self._request(f.SetRiskState(req_id=0, strategy=strategy, state=state, reason=reason))

    async def risk_states(self, strategy: str | None = None) -> list[f.StrategyStateView]:
        reply = await self._request(f.RiskStatesRequest(req_id=0, strategy=strategy))
        if isinstance(reply, f.Ack):
            raise GatewayError(reply.error.code, reply.error.message)
        return reply.strategies

    async def reload(self) -> f.ReloadReply:
        """An operator's: the daemon re-reads its config file and applies [risk] and log_level."""
        reply = await self._request(f.Reload(req_id=0))
        if isinstance(reply, f.Ack):  # refused before it was tried (a strategy's connection)
            return f.ReloadReply(req_id=reply.req_id, ok=False, error=reply.error)
        return reply

    async def ping(self) -> int:
        """Round trip in nanoseconds."""
        t0 = time.perf_counter_ns()
        await self._request(f.Ping(req_id=0))
        return time.perf_counter_ns() - t0

    # events

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # stay closed for other readers
                return
            yield event

    async def next_event(self, timeout_s: float | None = None) -> Event:
        event = await asyncio.wait_for(self._events.get(), timeout_s or self.timeout_s)
        if event is None:
            self._events.put_nowait(None)
            raise self._error or GatewayError("disconnected", "connection closed")
        return event

    async def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float | None = None) -> Event:
        """The next event for which predicate holds; earlier events are dropped."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError("no matching event in time")
            event = await self.next_event(remaining)
            if predicate(event):
                return event

    async def wait_modify(self, client_order_id: str, *, price: Amount | None = None,
                          quantity: Amount | None = None, timeout_s: float | None = None) -> f.OrderView:
        """The outcome of an acked modify: the order's update showing the new price and quantity,
        or GatewayError(code, reason) when the venue refused it (a `modify_reject`)."""
        price, quantity = _amount("price", price), _amount("quantity", quantity)

        def outcome(e) -> bool:
            if isinstance(e, f.ModifyReject):
                return e.client_order_id == client_order_id
            return (isinstance(e, f.OrderUpdate) and e.order.client_order_id == client_order_id
                    and shows_amendment(e.order, price, quantity))

        event = await self.wait_for(outcome, timeout_s)
        if isinstance(event, f.ModifyReject):
            raise GatewayError(event.code, event.reason)
        return event.order

    async def wait_status(self, client_order_id: str, *statuses: str, timeout_s: float | None = None) -> f.OrderView:
        """The order's next update whose status is one of statuses."""
        event = await self.wait_for(
            lambda e: isinstance(e, f.OrderUpdate) and e.order.client_order_id == client_order_id
            and e.order.status in statuses, timeout_s)
        return event.order
