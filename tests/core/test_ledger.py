"""
Ledger: deposits, withdrawals, transfers, leverage caps and margin modes, with exact integers.

Fixture F, BTC-PERP at mark 100,000 USDC: a 1 BTC position is worth
100_000_000_000 quote atoms, needs IM 10% = 10_000_000_000 and MM 5%; the
taker fee on 100,000 USDC is 0.05% = 50_000_000.
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
    place,
    position,
    ready_state,
    refused,
    report,
)

from solvent.core.engine import apply
from solvent.core.errors import (
    AmountTooLarge,
    BadAddress,
    DepositCapExceeded,
    InsufficientBalance,
    InsufficientMargin,
    InvalidAmount,
    LeverageTooHigh,
    Malformed,
    OracleStale,
    PositionOpen,
    SameAccount,
    UnknownAccount,
    UnknownAsset,
    UnknownMarket,
)
from solvent.core.margin import cross_risk, isolated_risk
from solvent.core.state import TimeInForce, TriggerKind
from solvent.core.tx import (
    Deposit,
    MoveIsolatedMargin,
    PlaceOrder,
    PlaceTrigger,
    SetLeverage,
    SetMarginMode,
    SetTime,
    Transfer,
    Withdraw,
)
from solvent.defaults import usd

IOC = TimeInForce.IOC
SMALL = {"maker": "1000000", "taker": "20000"}


def _taker_short_one_btc(state) -> None:
    """Taker sells 1 BTC at 100,000 into the maker's bid (taker pays 50 USDC fee)."""
    place(state, "maker", True, btc("1"), "100000")
    place(state, "taker", False, btc("1"), "100000", IOC)


def _taker_long_one_btc(state) -> None:
    place(state, "maker", False, btc("1"), "100000")
    place(state, "taker", True, btc("1"), "100000", IOC)


# --- deposits ------------------------------------------------------------------


def test_deposit_creates_the_account_and_credits_it():
    state = ready_state()
    events = apply(state, Deposit(addr("liquidator"), 3, USDC, usd("250.5")))
    assert [e.to_json() for e in events] == [
        {"event": "Deposited", "account": acct("liquidator", 3), "asset": USDC, "amount": 250_500_000}
    ]
    assert state.accounts[key("liquidator", 3)].balances == {USDC: 250_500_000}
    # 1,000,000 + 1,000,000 + 100,000 + 100,000 + 1,000,000 funded by ready_state, + 250.5
    assert state.assets[USDC].total_deposits == 4_220_250_500_000
    assert state.deposited[USDC] == 4_220_250_500_000


def test_deposit_cap_refuses_the_atom_over_it():
    state = ready_state()
    cap = state.assets[USDC].deposit_cap
    assert cap == 10**21  # 10**15 USDC
    room = cap - 4_220_000_000_000  # ready_state funded 3,200,000 USDC, the treasury 1,020,000
    refused(state, Deposit(addr("lp"), 0, USDC, room + 1), DepositCapExceeded)
    apply(state, Deposit(addr("lp"), 0, USDC, room))
    refused(state, Deposit(addr("lp"), 0, USDC, 1), DepositCapExceeded)
    apply(state, Withdraw(addr("lp"), 0, USDC, 1))  # the cap is on net deposits
    apply(state, Deposit(addr("lp"), 0, USDC, 1))
    assert state.assets[USDC].total_deposits == cap


def test_deposit_refuses_bad_addresses_assets_and_amounts():
    state = ready_state()
    upper = "0x" + "AB" * 20
    refused(state, Deposit(upper, 0, USDC, 1), BadAddress)
    refused(state, Deposit("0x1234", 0, USDC, 1), BadAddress)
    refused(state, Deposit("maker", 0, USDC, 1), BadAddress)
    refused(state, Deposit(addr("lp"), 0, "DOGE", 1), UnknownAsset)
    refused(state, Deposit(addr("lp"), 0, USDC, 0), InvalidAmount)
    refused(state, Deposit(addr("lp"), 0, USDC, -5), InvalidAmount)
    refused(state, Deposit(addr("lp"), 0, USDC, 2**127), AmountTooLarge)
    refused(state, Deposit(addr("lp"), -1, USDC, 1), Malformed)
    refused(state, Deposit(addr("lp"), 2**32, USDC, 1), Malformed)


