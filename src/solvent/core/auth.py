"""
Who may send what: signers, nonces and agent keys.

Introduction
------------
The node checks each transaction's EIP-712 signature and wraps it in a
``Signed`` envelope naming the address the signature recovers to. The core
then decides, deterministically and on the replicated state, whether that
signer may send it:

* the **actor** of a transaction is the address it acts for: ``keeper`` for
  a liquidation, ``owner`` for an account's own actions, ``sender`` for
  governance and ``Settle``, ``reporter`` for oracle reports. The signer
  must be the actor, or an **agent** the actor has authorised;
* an agent may only trade (``AGENT_TXS``: orders, triggers, leverage and
  margin mode), within its grant's subaccounts and markets, until its
  ``expires``; it never withdraws, transfers, deposits into a pool or
  authorises another agent (ADV-21);
* a ``Deposit`` or ``ChainDeposit`` credits money that arrived on chain,
  and a ``ForcedWithdrawal`` serves a request made on chain, so only the
  operator (the governor, until the chain watcher has its own key) may
  sign one (a venue settled on chain, ``SettleOnChain``, then refuses the
  plain ``Deposit`` itself: ``core.ledger``);
  ``SetTime`` is the sequencer's block time and is never signed.

**Nonces.** Each signer has a window (``NonceWindow``): the highest nonce it
has used and a 64-bit mask of the 64 nonces below it. A nonce is accepted
once: above the highest (the window slides up), or within the 64 below it
and not yet used; anything older is refused as ``NonceUsed``. So up to 64
transactions of one key may be in flight at once in any order (concurrent
clients, as in IPsec's anti-replay window), and the state keeps two
integers per signer. Clients commonly use a millisecond clock.

**A refused payload still uses its nonce.** Once the envelope is valid
(authorised signer, fresh nonce, deadline not passed) the nonce is spent
whether the payload applies or is refused, as an Ethereum transaction's
nonce is spent when it reverts; the payload's refusal is reported as a
``Refused`` event with its code. Otherwise anyone holding a signed order
refused today (say, for margin) could submit it again later, when its owner
no longer wants it. A refused envelope (bad nonce, unauthorised, expired)
changes nothing, like every refusal.
"""

from solvent.core.errors import (
    AmountTooLarge,
    InvalidAmount,
    Malformed,
    NonceUsed,
    ProtocolError,
    SignatureExpired,
    Unauthorized,
)
from solvent.core.events import Event, event
from solvent.core.ledger import MAX_SUBACCOUNT, check_address
from solvent.core.orders import get_market
from solvent.core.state import AgentGrant, NonceWindow, State
from solvent.core.tx import (
    AuthoriseAgent,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    CancelTwap,
    ChainDeposit,
    Deposit,
    ForcedWithdrawal,
    ModifyOrder,
    PlaceOrder,
    PlaceScale,
    PlaceTrigger,
    PlaceTwap,
    ReplaceOrder,
    RevokeAgent,
    ScheduleCancel,
    SetLeverage,
    SetMarginMode,
    SetTime,
    Signed,
)
from solvent.core.units import MAX_AMOUNT

NONCE_WINDOW = 64  # nonces below the highest that may still be used once
MAX_NONCE = 2**64 - 1
MAX_AGENT_SCOPE = 32  # subaccounts or markets named by one grant

# What an agent key may send for its owner: trading, never money out.
AGENT_TXS: tuple[type, ...] = (
    PlaceOrder,
    CancelOrder,
    CancelAll,
    ModifyOrder,
    PlaceTrigger,
    CancelTrigger,
    SetLeverage,
    SetMarginMode,
    ScheduleCancel,
    ReplaceOrder,
    PlaceTwap,
    CancelTwap,
    PlaceScale,
)

_ACTOR_FIELDS = ("keeper", "owner", "sender", "reporter")


def actor_of(tx: object) -> str | None:
    """Return the address a transaction acts for (None: it has none, e.g. ``SetTime``)."""
    for name in _ACTOR_FIELDS:
        value = getattr(tx, name, None)
        if isinstance(value, str):
            return value
    return None


# --- nonces ----------------------------------------------------------------------


def check_nonce(state: State, signer: str, nonce: int) -> None:
    """Refuse a nonce the signer has used, or one below its window."""
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 1 <= nonce <= MAX_NONCE:
        raise Malformed(f"nonce must be an integer from 1 to 2**64 - 1, was {nonce!r}")
    window = state.nonces.get(signer)
    if window is None or nonce > window.high:
        return
    if nonce == window.high:
        raise NonceUsed(f"nonce {nonce} was used by {signer}; sign again with a new nonce")
    below = window.high - 1 - nonce
    if below >= NONCE_WINDOW:
        raise NonceUsed(
            f"nonce {nonce} is more than {NONCE_WINDOW} below {signer}'s highest ({window.high}); "
            "sign again with a new nonce"
        )
    if window.mask >> below & 1:
        raise NonceUsed(f"nonce {nonce} was used by {signer}; sign again with a new nonce")


def use_nonce(state: State, signer: str, nonce: int) -> None:
    """Record a nonce ``check_nonce`` accepted."""
    window = state.nonces.setdefault(signer, NonceWindow())
    if nonce > window.high:
        shift = nonce - window.high
        # The old highest becomes bit shift - 1; bits pushed past the window are dropped. A jump
        # past the window drops them all without shifting: a shift by a nonce's size (up to
        # 2**64) would build an integer of that many bits.
        past = window.high == 0 or shift > NONCE_WINDOW
        mask = 0 if past else (window.mask << shift) | (1 << (shift - 1))
        window.mask = mask & ((1 << NONCE_WINDOW) - 1)
        window.high = nonce
    else:
        window.mask |= 1 << (window.high - 1 - nonce)


