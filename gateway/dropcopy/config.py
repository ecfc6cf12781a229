"""`[drop_copy]`: where the gateway copies its order events, and who it is on the bus."""
from __future__ import annotations

import re
import socket

import msgspec

GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# NATS subject tokens: no whitespace, no '.', '*' or '>' inside a token
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_STREAM = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def default_gateway_id() -> str:
    """The host name's first label, with anything outside A-Za-z0-9_- made '-'."""
    name = socket.gethostname().split(".")[0] or "gateway"
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64]


class DropCopyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # one server, or several of one cluster (the client fails over between them)
    url: str | list[str] = "nats://127.0.0.1:4222"
    # created (file storage) when missing, never altered when present
    stream: str = "GATEWAY_ORDERS"
    subject_prefix: str = "gateway"
    gateway_id: str = ""  # empty: the host name
    # NATS credentials and TLS; empty: none
    creds_file: str = ""
    nkey_file: str = ""
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # events held in memory while NATS is slow or away; past it, the catch-up reads the journal
    max_buffer_events: int = 100_000
    batch_max_events: int = 1000  # events published before waiting for their acks
    # a batch waits this long for more events: per-batch costs (a write, the acks, the
    # journal's mark) paid once per many orders rather than once per order
    batch_linger_ms: int = 20
    ack_timeout_secs: float = 5.0
    # used only when the stream is created
    stream_replicas: int = 1
    duplicate_window_secs: int = 120
    # subscribe to {prefix}.control.{gateway_id} and {prefix}.control.all (halt, resume, cancel_all)
    control: bool = False

    def __post_init__(self) -> None:
        if self.gateway_id and not GATEWAY_ID.match(self.gateway_id):
            raise ValueError("drop_copy.gateway_id must be 1-64 characters of A-Z a-z 0-9 _ -")
        if self.gateway_id in ("control", "all"):
            raise ValueError(f"drop_copy.gateway_id may not be {self.gateway_id!r}: the control subjects use it")
        if not _PREFIX.match(self.subject_prefix):
            raise ValueError("drop_copy.subject_prefix must be dot-separated tokens of A-Z a-z 0-9 _ -")
        if not _STREAM.match(self.stream):
            raise ValueError("drop_copy.stream must be 1-255 characters of A-Z a-z 0-9 _ -")
        if not self.urls:
            raise ValueError("drop_copy.url must name at least one server")
        if self.max_buffer_events < 1 or self.batch_max_events < 1:
            raise ValueError("drop_copy.max_buffer_events and batch_max_events must be at least 1")
        if self.batch_linger_ms < 0:
            raise ValueError("drop_copy.batch_linger_ms must not be negative")
        if self.ack_timeout_secs <= 0:
            raise ValueError("drop_copy.ack_timeout_secs must be above zero")

    @property
    def urls(self) -> list[str]:
        return [self.url] if isinstance(self.url, str) else list(self.url)

    @property
    def gateway_name(self) -> str:
        return self.gateway_id or default_gateway_id()
