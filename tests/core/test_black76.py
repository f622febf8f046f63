"""
Tests of ``solvent.core.black76``: accuracy, exact parity, bounds, monotonicity, greeks.

References
----------
- exact: ``Decimal`` at 80 significant digits (the tail Q by its series
  below 4 and by the Mills-ratio continued fraction above), for the error
  bound the module documents: ``|price - exact * ONE| <= 1/2 + min(F, K) *
  ONE * 2**-125`` wad;
- double precision: scipy's ``ndtr`` in a Black-76 that computes the
  out-of-the-money option (no cancellation) and adds the intrinsic value,
  for the 10,000-case differential test (its own error is ~1e-16 of F, far
  below the required 1e-9 of F). ``worst_case(n, seed)`` is that test as a
  function, which ``bench/options.py`` prints.

Integer comparisons are exact everywhere: parity, bounds and monotonicity
carry no tolerance.
"""

import math
import random
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from solvent.core import black76
from solvent.core.black76 import Greeks, greeks, intrinsic, norm_cdf, norm_pdf, price
from solvent.core.fixed import ONE
from solvent.core.units import MAX_AMOUNT, SECONDS_PER_YEAR

SECOND = ONE // SECONDS_PER_YEAR  # one second as a ratio of a year
MINUTE = 60 * ONE // SECONDS_PER_YEAR
MANY = settings(max_examples=10 * settings().max_examples)

# --- exact reference (Decimal) ---------------------------------------------------------

PREC = 80
PI = Decimal(
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798"
)


