"""TOML config -> frozen msgspec Structs.

Unknown keys are errors that name their path (`venues["citrex"].instrumnets`), so a
typo never silently falls back to a default. Units are in field names.
Secrets are never here: keys come from files (mode 0600) or the environment.
"""
from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import msgspec

from gateway.dropcopy.config import DropCopyConfig
from gateway.risk.config import STRATEGY_KEYS, RiskConfig
from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.poloniex.config import PoloniexConfig

VenueConfigs = Union[CitrexConfig, BsxConfig, PoloniexConfig, BluefinConfig, DxtradeConfig]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "gateway.toml"


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    socket_path: str = "/run/order-gateway/gateway.sock"
    socket_mode: int = 0o660
    # peers allowed on the socket (SO_PEERCRED); both empty: only the gateway's own uid
    allowed_uids: list[int] = []
    allowed_gids: list[int] = []
    # who may send an operator's requests (`gateway risk set-state`, `gateway reload`): root, the
    # gateway's own user, and these. Run strategies as other users (allowed_uids) so that none
    # can lift its own halt
    operator_uids: list[int] = []
    operator_gids: list[int] = []
    # no frame either way is larger (an `orders` reply above it comes in pages)
    max_frame_bytes: int = 1 << 20
    # a strategy holding more than this unread must keep getting it below its lowest within
    # slow_reader_secs (it reads slower than its events come), else it is disconnected
    max_outbound_buffer_bytes: int = 8 << 20
    # per-connection budgets (README "Strategy protocol: limits"): one client cannot hurt the others
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # connections one peer may hold: its uid, or its pid when it runs as the gateway's own uid.
    # One connection per strategy a process runs, plus a CLI or status one now and then, is far
    # below it; a process that leaks connections (a reconnect loop) holds 1/16 of max_connections
    max_connections_per_peer: Annotated[int, msgspec.Meta(ge=1)] = 64
    # a connection that has not said hello this long after connecting is closed (hello_timeout)
    hello_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 5_000
    listen_backlog: Annotated[int, msgspec.Meta(ge=1)] = 128
    max_bytes_before_hello: Annotated[int, msgspec.Meta(ge=64)] = 4096
    partial_frame_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    # requests of one connection handled per loop turn; the rest wait (the connection unread)
    max_requests_per_turn: Annotated[int, msgspec.Meta(ge=1)] = 256
    # unread replies above this: the connection's requests are not read, and the gateway hands the
    # socket more of its replies and events only as it drains, until it catches up
    reply_backpressure_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1 << 20
    # unread replies above reply_backpressure_bytes of which the strategy reads nothing for this
    # long: cut off
    slow_reader_secs: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # after each strategy request, keep the event loop spinning this long instead of sleeping
    # in epoll (0: off); costs a whole core while orders flow (README: busy polling)
    busy_poll_us: int = 0
    # after writing the acks of order requests, give the CPU up once (sched_yield) before the
    # venue work: the kernel wakes the strategy on the gateway's own CPU, where it would wait
    # for the signature and the venue write (README: Latency of the ack)
    yield_after_acks: bool = True


class OrdersConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Closed orders are kept (for late venue events, and so a client_order_id is not reused
    while they may arrive) up to the TTL or the count, whichever comes first."""
    closed_order_ttl_secs: int = 600
    max_closed_orders: int = 100_000


class JournalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Append-only order journal; empty path: none (orders are lost with the process)."""
    path: str = ""
    fsync: Literal["never", "batch", "always"] = "never"
    batch_ms: int = 10
    # rewritten online as a snapshot of the orders still kept once it grows past this (and past
    # twice its last snapshot), so it stays bounded without a restart
    compact_above_bytes: int = 64 * 1024 * 1024


class ShutdownConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """On SIGTERM: stop accepting, optionally cancel every open order and wait for
    the venues to confirm, up to the deadline; a second SIGTERM exits at once."""
    cancel_open_orders: bool = False
    deadline_secs: float = 10.0


class MetricsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    address: str = "127.0.0.1:9464"
    enabled: bool = False


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    venues: list[VenueConfigs]
    server: ServerConfig = ServerConfig()
    risk: RiskConfig = RiskConfig()
    orders: OrdersConfig = OrdersConfig()
    metrics: MetricsConfig = MetricsConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    journal: JournalConfig = JournalConfig()
    drop_copy: DropCopyConfig | None = None  # absent: no drop copy, nats-py never imported
    log_level: str = "info"

    def __post_init__(self) -> None:
        names = [v.name for v in self.venues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"venue names must be unique, repeated: {', '.join(dupes)}")
        if self.drop_copy is not None and not self.journal.path:
            raise ValueError("drop_copy needs [journal] path: after an outage it catches up from the journal")
        # a symbol the risk tables name is one a venue trades: a typo is an error, not a limit never applied
        self.risk.check_symbols({v.name: {*v.instruments, *v.symbols} for v in self.venues})


