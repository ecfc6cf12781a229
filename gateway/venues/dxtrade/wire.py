"""DXtrade's wire, translated: amounts, times, statuses, error bodies, the order request.
Pure functions of their arguments (no session, no tracker): what every part of the adapter
reads and writes in the venue's terms."""
from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.decoding import DECODE_ERRORS
from gateway.net.http import Response
from gateway.orders.model import SCALE, Order, OrderType, Status
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.venue_data import DxtradeVenueData

P = schemas.PREFIX
JSON = b"Content-Type: application/json\r\n"
STATUS = {
    "WORKING": Status.OPEN,
    "FILLED": Status.FILLED,
    "CANCELED": Status.CANCELED,
    "CANCELLED": Status.CANCELED,
    "REJECTED": Status.REJECTED,
    "EXPIRED": Status.EXPIRED,
    # on their way: the venue has not decided yet
    "SENDING": None,
    "PENDING": None,
    "CANCELING": None,
}
# modify errors -> the codes strategies see
MODIFY_ERRORS = {
    (403, schemas.CONDITIONAL_REQUIRED): "conditional_required",
    (404, schemas.NOT_FOUND): "venue_order_not_found",
    (400, schemas.INCORRECT_REQUEST): "bad_request",
}


def e18(value: Decimal | None) -> int | None:
    return None if value is None else parse_scaled(format(value, "f"), SCALE)


def decimal(value: int) -> str:
    return format_scaled(value, SCALE)


def ts_ns(iso: str | None) -> int:
    if not iso:
        return time.time_ns()
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000
    except ValueError:
        return time.time_ns()


def if_match(etag: str) -> bytes:
    # no ETag known (the venue never gave one): sent without, the venue answers 403 code 99
    return f"If-Match: {etag}\r\n".encode() if etag else b""


def error(response: Response) -> schemas.Error:
    try:
        return schemas.error_decoder.decode(response.body)
    except DECODE_ERRORS:
        return schemas.Error()


def error_code(response: Response) -> int | None:
    try:
        return int(error(response).errorCode)
    except (TypeError, ValueError):
        return None


def order_request(order: Order, instrument: str, *, price: int | None = None,
                  quantity: int | None = None) -> schemas.OrderRequest:
    """The order as the venue takes it (a place, or the whole order again for a modify)."""
    price = order.price if price is None else price
    if order.stop_price is not None:
        kind = "STOP_LIMIT" if order.type is OrderType.LIMIT else "STOP"
    else:
        kind = "LIMIT" if order.type is OrderType.LIMIT else "MARKET"
    return schemas.OrderRequest(
        orderCode=order.order_id, type=kind, instrument=instrument,
        quantity=decimal(order.quantity if quantity is None else quantity),
        side=order.side.value.upper(), tif=order.tif.value.upper(),
        positionEffect=DxtradeVenueData.read(order).position_effect or "OPEN",
        limitPrice=None if price is None or order.type is OrderType.MARKET else decimal(price),
        stopPrice=None if order.stop_price is None else decimal(order.stop_price),
    )
