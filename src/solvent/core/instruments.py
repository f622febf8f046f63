"""
Instruments: dated futures and European options beside the perpetuals.

Introduction
------------
Every market is one of four kinds (``InstrumentKind``). Perpetuals and
futures are linear: a position of size s is worth ``s * mark / SIZE_ONE``.
A future has no funding and a mark of index * (1 + clamped premium EMA) from
its own book, like a perpetual (``funding.update_mark``). An option's size
unit is one contract of ``contract_size`` size atoms of the underlying, its
prices are premiums per contract, and its mark is Black-76 on the forward
(zero rates: F = index) with the smile's volatility at its strike::

    mark = max(1, floor(black76(F, K, T, vol(K)) * contract_size / SIZE_ONE))

with T the time to expiry in years of 365 days. Black-76 keeps the price
within the no-arbitrage bounds (intrinsic <= call <= F, put <= K). Option
marks are refreshed on every taken index, smile and clock change.

Expiry and settlement
---------------------
Trading stops at ``expiry.time`` (``MarketExpired``). The settlement price S
is the time-weighted average of the index over the *fresh* seconds of the
window ``[time - window_s, time)``: a second counts when the index then had a
quorum within its staleness limit (stale seconds are left out, not filled
with the last price). When fewer than ``min_fresh_s`` seconds were fresh,
the window runs on past expiry, second by fresh second, until it has
``min_fresh_s``; ``Settle`` waits for that (``SettlementPending``). The sum
is kept by ``SetTime``, which integrates the index in force since the last
block over the time that passed.

``Settle(market)`` (anyone) cancels the book and closes every position:

    future:  quote += floor(size * S / SIZE_ONE)
    option:  quote += floor(size * intrinsic(S, K) * contract_size / SIZE_ONE**2)

Payments round in the protocol's favour; the rounding dust goes to
``fee_balance``. ``core.settlement`` holds the handler.
"""

from solvent.core import black76
from solvent.core.errors import MarketExpired
from solvent.core.fixed import ONE
from solvent.core.state import Account, Expiry, InstrumentKind, Market, State
from solvent.core.units import SECONDS_PER_YEAR, SIZE_ONE
from solvent.core.vol_oracle import smile_vol

OPTION_KINDS = frozenset({InstrumentKind.CALL, InstrumentKind.PUT})


def is_option(market: Market) -> bool:
    return market.kind in OPTION_KINDS


def has_expired(state: State, market: Market) -> bool:
    """Return whether trading in a dated market has stopped."""
    return market.expiry is not None and state.time >= market.expiry.time


def check_tradable(state: State, market: Market) -> None:
    """Refuse orders on an expired or settled market."""
    expiry = market.expiry
    if expiry is None:
        return
    if expiry.settled:
        raise MarketExpired(
            f"{market.id} settled at {expiry.settlement_price}; it takes no orders, trade a live series"
        )
    if state.time >= expiry.time:
        raise MarketExpired(
            f"{market.id} expired at {expiry.time}; trading has stopped. Anyone may submit "
            "Settle once its settlement average is complete"
        )


def years_to_expiry(state: State, expiry: Expiry) -> int:
    """Return the time left to expiry in years as a ratio, rounded down (0 once expired)."""
    return (max(0, expiry.time - state.time) * ONE) // SECONDS_PER_YEAR


def contract_underlying(forward: int, expiry: Expiry) -> int:
    """Return the price of one contract's underlying at ``forward``, rounded down."""
    return (forward * expiry.contract_size) // SIZE_ONE


def option_sigma(state: State, market: Market, forward: int) -> int:
    """Return the volatility the option is marked at: the smile at its strike (0: no smile yet)."""
    expiry = market.expiry
    if expiry is None or forward <= 0:
        return 0
    feed = state.vol_feeds[expiry.vol_feed]
    if feed.atm_vol == 0:
        return 0
    return smile_vol(feed, expiry.strike, forward)


def option_price_wad(market: Market, expiry: Expiry, forward: int, t: int, sigma: int) -> int:
    """Return Black-76 per contract, scaled by ONE (price units * 10**18 per contract)."""
    per_unit = black76.price(forward, expiry.strike, t, sigma, market.kind is InstrumentKind.CALL)
    return (per_unit * expiry.contract_size) // SIZE_ONE


