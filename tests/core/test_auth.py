"""
Signers, nonces and agent keys (core.auth): who may send what, each nonce once.

ADV-21 (agent key limits) is here at the core's level: an agent key may trade
for its owner but never withdraw, never act on another subaccount or market
than its grant names, and nothing after revocation or expiry.
"""

import pytest
from tests.core.fixtures import T0, addr, balance, kinds, of_kind, ready_state, refused

from solvent.core.auth import NONCE_WINDOW, agents_of, check_nonce, use_nonce
from solvent.core.engine import apply, genesis
from solvent.core.errors import (
    AmountTooLarge,
    BadAddress,
    InvalidAmount,
    Malformed,
    NonceUsed,
    SignatureExpired,
    Unauthorized,
    UnknownMarket,
)
from solvent.core.events import Event
from solvent.core.state import AgentGrant, State
from solvent.core.tx import (
    AuthoriseAgent,
    CancelAll,
    Deposit,
    PlaceOrder,
    RevokeAgent,
    SetTime,
    Signed,
    Transfer,
    Tx,
    Withdraw,
)
from solvent.core.units import SIZE_ONE
from solvent.defaults import GOVERNOR, usd

OWNER = addr("taker")
AGENT = addr("taker-bot")


def signed(state: State, signer: str, nonce: int, payload: Tx, expires: int = 0) -> list[Event]:
    return apply(state, Signed(signer, nonce, expires, payload))


