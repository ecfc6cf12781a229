"""DXtrade reference data: the instrument list and quotes, polled by REST with the session's
token (the platform asks it of every call). Which calls and fields are assumptions: see
schemas.py. The quote has no mark: the reference price is the mid."""
from __future__ import annotations

from urllib.parse import quote

from gateway.reference.instruments import HALTED, TRADING, Listing, readable
from gateway.venues.dxtrade import schemas
from gateway.venues.dxtrade.wire import P, e18
from gateway.venues.errors import VenueError

INSTRUMENTS_PATH = f"{P}/instruments/query?symbols={quote('*')}"
MARKET_DATA_PATH = f"{P}/marketdata"
# what the platform is taken to say of an instrument that trades; any other status is a halt
TRADING_STATUSES = frozenset({"TRADING", "OPEN", "ENABLED", "ACTIVE"})


def listing(instrument: schemas.Instrument) -> Listing:
    base, sep, quote_ccy = instrument.symbol.partition("/")
    tick, lot = e18(instrument.priceIncrement), e18(instrument.lotSize)
    minimum = lot if instrument.minOrderSize is None else e18(instrument.minOrderSize)
    if not tick or not lot or tick < 0 or lot < 0 or minimum <= 0:
        raise ValueError(f"instrument {instrument.symbol}: priceIncrement, lotSize and the minimum must be positive")
    status = instrument.tradingStatus
    return Listing(product_id=instrument.symbol, venue_symbol=instrument.symbol, base=base.upper(),
                   quote=(quote_ccy if sep else instrument.currency or "").upper(), tick=tick, lot=lot,
                   min_quantity=minimum,
                   status=TRADING if status is None or status.upper() in TRADING_STATUSES else HALTED)


async def _request(adapter, method: str, path: str, body: bytes = b"") -> bytes:
    """One public-data request on the adapter's market-data client, with the session's token;
    a 401 (the session expired) logs in again once and asks again."""
    http, session = adapter.market_data_http, adapter.session
    for attempt in (1, 2):
        token = session.token
        response = await http.request(method, path, body, session.auth)
        if response.status == 401 and attempt == 1:
            await session.login(token)
            continue
        if response.status != 200:
            raise VenueError("market_data", f"{method} {path} answered HTTP {response.status}")
        return response.body
    raise AssertionError("unreachable")


async def list_instruments(adapter) -> list[Listing]:
    reply = schemas.instruments_decoder.decode(await _request(adapter, "GET", INSTRUMENTS_PATH))
    return readable(adapter.name, reply.instruments, listing)


async def fetch_quotes(adapter, listings: dict[str, Listing]):
    """Our symbol -> (bid, ask, None), e18. A symbol the venue gives no quote for is left out."""
    ours = {str(x.product_id): s for s, x in listings.items()}
    body = schemas.encoder.encode(schemas.MarketDataRequest(
        account=adapter.account, symbols=list(ours), eventTypes=[schemas.EventType(type="Quote")]))
    reply = schemas.market_data_decoder.decode(await _request(adapter, "POST", MARKET_DATA_PATH, body))
    quotes = {}
    for event in reply.events:
        symbol = ours.get(event.symbol)
        if symbol is None or event.type != "Quote":
            continue
        bid, ask = e18(event.bid), e18(event.ask)
        if bid or ask:
            quotes[symbol] = (bid or None, ask or None, None)
    return quotes
