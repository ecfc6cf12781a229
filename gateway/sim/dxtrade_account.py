"""The DXtrade simulator's `GET /dxsca-web/accounts/{account}/positions`: the account's open
positions from its engine's trades, one per instrument (a netting account; average cost, as
gateway/positions/ books them), with the Position fields of the platform's published
specification: account, version, positionCode (the orderId of the order that opened it, as
the seed's legs name it), symbol, quantity (unsigned, units), quantityNotional, side BUY/SELL,
openTime, openPrice, lastUpdateTime; wrapped as {"positions": [...]} (an assumption:
gateway/venues/dxtrade/schemas.py). A flat instrument is not listed. The session and the
account are checked by the simulator's gate, as for every account call."""
from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from aiohttp import web

from gateway._core.fixedpoint import format_scaled
from gateway.positions.position import Position
from gateway.sim.account_books import account_trades


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value: int):
    """An e18 int as the JSON number the venue sends (exact: the decimal text)."""
    return msgspec.Raw(format_scaled(value, 18).encode())


def open_positions(sim) -> list[dict]:
    books: dict[str, Position] = {}
    opened: dict[str, tuple[str, int]] = {}  # instrument -> (the opening order's id, when)
    updated: dict[str, int] = {}
    for order, trade, signed in account_trades(sim.engine, sim.account):
        p = books.setdefault(order.product, Position())
        before = p.net
        p.book(signed, trade.price)
        if before == 0 or (before > 0) != (p.net > 0):  # opened, or flipped to the other side
            opened[order.product] = (order.order_id, trade.ts_ns)
        updated[order.product] = trade.ts_ns
    out = []
    for instrument, p in sorted(books.items()):
        if not p.net:
            continue
        code, open_ns = opened[instrument]
        out.append({"account": sim.account, "version": sim.version, "positionCode": code, "symbol": instrument,
                    "quantity": _num(abs(p.net)), "quantityNotional": _num(abs(p.net) * p.avg_price // 10**18),
                    "side": "BUY" if p.net > 0 else "SELL", "openTime": _iso(open_ns),
                    "openPrice": _num(p.avg_price), "lastUpdateTime": _iso(updated[instrument])})
    return out


async def positions(sim, request: web.Request) -> web.Response:
    return web.Response(body=msgspec.json.encode({"positions": open_positions(sim)}),
                        content_type="application/json")
