"""`gateway positions [--strategy S] [--json]`: every strategy's positions (or one's), read as an
observer: no hello, so it works while the strategy itself is connected."""
from __future__ import annotations

import argparse
from decimal import Decimal


def run(args: argparse.Namespace, socket_path: str) -> int:
    from gateway.cli_order import Unanswered, observe

    try:
        positions = observe(socket_path, lambda gw: gw.positions(args.strategy))
    except Unanswered as exc:
        return exc.code
    if args.json:
        import msgspec

        # every field every time (null without a reference price), as `status --json`
        rows = [{name: getattr(p, name) for name in p.__struct_fields__} for p in positions]
        print(msgspec.json.encode({"op": "positions", "positions": rows}).decode())
        return 0
    if not positions:
        print(f"no positions for {args.strategy}" if args.strategy else "no positions")
        return 0
    fmt = "{:<16} {:<10} {:<12} {:>16} {:>14} {:>16} {:>16} {:>14} {:>12}"
    print(fmt.format("strategy", "venue", "symbol", "position", "avg price", "realized pnl", "unrealized pnl",
                     "reference", "fees"))
    totals: dict[str, list] = {}
    for p in positions:
        print(fmt.format(p.strategy, p.venue, p.symbol, p.position, p.avg_price, p.realized_pnl,
                         p.unrealized_pnl if p.unrealized_pnl is not None else "-",
                         p.reference_price or "-", p.fees))
        total = totals.setdefault(p.strategy, [Decimal(0), Decimal(0), 0])
        total[0] += Decimal(p.realized_pnl)
        if p.unrealized_pnl is not None:
            total[1] += Decimal(p.unrealized_pnl)
        elif Decimal(p.position):
            total[2] += 1
    for strategy, (realized, unrealized, unpriced) in totals.items():
        note = f" ({unpriced} open without a reference price, not counted)" if unpriced else ""
        print(f"{strategy}: realized {realized}, unrealized {unrealized}{note}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("positions", help="positions per strategy, venue and symbol: net, average price, PnL "
                       "(exit 5: the gateway cannot be reached)")
    p.add_argument("-c", "--config", help="config whose socket to use")
    p.add_argument("--socket", help="socket path (overrides the config)")
    p.add_argument("--strategy", help="one strategy's (default: every strategy's)")
    p.add_argument("--json", action="store_true", help="one JSON object: {op: positions, positions: [...]}")
