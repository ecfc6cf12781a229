"""The Bluefin simulator's `GET /api/v1/account`: the account's positions from its engine's
trades (average cost, as gateway/positions/ books them), as the venue lists them: positions[]
with symbol, side LONG/SHORT, sizeE9, avgEntryPriceE9, markPriceE9, unrealizedPnlE9,
updatedAtMillis; a flat symbol is not listed."""
from __future__ import annotations

import time

from aiohttp import web

from gateway.positions.position import Position
from gateway.sim.base import Refused
from gateway.sim.engine import Side

E9_TO_E18 = 10**9


def account_positions(engine, account: str) -> list[dict]:
    trades = sorted((t.ts_ns, i, o, t) for i, o in enumerate(engine.orders.values()) if o.account == account
                    for t in o.trades)
    books: dict[str, Position] = {}
    for _, _, order, trade in trades:
        signed = trade.quantity if order.side is Side.BUY else -trade.quantity
        books.setdefault(order.product, Position()).book(signed, trade.price)
    out = []
    for symbol, p in sorted(books.items()):
        if not p.net:
            continue
        mark = engine.last_price(symbol) or p.avg_price
        out.append({"symbol": symbol, "side": "LONG" if p.net > 0 else "SHORT",
                    "sizeE9": str(abs(p.net) // E9_TO_E18), "avgEntryPriceE9": str(p.avg_price // E9_TO_E18),
                    "markPriceE9": str(mark // E9_TO_E18), "unrealizedPnlE9": str(p.unrealized_pnl(mark) // E9_TO_E18),
                    "updatedAtMillis": time.time_ns() // 1_000_000})
    return out


async def account(sim, request: web.Request) -> web.Response:
    sim.count_request(request)
    try:
        who = sim._account(request)
    except Refused as exc:
        return sim._error(str(exc), exc.status)
    return web.json_response({"accountAddress": who, "positions": account_positions(sim.engine, who)})
