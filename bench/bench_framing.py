"""FrameSplitter.feed() on a chunk of 100 ~200-byte frames, against a
pure-Python struct.unpack splitter doing the same."""

import struct

import pytest

from gateway._core.framing import FrameSplitter, encode_frame

_LEN = struct.Struct(">I")

PAYLOADS = [bytes([i]) * (180 + (i * 7) % 41) for i in range(100)]
CHUNK = b"".join(encode_frame(p) for p in PAYLOADS)


class PySplitter:
    """The obvious pure-Python splitter: bytearray, offset, compact per feed."""

    def __init__(self, max_frame=1 << 20):
        self.max_frame = max_frame
        self.buf = bytearray()

    def feed(self, data):
        buf = self.buf
        buf += data
        frames = []
        off = 0
        end = len(buf)
        while end - off >= 4:
            (n,) = _LEN.unpack_from(buf, off)
            if n == 0 or n > self.max_frame:
                raise ValueError(f"bad frame length {n}")
            if end - off - 4 < n:
                break
            frames.append(bytes(buf[off + 4:off + 4 + n]))
            off += 4 + n
        del buf[:off]
        return frames


@pytest.fixture(scope="module", autouse=True)
def _same_answer():
    assert FrameSplitter().feed(CHUNK) == PySplitter().feed(CHUNK) == PAYLOADS


def test_feed_100_frames(benchmark):
    benchmark(FrameSplitter().feed, CHUNK)


def test_feed_100_frames_baseline_struct(benchmark):
    benchmark(PySplitter().feed, CHUNK)
