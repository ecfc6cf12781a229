"""Poloniex private stream: sign in on the `auth` channel, subscribe to
`orders` for every symbol, the venue's ping every 30 s. The stream counts as
up when the subscription is confirmed (the adapter sets it)."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from gateway.net.ws import ReconnectingStream
from gateway.venues.poloniex import schemas
from gateway.venues.poloniex.signing import ws_signature

_PING = b'{"event":"ping"}'


def order_stream(url: str, api_key: str, api_secret: str, on_message: Callable[[bytes], None], *,
                 on_up: Callable[[], Awaitable[None]] | None = None, ping_secs: float = 30.0) -> ReconnectingStream:
    def auth_and_subscribe(stream: ReconnectingStream) -> None:
        ts = str(time.time_ns() // 1_000_000)
        # as ccxt.pro sends it: the timestamp a string, the signature's method and version named
        stream.send(schemas.encoder.encode({"event": "subscribe", "channel": [schemas.AUTH_CHANNEL], "params": {
            "key": api_key, "signTimestamp": ts, "signature": ws_signature(api_secret, ts),
            "signatureMethod": schemas.SIGNATURE_METHOD, "signatureVersion": schemas.SIGNATURE_VERSION}}))
        # frames of one connection are handled in order: the subscribe follows the auth
        stream.send(schemas.encoder.encode({"event": "subscribe", "channel": [schemas.ORDERS_CHANNEL],
                                            "symbols": ["all"]}))

    return ReconnectingStream("poloniex", url, on_message, on_open=auth_and_subscribe, on_up=on_up,
                              ping=_PING, ping_secs=ping_secs, up_on_open=False)
