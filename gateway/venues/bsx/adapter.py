"""BSX adapter: EIP-712 signed orders over REST (API key headers), order
updates on the authenticated `orders` WS channel.

The adapter holds the request methods the venue line calls (place, cancel,
cancel_all), the batches it hands over, and the signed create; the rest lives
beside it:

- replies.py: the venue's replies to those requests;
- api_key.py: the REST headers, the key's wallet, its renewal ahead of expiry;
- events.py: the `orders` channel (snapshot and updates) and any order view
  the REST API gives, applied to the tracker;
- queries.py: one order by venue id or nonce (look-ups), a product's cancel-all;
- account.py: the account's positions (GET /portfolio/detail), for the drift check;
- signing.py, ws.py, wire.py: the EIP-712 order, the channel's auth, amounts and ids;
- reference.py: the public product list and prices (polled).

Batching. The outbound line (gateway/venues/outbound.py) hands over the
creates and cancels (of orders the venue has named) due together at the head
of the line as one POST /orders/batch (at most `max_batch`), a lone one as its
own request: what arrived together leaves together, and a lone order is never
delayed. Until it leaves, a create is in the line like any other: its cancel
takes it back and the venue never hears of it.

Client order ids. BSX takes at most 32 letters and digits (wire.venue_client_id,
from the gateway's order id). Stream events are mapped back by venue id, nonce
or that client id.
"""
from __future__ import annotations

from functools import partial

from gateway._core.fixedpoint import format_scaled
from gateway.net.http import HttpClient, Response
from gateway.net.ws import ReconnectingStream
from gateway.orders.model import SCALE, Order, OrderType, Side
from gateway.orders.tracker import Tracker
from gateway.venues.base import Capabilities, VenueAdapter, VenueError
from gateway.venues.bsx import schemas
from gateway.venues.bsx.account import positions_of
from gateway.venues.bsx.api_key import ApiKey
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.bsx.credentials import Credentials, load_credentials, renewed_key_path
from gateway.venues.bsx.events import OrderEvents
from gateway.venues.bsx.queries import OrderQueries
from gateway.venues.bsx.reference import BsxReference
from gateway.venues.bsx.replies import CANCEL, CREATE, Replies
from gateway.venues.bsx.signing import BsxSigner, domain
from gateway.venues.bsx.venue_data import BsxVenueData
from gateway.venues.bsx.wire import JSON, venue_client_id
from gateway.venues.bsx.ws import order_stream
from gateway.venues.requests import Cancel, Place, VenueRequest

__all__ = ["BsxAdapter", "venue_client_id"]

_BATCH = "POST /orders/batch"


