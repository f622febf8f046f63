"""
The liquidity pool: LP shares and the pool as counterparty.

Introduction
------------
LPs deposit quote into a pool and receive shares; the pool holds its money
and positions in its own margin account, so fees, funding and PnL accrue to
it like to any trader, and share value = pool equity / shares, unrealised
PnL included.

Quotes (virtual liquidity). In a market with mark M the pool holding x size
atoms quotes a marginal price that moves linearly with its inventory:

    ask(x) = M * (1 + s - k * x / X)     (the pool sells, x falls)
    bid(x) = M * (1 - s - k * x / X)     (the pool buys, x rises)

where s = half_spread, k = skew_factor and X = max_skew * equity / M is the
inventory limit: the pool never trades past |x| = X. So the spread widens as
the pool's skew grows and quoting stops at the limit. A taker trading q
pays the integral of the marginal price, computed exactly:

    buy q:  notional = q*M*(2X(1+s) - k(2x - q)) / (2X)   (rounded up)
    sell q: notional = q*M*(2X(1-s) - k(2x + q)) / (2X)   (rounded down)

First deposit: ``DEAD_SHARES`` shares are minted to nobody so that a first
LP cannot inflate the share price against later ones.
"""

from typing import Final

from solvent.core.errors import (
    AmountTooLarge,
    InsufficientBalance,
    InsufficientMargin,
    InsufficientShares,
    InvalidAmount,
    OracleStale,
    PoolCooldown,
    PoolUndercollateralised,
    UnknownAccount,
    UnknownPool,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.margin import cross_risk
from solvent.core.oracle import is_stale
from solvent.core.state import Market, Pool, PoolWithdrawal, State
from solvent.core.tx import PoolDeposit, PoolRequestWithdrawal, PoolWithdraw
from solvent.core.units import MAX_AMOUNT, SIZE_ONE, AccountKey, format_account

DEAD_SHARES: Final = 1000


def pool_equity(state: State, pool: Pool) -> int:
    """Return the pool's equity in quote atoms: balance + Σ size*mark - funding owed."""
    account = state.accounts[pool.account]
    if not account.positions:
        return account.balances.get(state.quote, 0)  # no positions: its quote is its equity
    return cross_risk(state, account).value_init


def inventory_limit(pool: Pool, equity: int, mark: int) -> int:
    """Return X, the largest |position| in size atoms the pool takes in a market."""
    if equity <= 0 or mark <= 0:
        return 0
    return (equity * pool.max_skew * SIZE_ONE) // (ONE * mark)


def quote_size(pool: Pool, mark: int, x: int, limit: int, taker_buys: bool, price: int) -> int:
    """Return the most size atoms the pool sells (``taker_buys``) or buys before its
    marginal price passes ``price``, within the inventory limit ``limit``.
    """
    if limit <= 0:
        return 0
    s, k = pool.half_spread, pool.skew_factor
    if taker_buys:
        room = x + limit  # x - q >= -limit
        # ask(x - q) <= price  <=>  k*(x - q)/X >= 1 + s - price/M
        # <=>  q <= x - X*(M(1+s) - price*ONE... ) ; worked in ONE*M units:
        gap = mark * (ONE + s) - price * ONE  # M*(1+s) - p, scaled by ONE
        if k == 0:
            return room if gap <= 0 else 0
        # q <= x - X*gap/(k*M); round the subtracted part up so the last unit is within price.
        q = x - (-((-limit * gap) // (k * mark)))
    else:
        room = limit - x  # x + q <= limit
        gap = price * ONE - mark * (ONE - s)  # p - M*(1-s), scaled by ONE
        if k == 0:
            return room if gap <= 0 else 0
        # bid(x + q) >= price  <=>  q <= -x - X*gap/(k*M)
        q = -x - (-((-limit * gap) // (k * mark)))
    return max(0, min(q, room))


def quote_notional(pool: Pool, mark: int, x: int, limit: int, taker_buys: bool, q: int) -> int:
    """Return the quote atoms a taker pays (buy) or receives (sell) for ``q`` size atoms."""
    s, k = pool.half_spread, pool.skew_factor
    denominator = 2 * limit * ONE * SIZE_ONE
    if taker_buys:
        numerator = q * mark * (2 * limit * (ONE + s) - k * (2 * x - q))
        return -((-numerator) // denominator)  # round up: the taker pays
    numerator = q * mark * (2 * limit * (ONE - s) - k * (2 * x + q))
    return numerator // denominator  # round down: the taker receives


def pool_for_market(state: State, market: Market) -> Pool | None:
    """Return the pool quoting this market, or None."""
    if market.pool is None:
        return None
    return state.pools.get(market.pool)


# --- LP handlers ---------------------------------------------------------------


def _get_pool(state: State, pool_id: str) -> Pool:
    pool = state.pools.get(pool_id)
    if pool is None:
        raise UnknownPool(f"no pool {pool_id!r}")
    return pool


def _check_pool_prices(state: State, pool: Pool) -> None:
    for market_id in state.accounts[pool.account].positions:
        feed = state.feeds[state.markets[market_id].asset]
        if is_stale(state, feed):
            raise OracleStale(
                f"the pool holds {market_id}, whose oracle is stale; "
                "share value cannot be priced until a fresh quorum arrives"
            )


def process_pool_deposit(state: State, tx: PoolDeposit) -> list[Event]:
    """Move quote from an LP's subaccount into the pool for newly minted shares."""
    # VALIDATE
    pool = _get_pool(state, tx.pool)
    key: AccountKey = (tx.owner, tx.subaccount)
    account = state.accounts.get(key)
    if account is None:
        raise UnknownAccount(f"no subaccount {format_account(key)}; deposit collateral first")
    if tx.amount <= 0:
        raise InvalidAmount(f"amount must be positive, was {tx.amount}")
    if tx.amount > MAX_AMOUNT:
        raise AmountTooLarge(f"amount exceeds {MAX_AMOUNT} atoms")
    balance = account.balances.get(state.quote, 0)
    if balance < tx.amount:
        raise InsufficientBalance(
            f"{format_account(key)} holds {balance} quote atoms, fewer than {tx.amount}"
        )
    if account.positions and not cross_risk(state, account, quote_delta=-tx.amount).meets_initial:
        raise InsufficientMargin("the deposit would leave the subaccount below initial margin")
    _check_pool_prices(state, pool)
    equity = pool_equity(state, pool)
    if pool.total_shares == 0:
        if tx.amount <= DEAD_SHARES:
            raise InvalidAmount(f"the first pool deposit must exceed {DEAD_SHARES} atoms")
        minted = tx.amount - DEAD_SHARES
        dead = DEAD_SHARES
    else:
        if equity <= 0:
            raise PoolUndercollateralised("the pool's equity is not positive; deposits are closed")
        minted = (tx.amount * pool.total_shares) // equity  # round down: the LP gets fewer
        dead = 0
        if minted == 0:
            raise InvalidAmount("the deposit is too small to mint one share")
    # APPLY
    account.balances[state.quote] = balance - tx.amount
    pool_account = state.accounts[pool.account]
    pool_account.balances[state.quote] = pool_account.balances.get(state.quote, 0) + tx.amount
    pool.total_shares += minted + dead
    pool.shares[key] = pool.shares.get(key, 0) + minted
    return [
        event(
            "PoolDeposited",
            pool=pool.id,
            account=format_account(key),
            amount=tx.amount,
            shares=minted,
        )
    ]


def process_pool_request(state: State, tx: PoolRequestWithdrawal) -> list[Event]:
    """Lock shares for withdrawal after the cooldown (restarts it for the whole request)."""
    pool = _get_pool(state, tx.pool)
    key: AccountKey = (tx.owner, tx.subaccount)
    held = pool.shares.get(key, 0)
    if tx.shares <= 0:
        raise InvalidAmount(f"shares must be positive, was {tx.shares}")
    if held < tx.shares:
        raise InsufficientShares(f"{format_account(key)} holds {held} free shares, fewer than {tx.shares}")
    pending = pool.pending.get(key)
    locked = tx.shares + (pending.shares if pending is not None else 0)
    ready = state.time + pool.cooldown_s
    if held == tx.shares:
        del pool.shares[key]
    else:
        pool.shares[key] = held - tx.shares
    pool.pending[key] = PoolWithdrawal(shares=locked, ready_time=ready)
    return [
        event(
            "PoolWithdrawalRequested",
            pool=pool.id,
            account=format_account(key),
            shares=locked,
            ready_time=ready,
        )
    ]


def process_pool_withdraw(state: State, tx: PoolWithdraw) -> list[Event]:
    """Redeem locked shares at the current share value, rounded down."""
    # VALIDATE
    pool = _get_pool(state, tx.pool)
    key: AccountKey = (tx.owner, tx.subaccount)
    pending = pool.pending.get(key)
    if pending is None:
        raise InsufficientShares("no shares are locked for withdrawal; request a withdrawal first")
    if state.time < pending.ready_time:
        raise PoolCooldown(
            f"shares unlock at {pending.ready_time}; it is {state.time}. Try again after the cooldown"
        )
    if key not in state.accounts:
        raise UnknownAccount(f"no subaccount {format_account(key)}")
    _check_pool_prices(state, pool)
    equity = pool_equity(state, pool)
    amount = max(0, (pending.shares * equity) // pool.total_shares)  # round down
    pool_account = state.accounts[pool.account]
    after = cross_risk(state, pool_account, quote_delta=-amount)
    if pool_account.positions and after.value_maint < after.mm:
        raise PoolUndercollateralised(
            "the withdrawal would leave the pool below its positions' maintenance margin; "
            "withdraw fewer shares or wait for the pool to reduce its inventory"
        )
    # APPLY
    del pool.pending[key]
    pool.total_shares -= pending.shares
    pool_account.balances[state.quote] = pool_account.balances.get(state.quote, 0) - amount
    account = state.accounts[key]
    account.balances[state.quote] = account.balances.get(state.quote, 0) + amount
    return [
        event(
            "PoolWithdrawn",
            pool=pool.id,
            account=format_account(key),
            shares=pending.shares,
            amount=amount,
        )
    ]