class ConfigError(ValueError):
    pass


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a TOML config; relative paths in it are made relative to the file."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}") from None
    return parse_config(raw, base_dir=p.resolve().parent, origin=str(p))


def parse_config(raw: bytes | str, *, base_dir: Path | None = None, origin: str = "<config>") -> Config:
    try:
        config = msgspec.toml.decode(raw, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_hint(_explain(_name_table_keys(str(exc), raw), raw))}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    return _resolve_paths(config, base_dir) if base_dir is not None else config


_AT = re.compile(r" - at `(\$[^`]*)`$")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\[\.\.\.\])")


def _name_table_keys(message: str, raw: bytes | str) -> str:
    """msgspec writes a key of a table of tables as `[...]` (`instruments[...].tick_sise`):
    name it (`instruments["ETH-PERP"]`). The culprit is the first key, in the file's order,
    whose entry alone fails with the same message (msgspec stops at the first error)."""
    match = _AT.search(message)
    if match is None or "[...]" not in match.group(1):
        return message
    path = match.group(1)
    try:
        data = msgspec.toml.decode(raw)
    except msgspec.DecodeError:
        return message
    named, node = "$", data
    for seg in _SEGMENT.finditer(path, 1):
        field, index, keys = seg.groups()
        try:
            if field is not None:
                node, named = node[field], f"{named}.{field}"
            elif index is not None:
                node, named = node[int(index)], f"{named}[{index}]"
            else:
                culprit = next((key for key in list(node) if _fails_alone(data, node, key, message)), None)
                if culprit is None:
                    return message
                for key in list(node):  # keep only the culprit, so a later `[...]` is found within it
                    if key != culprit:
                        del node[key]
                node, named = node[culprit], f'{named}["{culprit}"]'
        except (KeyError, IndexError, TypeError):
            return message
    return f"{message[:match.start(1)]}{named}{message[match.end(1):]}"


def _fails_alone(data: dict, table: dict, key: str, message: str) -> bool:
    """Whether the config, with `table` (a dict inside `data`) cut down to `key`, fails with
    `message`; `table` is as it was afterwards."""
    entries = list(table.items())
    table.clear()
    table[key] = dict(entries)[key]
    try:
        msgspec.convert(data, Config, builtin_types=(datetime.datetime, datetime.date, datetime.time),
                        str_keys=True)
        return False
    except msgspec.ValidationError as exc:
        return str(exc) == message
    finally:
        table.clear()
        table.update(entries)


_KIND_NAMES = tuple(sorted(t.__struct_config__.tag for t in VenueConfigs.__args__))
_VENUE_PATH = re.compile(r"\$\.venues\[(\d+)\]")


def _explain(message: str, raw: bytes | str) -> str:
    """msgspec's message with `$.venues[4]` spelled as the venue's name, and the valid kinds
    when the kind is what is wrong."""
    match = _VENUE_PATH.search(message)
    if match is None:
        return message
    index = int(match.group(1))
    try:
        table = msgspec.toml.decode(raw)["venues"][index]
        name = table.get("name") if isinstance(table, dict) else None
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
        name = None
    where = f'venues["{name}"]' if isinstance(name, str) else f"the {_ordinal(index + 1)} [[venues]] table"
    message = f"{message[:match.start()]}{where}{message[match.end():]}"
    if "`kind`" in message or message.endswith(".kind`"):
        message += f"; kind must be one of: {', '.join(_KIND_NAMES)}"
    return message


_UNKNOWN_IN_SYMBOL = re.compile(r"^Object contains unknown field `(\w+)` - at `\$\.risk\.(?:strategies\[[^]]*\]\.)?symbols")


def _hint(message: str) -> str:
    """A strategy-wide limit in a symbol's table: say where it goes."""
    match = _UNKNOWN_IN_SYMBOL.match(message)
    if match is not None and match.group(1) in STRATEGY_KEYS:
        message += (f"; {match.group(1)} counts all of a strategy's orders: set it in [risk] or "
                    "[risk.strategies.NAME]")
    return message


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _resolve(path: str, base_dir: Path) -> str:
    return path if not path or os.path.isabs(path) else str((base_dir / path).resolve())


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    server = msgspec.structs.replace(config.server, socket_path=_resolve(config.server.socket_path, base_dir))
    journal = msgspec.structs.replace(config.journal, path=_resolve(config.journal.path, base_dir))
    venues = []
    for venue in config.venues:
        # every *_file of every kind (keys, nonces, logins), so none lands beside the caller's cwd
        changes = {name: _resolve(getattr(venue, name), base_dir)
                   for name in venue.__struct_fields__ if name.endswith("_file")}
        venues.append(msgspec.structs.replace(venue, **changes))
    drop_copy = config.drop_copy
    if drop_copy is not None:
        drop_copy = msgspec.structs.replace(drop_copy, **{
            name: _resolve(getattr(drop_copy, name), base_dir)
            for name in drop_copy.__struct_fields__ if name.endswith("_file")})
    return msgspec.structs.replace(config, server=server, journal=journal, venues=venues, drop_copy=drop_copy)
