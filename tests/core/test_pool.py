"""
The liquidity pool, with exact integers.

Fixture F pool "LP": half spread s = 0.1%, skew factor k = 1%, max skew 20%,
LP fee share 50%, cooldown 86,400 s. With 1,000,000 USDC of equity and the
BTC mark at 100,000 the inventory limit is
X = 10**12 * 0.2 * 10**8 // (10**18 * 10**11) * 10**18 = 200_000_000 atoms (2 BTC),
the pool's ask at inventory x is 100,000 * (1.001 - 0.01 * x / X) and its bid
100,000 * (0.999 - 0.01 * x / X). A taker buying q from inventory x pays
ceil(q*M*(2X(1+s) - k(2x - q)) / (2X)) and selling receives the floor of
q*M*(2X(1-s) - k(2x + q)) / (2X)  (pool.py docstring; in atoms, divided by
10**8 * 10**18).
"""

from fixtures import (
    BTC_PERP,
    T0,
    USDC,
    acct,
    addr,
    balance,
    btc,
    key,
    kinds,
    of_kind,
    place,
    ready_state,
    refused,
    report,
)

from solvent.core.engine import apply
from solvent.core.errors import (
    InsufficientBalance,
    InsufficientShares,
    InvalidAmount,
    PoolCooldown,
    PoolUndercollateralised,
    UnknownAccount,
    UnknownPool,
)
from solvent.core.pool import DEAD_SHARES, inventory_limit, pool_equity, quote_notional, quote_size
from solvent.core.state import TimeInForce, pool_account_key
from solvent.core.tx import Deposit, PoolDeposit, PoolRequestWithdrawal, PoolWithdraw, SetTime
from solvent.defaults import usd

IOC = TimeInForce.IOC
M = 100_000_000_000  # mark 100,000 USDC
X = 200_000_000  # inventory limit at 1,000,000 USDC of equity
POOL_KEY = pool_account_key("LP")


def _pool_state(lp_amount: str = "1000000"):
    state = ready_state()
    apply(state, PoolDeposit(addr("lp"), 0, "LP", usd(lp_amount)))
    return state


def _pool_cash(state) -> int:
    return state.accounts[POOL_KEY].balances[USDC]


def _pool_position(state) -> int:
    pos = state.accounts[POOL_KEY].positions.get(BTC_PERP)
    return pos.size if pos is not None else 0


# --- LP shares -------------------------------------------------------------------


def test_first_deposit_mints_amount_minus_dead_shares():
    state = ready_state()
    events = apply(state, PoolDeposit(addr("lp"), 0, "LP", usd("1000000")))
    assert [e.to_json() for e in events] == [
        {
            "event": "PoolDeposited",
            "pool": "LP",
            "account": acct("lp"),
            "amount": 1_000_000_000_000,
            "shares": 1_000_000_000_000 - DEAD_SHARES,
        }
    ]
    pool = state.pools["LP"]
    assert DEAD_SHARES == 1000
    assert pool.total_shares == 1_000_000_000_000  # the 1000 dead shares belong to nobody
    assert pool.shares == {key("lp"): 999_999_999_000}
    assert _pool_cash(state) == 1_000_000_000_000
    assert balance(state, "lp") == 0


def test_first_deposit_must_exceed_dead_shares():
    state = ready_state()
    refused(state, PoolDeposit(addr("lp"), 0, "LP", 1000), InvalidAmount)
    events = apply(state, PoolDeposit(addr("lp"), 0, "LP", 1001))
    assert of_kind(events, "PoolDeposited")[0]["shares"] == 1
    assert state.pools["LP"].total_shares == 1001


def test_second_deposit_mints_pro_rata():
    state = _pool_state()
    apply(state, Deposit(addr("lp2"), 0, USDC, usd("500000")))
    events = apply(state, PoolDeposit(addr("lp2"), 0, "LP", usd("500000")))
    # 500_000_000_000 * 10**12 // 10**12 (equity = shares: no trade yet)
    assert of_kind(events, "PoolDeposited")[0]["shares"] == 500_000_000_000
    assert state.pools["LP"].total_shares == 1_500_000_000_000


