"""Liquidation, insurance, ADL, socialised loss, breakers and caps: exact unit cases.

The stories (cascades, Black Thursday, Mango, ...) are the adversarial
scenarios in tests/scenarios/adversarial; these tests pin single rules with
exact integers and check that every refusal leaves the state hash unchanged.
"""

import pytest
from fixtures import (
    BTC_PERP,
    USDC,
    addr,
    balance,
    btc,
    key,
    kinds,
    listed_state,
    of_kind,
    place,
    position,
    ready_state,
    refused,
    report,
)

from solvent.core import adl
from solvent.core.engine import apply
from solvent.core.errors import (
    AlreadyExists,
    BadAddress,
    InsufficientMargin,
    InvalidAmount,
    LiquidationCapReached,
    MarketPaused,
    MarketReduceOnly,
    NoLiquidityInBand,
    NotLiquidatable,
    OffLot,
    OICapExceeded,
    OracleStale,
    SelfLiquidation,
    Unauthorized,
    UnknownAccount,
    UnknownDomain,
    UnknownMarket,
    WrongLiquidationOrder,
)
from solvent.core.events import Event
from solvent.core.funding import follow_volatility
from solvent.core.liquidation import socialise
from solvent.core.margin import cross_risk
from solvent.core.state import State, TimeInForce
from solvent.core.tx import (
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    ListDomain,
    MoveIsolatedMargin,
    PlaceOrder,
    PoolDeposit,
    SetDomain,
    SetMarginMode,
    SetMarketLimits,
    SetTime,
    Withdraw,
)
from solvent.defaults import GOVERNOR, pct, usd

IOC = TimeInForce.IOC


def long_trader(isolated: bool = False) -> State:
    """Fixture F at BTC 100,000: "trader" is long 1 BTC at 100,000 with 10,000 of margin
    (quote -90,000, or an isolated margin of 10,000 and an untouched cross balance of 1,000).
    """
    state = ready_state()
    apply(state, Deposit(addr("trader"), 0, USDC, usd("11050" if isolated else "10050")))
    if isolated:
        apply(state, SetMarginMode(addr("trader"), 0, BTC_PERP, True))
        apply(state, MoveIsolatedMargin(addr("trader"), 0, BTC_PERP, usd("10050")))
    place(state, "maker", False, btc("1"), "100000")
    place(state, "trader", True, btc("1"), "100000", IOC)
    return state


def liquidate(state: State, keeper: str = "liquidator", size: int | None = None) -> list[Event]:
    return apply(state, Liquidate(addr(keeper), 0, addr("trader"), 0, BTC_PERP, size))


def at(state: State, price: str, advance: int = 30) -> None:
    report(state, "BTC", usd(price), state.time + advance)


# --- refusals ------------------------------------------------------------------------


def test_healthy_account_is_not_liquidatable() -> None:
    state = long_trader()
    at(state, "96000")  # value 6,000 > MM 4,800
    refused(state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP), NotLiquidatable)
    refused(state, Liquidate(addr("liquidator"), 0, addr("maker"), 0, "ETH-PERP"), NotLiquidatable)


@pytest.mark.parametrize(
    ("tx", "error"),
    [
        (Liquidate(addr("trader"), 1, addr("trader"), 0, BTC_PERP), SelfLiquidation),
        (Liquidate(addr("liquidator"), 0, addr("trader"), 0, "DOGE-PERP"), UnknownMarket),
        (Liquidate(addr("liquidator"), 0, addr("nobody"), 0, BTC_PERP), UnknownAccount),
        (Liquidate("0xNOT", 0, addr("trader"), 0, BTC_PERP), BadAddress),
        (Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP, 123), OffLot),
        (Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP, -10_000), InvalidAmount),
    ],
    ids=["self", "unknown market", "unknown account", "bad keeper", "off lot", "negative size"],
)
def test_bad_liquidations_are_refused_and_change_nothing(tx: Liquidate, error: type) -> None:
    state = long_trader()
    at(state, "94000")
    refused(state, tx, error)


def test_no_liquidation_at_a_stale_or_held_price() -> None:
    state = long_trader()
    at(state, "94000")
    apply(state, SetTime(state.time + 61))
    refused(state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP), OracleStale)
    at(state, "80000", advance=0)  # a fresh quorum proposing a -15% jump: held, not taken
    refused(state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP), MarketPaused)


