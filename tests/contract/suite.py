"""The venue contract: what every venue adapter must do, run against that
venue's simulator through the whole gateway over real sockets.

A venue's test module subclasses VenueContract and fills in the data: its
config fragment, the symbol, and prices that sit where its simulator's
market maker quotes (bids 2997/2994/2991, asks 3003/3006/3009, 1 each, for a
mid of 3000 on a 0.1 tick). Tests a venue cannot take (no cancel-and-replace,
say) check instead that the venue refuses it with `unsupported`.

Every scenario ends by asserting the simulators counted no request field the
venue's official client never sends (SimServer.unknown_fields): an adapter
that drifts from the official client fails here.
"""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import uvloop

from gateway.config import parse_config
from gateway.daemon import Gateway
from gateway.ipc import frames as f
from gateway.ipc.client import GatewayClient

SERVER = """
log_level = "warning"
[server]
socket_path = "{tmp}/gw.sock"
max_frame_bytes = 65536
[risk]
max_order_quantity = "100"
max_order_notional = "1000000"
max_open_orders = 50
"""


class VenueContract:
    venue: str = ""
    symbol: str = "ETH-PERP"
    venue_config: str = ""  # a [[venues]] TOML fragment; {tmp} is the test's temp dir
    best_bid, best_ask, second_ask = "2997", "3003", "3006"
    passive_bid, passive_ask = "2990", "3100"
    # False for a venue heard only by polling: a poll lists every trade each time, so a trade
    # seen again there is expected and never counted as a duplicate
    duplicates_counted = True
    # False for a venue whose orders carry no signature (a session token): no sign stage
    signs_orders = True
    # True for a venue whose adapter, when a cancel is refused, asks whether the order closed
    # there already (filled, canceled by the venue): that state is the cancel's outcome, with
    # no cancel_reject; False: the refusal is a cancel_reject, the fill follows
    closed_order_is_the_cancels_outcome = False

    # harness

    def config_text(self, tmp: Path) -> str:
        return (SERVER + self.venue_config).replace("{tmp}", str(tmp))

    def run(self, tmp: Path, scenario, timeout_s: float = 30) -> None:
        async def main() -> None:
            gw = await Gateway.start(parse_config(self.config_text(tmp)))
            try:
                await asyncio.wait_for(scenario(gw), timeout_s)
                # the adapter sent nothing the venue's official client never sends
                for name, sim in gw.sims.items():
                    assert not getattr(sim, "unknown_fields", None), (name, dict(sim.unknown_fields))
            finally:
                await gw.stop()

        uvloop.run(main())

    @contextlib.asynccontextmanager
    async def strategy(self, gw: Gateway, name: str, **kwargs):
        async with GatewayClient(gw.config.server.socket_path, strategy=name, **kwargs) as client:
            yield client

    def sim(self, gw: Gateway):
        return gw.sims[self.venue]

    # capabilities: what a venue lacks is one refusal test (test_what_it_lacks_is_refused);
    # the tests that need it are skipped, saying why, never passed without running

    TESTED_CAPABILITIES = ("cancel_replace", "post_only")

    @classmethod
    def capabilities(cls):
        from gateway.daemon import VENUE_KINDS

        return next(adapter.capabilities for config, (adapter, _) in VENUE_KINDS.items()
                    if config.__struct_config__.tag == cls.venue)

    def needs(self, capability: str) -> None:
        if not getattr(self.capabilities(), capability):
            pytest.skip(f"{self.venue} has no {capability}: test_what_it_lacks_is_refused checks it is refused")

    async def refuses_replace(self, gw: Gateway) -> None:
        """A venue without cancel-and-replace must refuse it clearly, never emulate it silently."""
        async with self.strategy(gw, "no-replace") as s:
            await self.place(s, "buy", "1", "2990", "nr1")
            await s.wait_status("nr1", "OPEN")
            ack = await s.replace("nr1", "1", "2991", new_client_order_id="nr2")
            assert not ack.ok and ack.error.code == "unsupported" and self.venue in ack.error.message
            [order] = await s.orders()
            assert order.client_order_id == "nr1" and order.status == "OPEN"

    async def refuses_post_only(self, gw: Gateway) -> None:
        async with self.strategy(gw, "no-post-only") as s:
            ack = await s.place(self.venue, self.symbol, "buy", "1", "2998", client_order_id="p0", post_only=True)
            assert not ack.ok and ack.error.code == "unsupported" and self.venue in ack.error.message
            assert await s.orders(open_only=False) == []

    def test_what_it_lacks_is_refused(self, tmp_path):
        caps = self.capabilities()
        lacking = [c for c in self.TESTED_CAPABILITIES if not getattr(caps, c)]
        if not lacking:
            pytest.skip(f"{self.venue} has every capability the suite tests")

        async def scenario(gw):
            for capability in lacking:
                await getattr(self, f"refuses_{capability.removeprefix('cancel_')}")(gw)

        self.run(tmp_path, scenario)

    async def place(self, s, side, quantity, price, cid, **kwargs):
        ack = await s.place(self.venue, self.symbol, side, quantity, price, client_order_id=cid, **kwargs)
        assert ack.ok, ack
        return ack

    async def filled_behind_the_gateways_back(self, gw, s, cid):
        """A resting bid the venue fills while its events are held back."""
        await self.place(s, "buy", "1", "2999", cid)
        await s.wait_status(cid, "OPEN")
        self.sim(gw).faults.hold_events = True
        assert await self.sim(gw).outside_trade(self.symbol, "sell", "2999", "1") >= 1

    # the contract

    def test_place_ack_open_then_fill(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                ack = await self.place(s, "buy", "0.5", "2999.5", "b1")
                assert ack.order_id
                opened = await s.wait_status("b1", "OPEN")
                assert opened.venue_order_id and opened.filled == "0" and opened.remaining == "0.5"
                await self.sim(gw).outside_trade(self.symbol, "sell", "2999", "0.5")
                filled = await s.wait_status("b1", "FILLED")
                assert filled.filled == "0.5" and filled.remaining == "0" and filled.avg_price == "2999.5"
                assert len(filled.last_trades) == 1 and filled.last_trades[0].is_maker is True
                [order] = await s.orders(open_only=False)
                assert order.status == "FILLED"

        self.run(tmp_path, scenario)

    def test_an_order_is_timed_once_per_stage(self, tmp_path):
        """Every adapter times its order the same way: its signing (none where nothing is
        signed), its send and the venue's first word on the order."""
        async def scenario(gw):
            stages = gw.venues[self.venue].stages
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "0.5", self.passive_bid, "m1")
                await s.wait_status("m1", "OPEN")
            assert stages.sign.count == (1 if self.signs_orders else 0)
            assert stages.tick_to_wire.count == stages.confirmation.count == 1
            # the send time is read once by the confirmation: a reply that comes after the
            # stream's word on the order is not timed
            assert stages.venue_ack.count <= 1

        self.run(tmp_path, scenario)

    def test_marketable_limit_fills_at_maker_prices(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "1.5", self.second_ask, "t1")
                done = await s.wait_status("t1", "FILLED")
                assert done.filled == "1.5"
                assert done.avg_price == "3004"  # 1 @ 3003 and 0.5 @ 3006
                assert sorted(t.price for t in done.last_trades) == [self.best_ask, self.second_ask]

        self.run(tmp_path, scenario)

    def test_ioc_partial_fill_cancels_the_rest(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "1.5", self.best_ask, "i1", tif="ioc")
                done = await s.wait_status("i1", "CANCELED")
                assert done.filled == "1" and done.remaining == "0" and "IOC" in done.reason

        self.run(tmp_path, scenario)

    def test_fok_that_cannot_fill_trades_nothing(self, tmp_path):
        async def scenario(gw):
            engine = self.sim(gw).engine
            books = {p: engine.depth(p) for p in list(engine._books)}
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "5", self.best_ask, "k1", tif="fok")
                done = await s.wait_status("k1", "CANCELED")
                assert done.filled == "0" and not done.last_trades
            assert {p: engine.depth(p) for p in books} == books

        self.run(tmp_path, scenario)

    def test_post_only_that_would_cross_is_rejected_with_reason(self, tmp_path):
        self.needs("post_only")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "1", self.best_ask, "p1", post_only=True)
                done = await s.wait_status("p1", "REJECTED")
                assert "post" in done.reason.lower()
                await self.place(s, "buy", "1", "2998", "p2", post_only=True)
                assert (await s.wait_status("p2", "OPEN")).post_only

        self.run(tmp_path, scenario)

    def test_cancel_open_order(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "sell", "1", self.passive_ask, "c1")
                await s.wait_status("c1", "OPEN")
                assert (await s.cancel("c1")).ok
                await s.wait_status("c1", "PENDING_CANCEL")
                done = await s.wait_status("c1", "CANCELED")
                assert done.remaining == "0"
                assert not self.sim(gw).engine.get(done.venue_order_id).is_open

        self.run(tmp_path, scenario)

    def test_cancel_of_a_known_filled_order_is_refused_at_once(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "1", self.best_ask, "f1")
                await s.wait_status("f1", "FILLED")
                ack = await s.cancel("f1")
                assert not ack.ok and ack.error.code == "order_closed" and "FILLED" in ack.error.message

        self.run(tmp_path, scenario)

    def test_cancel_racing_a_fill_gets_cancel_reject_then_filled(self, tmp_path):
        if self.closed_order_is_the_cancels_outcome:
            pytest.skip(f"{self.venue} reports the fill as the cancel's outcome: "
                        "test_cancel_racing_a_fill_ends_filled_without_cancel_reject")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.filled_behind_the_gateways_back(gw, s, "r1")
                assert (await s.cancel("r1")).ok
                reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
                assert reject.client_order_id == "r1" and reject.reason
                await self.sim(gw).release_events()
                assert (await s.wait_status("r1", "FILLED")).filled == "1"

        self.run(tmp_path, scenario)

    def test_cancel_racing_a_fill_ends_filled_without_cancel_reject(self, tmp_path):
        """The venue says the order it is asked to cancel has filled: the fill is what the
        cancel found, reported as the order's FILLED state (once), never as a cancel_reject."""
        if not self.closed_order_is_the_cancels_outcome:
            pytest.skip(f"{self.venue} refuses the cancel: test_cancel_racing_a_fill_gets_cancel_reject_then_filled")

        def outcome(e) -> bool:
            return isinstance(e, f.CancelReject) or (isinstance(e, f.OrderUpdate) and e.order.status == "FILLED")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.filled_behind_the_gateways_back(gw, s, "r1")
                assert (await s.cancel("r1")).ok
                event = await s.wait_for(outcome)
                assert isinstance(event, f.OrderUpdate) and event.order.filled == "1"
                await self.sim(gw).release_events()  # the fill's own events, late: nothing new
                with pytest.raises(asyncio.TimeoutError):
                    await s.wait_for(lambda e: isinstance(e, (f.CancelReject, f.OrderUpdate)), 0.3)
                [order] = await s.orders(open_only=False)
                assert order.status == "FILLED" and order.filled == "1" and order.avg_price == "2999"

        self.run(tmp_path, scenario)

    def test_fill_pushed_before_rest_reply_ends_filled_not_open(self, tmp_path):
        async def scenario(gw):
            self.sim(gw).faults.reorder_ack = True
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "0.5", self.best_ask, "o1")
                seen = []
                while not seen or seen[-1] != "FILLED":
                    seen.append((await s.wait_for(lambda e: isinstance(e, f.OrderUpdate))).order.status)
                await asyncio.sleep(0.2)  # the stale reply (OPEN) comes after: no regression
                [order] = await s.orders(open_only=False)
                assert order.status == "FILLED" and order.filled == "0.5"
                assert gw.tracker.unknown_transitions >= 1

        self.run(tmp_path, scenario)

    def test_duplicate_venue_events_book_each_fill_once(self, tmp_path):
        async def scenario(gw):
            self.sim(gw).faults.duplicate_events = True
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "2", "2999", "d1")
                await s.wait_status("d1", "OPEN")
                await self.sim(gw).outside_trade(self.symbol, "sell", "2999", "1")
                assert (await s.wait_status("d1", "PARTIALLY_FILLED")).filled == "1"
                await asyncio.sleep(0.2)
                [order] = await s.orders()
                assert order.filled == "1" and order.remaining == "1"
                if self.duplicates_counted:
                    assert gw.tracker.duplicate_fills >= 1
                else:
                    assert gw.tracker.duplicate_fills == 0

        self.run(tmp_path, scenario)

    def test_cancel_and_replace(self, tmp_path):
        self.needs("cancel_replace")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.place(s, "buy", "1", "2990", "a1")
                await s.wait_status("a1", "OPEN")
                ack = await s.replace("a1", "2", "2992.5", new_client_order_id="a2")
                assert ack.ok
                old = await s.wait_status("a1", "CANCELED")
                assert old.replaced_by == ack.order_id and "a2" in old.reason
                new = await s.wait_status("a2", "OPEN")
                assert new.price == "2992.5" and new.quantity == "2" and new.replaces == old.order_id

        self.run(tmp_path, scenario)

    def test_replace_whose_cancel_fails_places_nothing_without_proceed(self, tmp_path):
        self.needs("cancel_replace")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.filled_behind_the_gateways_back(gw, s, "x1")
                assert (await s.replace("x1", "1", "2995", new_client_order_id="x2")).ok
                reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
                assert reject.client_order_id == "x1"
                new = await s.wait_status("x2", "REJECTED")
                assert "cancel of the old order failed" in new.reason
                await self.sim(gw).release_events()
                assert (await s.wait_status("x1", "FILLED")).filled == "1"

        self.run(tmp_path, scenario)

    def test_replace_whose_cancel_fails_still_places_with_proceed_on_failure(self, tmp_path):
        self.needs("cancel_replace")

        async def scenario(gw):
            async with self.strategy(gw, "alpha") as s:
                await self.filled_behind_the_gateways_back(gw, s, "y1")
                self.sim(gw).faults.hold_events = False
                ack = await s.replace("y1", "1", "2995", new_client_order_id="y2", proceed_on_failure=True)
                assert ack.ok
                reject = await s.wait_for(lambda e: isinstance(e, f.CancelReject))
                assert reject.client_order_id == "y1"
                assert (await s.wait_status("y2", "OPEN")).price == "2995"

        self.run(tmp_path, scenario)

    def test_strategies_cannot_see_or_touch_each_others_orders(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "alpha") as a, self.strategy(gw, "beta") as b:
                ack = await self.place(a, "buy", "1", "2980", "same")
                await a.wait_status("same", "OPEN")
                assert await b.orders(open_only=False) == []
                refused = await b.cancel("same")
                assert not refused.ok and refused.error.code == "unknown_order"
                refused = await b.cancel(order_id=ack.order_id)
                assert not refused.ok and refused.error.code == "not_your_order"
                await self.place(b, "buy", "1", "2981", "same")
                await b.wait_status("same", "OPEN")
                [mine] = await a.orders()
                assert mine.price == "2980"

        self.run(tmp_path, scenario)

    def test_cancel_on_disconnect(self, tmp_path):
        async def scenario(gw):
            async with self.strategy(gw, "leaver", cancel_on_disconnect=True) as s:
                await self.place(s, "buy", "1", "2985", "l1")
                opened = await s.wait_status("l1", "OPEN")
            for _ in range(100):
                if not self.sim(gw).engine.get(opened.venue_order_id).is_open:
                    break
                await asyncio.sleep(0.02)
            assert not self.sim(gw).engine.get(opened.venue_order_id).is_open
            assert gw.tracker.by_client("leaver", "l1").status.value == "CANCELED"

        self.run(tmp_path, scenario)
