"""
Margin: account value, requirements, health and free collateral.

Introduction
------------
Pure functions of the state; nothing here mutates. ``docs/margin.md`` gives
every formula with a worked example that ``tests/core/test_margin.py``
checks number for number.

A subaccount has one cross bucket (all balances and its non-isolated
positions) and one bucket per isolated position (that position and its own
``isolated_margin``). For a bucket, with weights w (initial or maintenance):

    value_w   = Σ_assets weighted collateral value (quote at 1, debt at 1)
              + Σ_positions floor(size * mark / SIZE_ONE) - pending funding
    IM        = Σ_positions ceil(notional * imf),  MM likewise with mmf
    health    = value_maint - MM       (< 0: liquidatable)
    free      = value_init - IM        (< 0: no new risk, no withdrawal)

Rounding favours the protocol: values round down, requirements and funding
owed round up.

Glossary
--------
imf, mmf  initial / maintenance margin fractions (ratios)
notional  ceil(|size| * mark / SIZE_ONE), quote atoms
sigma     the feed's hourly realised volatility (EWMA of log-returns)
"""

from dataclasses import dataclass

from solvent.core.fixed import ONE, ceil_div, isqrt_up, mul_up
from solvent.core.instruments import is_option
from solvent.core.portfolio import initial_from_maintenance, portfolio_requirement
from solvent.core.state import Account, InstrumentKind, Market, Position, State
from solvent.core.units import SECONDS_PER_HOUR, SIZE_ONE


@dataclass(frozen=True, slots=True)
class Risk:
    """The risk triple of one margin bucket, in quote atoms."""

    value_init: int
    value_maint: int
    im: int
    mm: int

    @property
    def health(self) -> int:
        """Maintenance-weighted value minus maintenance requirement (< 0: liquidatable)."""
        return self.value_maint - self.mm

    @property
    def free_collateral(self) -> int:
        """Initial-weighted value minus initial requirement (< 0: no new risk)."""
        return self.value_init - self.im

    @property
    def is_liquidatable(self) -> bool:
        return self.value_maint < self.mm

    @property
    def meets_initial(self) -> bool:
        return self.value_init >= self.im


def compute_fractions(
    market: Market, sigma: int, notional: int, leverage: int, mm_sigma: int | None = None
) -> tuple[int, int]:
    """Return ``(imf, mmf)`` for a position of ``notional`` quote atoms.

    imf = min(1, base_imf + imf_size_factor * sqrt(notional / size_step)
                 + imf_vol_factor * max(0, sigma - vol_ref))
    mmf = min(imf, base_mmf + mmf_size_factor * sqrt(notional / size_step)
                 + mmf_vol_factor * max(0, mm_sigma - vol_ref))
    imf = max(imf, ceil(1 / leverage)) when the user capped leverage.
    ``mm_sigma`` (default ``sigma``) is the market's rate-limited volatility
    (``Market.mm_sigma``), so that maintenance rises no faster than the
    domain's ``mmf_vol_step`` per hour. All add-ons round up.
    """
    m = market.margin
    imf = m.base_imf
    mmf = m.base_mmf
    if m.imf_size_factor or m.mmf_size_factor:
        # sqrt(notional / size_step) as a ratio, rounded up (requirement side).
        root = isqrt_up(ceil_div(notional * ONE * ONE, m.size_step))
        imf += mul_up(m.imf_size_factor, root)
        mmf += mul_up(m.mmf_size_factor, root)
    excess = sigma - m.vol_ref
    if excess > 0:
        imf += mul_up(m.imf_vol_factor, excess)
    mm_excess = (sigma if mm_sigma is None else mm_sigma) - m.vol_ref
    if mm_excess > 0:
        mmf += mul_up(m.mmf_vol_factor, mm_excess)
    imf = min(imf, ONE)
    mmf = min(mmf, imf)
    if leverage:
        floor_imf = ceil_div(ONE, leverage)
        imf = max(imf, floor_imf)
    return imf, mmf


def current_cum_funding(market: Market, index_price: int, now: int) -> int:
    """Return the market's cumulative funding index accrued up to ``now``.

    cum(now) = cum + floor(rate * index * (now - funding_time) / 3600)
    """
    dt = now - market.funding_time
    if dt <= 0 or market.funding_rate == 0:
        return market.cum_funding
    return market.cum_funding + (market.funding_rate * index_price * dt) // SECONDS_PER_HOUR