def test_pool_deposit_refusals():
    state = _pool_state("500000")
    refused(state, PoolDeposit(addr("lp"), 0, "LP", 500_000_000_001), InsufficientBalance)
    refused(state, PoolDeposit(addr("lp"), 0, "NOPE", 1), UnknownPool)
    refused(state, PoolDeposit(addr("nobody"), 0, "LP", 1), UnknownAccount)
    refused(state, PoolDeposit(addr("lp"), 0, "LP", 0), InvalidAmount)


# --- quotes ----------------------------------------------------------------------


def test_inventory_limit_is_max_skew_of_equity_in_size_atoms():
    state = _pool_state()
    pool = state.pools["LP"]
    assert pool_equity(state, pool) == 1_000_000_000_000
    assert inventory_limit(pool, 1_000_000_000_000, M) == X
    assert inventory_limit(pool, 0, M) == 0


def test_quote_notional_integrates_the_marginal_price():
    pool = _pool_state().pools["LP"]
    # 1 BTC from x = 0: average 100,000 * (1.001 + 0.01 * 1/(2*2)) = 100,350 USDC
    assert quote_notional(pool, M, 0, X, True, btc("1")) == 100_350_000_000
    # selling 1 BTC: 100,000 * (0.999 - 0.0025) = 99,650 USDC
    assert quote_notional(pool, M, 0, X, False, btc("1")) == 99_650_000_000
    # 0.0003 BTC: 3e4 * 1e11 * (4e8 * 1.001e18 + 1e16 * 3e4) / (4e8 * 1e18 * 1e8) = 30_030_022.5
    assert quote_notional(pool, M, 0, X, True, 30_000) == 30_030_023  # the taker pays: rounded up
    # selling: 3e4 * 1e11 * (4e8 * 0.999e18 - 1e16 * 3e4) / 4e34 = 29_969_977.5
    assert quote_notional(pool, M, 0, X, False, 30_000) == 29_969_977  # the taker receives: down


def test_quote_size_stops_where_the_marginal_price_reaches_the_limit():
    pool = _pool_state().pools["LP"]
    # ask(x - q) = 100,100 + 1,000 * q / X <= 100,149  <=>  q <= 49 * X / 1000 = 9_800_000
    assert quote_size(pool, M, 0, X, True, 100_149_000_000) == 9_800_000
    # bid(x + q) = 99,900 - 1,000 * q / X >= 99,851  <=>  q <= 9_800_000
    assert quote_size(pool, M, 0, X, False, 99_851_000_000) == 9_800_000
    # up to 102,000 the price allows 3.8 * 10**8 but the pool stops at x = -X
    assert quote_size(pool, M, 0, X, True, 102_000_000_000) == X
    # a price better than the pool's first unit: nothing
    assert quote_size(pool, M, 0, X, True, 100_099_900_000) == 0


# --- routing -----------------------------------------------------------------------


