"""
Fixed-point arithmetic.

Introduction
------------
The core holds no ``float``. Ratios (weights, margin fractions, rates,
volatility) are integers scaled by ``ONE = 10**18`` (expo -18). Every
division names its rounding direction; callers pick the one that favours
the protocol: what a trader owes rounds up, what a trader is paid or may
use rounds down.

Python's ``//`` floors toward minus infinity for negative operands too, so
``mul_div_down`` is a true floor and ``mul_div_up`` a true ceiling for any
sign of the numerator.

Glossary
--------
ONE     1.0 in ratio units (10**18)
LN2     ln(2) in ratio units, rounded down
"""

from math import isqrt
from typing import Final

ONE: Final = 10**18  # expo -18: 1.0 as a ratio
HALF: Final = ONE // 2
LN2: Final = 693_147_180_559_945_309  # floor(ln(2) * 1e18)


def mul_div_down(a: int, b: int, d: int) -> int:
    """Return floor(a*b/d); ``d`` > 0."""
    return (a * b) // d


def mul_div_up(a: int, b: int, d: int) -> int:
    """Return ceil(a*b/d); ``d`` > 0."""
    return -((-a * b) // d)


def mul_down(a: int, b: int) -> int:
    """Return floor(a*b/ONE): a ratio applied to an amount, rounded down."""
    return (a * b) // ONE


def mul_up(a: int, b: int) -> int:
    """Return ceil(a*b/ONE): a ratio applied to an amount, rounded up."""
    return -((-a * b) // ONE)


def div_down(a: int, b: int) -> int:
    """Return floor(a*ONE/b) for ``b`` > 0: the ratio a/b, rounded down."""
    return (a * ONE) // b


def div_up(a: int, b: int) -> int:
    """Return ceil(a*ONE/b) for ``b`` > 0: the ratio a/b, rounded up."""
    return -((-a * ONE) // b)


def ceil_div(a: int, b: int) -> int:
    """Return ceil(a/b) for ``b`` > 0."""
    return -((-a) // b)


def clamp(x: int, lo: int, hi: int) -> int:
    """Return ``x`` limited to [lo, hi]."""
    return lo if x < lo else hi if x > hi else x


def isqrt_down(n: int) -> int:
    """Return floor(sqrt(n)) for ``n`` >= 0."""
    if n < 0:
        raise ValueError("Condition failed: isqrt of a negative number")
    return isqrt(n)  # exact integer arithmetic, not a float routine


def isqrt_up(n: int) -> int:
    """Return ceil(sqrt(n)) for ``n`` >= 0."""
    r = isqrt_down(n)
    return r if r * r == n else r + 1


def sqrt_ratio_up(x: int) -> int:
    """Return ceil(sqrt(x)) where ``x`` and the result are ratios scaled by ONE."""
    return isqrt_up(x * ONE)


def sqrt_ratio_down(x: int) -> int:
    """Return floor(sqrt(x)) where ``x`` and the result are ratios scaled by ONE."""
    return isqrt_down(x * ONE)


def ln_ratio(x: int) -> int:
    """Return ln(x) for a ratio ``x`` > 0, scaled by ONE, within 32 + |k|/2 units of the truth.

    Reduce x = m * 2**k with m in [1, 2), then ln(m) = 2*atanh(z) with
    z = (m-1)/(m+1) in [0, 1/3), summed as z + z**3/3 + z**5/5 + ... until the
    terms vanish at 1e-18. Each term is floored (up to ~25 units low) and LN2
    is rounded down (< 0.42 unit per factor of two), so the result is not a
    one-sided bound; callers use it for volatility, where such errors are far
    below any parameter's resolution (tests/core/test_fixed.py checks the bound).
    """
    if x <= 0:
        raise ValueError("Condition failed: ln of a non-positive number")
    k = 0
    # Scale into [ONE, 2*ONE) by powers of two; bit_length keeps this O(1).
    shift = x.bit_length() - ONE.bit_length()
    if shift > 0:
        x >>= shift
        k += shift
    elif shift < 0:
        x <<= -shift
        k += shift
    while x >= 2 * ONE:
        x >>= 1
        k += 1
    while x < ONE:
        x <<= 1
        k -= 1
    z = ((x - ONE) * ONE) // (x + ONE)
    z2 = (z * z) // ONE
    term = z
    total = 0
    n = 1
    while term != 0:
        total += term // n
        term = (term * z2) // ONE
        n += 2
    return k * LN2 + 2 * total


def exp_ratio(x: int) -> int:
    """Return exp(x) for a ratio ``x``, scaled by ONE, within 1 unit + 1e-16 relative.

    Reduce x = k*ln2 + r with |r| <= ln2/2, sum the Taylor series of exp(r)
    with 18 guard digits, then shift by 2**k. The reduction uses LN2, rounded
    down, so r is up to 0.42e-18 * k too large: the result may exceed the
    truth by that relative amount (8e-17 at x = 135).
    """
    if x < -42 * ONE:
        return 0  # exp(-42) < 1e-18: below resolution
    if x > 135 * ONE:
        raise ValueError("Condition failed: exp argument too large")
    k = (x + LN2 // 2) // LN2
    r = x - k * LN2
    guard = 10**18
    one_g = ONE * guard
    r_g = r * guard
    term = one_g
    total = one_g
    n = 1
    while term != 0:
        term = (term * r_g) // (one_g * n)
        total += term
        n += 1
    if k >= 0:
        return (total << k) // guard
    return (total >> -k) // guard
