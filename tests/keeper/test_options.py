"""
The risk index and the keeper with dated futures and options (the derivatives deployment).

Option holdings in simple mode against the core's ``_option_terms``; writers
found after index, smile and clock changes; portfolio-margin rows valued
exactly; expired series settled before anything is liquidated; and the
screen against a brute-force exact scan over random states with options.
"""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keeper_helpers import (
    EXPIRY,
    OPTIONS,
    START,
    Market,
    all_rows,
    check_index,
    check_model,
    derivatives_market,
    exact_liquidatable,
    key,
)

from solvent.core.errors import ProtocolError
from solvent.core.events import Event
from solvent.core.fixed import ONE
from solvent.core.instruments import refresh_option_marks
from solvent.core.margin import _option_terms, cross_risk, isolated_risk
from solvent.core.state import Account, Position
from solvent.core.tx import (
    Liquidate,
    MoveIsolatedMargin,
    SetMarginMode,
    SetPortfolioMargin,
    SetTime,
    Settle,
    Withdraw,
)
from solvent.core.units import SIZE_ONE
from solvent.defaults import address_of, usd
from solvent.keeper import exact_risk
from solvent.keeper.risk_index import (
    CROSS,
    RiskIndex,
    market_params,
    option_params,
    option_terms,
    option_terms_scalar,
)
from solvent.scenario import start_state

KEEPER = address_of("keeper")
CALL_110 = "BTC-30D-C-110000"
PUT_90 = "BTC-30D-P-90000"
DATED = ("BTC-FUT-30D", *OPTIONS)


def liquidated(outcomes: list[tuple[object, list[Event] | Exception]]) -> list[Event]:
    return [e for _, r in outcomes if isinstance(r, list) for e in r if e.kind == "Liquidated"]


def cross_row(name: str) -> tuple[str, int, str]:
    return (address_of(name), 0, CROSS)


# --- the float model of an option holding ----------------------------------------------

_BASE = start_state("derivatives")