# --- withdrawals and transfers ------------------------------------------------------


def test_withdraw_debits_and_refuses_more_than_the_balance():
    state = ready_state()
    events = apply(state, Withdraw(addr("taker"), 0, USDC, usd("40000")))
    assert [e.to_json() for e in events] == [
        {
            "event": "Withdrawn",
            "account": acct("taker"),
            "asset": USDC,
            "amount": 40_000_000_000,
            "withdrawal_id": 0,
        }
    ]
    assert balance(state, "taker") == 60_000_000_000
    assert state.withdrawn[USDC] == 40_000_000_000
    # Without collateral or positions the quote balance may not go below zero: value -1 < IM 0.
    error = refused(state, Withdraw(addr("taker"), 0, USDC, 60_000_000_001), InsufficientMargin)
    assert "at most 60000000000 quote atoms" in error.message
    refused(state, Withdraw(addr("taker"), 0, "ETH", 1), InsufficientBalance)


def test_withdraw_from_an_unknown_account_refused():
    state = ready_state()
    refused(state, Withdraw(addr("nobody"), 0, USDC, 1), UnknownAccount)
    refused(state, Withdraw(addr("taker"), 1, USDC, 1), UnknownAccount)


def test_withdraw_refused_below_initial_margin():
    state = ready_state(SMALL)
    _taker_short_one_btc(state)
    # cash = 20,000 + 100,000 - 50 = 119,950 USDC; short 1 BTC worth -100,000
    # value = 19,950 USDC, IM = 10,000 USDC, free collateral = 9,950 USDC
    assert balance(state, "taker") == 119_950_000_000
    error = refused(state, Withdraw(addr("taker"), 0, USDC, 9_950_000_001), InsufficientMargin)
    assert "at most 9950000000 quote atoms" in error.message
    apply(state, Withdraw(addr("taker"), 0, USDC, 9_950_000_000))
    risk = cross_risk(state, state.accounts[key("taker")])
    assert (risk.value_init, risk.im, risk.free_collateral) == (10_000_000_000, 10_000_000_000, 0)


def test_withdraw_by_a_long_may_take_quote_negative_while_covered():
    state = ready_state(SMALL)
    _taker_long_one_btc(state)
    # cash = 20,000 - 100,000 - 50 = -80,050 USDC; long 1 BTC worth 100,000
    # value = 19,950 USDC, IM = 10,000 USDC, free collateral = 9,950 USDC
    assert balance(state, "taker") == -80_050_000_000
    refused(state, Withdraw(addr("taker"), 0, USDC, 9_950_000_001), InsufficientMargin)
    apply(state, Withdraw(addr("taker"), 0, USDC, 9_950_000_000))
    assert balance(state, "taker") == -90_000_000_000


def test_withdraw_with_a_position_refused_on_a_stale_index():
    state = ready_state(SMALL)
    _taker_short_one_btc(state)
    apply(state, SetTime(T0 + 61))  # index older than staleness_s = 60
    refused(state, Withdraw(addr("taker"), 0, USDC, 1), OracleStale)


def test_transfer_moves_quote_between_subaccounts_of_one_owner():
    state = ready_state()
    events = apply(state, Transfer(addr("taker"), 0, 1, USDC, usd("5000")))
    assert [e.to_json() for e in events] == [
        {
            "event": "Transferred",
            "source": acct("taker", 0),
            "destination": acct("taker", 1),
            "asset": USDC,
            "amount": 5_000_000_000,
        }
    ]
    assert (balance(state, "taker", 0), balance(state, "taker", 1)) == (95_000_000_000, 5_000_000_000)
    refused(state, Transfer(addr("taker"), 0, 0, USDC, 1), SameAccount)
    refused(state, Transfer(addr("taker"), 7, 0, USDC, 1), UnknownAccount)
    refused(state, Transfer(addr("taker"), 1, 0, USDC, 5_000_000_001), InsufficientMargin)


def test_transfer_refused_below_initial_margin():
    state = ready_state(SMALL)
    _taker_short_one_btc(state)  # free collateral 9,950 USDC
    refused(state, Transfer(addr("taker"), 0, 1, USDC, 9_950_000_001), InsufficientMargin)
    apply(state, Transfer(addr("taker"), 0, 1, USDC, 9_950_000_000))
    assert balance(state, "taker", 1) == 9_950_000_000