def test_nothing_is_sold_outside_the_band() -> None:
    state = long_trader()
    at(state, "94000")
    place(state, "maker2", True, btc("1"), "92000")  # below 94,000 x 0.98 = 92,120
    refused(state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP), NoLiquidityInBand)


def test_cross_bucket_liquidates_the_largest_risk_first() -> None:
    state = long_trader()
    apply(state, Deposit(addr("trader"), 0, USDC, usd("100")))
    place(state, "maker", False, btc("0.01"), "2000", market="ETH-PERP")
    place(state, "trader", True, btc("0.01"), "2000", IOC, market="ETH-PERP")
    at(state, "94000")
    report(state, "ETH", usd("2000"), state.time)
    assert cross_risk(state, state.accounts[key("trader")]).is_liquidatable
    error = refused(
        state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, "ETH-PERP"), WrongLiquidationOrder
    )
    assert "BTC-PERP" in error.message


def test_the_cap_per_window_limits_each_step() -> None:
    state = long_trader()
    apply(state, SetDomain(GOVERNOR, "MAJ", liq_cap_notional=usd("18800")))  # 0.2 BTC at 94,000
    at(state, "94000")
    place(state, "maker2", True, btc("2"), "94000")
    events = liquidate(state)
    assert of_kind(events, "Liquidated")[0]["size"] == btc("0.2")  # the close size is 0.7176
    refused(state, Liquidate(addr("liquidator"), 0, addr("trader"), 0, BTC_PERP), LiquidationCapReached)
    apply(state, SetTime(state.time + 60))  # the next window
    at(state, "94000", advance=0)
    assert of_kind(liquidate(state), "Liquidated")[0]["size"] == btc("0.2")


# --- execution --------------------------------------------------------------------------


def test_pool_backstop_takes_the_rest_at_exactly_the_band_edge() -> None:
    state = long_trader()
    apply(state, PoolDeposit(addr("lp"), 0, "LP", usd("1000000")))
    at(state, "94000")
    events = liquidate(state)
    fill = of_kind(events, "Fill")[0]
    assert fill["maker"] == "pool:LP/0"
    assert fill["size"] == btc("0.7176")
    assert fill["notional"] == 66_105_312_000  # 0.7176 x 92,120 (= 94,000 x 0.98)
    assert position(state, "trader") == btc("0.2824")
    assert state.accounts[("pool:LP", 0)].positions[BTC_PERP].size == btc("0.7176")


def test_isolated_bankruptcy_never_touches_the_cross_balance() -> None:
    state = long_trader(isolated=True)
    cross = balance(state, "trader")
    at(state, "95000")
    at(state, "88000")
    place(state, "maker2", True, btc("1"), "88000")
    fund = state.insurance["MAJ"]
    events = liquidate(state)
    assert of_kind(events, "InsurancePaid")[0]["amount"] == usd("2000")
    assert balance(state, "trader") == cross  # the isolated margin was used up, nothing more
    assert state.insurance["MAJ"] == fund - usd("2000") - usd("440")
    assert position(state, "trader") == 0


def test_keeper_reward_and_fund_share_of_the_penalty() -> None:
    state = long_trader()
    at(state, "94000")
    place(state, "maker2", True, btc("0.5"), "93500")
    place(state, "maker2", True, btc("1"), "93000")
    keeper_before = balance(state, "liquidator")
    fund_before = state.insurance["MAJ"]
    data = of_kind(liquidate(state), "Liquidated")[0]
    assert (data["penalty"], data["keeper_reward"], data["insurance_fee"]) == (
        1_004_802_000,
        334_934_000,
        669_868_000,
    )
    assert balance(state, "liquidator") - keeper_before == 334_934_000
    assert state.insurance["MAJ"] - fund_before == 669_868_000
    assert state.insurance["ALT"] == usd("20000")  # P6: the other domain's fund is untouched


# --- ADL and socialised loss ---------------------------------------------------------------