# --- authority -------------------------------------------------------------------


def check_authority(state: State, signer: str, tx: object) -> None:
    """Refuse unless ``signer`` may send ``tx`` (see the module docstring)."""
    if isinstance(tx, SetTime | Signed):
        raise Unauthorized(f"{type(tx).__name__} is made by the sequencer, never signed")
    if isinstance(tx, Deposit | ChainDeposit):
        if signer != state.governor:
            raise Unauthorized("deposits are credited by the operator from the chain; deposit on chain")
        return
    if isinstance(tx, ForcedWithdrawal):
        if signer != state.governor:
            raise Unauthorized(
                "forced withdrawals are served by the operator from the chain; request one on chain"
            )
        return
    actor = actor_of(tx)
    if actor is None:
        raise Unauthorized(f"{type(tx).__name__} cannot be signed")
    if signer == actor:
        return
    grant = state.agents.get(actor, {}).get(signer)
    if grant is None:
        raise Unauthorized(f"{signer} may not act for {actor}: sign with the owner's key or an agent key")
    if not isinstance(tx, AGENT_TXS):
        raise Unauthorized(
            f"an agent key may only trade; {type(tx).__name__} needs the owner's own signature"
        )
    if grant.expires and state.time > grant.expires:
        raise Unauthorized(f"{signer}'s agent grant from {actor} expired at {grant.expires}; renew it")
    subaccount = getattr(tx, "subaccount", None)
    if grant.subaccounts and subaccount not in grant.subaccounts:
        raise Unauthorized(f"{signer} may trade only subaccounts {list(grant.subaccounts)} of {actor}")
    market = getattr(tx, "market", None)
    if grant.markets and market not in grant.markets:
        raise Unauthorized(f"{signer} may trade only {', '.join(grant.markets)} for {actor}; name one")


# --- handlers --------------------------------------------------------------------


def check_envelope(state: State, tx: Signed) -> None:
    """Refuse a signed envelope whose signer, deadline, nonce or authority is wrong."""
    check_address(tx.signer)
    if isinstance(tx.expires, bool) or not isinstance(tx.expires, int) or not 0 <= tx.expires <= MAX_NONCE:
        raise Malformed(f"expires must be a block time from 0 (none) to 2**64 - 1, was {tx.expires!r}")
    if tx.expires and state.time > tx.expires:
        raise SignatureExpired(f"signed to expire at {tx.expires}, now {state.time}; sign it again")
    check_nonce(state, tx.signer, tx.nonce)
    check_authority(state, tx.signer, tx.payload)


def refused_event(tx: Signed, error: ProtocolError) -> Event:
    """The event of a signed payload the core refused (its nonce is spent all the same)."""
    return event(
        "Refused",
        signer=tx.signer,
        nonce=tx.nonce,
        code=error.code,
        error=error.name,
        message=error.message,
    )


def process_authorise_agent(state: State, tx: AuthoriseAgent) -> list[Event]:
    # VALIDATE
    check_address(tx.owner)
    check_address(tx.agent)
    if tx.agent == tx.owner:
        raise InvalidAmount("an owner needs no agent grant for its own key")
    if len(tx.subaccounts) > MAX_AGENT_SCOPE or len(tx.markets) > MAX_AGENT_SCOPE:
        raise AmountTooLarge(f"a grant names at most {MAX_AGENT_SCOPE} subaccounts and markets")
    for sub in tx.subaccounts:
        if not 0 <= sub <= MAX_SUBACCOUNT:
            raise Malformed(f"subaccount must be in [0, {MAX_SUBACCOUNT}]")
    for market_id in tx.markets:
        get_market(state, market_id)
    if not 0 <= tx.expires <= MAX_AMOUNT:
        raise InvalidAmount("expires must be a block time, or 0 for never")
    if tx.expires and tx.expires <= state.time:
        raise InvalidAmount(f"expires {tx.expires} has passed (now {state.time})")
    # APPLY
    grant = AgentGrant(tuple(sorted(set(tx.subaccounts))), tuple(sorted(set(tx.markets))), tx.expires)
    state.agents.setdefault(tx.owner, {})[tx.agent] = grant
    return [
        event(
            "AgentAuthorised",
            owner=tx.owner,
            agent=tx.agent,
            subaccounts=",".join(str(sub) for sub in grant.subaccounts),
            markets=",".join(grant.markets),
            expires=grant.expires,
        )
    ]


def process_revoke_agent(state: State, tx: RevokeAgent) -> list[Event]:
    # VALIDATE
    check_address(tx.owner)
    grants = state.agents.get(tx.owner, {})
    if tx.agent not in grants:
        raise Unauthorized(f"{tx.agent} holds no grant from {tx.owner}")
    # APPLY
    del grants[tx.agent]
    if not grants:
        del state.agents[tx.owner]
    return [event("AgentRevoked", owner=tx.owner, agent=tx.agent)]


def agents_of(state: State, owner: str) -> dict[str, AgentGrant]:
    """Return the owner's agent grants (lapsed ones included: they are refused when used)."""
    return dict(sorted(state.agents.get(owner, {}).items()))