# --- leverage ------------------------------------------------------------------


def test_set_leverage_outside_one_to_market_max_refused():
    state = ready_state()
    refused(state, SetLeverage(addr("taker"), 0, BTC_PERP, 11), LeverageTooHigh)  # BTC-PERP max 10
    refused(state, SetLeverage(addr("taker"), 0, BTC_PERP, 0), LeverageTooHigh)
    refused(state, SetLeverage(addr("taker"), 0, "ALT-PERP", 6), LeverageTooHigh)  # ALT-PERP max 5
    refused(state, SetLeverage(addr("taker"), 0, "DOGE-PERP", 2), UnknownMarket)
    events = apply(state, SetLeverage(addr("taker"), 0, BTC_PERP, 10))
    assert [e.to_json() for e in events] == [
        {"event": "LeverageSet", "account": acct("taker"), "market": BTC_PERP, "leverage": 10}
    ]


def test_leverage_cap_raises_the_initial_requirement_of_orders():
    state = ready_state(SMALL)
    place(state, "maker", False, btc("1"), "100100")  # something to rest against
    buy_04 = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.4"), usd("100000"))
    apply(state, SetLeverage(addr("taker"), 0, BTC_PERP, 2))
    # At 2x, IMF = max(10%, ceil(1/2)) = 50%. 0.4 BTC at 100,000: IM 20,000 USDC, but
    # value = 20,000 - 40,000 - fee 20 + 40,000 = 19,980 USDC: refused.
    refused(state, buy_04, InsufficientMargin)
    # 0.39 BTC: IM 19,500, value = 20,000 - 19.5 = 19,980.5 USDC: accepted.
    place(state, "taker", True, btc("0.39"), "100000")
    apply(state, SetLeverage(addr("taker"), 0, BTC_PERP, 10))
    apply(state, buy_04)  # at 10x the same order needs only 4,000 USDC


def test_set_leverage_refused_when_the_position_would_fall_below_initial():
    state = ready_state(SMALL)
    _taker_long_one_btc(state)  # value 19,950 USDC on 1 BTC at 100,000
    apply(state, SetLeverage(addr("taker"), 0, BTC_PERP, 10))
    # 5x: IMF 20%, IM 20,000 > 19,950. Refused; the 10x setting stays.
    error = refused(state, SetLeverage(addr("taker"), 0, BTC_PERP, 5), InsufficientMargin)
    assert "20000000000" in error.message
    assert state.accounts[key("taker")].settings[BTC_PERP].leverage == 10
    # 6x: IMF = ceil(10**18 / 6) = 166_666_666_666_666_667,
    # IM = ceil(100_000_000_000 * that / 10**18) = 16_666_666_667 <= 19_950_000_000.
    apply(state, SetLeverage(addr("taker"), 0, BTC_PERP, 6))
    risk = cross_risk(state, state.accounts[key("taker")])
    assert (risk.value_init, risk.im) == (19_950_000_000, 16_666_666_667)


def test_set_leverage_refusal_on_a_fresh_account_leaves_no_setting():
    state = ready_state(SMALL)
    _taker_long_one_btc(state)
    refused(state, SetLeverage(addr("taker"), 0, BTC_PERP, 1), InsufficientMargin)
    assert state.accounts[key("taker")].settings is None


# --- margin modes and isolated margin -------------------------------------------------


def test_margin_mode_switch_refused_with_a_position_or_an_order():
    state = ready_state()
    _taker_long_one_btc(state)
    refused(state, SetMarginMode(addr("taker"), 0, BTC_PERP, True), PositionOpen)
    place(state, "maker2", False, btc("0.1"), "100100")  # an order, no position
    refused(state, SetMarginMode(addr("maker2"), 0, BTC_PERP, True), PositionOpen)
    events = apply(state, SetMarginMode(addr("maker2"), 0, "ETH-PERP", True))  # nothing in ETH-PERP
    assert [e.to_json() for e in events] == [
        {"event": "MarginModeSet", "account": acct("maker2"), "market": "ETH-PERP", "isolated": True}
    ]