def test_adl_queue_ranks_by_profit_times_leverage() -> None:
    state = listed_state()
    report(state, "ALT", usd("1"))
    for role, amount in (("a", "400000"), ("b", "200000"), ("c", "200000")):
        apply(state, Deposit(addr(role), 0, USDC, usd(amount)))
    place(state, "a", True, btc("600000"), "1", market="ALT-PERP")
    place(state, "b", False, btc("600000"), "1", IOC, market="ALT-PERP")
    place(state, "a", True, btc("400000"), "0.96", market="ALT-PERP")
    place(state, "c", False, btc("400000"), "0.96", IOC, market="ALT-PERP")
    report(state, "ALT", usd("0.93"), state.time + 60)
    market = state.markets["ALT-PERP"]
    queue = adl.queue(state, market, side=-1)
    assert [r.account for r in queue] == [key("b"), key("c")]
    assert adl.rank_of(state, key("b"), market) == (1, 2, queue[0].score)
    assert adl.rank_of(state, key("c"), market)[:2] == (2, 2)  # type: ignore[index]
    assert adl.rank_of(state, key("nobody"), market) is None


def test_socialised_loss_is_exact_and_spares_accounts_without_positions() -> None:
    state = long_trader()
    place(state, "maker2", True, btc("0.3"), "100000")
    place(state, "taker", False, btc("0.3"), "100000", IOC)
    events: list[Event] = []
    before = {r: balance(state, r) for r in ("maker", "maker2", "taker", "trader", "lp")}
    assert socialise(state, "MAJ", key("lp"), 1_000_001, events) == 1_000_001
    charged = {e["account"]: e["amount"] for e in of_kind(events, "SocialisedLossCharged")}
    assert sum(charged.values()) == 1_000_001  # to the atom
    assert of_kind(events, "SocialisedLoss")[0]["amount"] == 1_000_001
    # Open notional at the mark: maker 1 BTC, trader 1, maker2 0.3, taker 0.3 (of 2.6), rounded
    # down, the 3 atoms left one each to the first accounts in key order.
    after = {r: balance(state, r) for r in before}
    floors = {"maker": 384_615, "trader": 384_615, "maker2": 115_384, "taker": 115_384}
    first_three = sorted(floors, key=key)[:3]
    for role, floor in floors.items():
        assert before[role] - after[role] == floor + (role in first_three)
    assert after["lp"] == before["lp"]  # no position, no charge (the caller credits the bankrupt)


def test_collateral_sale_price_and_order() -> None:
    state = ready_state()
    apply(state, Deposit(addr("e"), 0, "ETH", 10 * 10**18))
    apply(state, Withdraw(addr("e"), 0, USDC, usd("15000")))  # a debt against 10 ETH at 2,000
    report(state, "ETH", usd("1800"), state.time + 30)  # 10 x 1,800 x 0.85 = 15,300 > 15,000
    refused(state, LiquidateCollateral(addr("liquidator"), 0, addr("e"), 0, "ETH"), NotLiquidatable)
    report(state, "ETH", usd("1700"), state.time + 30)  # 14,450 < 15,000
    refused(state, LiquidateCollateral(addr("nobody"), 0, addr("e"), 0, "ETH"), UnknownAccount)
    events = apply(state, LiquidateCollateral(addr("liquidator"), 0, addr("e"), 0, "ETH"))
    sale = of_kind(events, "CollateralLiquidated")[0]
    assert sale["price"] == usd("1666")  # 1,700 x 0.98
    assert sale["amount"] == -(-15_000 * 10**18 // 1666)  # the least ETH that repays the debt
    assert balance(state, "e") >= 0
    assert balance(state, "e", asset="ETH") == 10 * 10**18 - sale["amount"]


# --- breakers, caps and governance ---------------------------------------------------------


def test_governance_reduce_only_refuses_new_risk_and_emits_events() -> None:
    state = long_trader()
    place(state, "maker", True, btc("1"), "100000")  # buys back the maker's short
    events = apply(state, SetMarketLimits(GOVERNOR, BTC_PERP, reduce_only=True))
    assert of_kind(events, "BreakerTripped")[0]["breaker"] == "governance"
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("100000")), MarketReduceOnly)
    place(state, "trader", False, btc("0.5"), "100000", IOC)  # reducing is accepted
    assert position(state, "trader") == btc("0.5")
    events = apply(state, SetMarketLimits(GOVERNOR, BTC_PERP, reduce_only=False))
    assert kinds(events) == ["BreakerCleared"]
    refused(state, SetMarketLimits(addr("trader"), BTC_PERP, oi_cap=1), Unauthorized)


