"""Command line: `gateway <command>`. Each command's module is imported only when used."""
from __future__ import annotations

import argparse
import asyncio
import sys

from gateway import __version__
from gateway.cli_order import full_json as status_json  # its old name, kept for callers


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
    from gateway.config import DEFAULT_CONFIG
    from gateway.daemon import run

    # the file a reload (SIGHUP, `gateway reload`) reads again
    return run(_config(args), args.config or DEFAULT_CONFIG)


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


def _cmd_order(args: argparse.Namespace) -> int:
    from gateway import cli_order

    return cli_order.run(args, args.socket or _config(args).server.socket_path)


def _cmd_positions(args: argparse.Namespace) -> int:
    from gateway import cli_positions

    return cli_positions.run(args, args.socket or _config(args).server.socket_path)



def _cmd_instruments(args: argparse.Namespace) -> int:
    from gateway import cli_reference

    return cli_reference.run(args, args.socket or _config(args).server.socket_path)


def _cmd_status(args: argparse.Namespace) -> int:
    from gateway.cli_order import UNREACHABLE, format_duration_us as dur
    from gateway.ipc.client import GatewayClient, GatewayError

    socket_path = args.socket or _config(args).server.socket_path

    async def main():
        async with GatewayClient(socket_path, strategy=None) as gw:
            return await gw.status()

    try:
        st = asyncio.run(main())
    except (GatewayError, asyncio.TimeoutError) as exc:
        message = str(exc) or "no reply in time"
        if args.json:  # a JSON reader gets JSON either way
            import json

            code = exc.code if isinstance(exc, GatewayError) else "timeout"
            print(json.dumps({"op": "error", "code": code, "message": getattr(exc, "message", message),
                              "socket": str(socket_path)}))
        print(f"gateway: {message}", file=sys.stderr)
        return UNREACHABLE
    code = 0 if all(v.connected for v in st.venues) else 3
    if args.json:
        import msgspec

        print(msgspec.json.encode(status_json(st)).decode())
        return code
    hours, rest = divmod(st.uptime_s, 3600)
    print(f"up {hours}h{rest // 60:02d}m{rest % 60:02d}s, strategies connected: "
          f"{', '.join(st.strategies) if st.strategies else 'none'}")
    fmt = "{:<12} {:<8} {:<10} {:>11} {:>10} {:>7} {:>14} {:>16} {:>16} {:>15} {:>15}"
    print(fmt.format("venue", "kind", "state", "open orders", "reconnects", "queued", "orders (1 min)",
                     "tick-to-wire p50", "tick-to-wire p99", "queue wait p50", "queue wait p99"))
    for v in st.venues:
        print(fmt.format(v.name, v.kind, "connected" if v.connected else "DOWN", v.open_orders, v.reconnects,
                         v.queued, v.orders_last_minute, dur(v.tick_to_wire_p50_us), dur(v.tick_to_wire_p99_us),
                         dur(v.queue_wait_p50_us), dur(v.queue_wait_p99_us)))
    for v in st.venues:
        for pr in v.prices:
            where = f"{v.name} {pr.symbol}:"
            if pr.age_s is None:
                print(f"{where:<24} no reference price yet" + (f"; UNAVAILABLE: {pr.unavailable}" if pr.unavailable else ""))
                continue
            told = (f"bid {pr.bid or '-'}  ask {pr.ask or '-'}  mark {pr.mark or '-'}" if pr.bid or pr.ask or pr.mark
                    else "the venue quotes no price")
            print(f"{where:<24} {told}  ({pr.age_s:.1f} s old)" + (f"; UNAVAILABLE: {pr.unavailable}" if pr.unavailable else ""))
    for sw in st.switches:
        print(f"cancel_all_after armed for {sw.strategy}: {sw.timeout_ms} ms, fires in {sw.fires_in_ms} ms "
              "without a request")
    if st.drop_copy is not None:
        d = st.drop_copy
        print(f"drop copy: {d.state}, gateway {d.gateway_id}, stream {d.stream}, published {d.published}, "
              f"pending {d.pending} (oldest {d.oldest_pending_age_s:.1f} s), errors {d.publish_errors}, "
              f"from the journal {d.catchup_events}, control {'on' if d.control else 'off'}")
    if st.halted is not None:
        print(f"HALTED by fleet control: {st.halted}")
    for d in st.position_drift:
        if d.drift != "0":
            print(f"POSITION DRIFT on {d.venue} {d.symbol}: the venue holds {d.venue_position}, the strategies' "
                  f"positions sum to {d.gateway_position} (drift {d.drift})")
    return code


