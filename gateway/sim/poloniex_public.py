"""The Poloniex simulator's public WebSocket (/ws/public, no auth): the `book_lv2` and
`ticker` channels from the simulator's own book, in the frames ccxt.pro's watch_order_book and
watch_ticker read (tests/integration/test_poloniex_market_data.py runs them against it).

book_lv2: on subscribe an ack, then a snapshot of the top BOOK_DEPTH levels a side; after
every change of the book (each engine action the simulator publishes) an update with the
levels that changed within those, quantity "0" for a level gone (or pushed below the top),
each update's lastId the id of the frame before it. ticker: on subscribe the current one, then
one whenever markPrice (the mid, as GET .../ticker24h says) changes; no bid or ask, as the
venue's has none. {"event":"ping"} is answered {"event":"pong"}. Private channels, unknown
channels and unknown symbols are answered {"event":"error"}.

Test hooks: `fault` "garbage" (every frame followed by one that does not parse) or "silent"
(nothing sent, pongs neither, while the subscriptions stay and the book moves on: the frames
are lost); inject(text) sends any frame; drop() closes every public socket."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from aiohttp import web

from gateway._core.fixedpoint import format_scaled
from gateway.venues.poloniex import schemas as s

log = logging.getLogger("gateway.sim.poloniex")

BOOK_DEPTH = 20  # the levels a side book_lv2 carries (the venue's docs)
CHANNELS = (s.BOOK_CHANNEL, s.TICKER_CHANNEL)
GARBAGE = '{"channel":"book_lv2","action":"update","data":[{"symbol":'
FIRST_BOOK_ID = 1_000_000


def _dec(value: int) -> str:
    return format_scaled(value, 18)


class _Sent:
    """What the socket's subscribers were last told of one market's book."""
    __slots__ = ("id", "bids", "asks")

    def __init__(self, book_id: int, bids: dict[int, int], asks: dict[int, int]):
        self.id, self.bids, self.asks = book_id, bids, asks


def _changes(old: dict[int, int], new: dict[int, int], best_first) -> list[list[str]]:
    changed = {p: q for p, q in new.items() if old.get(p) != q}
    changed.update({p: 0 for p in old if p not in new})
    return [[_dec(p), _dec(changed[p])] for p in sorted(changed, key=best_first)]


class PublicMarketData:
    def __init__(self, sim):
        self.sim = sim  # the PoloniexSim whose book this publishes
        self.sockets: dict[web.WebSocketResponse, dict[str, set[str]]] = {}  # ws -> channel -> markets
        self._sent: dict[str, _Sent] = {}  # market -> its book as last published
        self._marks: dict[str, str] = {}  # market -> the markPrice last published
        self._ids = itertools.count(FIRST_BOOK_ID)
        # frames of one market must leave in the order their ids say
        self._lock = asyncio.Lock()
        self.fault: str | None = None  # None, "garbage" or "silent"
        self.frames_sent = 0
        self.pings = 0

    # the socket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        async with self.sim.websocket(request) as ws:
            self.sockets[ws] = {}
            try:
                async for frame in self.sim.json_frames(ws, {"event": "error", "message": "invalid JSON"}):
                    await self._on_frame(ws, frame)
            finally:
                self.sockets.pop(ws, None)
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, frame: dict) -> None:
        event = frame.get("event")
        if event == "ping":
            self.pings += 1
            await self._send(ws, {"event": "pong"})
            return
        if event not in ("subscribe", "unsubscribe"):
            await self._send(ws, {"event": "error", "message": f"unknown event {event}"})
            return
        channels, symbols = frame.get("channel") or [], frame.get("symbols") or []
        if not isinstance(channels, list) or not isinstance(symbols, list):
            await self._send(ws, {"event": "error", "message": "channel and symbols must be lists"})
            return
        bad = [c for c in channels if c not in CHANNELS]
        if bad:
            # the private channels too: the public endpoint serves only public ones
            await self._send(ws, {"event": "error", "message": f"Invalid channel value {bad}"})
            return
        markets = list(self.sim.products) if symbols == ["all"] else symbols
        unknown = [m for m in markets if m not in self.sim.products]
        if unknown:
            await self._send(ws, {"event": "error", "message": f"Invalid symbols value {unknown}"})
            return
        async with self._lock:
            for channel in channels:
                subs = self.sockets[ws].setdefault(channel, set())
                if event == "unsubscribe":
                    subs.difference_update(markets)
                    await self._send(ws, {"event": "unsubscribe", "channel": channel, "symbols": symbols})
                    continue
                await self._send(ws, {"event": "subscribe", "channel": channel, "symbols": symbols})
                for market in markets:
                    if channel == s.BOOK_CHANNEL:
                        # the others are told what changed first, so the snapshot is as of now for all
                        await self._publish_book(market)
                        subs.add(market)
                        await self._send(ws, self._book_frame(market, s.SNAPSHOT))
                    else:
                        subs.add(market)
                        await self._send(ws, self._ticker_frame(market))

    async def _send(self, ws: web.WebSocketResponse, frame: dict | str) -> None:
        if self.fault == "silent" or ws.closed:
            return  # lost, as on a venue that hangs
        text = frame if isinstance(frame, str) else s.encoder.encode(frame).decode()
        try:
            await ws.send_str(text)
            self.frames_sent += 1
            if self.fault == "garbage":
                await ws.send_str(GARBAGE)
        except ConnectionError:
            pass

    # the market's frames

    def _top(self, market: str) -> tuple[dict[int, int], dict[int, int]]:
        bids, asks = self.sim.engine.depth(market, BOOK_DEPTH)
        return dict(bids), dict(asks)

    def _book_frame(self, market: str, action: str, bids=None, asks=None, last_id: int | None = None) -> dict:
        sent = self._sent[market]
        now = time.time_ns() // 1_000_000
        if bids is None:
            bids = [[_dec(p), _dec(q)] for p, q in sorted(sent.bids.items(), reverse=True)]
            asks = [[_dec(p), _dec(q)] for p, q in sorted(sent.asks.items())]
        return {"channel": s.BOOK_CHANNEL, "data": [{
            "symbol": market, "createTime": now, "asks": asks, "bids": bids,
            "lastId": sent.id - 1 if last_id is None else last_id, "id": sent.id, "ts": now}], "action": action}

    def _ticker_frame(self, market: str) -> dict:
        rest = self.sim._ticker_wire(market)
        self._marks[market] = rest["markPrice"]
        # the WS ticker: the REST one's day and mark, no bid or ask; counts and times as numbers
        return {"channel": s.TICKER_CHANNEL, "data": [{
            "symbol": market, "startTime": int(rest["startTime"]), "open": rest["open"], "high": rest["high"],
            "low": rest["low"], "close": rest["close"], "quantity": rest["quantity"], "amount": rest["amount"],
            "tradeCount": int(rest["tradeCount"]), "dailyChange": rest["dailyChange"],
            "markPrice": rest["markPrice"], "closeTime": int(rest["closeTime"]), "ts": int(rest["ts"])}]}

    def _subscribers(self, channel: str, market: str) -> list[web.WebSocketResponse]:
        return [ws for ws, channels in self.sockets.items() if market in channels.get(channel, ())]

    async def _publish_book(self, market: str) -> None:
        """Tell the market's book subscribers what changed since they were last told."""
        bids, asks = self._top(market)
        sent = self._sent.get(market)
        if sent is None:
            self._sent[market] = _Sent(next(self._ids), bids, asks)
            return
        if bids == sent.bids and asks == sent.asks:
            return
        bid_changes = _changes(sent.bids, bids, lambda p: -p)
        ask_changes = _changes(sent.asks, asks, lambda p: p)
        last_id = sent.id
        self._sent[market] = _Sent(next(self._ids), bids, asks)
        frame = self._book_frame(market, s.UPDATE, bid_changes, ask_changes, last_id)
        for ws in self._subscribers(s.BOOK_CHANNEL, market):
            await self._send(ws, frame)

    async def on_change(self) -> None:
        """After every engine action the simulator publishes: the books and marks that moved."""
        if not self.sockets:
            return
        async with self._lock:
            for market in list(self.sim.products):
                if self._subscribers(s.BOOK_CHANNEL, market):
                    await self._publish_book(market)
                ticker_subs = self._subscribers(s.TICKER_CHANNEL, market)
                if ticker_subs and _dec(self.sim.mark_price(market)) != self._marks.get(market):
                    frame = self._ticker_frame(market)
                    for ws in ticker_subs:
                        await self._send(ws, frame)

    # test hooks

    async def inject(self, text: str) -> None:
        """Send this frame, as it is, to every public socket."""
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(text)

    async def drop(self) -> None:
        """Close every public socket, as a venue restart would."""
        for ws in list(self.sockets):
            await ws.close()
