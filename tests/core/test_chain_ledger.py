"""
Settlement on chain, the core's side (docs/settlement.md): chain deposits credited once in id
order, forced withdrawals served in request order, withdrawal ids, and the exit claims rule.

Every refusal leaves the state hash unchanged (P3); money is conserved, withdrawn totals
included (P1, ``check_money``).
"""

import pytest
from fixtures import BTC_PERP, USDC, addr, place, ready_state
from test_stateful import check_money

from solvent.core.engine import apply
from solvent.core.errors import (
    DepositAlreadyCredited,
    DepositOutOfOrder,
    ForcedOutOfOrder,
    InvalidAmount,
    Malformed,
    ProtocolError,
    Unauthorized,
)
from solvent.core.exit_claims import exit_claims, quote_claim
from solvent.core.hashing import state_hash
from solvent.core.margin import cross_risk
from solvent.core.state import State
from solvent.core.tx import ChainDeposit, Deposit, ForcedWithdrawal, Signed, Tx, Withdraw
from solvent.core.units import SIZE_ONE
from solvent.defaults import GOVERNOR, usd

BLOCK = "0x" + "ab" * 32
ETH_ATOMS = 10**18


def refused(state: State, tx: Tx, error: type[ProtocolError]) -> None:
    before = state_hash(state)
    with pytest.raises(error):
        apply(state, tx)
    assert state_hash(state) == before


def test_chain_deposits_are_credited_once_in_id_order() -> None:
    state = ready_state()
    u = addr("newcomer")
    events = apply(state, ChainDeposit(0, BLOCK, u, 0, USDC, usd("1000")))
    assert [e.to_json() for e in events] == [
        {"event": "Deposited", "account": f"{u}/0", "asset": USDC, "amount": usd("1000"), "deposit_id": 0}
    ]
    assert state.accounts[(u, 0)].balances == {USDC: usd("1000")}
    assert state.deposits_credited == 1
    refused(state, ChainDeposit(0, BLOCK, u, 0, USDC, usd("1000")), DepositAlreadyCredited)
    refused(state, ChainDeposit(2, BLOCK, u, 0, USDC, usd("1000")), DepositOutOfOrder)
    refused(state, ChainDeposit(1, "0xabc", u, 0, USDC, 1), Malformed)
    refused(state, ChainDeposit(1, BLOCK, u, 0, USDC, -1), InvalidAmount)
    apply(state, ChainDeposit(1, BLOCK, u, 0, USDC, usd("1")))
    assert state.accounts[(u, 0)].balances == {USDC: usd("1001")}
    assert state.deposits_credited == 2
    check_money(state)


def test_a_deposit_the_core_cannot_credit_bounces_back_and_the_cursor_advances() -> None:
    state = ready_state()
    u = addr("newcomer")
    cap = state.assets["ETH"].deposit_cap
    events = apply(state, ChainDeposit(0, BLOCK, u, 0, "ETH", cap + 1))
    assert [e.kind for e in events] == ["DepositBounced", "Withdrawn"]
    assert events[0].data["error"] == "DepositCapExceeded"
    assert events[1].data == {"account": f"{u}/0", "asset": "ETH", "amount": cap + 1, "withdrawal_id": 0}
    assert (u, 0) not in state.accounts
    assert state.deposited["ETH"] == state.withdrawn["ETH"] == cap + 1
    # An unlisted token passes through the vault only: the core's books do not name it.
    events = apply(state, ChainDeposit(1, BLOCK, u, 0, "DOGE", 5))
    assert events[1].data["withdrawal_id"] == 1 and "DOGE" not in state.deposited
    assert state.deposits_credited == 2 and state.next_withdrawal_id == 2
    check_money(state)


def test_only_the_operator_credits_chain_deposits_and_serves_forced_withdrawals() -> None:
    state = ready_state()
    u = addr("taker")
    for payload in (ChainDeposit(0, BLOCK, u, 0, USDC, 1), ForcedWithdrawal(0, u, 0, USDC, 1)):
        refused(state, Signed(u, 1, 0, payload), Unauthorized)
        apply(state, Signed(GOVERNOR, 10 + state.deposits_credited + state.forced_served, 0, payload))
    assert state.deposits_credited == 1 and state.forced_served == 1


def test_withdrawals_are_numbered_in_order() -> None:
    state = ready_state()
    ids = []
    for role in ("taker", "maker", "taker"):
        (ev,) = apply(state, Withdraw(addr(role), 0, USDC, usd("1")))
        ids.append(ev.data["withdrawal_id"])
    assert ids == [0, 1, 2] and state.next_withdrawal_id == 3


