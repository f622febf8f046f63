"""
Funding and mark price of perpetual swaps.

Introduction
------------
On every index update of a market's feed:

1. accrue the cumulative funding index at the *old* rate and index:
   cum += floor(rate * index * dt / 3600)  (quote atoms * ONE per base unit);
2. sample the premium from the book's impact prices (pool excluded, so the
   pool's own quotes around the mark cannot feed back into the mark):
   premium = (max(0, impact_bid - index) - max(0, index - impact_ask)) / index;
3. smooth it: ema += (premium - ema) * min(1, dt / premium_tau_s);
4. mark = index + index * clamp(ema, ±mark_band) (never the last trade);
5. rate per hour = clamp(ema / funding_premium_hours + funding_interest, ±funding_cap).
   Rate > 0: longs pay shorts.

A position settles lazily, on every touch, the amount
``margin.funding_owed(size, position.funding_index, cum)``; payments pass
through the market's ``funding_balance`` so that settling one side before the
other never creates or destroys money.
"""

from sortedcontainers import SortedDict

from solvent.core.events import Event, event
from solvent.core.fixed import ONE, clamp
from solvent.core.margin import current_cum_funding, funding_owed
from solvent.core.state import Account, InstrumentKind, Market, Position, State
from solvent.core.units import SECONDS_PER_HOUR, SIZE_ONE, format_account


def accrue(market: Market, index_price: int, now: int) -> None:
    """Bring the cumulative funding index up to ``now`` at the current rate."""
    market.cum_funding = current_cum_funding(market, index_price, now)
    market.funding_time = now


def impact_price(levels: SortedDict, notional: int, is_bid: bool) -> int | None:
    """Return the average price to trade ``notional`` against one side, or None if too thin."""
    filled_size = 0
    filled_notional = 0
    for key, level in levels.items():
        price: int = -key if is_bid else key
        for order in level.values():
            need = notional - filled_notional
            take_notional = order.size * price // SIZE_ONE
            if take_notional >= need:
                size = -((-need * SIZE_ONE) // price)
                filled_size += size
                filled_notional += size * price // SIZE_ONE
                return filled_notional * SIZE_ONE // filled_size
            filled_size += order.size
            filled_notional += take_notional
    return None


def compute_premium(market: Market, index: int) -> int:
    """Return the premium of the book's impact prices over ``index`` (signed ratio)."""
    book = market.book
    bid = impact_price(book.bids, market.impact_notional, True)
    ask = impact_price(book.asks, market.impact_notional, False)
    up = max(0, bid - index) if bid is not None else 0
    down = max(0, index - ask) if ask is not None else 0
    return ((up - down) * ONE) // index


def update_mark(state: State, market: Market, index: int, events: list[Event]) -> None:
    """Sample the premium, update its EMA, the mark and (perpetuals only) the funding rate.

    A dated future past expiry is marked at the index: its book is closed and
    it settles on the index average. Once settled it keeps its settlement price.
    """
    now = state.time
    if market.expiry is not None and now >= market.expiry.time:
        if not market.expiry.settled:
            market.mark_price = max(1, index)
        return
    sample = compute_premium(market, index)
    dt = now - market.premium_time
    alpha = min(ONE, (dt * ONE) // market.premium_tau_s) if market.premium_time else ONE
    market.premium_ema += ((sample - market.premium_ema) * alpha) // ONE
    market.premium_time = now
    premium = clamp(market.premium_ema, -market.mark_band, market.mark_band)
    # Never 0 (the "no price yet" value): an index of 1 atom with a negative premium keeps 1.
    market.mark_price = max(1, index + (index * premium) // ONE)
    if market.kind is not InstrumentKind.PERPETUAL:
        return  # futures have no funding: the premium converges at expiry instead
    rate = market.premium_ema // market.funding_premium_hours + market.funding_interest
    new_rate = clamp(rate, -market.funding_cap, market.funding_cap)
    if new_rate != market.funding_rate:
        market.funding_rate = new_rate
        events.append(event("FundingRate", market=market.id, rate=new_rate))


def settle_position(
    state: State, account: Account, market: Market, pos: Position, events: list[Event] | None
) -> int:
    """Settle a position's accrued funding into its margin; return the amount paid (< 0: received)."""
    feed = state.feeds[market.asset]
    accrue(market, feed.index_price, state.time)
    cum = market.cum_funding
    owed = funding_owed(pos.size, pos.funding_index, cum)
    pos.funding_index = cum
    if owed == 0:
        return 0
    if pos.isolated:
        pos.isolated_margin -= owed
    else:
        account.balances[state.quote] = account.balances.get(state.quote, 0) - owed
    market.funding_balance += owed
    if events is not None:
        events.append(
            event(
                "FundingPaid",
                account=format_account((account.owner, account.index)),
                market=market.id,
                amount=owed,
            )
        )
    return owed


def follow_volatility(market: Market, sigma: int, step_per_hour: int, now: int) -> None:
    """Move ``market.mm_sigma`` toward the feed's sigma: down at once, up by at most
    ``step_per_hour`` per hour (0: at once), so that maintenance requirements
    rise at a pace an account can meet and never jump on a parameter alone.
    """
    if step_per_hour == 0 or sigma <= market.mm_sigma:
        market.mm_sigma = sigma
    else:
        allowed = market.mm_sigma + (step_per_hour * (now - market.mm_sigma_time)) // SECONDS_PER_HOUR
        market.mm_sigma = min(sigma, allowed)
    market.mm_sigma_time = now
