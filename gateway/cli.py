"""Command line: `gateway <command>`. Each command's module is imported only when used."""
from __future__ import annotations

import argparse
import asyncio
import sys

from gateway import __version__


def _config(args):
    from gateway.config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from gateway.selfcheck import run_selfcheck

    try:
        for line in run_selfcheck():
            print(f"ok  {line}")
    except AssertionError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from gateway.daemon import run

    return run(_config(args))


def _cmd_sim(args: argparse.Namespace) -> int:
    import uvloop

    from gateway.daemon import setup_logging, start_simulator

    config = _config(args)
    venue = next((v for v in config.venues if v.name == args.venue or type(v).__struct_config__.tag == args.venue), None)
    if venue is None:
        print(f"gateway: no venue {args.venue!r} in the config", file=sys.stderr)
        return 2
    setup_logging(config.log_level)

    async def main() -> None:
        import msgspec

        from gateway.venues.config import SimConfig

        sim_cfg = venue.sim or SimConfig()
        v = msgspec.structs.replace(venue, sim=msgspec.structs.replace(sim_cfg, port=args.port, host=args.host))
        sim, _ = await start_simulator(v)
        print(f"{venue.name} simulator: REST {sim.rest_url}  WS {sim.ws_url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    try:
        uvloop.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def _print_order(o) -> None:
    price = o.price or "market"
    print(f"{o.client_order_id:<24} {o.venue:<8} {o.symbol:<10} {o.side:<4} {o.quantity:>10} @ {price:<10} "
          f"{o.status:<16} filled {o.filled}" + (f" avg {o.avg_price}" if o.avg_price else "")
          + (f"  ({o.reason})" if o.reason else ""))


def _cmd_order(args: argparse.Namespace) -> int:
    from gateway.ipc import frames as f
    from gateway.ipc.client import GatewayClient, GatewayError

    socket_path = args.socket or _config(args).server.socket_path

    async def main() -> int:
        async with GatewayClient(socket_path, strategy=args.strategy) as gw:
            if args.action == "list":
                for order in await gw.orders(open_only=not args.all):
                    _print_order(order)
                return 0
            if args.action == "place":
                ack = await gw.place(args.venue, args.symbol, args.side, args.quantity, args.price,
                                     type="market" if args.price is None else "limit", tif=args.tif,
                                     post_only=args.post_only, client_order_id=args.client_order_id)
            elif args.action == "cancel":
                ack = await gw.cancel(args.client_order_id)
            else:
                ack = await gw.cancel_all(args.venue)
            if not ack.ok:
                print(f"refused: {ack.error.code}: {ack.error.message}", file=sys.stderr)
                return 1
            print(f"accepted (order {ack.order_id})" if ack.order_id else "accepted")
            if args.action == "place" and args.wait:
                # follow the order until the venue has said where it stands
                while True:
                    event = await gw.next_event(args.wait)
                    if isinstance(event, f.OrderUpdate):
                        _print_order(event.order)
                        if event.order.status not in ("PENDING_NEW", "PENDING_CANCEL"):
                            if event.order.status != "OPEN" or not args.until_done:
                                return 0
            return 0

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except asyncio.TimeoutError:
        print("gateway: no update in time", file=sys.stderr)
        return 1


def _cmd_status(args: argparse.Namespace) -> int:
    from gateway.ipc.client import GatewayClient, GatewayError

    socket_path = args.socket or _config(args).server.socket_path

    async def main():
        async with GatewayClient(socket_path, strategy=None) as gw:
            return await gw.status()

    try:
        st = asyncio.run(main())
    except GatewayError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    hours, rest = divmod(st.uptime_s, 3600)
    print(f"up {hours}h{rest // 60:02d}m{rest % 60:02d}s, strategies connected: "
          f"{', '.join(st.strategies) if st.strategies else 'none'}")
    fmt = "{:<12} {:<8} {:<10} {:>11} {:>10} {:>14} {:>18} {:>18}"
    print(fmt.format("venue", "kind", "state", "open orders", "reconnects", "orders (1 min)",
                     "tick-to-wire p50", "tick-to-wire p99"))
    us = lambda v: "-" if v is None else f"{v:.0f} us"  # noqa: E731
    for v in st.venues:
        print(fmt.format(v.name, v.kind, "connected" if v.connected else "DOWN", v.open_orders, v.reconnects,
                         v.orders_last_minute, us(v.tick_to_wire_p50_us), us(v.tick_to_wire_p99_us)))
    return 0 if all(v.connected for v in st.venues) else 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="order-gateway")
    parser.add_argument("--version", action="version", version=f"order-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(p):
        p.add_argument("-c", "--config", help="TOML config (default: the embedded config/gateway.toml)")
        return p

    p = with_config(sub.add_parser("run", help="run the gateway daemon"))
    p.set_defaults(func=_cmd_run)

    p = with_config(sub.add_parser("sim", help="run one venue's simulator alone"))
    p.add_argument("venue", help="venue name or kind in the config, e.g. citrex")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=_cmd_sim)

    p = sub.add_parser("order", help="place, cancel or list orders from a terminal")
    osub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="config whose socket to use")
    common.add_argument("--socket", help="socket path (overrides the config)")
    common.add_argument("--strategy", default="cli", help="strategy name to trade as (default: cli)")
    q = osub.add_parser("place", parents=[common], help="place an order")
    q.add_argument("venue")
    q.add_argument("symbol")
    q.add_argument("side", choices=["buy", "sell"])
    q.add_argument("quantity")
    q.add_argument("price", nargs="?", help="limit price; omit for a market order")
    q.add_argument("--tif", default="gtc", choices=["gtc", "ioc", "fok"])
    q.add_argument("--post-only", action="store_true")
    q.add_argument("--client-order-id")
    q.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the venue's update (0: don't)")
    q.add_argument("--until-done", action="store_true", help="keep following until the order is closed")
    q = osub.add_parser("cancel", parents=[common], help="cancel an order by client order id")
    q.add_argument("client_order_id")
    q = osub.add_parser("cancel-all", parents=[common], help="cancel every open order of the strategy")
    q.add_argument("venue", nargs="?")
    q = osub.add_parser("list", parents=[common], help="list the strategy's orders")
    q.add_argument("--all", action="store_true", help="closed orders too")
    p.set_defaults(func=_cmd_order)

    sub.add_parser("bench", add_help=False,
                   help="end-to-end load generator and baselines (bench/loadgen.py; `gateway bench --help`)")

    p = sub.add_parser("status", help="venues, connection state, open orders, last minute's tick-to-wire")
    p.add_argument("-c", "--config", help="config whose socket to use")
    p.add_argument("--socket", help="socket path (overrides the config)")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("selfcheck", help="check the compiled core against its reference implementations")
    p.set_defaults(func=_cmd_selfcheck)
    return parser


def _cmd_bench(argv: list[str]) -> int:
    """`gateway bench ...` = `python -m bench.loadgen ...`; bench/ lives beside gateway/ in a checkout."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "loadgen.py").exists():
        print("gateway: bench needs a source checkout (bench/loadgen.py beside gateway/)", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.loadgen import main as loadgen_main

    return loadgen_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own parser: every option goes to bench/loadgen.py
        return _cmd_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return args.func(args)
