"""frames.orders_pages: an `orders` reply as one frame when it fits, else in pages that each
fit, the orders in order and each once (README "Strategy protocol": `more`)."""
from __future__ import annotations

import random

import msgspec

from gateway.ipc import frames as f


def _view(i: int, trades: int = 0) -> f.OrderView:
    return f.OrderView(order_id=f"o-{i}", client_order_id=f"c-{i}" * (1 + i % 7), venue="citrex",
                       symbol="ETH-PERP", side="buy", type="limit", tif="gtc", quantity="1", status="OPEN",
                       filled="0", remaining="1", price=str(1000 + i),
                       last_trades=[f.TradeView(trade_id=f"t{i}.{k}", price="1000", quantity="0.1", ts_ns=k)
                                    for k in range(trades)])


def _decode(payloads: list[bytes]) -> list[f.OrdersReply]:
    return [f.reply_decoder.decode(p) for p in payloads]


def test_a_reply_that_fits_is_the_one_frame_it_always_was():
    reply = f.OrdersReply(req_id=4, orders=[_view(i) for i in range(50)])
    [payload] = f.orders_pages(reply, 1 << 20)
    assert payload == f.encoder.encode(reply)
    assert b"more" not in payload
    empty = f.OrdersReply(req_id=5, orders=[])
    assert f.orders_pages(empty, 64) == [f.encoder.encode(empty)]


def test_pages_fit_keep_the_order_and_flag_all_but_the_last():
    rng = random.Random(7)
    for _ in range(40):
        views = [_view(i, trades=rng.choice((0, 0, 0, 3, 20))) for i in range(rng.randint(2, 600))]
        reply = f.OrdersReply(req_id=9, orders=views)
        whole = len(f.encoder.encode(reply))
        limit = rng.randint(3000, max(3001, whole))
        pages = f.orders_pages(reply, limit)
        decoded = _decode(pages)
        assert all(len(p) <= limit for p in pages), (limit, [len(p) for p in pages])
        assert [o for page in decoded for o in page.orders] == views
        assert [page.more for page in decoded] == [True] * (len(pages) - 1) + [False]
        assert {page.req_id for page in decoded} == {9}
        if whole > limit:
            assert len(pages) >= 2
            # not one order a page: pages are filled (a page holds at least half of what fits)
            assert len(pages) <= 2 * (whole // limit + 1) + 1


def test_an_order_too_large_for_any_frame_goes_alone_and_the_rest_still_fit():
    views = [_view(0), _view(1, trades=400), _view(2), _view(3)]
    big = len(msgspec.msgpack.encode(views[1]))
    pages = f.orders_pages(f.OrdersReply(req_id=1, orders=views), big // 2)
    decoded = _decode(pages)
    assert [o for page in decoded for o in page.orders] == views
    assert [len(page.orders) for page in decoded if views[1] in page.orders] == [1]
    assert all(len(p) <= big // 2 for p, page in zip(pages, decoded) if views[1] not in page.orders)
