"""Citrex account stream: the session cookie on the upgrade, then a JSON-RPC subscribe."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.net.ws import ReconnectingStream
from gateway.venues.citrex import schemas


def order_stream(url: str, account: str, sub_account_id: int, *,
                 headers: Callable[[bool], Awaitable[dict[str, str]]],
                 on_message: Callable[[bytes], None],
                 on_up: Callable[[], Awaitable[None]] | None = None) -> ReconnectingStream:
    ids = iter(range(1, 1 << 62))

    def subscribe(stream: ReconnectingStream) -> None:
        stream.send(schemas.encoder.encode({
            "jsonrpc": "2.0", "id": str(next(ids)), "method": schemas.WS_SUBSCRIBE,
            "params": {"channel": schemas.ORDERS_CHANNEL, "account": account, "subAccountId": sub_account_id},
        }))

    return ReconnectingStream("citrex", url, on_message, on_open=subscribe, on_up=on_up, headers=headers)
