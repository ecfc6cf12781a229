"""Each adapter's venue data (Order.venue_data) through the journal: written by field
name, replayed as a plain dict, and made the adapter's venue data again when the adapter is
made; a fresh adapter finds a restored order at the venue by the nonce it journaled."""
from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiohttp import web

from gateway.orders.journal import Journal, replay
from gateway.orders.records import encoder, venue_record
from gateway.orders.model import Order, OrderType, Side, Status, TimeInForce
from gateway.orders.tracker import Tracker
from gateway.signer import Signer
from gateway.venues.bluefin.adapter import BluefinAdapter
from gateway.venues.bluefin.config import BluefinConfig
from gateway.venues.bluefin.venue_data import BluefinVenueData
from gateway.venues.bluefin.signing import Ed25519Key
from gateway.venues.bsx import credentials as bsx_credentials
from gateway.venues.bsx.adapter import BsxAdapter
from gateway.venues.bsx.config import BsxConfig
from gateway.venues.bsx.venue_data import BsxVenueData
from gateway.venues.citrex.adapter import CitrexAdapter
from gateway.venues.citrex.config import CitrexConfig
from gateway.venues.citrex.venue_data import CitrexVenueData
from gateway.venues.config import InstrumentConfig
from gateway.venues.dxtrade import credentials as dx_credentials
from gateway.venues.dxtrade.adapter import DxtradeAdapter
from gateway.venues.dxtrade.config import DxtradeConfig
from gateway.venues.dxtrade.venue_data import DxtradeVenueData
from gateway.venues.poloniex import credentials as polo_credentials
from gateway.venues.poloniex.adapter import PoloniexAdapter
from gateway.venues.poloniex.config import PoloniexConfig
from gateway.venues.poloniex.venue_data import PoloniexVenueData
from gateway.venues.resolver import FOUND

E18 = 10**18


class _Quiet:
    def order_changed(self, order, new_fills):
        pass

    def cancel_rejected(self, order, reason):
        pass


def _adapter(kind: str, tmp, tracker: Tracker, rest_url: str = ""):
    inst = {"ETH-PERP": InstrumentConfig(product_id="ETH-PERP" if kind in ("bluefin", "poloniex") else 1002,
                                         tick_size="0.1", lot_size="0.001")}
    if kind == "citrex":
        return CitrexAdapter(CitrexConfig(name=kind, nonce_file=f"{tmp}/cn", instruments=inst, rest_url=rest_url),
                             tracker, signer=Signer(os.urandom(32)))
    if kind == "bsx":
        creds = bsx_credentials.Credentials("k", "s", Signer(os.urandom(32)))
        return BsxAdapter(BsxConfig(name=kind, nonce_file=f"{tmp}/bn", instruments=inst, rest_url=rest_url),
                          tracker, credentials=creds)
    if kind == "bluefin":
        return BluefinAdapter(BluefinConfig(name=kind, instruments=inst), tracker, key=Ed25519Key(os.urandom(32)))
    if kind == "dxtrade":
        return DxtradeAdapter(DxtradeConfig(name=kind, account="acc", instruments=inst), tracker,
                              credentials=dx_credentials.Credentials("u", "p"))
    return PoloniexAdapter(PoloniexConfig(name=kind, instruments=inst), tracker,
                           credentials=polo_credentials.Credentials("k", "s"))


# one per adapter, every field set, as the adapter would have it
VENUE_DATA = {
    "citrex": CitrexVenueData(nonce=1_700_000_000_123_456),
    "bsx": BsxVenueData(nonce=1_700_000_000_123_456_789),
    "bluefin": BluefinVenueData(price_e9=2_990_500_000_000, quantity_e9=1_000_000_000, trigger_e9=3_000_000_000_000,
                               market="ETH-PERP", acked=True),
    "dxtrade": DxtradeVenueData(version=7, group="OCO", parent="g-1", update_order_id=991, etag='"e-3"',
                               position_effect="CLOSE"),
    "poloniex": PoloniexVenueData(smart_id="3003", triggered=True),
}


def _order(tracker: Tracker, venue: str, cid: str) -> Order:
    return tracker.new_order(strategy="alpha", client_order_id=cid, venue=venue, symbol="ETH-PERP", side=Side.BUY,
                             type=OrderType.LIMIT, tif=TimeInForce.GTC, price=2990 * E18, quantity=E18)


