"""BSX orders channel: HMAC auth, subscribe, the venue's ping every 15 s.
The stream counts as up when the subscription's snapshot arrives (the adapter
sets it): that is when it is in step with the venue."""
from __future__ import annotations

import time
from collections.abc import Callable

from gateway.net.ws import ReconnectingStream
from gateway.venues.bsx import schemas
from gateway.venues.bsx.signing import ws_auth_signature

_PING = b'{"op":"ping"}'


def order_stream(url: str, credentials: Callable[[], tuple[str, str]], on_message: Callable[[bytes], None], *,
                 ping_secs: float = 15.0) -> ReconnectingStream:
    """credentials() gives the current (api_key, api_secret): a renewed key signs the next auth."""
    def auth_and_subscribe(stream: ReconnectingStream) -> None:
        api_key, api_secret = credentials()
        ts = str(time.time_ns())
        stream.send(schemas.encoder.encode({"op": "auth", "data": {
            "key": api_key, "timestamp": ts, "signature": ws_auth_signature(api_secret, api_key, ts)}}))
        # the venue handles a connection's frames in order: the sub follows the auth
        stream.send(schemas.encoder.encode({"op": "sub", "channel": schemas.ORDERS_CHANNEL}))

    return ReconnectingStream("bsx", url, on_message, on_open=auth_and_subscribe, ping=_PING,
                              ping_secs=ping_secs, up_on_open=False)
