"""
Exact and property tests of ``solvent.core.fixed``.

The references are exact: ``Fraction`` for the rational operations and
``Decimal`` at 60 significant digits for ln and exp, so every bound below is
checked against the true value, not against another rounding.
"""

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from solvent.core.fixed import (
    HALF,
    LN2,
    ONE,
    ceil_div,
    clamp,
    div_down,
    div_up,
    exp_ratio,
    isqrt_down,
    isqrt_up,
    ln_ratio,
    mul_div_down,
    mul_div_up,
    mul_down,
    mul_up,
    sqrt_ratio_down,
    sqrt_ratio_up,
)

# The fixed-point functions are cheap: run ten times the profile's examples.
MANY = settings(max_examples=10 * settings().max_examples)

BIG = 2**256
signed = st.integers(-BIG, BIG)
positive = st.integers(1, BIG)
natural = st.integers(0, BIG)
# A ratio anywhere from 1e-18 to ~1.2e59, with extra weight near 1.0 where ln is ~0.
ratios = st.one_of(
    st.integers(1, BIG),
    st.integers(ONE - 10**12, ONE + 10**12),
    st.integers(1, 10 * ONE),
)


def ceil_fraction(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)


def exact_ln(x: int) -> Decimal:
    """Return ln(x / ONE) * ONE to 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(x) / ONE).ln() * ONE


def exact_exp(x: int) -> Decimal:
    """Return exp(x / ONE) * ONE to 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(x) / ONE).exp() * ONE


def binary_exponent(x: int) -> int:
    """Return k with x / ONE = m * 2**k, m in [1, 2): how far ln_ratio had to reduce."""
    k = x.bit_length() - ONE.bit_length()
    while (x << -k if k < 0 else x >> k) >= 2 * ONE:
        k += 1
    while (x << -k if k < 0 else x >> k) < ONE:
        k -= 1
    return k


# --- constants ------------------------------------------------------------------


def test_constants_are_exact() -> None:
    assert ONE == 10**18
    assert HALF == 5 * 10**17
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln() * ONE
    assert int(ln2) == LN2  # floor: ln2 is positive
    assert LN2 == 693_147_180_559_945_309


# --- mul_div ------------------------------------------------------------------


@MANY
@given(signed, signed, positive)
@example(7, 3, 2)
@example(-7, 3, 2)
@example(7, -3, 2)
@example(-7, -3, 2)
@example(6, 3, 2)
@example(-6, 3, 2)
@example(0, 5, 3)
def test_mul_div_up_minus_down_is_zero_or_one(a: int, b: int, d: int) -> None:
    down = mul_div_down(a, b, d)
    up = mul_div_up(a, b, d)
    assert up - down == (1 if (a * b) % d else 0)


@MANY
@given(signed, signed, positive)
def test_mul_div_down_is_floor_and_up_is_ceil(a: int, b: int, d: int) -> None:
    q = Fraction(a * b, d)
    assert mul_div_down(a, b, d) == math.floor(q)
    assert mul_div_up(a, b, d) == ceil_fraction(q)


def test_mul_div_exact_values() -> None:
    assert mul_div_down(7, 3, 2) == 10
    assert mul_div_up(7, 3, 2) == 11
    # Negative numerators: down is toward minus infinity, up toward plus infinity.
    assert mul_div_down(-7, 3, 2) == -11
    assert mul_div_up(-7, 3, 2) == -10
    assert mul_div_down(7, -3, 2) == -11
    assert mul_div_up(7, -3, 2) == -10
    assert mul_div_down(-7, -3, 2) == 10
    assert mul_div_up(-7, -3, 2) == 11
    assert mul_div_down(-6, 3, 2) == mul_div_up(-6, 3, 2) == -9
    assert mul_div_down(0, 5, 3) == mul_div_up(0, 5, 3) == 0


# --- mul / div by ONE ------------------------------------------------------------


@MANY
@given(signed, signed)
def test_mul_down_and_up_bracket_the_exact_product(a: int, b: int) -> None:
    q = Fraction(a * b, ONE)
    assert mul_down(a, b) == math.floor(q)
    assert mul_up(a, b) == ceil_fraction(q)
    assert mul_up(a, b) - mul_down(a, b) == (1 if (a * b) % ONE else 0)


@MANY
@given(signed, positive)
def test_div_down_and_up_bracket_the_exact_ratio(a: int, b: int) -> None:
    q = Fraction(a * ONE, b)
    assert div_down(a, b) == math.floor(q)
    assert div_up(a, b) == ceil_fraction(q)
    assert div_up(a, b) - div_down(a, b) == (1 if (a * ONE) % b else 0)