def option_mark(state: State, market: Market) -> int:
    """Return the option's mark premium per contract (>= 1; the last mark without an index)."""
    expiry = market.expiry
    forward = state.feeds[market.asset].index_price
    if expiry is None or forward <= 0:
        return market.mark_price
    sigma = option_sigma(state, market, forward)
    wad = option_price_wad(market, expiry, forward, years_to_expiry(state, expiry), sigma)
    return max(1, wad // ONE)


def refresh_option_marks(state: State, asset: str | None = None, vol_feed: str | None = None) -> None:
    """Re-mark the live options on ``asset`` (or on ``vol_feed``; None and None: all)."""
    for market in state.markets.values():
        expiry = market.expiry
        if expiry is None or expiry.settled or not is_option(market):
            continue
        if asset is not None and market.asset != asset:
            continue
        if vol_feed is not None and expiry.vol_feed != vol_feed:
            continue
        refresh_option_mark(state, market)


def refresh_option_mark(state: State, market: Market) -> None:
    """Re-mark one option and the underlying price its order band is measured on."""
    expiry = market.expiry
    if expiry is None or expiry.settled:
        return
    market.mark_price = option_mark(state, market)
    market.underlying_price = contract_underlying(state.feeds[market.asset].index_price, expiry)


# --- settlement average ---------------------------------------------------------


def accumulate_twaps(state: State, start: int, end: int) -> None:
    """Add the index in force over ``[start, end)`` to every open settlement window.

    Called by ``SetTime`` before the clock moves, with the feeds as the last
    block left them: the index is piecewise constant between blocks.
    """
    if end <= start:
        return
    for market in state.markets.values():
        expiry = market.expiry
        if expiry is None or expiry.settled:
            continue
        window_start = expiry.time - expiry.window_s
        if end <= window_start:
            continue
        feed = state.feeds[market.asset]
        if feed.index_price == 0:
            continue
        # A second s is fresh when s - quorum_time <= staleness_s (see oracle.is_stale).
        fresh_end = min(end, feed.quorum_time + feed.staleness_s + 1)
        lo = max(start, window_start)
        inside = max(0, min(fresh_end, expiry.time) - lo)
        late = 0
        if expiry.twap_seconds + inside < expiry.min_fresh_s:
            late = max(0, fresh_end - max(lo, expiry.time))
            late = min(late, expiry.min_fresh_s - expiry.twap_seconds - inside)
        counted = inside + late
        if counted:
            expiry.twap_sum += feed.index_price * counted
            expiry.twap_seconds += counted


def settlement_ready(state: State, expiry: Expiry) -> bool:
    return state.time >= expiry.time and expiry.twap_seconds >= expiry.min_fresh_s


def payoff_flow(market: Market, expiry: Expiry, size: int, price: int) -> int:
    """Return the quote a position of ``size`` receives (< 0: pays) when closed at ``price``.

    Rounded down: a receiver gets whole atoms only, a payer pays the part atom.
    """
    if not is_option(market):
        return (size * price) // SIZE_ONE
    strike = expiry.strike
    intrinsic = max(0, price - strike) if market.kind is InstrumentKind.CALL else max(0, strike - price)
    return (size * intrinsic * expiry.contract_size) // (SIZE_ONE * SIZE_ONE)


# --- account greeks ---------------------------------------------------------------


def position_greeks(state: State, market: Market, size: int) -> black76.Greeks:
    """Return the greeks of a position of ``size`` (price and greeks in wad, per position).

    Linear markets have delta = size in base units (as a ratio) and no other greek.
    """
    if not is_option(market) or market.expiry is None:
        delta = (size * ONE) // SIZE_ONE
        return black76.Greeks(price=0, delta=delta, gamma=0, vega=0, theta=0)
    expiry = market.expiry
    forward = state.feeds[market.asset].index_price
    sigma = option_sigma(state, market, forward)
    g = black76.greeks(
        forward,
        expiry.strike,
        years_to_expiry(state, expiry),
        sigma,
        market.kind is InstrumentKind.CALL,
    )
    scale = size * expiry.contract_size
    unit = SIZE_ONE * SIZE_ONE
    return black76.Greeks(
        price=(g.price * scale) // unit,
        delta=(g.delta * scale) // unit,
        gamma=(g.gamma * scale) // unit,
        vega=(g.vega * scale) // unit,
        theta=(g.theta * scale) // unit,
    )


def account_greeks(state: State, account: Account) -> dict[str, black76.Greeks]:
    """Return the account's greeks per underlying, summed over its open positions.

    delta is in base units of the underlying (a ratio: ONE = one unit), the
    others as ``black76.Greeks`` documents, scaled to the positions' sizes.
    """
    totals: dict[str, black76.Greeks] = {}
    for market_id in sorted(account.positions):
        pos = account.positions[market_id]
        market = state.markets[market_id]
        g = position_greeks(state, market, pos.size)
        t = totals.get(market.asset)
        if t is not None:
            g = black76.Greeks(
                price=t.price + g.price,
                delta=t.delta + g.delta,
                gamma=t.gamma + g.gamma,
                vega=t.vega + g.vega,
                theta=t.theta + g.theta,
            )
        totals[market.asset] = g
    return totals