def test_taker_gets_the_better_of_book_and_pool_for_each_unit():
    state = _pool_state()
    place(state, "maker", False, btc("0.05"), "100150")  # id 1
    events = place(state, "taker", True, btc("0.2"), "100200", IOC)  # id 2
    fills = of_kind(events, "Fill")
    # 1. pool, strictly better than the book's 100,150, i.e. marginal ask <= 100,149.999999:
    #    q <= 49.999999 * X / 1000 = 9_999_999.8 -> 9_999_999 -> 9_990_000 in whole lots;
    #    average 100,100 + 1000 * q / (2X) = 100,124.975: 0.0999 * 100,124.975 = 10,002.4850025
    #    USDC, rounded up to 10_002_485_003 atoms
    # 2. book, 0.05 BTC at 100,150 = 5,007.5 USDC
    # 3. pool again up to the limit 100,200 from x = -9_990_000: the remaining 0.0501 BTC,
    #    marginal 100,149.95 .. 100,175, average 100,162.475: 5,018.1399975 USDC, rounded up
    assert [(f["maker_order"], f["size"], f["notional"]) for f in fills] == [
        (None, 9_990_000, 10_002_485_003),
        (1, 5_000_000, 5_007_500_000),
        (None, 5_010_000, 5_018_139_998),
    ]
    assert [f["maker"] for f in fills] == ["pool:LP/0", acct("maker"), "pool:LP/0"]
    # taker fees ceil(0.05%): 5_001_243 (from 5_001_242.5015), 2_503_750, 2_509_070 (2_509_069.999)
    # pool's share floor(50%): 2_500_621 and 1_254_535; the maker pays 0.02% = 1_001_500
    assert [(f["taker_fee"], f["maker_fee"]) for f in fills] == [
        (5_001_243, -2_500_621),
        (2_503_750, 1_001_500),
        (2_509_070, -1_254_535),
    ]
    assert _pool_position(state) == -15_000_000
    assert _pool_cash(state) == 1_000_000_000_000 + 10_002_485_003 + 5_018_139_998 + 2_500_621 + 1_254_535
    # the protocol keeps the rest: 2_500_622 + (2_503_750 + 1_001_500) + 1_254_535
    assert state.fee_balance == 7_260_407


def test_pool_stops_at_its_skew_limit():
    state = _pool_state()
    events = place(state, "taker", True, btc("3"), None, IOC)  # market: up to the band edge 105,000
    fills = of_kind(events, "Fill")
    # The pool sells down to x = -X = -2 BTC (marginal 101,100 < 105,000), average 100,600.
    assert [(f["maker_order"], f["size"], f["notional"]) for f in fills] == [(None, X, 201_200_000_000)]
    cancelled = of_kind(events, "OrderCancelled")[0]
    assert (cancelled["remaining"], cancelled["reason"]) == (100_000_000, "price_band")
    assert _pool_position(state) == -X
    # taker fee ceil(201,200 * 0.05%) = 100.6 USDC, pool's half 50.3 USDC
    assert _pool_cash(state) == 1_000_000_000_000 + 201_200_000_000 + 50_300_000
    # equity = 1,201,250.3 - 2 * 100,000 = 1,001,250.3 USDC: the limit grows to
    # 1_001_250_300_000 * 0.2 * 10**8 // 10**11 = 200_250_060, leaving 250_060 atoms of room,
    # 250_000 in whole lots.
    pool = state.pools["LP"]
    assert pool_equity(state, pool) == 1_001_250_300_000
    assert inventory_limit(pool, 1_001_250_300_000, M) == 200_250_060
    events = place(state, "taker", True, btc("0.1"), None, IOC)
    assert [f["size"] for f in of_kind(events, "Fill")] == [250_000]
    assert of_kind(events, "OrderCancelled")[0]["remaining"] == 9_750_000


def test_pool_earns_its_share_of_taker_fees():
    state = _pool_state()
    events = place(state, "taker", False, btc("1"), None, IOC)  # the pool buys 1 BTC
    fill = of_kind(events, "Fill")[0]
    # 1 BTC sold to the pool at average 99,650; taker fee ceil(99,650 * 0.05%) = 49.825 USDC,
    # the pool's 50% = 24.9125 USDC, the protocol the other 24.9125 USDC.
    assert (fill["notional"], fill["taker_fee"], fill["maker_fee"]) == (
        99_650_000_000,
        49_825_000,
        -24_912_500,
    )
    assert _pool_cash(state) == 1_000_000_000_000 - 99_650_000_000 + 24_912_500
    assert state.fee_balance == 24_912_500
    assert balance(state, "taker") == 100_000_000_000 + 99_650_000_000 - 49_825_000


