"""
Auto-deleveraging: who takes over a bankrupt position when the insurance fund cannot.

Introduction
------------
Opposite positions in the same market are ranked by ``score``, highest first
(ties: account key), and closed against the bankrupt account at its
break-even flow (``liquidation.Breakeven``), which is never worse for them
than the bankruptcy price. For a position with bucket value E (maintenance-
weighted), unrealised PnL U = size * mark - cost and notional N:

    pnl_ratio = U / max(1, E - U)          (PnL over the capital behind it)
    leverage  = N / E
    score     = pnl_ratio * leverage   if U >= 0
                pnl_ratio / leverage   if U <  0

so the most profitable and most leveraged go first. Accounts with E <= 0
(themselves liquidatable) are not ranked. Each is deleveraged only as far
as its bucket keeps a value >= 0 after trading at the bankruptcy price:
ADL must not make new victims. What they cannot take at that price is
closed against the same queue at the mark, where they lose nothing, and the
bankrupt account's shortfall is covered by the fund and then socialised
(``liquidation``). ``queue`` and ``rank_of`` let traders see their place
before it happens.
"""

from dataclasses import dataclass

from solvent.core.fixed import ONE
from solvent.core.margin import bucket_risk
from solvent.core.state import Market, State
from solvent.core.units import SIZE_ONE, AccountKey

_UNRANKED = -(2**255)


@dataclass(frozen=True, slots=True)
class Ranked:
    account: AccountKey
    size: int  # signed position size
    value: int  # bucket value_maint, quote atoms
    score: int  # ratio scaled by ONE


def score(state: State, key: AccountKey, market: Market) -> Ranked | None:
    """Return the ADL score of an account's position in ``market``, or None if unranked."""
    account = state.accounts[key]
    pos = account.positions.get(market.id)
    if pos is None or pos.size == 0:
        return None
    value = bucket_risk(state, account, market.id).value_maint
    if value <= 0:
        return None
    mark = market.mark_price
    pnl = (pos.size * mark) // SIZE_ONE - pos.cost
    notional = (abs(pos.size) * mark) // SIZE_ONE
    pnl_ratio = (pnl * ONE) // max(1, value - pnl)
    leverage = (notional * ONE) // value
    s = pnl_ratio * leverage // ONE if pnl >= 0 else pnl_ratio * ONE // max(1, leverage)
    return Ranked(key, pos.size, value, s)


def queue(state: State, market: Market, side: int, exclude: AccountKey | None = None) -> list[Ranked]:
    """Return the ranked positions on ``side`` (+1 longs, -1 shorts), first to be deleveraged first."""
    ranked = []
    for key, account in state.accounts.items():
        pos = account.positions.get(market.id)
        if key == exclude or pos is None or pos.size * side <= 0:
            continue
        r = score(state, key, market)
        if r is not None:
            ranked.append(r)
    ranked.sort(key=lambda r: (-r.score, r.account))
    return ranked


def rank_of(state: State, key: AccountKey, market: Market) -> tuple[int, int, int] | None:
    """Return (place from 1, queue length, score) of an account's position, or None if unranked."""
    account = state.accounts.get(key)
    pos = account.positions.get(market.id) if account is not None else None
    if pos is None or pos.size == 0:
        return None
    side = 1 if pos.size > 0 else -1
    ranked = queue(state, market, side)
    for place, r in enumerate(ranked, start=1):
        if r.account == key:
            return place, len(ranked), r.score
    return None


def deleverage_plan(
    state: State,
    market: Market,
    bankrupt: AccountKey,
    sign: int,
    size: int,
    flow: int | None,
    taken: dict[AccountKey, int] | None = None,
) -> list[tuple[AccountKey, int, int]]:
    """Plan closing ``size`` atoms of the bankrupt position (sign ``sign``) against the queue.

    ``flow`` is what the bankrupt account receives in all (signed, as its quote
    flow): at the bankruptcy price, each taker only as far as its bucket keeps
    a value >= 0; its parts are pro rata with cumulative rounding so they sum
    exactly. With ``flow`` None the takers close at the mark instead (they
    lose nothing against it, so no limit applies) and the bankrupt account's
    shortfall becomes a deficit of the domain. ``taken`` holds sizes already
    planned per taker. Returns (taker, size atoms, bankrupt account's flow).
    """
    mark = market.mark_price
    lot = market.lot
    taken = taken or {}
    out: list[tuple[AccountKey, int, int]] = []
    done = 0
    for r in queue(state, market, -sign, exclude=bankrupt):
        if done == size:
            break
        q = min(size - done, abs(r.size) - taken.get(r.account, 0))
        if flow is not None:
            # The taker closes at flow/size per base unit (rounded so its loss is not
            # understated); its loss against the mark must leave its value >= 0. The price is
            # read from the signed flow: a short whose deficit exceeds its notional has a
            # bankruptcy price below zero (it receives money to close), a loss for the taker.
            price = -((-flow * SIZE_ONE) // size) if sign > 0 else (-flow * SIZE_ONE) // size
            loss_per_unit = sign * (price - mark)
            if loss_per_unit > 0:
                q = min(q, (r.value * SIZE_ONE) // loss_per_unit)
        q -= q % lot
        if q <= 0:
            continue
        if flow is not None:
            part = (flow * (done + q)) // size - (flow * done) // size
        else:
            part = (q * mark) // SIZE_ONE if sign > 0 else -((q * mark + SIZE_ONE - 1) // SIZE_ONE)
        done += q
        out.append((r.account, q, part))
    return out
