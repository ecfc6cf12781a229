"""Poloniex request signing: base64(HMAC-SHA256(secret, "METHOD\\n/path\\n" + params)).

params is `requestBody=<the exact body bytes>&signTimestamp=<ts>` when the
request has a body, else the query parameters plus signTimestamp, sorted by
key and url-encoded. The URL keeps its own parameter order and never carries
signTimestamp (it travels as a header), so the verifier must rebuild and sort.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, quote

WS_SIGN_PATH = "/ws"


def sign_params(query: str, body: bytes, timestamp_ms: int | str) -> str:
    if body:
        return f"requestBody={body.decode()}&signTimestamp={timestamp_ms}"
    pairs = parse_qsl(query, keep_blank_values=True) + [("signTimestamp", str(timestamp_ms))]
    pairs.sort(key=lambda kv: kv[0])
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def signature(secret: str, method: str, path: str, params: str) -> str:
    payload = f"{method.upper()}\n{path}\n{params}".encode()
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def sign_request(secret: str, method: str, target: str, body: bytes, timestamp_ms: int | str) -> str:
    """target is the path with its query, as it goes on the request line."""
    path, _, query = target.partition("?")
    return signature(secret, method, path, sign_params(query, body, timestamp_ms))


def ws_signature(secret: str, timestamp_ms: int | str) -> str:
    return signature(secret, "GET", WS_SIGN_PATH, f"signTimestamp={timestamp_ms}")
