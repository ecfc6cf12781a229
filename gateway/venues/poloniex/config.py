from __future__ import annotations

from gateway.venues.config import ApiKeyConfig


class PoloniexConfig(ApiKeyConfig, tag="poloniex", frozen=True, forbid_unknown_fields=True):
    """Poloniex spot v3 (seed 002): regular orders and smart (stop) orders.

    The API key and secret are files of mode 0600 (`api_key_file`,
    `api_secret_file`) or environment variables (`api_key_env`,
    `api_secret_env`), never this file. Instruments map unified symbols to the
    venue's: `product_id = "ETH_USDT"`. `recv_window_ms` > 0 sends the optional
    recvWindow header (the venue then refuses requests older than that with
    408); 0 leaves the venue's own one-minute validity.
    """
    recv_window_ms: int = 0
    account_type: str = "SPOT"
    ws_ping_secs: float = 30.0