def test_move_breaker_trips_past_25_percent_in_the_window() -> None:
    state = ready_state()
    tripped = []
    for price in ("92000", "84000", "77000", "74000"):  # steps < 10%, -26% in 4 minutes
        tripped += [e for e in of_kind(report(state, "BTC", usd(price), state.time + 60), "BreakerTripped")]
    assert [(e["market"], e["breaker"], e["effect"]) for e in tripped] == [(BTC_PERP, "move", "reduce_only")]
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("74000")), MarketReduceOnly)
    cleared = of_kind(report(state, "BTC", usd("74000"), state.time + 3600), "BreakerCleared")
    assert "move" in [e["breaker"] for e in cleared]


def test_maintenance_volatility_rises_at_most_the_step_per_hour() -> None:
    state = ready_state()
    market = state.markets[BTC_PERP]
    market.mm_sigma, market.mm_sigma_time = 0, 0
    follow_volatility(market, pct("30"), pct("2"), 1800)  # half an hour
    assert market.mm_sigma == pct("1")
    follow_volatility(market, pct("30"), pct("2"), 1800 + 7200)
    assert market.mm_sigma == pct("5")
    follow_volatility(market, pct("3"), pct("2"), 1800 + 7201)  # falls at once
    assert market.mm_sigma == pct("3")


def test_open_interest_caps_per_market_and_per_domain() -> None:
    state = ready_state()
    apply(state, SetMarketLimits(GOVERNOR, BTC_PERP, oi_cap=btc("1")))
    refused(state, PlaceOrder(addr("maker"), 0, BTC_PERP, False, btc("2"), usd("100000")), OICapExceeded)
    place(state, "maker", False, btc("1"), "100000")
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("1.0001"), usd("100000")), OICapExceeded)
    place(state, "taker", True, btc("1"), "100000", IOC)
    assert state.markets[BTC_PERP].open_interest == btc("1")
    apply(state, SetMarketLimits(GOVERNOR, BTC_PERP, oi_cap=0))
    apply(state, SetDomain(GOVERNOR, "MAJ", oi_cap_notional=usd("150000")))
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.6"), usd("100000")), OICapExceeded)
    place(state, "maker", True, btc("0.5"), "100000")  # reduces the maker's short: no cap applies
    place(state, "taker", False, btc("0.2"), "100000", IOC)  # reducing at the cap is accepted
    assert state.markets[BTC_PERP].open_interest == btc("0.8")


def test_fund_insurance_and_domain_governance() -> None:
    state = ready_state()
    apply(state, FundInsurance(addr("lp"), 0, "ALT", usd("5000")))
    assert state.insurance["ALT"] == usd("25000")
    refused(state, FundInsurance(addr("lp"), 0, "NOPE", usd("1")), UnknownDomain)
    refused(state, FundInsurance(addr("taker"), 0, "MAJ", usd("100001")), InsufficientMargin)
    refused(state, ListDomain(GOVERNOR, "MAJ"), AlreadyExists)
    refused(state, ListDomain(addr("lp"), "NEW"), Unauthorized)
    refused(state, ListDomain(GOVERNOR, "NEW", close_buffer=pct("90")), InvalidAmount)
    refused(state, SetDomain(GOVERNOR, "MAJ", liq_band=pct("50")), InvalidAmount)
    refused(state, SetDomain(GOVERNOR, "NOPE", liq_band=pct("1")), UnknownDomain)


def test_adl_never_makes_a_taker_pay_a_negative_bankruptcy_price() -> None:
    """Found by the stateful machine: a short whose deficit exceeds its notional has a
    bankruptcy price below zero (it would be paid to close). The plan read the price from
    abs(flow), saw a gain for the long taker and did not cap it: the taker paid the whole
    deficit. Now its size is capped so its value stays >= 0."""
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100000")
    place(state, "taker", True, btc("0.1"), "100000", tif=TimeInForce.IOC)
    market = state.markets["BTC-PERP"]
    value = cross_risk(state, state.accounts[key("taker")]).value_maint
    flow = usd("1000000")  # the bankrupt short receives 1M to buy back 0.1 BTC: -10M per BTC
    plan = adl.deleverage_plan(state, market, key("maker"), -1, btc("0.1"), flow)
    ((taker, size, part),) = plan
    assert taker == key("taker")
    loss_per_btc = usd("10000000") + market.mark_price
    assert size == (value * 10**8 // loss_per_btc) // market.lot * market.lot < btc("0.1")
    assert part == (flow * size) // btc("0.1")