@given(
    market_id=st.sampled_from(OPTIONS),
    lots=st.integers(-20_000, 20_000).filter(bool),  # 0.01 contract each
    forward=st.integers(30_000, 250_000),
    sigma=st.integers(0, ONE // 5),
    mm_sigma=st.integers(0, ONE // 5),
    size_factor=st.sampled_from([0, 10**15, 3 * 10**16]),
    floor=st.sampled_from([0, ONE // 4, ONE // 2, ONE]),
    atm_vol=st.integers(ONE // 20, 3 * ONE),
)
def test_option_terms_match_the_core(
    market_id: str,
    lots: int,
    forward: int,
    sigma: int,
    mm_sigma: int,
    size_factor: int,
    floor: int,
    atm_vol: int,
) -> None:
    """value - MM of one option holding, scalar and vectorised, within a few atoms of the core."""
    state = _BASE
    feed = state.feeds["BTC"]
    feed.index_price = forward * 10**6
    feed.vol_sigma = sigma
    state.vol_feeds["BTC-30D"].atm_vol = atm_vol
    market = state.markets[market_id]
    market.mm_sigma = mm_sigma
    market.margin.imf_size_factor = size_factor
    market.margin.mmf_size_factor = size_factor // 2
    market.margin.option_floor = floor
    refresh_option_marks(state)
    size = lots * 10**6
    value, _, mm = _option_terms(state, Account("0x1", 0, {}, {}), market, size)
    opt = option_params(market)
    assert opt is not None
    prices = (market.mark_price, feed.index_price, opt, market_params(market), sigma, mm_sigma)
    hc, g = option_terms_scalar(float(size), *prices)
    assert abs(hc - (value - mm)) <= 4 + 1e-12 * g, (hc, value - mm)
    vh, vg = option_terms(np.array([float(size)]), *prices)
    assert vh[0] == pytest.approx(hc, rel=1e-12, abs=1e-6)
    assert vg[0] == pytest.approx(g, rel=1e-12)
    if size > 0:
        assert mm == 0


# --- writers found after an index, smile or clock change ---------------------------------


def _writer(m: Market, market_id: str, deposit: str, name: str = "w") -> None:
    m.deposit("maker", "10000000")
    m.deposit(name, deposit)
    m.trade(name, market_id, "sell", "1")  # the maker buys one contract at the mark


@pytest.mark.parametrize(
    ("market_id", "path"),
    [
        (CALL_110, ("102000", "104000", "106000", "108000")),  # a call writer on a rise
        (PUT_90, ("98000", "96000", "94000", "92000", "90000")),  # a put writer on a fall
    ],
)
def test_an_option_writer_is_found_after_an_index_move(market_id: str, path: tuple[str, ...]) -> None:
    """Writing the 10,000-out-of-the-money option needs 7,500 initial, 3,750 maintenance;
    the writer starts 3,850 above maintenance. A move of 8% up (the call) or 10% down (the
    put) takes it under (the option's delta, the end of the out-of-the-money credit and the
    volatility add-on); the index sees it, the keeper buys the option
    back from the book.
    """
    m = derivatives_market()
    _writer(m, market_id, "7600")
    row = cross_row("w")
    assert row not in exact_liquidatable(m.state)
    estimate, _ = m.index.estimate(row)
    risk = exact_risk(m.state, row)
    assert risk is not None and abs(estimate - risk.health) <= 8
    for price in path:
        m.advance(30)
        m.prices(**dict(START, BTC=price))
        m.vols(0.6)  # the smile stays fresh (liquidations need it)
        check_index(m.state, m.index)
        check_model(m.state, m.index)
    assert exact_liquidatable(m.state) == {row}
    assert [u.row for u in m.keeper.underwater(m.state)] == [row]
    assert m.keeper.liquidations(m.state) == [Liquidate(KEEPER, 0, address_of("w"), 0, market_id)]
    option = m.state.markets[market_id]
    ask = -(-(option.mark_price + option.underlying_price // 200) // option.tick) * option.tick
    m.bid("maker", market_id, "1", f"{ask / 10**6:.1f}", is_buy=False)
    outcomes = m.keeper.run(m.state)
    (ev,) = liquidated(outcomes)
    assert ev.data["market"] == market_id
    assert m.state.accounts[key("w")].positions.get(market_id) is None or (
        m.state.accounts[key("w")].positions[market_id].size > -SIZE_ONE
    )
    check_index(m.state, m.index)
    check_model(m.state, m.index)


def test_a_smile_change_alone_makes_a_writer_liquidatable() -> None:
    """No index update: the smile moves the option's mark, the index follows the mark."""
    m = derivatives_market()
    _writer(m, CALL_110, "7600")
    row = cross_row("w")
    m.advance(30)
    logged = len(m.log)
    m.vols(1.2)
    assert not any(e.kind == "IndexUpdated" for _, events in m.log[logged:] for e in events)
    assert exact_liquidatable(m.state) == {row}
    assert {u.row for u in m.keeper.underwater(m.state)} == {row}
    check_index(m.state, m.index)
    check_model(m.state, m.index)


def test_the_clock_decays_option_marks_and_the_index_follows() -> None:
    """Only SetTime: every option mark decays, the writer's health rises, the holder's falls."""
    m = derivatives_market()
    _writer(m, CALL_110, "7600")
    before = {mid: m.state.markets[mid].mark_price for mid in OPTIONS}
    w_before, _ = m.index.estimate(cross_row("w"))
    m.advance(10 * 86_400)
    assert all(m.state.markets[mid].mark_price < before[mid] for mid in OPTIONS)
    w_after, _ = m.index.estimate(cross_row("w"))
    assert w_after > w_before
    check_index(m.state, m.index)
    check_model(m.state, m.index)


def test_a_future_holder_is_found_like_a_perpetual_holder() -> None:
    m = derivatives_market()
    m.deposit("maker", "10000000")
    m.deposit("f", "10600")
    m.trade("f", "BTC-FUT-30D", "buy", "1", "100000")
    for price in ("97000", "94000"):
        m.advance(30)
        m.prices(**dict(START, BTC=price))
        check_index(m.state, m.index)
        check_model(m.state, m.index)
    assert exact_liquidatable(m.state) == {cross_row("f")}
    assert m.keeper.liquidations(m.state) == [Liquidate(KEEPER, 0, address_of("f"), 0, "BTC-FUT-30D")]


# --- portfolio margin: rows valued by the core ------------------------------------------


def test_portfolio_rows_are_valued_exactly_after_every_change() -> None:
    """A portfolio account's cross row is revalued by ``margin.cross_risk`` whenever its
    underlying, its markets or the clock move; its estimate is the exact health.
    """
    m = derivatives_market()
    m.deposit("maker", "10000000")
    m.deposit("p", "40000")
    m.apply(SetPortfolioMargin(address_of("p"), 0, True))
    m.trade("p", "BTC-30D-C-100000", "sell", "1")
    m.trade("p", "BTC-30D-P-100000", "sell", "1")  # a short straddle
    row = cross_row("p")
    risk = exact_risk(m.state, row)
    assert risk is not None
    m.apply(Withdraw(address_of("p"), 0, "USDC", risk.free_collateral))  # down to initial margin
    index = m.index
    assert index.row_of[row] in index.exact_deps
    assert index.columns[index.markets["BTC-30D-C-100000"].column].live() == 1  # the maker's only

    def exact_now() -> None:
        risk = exact_risk(m.state, row)
        assert risk is not None
        assert index.estimate(row)[0] == pytest.approx(risk.health, abs=1.0)

    exact_now()
    for price in ("101000", "103000", "105000", "107000", "109000"):
        m.advance(30)
        m.prices(**dict(START, BTC=price))
        m.vols(0.6)
        exact_now()
        check_index(m.state, m.index)
        check_model(m.state, m.index)
    assert row in exact_liquidatable(m.state)
    assert row in {u.row for u in m.keeper.underwater(m.state)}
    m.advance(3_600)  # the clock alone: time to expiry enters every scenario
    exact_now()
    m.vols(0.9)  # the smile alone
    exact_now()
    check_index(m.state, m.index)


def test_portfolio_rows_follow_the_grid_listing_and_the_mode_switch() -> None:
    """Without a grid a portfolio account is margined simply (columns); when governance
    removes the grid (here: by hand) the row goes back to the columns, and the reverse.
    """
    m = derivatives_market()
    m.deposit("maker", "10000000")
    m.deposit("p", "50000")
    m.apply(SetPortfolioMargin(address_of("p"), 0, True))
    m.trade("p", "BTC-30D-C-100000", "sell", "1")
    index = m.index
    r = index.row_of[cross_row("p")]
    assert r in index.exact_deps
    grid = m.state.portfolio.pop("BTC")
    index.screen(m.state)
    assert r not in index.exact_deps
    check_index(m.state, index)
    check_model(m.state, index)
    m.state.portfolio["BTC"] = grid
    index.screen(m.state)
    assert r in index.exact_deps
    check_index(m.state, index)
    m.apply(SetPortfolioMargin(address_of("p"), 0, False))
    assert r not in index.exact_deps
    check_index(m.state, index)
    check_model(m.state, index)


# --- expiry: settle first, never liquidate an expired position ---------------------------


def test_expired_series_are_settled_first_and_never_liquidated() -> None:
    """An isolated call writer is under water after expiry while the settlement average is
    incomplete: the keeper sends nothing (the core would refuse Liquidate with MarketExpired)
    and does not spin; once Settle would be accepted it settles every expired series first.
    """
    m = derivatives_market()
    m.deposit("maker", "10000000")
    m.deposit("w", "20000")
    owner = address_of("w")
    m.apply(SetMarginMode(owner, 0, CALL_110, True))
    m.apply(MoveIsolatedMargin(owner, 0, CALL_110, usd("7600")))
    m.trade("w", CALL_110, "sell", "1")
    iso = (owner, 0, CALL_110)
    # The reporters stay silent through the settlement window: nothing fresh is counted.
    m.apply(SetTime(EXPIRY + 10))
    for price in ("108000", "116000", "124000"):  # fresh again after expiry, at most 10% a step
        m.advance(30)
        m.prices(**dict(START, BTC=price))
    expiry = m.state.markets[CALL_110].expiry
    assert expiry is not None and not expiry.settled and expiry.twap_seconds < expiry.min_fresh_s
    assert iso in exact_liquidatable(m.state)
    assert iso in {u.row for u in m.keeper.underwater(m.state)}
    assert m.keeper.liquidations(m.state) == []
    assert m.keeper.run(m.state) == []
    check_index(m.state, m.index)
    while expiry.twap_seconds < expiry.min_fresh_s:
        m.advance(30)
        m.prices(BTC="124000")
    assert m.keeper.liquidations(m.state)[: len(DATED)] == [Settle(KEEPER, mid) for mid in sorted(DATED)]
    outcomes = m.keeper.run(m.state)
    assert [tx for tx, _ in outcomes][: len(DATED)] == [Settle(KEEPER, mid) for mid in sorted(DATED)]
    assert all(isinstance(r, list) for _, r in outcomes)
    assert all(m.state.markets[mid].expiry.settled for mid in DATED)  # type: ignore[union-attr]
    assert CALL_110 not in m.state.accounts[key("w")].positions
    assert not exact_liquidatable(m.state) & {iso}
    check_index(m.state, m.index)
    check_model(m.state, m.index)
    assert m.keeper.settlements(m.state) == []


# --- property: the screen is a superset of the exact set, with options -----------------

DERIV_MARKETS = ("BTC-PERP", "BTC-FUT-30D", *OPTIONS)
LOT = {"BTC-PERP": 10**6, "BTC-FUT-30D": 10**6}  # 0.01 BTC; options: 0.01 contract (10**6 too)

holding_st = st.tuples(
    st.sampled_from(DERIV_MARKETS),
    st.integers(-300, 300).filter(bool),  # 0.01 BTC or 0.01 contract
    st.integers(0, 9),  # isolated when 0
)
deriv_account_st = st.tuples(
    st.lists(holding_st, min_size=1, max_size=4, unique_by=lambda h: h[0]),
    st.floats(-0.3, 0.8),  # health as a share of MM (or of 10,000 USDC when MM is 0)
    st.booleans(),  # portfolio margin
    st.integers(0, 3),  # ETH collateral, 0.1 ETH
)
deriv_move_st = st.one_of(
    st.tuples(st.just("index"), st.floats(-0.095, 0.095), st.integers(1, 59)),
    st.tuples(st.just("smile"), st.floats(0.2, 1.5), st.floats(-0.5, 0.5)),
    st.tuples(st.just("wait"), st.integers(60, 12 * 86_400)),
)


DerivAccount = tuple[list[tuple[str, int, int]], float, bool, int]


def build_derivatives(state_market: Market, accounts: list[DerivAccount]) -> None:
    """Add accounts as records, then set each bucket's collateral so that its health is the
    drawn share of its requirement: the moves that follow take many across the line.
    """
    state = state_market.state
    for i, (holdings, share, portfolio, eth) in enumerate(accounts):
        owner = f"0x{i + 1:040x}"
        positions = {}
        for market_id, lots, iso in holdings:
            market = state.markets[market_id]
            isolated = iso == 0
            positions[market_id] = Position(lots * LOT.get(market_id, 10**6), 0, market.cum_funding, isolated)
            if lots > 0:
                market.open_interest += lots * 10**6
        balances = {"USDC": 0}
        if eth:
            balances["ETH"] = eth * 10**17
        account = Account(owner, 0, balances, positions, portfolio=portfolio)
        state.accounts[(owner, 0)] = account
        for market_id, pos in positions.items():
            if pos.isolated:
                risk = isolated_risk(state, account, market_id)
                target = int(share * max(risk.mm, 10_000 * 10**6))
                pos.isolated_margin = max(0, target - risk.health)
        risk = cross_risk(state, account)
        balances["USDC"] = int(share * max(risk.mm, 10_000 * 10**6)) - risk.health


@settings(max_examples=60, deadline=None)
@given(
    accounts=st.lists(deriv_account_st, min_size=1, max_size=6),
    moves=st.lists(deriv_move_st, min_size=1, max_size=6),
)
def test_screen_never_misses_with_options(
    accounts: list[DerivAccount],
    moves: list[tuple[object, ...]],
) -> None:
    """Random books of perpetual, future and option holdings (cross, isolated, portfolio),
    then index moves, smile changes and waits (past expiry too): after every step the screen
    holds every bucket a brute-force exact scan finds liquidatable, the incremental index
    equals a full recompute, and every estimate is within a few atoms of the exact health.
    """
    m = derivatives_market()
    build_derivatives(m, accounts)
    m.keeper.index = RiskIndex.from_state(m.state)
    check_index(m.state, m.index)
    check_model(m.state, m.index)
    btc = 100_000.0
    for move in moves:
        if move[0] == "index":
            m.advance(int(move[2]))  # type: ignore[call-overload]
            btc *= 1 + float(move[1])  # type: ignore[arg-type]
        elif move[0] == "smile":
            m.advance(1)
            m.vols(float(move[1]), float(move[2]))  # type: ignore[arg-type]
        else:
            m.advance(int(move[1]))  # type: ignore[call-overload]
        m.prices(**dict(START, BTC=f"{btc:.4f}"))
        check_index(m.state, m.index)
        check_model(m.state, m.index)


@settings(max_examples=40, deadline=None)
@given(accounts=st.lists(deriv_account_st, min_size=1, max_size=5), wait=st.integers(0, 86_400))
def test_option_buckets_one_atom_under_are_screened(accounts: list[DerivAccount], wait: int) -> None:
    """Every bucket set to health exactly -1 atom is screened; the keeper confirms it."""
    m = derivatives_market()
    build_derivatives(m, accounts)
    state = m.state
    m.advance(wait)  # option marks decay
    rows = [r for r in all_rows(state) if r[0].startswith("0x00")]
    for row in rows:
        risk = exact_risk(state, row)
        assert risk is not None
        account = state.accounts[(row[0], row[1])]
        if row[2] == CROSS:
            account.balances["USDC"] = account.balances.get("USDC", 0) - risk.health - 1
        else:
            account.positions[row[2]].isolated_margin -= risk.health + 1
    m.keeper.index = RiskIndex.from_state(state)
    assert exact_liquidatable(state) >= set(rows)
    assert set(rows) <= set(m.index.screen(state).keys)
    assert set(rows) <= {u.row for u in m.keeper.underwater(state)}


@pytest.mark.parametrize("seed", range(3))
def test_random_option_trading_keeps_the_index_exact(seed: int) -> None:
    """Trades through apply (writers and buyers of every series, futures, some in portfolio
    mode), index moves, smiles and keeper runs, 80 steps: the index follows every step.
    """
    rng = random.Random(seed)
    m = derivatives_market()
    m.deposit("maker", "100000000")
    names = ("o1", "o2", "o3", "o4")
    for n in names:
        m.deposit(n, "60000")
    m.apply(SetPortfolioMargin(address_of("o4"), 0, True))
    btc = 100_000.0
    for _ in range(80):
        kind = rng.choice(["trade"] * 4 + ["price"] * 3 + ["smile", "keeper"])
        try:
            if kind == "trade":
                market_id = rng.choice(DERIV_MARKETS)
                amount = "0.1" if market_id in ("BTC-PERP", "BTC-FUT-30D") else "0.5"
                m.trade(rng.choice(names), market_id, rng.choice(["buy", "sell"]), amount)
            elif kind == "price":
                m.advance(30)
                btc *= 1 + rng.uniform(-0.06, 0.06)
                m.prices(**dict(START, BTC=f"{btc:.2f}"))
                m.vols(0.6)
            elif kind == "smile":
                m.advance(5)
                m.vols(rng.uniform(0.3, 1.2), rng.uniform(-0.3, 0.3))
            else:
                m.keeper.run(m.state)
        except ProtocolError:  # a refused transaction is part of the flow
            pass
        check_index(m.state, m.index)
