"""The chaos run's simulator process: one venue's simulator (as `gateway sim` runs it) that
outlives the gateway it serves, with its faults and its book reached through stdin/stdout.

    python -m bench.chaos_sim -c CONFIG VENUE

Prints one JSON line {"rest_url", "ws_url"} once it listens, then answers each JSON line
read on stdin ({"op": ...}) with one JSON line: {"ok": true, ...} or {"ok": false, "error"}.
Stops at the end of stdin (bench/chaos.py closes it; it stops the process by its pid if not).

    fault {name, on}            duplicate_events, reorder_ack, hold_events, slow_replies (replies
                                300 ms slower than the gateway's request timeout), answer_429
    drop_streams                close every WebSocket, as a venue restart would
    expire_sessions             every session stops working (venues whose sessions expire)
    release_events              deliver what hold_events kept back
    outside_trade {symbol, side, price, quantity}
                                an outside trader crosses the book (trades made; 0 without a taker)
    ours_resting {symbol}       how many of the gateway's limit orders rest on the book: {orders}
    fill_ours {symbol}          an outside trader fills one of the gateway's resting orders (the one
                                needing the least taken ahead of it): {order_id} (null: none rests)
    book                        every order the engine has: {id, status, reason, filled, notional,
                                maker} (maker: the market maker's or the outside trader's)

Logs (the simulator's, at the config's level) go to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

import msgspec


def _bare(venue_id: str) -> str:
    venue_id = venue_id.lower()
    return venue_id[2:] if venue_id.startswith("0x") else venue_id


class Control:
    def __init__(self, sim, timeout_ms: int):
        self.sim = sim
        self.timeout_ms = timeout_ms
        mm = getattr(sim, "mm", None)
        self.makers = {mm.account, f"{mm.account}-taker"} if mm is not None else set()

    async def handle(self, req: dict) -> dict:
        sim, op = self.sim, req.get("op")
        if op == "fault":
            name, on = req["name"], bool(req["on"])
            if name in ("duplicate_events", "reorder_ack", "hold_events"):
                setattr(sim.faults, name, on)
            elif name == "slow_replies":
                sim.faults.reply_delay_ms = self.timeout_ms + 300 if on else 0
            elif name == "answer_429":
                sim.faults.answer_429 = 3 if on else 0
            else:
                raise ValueError(f"no fault {name!r}")
            return {}
        if op == "drop_streams":
            await sim.drop_streams()
            return {}
        if op == "expire_sessions":
            expire = getattr(sim, "expire_sessions", None)
            if expire is not None:
                expire()
            return {"expired": expire is not None}
        if op == "release_events":
            await sim.release_events()
            return {}
        if op == "outside_trade":
            try:
                trades = await sim.outside_trade(req["symbol"], req["side"], req["price"], req["quantity"])
            except RuntimeError:  # a simulator without a market maker: no outside flow
                trades = 0
            return {"trades": trades}
        if op == "fill_ours":
            return {"order_id": await self.fill_ours(req["symbol"])}
        if op == "ours_resting":
            return {"orders": len(self.ours_resting(req["symbol"]))}
        if op == "book":
            return {"orders": [
                {"id": _bare(o.order_id), "order_id": o.order_id, "status": o.status.value,
                 "reason": None if o.reason is None else o.reason.value, "filled": o.filled,
                 "notional": o.notional, "maker": o.account in self.makers}
                for o in sim.engine.orders.values()]}
        raise ValueError(f"no op {op!r}")


    def ours_resting(self, symbol: str) -> list:
        """The gateway's limit orders resting on the book of symbol."""
        product = self.sim.venue_product(symbol)
        return [o for o in self.sim.engine.orders.values()
                if o.is_open and o.product == product and o.account not in self.makers and o.price is not None
                and o.stop_price is None]

    async def fill_ours(self, symbol: str) -> str | None:
        """An outside IOC at the price of one of our resting limit orders, for everything resting at
        that price or better (the market maker's ladder included): that order fills."""
        from gateway._core.fixedpoint import format_scaled
        from gateway.sim.engine import Side

        bids, asks = self.sim.engine.depth(self.sim.venue_product(symbol), 100_000)
        best = None
        for o in self.ours_resting(symbol):
            if o.side is Side.SELL:
                ahead = sum(q for p, q in asks if p <= o.price)
            else:
                ahead = sum(q for p, q in bids if p >= o.price)
            if best is None or ahead < best[0]:
                best = (ahead, o)
        if best is None:
            return None
        ahead, order = best
        await self.sim.outside_trade(symbol, "buy" if order.side is Side.SELL else "sell",
                                     format_scaled(order.price, 18), format_scaled(ahead, 18))
        return order.order_id


async def serve(config_path: str, venue_name: str, timeout_ms: int) -> None:
    from gateway.config import load_config
    from gateway.daemon import setup_logging, start_simulator

    config = load_config(config_path)
    setup_logging(config.log_level)
    [venue] = [v for v in config.venues if v.name == venue_name]
    venue = msgspec.structs.replace(venue, sim=msgspec.structs.replace(venue.sim, enabled=True, port=0))
    sim, _ = await start_simulator(venue)
    if hasattr(sim, "trade_limit_per_s"):
        sim.trade_limit_per_s = 0  # the venue's own limit is not under test here (answer_429 is)
    control = Control(sim, timeout_ms)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    out.write(json.dumps({"rest_url": sim.rest_url, "ws_url": sim.ws_url}) + "\n")
    out.flush()
    try:
        while line := await reader.readline():
            try:
                reply = {"ok": True, **await control.handle(json.loads(line))}
            except Exception as exc:  # noqa: BLE001 - said to the harness, which fails the run
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos_sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--timeout-ms", type=int, default=1000, help="the gateway's request timeout")
    parser.add_argument("venue")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.config, args.venue, args.timeout_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