def test_margin_mode_switch_refused_with_a_trigger():
    state = ready_state()
    stop = PlaceTrigger(addr("taker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("101000"), True, btc("0.1"))
    apply(state, stop)
    refused(state, SetMarginMode(addr("taker"), 0, BTC_PERP, True), PositionOpen)


def test_move_isolated_margin_refused_in_cross_mode():
    state = ready_state()
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, usd("100")), PositionOpen)


def test_isolated_position_loss_does_not_touch_the_cross_balance():
    state = ready_state({"maker": "1000000", "taker": "100000"})
    apply(state, SetMarginMode(addr("taker"), 0, BTC_PERP, True))
    events = apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, usd("15000")))
    assert [e.to_json() for e in events] == [
        {
            "event": "IsolatedMarginMoved",
            "account": acct("taker"),
            "market": BTC_PERP,
            "amount": 15_000_000_000,
        }
    ]
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, 85_000_000_001), InsufficientBalance)
    _taker_long_one_btc(state)
    pos = state.accounts[key("taker")].positions[BTC_PERP]
    # isolated margin = 15,000 - 100,000 - fee 50 = -85,050 USDC; the cross balance keeps 85,000.
    assert (pos.size, pos.isolated, pos.isolated_margin) == (100_000_000, True, -85_050_000_000)
    assert balance(state, "taker") == 85_000_000_000
    report(state, "BTC", usd("95000"), T0 + 10)  # -5%
    account = state.accounts[key("taker")]
    iso = isolated_risk(state, account, BTC_PERP)
    # value = -85,050 + 95,000 = 9,950; IM = 9,500; MM = 4,750 USDC
    assert (iso.value_init, iso.im, iso.mm) == (9_950_000_000, 9_500_000_000, 4_750_000_000)
    cross = cross_risk(state, account)
    assert (cross.value_init, cross.im) == (85_000_000_000, 0)
    # Taking margin out of the long (its margin is negative: it carries the price paid):
    # at most value - IM = 9,950 - 9,500 = 450 USDC.
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -450_000_001), InsufficientMargin)
    apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -450_000_000))
    assert balance(state, "taker") == 85_450_000_000
    assert state.accounts[key("taker")].positions[BTC_PERP].isolated_margin == -85_500_000_000
    # Closing at 95,000 returns the isolated margin to cross: -85,500 + 95,000 = 9,500 USDC,
    # then the taker fee ceil(95,000 * 0.05%) = 47.5 USDC comes from the cross balance.
    place(state, "maker", True, btc("1"), "95000")
    place(state, "taker", False, btc("1"), "95000", IOC)
    assert position(state, "taker") == 0
    assert BTC_PERP not in state.accounts[key("taker")].positions
    assert balance(state, "taker") == 85_450_000_000 + 9_500_000_000 - 47_500_000 == 94_902_500_000


def test_isolated_short_moves_excess_margin_out_down_to_initial():
    state = ready_state({"maker": "1000000", "taker": "100000"})
    apply(state, SetMarginMode(addr("taker"), 0, BTC_PERP, True))
    apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, usd("15000")))
    _taker_short_one_btc(state)
    # margin = 15,000 + 100,000 - 50 = 114,950; value = 114,950 - 100,000 = 14,950; IM 10,000
    pos = state.accounts[key("taker")].positions[BTC_PERP]
    assert pos.isolated_margin == 114_950_000_000
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -4_950_000_001), InsufficientMargin)
    apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -4_950_000_000))
    assert balance(state, "taker") == 85_000_000_000 + 4_950_000_000
    iso = isolated_risk(state, state.accounts[key("taker")], BTC_PERP)
    assert (iso.value_init, iso.im) == (10_000_000_000, 10_000_000_000)


def test_isolated_margin_without_a_position_moves_back_only_what_it_holds():
    state = ready_state()
    apply(state, SetMarginMode(addr("taker"), 0, BTC_PERP, True))
    apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, usd("1000")))
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -1_000_000_001), InsufficientBalance)
    refused(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, 0), InvalidAmount)
    apply(state, MoveIsolatedMargin(addr("taker"), 0, BTC_PERP, -1_000_000_000))
    assert BTC_PERP not in state.accounts[key("taker")].positions
    assert balance(state, "taker") == 100_000_000_000
