"""`gateway instruments [VENUE] [--json]`: what each venue lists and how our symbols map to it
(product id, tick, lot, minimum, status, reference bid/ask/mark and age), differences from the
config marked. Asks the running gateway, which read the venues' lists.

Exit status: 0 every configured symbol is confirmed by its venue and trading; 3 one is not
(unavailable, or its venue's list not read); 2 bad arguments (an unknown venue); 5 the
gateway cannot be reached."""
from __future__ import annotations

import argparse

NOT_ALL_TRADING = 3


def add_parser(sub, with_config) -> None:
    p = with_config(sub.add_parser(
        "instruments", help="what each venue lists and how our symbols map to it, with the reference "
        "prices (exit 3: a symbol is unavailable or unchecked; 5: the gateway cannot be reached)"))
    p.add_argument("venue", nargs="?", help="only this venue")
    p.add_argument("--socket", help="socket path (overrides the config)")
    p.add_argument("--all", action="store_true", help="also list the venues' instruments we do not trade")
    p.add_argument("--json", action="store_true", help="the reply as one JSON object (every instrument)")


def run(args: argparse.Namespace, socket_path: str) -> int:
    from gateway.cli_order import Unanswered, full_json, observe

    try:
        reply = observe(socket_path, lambda gw: gw.instruments(args.venue), refused={"unknown_venue": 2})
    except Unanswered as exc:
        return exc.code
    ours_ok = all(not v.unchecked and all(i.unavailable is None for i in v.instruments if i.symbol is not None)
                  for v in reply.venues)
    code = 0 if ours_ok else NOT_ALL_TRADING
    if args.json:
        import msgspec

        print(msgspec.json.encode(full_json(reply)).decode())
        return code
    fmt = "{:<12} {:<14} {:<12} {:<9} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>7}"
    for v in reply.venues:
        age = "never read" if v.list_age_s is None else f"read {v.list_age_s:.0f} s ago"
        print(f"{v.venue} ({v.kind}): the venue lists {v.listed} instruments, {age}"
              + (f", {v.errors} failed reads" if v.errors else ""))
        print(fmt.format("symbol", "venue symbol", "product id", "status", "tick", "lot", "min", "bid", "ask",
                         "mark", "age s"))
        for i in v.instruments:
            if i.symbol is None and not args.all:
                continue
            print(fmt.format(i.symbol or "-", i.venue_symbol, i.product_id, i.status, i.tick_size, i.lot_size,
                             i.min_quantity, i.bid or "-", i.ask or "-", i.mark or "-",
                             "-" if i.age_s is None else f"{i.age_s:.1f}"))
            if i.from_venue:
                print(f"  {i.symbol}: given as a symbol alone; product id and sizes are the venue's")
            for d in i.differences:
                print(f"  * {i.symbol}: {d}")
            if i.unavailable:
                print(f"  ! {i.symbol}: new orders refused (instrument_unavailable): {i.unavailable}")
        for symbol in v.unchecked:
            print(f"  ! {symbol}: not confirmed by the venue's list (not read yet, or no longer listed)")
        hidden = sum(1 for i in v.instruments if i.symbol is None)
        if hidden and not args.all:
            print(f"  ({hidden} more the venue lists and we do not trade: --all)")
        print()
    return code
