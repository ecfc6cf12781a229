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

    Reference prices follow the venue's public WebSocket (`public_ws_url`: its
    book_lv2 and ticker channels). Left out, it is ws_url with /ws/private made
    /ws/public: wss://ws.poloniex.com/ws/public for the venue, the simulator's
    own for a simulated venue (never the real venue's prices for a simulator's
    book). "" follows no stream: the tickers are polled every
    reference_poll_secs, as they are while the stream is down. The stream is
    pinged every reference_poll_secs (at most ws_ping_secs): each pong says the
    book held is still the venue's, so a price's age stays under that on a
    quiet market, and a stream that answers nothing for five pings (1 s at
    least) is dropped and reconnected.
    """
    recv_window_ms: int = 0
    account_type: str = "SPOT"
    ws_ping_secs: float = 30.0
    public_ws_url: str | None = None

    def market_data_ws_url(self) -> str:
        """The public stream's URL; "" when there is none (prices are polled)."""
        if self.public_ws_url is not None:
            return self.public_ws_url
        if self.ws_url.endswith("/ws/private"):
            return self.ws_url.removesuffix("/ws/private") + "/ws/public"
        return ""
