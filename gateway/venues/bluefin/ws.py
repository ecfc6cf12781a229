"""Bluefin Pro's streams: the account stream (Bearer token on the upgrade, then one
Subscribe) and the public market-data stream (no token; a Subscribe naming each market's
Ticker)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from gateway.net.ws import ReconnectingStream
from gateway.venues.bluefin import schemas

_SUBSCRIBE = schemas.encoder.encode(schemas.Subscribe(method="Subscribe", dataStreams=schemas.DATA_STREAMS))


def account_stream(url: str, *, headers: Callable[[bool], Awaitable[dict[str, str]]],
                   on_message: Callable[[bytes], None],
                   on_up: Callable[[], Awaitable[None]] | None = None) -> ReconnectingStream:
    def subscribe(stream: ReconnectingStream) -> None:
        stream.send(_SUBSCRIBE)

    return ReconnectingStream("bluefin", url, on_message, on_open=subscribe, on_up=on_up, headers=headers)


def ticker_subscription(markets: Iterable[str]) -> bytes:
    """One Subscribe for the Ticker stream of each market (the venue's symbols)."""
    return schemas.encoder.encode(schemas.MarketSubscribe(
        method="Subscribe",
        dataStreams=[schemas.MarketStreams(symbol=m, streams=[schemas.TICKER_STREAM]) for m in sorted(markets)]))


def market_stream(url: str, *, on_message: Callable[[bytes], None],
                  on_open: Callable[[ReconnectingStream], None]) -> ReconnectingStream:
    """Public: no headers. on_open subscribes what is wanted at that moment, so a reconnect
    asks again for everything."""
    return ReconnectingStream("bluefin-market", url, on_message, on_open=on_open)
