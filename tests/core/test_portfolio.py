"""
Portfolio margin: the scenario grid, hedges that offset, the volatility add-on, switching modes.

The derivatives deployment's BTC grid: moves 0, ±5%, ±10%, ±15% (range
widened by 2 × (hourly sigma − 2%)), implied vols ×1.3 and ×0.7, 1% of the
underlying per short option contract, IM = 1.25 × MM. BTC at 100,000 and a
flat 60% smile, 30 days to expiry. The requirements below are exact; a
second, brute-force computation in ``_brute_force_mm`` checks the module.
"""

from tests.core.fixtures import addr, key, refused, report
from tests.core.test_instruments import CALL, FUT, PUT, T0, derivatives_state, trade

from solvent.core import black76
from solvent.core.engine import apply, preview
from solvent.core.errors import InsufficientMargin, OracleStale
from solvent.core.fixed import ONE
from solvent.core.instruments import option_sigma, years_to_expiry
from solvent.core.margin import cross_risk
from solvent.core.portfolio import scenario_moves, scenario_range
from solvent.core.state import State
from solvent.core.tx import PlaceOrder, SetPortfolioMargin, SetTime
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd

# (IM, MM) in quote atoms. The ATM call and put are both marked 6,853.940718.
# Covered call (short call + 1 BTC forward): the worst scenario is -15% with vols up,
# a loss of 10,950.479047, plus 1% of 100,000 for the short call: 11,950.479047 MM.
# It equals the naked put's, as put-call parity says it must.
EXPECTED_COVERED_CALL = (
    (14_938_098_809, 11_950_479_047),  # covered call
    (16_269_709_699, 13_015_767_759),  # the call alone
    (18_750_000_000, 15_000_000_000),  # the future alone: 15% of 100,000
)
EXPECTED_STRADDLE = (
    (13_789_419_398, 11_031_535_518),  # short straddle
    (16_269_709_699, 13_015_767_759),  # the call alone
    (14_938_098_809, 11_950_479_047),  # the put alone
)

FUNDS = {"mm": "10000000", "a": "100000", "b": "100000", "c": "100000"}


def pm_state() -> State:
    state = derivatives_state(FUNDS)
    for role in ("a", "b", "c"):
        apply(state, SetPortfolioMargin(addr(role), 0, True))
    return state


def requirement(state: State, role: str) -> tuple[int, int]:
    risk = cross_risk(state, state.accounts[key(role)])
    return risk.im, risk.mm


