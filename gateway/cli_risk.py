"""`gateway risk [--strategy S] [--json]`, `gateway risk set-state STRATEGY STATE [--reason TEXT]`
and `gateway reload`: an operator's requests on a connection that says no hello.

Exit codes: 0 done; 1 refused (the gateway's error: a bad state or name; for reload an
invalid config file, nothing changed); 2 bad usage or config; 5 the gateway cannot be reached.
"""
from __future__ import annotations

import argparse
import sys

import msgspec

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 5
STATES = ("active", "reducing", "halted")

_json = msgspec.json.Encoder()


def add_parsers(sub, with_socket) -> None:
    p = with_socket(sub.add_parser("risk", help="each strategy's state (active, reducing, halted), its risk "
                                   "limits in force, the table each came from, and their use; `risk set-state` "
                                   "sets a state"))
    p.add_argument("--strategy", help="one strategy only")
    p.add_argument("--json", action="store_true", help="one JSON object")
    rsub = p.add_subparsers(dest="risk_action", metavar="ACTION")
    q = rsub.add_parser("set-state", help="set a strategy's state: active, reducing or halted")
    # given before or after the action: the action's own default must not hide the first
    q.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config whose socket to use")
    q.add_argument("--socket", default=argparse.SUPPRESS, help="socket path (overrides the config)")
    q.add_argument("strategy")
    q.add_argument("state", choices=STATES)
    q.add_argument("--reason", default=None, help="said to the strategy and kept with the state")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="the ack as JSON")
    p.set_defaults(func=run_risk)
    p = with_socket(sub.add_parser("reload", help="re-read the daemon's config file and apply [risk] and "
                                   "log_level (exit 1: the file is invalid, nothing changed)"))
    p.add_argument("--json", action="store_true", help="the reply as JSON")
    p.set_defaults(func=run_reload)


def run_risk(args: argparse.Namespace, socket_path: str) -> int:
    from gateway.cli_order import Unanswered, observe

    try:
        if args.risk_action == "set-state":
            ack = observe(socket_path, lambda gw: gw.set_risk_state(args.strategy, args.state, args.reason))
            if args.json:
                print(_json.encode(ack).decode())
            if not ack.ok:
                print(f"gateway: {ack.error.code}: {ack.error.message}", file=sys.stderr)
                return REFUSED
            if not args.json:
                print(f"strategy {args.strategy}: {args.state}")
            return OK
        reply, views = observe(socket_path, lambda gw: _risk_and_states(gw, args.strategy))
    except Unanswered as exc:
        return exc.code
    if args.json:
        from gateway.cli_order import full_json

        print(_json.encode(full_json(reply)).decode())
        return OK
    _print_states(views)
    _print_limits(reply)
    return OK


async def _risk_and_states(gw, strategy: str | None):
    return await gw.risk(strategy), await gw.risk_states(strategy)


def _print_states(views) -> None:
    if not views:
        print("every strategy is active")
        return
    fmt = "{:<24} {:<9} {:<14} {:<8} {}"
    print(fmt.format("strategy", "state", "set by", "max_loss", "reason"))
    for v in views:
        print(fmt.format(v.strategy, v.state, v.source or "-", "breached" if v.max_loss_breached else "-",
                         v.reason or "-"))
    print()


def _print_limits(reply) -> None:
    """Each strategy's limits in force, the table each came from, and their use."""
    if not reply.strategies:
        print("no strategies: none connected, none with orders, none named in [risk.strategies]")
    for st in reply.strategies:
        used = ", ".join(f"{k} {v:.0%}" for k, v in sorted(st.usage.items()))
        head = f"strategy {st.strategy}" + (f" ({st.state})" if st.state else "")
        pnl = "" if st.realized_pnl is None else (
            f", PnL realized {st.realized_pnl} unrealized {st.unrealized_pnl or 'unknown'}")
        print(f"{head}: {st.open_orders} open orders, open notional {st.open_notional}{pnl}; used: {used}")
        fmt = "  {:<24} {:>14}  {}"
        for lim in st.limits:
            print(fmt.format(lim.name, lim.value, lim.source))
        for sym in st.symbols:
            position = "unknown" if sym.position is None else sym.position
            usage = "" if sym.max_position_usage is None else f" ({sym.max_position_usage:.0%} of max_position)"
            print(f"  {sym.venue} {sym.symbol}: position {position}, open buy {sym.open_buy}, open sell "
                  f"{sym.open_sell}, worst case {sym.worst_position}{usage}, reference price "
                  f"{sym.reference_price or 'none'}")
            for lim in sym.limits:
                if lim.source != "risk":  # the defaults are shown once, above
                    print(fmt.format("  " + lim.name, lim.value, lim.source))


def run_reload(args: argparse.Namespace, socket_path: str) -> int:
    from gateway.cli_order import Unanswered, observe

    try:
        reply = observe(socket_path, lambda gw: gw.reload())
    except Unanswered as exc:
        return exc.code
    if args.json:
        print(_json.encode(reply).decode())
    if not reply.ok:
        print(f"gateway: reload refused, nothing changed: {reply.error.code}: {reply.error.message}", file=sys.stderr)
        return REFUSED
    if not args.json:
        print(f"reloaded: {'applied ' + ', '.join(reply.applied) if reply.applied else 'no change to [risk] or log_level'}")
        if reply.needs_restart:
            print(f"changed, not applied until a restart: {', '.join(reply.needs_restart)}")
    return OK
