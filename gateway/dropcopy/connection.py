"""nats-py connection options from `[drop_copy]`, shared by the publisher and the consumers."""
from __future__ import annotations

import ssl

from gateway.dropcopy.config import DropCopyConfig


def connect_options(cfg: DropCopyConfig, name: str) -> dict:
    options: dict = dict(servers=cfg.urls, name=name, connect_timeout=2)
    if cfg.creds_file:
        options["user_credentials"] = cfg.creds_file
    if cfg.nkey_file:
        options["nkeys_seed"] = cfg.nkey_file
    if cfg.tls_ca_file or cfg.tls_cert_file:
        ctx = ssl.create_default_context(cafile=cfg.tls_ca_file or None)
        if cfg.tls_cert_file:
            ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file or None)
        options["tls"] = ctx
    return options
