"""Reference data as the strategy protocol shows it: the `instruments` reply (`gateway
instruments`) and each venue's prices in the `status` reply."""
from __future__ import annotations

import time

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.ipc import frames as f
from gateway.reference.instruments import SCALE, Listing
from gateway.reference.prices import ReferencePrices


def _dec(value: int | None) -> str | None:
    return None if value is None else format_scaled(value, SCALE)


def price_status(venue, prices: ReferencePrices, now_ns: int | None = None) -> list[f.PriceStatus]:
    """Each symbol the venue trades (or was asked to): its prices and their age."""
    now_ns = time.monotonic_ns() if now_ns is None else now_ns
    out = []
    for symbol in sorted(venue.instruments.keys() | venue.unavailable.keys()):
        quote = prices.quote(venue.name, symbol)
        out.append(f.PriceStatus(
            symbol=symbol, unavailable=venue.unavailable.get(symbol),
            **({} if quote is None else dict(bid=_dec(quote.bid), ask=_dec(quote.ask), mark=_dec(quote.mark),
                                             age_s=round((now_ns - quote.received_ns) / 1e9, 3)))))
    return out


def _differences(block, listing: Listing) -> list[str]:
    out = []
    if str(block.product_id) != str(listing.product_id):
        out.append(f"product_id: config {block.product_id}, venue {listing.product_id}")
    for field, theirs in (("tick_size", listing.tick), ("lot_size", listing.lot),
                          ("min_quantity", listing.min_quantity)):
        ours = parse_scaled(getattr(block, field), SCALE)
        if field == "min_quantity":  # as the check compares them: a minimum of 0 is one lot
            ours, theirs = ours or parse_scaled(block.lot_size, SCALE), theirs or listing.lot
        if ours != theirs:
            stricter = (ours >= theirs) if field == "min_quantity" else (theirs and ours % theirs == 0)
            out.append(f"{field}: config {getattr(block, field)}, venue {format_scaled(theirs, SCALE)}"
                       + (" (stricter: allowed)" if stricter else ""))
    return out


def _view(listing: Listing, **extra) -> f.InstrumentView:
    return f.InstrumentView(venue_symbol=listing.venue_symbol, product_id=str(listing.product_id),
                            tick_size=format_scaled(listing.tick, SCALE), lot_size=format_scaled(listing.lot, SCALE),
                            min_quantity=format_scaled(listing.min_quantity, SCALE), status=listing.status, **extra)


def venue_instruments(venue, reference, prices: ReferencePrices) -> f.VenueInstruments:
    """One venue: our symbols as the venue lists them (with the config's differences and the
    reference prices), then the instruments it lists that we do not trade."""
    now = time.monotonic_ns()
    config = venue.config
    views, unchecked = [], []
    ours = [*config.instruments, *(s for s in config.symbols if s not in config.instruments)]
    listings = reference.listings if reference is not None else {}
    delisted = reference.delisted if reference is not None else {}
    for symbol in ours:
        listing = listings.get(symbol) or delisted.get(symbol)
        if listing is None:
            unchecked.append(symbol)
            continue
        quote = prices.quote(venue.name, symbol)
        block = config.instruments.get(symbol)
        views.append(_view(
            listing, symbol=symbol, differences=_differences(block, listing) if block is not None else [],
            from_venue=block is None, unavailable=venue.unavailable.get(symbol),
            **({} if quote is None else dict(bid=_dec(quote.bid), ask=_dec(quote.ask), mark=_dec(quote.mark),
                                             age_s=round((now - quote.received_ns) / 1e9, 3)))))
    if reference is not None:
        taken = {(str(x.product_id), x.venue_symbol) for x in listings.values()}
        views += [_view(x) for x in reference.venue_list if (str(x.product_id), x.venue_symbol) not in taken]
    checked = None if reference is None else reference.checked_ns
    return f.VenueInstruments(
        venue=venue.name, kind=type(config).__struct_config__.tag,
        listed=len(reference.venue_list) if reference is not None else 0,
        list_age_s=None if checked is None else round((time.time_ns() - checked) / 1e9, 3),
        errors=reference.errors if reference is not None else 0, instruments=views, unchecked=unchecked)


def instruments_reply(req_id: int, health, venue: str | None) -> f.InstrumentsReply:
    from gateway.validation import RequestError

    names = sorted(health.venues) if venue is None else [venue]
    if venue is not None and venue not in health.venues:
        raise RequestError("unknown_venue", f"no venue {venue!r}; configured: {', '.join(sorted(health.venues))}")
    return f.InstrumentsReply(req_id=req_id, venues=[
        venue_instruments(health.venues[name], health.references.get(name), health.reference) for name in names])
