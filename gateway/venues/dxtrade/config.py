from __future__ import annotations

from gateway.venues.config import VenueConfig


class DxtradeConfig(VenueConfig, tag="dxtrade", frozen=True, forbid_unknown_fields=True):
    """Devexperts DXtrade REST, `dxsca-web` (seed 003). A session token from
    `POST /dxsca-web/login`; no request signing.

    The username and password are secrets: files of mode 0600
    (`username_file`, `password_file`) or environment variables
    (`username_env`, `password_env`); never here. `domain` and `account` are
    not secret. The venue's default trading limit is 1 request/s per session:
    set rate_limit_per_s = 1 against the real venue.

    Order changes: the push API's wire format is in neither the seed nor the
    notes, so the adapter polls `GET .../orders` every `poll_interval_ms`.
    """
    username_file: str = ""
    password_file: str = ""
    username_env: str = ""
    password_env: str = ""
    # simulators only: make throwaway credentials on first run
    generate_credentials: bool = False
    domain: str = "default"
    account: str = "default:sim"
    poll_interval_ms: int = 100
    # keep-alive well inside the session timeout the login returns
    ping_interval_secs: float = 60.0
    # how often a ping checks the venue is there (no stream would say it went away): health
    health_interval_secs: float = 5.0
    # the simulator's trading limit per session (the venue's default is 1/s); 0: none
    sim_trade_limit_per_s: float = 1.0