def test_lp_share_value_includes_unrealised_pnl():
    state = _pool_state()
    place(state, "taker", True, btc("3"), None, IOC)  # the pool ends short 2 BTC (see above)
    report(state, "BTC", usd("99000"), T0 + 10)  # mark 99,000: the short gains 2,000 USDC
    pool = state.pools["LP"]
    # equity = cash 1,201,250.3 - 2 * 99,000 = 1,003,250.3 USDC
    assert pool_equity(state, pool) == 1_003_250_300_000
    apply(state, Deposit(addr("lp2"), 0, USDC, usd("100000")))
    events = apply(state, PoolDeposit(addr("lp2"), 0, "LP", usd("100000")))
    # 10**11 * 10**12 // 1_003_250_300_000 = 99_676_023_022 shares (fewer than 1 per atom)
    assert of_kind(events, "PoolDeposited")[0]["shares"] == 99_676_023_022
    # 1 atom: 1 * 1_099_676_023_022 shares // 1_103_250_300_000 equity = 0 shares
    refused(state, PoolDeposit(addr("liquidator"), 0, "LP", 1), InvalidAmount)


# --- withdrawals -------------------------------------------------------------------


def test_pool_withdrawal_waits_for_the_cooldown():
    state = _pool_state()
    events = apply(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 400_000_000_000))
    assert [e.to_json() for e in events] == [
        {
            "event": "PoolWithdrawalRequested",
            "pool": "LP",
            "account": acct("lp"),
            "shares": 400_000_000_000,
            "ready_time": T0 + 86_400,
        }
    ]
    assert state.pools["LP"].shares[key("lp")] == 599_999_999_000
    apply(state, SetTime(T0 + 86_399))
    refused(state, PoolWithdraw(addr("lp"), 0, "LP"), PoolCooldown)
    apply(state, SetTime(T0 + 86_400))
    events = apply(state, PoolWithdraw(addr("lp"), 0, "LP"))
    # 4 * 10**11 * equity 10**12 // shares 10**12
    assert of_kind(events, "PoolWithdrawn") == [
        {"pool": "LP", "account": acct("lp"), "shares": 400_000_000_000, "amount": 400_000_000_000}
    ]
    assert balance(state, "lp") == 400_000_000_000
    assert state.pools["LP"].total_shares == 600_000_000_000
    assert _pool_cash(state) == 600_000_000_000
    refused(state, PoolWithdraw(addr("lp"), 0, "LP"), InsufficientShares)  # nothing pending now


def test_pool_withdrawal_request_refusals_and_restart():
    state = _pool_state()
    refused(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 999_999_999_001), InsufficientShares)
    refused(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 0), InvalidAmount)
    refused(state, PoolRequestWithdrawal(addr("lp"), 0, "NOPE", 1), UnknownPool)
    apply(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 100_000_000_000))
    apply(state, SetTime(T0 + 100))
    events = apply(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 100_000_000_000))
    # a second request adds to the first and restarts the cooldown for both
    assert (events[0].data["shares"], events[0].data["ready_time"]) == (200_000_000_000, T0 + 100 + 86_400)


def test_pool_withdrawal_paid_at_share_value_with_positions():
    state = _pool_state()
    place(state, "taker", True, btc("3"), None, IOC)  # pool short 2 BTC, equity 1,001,250.3 USDC
    apply(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 500_000_000_000))
    report(state, "BTC", usd("100000"), T0 + 86_400)
    events = apply(state, PoolWithdraw(addr("lp"), 0, "LP"))
    # 5 * 10**11 * 1_001_250_300_000 // 10**12
    assert of_kind(events, "PoolWithdrawn")[0]["amount"] == 500_625_150_000
    assert kinds(events) == ["PoolWithdrawn"]


def test_pool_withdrawal_refused_below_the_pools_maintenance():
    state = _pool_state()
    place(state, "taker", True, btc("3"), None, IOC)  # pool short 2 BTC: MM 5% = 10,000 USDC
    apply(state, PoolRequestWithdrawal(addr("lp"), 0, "LP", 999_999_999_000))
    report(state, "BTC", usd("100000"), T0 + 86_400)
    # amount = 999_999_999_000 * 1_001_250_300_000 // 10**12 = 1_001_250_298_998 would leave
    # 1,002 atoms of value against 10,000 USDC of maintenance.
    refused(state, PoolWithdraw(addr("lp"), 0, "LP"), PoolUndercollateralised)