def _cmd_dropcopy(args: argparse.Namespace) -> int:
    """`gateway dropcopy tail|book|halt|resume|cancel-all|set-state` (gateway/dropcopy/consumers.py)."""
    import json

    import msgspec

    from gateway.dropcopy import consumers
    from gateway.dropcopy.config import DropCopyConfig

    try:
        import nats  # noqa: F401
    except ImportError:
        print("gateway: dropcopy needs nats-py: pip install 'order-gateway[dropcopy]'", file=sys.stderr)
        return 2
    cfg = (_config(args).drop_copy if args.config else None) or DropCopyConfig()
    changes = {k: v for k, v in (("url", args.url), ("stream", args.stream), ("subject_prefix", args.prefix),
                                 ("creds_file", args.creds), ("nkey_file", args.nkey)) if v}
    try:
        cfg = msgspec.structs.replace(cfg, **changes) if changes else cfg
        cfg.__post_init__()
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        if args.action == "tail":
            def out(subject: str, data: bytes) -> None:
                print(data.decode() if args.json else consumers.describe(subject, data), flush=True)

            await consumers.tail(cfg, out, gateway=args.gateway, venue=args.venue, from_start=args.from_start,
                                 durable=args.durable, count=args.count, idle_timeout_s=args.idle_exit)
            return 0
        if args.action == "book":
            book = await consumers.book(cfg, gateway=args.gateway)
            if args.json:
                print(json.dumps(book))
                return 0
            fmt = "{:<16} {:<10} {:<12} {:>11} {:>14} {:>14} {:>14}"
            print(fmt.format("gateway", "venue", "symbol", "open orders", "bought", "sold", "net filled"))
            for r in book["rows"]:
                print(fmt.format(r["gateway"], r["venue"], r["symbol"], r["open_orders"], r["bought"], r["sold"],
                                 r["net_filled"]))
            print(f"({book['orders']} orders from {book['events']} events)")
            return 0
        if not args.all and not args.gateway:
            print("gateway: name the gateway (--gateway ID) or --all", file=sys.stderr)
            return 2
        op = {"halt": "halt", "resume": "resume", "cancel-all": "cancel_all", "set-state": "set_state"}[args.action]
        replies = await consumers.command(cfg, op, gateway=None if args.all else args.gateway,
                                          reason=getattr(args, "reason", None), venue=getattr(args, "venue", None),
                                          wait_s=args.wait, expect=args.expect,
                                          strategy=getattr(args, "strategy", None), state=getattr(args, "state", None))
        for reply in replies:
            print(json.dumps(reply))
        if not replies:
            print("gateway: no gateway answered", file=sys.stderr)
            return 1
        return 0 if all(r.get("ok") for r in replies) else 1

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - NATS unreachable, no such stream: one line
        print(f"gateway: dropcopy {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _dropcopy_parser(sub) -> None:
    p = sub.add_parser("dropcopy", help="the fleet's drop copy on NATS: tail, book, halt, resume, cancel-all, "
                       "set-state")
    dsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="config whose [drop_copy] to use")
    common.add_argument("--url", help="NATS server (overrides the config; default nats://127.0.0.1:4222)")
    common.add_argument("--stream", help="stream (default GATEWAY_ORDERS)")
    common.add_argument("--prefix", help="subject prefix (default gateway)")
    common.add_argument("--creds", help="NATS credentials file (JWT)")
    common.add_argument("--nkey", help="NATS nkey seed file")
    q = dsub.add_parser("tail", parents=[common], help="print the fleet's order events as they come")
    q.add_argument("--gateway", help="one gateway's events only")
    q.add_argument("--venue", help="one venue's events only")
    q.add_argument("--from-start", action="store_true", help="from the stream's first event, not only new ones")
    q.add_argument("--durable", help="a durable consumer of this name: resumes where it stopped")
    q.add_argument("--count", type=int, default=0, help="stop after N events")
    q.add_argument("--idle-exit", type=float, default=0, metavar="SECS",
                   help="stop after SECS without an event (default: never)")
    q.add_argument("--json", action="store_true", help="the events' JSON, one a line")
    q = dsub.add_parser("book", parents=[common],
                        help="replay the stream: open orders and net filled per gateway, venue, symbol")
    q.add_argument("--gateway", help="one gateway only")
    q.add_argument("--json", action="store_true")
    for action, text in (("halt", "refuse every new order"), ("resume", "take new orders again"),
                         ("cancel-all", "cancel every open order of every strategy"),
                         ("set-state", "set one strategy's state: active, reducing or halted")):
        q = dsub.add_parser(action, parents=[common], help=text)
        target = q.add_mutually_exclusive_group()
        target.add_argument("--gateway", help="the gateway's id")
        target.add_argument("--all", action="store_true", help="every gateway listening")
        q.add_argument("--wait", type=float, default=2.0, help="seconds to gather replies (default 2)")
        q.add_argument("--expect", type=int, default=0, help="with --all: stop once N gateways answered")
        if action in ("halt", "set-state"):
            q.add_argument("--reason", default=None)
        if action == "set-state":
            q.add_argument("strategy")
            q.add_argument("state", choices=("active", "reducing", "halted"))
        if action == "cancel-all":
            q.add_argument("--venue", default=None, help="one venue's orders only")
    p.set_defaults(func=_cmd_dropcopy)


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

    from gateway import cli_order

    cli_order.add_parser(sub)
    sub.choices["order"].set_defaults(func=_cmd_order)

    sub.add_parser("bench", add_help=False,
                   help="end-to-end load generator and baselines (bench/loadgen.py; `gateway bench --help`)")

    p = sub.add_parser("status", help="venues, connection state, open orders, last minute's latency, "
                       "armed dead man's switches (exit 3: a venue is down; 5: the gateway cannot be reached)")
    p.add_argument("-c", "--config", help="config whose socket to use")
    p.add_argument("--socket", help="socket path (overrides the config)")
    p.add_argument("--json", action="store_true", help="the status reply as one JSON object")
    p.set_defaults(func=_cmd_status)

    from gateway import cli_reference

    cli_reference.add_parser(sub, with_config)
    sub.choices["instruments"].set_defaults(func=_cmd_instruments)

    from gateway import cli_risk

    def with_socket(p):
        p.add_argument("-c", "--config", help="config whose socket to use")
        p.add_argument("--socket", help="socket path (overrides the config)")
        return p

    cli_risk.add_parsers(sub, with_socket)
    for name in ("risk", "reload"):
        command = sub.choices[name].get_default("func")
        sub.choices[name].set_defaults(func=lambda args, command=command: command(
            args, args.socket or _config(args).server.socket_path))

    from gateway import cli_positions

    cli_positions.add_parser(sub)
    sub.choices["positions"].set_defaults(func=_cmd_positions)

    p = sub.add_parser("selfcheck", help="check the compiled core against its reference implementations")
    p.set_defaults(func=_cmd_selfcheck)
    _dropcopy_parser(sub)
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
    from bench import loadgen

    # the loadgen's own options, under the name the user typed
    parser = loadgen.build_parser(argparse.ArgumentParser(
        prog="gateway bench", description=loadgen.__doc__.split("\n")[0]))
    return loadgen.run_args(parser.parse_args(argv))


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
