"""FrameSplitter / encode_frame: any chunking gives the same frames; bad lengths fail at once."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._core.framing import FrameError, FrameSplitter, encode_frame

payloads_st = st.lists(st.binary(min_size=1, max_size=300), max_size=30)


@st.composite
def split_points(draw, data):
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=40))
    return sorted(set(cuts))


def _chunks(data, cuts):
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def _feed_all(splitter, chunks):
    out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


@settings(max_examples=300, deadline=None)
@given(payloads=payloads_st, data=st.data())
def test_any_chunking_gives_the_same_frames(payloads, data):
    stream = b"".join(encode_frame(p) for p in payloads)
    cuts = data.draw(split_points(stream))
    splitter = FrameSplitter(max_frame=300)
    assert _feed_all(splitter, _chunks(stream, cuts)) == payloads
    assert splitter.buffered == 0


@settings(max_examples=50, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=8))
def test_one_byte_at_a_time(payloads):
    stream = b"".join(encode_frame(p) for p in payloads)
    splitter = FrameSplitter()
    out = []
    for i in range(len(stream)):
        out.extend(splitter.feed(stream[i:i + 1]))
        assert splitter.buffered == len(stream[:i + 1]) - sum(4 + len(p) for p in out)
    assert out == payloads


@settings(max_examples=100, deadline=None)
@given(payloads=payloads_st, keep=st.integers(0, 63), data=st.data())
def test_buffered_is_the_incomplete_tail(payloads, keep, data):
    # a strict prefix of one more frame, never a whole one
    extra = encode_frame(b"x" * 60)[:keep]
    stream = b"".join(encode_frame(p) for p in payloads) + extra
    splitter = FrameSplitter()
    out = _feed_all(splitter, _chunks(stream, data.draw(split_points(stream))))
    assert out == payloads
    assert splitter.buffered == len(extra)


@settings(max_examples=100, deadline=None)
@given(payloads=payloads_st, bad=st.sampled_from([0, 301, 2**32 - 1]), data=st.data())
def test_bad_length_after_good_frames(payloads, bad, data):
    # the frames before the bad header reach the caller whatever the chunking:
    # from earlier feeds, or on the error when they share its chunk
    stream = b"".join(encode_frame(p) for p in payloads) + struct.pack(">I", bad) + b"body"
    splitter = FrameSplitter(max_frame=300)
    out = []
    with pytest.raises(FrameError) as info:
        for chunk in _chunks(stream, data.draw(split_points(stream))):
            out.extend(splitter.feed(chunk))
    assert out + info.value.frames == payloads
    assert splitter.failed


def test_oversize_length_rejected_from_the_header_alone():
    splitter = FrameSplitter(max_frame=1024)
    header = struct.pack(">I", 1025)
    assert splitter.feed(header[:3]) == []
    with pytest.raises(FrameError, match="1025 exceeds max_frame 1024"):
        splitter.feed(header[3:])  # no body sent: must not wait for one


def test_gigabyte_length_rejected_without_waiting():
    with pytest.raises(FrameError, match="exceeds max_frame"):
        FrameSplitter().feed(b"\xff\xff\xff\xff")


def test_zero_length_rejected():
    with pytest.raises(FrameError, match="zero-length"):
        FrameSplitter().feed(encode_frame(b"ok") + b"\x00\x00\x00\x00")


def test_zero_length_rejected_when_header_straddles_chunks():
    splitter = FrameSplitter()
    assert splitter.feed(b"\x00\x00") == []
    with pytest.raises(FrameError, match="zero-length"):
        splitter.feed(b"\x00\x00")


def test_stays_failed():
    splitter = FrameSplitter(max_frame=10)
    with pytest.raises(FrameError):
        splitter.feed(struct.pack(">I", 11))
    for chunk in (encode_frame(b"fine"), b"", b"\x00"):
        with pytest.raises(FrameError, match="already failed.*exceeds max_frame"):
            splitter.feed(chunk)
    assert splitter.failed
    assert splitter.buffered == 0


@pytest.mark.parametrize("split", [None, 1, 4, 5, 50])
def test_max_frame_boundary(split):
    payload = bytes(range(256)) * 4  # 1024 bytes
    stream = encode_frame(payload)
    splitter = FrameSplitter(max_frame=1024)
    chunks = [stream] if split is None else [stream[:split], stream[split:]]
    assert _feed_all(splitter, chunks) == [payload]
    with pytest.raises(FrameError):
        FrameSplitter(max_frame=1023).feed(stream)


def test_many_frames_in_one_chunk_and_a_straddling_one():
    payloads = [bytes([i % 251]) * (1 + i % 200) for i in range(1_000)]
    stream = b"".join(encode_frame(p) for p in payloads)
    cut = len(stream) - 7
    splitter = FrameSplitter()
    first = splitter.feed(stream[:cut])
    assert first == payloads[:-1]
    assert splitter.buffered == len(encode_frame(payloads[-1])) - 7
    assert splitter.feed(stream[cut:]) == payloads[-1:]
    assert splitter.buffered == 0


def test_large_frame_fed_in_small_chunks():
    payload = bytes(range(256)) * 1024  # 256 KiB, above the kept capacity
    stream = encode_frame(payload) + encode_frame(b"next")
    splitter = FrameSplitter()
    out = _feed_all(splitter, [stream[i:i + 1000] for i in range(0, len(stream), 1000)])
    assert out == [payload, b"next"]


def test_accepts_bytes_like():
    stream = encode_frame(b"abc") + encode_frame(b"de")
    assert FrameSplitter().feed(bytearray(stream)) == [b"abc", b"de"]
    assert FrameSplitter().feed(memoryview(stream)) == [b"abc", b"de"]
    with pytest.raises(TypeError):
        FrameSplitter().feed("text")


def test_encode_frame():
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(bytearray(b"\x01" * 300))[:4] == b"\x00\x00\x01\x2c"
    with pytest.raises(FrameError, match="empty"):
        encode_frame(b"")
    with pytest.raises(TypeError):
        encode_frame("abc")


def test_encode_frame_too_large():
    # a 4 GiB payload without allocating 4 GiB: a read-only mapping of nothing
    mmap = pytest.importorskip("mmap")
    try:
        big = mmap.mmap(-1, 2**32, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ)
    except (OSError, OverflowError, ValueError):
        pytest.skip("cannot reserve 4 GiB of address space here")
    try:
        with pytest.raises(FrameError, match="does not fit"):
            encode_frame(big)
    finally:
        big.close()


def test_max_frame_argument_checked():
    for bad in (0, -1, 2**32):
        with pytest.raises(ValueError):
            FrameSplitter(max_frame=bad)
    assert FrameSplitter().max_frame == 1 << 20


def test_replies_gain_fields_without_breaking_an_older_client():
    """The protocol grows by adding fields: a client ignores reply fields it does not know
    (requests stay strict: the gateway refuses a field it does not know)."""
    import msgspec

    from gateway.ipc import frames as f

    newer = msgspec.msgpack.encode({"op": "ack", "req_id": 1, "ok": True, "order_id": "x",
                                    "added_later": {"any": "thing"}})
    ack = f.reply_decoder.decode(newer)
    assert isinstance(ack, f.Ack) and ack.order_id == "x"
    status = msgspec.msgpack.encode({"op": "status", "req_id": 2, "venues": [
        {"name": "v", "kind": "k", "connected": True, "open_orders": 0, "new_gauge": 3}], "strategies": [],
        "uptime_s": 1,
        "new_section": []})
    assert f.reply_decoder.decode(status).venues[0].name == "v"
    import pytest

    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        f.request_decoder.decode(msgspec.msgpack.encode({"op": "ping", "req_id": 1, "surprise": 1}))
