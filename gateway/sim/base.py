"""What every venue simulator offers besides its venue's protocol: the test
and demo hooks the contract suite and `gateway sim` use.

    rest_url, ws_url           where it listens, after `await start(host, port)`
    engine                     the shared MatchingEngine
    faults                     a Faults instance, flipped at run time
    await outside_trade(symbol, side, price, quantity)
                               a trader outside the gateway crosses the book
    await release_events()     deliver what faults.hold_events kept back
    await drop_streams()       close every WebSocket, as a venue restart would
    await stop()
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway._core.fixedpoint import parse_scaled


@dataclass
class Faults:
    reorder_ack: bool = False  # push the WS events first, then a REST reply as of acceptance
    duplicate_events: bool = False  # push every WS event twice
    hold_events: bool = False  # keep WS events back until release_events()
    reply_delay_ms: int = 0  # every REST reply waits this long (a slow venue)
    answer_429: int = 0  # the next N order requests get 429 with Retry-After: retry_after_s
    retry_after_s: int = 1
    held: list = field(default_factory=list)


def scaled(text: str) -> int:
    """A decimal string as the simulators' e18 integer."""
    return parse_scaled(text, 18)
