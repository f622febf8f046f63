"""
Read models: what the API returns about markets, books, accounts, funds and signers.

Every amount is an integer in atoms, as the core keeps it (quote atoms for
values and prices, size atoms for sizes, 10**18 for ratios); ``units`` in
``/meta`` says how many atoms make one unit. Clients in languages whose
numbers lose precision above 2**53 should parse integers as big integers.
"""

from typing import Any

from solvent.core.adl import rank_of
from solvent.core.auth import agents_of
from solvent.core.book import best_price
from solvent.core.liquidation import largest_risk_market
from solvent.core.margin import bucket_risk, cross_risk, estimate_liquidation_price, isolated_risk
from solvent.core.state import Account, Market, State
from solvent.core.units import SIZE_ONE, AccountKey


def risk_view(risk: Any) -> dict[str, int | bool]:
    return {
        "value_init": risk.value_init,
        "value_maint": risk.value_maint,
        "im": risk.im,
        "mm": risk.mm,
        "health": risk.health,
        "free_collateral": risk.free_collateral,
        "liquidatable": risk.is_liquidatable,
    }


def market_view(state: State, market: Market) -> dict[str, Any]:
    feed = state.feeds.get(market.asset)
    expiry = market.expiry
    return {
        "id": market.id,
        "asset": market.asset,
        "kind": market.kind.value,
        "domain": market.domain,
        "tick": market.tick,
        "lot": market.lot,
        "min_notional": market.min_notional,
        "index": feed.index_price if feed is not None else 0,
        "mark": market.mark_price,
        "open_interest": market.open_interest,
        "funding_rate": market.funding_rate,
        "cum_funding": market.cum_funding,
        "best_bid": best_price(market.book, True),
        "best_ask": best_price(market.book, False),
        "breakers": dict(sorted(market.breakers.items())),
        "expiry": None
        if expiry is None
        else {"time": expiry.time, "strike": expiry.strike, "settled": expiry.settled},
    }


def book_levels(market: Market, depth: int) -> dict[str, list[list[int]]]:
    """Aggregated levels, best first: [[price, total size, orders], ...]."""
    out: dict[str, list[list[int]]] = {}
    for side, levels in (("bids", market.book.bids), ("asks", market.book.asks)):
        rows: list[list[int]] = []
        for key, level in levels.items():
            if len(rows) >= depth:
                break
            price = -key if side == "bids" else key
            rows.append([price, sum(o.size for o in level.values()), len(level)])
        out[side] = rows
    return out


def position_view(state: State, account: Account, market_id: str) -> dict[str, Any]:
    pos = account.positions[market_id]
    market = state.markets[market_id]
    entry = (abs(pos.cost) * SIZE_ONE) // abs(pos.size) if pos.size else 0
    rank = rank_of(state, (account.owner, account.index), market)
    return {
        "market": market_id,
        "size": pos.size,
        "entry_price": entry,
        "mark": market.mark_price,
        "unrealised_pnl": (pos.size * market.mark_price) // SIZE_ONE - pos.cost,
        "realised_pnl": pos.realised_pnl,
        "isolated": pos.isolated,
        "isolated_margin": pos.isolated_margin,
        "liquidation_price": estimate_liquidation_price(state, account, market_id),
        "risk": risk_view(bucket_risk(state, account, market_id)),
        "adl_rank": None if rank is None else {"place": rank[0], "of": rank[1], "score": rank[2]},
    }


def orders_view(state: State, key: AccountKey) -> list[dict[str, Any]]:
    rows = []
    for market_id in sorted(state.markets):
        book = state.markets[market_id].book
        for order_id in sorted(book.by_account.get(key, ())):
            o = book.orders[order_id]
            rows.append(
                {
                    "market": market_id,
                    "order_id": o.id,
                    "client_id": o.client_id,
                    "is_buy": o.is_buy,
                    "price": o.price,
                    "size": o.size,
                    "reduce_only": o.reduce_only,
                }
            )
    return rows


def account_view(state: State, key: AccountKey) -> dict[str, Any] | None:
    account = state.accounts.get(key)
    if account is None:
        return None
    return {
        "owner": key[0],
        "subaccount": key[1],
        "balances": dict(sorted(account.balances.items())),
        "portfolio_margin": account.portfolio,
        "risk": risk_view(cross_risk(state, account)),
        # The cross position a liquidation of this account must close first (None: none open).
        "liquidate_first": largest_risk_market(state, account),
        "positions": [position_view(state, account, m) for m in sorted(account.positions)],
        "isolated": {
            m: risk_view(isolated_risk(state, account, m))
            for m, p in sorted(account.positions.items())
            if p.isolated
        },
        "orders": orders_view(state, key),
    }


def signer_view(state: State, address: str) -> dict[str, Any]:
    window = state.nonces.get(address)
    high, mask = (window.high, window.mask) if window is not None else (0, 0)
    return {
        "address": address,
        "highest_nonce": high,
        "nonce_mask": mask,
        "next_nonce": high + 1,
        "agents": {
            agent: {"subaccounts": list(g.subaccounts), "markets": list(g.markets), "expires": g.expires}
            for agent, g in agents_of(state, address).items()
        },
    }


def funds_view(state: State) -> dict[str, int]:
    return dict(sorted(state.insurance.items()))


def breakers_view(state: State) -> dict[str, dict[str, str]]:
    return {
        m: dict(sorted(market.breakers.items()))
        for m, market in sorted(state.markets.items())
        if market.breakers
    }
