"""BSX's wire, translated: amounts, the client order id the venue takes, the JSON header."""
from __future__ import annotations

import hashlib
import re

from gateway._core.fixedpoint import parse_scaled
from gateway.orders.model import SCALE
from gateway.venues.bsx import schemas

JSON = b"Content-Type: application/json\r\n"
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def e18(text: str, signed: bool = False) -> int:
    return parse_scaled(text, SCALE, signed=signed)


def venue_client_id(order_id: str) -> str:
    """At most 32 letters and digits, one per gateway order id: the id with every other
    character turned into "x" (ids are hex and digits, so this stays unique), or a 32-hex
    digest of it when longer."""
    cid = _NOT_ALNUM.sub("x", order_id)
    if len(cid) > schemas.CLIENT_ORDER_ID_MAX:
        cid = hashlib.blake2b(order_id.encode(), digest_size=16).hexdigest()
    return cid