def _brute_force_mm(state: State, holdings: list[tuple[str, int]]) -> int:
    """The grid written out again, position by position, from black76.price."""
    params = state.portfolio["BTC"]
    forward = state.feeds["BTC"].index_price
    worst = 0
    short_min = 0
    for m in scenario_moves(params, state.feeds["BTC"].vol_sigma):
        for scale in (ONE + params.vol_up, ONE - params.vol_down):
            pnl = 0
            for market_id, size in holdings:
                market = state.markets[market_id]
                expiry = market.expiry
                assert expiry is not None
                if market_id == FUT:
                    pnl += (size * market.mark_price * m) // (SIZE_ONE * ONE)
                    continue
                sigma = (option_sigma(state, market, forward) * scale) // ONE
                shocked = forward + (forward * m) // ONE
                price = black76.price(
                    shocked, expiry.strike, years_to_expiry(state, expiry), sigma, market.kind.value == "CALL"
                )
                pnl += (size * (price - market.mark_price * ONE)) // (SIZE_ONE * ONE)
            worst = max(worst, -pnl)
    for market_id, size in holdings:
        if market_id != FUT and size < 0:
            short_min += -((size * forward * params.short_option_min) // (SIZE_ONE * ONE))
    return worst + short_min


def test_a_covered_call_needs_less_than_its_naked_legs():
    state = pm_state()
    trade(state, CALL, "mm", "a", SIZE_ONE, "7000")  # a writes a call ...
    trade(state, FUT, "a", "mm", SIZE_ONE, "100000")  # ... and holds 1 BTC forward: covered
    trade(state, CALL, "mm", "b", SIZE_ONE, "7000")  # b writes the same call naked
    trade(state, FUT, "c", "mm", SIZE_ONE, "100000")  # c holds the future alone
    covered = requirement(state, "a")
    naked = requirement(state, "b")
    future_alone = requirement(state, "c")
    assert covered[1] == _brute_force_mm(state, [(CALL, -SIZE_ONE), (FUT, SIZE_ONE)])
    assert naked[1] == _brute_force_mm(state, [(CALL, -SIZE_ONE)])
    assert future_alone[1] == _brute_force_mm(state, [(FUT, SIZE_ONE)])
    assert covered[1] < naked[1] and covered[1] < naked[1] + future_alone[1]
    assert (covered, naked, future_alone) == EXPECTED_COVERED_CALL
    # IM = ceil(1.25 × MM).
    assert all(im == -((-mm * 5) // 4) for im, mm in (covered, naked, future_alone))


def test_a_delta_hedged_straddle_needs_less_than_its_legs():
    state = pm_state()
    trade(state, CALL, "mm", "a", SIZE_ONE, "7000")
    trade(state, PUT, "mm", "a", SIZE_ONE, "7000")
    # A short ATM straddle has delta ≈ 0 already; b holds the same legs apart.
    trade(state, CALL, "mm", "b", SIZE_ONE, "7000")
    trade(state, PUT, "mm", "c", SIZE_ONE, "7000")
    straddle = requirement(state, "a")
    legs = (requirement(state, "b"), requirement(state, "c"))
    assert straddle[1] == _brute_force_mm(state, [(CALL, -SIZE_ONE), (PUT, -SIZE_ONE)])
    assert straddle[1] < legs[0][1] + legs[1][1]
    assert (straddle, *legs) == EXPECTED_STRADDLE


def test_portfolio_needs_less_than_simple_margin_for_a_covered_call():
    state = pm_state()
    trade(state, CALL, "mm", "a", SIZE_ONE, "7000")
    trade(state, FUT, "a", "mm", SIZE_ONE, "100000")
    portfolio = requirement(state, "a")
    apply(state, SetPortfolioMargin(addr("a"), 0, False))
    simple = requirement(state, "a")
    assert portfolio[0] < simple[0] and portfolio[1] < simple[1]


def test_the_scenario_range_widens_with_realised_volatility():
    state = pm_state()
    params = state.portfolio["BTC"]
    assert scenario_range(params, 0) == 15 * ONE // 100
    # 2 × (5% − 2%) = +6 points; capped at 50%.
    assert scenario_range(params, 5 * ONE // 100) == 21 * ONE // 100
    assert scenario_range(params, ONE) == ONE // 2
    trade(state, CALL, "mm", "b", SIZE_ONE, "7000")
    calm = requirement(state, "b")[1]
    t = T0
    for price in ("104000", "98000", "104000", "98000", "104000"):
        t += 120
        report(state, "BTC", usd(price), t)
    report(state, "BTC", usd("100000"), t + 120)
    assert state.feeds["BTC"].vol_sigma > 2 * ONE // 100
    assert requirement(state, "b")[1] > calm


def test_switching_modes_must_keep_initial_margin():
    state = pm_state()
    # Five covered calls fit a's 100,000 under portfolio margin; in simple mode the legs
    # alone need 5 x 15% x 100,000 + 5 x 10% x 100,000 = 125,000.
    trade(state, CALL, "mm", "a", 5 * SIZE_ONE, "7000")
    trade(state, FUT, "a", "mm", 5 * SIZE_ONE, "100000")
    assert cross_risk(state, state.accounts[key("a")]).meets_initial
    error = refused(state, SetPortfolioMargin(addr("a"), 0, False), InsufficientMargin)
    assert "simple" in error.message
    assert state.accounts[key("a")].portfolio


def test_a_mode_switch_on_a_stale_index_is_refused_and_changes_nothing():
    state = pm_state()
    trade(state, CALL, "mm", "c", SIZE_ONE, "7000")
    apply(state, SetTime(T0 + 3_600))  # nobody has reported for an hour
    refused(state, SetPortfolioMargin(addr("c"), 0, False), OracleStale)
    assert state.accounts[key("c")].portfolio


def test_preview_shows_the_margin_effect_of_an_option_order():
    state = pm_state()
    apply(state, PlaceOrder(addr("mm"), 0, CALL, True, SIZE_ONE, usd("6500")))
    before = cross_risk(state, state.accounts[key("b")])
    seen = preview(state, PlaceOrder(addr("b"), 0, CALL, False, SIZE_ONE, usd("6500")))
    assert seen.risk is not None and seen.risk.mm > before.mm
    assert seen.liquidation_price is None  # not linear in the mark: no estimate
    assert cross_risk(state, state.accounts[key("b")]) == before
