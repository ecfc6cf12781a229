"""Does order signing scale past one core?

    python -m bench.scaling [--seconds 1.0] [--repeat 3]

Threads: coincurve is a cffi binding and cffi drops the GIL around each C
call, so two threads calling libsecp256k1 could run on two cores. We measure
bare `PrivateKey.sign_recoverable(digest, hasher=None)`, the gateway's
`Signer.sign_digest` (the same C call without coincurve's Python layer) and a
whole Citrex order (`CitrexSigner.sign_order`: the compiled EIP-712 digest,
which holds the GIL, then the signature) in 1 and 2 threads.

Processes: 1 and 2 worker processes, each signing whole orders with nonces from
one `NonceAllocator` file shared by both (as two gateway processes signing for
one account would); the nonces are checked unique and increasing per process.

Each case runs --repeat interleaved rounds of 1 and 2 workers, --seconds each, and keeps
the best orders/s in total of each (the machine is shared); the speedup is the
2-worker rate over the 1-worker rate (2.0 would be perfect on 2 free cores).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time

from coincurve import PrivateKey

from gateway._core.nonce import NonceAllocator
from gateway.signer import Signer
from gateway.venues.citrex.signing import CitrexSigner

_DOMAIN = dict(sub_account_id=0, chain_id=1329, verifying_contract="0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9",
               domain_name="ciao", domain_version="0.0.0")


def _loop_bare(stop: threading.Event | None, seconds: float) -> int:
    key = PrivateKey(secrets.token_bytes(32))
    digests = [secrets.token_bytes(32) for _ in range(64)]
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for d in digests:
            key.sign_recoverable(d, hasher=None)
        n += len(digests)
    return n


def _loop_signer(stop, seconds: float) -> int:
    signer = Signer(secrets.token_bytes(32))
    digests = [secrets.token_bytes(32) for _ in range(64)]
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for d in digests:
            signer.sign_digest(d)
        n += len(digests)
    return n


def _loop_order(stop, seconds: float, nonce_path: str | None = None, out=None) -> int:
    """Whole Citrex orders: nonce (shared file if given), digest, signature."""
    sign = CitrexSigner(Signer(secrets.token_bytes(32)), **_DOMAIN)
    nonces = NonceAllocator(nonce_path, "us") if nonce_path else None
    seen: list[int] = []
    n, i, end = 0, 0, time.perf_counter() + seconds
    exp = time.time_ns() // 1_000_000 + 86_400_000
    while time.perf_counter() < end:
        for _ in range(64):
            i += 1
            nonce = nonces.next() if nonces is not None else i
            sign.sign_order(1002, True, 0, 0, exp, 1000 * 10**18, 10**15, nonce)
            if out is not None:
                seen.append(nonce)
        n += 64
    if nonces is not None:
        nonces.close()
    if out is not None:
        out.put((n, seen))
    return n


def threads(fn, workers: int, seconds: float) -> float:
    counts = [0] * workers

    def run(k: int) -> None:
        counts[k] = fn(None, seconds)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(workers)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def processes(workers: int, seconds: float, nonce_path: str) -> tuple[float, bool]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_loop_order, args=(None, seconds, nonce_path, out)) for _ in range(workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    all_nonces = [v for _, seen in results for v in seen]
    ok = (len(set(all_nonces)) == len(all_nonces)
          and all(all(a < b for a, b in zip(seen, seen[1:])) for _, seen in results))
    # processes start staggered: count each one's orders over the wall time of the whole
    return sum(n for n, _ in results) / elapsed, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per run (default 1.0)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds per case, best kept (default 3)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    s = args.seconds
    results: dict[str, dict] = {}
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} CPUs available; {s:g} s per case; orders/s in total", file=sys.stderr)
    cases = [
        ("bare coincurve sign_recoverable, threads", lambda w: threads(_loop_bare, w, s)),
        ("Signer.sign_digest (direct libsecp256k1), threads", lambda w: threads(_loop_signer, w, s)),
        ("whole Citrex order (digest + sign), threads", lambda w: threads(_loop_order, w, s)),
    ]
    print(f"(best of {args.repeat} interleaved 1/2-worker rounds: the machine is shared)", file=sys.stderr)
    print(f"{'case':<56} {'1 worker':>10} {'2 workers':>10} {'speedup':>8}")
    nonces_ok = True
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        path = os.path.join(tmp, "shared.nonce")

        def procs(w: int) -> float:
            nonlocal nonces_ok
            rate, ok = processes(w, s, path)
            nonces_ok = nonces_ok and ok
            return rate

        cases.append(("whole Citrex order, processes sharing a NonceAllocator", procs))
        for name, fn in cases:
            ones, twos = [], []
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                ones.append(fn(1))
                twos.append(fn(2))
            one, two = max(ones), max(twos)
            results[name] = {"1": one, "2": two, "speedup": two / one, "rounds_1": ones, "rounds_2": twos}
            print(f"{name:<56} {one:>10,.0f} {two:>10,.0f} {two / one:>7.2f}x", flush=True)
    print(f"shared nonce file: nonces unique across processes and increasing in each: "
          f"{'yes' if nonces_ok else 'NO'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpus": cores, "seconds": s, "repeat": args.repeat, "results": results,
                       "nonces_ok": nonces_ok}, fh, indent=2)
    return 0 if nonces_ok else 1


if __name__ == "__main__":
    sys.exit(main())
