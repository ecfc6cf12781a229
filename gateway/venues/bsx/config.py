from __future__ import annotations

from gateway.venues.config import ApiKeyConfig


class BsxConfig(ApiKeyConfig, tag="bsx", frozen=True, forbid_unknown_fields=True):
    """BSX Exchange (seed 001). Three secrets, none of them here:

    - the API key and secret (REST headers bsx-key / bsx-secret, WS HMAC auth):
      files of mode 0600 (`api_key_file`, `api_secret_file`) or environment
      variables (`api_key_env`, `api_secret_env`);
    - the signer key, which signs orders for the main wallet (`signer_key_file`
      or `signer_key_env`).

    The API key expires: it is renewed 5 minutes before `expired_at` (as the
    official SDK does) and the new key and secret are saved, mode 0600, to the
    daemon's state directory ($STATE_DIRECTORY under systemd, else the
    journal's folder, else the nonce file's) as `<name>.renewed-api-key`; the
    configured key files or variables are never written (read-only systemd
    credentials stay as they are). The next start uses the saved renewal
    instead of the configured key it renews (a different configured key: the
    renewal is ignored). generate_key (simulators only) makes a throwaway
    signer key too.

    `wallet` is the main wallet (the orders' `sender`); empty: learned from
    `GET /users/api-key` at start. The EIP-712 domain comes from
    `GET /chain/configs` when `fetch_chain_config` (the official SDK does
    this); the fields below are the fallback. Nonces are nanoseconds.
    """
    signer_key_file: str = ""
    signer_key_env: str = ""
    wallet: str = ""
    nonce_file: str = ""
    fetch_chain_config: bool = True
    chain_id: int = 8453
    verifying_contract: str = "0x0000000000000000000000000000000000000000"
    domain_name: str = "BSX Mainnet"
    domain_version: str = "1"
    ws_ping_secs: float = 15.0
    # most creates/cancels one POST /orders/batch carries
    max_batch: int = 20
