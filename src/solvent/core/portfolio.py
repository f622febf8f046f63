"""
Portfolio margin: one requirement per underlying from a grid of scenarios.

Introduction
------------
A subaccount that opts in (``SetPortfolioMargin``) has the cross positions
on each underlying with ``PortfolioParams`` margined together, as SPAN and
the option venues do; positions on other underlyings, and isolated ones,
keep the simple per-position rules of ``core.margin``. For one underlying
with index F, hourly realised volatility sigma and params P:

    range   R = min(max_move, move + move_vol_factor * max(0, sigma - vol_ref))
    moves   m_k = R * k / steps                      for k = -steps .. steps
    vols    v * (1 + vol_up) and v * (1 - vol_down)  (v: each option's smile vol)
    PnL     linear:  size * mark * m_k / SIZE_ONE                (both vol states)
            option:  size * (black76(F*(1+m_k), K, T, v') - mark) per contract
    MM      = max(0, max over the 2*(2*steps+1) scenarios of -Σ PnL)
            + Σ short options |size| * contract_size * F * short_option_min
    IM      = MM * im_factor

The time to expiry T is held (no decay inside a scenario) and vols are
sticky-strike: each option keeps the smile vol at its strike, scaled. Every
PnL rounds down, so losses and requirements round up. The range widens with
realised volatility exactly as the perpetuals' fractions do.

Because a long and a short on the same underlying offset inside each
scenario, a covered call or a delta-hedged straddle needs less than the sum
of its legs (``tests/core/test_portfolio.py`` proves it with exact numbers).

The scenario prices of one option depend only on the market and on (F, T,
vol, R): they are memoised per process, so margining many accounts on the
same option prices each scenario once. A call and a put of one strike and
expiry share one set of Black-76 prices: ``black76.price`` keeps put-call
parity exactly (call - put == (F - K) * ONE, at every shocked F), so the put
is derived from the call, bit for bit what pricing it would give. The memos
hold no state and change no result. The call's scenarios are priced in one
``black76.price_grid`` call (7 forwards x 2 vols at one strike and time),
which shares the square root per vol and ln(F/K) per forward and returns
exactly ``black76.price`` for each scenario.
"""

from functools import lru_cache

from solvent.core import black76
from solvent.core.fixed import ONE, mul_up
from solvent.core.instruments import is_option, option_sigma, years_to_expiry
from solvent.core.state import InstrumentKind, Market, PortfolioParams, State
from solvent.core.units import SIZE_ONE


def scenario_range(params: PortfolioParams, sigma: int) -> int:
    """Return the largest price move tried (ratio), widened by realised volatility."""
    widened = params.move + mul_up(params.move_vol_factor, max(0, sigma - params.vol_ref))
    return min(params.max_move, widened)


def scenario_moves(params: PortfolioParams, sigma: int) -> tuple[int, ...]:
    """Return the price moves tried, as ratios, from -R to +R."""
    r = scenario_range(params, sigma)
    n = params.steps
    return tuple((r * k) // n if k >= 0 else -((r * -k) // n) for k in range(-n, n + 1))


def _shocked_forwards(forward: int, moves: tuple[int, ...]) -> list[int]:
    """Return the forward after each move, floored and at least 1."""
    return [max(1, forward + (forward * m) // ONE) for m in moves]


@lru_cache(maxsize=65_536)
def _call_scenarios(
    forward: int,
    strike: int,
    t: int,
    sigma: int,
    moves: tuple[int, ...],
    vol_up: int,
    vol_down: int,
) -> tuple[int, ...]:
    """Return the call's wad price per unit in each scenario: for each move, vol up then down."""
    up = (sigma * (ONE + vol_up)) // ONE
    down = max(0, (sigma * (ONE - vol_down)) // ONE)
    # Forward-major, each entry exactly black76.price(f, strike, t, vol, True).
    return tuple(black76.price_grid(_shocked_forwards(forward, moves), strike, t, (up, down), True))


@lru_cache(maxsize=65_536)
def _option_scenarios(
    is_call: bool,
    forward: int,
    strike: int,
    t: int,
    sigma: int,
    contract_size: int,
    moves: tuple[int, ...],
    vol_up: int,
    vol_down: int,
) -> tuple[int, ...]:
    """Return the option's wad price per contract in each scenario: for each move, vol up then down.

    A put is the call of its strike less (F - K) * ONE, which is exactly what
    ``black76.price`` returns for the put (its put-call parity holds for every input).
    """
    calls = _call_scenarios(forward, strike, t, sigma, moves, vol_up, vol_down)
    if is_call:
        return tuple([(c * contract_size) // SIZE_ONE for c in calls])
    prices = []
    for i, f in enumerate(_shocked_forwards(forward, moves)):
        parity = (f - strike) * ONE
        prices.append(((calls[2 * i] - parity) * contract_size) // SIZE_ONE)
        prices.append(((calls[2 * i + 1] - parity) * contract_size) // SIZE_ONE)
    return tuple(prices)


def portfolio_requirement(state: State, asset: str, holdings: list[tuple[Market, int]]) -> int:
    """Return the maintenance requirement of ``holdings`` (market, size) on one underlying."""
    params = state.portfolio[asset]
    feed = state.feeds[asset]
    forward = feed.index_price
    moves = scenario_moves(params, feed.vol_sigma)
    count = 2 * len(moves)
    pnl = [0] * count
    short_min = 0
    for market, size in holdings:
        if size == 0:
            continue
        mark = market.mark_price
        expiry = market.expiry
        if is_option(market) and expiry is not None:
            scenarios = _option_scenarios(
                market.kind is InstrumentKind.CALL,
                forward,
                expiry.strike,
                years_to_expiry(state, expiry),
                option_sigma(state, market, forward),
                expiry.contract_size,
                moves,
                params.vol_up,
                params.vol_down,
            )
            base = mark * ONE
            unit = SIZE_ONE * ONE
            for j in range(count):
                pnl[j] += (size * (scenarios[j] - base)) // unit
            if size < 0:
                underlying = -size * expiry.contract_size * forward
                short_min += -((-underlying * params.short_option_min) // (SIZE_ONE * SIZE_ONE * ONE))
        else:
            for i, m in enumerate(moves):
                change = (size * mark * m) // (SIZE_ONE * ONE)
                pnl[2 * i] += change
                pnl[2 * i + 1] += change
    worst = max(0, -min(pnl)) if pnl else 0
    return worst + short_min


def initial_from_maintenance(params: PortfolioParams, mm: int) -> int:
    """Return IM = ceil(MM * im_factor)."""
    return mul_up(mm, params.im_factor)