class BsxAdapter(VenueAdapter):
    # the quote a unified symbol without one names: its perpetuals settle in USDC
    default_quote = "USDC"
    capabilities = Capabilities(stop_orders=True, reduce_only=True, cancel_all=True, batch_cancel=True,
                                cancel_replace=False, modify=False)
    venue_data_type = BsxVenueData

    def __init__(self, config: BsxConfig, tracker: Tracker, metrics=None, *,
                 credentials: Credentials | None = None):
        super().__init__(config, tracker, metrics)
        self.config: BsxConfig = config
        self.open_nonces(config.nonce_file, "ns")
        self.account = config.wallet
        self.sign: BsxSigner | None = None
        self.http: HttpClient | None = None
        self.stream: ReconnectingStream | None = None
        journal = tracker.journal
        self.key = ApiKey(self, credentials or load_credentials(config),
                          renewed_key_path(config, journal.path if journal is not None else None))
        self.events = OrderEvents(self)
        self.queries = OrderQueries(self)
        self.replies = Replies(self)
        self.reference = BsxReference(self)
        self.max_batch = config.max_batch
        self.batches_sent = 0

    # lifecycle

    async def start(self) -> None:
        if not self.config.rest_url or not self.config.ws_url:
            raise VenueError("config", f"venue {self.name}: rest_url and ws_url are required")
        self.http = self.http_client(self.config.rest_url)
        dom = domain(self.config.domain_name, self.config.domain_version, self.config.chain_id,
                     self.config.verifying_contract)
        if self.config.fetch_chain_config:
            response = await self.http.request("GET", "/chain/configs", b"", JSON)
            if response.status != 200:
                raise VenueError("venue_error", f"{self.name} GET /chain/configs: {self.error_text(response)}")
            main = schemas.chain_configs_decoder.decode(response.body).main
            dom = domain(main.name, main.version, int(main.chain_id), main.verifying_contract)
        await self.key.learn_wallet()
        self.sign = BsxSigner(self.key.creds.signer, self.account, dom)
        self.key.start()
        self.stream = order_stream(self.config.ws_url, self.key.credentials, self.events.on_ws,
                                   ping_secs=self.config.ws_ping_secs)
        await self.stream.start()
        self.connected = True

    async def stop(self) -> None:
        self.key.stop()
        await super().stop()

    # the API key (api_key.py)

    @property
    def creds(self) -> Credentials:
        return self.key.creds

    @property
    def key_expires_ns(self) -> int:
        return self.key.expires_ns

    @property
    def key_renewals(self) -> int:
        return self.key.renewals

    async def renew_api_key(self) -> None:
        await self.key.renew()

    # reference data (reference.py)

    async def list_instruments(self):
        return await self.reference.list_instruments()

    async def fetch_quotes(self, listings):
        return await self.reference.fetch_quotes(listings)

    # what the venue says of orders (events.py, queries.py)

    def error_words(self, response: Response) -> str | None:
        error = schemas.error_decoder.decode(response.body)
        return f"{error.message or 'error'} (code {error.code})" if error.code else error.message

    async def lookup(self, order: Order) -> str:
        return await self.queries.lookup(order)

    async def reconcile(self, orders: list[Order]) -> None:
        """Every (re)subscribe brings the snapshot of the open orders (events.py): nothing to ask
        here. The positions' drift check is told, as after each snapshot."""
        if self.reconciled is not None:
            self.reconciled(self)

    async def fetch_account_positions(self) -> dict[str, int]:
        response = await self.http.request("GET", schemas.PORTFOLIO_PATH, b"", self.key.headers)
        if response.status != 200:
            raise VenueError("venue_error", f"GET {schemas.PORTFOLIO_PATH}: {self.error_text(response)}")
        return positions_of(response.body, {int(inst.product_id): symbol
                                            for symbol, inst in self.instruments.items()})

    async def cancel_product(self, symbol: str) -> list[str]:
        return await self.queries.cancel_product(symbol)

    # requests and batches

    async def _send(self, method: str, path: str, body, on_reply) -> None:
        reply = await self.http.send(method, path, body, self.key.headers)
        reply.add_done_callback(on_reply)

    def batch_key(self, request: VenueRequest) -> str | None:
        kind = type(request)
        if kind is Place or (kind is Cancel and request.order.venue_order_id is not None):
            return _BATCH
        return None  # a cancel of an order not named yet waits for its name (defer)

    def batch_weight(self, key: str, requests: list[VenueRequest]) -> float:
        # an assumption: BSX's docs (seed 001) say nothing of how its rate limit counts a batch;
        # taken as the one request it is, as the HTTP client counted it before the line did
        return 1

    async def send_batch(self, key: str, requests: list[VenueRequest]) -> None:
        # a cancel whose order closed while it waited (the channel said so) has nothing to send
        ops = [(CREATE if type(r) is Place else CANCEL, r.order) for r in requests
               if type(r) is Place or not r.order.is_closed]
        if ops:
            await self._send_batch(ops)

    async def _send_batch(self, ops: list[tuple[str, Order]]) -> None:
        def body() -> bytes:
            data = []
            for kind, order in ops:
                if kind == CREATE:
                    data.append(schemas.BatchOp("CREATE", create_order_request=self._create(order)))
                else:
                    data.append(schemas.BatchOp("CANCEL", cancel_request=schemas.CancelRequest(
                        order_id=order.venue_order_id)))
            return schemas.encoder.encode(schemas.Batch(data))

        self.batches_sent += 1
        await self._send("POST", "/orders/batch", body, partial(self.replies.batch, ops))

    # orders

    def _create(self, order: Order) -> schemas.CreateOrder:
        """Nonce and signature made here, when the request is about to be written."""
        create = self.timed_sign(self._signed_create, order)
        self.stamp_sent(order)
        return create

    def _signed_create(self, order: Order) -> schemas.CreateOrder:
        """The body's decimal strings and the signed e18 integers come from the same ints
        (order.price, order.quantity), so they cannot disagree."""
        nonce = self.assign_nonce(order)
        index = int(self.instruments[order.symbol].product_id)
        side = schemas.ORDER_SIDE["BUY" if order.side is Side.BUY else "SELL"]
        if order.stop_price is not None:
            kind = schemas.ORDER_TYPE["STOP"]
        elif order.type is OrderType.MARKET:
            kind = schemas.ORDER_TYPE["MARKET"]
        else:
            kind = schemas.ORDER_TYPE["LIMIT"]
        price = order.price or 0
        signature = self.sign.sign_order(order.quantity, price, nonce, index, side)
        return schemas.CreateOrder(
            side="BUY" if side == 0 else "SELL", type=kind, product_index=index,
            price=format_scaled(price, SCALE), size=format_scaled(order.quantity, SCALE),
            post_only=order.post_only, reduce_only=order.reduce_only,
            time_in_force=order.tif.value.upper(), expired_at=0, nonce=nonce, signature=signature,
            client_order_id=venue_client_id(order.order_id),  # from the gateway's id: unique across strategies
            stop_price=None if order.stop_price is None else format_scaled(order.stop_price, SCALE),
        )

    def check_new(self, order: Order) -> None:
        if order.stop_price is not None and order.type is OrderType.MARKET:
            raise VenueError("unsupported", f"{self.name} stop orders carry a limit price: give one")

    async def place(self, order: Order) -> None:
        await self._send_create(order)

    async def _send_create(self, order: Order) -> None:
        await self._send("POST", "/orders", lambda: schemas.encoder.encode(self._create(order)),
                         partial(self.replies.place, order))

    # cancels

    async def cancel(self, order: Order) -> None:
        if order.is_closed:
            return  # closed while the cancel waited (the channel said so): nothing to send
        if self.deferred_until_named(order, partial(self.cancel, order)):
            return
        await self._send_cancel(order)

    async def _send_cancel(self, order: Order) -> None:
        await self._send("DELETE", f"/order?order_id={order.venue_order_id}", b"",
                         partial(self.replies.cancel, order))

    async def cancel_all(self, orders: list[Order]) -> None:
        """One DELETE /orders for every order the venue has named; the rest wait for their id."""
        orders = [o for o in orders if not o.is_closed]  # closed while the cancel waited
        named = [o for o in orders if o.venue_order_id is not None]
        for order in orders:
            if order.venue_order_id is None:
                await self.cancel(order)
        if not named:
            return
        body = schemas.encoder.encode(schemas.CancelOrders(order_ids=[o.venue_order_id for o in named]))
        await self._send("DELETE", "/orders", body, partial(self.replies.cancel_many, named))
