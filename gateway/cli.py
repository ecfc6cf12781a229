"""Command line: `gateway <command>`. Each command's module is imported only when used."""
from __future__ import annotations

import argparse
import sys

from gateway import __version__


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from gateway.selfcheck import run_selfcheck

    try:
        for line in run_selfcheck():
            print(f"ok  {line}")
    except AssertionError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="order-gateway")
    parser.add_argument("--version", action="version", version=f"order-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("selfcheck", help="check the compiled core against its reference implementations")
    p.set_defaults(func=_cmd_selfcheck)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return args.func(args)
