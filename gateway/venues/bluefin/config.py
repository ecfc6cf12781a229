from __future__ import annotations

from gateway.venues.config import VenueConfig


class BluefinConfig(VenueConfig, tag="bluefin", frozen=True, forbid_unknown_fields=True):
    """Bluefin Pro (seed 000). One secret, not here: the account's ed25519 key
    (32-byte seed as hex) in a 0600 `key_file` or in `key_env`. It signs the
    login and every order; the account address is derived from it (Sui:
    blake2b-256(0x00 ‖ pubkey)).

    The venue splits hosts by role: `auth_url` (/auth/...) and `api_url`
    (/v1/exchange/...) default to `rest_url` (the trade host). The IDS id the
    orders are signed for comes from GET /v1/exchange/info; `ids_id` is only
    the fallback when `fetch_exchange_info` is off.

    `market_ws_url`: the venue's public market-data stream (the official SDK's
    `wss://stream.api.sui-prod.bluefin.io/ws/market`; no login). Set, the
    reference prices follow each market's Ticker on it; empty, GET
    /v1/exchange/tickers is polled every `reference_poll_secs`. The simulator
    fills it with its own."""
    key_file: str = ""
    key_env: str = ""
    generate_key: bool = False  # simulators only: a throwaway key made on first run
    auth_url: str = ""
    api_url: str = ""
    market_ws_url: str = ""
    fetch_exchange_info: bool = True
    ids_id: str = ""
    leverage: str = "1"  # signed into every order (leverageE9)
    isolated: bool = False  # positionType ISOLATED, else CROSS
    order_expiry_secs: int = 30 * 86400
    # refresh the access token this long before it expires (capped at a fifth of its life)
    token_refresh_margin_secs: float = 60.0
