"""Coverage-guided fuzzing of the strategy socket's read path with atheris (libFuzzer):
the bytes go, in chunks chosen by the fuzzer, through the real StrategyConnection
(FrameSplitter, request_decoder, the _invalid_request fallback, the Router) on a fake
transport. A crash is any exception out of data_received, a frame over max_frame, or a
close without exactly one `error` frame as the last frame.

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/atheris_frames.py -max_total_time=600 -max_len=4096 corpus/

FUZZ_ALLOW_KNOWN=1 ignores the two known escapes (UnicodeDecodeError, RecursionError) so
the run can look past them.
"""
import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
os.environ.setdefault("GATEWAY_LOG_LEVEL", "critical")

with atheris.instrument_imports():
    from gateway.ipc import frames as f
    from tests.fuzz._support import CLOSE_CODES, Harness

KNOWN = (UnicodeDecodeError, RecursionError) if os.environ.get("FUZZ_ALLOW_KNOWN") else ()
harness = Harness(max_frame=4096)
HELLO = harness.hello_frame()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cuts = sorted(fdp.ConsumeIntInRange(0, 64) for _ in range(fdp.ConsumeIntInRange(0, 4)))
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    if cuts and cuts[0] % 2:
        stream = harness.hello_frame() + stream
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])] if stream else []
    try:
        conn, transport, out = harness.run(chunks)
    except KNOWN:
        return
    errors = [m for m in out if isinstance(m, f.ProtocolError)]
    if transport.closed:
        assert len(errors) == 1 and out[-1] is errors[0] and errors[0].code in CLOSE_CODES, out
    else:
        assert not errors, out
    assert not harness.loop_errors, harness.loop_errors


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