def _journaled(path: str, venue: str, data, extra: dict | None = None) -> str:
    """An order of the venue with this venue data, journaled (a real Journal); returns its id."""
    journal = Journal(path)
    journal.open([])
    tracker = Tracker(_Quiet(), journal=journal)
    order = _order(tracker, venue, "c1")
    tracker.journal_sent(order)
    order.venue_data = data
    tracker.note_venue_data(order)
    if extra:
        # an older journal's map record, with keys the adapter's venue data no longer knows
        journal.add({"k": "V", "id": order.order_id, "vid": None, "data": extra})
    journal.close()
    return order.order_id


def _restored(path: str) -> Tracker:
    tracker = Tracker(_Quiet(), journal=None)
    tracker.restore(replay(Journal(path).read()))
    return tracker


@pytest.mark.parametrize("kind", sorted(VENUE_DATA))
def test_a_replayed_dict_becomes_the_adapters_venue_data_with_the_same_values(kind, tmp_path):
    data = VENUE_DATA[kind]
    path = str(tmp_path / "journal")
    order_id = _journaled(path, kind, data, extra={"retired_key": 5, "nonce_hex": "0x1"})
    tracker = _restored(path)
    replayed = tracker.get(order_id).venue_data
    # the journal's contract: a plain dict of the set fields by name (old keys included)
    fields = {f: getattr(data, f) for f in data.__struct_fields__}
    assert replayed == {**fields, "retired_key": 5, "nonce_hex": "0x1"}
    # another venue's order is not this adapter's to convert
    other = _order(tracker, "elsewhere", "c2")
    other.venue_data = {"nonce": 1}
    adapter = _adapter(kind, tmp_path, tracker)
    restored = tracker.get(order_id).venue_data
    assert type(restored) is adapter.venue_data_type is type(data)
    assert restored == data
    assert other.venue_data == {"nonce": 1}


@pytest.mark.parametrize("kind", sorted(VENUE_DATA))
def test_unset_fields_are_not_journaled_and_come_back_unset(kind, tmp_path):
    data_type = type(VENUE_DATA[kind])
    first = data_type.__struct_fields__[0]
    data = data_type(**{first: getattr(VENUE_DATA[kind], first)})
    path = str(tmp_path / "journal")
    order_id = _journaled(path, kind, data)
    tracker = _restored(path)
    assert tracker.get(order_id).venue_data == {first: getattr(data, first)}
    _adapter(kind, tmp_path, tracker)
    assert tracker.get(order_id).venue_data == data


@pytest.mark.parametrize("kind", sorted(VENUE_DATA))
def test_venue_data_is_journaled_in_the_same_bytes_as_the_dict_it_replaced(kind):
    data = VENUE_DATA[kind]
    order = _order(Tracker(_Quiet()), kind, "c1")
    order.venue_data = data
    as_struct = encoder.encode(venue_record(order))
    order.venue_data = {f: getattr(data, f) for f in data.__struct_fields__}
    assert as_struct == encoder.encode(venue_record(order))


def test_a_value_of_the_wrong_type_is_dropped_alone():
    data = DxtradeVenueData.from_journal({"version": "seven", "etag": '"e"', "group": "OCO", "old": 1})
    assert data == DxtradeVenueData(etag='"e"', group="OCO")


def test_an_order_journaled_without_venue_data_stays_without_any(tmp_path):
    path = str(tmp_path / "journal")
    journal = Journal(path)
    journal.open([])
    order_id = _order(Tracker(_Quiet(), journal=journal), "citrex", "c1").order_id
    journal.close()
    tracker = _restored(path)
    _adapter("citrex", tmp_path, tracker)
    assert tracker.get(order_id).venue_data is None


# ---------------------------------------------------------------- found again by the journaled nonce


async def _serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def _citrex_order(vid: str, nonce: int, status: str) -> dict:
    return {"id": vid, "productId": 1002, "account": "0x0", "subAccountId": 0, "isBuy": True, "orderType": 0,
            "timeInForce": 0, "price": str(2990 * E18), "quantity": str(E18), "nonce": nonce, "status": status,
            "residualQuantity": str(E18)}


def test_a_restored_citrex_order_is_found_by_its_journaled_nonce(tmp_path):
    nonce = VENUE_DATA["citrex"].nonce
    path = str(tmp_path / "journal")
    order_id = _journaled(path, "citrex", CitrexVenueData(nonce=nonce))
    asked = []

    async def handler(request):
        asked.append(request.path)
        if request.path == "/v1/session/login":
            return web.json_response({"success": True}, headers={"Set-Cookie": "connectedAddress=s1; Path=/"})
        if request.path != "/v1/orders" or request.cookies.get("connectedAddress") != "s1":
            return web.Response(status=404)
        # another order of the account first: only the nonce tells them apart (no venue id yet)
        return web.json_response([_citrex_order("V-other", nonce + 1, "CANCELLED"),
                                  _citrex_order("V-ours", nonce, "OPEN")])

    async def scenario():
        runner, url = await _serve(handler)
        tracker = _restored(path)
        adapter = _adapter("citrex", tmp_path, tracker, rest_url=url)
        adapter.http = adapter.http_client(url)
        try:
            await adapter._login()
            order = tracker.get(order_id)
            assert order.venue_order_id is None
            assert await adapter.lookup(order) == FOUND
            return order
        finally:
            await adapter.http.close()
            await runner.cleanup()

    order = asyncio.run(scenario())
    assert asked == ["/v1/session/login", "/v1/orders"]
    assert order.venue_order_id == "V-ours" and order.status is Status.OPEN