def funding_owed(size: int, from_index: int, to_index: int) -> int:
    """Return the funding a position owes between two index values (< 0: receives).

    ceil(size * Δcum / (SIZE_ONE * ONE)): a payer pays the unit it owes in
    part, a receiver gets only whole units, so funding never creates money.
    """
    return -((-size * (to_index - from_index)) // (SIZE_ONE * ONE))


def position_notional(size: int, mark: int) -> int:
    """Return ceil(|size| * mark / SIZE_ONE) in quote atoms."""
    return -((-abs(size) * mark) // SIZE_ONE)


def _leverage(account: Account, market_id: str) -> int:
    settings = account.settings
    if settings is None:
        return 0
    s = settings.get(market_id)
    return s.leverage if s is not None else 0


def _position_terms(
    state: State,
    account: Account,
    market_id: str,
    size: int,
    funding_index: int,
    funding_size: int | None = None,
) -> tuple[int, int, int]:
    """Return (value, im, mm) contributed by one position of ``size``.

    Pending funding since ``funding_index`` is owed by the size actually held,
    ``funding_size`` (default ``size``): a trade settles it on the old size
    before the size changes, so a hypothetical size must not scale it.
    """
    market = state.markets[market_id]
    if market.expiry is not None and is_option(market):
        return _option_terms(state, account, market, size)
    mark = market.mark_price
    feed = state.feeds[market.asset]
    notional = -((-abs(size) * mark) // SIZE_ONE)
    imf, mmf = compute_fractions(
        market, feed.vol_sigma, notional, _leverage(account, market_id), market.mm_sigma
    )
    value = (size * mark) // SIZE_ONE
    held = size if funding_size is None else funding_size
    if held:
        cum = current_cum_funding(market, feed.index_price, state.time)
        value -= -((-held * (cum - funding_index)) // (SIZE_ONE * ONE))
    return value, -((-notional * imf) // ONE), -((-notional * mmf) // ONE)


def position_value(state: State, account: Account, market_id: str, pos: Position) -> int:
    """Return a position's value at the mark with its pending funding (quote atoms, signed)."""
    if pos.size == 0:
        return 0
    return _position_terms(state, account, market_id, pos.size, pos.funding_index)[0]


def _option_terms(state: State, account: Account, market: Market, size: int) -> tuple[int, int, int]:
    """Return (value, im, mm) of an option position in simple mode (see docs/options.md).

    A long option can lose only its value: im = its value (so it never margins
    other positions), mm = 0. A short option with underlying notional U and
    out-of-the-money amount OTM needs, for each fraction f of ``compute_fractions``
    on U, max(f*U - OTM, option_floor * f*U) above its value (which already
    counts the premium owed at the mark).
    """
    mark = market.mark_price
    value = (size * mark) // SIZE_ONE
    if size >= 0:
        return value, -((-size * mark) // SIZE_ONE), 0
    expiry = market.expiry
    if expiry is None:
        raise ValueError("Invariant: an option market has an expiry")
    feed = state.feeds[market.asset]
    forward = feed.index_price
    underlying = -size * expiry.contract_size  # size atoms * size atoms
    unit = SIZE_ONE * SIZE_ONE
    notional = -((-underlying * forward) // unit)
    strike = expiry.strike
    moneyness = strike - forward if market.kind is InstrumentKind.CALL else forward - strike
    otm = (underlying * max(0, moneyness)) // unit
    imf, mmf = compute_fractions(
        market, feed.vol_sigma, notional, _leverage(account, market.id), market.mm_sigma
    )
    floor = market.margin.option_floor
    im_full = mul_up(notional, imf)
    mm_full = mul_up(notional, mmf)
    im = max(im_full - otm, mul_up(im_full, floor))
    mm = max(mm_full - otm, mul_up(mm_full, floor))
    return value, im, mm


def collateral_values(state: State, balances: dict[str, int]) -> tuple[int, int]:
    """Return (initial-weighted, maintenance-weighted) value of balances, rounded down."""
    v_init = 0
    v_maint = 0
    quote = state.quote
    for symbol, amount in balances.items():
        if symbol == quote:
            # The quote asset counts at face value, debt included.
            v_init += amount
            v_maint += amount
            continue
        if amount <= 0:
            continue  # only the quote asset can be owed (ledger); nothing else counts below zero
        asset = state.assets[symbol]
        raw = amount * state.feeds[symbol].index_price  # quote atoms * atoms_per_unit
        unit = asset.atoms_per_unit
        v_init += (raw * asset.init_weight) // (unit * ONE)
        v_maint += (raw * asset.maint_weight) // (unit * ONE)
    return v_init, v_maint


def cross_risk(
    state: State,
    account: Account,
    market_id: str | None = None,
    new_size: int = 0,
    quote_delta: int = 0,
    asset: str | None = None,
    asset_delta: int = 0,
) -> Risk:
    """Return the cross bucket's risk, optionally as if one position had ``new_size``,
    the quote balance moved by ``quote_delta`` and ``asset`` moved by ``asset_delta``.
    """
    balances = account.balances
    if asset is not None:
        balances = dict(balances)
        balances[asset] = balances.get(asset, 0) + asset_delta
    v_init, v_maint = collateral_values(state, balances)
    # The quote asset counts at face value, so a quote delta adds linearly.
    v_init += quote_delta
    v_maint += quote_delta
    im = 0
    mm = 0
    seen = False
    groups: dict[str, list[tuple[Market, int]]] | None = {} if account.portfolio else None
    for mid, pos in account.positions.items():
        if pos.isolated:
            continue
        size = pos.size
        if mid == market_id:
            size = new_size
            seen = True
        value, pim, pmm = _position_terms(state, account, mid, size, pos.funding_index, pos.size)
        v_init += value
        v_maint += value
        if groups is not None and _in_portfolio(state, mid):
            market = state.markets[mid]
            groups.setdefault(market.asset, []).append((market, size))
            continue
        im += pim
        mm += pmm
    if market_id is not None and not seen and new_size:
        market = state.markets[market_id]
        value, pim, pmm = _position_terms(state, account, market_id, new_size, market.cum_funding, 0)
        v_init += value
        v_maint += value
        if groups is not None and _in_portfolio(state, market_id):
            groups.setdefault(market.asset, []).append((market, new_size))
        else:
            im += pim
            mm += pmm
    if groups:
        for underlying in sorted(groups):
            group_mm = portfolio_requirement(state, underlying, groups[underlying])
            mm += group_mm
            im += initial_from_maintenance(state.portfolio[underlying], group_mm)
    return Risk(v_init, v_maint, im, mm)


def _in_portfolio(state: State, market_id: str) -> bool:
    """Return whether a market's underlying has a portfolio-margin grid."""
    return state.markets[market_id].asset in state.portfolio


def isolated_risk(
    state: State,
    account: Account,
    market_id: str,
    new_size: int | None = None,
    margin_delta: int = 0,
) -> Risk:
    """Return the risk of one isolated position and its own margin."""
    pos = account.positions.get(market_id)
    size = pos.size if pos is not None else 0
    if new_size is not None:
        size = new_size
    margin = (pos.isolated_margin if pos is not None else 0) + margin_delta
    funding_index = pos.funding_index if pos is not None else state.markets[market_id].cum_funding
    held = pos.size if pos is not None else 0
    value, im, mm = _position_terms(state, account, market_id, size, funding_index, held)
    return Risk(margin + value, margin + value, im, mm)


def is_isolated(account: Account, market_id: str) -> bool:
    """Return whether the subaccount trades ``market_id`` in isolated mode."""
    pos = account.positions.get(market_id)
    if pos is not None:
        return pos.isolated
    settings = account.settings
    if settings is None:
        return False
    s = settings.get(market_id)
    return s is not None and s.isolated


def bucket_risk(
    state: State,
    account: Account,
    market_id: str,
    new_size: int | None = None,
    quote_delta: int = 0,
) -> Risk:
    """Return the risk of the bucket that holds ``market_id`` (isolated or cross)."""
    if is_isolated(account, market_id):
        return isolated_risk(state, account, market_id, new_size, quote_delta)
    if new_size is None:
        pos = account.positions.get(market_id)
        new_size = pos.size if pos is not None else 0
    return cross_risk(state, account, market_id, new_size, quote_delta)


def increases_risk(old_size: int, new_size: int) -> bool:
    """Return whether a position change adds risk: it grows or flips side."""
    if new_size == 0:
        return False
    if old_size == 0:
        return True
    return abs(new_size) > abs(old_size) or (old_size > 0) != (new_size > 0)


def estimate_liquidation_price(state: State, account: Account, market_id: str) -> int | None:
    """Estimate the mark at which the bucket holding ``market_id`` becomes liquidatable.

    Hold every other price and the fractions fixed; value and requirement are
    then linear in the mark p of this market (and of collateral on the same
    asset), so health(p) = health + slope * (p - mark) with
    slope = size/SIZE_ONE - |size|*mmf/SIZE_ONE + Σ same-asset collateral * w_maint.
    Returns None when no positive price liquidates it (e.g. no position).
    """
    pos = account.positions.get(market_id)
    if pos is None or pos.size == 0:
        return None
    market = state.markets[market_id]
    if is_option(market) or account.portfolio:
        return None  # not linear in the mark: no closed-form estimate
    mark = market.mark_price
    feed = state.feeds[market.asset]
    risk = bucket_risk(state, account, market_id)
    notional = position_notional(pos.size, mark)
    _, mmf = compute_fractions(
        market, feed.vol_sigma, notional, _leverage(account, market_id), market.mm_sigma
    )
    # slope in quote atoms * ONE per (price unit * SIZE_ONE)
    slope = pos.size * ONE - abs(pos.size) * mmf
    if not pos.isolated:
        amount = account.balances.get(market.asset, 0)
        if amount > 0 and market.asset in state.assets:
            a = state.assets[market.asset]
            slope += (amount * a.maint_weight * SIZE_ONE) // a.atoms_per_unit
    if slope == 0:
        return None
    # health + slope*(p - mark)/(SIZE_ONE*ONE) = 0
    price = mark - (risk.health * SIZE_ONE * ONE) // slope
    return price if price > 0 else None


def position_of(account: Account, market_id: str) -> Position | None:
    """Return the account's position in a market, if any."""
    return account.positions.get(market_id)