def test_a_forced_withdrawal_pays_the_whole_amount_when_margin_allows() -> None:
    state = ready_state()
    u = addr("taker")
    events = apply(state, ForcedWithdrawal(0, u, 0, USDC, usd("40000")))
    assert [e.kind for e in events] == ["ForcedWithdrawalServed", "Withdrawn"]
    assert events[1].data == {"account": f"{u}/0", "asset": USDC, "amount": usd("40000"), "withdrawal_id": 0}
    assert state.accounts[(u, 0)].balances[USDC] == usd("60000")
    assert state.forced_served == 1 and state.withdrawn[USDC] == usd("40000")
    check_money(state)


def test_a_forced_withdrawal_pays_what_margin_allows_and_no_more() -> None:
    state = ready_state()
    u = addr("taker")
    place(state, "maker", False, SIZE_ONE, "100000")
    place(state, "taker", True, SIZE_ONE, "100000")
    account = state.accounts[(u, 0)]
    free = cross_risk(state, account).free_collateral
    assert 0 < free < usd("100000")
    events = apply(state, ForcedWithdrawal(0, u, 0, USDC, usd("100000")))
    served, paid = events
    assert paid.data["amount"] == served.data["amount"] == free
    assert served.data["requested"] == usd("100000") and "margin allows" in str(served.data["reason"])
    assert cross_risk(state, account).free_collateral == 0
    refused(state, Withdraw(u, 0, USDC, 1), ProtocolError)
    check_money(state)


def test_a_forced_withdrawal_refused_by_the_rules_pays_zero_and_still_advances() -> None:
    state = ready_state()
    u = addr("newcomer")
    for request_id, (owner, symbol) in enumerate(
        [(u, USDC), (addr("taker"), "DOGE"), (addr("taker"), "ETH")]
    ):
        before = state_hash(state)
        events = apply(state, ForcedWithdrawal(request_id, owner, 0, symbol, usd("1")))
        assert events[1].data["amount"] == 0 and events[1].data["withdrawal_id"] == request_id
        assert state.forced_served == request_id + 1
        assert state_hash(state) != before  # the cursor moved, nothing else
    refused(state, ForcedWithdrawal(1, u, 0, USDC, 1), ForcedOutOfOrder)
    refused(state, ForcedWithdrawal(9, u, 0, USDC, 1), ForcedOutOfOrder)
    check_money(state)


# --- exit claims ----------------------------------------------------------------------


def test_exit_claims_are_balances_without_positions() -> None:
    state = ready_state()
    u = addr("taker")
    apply(state, Deposit(u, 0, "ETH", ETH_ATOMS))
    assert exit_claims(state, state.accounts[(u, 0)]) == {"ETH": ETH_ATOMS, USDC: usd("100000")}


def test_the_quote_claim_adds_positions_at_the_mark() -> None:
    state = ready_state()
    u = addr("taker")
    place(state, "maker", False, SIZE_ONE // 10, "100000")
    place(state, "taker", True, SIZE_ONE // 10, "100000")
    account = state.accounts[(u, 0)]
    mark = state.markets[BTC_PERP].mark_price
    value = (SIZE_ONE // 10 * mark) // SIZE_ONE
    assert quote_claim(state, account) == account.balances[USDC] + value
    assert exit_claims(state, account) == {USDC: account.balances[USDC] + value}


def test_a_quote_debt_is_netted_against_the_largest_other_claim_first() -> None:
    state = ready_state({})
    u = addr("newcomer")
    usdt = state.assets["USDT"].atoms_per_unit
    apply(state, Deposit(u, 0, "ETH", ETH_ATOMS))  # 2,000 at index
    apply(state, Deposit(u, 0, "USDT", 3_000 * usdt))  # 3,000 at index
    apply(state, Withdraw(u, 0, USDC, usd("4000")))  # quote -4,000
    account = state.accounts[(u, 0)]
    assert account.balances[USDC] == -usd("4000")
    # USDT (the larger value) goes first, whole; the 1,000 left takes half an ETH.
    assert exit_claims(state, account) == {"ETH": ETH_ATOMS // 2}
    apply(state, Deposit(u, 0, USDC, usd("3500")))  # quote -500: 500 USDT of 3,000
    assert exit_claims(state, account) == {"ETH": ETH_ATOMS, "USDT": 2_500 * usdt}


def test_a_deficit_beyond_every_claim_floors_at_zero() -> None:
    state = ready_state({})
    u = addr("newcomer")
    apply(state, Deposit(u, 0, "ETH", ETH_ATOMS))
    apply(state, Withdraw(u, 0, USDC, usd("1000")))
    account = state.accounts[(u, 0)]
    account.balances[USDC] = -usd("5000")  # as after a loss larger than the collateral
    assert exit_claims(state, account) == {}