def test_a_restored_bsx_order_is_found_by_its_journaled_nonce(tmp_path):
    nonce = VENUE_DATA["bsx"].nonce
    path = str(tmp_path / "journal")
    order_id = _journaled(path, "bsx", BsxVenueData(nonce=nonce))
    asked = []

    async def handler(request):
        asked.append((request.path, dict(request.query)))
        if request.path == "/order" and request.query.get("nonce") == str(nonce):
            return web.Response(body=json.dumps({
                "id": "B-ours", "product_id": "1", "side": "BUY", "type": "LIMIT", "status": "OPEN",
                "price": "2990", "size": "1", "nonce": str(nonce), "client_order_id": "g-42"}),
                content_type="application/json")
        return web.Response(status=404)

    async def scenario():
        runner, url = await _serve(handler)
        tracker = _restored(path)
        adapter = _adapter("bsx", tmp_path, tracker, rest_url=url)
        adapter.http = adapter.http_client(url)
        try:
            order = tracker.get(order_id)
            assert await adapter.lookup(order) == FOUND
            return order
        finally:
            await adapter.http.close()
            await runner.cleanup()

    order = asyncio.run(scenario())
    assert asked == [("/order", {"nonce": str(nonce)})]
    assert order.venue_order_id == "B-ours" and order.status is Status.OPEN


@pytest.mark.parametrize("kind", ["citrex", "bsx"])
def test_the_nonce_is_journaled_when_the_order_is_signed(kind, tmp_path):
    """Before the request can leave: a crash that loses the reply still leaves the nonce to ask
    the venue by (the journal's flush comes before the HTTP client's writes)."""
    path = str(tmp_path / "j")
    journal = Journal(path)
    journal.open([])
    tracker = Tracker(_Quiet(), journal=journal)
    adapter = _adapter(kind, tmp_path, tracker)
    if kind == "bsx":
        adapter.instruments["ETH-PERP"] = InstrumentConfig(product_id=1, tick_size="0.1", lot_size="0.001")
    order = _order(tracker, kind, "c1")
    if kind == "citrex":
        adapter._order_body(order)
    else:
        from gateway.venues.bsx.signing import BsxSigner, domain

        # what start() sets from the venue's chain configs
        adapter.sign = BsxSigner(Signer(os.urandom(32)), "0x" + "11" * 20, domain("BSX", "1", 8453, "0x" + "22" * 20))
        adapter._create(order)
    journal.flush()
    nonce = order.venue_data.nonce
    assert nonce
    [back] = _restored(path).orders.values()
    assert back.venue_data["nonce"] == nonce  # as replayed, before an adapter takes it back


def test_a_poloniex_stop_order_replayed_without_venue_data_is_still_asked_for_as_a_smart_order(tmp_path):
    """A crash between the send and the venue's reply leaves no venue data: the stop price (in the
    order's NEW record) still says where the venue keeps it (/smartorders)."""
    tracker = Tracker(_Quiet())
    adapter = _adapter("poloniex", tmp_path, tracker)
    order = tracker.new_order(strategy="alpha", client_order_id="s1", venue="poloniex", symbol="ETH-PERP",
                              side=Side.BUY, type=OrderType.LIMIT, tif=TimeInForce.GTC, price=2990 * E18,
                              quantity=E18, stop_price=2980 * E18)
    assert order.venue_data is None and adapter._is_smart(order)
    order.venue_data = PoloniexVenueData(triggered=True)
    assert not adapter._is_smart(order)


def test_an_order_without_venue_data_reads_as_unset_and_is_never_written_through_that():
    order = _order(Tracker(_Quiet()), "citrex", "c1")
    unset = CitrexVenueData.read(order)
    assert unset.nonce is None and order.venue_data is None
    with pytest.raises(AttributeError):
        unset.nonce = 1  # shared by every order without venue data: frozen
    CitrexVenueData.ensure_on(order).nonce = 1
    assert CitrexVenueData.read(order) is order.venue_data and order.venue_data.nonce == 1