def order(sub: int = 0, market: str = "BTC-PERP") -> PlaceOrder:
    return PlaceOrder(OWNER, sub, market, True, SIZE_ONE // 100, usd("99000"))


# --- nonces ----------------------------------------------------------------------


def test_each_nonce_is_accepted_once_in_any_order_within_the_window() -> None:
    state = genesis(GOVERNOR)
    for nonce in (5, 3, 4, 100, 40, 99, 37):
        check_nonce(state, OWNER, nonce)
        use_nonce(state, OWNER, nonce)
    for nonce in (5, 3, 4, 100, 40, 99, 37):
        with pytest.raises(NonceUsed):
            check_nonce(state, OWNER, nonce)
    check_nonce(state, OWNER, 98)  # unused, within the window below 100
    with pytest.raises(NonceUsed, match="more than 64 below"):
        check_nonce(state, OWNER, 100 - 1 - NONCE_WINDOW)
    check_nonce(state, OWNER, 100 - NONCE_WINDOW)  # the oldest still usable
    window = state.nonces[OWNER]
    assert window.high == 100
    assert window.mask == (1 << 0) | (1 << (100 - 1 - 40)) | (1 << (100 - 1 - 37))  # 99, 40, 37
    use_nonce(state, OWNER, 10**6)  # a jump past the window forgets everything below it
    assert (state.nonces[OWNER].high, state.nonces[OWNER].mask) == (10**6, 0)
    use_nonce(state, OWNER, 10**6 + 3)  # a short step keeps the old highest as bit 2
    assert (state.nonces[OWNER].high, state.nonces[OWNER].mask) == (10**6 + 3, 0b100)


def test_a_jump_to_the_largest_nonce_is_cheap_and_exact() -> None:
    """A jump of 2**64 - 2 nonces once built a mask of that many bits (MemoryError in the
    sequencer); past the window, the mask is simply cleared."""
    state = genesis(GOVERNOR)
    for nonce in (1, 2**64 - 1):
        check_nonce(state, OWNER, nonce)
        use_nonce(state, OWNER, nonce)
    assert (state.nonces[OWNER].high, state.nonces[OWNER].mask) == (2**64 - 1, 0)
    with pytest.raises(NonceUsed):
        check_nonce(state, OWNER, 2**64 - 1)
    use_nonce(state, OWNER, 2**64 - 2)
    assert state.nonces[OWNER].mask == 1
    # One step short of the window keeps the old highest as its last bit.
    state = genesis(GOVERNOR)
    use_nonce(state, OWNER, 10)
    use_nonce(state, OWNER, 10 + NONCE_WINDOW)
    assert state.nonces[OWNER].mask == 1 << (NONCE_WINDOW - 1)
    use_nonce(state, OWNER, 10 + 2 * NONCE_WINDOW + 1)
    assert state.nonces[OWNER].mask == 0


def test_the_window_slides_bit_for_bit() -> None:
    """Against a model: the set of used nonces, and 'accepted iff unused and > high - 65'."""
    state = genesis(GOVERNOR)
    used: set[int] = set()
    nonces = [7, 1, 70, 8, 69, 6, 200, 137, 136, 135, 201, 203, 202, 139, 138]
    for nonce in nonces:
        high = max(used, default=0)
        accepted = nonce not in used and nonce > high - 1 - NONCE_WINDOW
        try:
            check_nonce(state, OWNER, nonce)
        except NonceUsed:
            assert not accepted, nonce
            continue
        assert accepted, nonce
        use_nonce(state, OWNER, nonce)
        used.add(nonce)


@pytest.mark.parametrize("nonce", [0, -1, 2**64, True, "7"])
def test_a_nonce_out_of_range_is_malformed(nonce: object) -> None:
    state = ready_state()
    refused(state, Signed(OWNER, nonce, 0, order()), Malformed)  # type: ignore[arg-type]


# --- the envelope ----------------------------------------------------------------


def test_a_signed_order_applies_and_spends_its_nonce() -> None:
    state = ready_state()
    events = signed(state, OWNER, 1, order())
    assert kinds(events) == ["OrderPlaced"]
    refused(state, Signed(OWNER, 1, 0, order()), NonceUsed)  # ADV-20: the same tx twice


def test_a_refused_payload_spends_the_nonce_and_changes_nothing_else() -> None:
    """So the signed order can never be submitted again later, when its owner no longer wants it."""
    state = ready_state()
    too_big = Withdraw(OWNER, 0, "USDC", usd("10000000"))
    events = signed(state, OWNER, 9, too_big)
    (ev,) = of_kind(events, "Refused")
    assert (ev["error"], ev["code"], ev["signer"], ev["nonce"]) == ("InsufficientMargin", 3001, OWNER, 9)
    assert balance(state, "taker") == usd("100000")
    refused(state, Signed(OWNER, 9, 0, too_big), NonceUsed)


def test_an_expired_signature_is_refused() -> None:
    state = ready_state()
    refused(state, Signed(OWNER, 1, T0 - 1, order()), SignatureExpired)
    assert kinds(signed(state, OWNER, 1, order(), expires=T0)) == ["OrderPlaced"]  # up to and at T0


def test_nobody_signs_for_someone_else() -> None:
    state = ready_state()
    refused(state, Signed(addr("maker"), 1, 0, order()), Unauthorized)


def test_deposits_are_signed_by_the_operator_and_the_clock_never() -> None:
    state = ready_state()
    refused(state, Signed(OWNER, 1, 0, Deposit(OWNER, 0, "USDC", usd("1"))), Unauthorized)
    signed(state, GOVERNOR, 1, Deposit(OWNER, 0, "USDC", usd("1")))
    assert balance(state, "taker") == usd("100001")
    refused(state, Signed(GOVERNOR, 2, 0, SetTime(T0 + 1)), Unauthorized)
    refused(state, Signed(OWNER, 2, 0, Signed(OWNER, 3, 0, order())), Unauthorized)


# --- agent keys (ADV-21) ------------------------------------------------------------


def authorised(**grant: object) -> State:
    state = ready_state()
    signed(state, OWNER, 1, AuthoriseAgent(OWNER, AGENT, **grant))  # type: ignore[arg-type]
    return state


def test_an_agent_trades_but_never_moves_money() -> None:
    state = authorised()
    assert agents_of(state, OWNER) == {AGENT: AgentGrant()}
    assert kinds(signed(state, AGENT, 1, order())) == ["OrderPlaced"]
    assert kinds(signed(state, AGENT, 2, CancelAll(OWNER, 0))) == ["OrderCancelled"]
    refused(state, Signed(AGENT, 3, 0, Withdraw(OWNER, 0, "USDC", usd("1"))), Unauthorized)
    refused(state, Signed(AGENT, 3, 0, Transfer(OWNER, 0, 1, "USDC", usd("1"))), Unauthorized)
    refused(state, Signed(AGENT, 3, 0, AuthoriseAgent(OWNER, addr("other-bot"))), Unauthorized)
    assert state.nonces[AGENT].high == 2  # refused envelopes spend nothing


def test_an_agent_stays_inside_its_subaccounts_and_markets() -> None:
    state = authorised(subaccounts=(0,), markets=("BTC-PERP",))
    assert kinds(signed(state, AGENT, 1, order())) == ["OrderPlaced"]
    refused(state, Signed(AGENT, 2, 0, order(sub=1)), Unauthorized)
    refused(state, Signed(AGENT, 2, 0, order(market="ETH-PERP")), Unauthorized)
    refused(state, Signed(AGENT, 2, 0, CancelAll(OWNER, 0)), Unauthorized)  # all markets: name one
    assert kinds(signed(state, AGENT, 2, CancelAll(OWNER, 0, "BTC-PERP"))) == ["OrderCancelled"]


def test_an_agent_can_do_nothing_after_revocation_or_expiry() -> None:
    state = authorised(expires=T0 + 60)
    signed(state, AGENT, 1, order())
    apply(state, SetTime(T0 + 61))
    refused(state, Signed(AGENT, 2, 0, order()), Unauthorized)
    state = authorised()
    signed(state, OWNER, 2, RevokeAgent(OWNER, AGENT))
    assert agents_of(state, OWNER) == {}
    refused(state, Signed(AGENT, 1, 0, order()), Unauthorized)
    refused(state, RevokeAgent(OWNER, AGENT), Unauthorized)


def test_bad_grants_are_refused() -> None:
    state = ready_state()
    refused(state, AuthoriseAgent(OWNER, OWNER), InvalidAmount)
    refused(state, AuthoriseAgent(OWNER, "0xnot"), BadAddress)
    refused(state, AuthoriseAgent(OWNER, AGENT, markets=("NOPE",)), UnknownMarket)
    refused(state, AuthoriseAgent(OWNER, AGENT, subaccounts=(2**32,)), Malformed)
    refused(state, AuthoriseAgent(OWNER, AGENT, expires=T0), InvalidAmount)
    refused(state, AuthoriseAgent(OWNER, AGENT, markets=("BTC-PERP",) * 33), AmountTooLarge)