@MANY
@given(signed, positive)
def test_ceil_div_is_ceiling(a: int, b: int) -> None:
    assert ceil_div(a, b) == ceil_fraction(Fraction(a, b))
    assert ceil_div(a, b) - a // b == (1 if a % b else 0)


def test_mul_and_div_exact_values() -> None:
    half = ONE // 2
    assert mul_down(3, half) == 1
    assert mul_up(3, half) == 2
    assert mul_down(-3, half) == -2
    assert mul_up(-3, half) == -1
    assert mul_down(10**6, ONE) == mul_up(10**6, ONE) == 10**6
    assert div_down(1, 3) == 333_333_333_333_333_333
    assert div_up(1, 3) == 333_333_333_333_333_334
    assert div_down(-1, 3) == -333_333_333_333_333_334
    assert div_up(-1, 3) == -333_333_333_333_333_333
    assert div_down(2, 4) == div_up(2, 4) == half
    assert ceil_div(7, 2) == 4
    assert ceil_div(-7, 2) == -3
    assert ceil_div(8, 2) == 4
    assert ceil_div(0, 5) == 0


@MANY
@given(signed, signed, signed)
def test_clamp_stays_in_range_and_is_identity_inside(x: int, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    c = clamp(x, lo, hi)
    assert lo <= c <= hi
    assert c == (lo if x < lo else hi if x > hi else x)


# --- square roots --------------------------------------------------------------------


@MANY
@given(natural)
@example(0)
@example(1)
@example(2)
@example(3)
@example(4)
@example(10**36)
@example(10**36 + 1)
@example(10**36 - 1)
def test_isqrt_down_and_up_bracket_the_root(n: int) -> None:
    r = isqrt_down(n)
    assert r >= 0
    assert r * r <= n < (r + 1) * (r + 1)
    u = isqrt_up(n)
    assert (u - 1) * (u - 1) < n <= u * u or n == u == 0
    assert u - r == (0 if r * r == n else 1)


def test_isqrt_exact_values() -> None:
    assert (isqrt_down(0), isqrt_up(0)) == (0, 0)
    assert (isqrt_down(1), isqrt_up(1)) == (1, 1)
    assert (isqrt_down(2), isqrt_up(2)) == (1, 2)
    assert (isqrt_down(15), isqrt_up(15)) == (3, 4)
    assert (isqrt_down(16), isqrt_up(16)) == (4, 4)
    assert (isqrt_down(17), isqrt_up(17)) == (4, 5)
    assert isqrt_down(2**256) == 2**128
    assert isqrt_up(2**256 + 1) == 2**128 + 1


def test_isqrt_of_negative_raises() -> None:
    with pytest.raises(ValueError, match="negative"):
        isqrt_down(-1)
    with pytest.raises(ValueError, match="negative"):
        isqrt_up(-1)


@MANY
@given(natural)
def test_sqrt_ratio_down_and_up_bracket_the_root(x: int) -> None:
    # Result r is a ratio: (r/ONE)**2 vs x/ONE  <=>  r*r vs x*ONE.
    down = sqrt_ratio_down(x)
    up = sqrt_ratio_up(x)
    assert down * down <= x * ONE < (down + 1) * (down + 1)
    assert up * up >= x * ONE
    assert up - down in (0, 1)


def test_sqrt_ratio_exact_values() -> None:
    assert sqrt_ratio_down(4 * ONE) == sqrt_ratio_up(4 * ONE) == 2 * ONE
    assert sqrt_ratio_down(ONE // 100) == sqrt_ratio_up(ONE // 100) == ONE // 10
    assert sqrt_ratio_down(2 * ONE) == 1_414_213_562_373_095_048
    assert sqrt_ratio_up(2 * ONE) == 1_414_213_562_373_095_049
    assert sqrt_ratio_down(0) == sqrt_ratio_up(0) == 0


# --- ln ------------------------------------------------------------------------------


def test_ln_ratio_exact_values() -> None:
    assert ln_ratio(ONE) == 0
    assert ln_ratio(2 * ONE) == LN2
    assert ln_ratio(4 * ONE) == 2 * LN2
    assert ln_ratio(ONE // 2) == -LN2
    assert ln_ratio(ONE // 4) == -2 * LN2
    assert ln_ratio(2**10 * ONE) == 10 * LN2
    # Pinned outputs: any change to the algorithm changes volatility and state hashes.
    assert ln_ratio(3 * ONE) == 1_098_612_288_668_109_679
    assert ln_ratio(10 * ONE) == 2_302_585_092_994_045_675
    assert ln_ratio(ONE // 10) == -2_302_585_092_994_045_694
    assert ln_ratio(1) == -41_446_531_673_892_822_292


@pytest.mark.parametrize("x", [0, -1, -ONE])
def test_ln_ratio_of_non_positive_raises(x: int) -> None:
    with pytest.raises(ValueError, match="non-positive"):
        ln_ratio(x)


@MANY
@given(ratios)
@example(1)
@example(2)
@example(ONE - 1)
@example(ONE + 1)
@example(2 * ONE - 1)
@example(2 * ONE + 1)
@example(2**127 - 1)
@example(2**256)
def test_ln_ratio_matches_the_exact_logarithm(x: int) -> None:
    truth = exact_ln(x)
    error = abs(Decimal(ln_ratio(x)) - truth)
    # Within 1e-15 relative, and never more than 32 + |k|/2 units (1e-18) off, where
    # x/ONE = m * 2**k: the rounded-down LN2 costs < 0.42 unit per factor of two.
    k = binary_exponent(x)
    assert error <= 32 + abs(k) // 2 + 1
    assert error <= truth.copy_abs() / 10**15 + 32


@MANY
@given(st.integers(1, 10**30))
def test_ln_ratio_agrees_with_math_log(x: int) -> None:
    # The float reference has its own 1e-16 error; this is a sanity check of scale and sign.
    expected = math.log(x / ONE) * ONE
    assert abs(ln_ratio(x) - expected) <= abs(expected) * 1e-12 + 64


# --- exp -----------------------------------------------------------------------------


def test_exp_ratio_exact_values() -> None:
    assert exp_ratio(0) == ONE
    assert exp_ratio(LN2) == 2 * ONE
    assert exp_ratio(-LN2) == ONE // 2
    assert exp_ratio(ONE) == 2_718_281_828_459_045_236
    assert exp_ratio(-ONE) == 367_879_441_171_442_321
    assert exp_ratio(-40 * ONE) == 4
    # exp(-42) < 1e-18: below resolution.
    assert exp_ratio(-42 * ONE - 1) == 0
    assert exp_ratio(-(10**30)) == 0


def test_exp_ratio_refuses_too_large_arguments() -> None:
    exp_ratio(135 * ONE)  # the largest argument accepted
    with pytest.raises(ValueError, match="too large"):
        exp_ratio(135 * ONE + 1)


@MANY
@given(st.one_of(st.integers(-42 * ONE, 135 * ONE), st.integers(-(10**17), 10**17)))
@example(135 * ONE)
@example(-42 * ONE)
@example(LN2 // 2)
@example(LN2 // 2 + 1)
def test_exp_ratio_matches_the_exact_exponential(x: int) -> None:
    truth = exact_exp(x)
    got = exp_ratio(x)
    assert got >= 0
    # Relative error below 1e-16 (the rounded-down LN2 in the range reduction costs
    # at most 0.42e-18 per factor of two, 195 of them at x = 135), plus one unit of
    # resolution.
    assert abs(Decimal(got) - truth) <= truth / 10**16 + 1


@MANY
@given(st.integers(-20 * ONE, 20 * ONE))
def test_exp_ratio_agrees_with_math_exp(x: int) -> None:
    expected = math.exp(x / ONE) * ONE
    assert abs(exp_ratio(x) - expected) <= expected * 1e-12 + 1


@MANY
@given(st.integers(-42 * ONE, 135 * ONE), st.integers(-42 * ONE, 135 * ONE))
def test_exp_ratio_is_monotonic(x: int, y: int) -> None:
    lo, hi = min(x, y), max(x, y)
    assert exp_ratio(lo) <= exp_ratio(hi)


@MANY
@given(st.integers(-40 * ONE, 135 * ONE))
@example(0)
@example(ONE)
@example(-ONE)
@example(135 * ONE)
def test_ln_of_exp_is_identity(x: int) -> None:
    e = exp_ratio(x)
    back = ln_ratio(e)
    # exp is off by < 1e-16 relative plus one unit in e, which ln turns into
    # ONE/1e16 + ONE/e; ln itself adds at most 32 + |k|/2 < 130 units.
    assert abs(back - x) <= ONE // 10**16 + ceil_div(ONE, e) + 130


@MANY
@given(st.integers(ONE // 10**6, 10**30 * ONE))
def test_exp_of_ln_is_identity(y: int) -> None:
    back = exp_ratio(ln_ratio(y))
    # ln is off by < 130 units, i.e. a relative 1.3e-16 in exp, plus exp's own 1e-16.
    assert abs(back - y) <= y * 3 // 10**16 + 1
