"""Answers to frames that are not valid requests, and the bounded msgpack walk behind them.

A frame msgspec cannot decode, or one that decodes but is no valid request,
gets an `ack` with the reason when a `req_id` can be found in it (the
connection stays); without one the connection gets one `error` frame and is
closed (gateway/ipc/server.py). The frame came from a peer that may be hostile:
its `req_id` is found without recursion and within a bounded walk.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import msgspec

from gateway.decoding import DECODE_ERRORS
from gateway.ipc import frames as f
from gateway.validation import clip


class Close(NamedTuple):
    """No req_id to answer: the connection gets this error and is closed."""
    code: str
    message: str


def answer_undecodable(payload: bytes, exc: Exception) -> f.Ack | Close:
    """A frame msgspec cannot read: nested too deep gets an error ack when it names a req_id;
    anything else closes."""
    req_id = _top_level_scalars(payload).get("req_id") if isinstance(exc, RecursionError) else None
    if isinstance(req_id, bool) or not isinstance(req_id, int):
        return Close("bad_msgpack", f"frame is not msgpack: {clip(str(exc))}")
    return f.Ack(req_id=req_id, ok=False, error=f.ErrorInfo(
        "bad_field", "frame nested too deep to read; requests are flat maps"))


def answer_invalid(payload: bytes, message: str) -> f.Ack | Close:
    """A schema error: acked when the frame has a req_id, else the connection closes."""
    message = clip(message)
    try:
        raw = _decode_generic(payload)
    except RecursionError as exc:
        return answer_undecodable(payload, exc)
    except DECODE_ERRORS:
        raw = None
    if not isinstance(raw, dict):
        raw = {}
    req_id = raw.get("req_id")
    if not isinstance(req_id, int) or isinstance(req_id, bool):
        return Close("bad_request", f"{message} (and no integer req_id to answer)")
    op = raw.get("op")
    if not isinstance(op, str) or op not in f.REQUEST_OPS:
        code = "unknown_op"
        message = f"unknown op {clip(repr(op), 64)}; known: {', '.join(sorted(f.REQUEST_OPS))}"
    else:
        code = _error_code(message)
    return f.Ack(req_id=req_id, ok=False, error=f.ErrorInfo(code, message))


# msgspec's generic decoder stops at the interpreter's recursion limit; above CPython's
# default (something raised it) a deep frame could exhaust the C stack first
SAFE_RECURSION_LIMIT = 1000
# msgpack objects walked to find a deep frame's req_id: a bounded cost per frame
MAX_WALK_ITEMS = 4096

def _error_code(message: str) -> str:
    if "missing required field" in message:
        return "missing_field"
    if "`$.op`" in message:
        return "unknown_op"
    return "bad_field"


# msgpack type bytes -> (bytes of length prefix, or fixed size), for walking a frame msgspec refused
_FIXED = {0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
          0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
_SIZED = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}  # bin, str: length then bytes
_EXT = {0xc7: 1, 0xc8: 2, 0xc9: 4}  # length, type byte, bytes
_ARRAY = {0xdc: 2, 0xdd: 4}
_MAP = {0xde: 2, 0xdf: 4}


def _top_level_scalars(payload: bytes) -> dict:
    """`req_id` and `op` of a top-level msgpack map, when scalars, found without recursion
    (the frame may nest deeper than any decoder goes), up to where it is unreadable."""
    found = {}
    try:
        b = payload[0]
        if 0x80 <= b <= 0x8f:
            pairs, pos = b & 0x0f, 1
        elif b in _MAP:
            n = _MAP[b]
            pairs, pos = int.from_bytes(payload[1:1 + n], "big"), 1 + n
        else:
            return found
        for _ in range(pairs):
            key_start = pos
            pos = _skip(payload, pos)
            value_start = pos
            pos = _skip(payload, pos)
            key = payload[key_start:value_start]
            if len(key) <= 9 and not _is_container(payload[value_start]):
                name = msgspec.msgpack.decode(key)
                if name in ("req_id", "op"):
                    found[name] = msgspec.msgpack.decode(payload[value_start:pos])
    except (IndexError, msgspec.DecodeError, UnicodeDecodeError):
        pass  # what came before the unreadable (or too long) rest still answers
    return found


def _is_container(b: int) -> bool:
    return 0x80 <= b <= 0x9f or b in _ARRAY or b in _MAP


def _decode_generic(payload: bytes):
    """msgspec's generic decode, its depth bounded by CPython's default recursion limit."""
    limit = sys.getrecursionlimit()
    if limit <= SAFE_RECURSION_LIMIT:
        return msgspec.msgpack.decode(payload)
    try:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
    except RecursionError:
        raise RecursionError("called too deep to decode safely") from None
    try:
        return msgspec.msgpack.decode(payload)
    finally:
        sys.setrecursionlimit(limit)


def _skip(data: bytes, pos: int) -> int:
    """The offset just past the msgpack object at pos; containers counted, never recursed;
    IndexError past MAX_WALK_ITEMS objects."""
    open_ = [1]  # objects still to read at each open container level
    walked = 0
    while open_:
        if not open_[-1]:
            open_.pop()
            continue
        walked += 1
        if walked > MAX_WALK_ITEMS:
            raise IndexError("too many objects to walk")
        open_[-1] -= 1
        b = data[pos]
        pos += 1
        children = 0
        if b <= 0x7f or b >= 0xe0:
            continue
        if b <= 0x8f:
            children = 2 * (b & 0x0f)
        elif b <= 0x9f:
            children = b & 0x0f
        elif b <= 0xbf:
            pos += b & 0x1f
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED:
            n = _SIZED[b]
            pos += n + int.from_bytes(data[pos:pos + n], "big")
        elif b in _EXT:
            n = _EXT[b]
            pos += n + 1 + int.from_bytes(data[pos:pos + n], "big")
        elif b in _ARRAY:
            n = _ARRAY[b]
            children = int.from_bytes(data[pos:pos + n], "big")
            pos += n
        elif b in _MAP:
            n = _MAP[b]
            children = 2 * int.from_bytes(data[pos:pos + n], "big")
            pos += n
        else:
            raise IndexError(f"msgpack type byte {b:#x} is reserved")
        if pos > len(data):
            raise IndexError("truncated")
        if b <= 0x9f or b in _ARRAY or b in _MAP:
            open_.append(children)
    return pos
