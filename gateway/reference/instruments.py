"""A venue's instrument list, and the check of the configured instruments against it.

Each adapter reads its venue's public list (`VenueAdapter.list_instruments`) into Listings.
The configured instruments are held to it: the product exists, it is the market the unified
symbol names, and tick, lot and minimum size agree. A config stricter than the venue (a
tick or lot that is a multiple of the venue's, a larger minimum) is allowed and logged. A
symbol given without its block (`symbols = [...]`) is filled from the listing."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from gateway._core.fixedpoint import format_scaled, parse_scaled
from gateway.venues.config import InstrumentConfig

SCALE = 18

TRADING = "trading"
HALTED = "halted"  # listed, but not taking orders (a venue's halt, post-only, settlement)
DELISTED = "delisted"  # no longer in the venue's list
STATUSES = (TRADING, HALTED, DELISTED)


class Listing(NamedTuple):
    """One instrument as the venue lists it. Sizes are e18 ints."""
    product_id: int | str  # what orders carry: the id the config's product_id names
    venue_symbol: str  # the venue's own name for it
    base: str  # base asset, upper case ("ETH")
    quote: str  # quote or settlement asset, upper case ("USDT")
    tick: int
    lot: int
    min_quantity: int
    status: str = TRADING


class InstrumentMismatch(ValueError):
    """The config names a market the venue does not have, or not as configured."""


def unified_parts(symbol: str) -> tuple[str, str | None]:
    """A unified symbol's base and quote: "ETH-PERP" -> ("ETH", None) (a perpetual, or the
    base's market in the venue's own quote), "ETH-USDT" or "ETH/USDT" -> ("ETH", "USDT")."""
    base, sep, rest = symbol.replace("/", "-").partition("-")
    rest = rest.upper()
    return base.upper(), (None if not sep or rest in ("PERP", "PERPETUAL", "SWAP") else rest)


def names(symbol: str, listing: Listing) -> bool:
    """Whether the venue's listing is the market the unified symbol names."""
    if listing.venue_symbol.upper() == symbol.upper():
        return True
    base, quote = unified_parts(symbol)
    return listing.base == base and (quote is None or listing.quote == quote)


