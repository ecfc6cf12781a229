from __future__ import annotations

from gateway.venues.config import VenueConfig


class CitrexConfig(VenueConfig, tag="citrex", frozen=True, forbid_unknown_fields=True):
    """Citrex (seed 004). The key is the account's own secp256k1 key: it signs
    login, orders and cancels. Nonces are microseconds (the TypeScript SDK's
    unit; the venue only requires them unique and increasing)."""
    key_file: str = ""
    key_env: str = ""
    generate_key: bool = False  # the embedded default makes a throwaway key on first run
    nonce_file: str = ""
    sub_account_id: int = 0
    chain_id: int = 1329
    verifying_contract: str = "0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9"
    domain_name: str = "ciao"
    domain_version: str = "0.0.0"
    order_expiry_secs: int = 30 * 86400
    login_message: str = "I would like to log into ciao finance"
