"""The BSX simulator's `GET /portfolio/detail`: the account's positions from its engine's
trades (net per product, signed; average cost, as gateway/positions/ books them), in the
shape the official SDK's Portfolio.from_dict reads: account, summary (collateral_mode is the
one key it requires there), positions[] (margin_mode required; product_index, product_id,
net_size, avg_entry_price, mark_price, unrealized_pnl, ...), stats, maker_fee and taker_fee.
A flat product is not listed. Margin, funding and balances are not simulated: zeros."""
from __future__ import annotations

from aiohttp import web

from gateway._core.fixedpoint import format_scaled
from gateway.sim.account_books import account_books
from gateway.sim.base import Refused

# the fees the simulator charges (none), as the portfolio states them
MAKER_FEE = TAKER_FEE = "0"


def _fmt(value: int) -> str:
    return format_scaled(value, 18)


def portfolio_detail(sim, account: str) -> dict:
    positions, unrealized, realized = [], 0, 0
    for product_id, p in sorted(account_books(sim.engine, account).items()):
        realized += p.realized_pnl
        if not p.net:
            continue
        product = sim.by_symbol.get(product_id) or sim.delisted.get(product_id)
        mark = sim.mark_price(product_id) or p.avg_price
        unrealized += p.unrealized_pnl(mark)
        positions.append({
            **({"product_index": product.index} if product is not None else {}), "product_id": product_id,
            "margin_mode": "CROSS", "margin_balance": "0", "net_size": _fmt(p.net),
            "avg_entry_price": _fmt(p.avg_price), "initial_margin_requirement": "0",
            "maintenance_margin_requirement": "0", "liquidation_price": "0",
            "unrealized_pnl": _fmt(p.unrealized_pnl(mark)), "mark_price": _fmt(mark), "index_price": _fmt(mark),
            "leverage": "0", "unsettled_funding": "0", "funding_index": "0", "quote_balance": "0",
            "isolated_usdc_balance": "0", "in_isolated_liquidation": False, "free_isolated_usdc_balance": "0",
        })
    return {
        "account": account,
        "summary": {
            "collateral_mode": "USDC_COLLATERAL", "collateral_margin_balance": "0", "cross_margin_balance": "0",
            "margin_usage": "0", "account_leverage": "0", "in_liquidation": False, "free_collateral": "0",
            "total_account_value": "0", "total_notional": "0", "usdc_balance": "0", "unsettled_usdc": "0",
            "realized_pnl": _fmt(realized), "total_initial_margin": "0", "total_maintenance_margin": "0",
            "token_balances": [], "has_pending_withdrawal": False, "total_unrealized_pnl": _fmt(unrealized),
            "total_collateral_value": "0", "margin_health": "0", "has_pending_swap": False,
            "total_isolated_order_reserve": "0",
        },
        "positions": positions,
        "stats": {"order_stats": {}, "products": [], "trading_stats": {}, "tokens": []},
        "maker_fee": MAKER_FEE, "taker_fee": TAKER_FEE,
    }


async def portfolio(sim, request: web.Request) -> web.Response:
    try:
        user = sim._user(request)  # the bsx-key / bsx-secret headers, as every account call
    except Refused as exc:
        return sim._error(exc)
    return web.json_response(portfolio_detail(sim, user.sender))