def find_for_symbol(venue: str, symbol: str, listings: list[Listing], default_quote: str = "") -> Listing:
    """The listing a symbol given without its product id means; an error naming the candidates
    when none or several do."""
    exact = [x for x in listings if x.venue_symbol.upper() == symbol.upper()]
    if len(exact) == 1:
        return exact[0]
    candidates = [x for x in listings if names(symbol, x)]
    if default_quote and unified_parts(symbol)[1] is None:
        # the default quote's market only: with it delisted, ETH-PERP must not fall to ETH_BTC
        candidates = [x for x in candidates if x.quote == default_quote.upper()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InstrumentMismatch(f"venue {venue}: symbol {symbol}: the venue lists no such market")
    listed = ", ".join(f"{x.venue_symbol} (product_id {x.product_id!r})" for x in candidates)
    raise InstrumentMismatch(f"venue {venue}: symbol {symbol}: several markets match ({listed}); "
                             f"give its product_id in [venues.instruments.{symbol}]")


def _same_id(a: int | str, b: int | str) -> bool:
    return str(a) == str(b)


def check_instrument(venue: str, symbol: str, configured: InstrumentConfig, listings: list[Listing],
                     stricter: list[str], default_quote: str = "") -> Listing:
    """The listing of a configured instrument; InstrumentMismatch naming the venue, the symbol,
    the field and both values when it is not the venue's. Fields where the config is stricter
    than the venue (allowed) are added to `stricter` as messages. On a venue with a
    default_quote, a symbol without a quote ("ETH-PERP") names the base's market in that quote
    only: ETH_BTC's product id under ETH-PERP is the wrong market."""
    listing = next((x for x in listings if _same_id(x.product_id, configured.product_id)), None)
    if listing is None:
        raise InstrumentMismatch(f"venue {venue}: symbol {symbol}: product_id {configured.product_id!r} "
                                 f"is not listed by the venue")
    if not names(symbol, listing) or (
            default_quote and unified_parts(symbol)[1] is None and listing.venue_symbol.upper() != symbol.upper()
            and listing.quote != default_quote.upper()):
        hint = ""
        try:
            hint = f" ({symbol} is product_id {find_for_symbol(venue, symbol, listings, default_quote).product_id!r})"
        except InstrumentMismatch:
            pass
        raise InstrumentMismatch(
            f"venue {venue}: symbol {symbol}: product_id {configured.product_id!r} is the venue's "
            f"{listing.venue_symbol} ({listing.base}/{listing.quote}), not {symbol}{hint}")
    for field, ours_text, theirs, rule in (
            ("tick_size", configured.tick_size, listing.tick, "multiple"),
            ("lot_size", configured.lot_size, listing.lot, "multiple"),
            ("min_quantity", configured.min_quantity, listing.min_quantity, "at_least")):
        ours = parse_scaled(ours_text, SCALE)
        if field == "min_quantity":
            # a minimum of "0" (the config's default, or a venue that lists none) is one lot: the
            # smallest quantity there is
            ours = ours or parse_scaled(configured.lot_size, SCALE)
            theirs = theirs or listing.lot
        if ours == theirs:
            continue
        allowed = (ours % theirs == 0) if rule == "multiple" and theirs else (ours >= theirs)
        both = f"config {ours_text}, venue {format_scaled(theirs, SCALE)}"
        if not allowed:
            raise InstrumentMismatch(f"venue {venue}: symbol {symbol}: {field} differs: {both}")
        stricter.append(f"venue {venue}: symbol {symbol}: {field} is stricter than the venue's: {both}")
    return listing


def from_listing(listing: Listing) -> InstrumentConfig:
    """The instrument block a symbols-only config would have written."""
    return InstrumentConfig(product_id=listing.product_id, tick_size=format_scaled(listing.tick, SCALE),
                            lot_size=format_scaled(listing.lot, SCALE),
                            min_quantity=format_scaled(listing.min_quantity, SCALE))


class Resolved(NamedTuple):
    instruments: dict[str, InstrumentConfig]  # symbol -> the block to trade with
    listings: dict[str, Listing]  # symbol -> the venue's listing of it
    stricter: list[str]  # config stricter than the venue: logged, allowed


def resolve(venue: str, configured: dict[str, InstrumentConfig], symbols: list[str], listings: list[Listing],
            default_quote: str = "") -> Resolved:
    """Every symbol to trade (configured blocks, and symbols given alone) against the venue's
    list. Raises InstrumentMismatch on the first that is wrong."""
    instruments: dict[str, InstrumentConfig] = {}
    found: dict[str, Listing] = {}
    stricter: list[str] = []
    for symbol, block in configured.items():
        found[symbol] = check_instrument(venue, symbol, block, listings, stricter, default_quote)
        instruments[symbol] = block
    for symbol in symbols:
        if symbol in instruments:
            continue
        found[symbol] = listing = find_for_symbol(venue, symbol, listings, default_quote)
        instruments[symbol] = from_listing(listing)
    check_unique(venue, found)
    return Resolved(instruments, found, stricter)


def check_unique(venue: str, found: dict[str, Listing]) -> None:
    """Two of our symbols on one product would split its per-symbol limits (max_position) in two."""
    taken: dict[str, str] = {}
    for symbol, listing in found.items():
        other = taken.setdefault(str(listing.product_id), symbol)
        if other != symbol:
            raise InstrumentMismatch(f"venue {venue}: symbols {other} and {symbol} are both product_id "
                                     f"{listing.product_id!r} ({listing.venue_symbol}): trade it under one symbol")


def parse_size(text: str | int | float, *, scale_in: int | None = None) -> int:
    """A venue's size as an e18 int: a decimal string, or an integer scaled by 10**scale_in
    (e9 strings: scale_in=9). Raises ValueError on anything else."""
    if scale_in is not None:
        value = int(text)
        if value < 0:
            raise ValueError(f"negative size {text!r}")
        return value * 10 ** (SCALE - scale_in) if scale_in <= SCALE else value // 10 ** (scale_in - SCALE)
    if isinstance(text, float):
        text = repr(text)
    return parse_scaled(str(text), SCALE)


def scale_step(scale: int) -> int:
    """A number of decimal places as a step: 2 -> 0.01 (e18)."""
    if not 0 <= scale <= SCALE:
        raise ValueError(f"scale {scale} out of range")
    return 10 ** (SCALE - scale)


_T = TypeVar("_T")
_log = logging.getLogger("gateway.reference")


def readable(venue: str, items: Iterable[_T], make: Callable[[_T], Listing]) -> list[Listing]:
    """Each item of a venue's list made a Listing; one that cannot be read (sizes missing or not
    numbers) is left out with a warning, never guessed, and never takes the rest of the list with
    it (a symbol of ours left out this way is then refused as not listed, naming the venue)."""
    out = []
    for item in items:
        try:
            out.append(make(item))
        except (ValueError, TypeError, ArithmeticError) as exc:
            _log.warning("venue %s: an instrument of its list left out, unreadable: %s", venue, exc)
    return out
