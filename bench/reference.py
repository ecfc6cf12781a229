"""Reference data on the embedded default (every venue simulated on loopback), measured from
outside: how long start-up takes with the instrument checks (each venue's check as the gateway
logs it, and the wall time to the socket, against another checkout's start in the same run,
interleaved), and how old the reference prices are while it runs (sampled through `status`).

    python -m bench.reference [--runs 3] [--seconds 30] [--before-code-dir DIR] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.processes import code_env, stop_process
from bench.stats import nearest_rank

ROOT = Path(__file__).resolve().parents[1]
CHECKED = re.compile(r"venue (\S+): (\d+) instruments listed, (\d+) traded, checked in ([\d.]+) ms")


def _config(tmp: Path, root: Path = ROOT) -> Path:
    """The embedded default (root's checkout's own), its relative paths (../run/...) landing in
    tmp, metrics off."""
    (tmp / "config").mkdir()
    text = (root / "config" / "gateway.toml").read_text()
    text = re.sub(r"(?ms)^\[metrics\]\n.*?(?=^\[|\Z)", "[metrics]\nenabled = false\n\n", text)
    path = tmp / "config" / "gateway.toml"
    path.write_text(text)
    return path


def start(code_dir: str | None) -> tuple[subprocess.Popen, float, dict[str, float], Path]:
    """A gateway on the embedded default: (process, seconds to its socket, venue -> check ms, tmp)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-reference-"))
    config = _config(tmp, Path(code_dir) if code_dir else ROOT)
    env, cwd = code_env(code_dir)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config)], env=env, cwd=cwd,
                            stderr=subprocess.PIPE, text=True)
    checks: dict[str, float] = {}
    for line in proc.stderr:
        match = CHECKED.search(line)
        if match:
            checks[match.group(1)] = float(match.group(4))
        if "serving on" in line:
            break
    else:
        raise RuntimeError(f"the gateway exited at start (rc {proc.wait()})")
    return proc, time.monotonic() - t0, checks, tmp


async def sample_ages(socket_path: Path, seconds: float, every_s: float = 0.1) -> dict[str, list[float]]:
    from gateway.ipc.client import GatewayClient

    ages: dict[str, list[float]] = {}
    missing: dict[str, int] = {}
    # a strategy's connection: one that never says hello is closed after hello_timeout_ms
    async with GatewayClient(str(socket_path), strategy="bench-reference") as gw:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            status = await gw.status()
            for venue in status.venues:
                for price in getattr(venue, "prices", []):
                    key = f"{venue.name}:{price.symbol}"
                    if price.age_s is None:
                        missing[key] = missing.get(key, 0) + 1
                    else:
                        ages.setdefault(key, []).append(price.age_s)
            await asyncio.sleep(every_s)
    for key, n in missing.items():
        ages.setdefault(key, [])
        print(f"  {key}: no price in {n} samples", file=sys.stderr)
    return ages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=30.0, help="how long the prices' age is sampled")
    p.add_argument("--before-code-dir", help="another checkout: its start-up timed in the same run, interleaved")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    starts: dict[str, list[float]] = {"after": [], "before": []}
    checks: dict[str, list[float]] = {}
    ages: dict[str, list[float]] = {}
    for run in range(args.runs):
        for label, code_dir in (("after", None), ("before", args.before_code_dir)):
            if label == "before" and code_dir is None:
                continue
            proc, seconds, checked, tmp = start(code_dir)
            try:
                starts[label].append(seconds)
                if label == "after":
                    for venue, ms in checked.items():
                        checks.setdefault(venue, []).append(ms)
                    if run == 0:
                        socket_path = next(tmp.rglob("gateway.sock"))
                        time.sleep(2)  # the first prices
                        for key, values in asyncio.run(sample_ages(socket_path, args.seconds)).items():
                            ages.setdefault(key, []).extend(values)
            finally:
                stop_process(proc)
                shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "start_s": {k: {"median": nearest_rank(sorted(v), 0.5), "runs": v} for k, v in starts.items() if v},
        "check_ms": {k: {"median": nearest_rank(sorted(v), 0.5), "max": max(v)} for k, v in checks.items()},
        "age_s": {k: ({"p50": nearest_rank(sorted(v), 0.5), "p99": nearest_rank(sorted(v), 0.99), "max": max(v),
                       "samples": len(v)} if v else {"samples": 0}) for k, v in sorted(ages.items())},
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for label, v in out["start_s"].items():
        print(f"start-up to the socket ({label}): median {v['median']:.3f} s over {len(v['runs'])} runs")
    if "before" in out["start_s"]:
        print(f"  after - before: {out['start_s']['after']['median'] - out['start_s']['before']['median']:+.3f} s")
    total = sum(v["median"] for v in out["check_ms"].values())
    print(f"instrument checks (sequential at start): {total:.1f} ms in all")
    for venue, v in sorted(out["check_ms"].items()):
        print(f"  {venue:<10} median {v['median']:.1f} ms, max {v['max']:.1f} ms")
    print(f"reference price age over {args.seconds:g} s, sampled every 100 ms:")
    for key, v in out["age_s"].items():
        if v["samples"]:
            print(f"  {key:<22} p50 {v['p50']:.3f} s  p99 {v['p99']:.3f} s  max {v['max']:.3f} s  ({v['samples']})")
        else:
            print(f"  {key:<22} no price")
    return 0


if __name__ == "__main__":
    sys.exit(main())
