"""
A venue settled on chain (docs/settlement.md): ``SettleOnChain`` turns ``State.chain_settled`` on
for good, after which a plain ``Deposit`` is refused ``DepositOnChainOnly`` (6007) and money
enters only as a ``ChainDeposit`` from the vault. Only the governor (the operator) turns it on,
once. A state pickled before the field existed restores with it off.

Every refusal leaves the state hash unchanged (P3, ``fixtures.refused``).
"""

import copy
import copyreg
import io
import pickle
from dataclasses import fields

import pytest
from fixtures import USDC, addr, kinds, ready_state, refused
from test_stateful import check_money

from solvent.core.codec import decode_tx, encode_tx
from solvent.core.engine import apply, preview
from solvent.core.errors import AlreadyExists, DepositOnChainOnly, Unauthorized
from solvent.core.hashing import state_hash
from solvent.core.state import State
from solvent.core.tx import (
    ChainDeposit,
    Deposit,
    FundInsurance,
    SettleOnChain,
    Signed,
    Transfer,
    Withdraw,
)
from solvent.defaults import GOVERNOR, usd
from solvent.scenario import convert_tx

BLOCK = "0x" + "ab" * 32


def settled_state() -> State:
    state = ready_state()
    assert kinds(apply(state, SettleOnChain(GOVERNOR))) == ["SettledOnChain"]
    return state


def test_a_settled_venue_refuses_a_plain_deposit_and_credits_the_vaults() -> None:
    state = ready_state()
    assert not state.chain_settled
    apply(state, Deposit(addr("newcomer"), 0, USDC, usd("10")))  # before the switch: credited
    assert kinds(apply(state, SettleOnChain(GOVERNOR))) == ["SettledOnChain"]
    assert state.chain_settled
    error = refused(state, Deposit(addr("newcomer"), 0, USDC, usd("10")), DepositOnChainOnly)
    assert (error.code, error.name) == (6007, "DepositOnChainOnly")
    assert "deposit in the vault on chain" in error.message
    # Whatever else is wrong with it, the answer is the same: no plain deposit at all.
    refused(state, Deposit(addr("newcomer"), 0, "DOGE", usd("10")), DepositOnChainOnly)
    refused(state, Deposit(addr("newcomer"), 0, USDC, 0), DepositOnChainOnly)
    with pytest.raises(DepositOnChainOnly):
        preview(state, Deposit(addr("newcomer"), 0, USDC, 1))
    # The vault's deposits, and the money already in, move as before.
    apply(state, ChainDeposit(0, BLOCK, addr("newcomer"), 0, USDC, usd("1000")))
    assert state.accounts[(addr("newcomer"), 0)].balances[USDC] == usd("1010")
    apply(state, Transfer(addr("newcomer"), 0, 1, USDC, usd("5")))
    apply(state, FundInsurance(addr("newcomer"), 1, "MAJ", usd("5")))
    apply(state, Withdraw(addr("newcomer"), 0, USDC, usd("100")))
    check_money(state)


def test_only_the_governor_settles_the_venue_and_only_once() -> None:
    state = ready_state()
    refused(state, SettleOnChain(addr("taker")), Unauthorized)
    assert not state.chain_settled
    apply(state, SettleOnChain(GOVERNOR))
    error = refused(state, SettleOnChain(GOVERNOR), AlreadyExists)
    assert "one-way" in error.message
    assert state.chain_settled


def test_signed_deposit_and_switch_answer_with_their_codes() -> None:
    """Through the node's envelope: the operator's Deposit is refused with its code (the nonce is
    spent, as for every refused payload); nobody but the operator turns the switch on."""
    state = ready_state()
    taker = addr("taker")
    # A user signing for the governor: the envelope is refused, the nonce unused.
    refused(state, Signed(taker, 1, 0, SettleOnChain(GOVERNOR)), Unauthorized)
    # A user signing as itself: the payload is refused (not the governor), the nonce spent.
    (event,) = apply(state, Signed(taker, 1, 0, SettleOnChain(taker)))
    assert (event.kind, event.data["code"]) == ("Refused", Unauthorized.code)
    assert not state.chain_settled
    assert kinds(apply(state, Signed(GOVERNOR, 1, 0, SettleOnChain(GOVERNOR)))) == ["SettledOnChain"]
    before = state.accounts[(taker, 0)].balances[USDC]
    (event,) = apply(state, Signed(GOVERNOR, 2, 0, Deposit(taker, 0, USDC, usd("1000000"))))
    assert event.kind == "Refused"
    assert (event.data["code"], event.data["error"]) == (6007, "DepositOnChainOnly")
    assert state.accounts[(taker, 0)].balances[USDC] == before
    assert state.nonces[GOVERNOR].high == 2
    # A chain deposit signed by the operator is credited as before.
    (event,) = apply(state, Signed(GOVERNOR, 3, 0, ChainDeposit(0, BLOCK, taker, 0, USDC, usd("1"))))
    assert event.kind == "Deposited"
    check_money(state)


def test_the_switch_on_the_wire_and_in_scenarios() -> None:
    tx = SettleOnChain(GOVERNOR)
    assert encode_tx(tx) == {"tx": "SettleOnChain", "sender": GOVERNOR}
    assert decode_tx({"tx": "SettleOnChain", "sender": GOVERNOR}) == tx
    # A scenario (or deployment) line names no sender: the governor sends governance.
    assert convert_tx(ready_state(), {"tx": "SettleOnChain"}) == {"tx": "SettleOnChain", "sender": GOVERNOR}


class _WrittenBeforeTheField(pickle.Pickler):
    """Pickles a State as a version of Solvent without ``chain_settled`` did: a slots dataclass
    pickles as ``copyreg.__newobj__`` with the state ``(None, {field: value})``."""

    def reducer_override(self, obj: object) -> object:
        if type(obj) is State:
            slots = {f.name: getattr(obj, f.name) for f in fields(State) if f.name != "chain_settled"}
            return copyreg.__newobj__, (State,), (None, slots)
        return NotImplemented


def _old_pickle(state: State) -> bytes:
    buffer = io.BytesIO()
    _WrittenBeforeTheField(buffer, protocol=5).dump(state)
    return buffer.getvalue()


def test_a_state_pickled_before_the_field_existed_restores_with_it_off() -> None:
    state = ready_state()
    old = _old_pickle(state)
    assert b"chain_settled" not in old and b"chain_settled" in pickle.dumps(state, protocol=5)
    restored = pickle.loads(old)
    assert restored.chain_settled is False
    assert restored == state and state_hash(restored) == state_hash(state)
    # It is a full state: it applies transactions and can be settled like any other.
    apply(restored, Deposit(addr("newcomer"), 0, USDC, 1))
    apply(restored, SettleOnChain(GOVERNOR))
    refused(restored, Deposit(addr("newcomer"), 0, USDC, 1), DepositOnChainOnly)


def test_pickles_and_copies_keep_the_switch() -> None:
    state = settled_state()
    for clone in (pickle.loads(pickle.dumps(state, protocol=5)), copy.deepcopy(state), copy.copy(state)):
        assert clone.chain_settled is True and clone == state
        refused(clone, Deposit(addr("taker"), 0, USDC, 1), DepositOnChainOnly)
    # The flag is part of the state hash: a settled venue is not the same state.
    assert state_hash(state) != state_hash(ready_state())
