"""Bluefin Pro account stream: Bearer token on the upgrade, then one Subscribe."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.net.ws import ReconnectingStream
from gateway.venues.bluefin import schemas

_SUBSCRIBE = schemas.encoder.encode(schemas.Subscribe(method="Subscribe", dataStreams=schemas.DATA_STREAMS))


def account_stream(url: str, *, headers: Callable[[bool], Awaitable[dict[str, str]]],
                   on_message: Callable[[bytes], None],
                   on_up: Callable[[], Awaitable[None]] | None = None) -> ReconnectingStream:
    def subscribe(stream: ReconnectingStream) -> None:
        stream.send(_SUBSCRIBE)

    return ReconnectingStream("bluefin", url, on_message, on_open=subscribe, on_up=on_up, headers=headers)