def exact_pdf(z: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = PREC
        return (-(z * z) / 2).exp() / (2 * PI).sqrt()


def exact_tail(z: Decimal) -> Decimal:
    """Return Q(z) = 1 - Phi(z) to ~75 significant digits."""
    with localcontext() as ctx:
        ctx.prec = PREC
        if z < 0:
            return 1 - exact_tail(-z)
        if z < 4:
            # Q(z) = 1/2 - phi(z) * sum z**(2n+1) / (2n+1)!!  (loses < 5 digits below 4)
            term = z
            total = term
            n = 0
            while term > Decimal(10) ** -(PREC + 5):
                n += 1
                term = term * z * z / (2 * n + 1)
                total += term
            return Decimal(1) / 2 - exact_pdf(z) * total
        m = Decimal(0)
        for k in range(400, 0, -1):  # converges like exp(-2 z sqrt(2 depth)): < 1e-70 at z = 4
            m = k / (z + m)
        return exact_pdf(z) / (z + m)


def exact_price(forward: int, strike: int, t: int, sigma: int, is_call: bool) -> Decimal:
    """Return the Black-76 price in wad, to ~70 significant digits."""
    with localcontext() as ctx:
        ctx.prec = PREC
        s = Decimal(sigma) / ONE * (Decimal(t) / ONE).sqrt()
        base = Decimal(intrinsic(forward, strike, is_call) * ONE)
        if s == 0:
            return base
        a, b = min(forward, strike), max(forward, strike)
        y = (Decimal(b) / Decimal(a)).ln()
        d1 = s / 2 - y / s
        d2 = d1 - s
        tv = a * exact_tail(-d1) - b * exact_tail(-d2)
        return base + tv * ONE


# --- double-precision reference (scipy) -------------------------------------------------


class Case(NamedTuple):
    forward: int
    strike: int
    t: int
    sigma: int
    is_call: bool


def random_cases(n: int, seed: int) -> list[Case]:
    """Return ``n`` seeded cases: K/F in [0.2, 5] (one in ten in [1e-6, 1e6]), vol 1%-500%, 1 min-5 y."""
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        forward = int(10 ** rng.uniform(0, 15)) + 1
        spread = math.log(1e6) if rng.random() < 0.1 else math.log(5)
        strike = min(MAX_AMOUNT, max(1, round(forward * math.exp(rng.uniform(-spread, spread)))))
        t = round(ONE * math.exp(rng.uniform(math.log(MINUTE / ONE), math.log(5))))
        sigma = round(ONE * math.exp(rng.uniform(math.log(0.01), math.log(5))))
        cases.append(Case(forward, strike, t, sigma, rng.random() < 0.5))
    return cases


def reference_time_values(cases: list[Case]) -> np.ndarray:
    """Return the time value (price - intrinsic) of each case, in price units, in double precision."""
    f = np.array([float(c.forward) for c in cases])
    k = np.array([float(c.strike) for c in cases])
    a, b = np.minimum(f, k), np.maximum(f, k)
    s = np.array([c.sigma / ONE * math.sqrt(c.t / ONE) for c in cases])
    y = np.array([math.log(c.strike / c.forward) for c in cases])
    d1 = s / 2 - np.abs(y) / s
    return a * ndtr(d1) - b * ndtr(d1 - s)


def errors_over_forward(cases: list[Case]) -> list[float]:
    """Return |price / ONE - reference| / F for each case."""
    refs = reference_time_values(cases)
    out = []
    for case, ref in zip(cases, refs, strict=True):
        tv = price(*case) - intrinsic(case.forward, case.strike, case.is_call) * ONE
        out.append(abs(tv / ONE - float(ref)) / case.forward)
    return out


def worst_case(n: int = 10_000, seed: int = 76) -> tuple[float, Case]:
    """Return the largest |price / ONE - scipy reference| / F over ``n`` random cases, and its case."""
    cases = random_cases(n, seed)
    errors = errors_over_forward(cases)
    i = max(range(n), key=errors.__getitem__)
    return errors[i], cases[i]


# --- strategies ------------------------------------------------------------------------------

prices = st.one_of(
    st.integers(1, 10**15),
    st.integers(10**5, 10**12),
    st.integers(1, MAX_AMOUNT),
)
times = st.one_of(
    st.integers(0, 10 * ONE),
    st.integers(SECOND, 100 * MINUTE),
    st.sampled_from([0, 1, SECOND, MINUTE, ONE // 365, ONE, 10 * ONE]),
)
vols = st.one_of(
    st.integers(0, 10 * ONE),
    st.integers(0, ONE // 10),
    st.sampled_from([0, 1, ONE // 100, 8 * ONE // 10, 5 * ONE, 10 * ONE]),
)


@st.composite
def strikes_near(draw: st.DrawFn, forward: int) -> int:
    """A strike with K/F log-uniform in [1e-6, 1e6], or near F."""
    if draw(st.booleans()):
        exponent = draw(st.integers(-6_000, 6_000)) / 1000
        return min(MAX_AMOUNT, max(1, round(forward * 10**exponent)))
    return min(MAX_AMOUNT, max(1, forward + draw(st.integers(-1000, 1000))))


@st.composite
def options(draw: st.DrawFn) -> Case:
    forward = draw(prices)
    return Case(forward, draw(strikes_near(forward)), draw(times), draw(vols), draw(st.booleans()))


# --- the normal distribution -----------------------------------------------------------------


def test_norm_cdf_exact_values() -> None:
    assert norm_cdf(0) == ONE // 2
    assert norm_pdf(0) == 398_942_280_401_432_678
    assert norm_cdf(ONE) == 841_344_746_068_542_949  # Phi(1) = 0.84134474606854293...
    assert norm_cdf(-40 * ONE) == 0
    assert norm_cdf(40 * ONE) == ONE
    assert norm_cdf(10**40) == ONE
    assert norm_cdf(-(10**40)) == 0
    assert norm_pdf(40 * ONE) == 0


@MANY
@given(st.one_of(st.integers(-50 * ONE, 50 * ONE), st.integers(-(10**30), 10**30)))
@example(0)
@example(1)
def test_norm_cdf_is_symmetric_and_in_range(x: int) -> None:
    assert norm_cdf(x) + norm_cdf(-x) == ONE
    assert 0 <= norm_cdf(x) <= ONE
    assert norm_pdf(x) == norm_pdf(-x)


@MANY
@given(st.integers(-12 * ONE, 12 * ONE), st.integers(0, ONE))
def test_norm_cdf_is_monotone(x: int, step: int) -> None:
    assert norm_cdf(x) <= norm_cdf(x + step)


def test_norm_cdf_and_pdf_are_within_half_a_unit_plus_a_hair() -> None:
    rng = random.Random(1)
    xs = [rng.randint(-10 * ONE, 10 * ONE) for _ in range(300)] + [k * ONE // 128 for k in range(-40, 41)]
    for x in xs:
        z = Decimal(x) / ONE
        assert abs(norm_cdf(x) - (1 - exact_tail(z)) * ONE) <= Decimal("0.5000001"), x
        assert abs(norm_pdf(x) - exact_pdf(z) * ONE) <= Decimal("0.5000001"), x


def test_tail_and_density_kernels_keep_their_relative_precision() -> None:
    # The documented precision of the kernels every price and greek uses, at random
    # points, at the table's points and just short of the midpoints between them.
    rng = random.Random(2)
    scale = 1 << 128
    zs = [rng.randrange(20 * scale) for _ in range(400)]
    zs += [k * scale // 128 for k in range(0, 2560, 37)]
    zs += [(2 * k + 1) * scale // 256 - 1 for k in range(0, 2560, 41)]
    worst_tail = worst_density = Decimal(0)
    for z in zs:
        q, q_exponent = black76._tail(z)
        p, p_exponent = black76._density(z)
        with localcontext() as ctx:
            ctx.prec = PREC
            x = Decimal(z) / scale
            worst_tail = max(worst_tail, abs(Decimal(q) / 2**q_exponent / exact_tail(x) - 1))
            worst_density = max(worst_density, abs(Decimal(p) / 2**p_exponent / exact_pdf(x) - 1))
    assert worst_tail < Decimal(2) ** -137
    assert worst_density < Decimal(2) ** -130


# --- price accuracy ------------------------------------------------------------------------


def error_bound(case: Case) -> Decimal:
    """The module's bound: half a wad plus min(F, K) * ONE * 2**-125."""
    return Decimal("0.5") + Decimal(min(case.forward, case.strike) * ONE) / Decimal(2) ** 125


def test_price_is_within_the_documented_bound_of_the_exact_value() -> None:
    rng = random.Random(3)
    cases = random_cases(150, seed=4)
    # and extremes: prices up to MAX_AMOUNT, 1 second, 10 years, 1000% vol, K/F 1e-6 and 1e6
    for _ in range(60):
        forward = rng.choice([1, 7, 10**6, 10**11, 2**100, MAX_AMOUNT])
        ratio = 10 ** rng.uniform(-6, 6)
        strike = min(MAX_AMOUNT, max(1, round(forward * ratio)))
        t = rng.choice([SECOND, MINUTE, ONE, 10 * ONE])
        sigma = rng.choice([ONE // 100, ONE // 5, ONE, 10 * ONE])
        cases.append(Case(forward, strike, t, sigma, rng.random() < 0.5))
    for case in cases:
        assert abs(price(*case) - exact_price(*case)) <= error_bound(case), case


def test_differential_against_scipy_on_10000_cases() -> None:
    cases = random_cases(10_000, seed=76)
    errors = errors_over_forward(cases)
    worst = max(errors)
    assert worst <= 1e-9, cases[errors.index(worst)]
    # The reference's own rounding dominates: ~1e-16 of F.
    assert worst <= 1e-14, (worst, cases[errors.index(worst)])


# --- exact properties --------------------------------------------------------------------


@MANY
@given(options())
@example(Case(100, 100, ONE, ONE // 5, True))
@example(Case(1, MAX_AMOUNT, 10 * ONE, 10 * ONE, True))
@example(Case(MAX_AMOUNT, 1, 10 * ONE, 10 * ONE, True))
@example(Case(10**11, 10**17, SECOND, ONE // 100, True))
def test_put_call_parity_is_exact_and_bounds_hold(case: Case) -> None:
    f, k, t, sigma, _ = case
    call = price(f, k, t, sigma, True)
    put = price(f, k, t, sigma, False)
    assert call - put == (f - k) * ONE
    assert intrinsic(f, k, True) * ONE <= call <= f * ONE
    assert intrinsic(f, k, False) * ONE <= put <= k * ONE


@given(options())
def test_zero_time_or_zero_vol_is_intrinsic_exactly(case: Case) -> None:
    f, k, t, sigma, is_call = case
    assert price(f, k, 0, sigma, is_call) == intrinsic(f, k, is_call) * ONE
    assert price(f, k, t, 0, is_call) == intrinsic(f, k, is_call) * ONE


def test_intrinsic() -> None:
    assert intrinsic(120, 100, True) == 20
    assert intrinsic(120, 100, False) == 0
    assert intrinsic(80, 100, True) == 0
    assert intrinsic(80, 100, False) == 20


@MANY
@given(prices, st.data(), times, vols, st.one_of(st.integers(1, 3), st.integers(1, 10**12)))
def test_monotone_in_strike(forward: int, data: st.DataObject, t: int, sigma: int, step: int) -> None:
    k1 = data.draw(strikes_near(forward))
    k2 = min(MAX_AMOUNT, k1 + step)
    assert price(forward, k2, t, sigma, True) <= price(forward, k1, t, sigma, True)
    assert price(forward, k2, t, sigma, False) >= price(forward, k1, t, sigma, False)


@MANY
@given(options(), st.one_of(st.integers(1, 3), st.integers(1, ONE)))
def test_monotone_in_sigma_and_time(case: Case, step: int) -> None:
    f, k, t, sigma, is_call = case
    p = price(f, k, t, sigma, is_call)
    assert price(f, k, t, sigma + step, is_call) >= p
    assert price(f, k, t + step, sigma, is_call) >= p


def next_tick(value: int, internal: Callable[[int], int]) -> int:
    """Return the least ``v > value`` at which ``internal(v)`` differs from ``internal(value)``."""
    start = internal(value)
    step = 1
    while internal(value + step) == start:
        step *= 2
    lo, hi = value, value + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if internal(mid) == start:
            lo = mid
        else:
            hi = mid
    return hi


@pytest.mark.parametrize("bits", [(1, 40), (40, 64), (64, 127)])
def test_monotone_where_the_internal_grids_tick(bits: tuple[int, int]) -> None:
    # Neighbouring inputs either side of a step of ln(K/F) or of sigma*sqrt(t) on
    # their 2**-128 grids: where rounding, if anywhere, could reverse the order.
    rng = random.Random(bits[0])
    for _ in range(150):
        forward = rng.randint(1 << bits[0], 1 << bits[1])
        strike = min(MAX_AMOUNT - 2**70, max(1, round(forward * math.exp(rng.uniform(-3, 3)))))
        t = round(ONE * math.exp(rng.uniform(math.log(SECOND / ONE), math.log(10))))
        sigma = round(ONE * math.exp(rng.uniform(math.log(0.005), math.log(10))))

        def log_moneyness(k: int, f: int = forward) -> int:
            return black76._ln(max(f, k), min(f, k))

        k2 = next_tick(strike, log_moneyness)
        k1 = k2 - 1
        assert price(forward, k2, t, sigma, True) <= price(forward, k1, t, sigma, True)
        assert price(forward, k2, t, sigma, False) >= price(forward, k1, t, sigma, False)

        def total_vol(v: int, t: int = t) -> int:
            return black76._total_vol(t, v)

        s2 = next_tick(sigma, total_vol)
        for is_call in (True, False):
            assert price(forward, strike, t, s2, is_call) >= price(forward, strike, t, s2 - 1, is_call)


# --- extremes and invalid input ---------------------------------------------------------------


def test_extremes_return_cleanly() -> None:
    for forward in (1, 2, 10**11, MAX_AMOUNT):
        for ratio in (10**-6, 10**-3, 1, 10**3, 10**6):
            strike = min(MAX_AMOUNT, max(1, round(forward * ratio)))
            for t in (1, SECOND, MINUTE, ONE, 10 * ONE, 10**40):
                for sigma in (1, ONE // 100, ONE, 10 * ONE, 10**40):
                    for is_call in (True, False):
                        p = price(forward, strike, t, sigma, is_call)
                        assert intrinsic(forward, strike, is_call) * ONE <= p
                        g = greeks(forward, strike, t, sigma, is_call)
                        assert g.price == p
                        assert g.gamma >= 0
                        assert g.vega >= 0
                        assert g.theta <= 0
    # deep tails: the time value underflows to exactly zero
    assert price(10**11, 10**17, SECOND, ONE // 100, True) == 0
    assert price(10**11, 10**5, SECOND, ONE // 100, False) == 0
    # huge total volatility: the call is worth the forward, the put the strike
    assert price(10**11, 10**12, 10 * ONE, 10**30, True) == 10**11 * ONE
    assert price(10**11, 10**12, 10 * ONE, 10**30, False) == 10**12 * ONE


@pytest.mark.parametrize(
    "args",
    [
        (0, 100, ONE, ONE),
        (100, 0, ONE, ONE),
        (-1, 100, ONE, ONE),
        (100, -5, ONE, ONE),
        (100, 100, -1, ONE),
        (100, 100, ONE, -1),
        (MAX_AMOUNT + 1, 100, ONE, ONE),
        (100, MAX_AMOUNT + 1, ONE, ONE),
    ],
)
def test_invalid_input_raises(args: tuple[int, int, int, int]) -> None:
    for is_call in (True, False):
        with pytest.raises(ValueError, match=r"^Condition failed:"):
            price(*args, is_call)
        with pytest.raises(ValueError, match=r"^Condition failed:"):
            greeks(*args, is_call)


# --- greeks ---------------------------------------------------------------------------------


def exact_greeks(case: Case) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Return (call delta, gamma, vega, theta) to ~70 digits, in the units of ``Greeks``."""
    with localcontext() as ctx:
        ctx.prec = PREC
        f, k = Decimal(case.forward), Decimal(case.strike)
        t, sigma = Decimal(case.t) / ONE, Decimal(case.sigma) / ONE
        s = sigma * t.sqrt()
        d1 = (f / k).ln() / s + s / 2
        density = exact_pdf(d1)
        delta = 1 - exact_tail(d1)
        gamma = density / (f * s)
        vega = f * density * t.sqrt()
        theta = -f * density * sigma / (2 * t.sqrt())
        return delta * ONE, gamma * ONE, vega * ONE, theta * ONE


def test_greeks_match_the_exact_formulas() -> None:
    cases = random_cases(400, seed=9)
    cases += [Case(10**11, 10**11, SECOND, ONE // 100, True), Case(7, 3, 10 * ONE, 10 * ONE, False)]
    for case in cases:
        g = greeks(*case)
        delta, gamma, vega, theta = exact_greeks(case)
        call_delta = g.delta if case.is_call else g.delta + ONE
        assert abs(call_delta - delta) <= Decimal("0.500001"), case
        # rounded once; the relative error of phi(d1) is below 1e-30 for s >= 1e-6
        for got, want in ((g.gamma, gamma), (g.vega, vega), (g.theta, theta)):
            assert abs(got - want) <= Decimal("0.5") + abs(want) * Decimal("1e-28"), (case, got, want)


def test_greeks_agree_with_finite_differences_of_price() -> None:
    for f, k, t, sigma in [
        (100_000 * 10**6, 90_000 * 10**6, ONE // 12, 6 * ONE // 10),
        (100_000 * 10**6, 120_000 * 10**6, ONE, 8 * ONE // 10),
        (2_000 * 10**6, 2_000 * 10**6, ONE // 52, ONE // 2),
        (10**6, 3 * 10**6, 2 * ONE, 3 * ONE),
    ]:
        for is_call in (True, False):
            g = greeks(f, k, t, sigma, is_call)
            h = f // 10**4
            delta_fd = (price(f + h, k, t, sigma, is_call) - price(f - h, k, t, sigma, is_call)) / (2 * h)
            assert delta_fd == pytest.approx(g.delta, rel=1e-6, abs=ONE * 1e-9)
            gamma_fd = (
                greeks(f + h, k, t, sigma, is_call).delta - greeks(f - h, k, t, sigma, is_call).delta
            ) / (2 * h)
            assert gamma_fd == pytest.approx(g.gamma, rel=1e-6)
            dv = sigma // 10**4
            vega_fd = (
                (price(f, k, t, sigma + dv, is_call) - price(f, k, t, sigma - dv, is_call)) / (2 * dv) * ONE
            )
            assert vega_fd == pytest.approx(g.vega, rel=1e-6)
            dt = t // 10**4
            theta_fd = (
                -(price(f, k, t + dt, sigma, is_call) - price(f, k, t - dt, sigma, is_call)) / (2 * dt) * ONE
            )
            assert theta_fd == pytest.approx(g.theta, rel=1e-6)


@given(options())
def test_greeks_parity_and_price(case: Case) -> None:
    f, k, t, sigma, _ = case
    call = greeks(f, k, t, sigma, True)
    put = greeks(f, k, t, sigma, False)
    assert call.price == price(f, k, t, sigma, True)
    assert put.price == price(f, k, t, sigma, False)
    assert call.delta - put.delta == ONE
    assert 0 <= call.delta <= ONE
    assert (call.gamma, call.vega, call.theta) == (put.gamma, put.vega, put.theta)


def test_greeks_without_time_value() -> None:
    f = 100 * 10**6
    assert greeks(f, f - 1, 0, ONE, True) == Greeks(price=ONE, delta=ONE, gamma=0, vega=0, theta=0)
    assert greeks(f, f + 1, 0, ONE, True) == Greeks(price=0, delta=0, gamma=0, vega=0, theta=0)
    assert greeks(f, f + 1, 0, ONE, False) == Greeks(price=ONE, delta=-ONE, gamma=0, vega=0, theta=0)
    assert greeks(f, f, 0, ONE, True).delta == ONE // 2
    # sigma = 0 at the money: vega is the one-sided derivative F * phi(0) * sqrt(t)
    g = greeks(f, f, ONE // 4, 0, True)
    assert g.price == 0
    assert abs(g.vega - f * ONE * exact_pdf(Decimal(0)) / 2) <= Decimal("0.5")
    assert greeks(f, f + 1, ONE // 4, 0, True).vega == 0


# --- the scenario grid ------------------------------------------------------------------------


def grid_by_price(forwards: list[int], strike: int, t: int, sigmas: list[int], is_call: bool) -> list[int]:
    return [price(f, strike, t, v, is_call) for f in forwards for v in sigmas]


def grid_paths(forwards: list[int], strike: int, t: int, sigmas: list[int]) -> set[str]:
    """Return the branches of the time-value kernel that these prices take (for coverage)."""
    paths = set()
    z_max = 20 << 128
    for f in forwards:
        a, b = min(f, strike), max(f, strike)
        for v in sigmas:
            s = black76._total_vol(t, v)
            if s == 0:
                paths.add("no time value")
                continue
            d1 = black76._d1(a, b, s)
            if d1 <= -z_max:
                paths.add("d1 below -20")
                continue
            paths.add("d1 > 0" if d1 > 0 else "d1 <= 0")
            if s - d1 >= z_max:
                paths.add("d2 below -20")
            if d1 >= z_max:
                paths.add("d1 above 20")
            t2, t1 = black76._tail(s - d1)[1], black76._tail(abs(d1))[1]
            paths.add("tail 2 finer" if t2 >= t1 else "tail 1 finer")
    return paths


def random_grid(rng: random.Random) -> tuple[list[int], int, int, list[int], bool]:
    """A strike, a time, 1-4 vols and 1-9 forwards, from the portfolio's shape to the extremes."""
    kind = rng.random()
    if kind < 0.5:  # a scenario grid: moves of up to +-50% around a forward, vol up and down
        forward = int(10 ** rng.uniform(0, 15)) + 1
        strike = min(MAX_AMOUNT, max(1, round(forward * math.exp(rng.uniform(-1.5, 1.5)))))
        steps = rng.randint(1, 4)
        reach = rng.uniform(0, 0.5)
        forwards = [max(1, forward + round(forward * reach * k / steps)) for k in range(-steps, steps + 1)]
        sigma = round(ONE * math.exp(rng.uniform(math.log(0.01), math.log(5))))
        sigmas = [sigma * 13 // 10, sigma * 7 // 10]
    else:  # anything in the domain, with duplicates, zeros and both ends
        strike = rng.choice([1, 2, MAX_AMOUNT, rng.randint(1, MAX_AMOUNT), int(10 ** rng.uniform(0, 15)) + 1])
        forwards = [
            rng.choice([1, 2, strike, max(1, strike - 1), min(MAX_AMOUNT, strike + 1), MAX_AMOUNT])
            if rng.random() < 0.3
            else min(MAX_AMOUNT, max(1, round(strike * 10 ** rng.uniform(-6, 6))))
            for _ in range(rng.randint(1, 9))
        ]
        sigmas = [
            rng.choice([0, 1, ONE // 100, 8 * ONE // 10, 10 * ONE, 10**30])
            if rng.random() < 0.3
            else round(ONE * math.exp(rng.uniform(math.log(1e-4), math.log(10))))
            for _ in range(rng.randint(1, 4))
        ]
    t = rng.choice([0, 1, SECOND, MINUTE, ONE // 365, ONE, 5 * ONE, 10**40]) if rng.random() < 0.2 else 0
    if t == 0 and rng.random() < 0.9:
        t = round(ONE * math.exp(rng.uniform(math.log(MINUTE / ONE), math.log(5))))
    return forwards, strike, t, sigmas, rng.random() < 0.5


def test_price_grid_is_price_bit_for_bit_on_random_grids() -> None:
    rng = random.Random(7676)
    paths: set[str] = set()
    count = 0
    for _ in range(2_500):
        forwards, strike, t, sigmas, is_call = random_grid(rng)
        expected = grid_by_price(forwards, strike, t, sigmas, is_call)
        assert black76.price_grid(forwards, strike, t, sigmas, is_call) == expected, (
            forwards,
            strike,
            t,
            sigmas,
            is_call,
        )
        paths |= grid_paths(forwards, strike, t, sigmas)
        count += len(expected)
    assert count > 20_000
    # every branch of the kernel was compared
    assert paths == {
        "no time value",
        "d1 below -20",
        "d1 > 0",
        "d1 <= 0",
        "d2 below -20",
        "d1 above 20",
        "tail 2 finer",
        "tail 1 finer",
    }


def test_price_grid_is_price_bit_for_bit_at_the_edges() -> None:
    ends = [1, 2, 3, 10**5, 10**11, 10**15, MAX_AMOUNT - 1, MAX_AMOUNT]
    times = [0, 1, SECOND, MINUTE, ONE // 365, ONE, 10 * ONE, 10**40]
    sigmas = [0, 1, ONE // 100, ONE, 10 * ONE, 10**30, 10**40]
    for strike in ends:
        forwards = sorted(
            {min(MAX_AMOUNT, max(1, round(strike * r))) for r in (1e-6, 0.5, 1, 2, 1e6)} | set(ends)
        )
        for t in times:
            for is_call in (True, False):
                expected = grid_by_price(forwards, strike, t, sigmas, is_call)
                assert black76.price_grid(forwards, strike, t, sigmas, is_call) == expected
    # the cases of test_extremes_return_cleanly, as grids
    assert black76.price_grid([10**11], 10**17, SECOND, [ONE // 100], True) == [0]
    assert black76.price_grid([10**11, 10**11], 10**12, 10 * ONE, [10**30, 0], True) == [10**11 * ONE, 0] * 2
    assert black76.price_grid([], 100, ONE, [ONE], True) == []
    assert black76.price_grid([100], 100, ONE, [], True) == []


def test_price_grid_matches_the_portfolio_scenarios() -> None:
    """The shape core/portfolio.py asks for: 7 forwards, vol up then down, one strike and time."""
    forward = 100_000 * 10**6
    moves = [-15 * ONE // 100, -ONE // 10, -5 * ONE // 100, 0, 5 * ONE // 100, ONE // 10, 15 * ONE // 100]
    forwards = [max(1, forward + (forward * m) // ONE) for m in moves]
    for strike in range(80_000 * 10**6, 120_001 * 10**6, 2_500 * 10**6):
        for days in (1, 30, 60, 90):
            t = days * 86_400 * ONE // SECONDS_PER_YEAR
            sigma = 65 * ONE // 100
            vols = [sigma * 13 // 10, sigma * 7 // 10]
            for is_call in (True, False):
                expected = grid_by_price(forwards, strike, t, vols, is_call)
                assert black76.price_grid(forwards, strike, t, vols, is_call) == expected


@pytest.mark.parametrize(
    "args",
    [
        ([0, 100], 100, ONE, [ONE]),
        ([100], 0, ONE, [ONE]),
        ([100, -1], 100, ONE, [ONE]),
        ([100], -5, ONE, [ONE]),
        ([100, 200], 100, -1, [ONE]),
        ([100], 100, ONE, [ONE, -1]),
        ([100, MAX_AMOUNT + 1], 100, ONE, [ONE]),
        ([100], MAX_AMOUNT + 1, ONE, [ONE]),
        ([MAX_AMOUNT + 1], 100, ONE, [-1]),
    ],
)
def test_price_grid_invalid_input_raises_as_price_does(args: tuple[list[int], int, int, list[int]]) -> None:
    forwards, strike, t, sigmas = args
    for is_call in (True, False):
        messages = set()
        for f in forwards:
            for v in sigmas:
                try:
                    price(f, strike, t, v, is_call)
                except ValueError as error:
                    messages.add(str(error))
        assert messages
        with pytest.raises(ValueError, match=r"^Condition failed:") as raised:
            black76.price_grid(forwards, strike, t, sigmas, is_call)
        assert str(raised.value) in messages


@given(
    st.lists(prices, min_size=1, max_size=6),
    prices,
    times,
    st.lists(vols, min_size=1, max_size=3),
    st.booleans(),
)
@example([10**11, 9 * 10**10], 10**11, ONE // 12, [8 * ONE // 10, 0], True)
def test_price_grid_is_price_bit_for_bit(
    forwards: list[int], strike: int, t: int, sigmas: list[int], is_call: bool
) -> None:
    expected = grid_by_price(forwards, strike, t, sigmas, is_call)
    assert black76.price_grid(forwards, strike, t, sigmas, is_call) == expected
