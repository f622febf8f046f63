"""Option pricing: exact integer Black-76 prices per second, and their error.

What it measures
----------------
1. Speed (``bench_prices``): ``black76.price`` on ``--cases`` mixed cases (default 4,000,
   the differential test's distribution: forwards 1 to 1e15 price units, K/F in [0.2, 5]
   with one case in ten in [1e-6, 1e6], vol 1% to 500%, expiry 1 minute to 5 years, calls
   and puts), timed over the whole list, best of ``--repeats`` (default 5) —
   ``prices_per_s``. Also ``black76.greeks`` on the same cases (``greeks_per_s``) and
   the one-off cost of building the tables at import (``table_build_ms``).
2. Accuracy (``bench_accuracy``): ``worst_case`` of ``tests/core/test_black76.py`` on
   ``--accuracy-cases`` cases (default 10,000): the largest |price / ONE - reference| / F
   against a double-precision Black-76 on scipy's ``ndtr`` (whose own error is ~1e-16 of
   F) — ``worst_abs_error_over_F``; and, on ``--exact-cases`` cases (default 200), the
   largest error in wad against the test's 80-digit ``Decimal`` reference —
   ``worst_wad_error_vs_exact`` (the module's bound is 1/2 wad plus min(F, K) * 2**-125
   of a wad per price unit).

Goal of the issue: prices_per_s >= 50,000 on the 2-core machine.

Run
---
    .venv/bin/python bench/options.py [--cases 4000] [--repeats 5] [--accuracy-cases 10000]
                                      [--exact-cases 200] [--seed 76]

The last line printed is one JSON object of the figures: ``main`` collects the dicts the
``bench_*`` functions return.
"""

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from solvent.core import black76

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
from test_black76 import exact_price, random_cases, worst_case


def best_rate(calls: list[tuple[Any, ...]], fn: Callable[..., object], repeats: int) -> float:
    """Return the best calls-per-second of ``fn(*case)`` over ``calls``, in ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for case in calls:
            fn(*case)
        best = min(best, time.perf_counter() - start)
    return len(calls) / best


def bench_prices(cases: int, repeats: int, seed: int) -> dict[str, Any]:
    """Exact integer ``price()`` and ``greeks()`` calls per second, and the table build time."""
    calls = [tuple(c) for c in random_cases(cases, seed)]
    start = time.perf_counter()
    black76._build_ln()
    black76._build_tail()
    build_ms = (time.perf_counter() - start) * 1e3
    prices_per_s = best_rate(calls, black76.price, repeats)
    greeks_per_s = best_rate(calls, black76.greeks, max(1, repeats // 2))
    print(
        f"price(): {prices_per_s:,.0f} per s ({1e6 / prices_per_s:.1f} us each, best of {repeats} "
        f"passes over {cases:,} mixed cases); greeks(): {greeks_per_s:,.0f} per s; "
        f"tables built in {build_ms:.0f} ms"
    )
    return {
        "prices_per_s": round(prices_per_s),
        "price_us": round(1e6 / prices_per_s, 2),
        "greeks_per_s": round(greeks_per_s),
        "table_build_ms": round(build_ms, 1),
        "price_cases": cases,
    }


def bench_accuracy(cases: int, exact_cases: int, seed: int) -> dict[str, Any]:
    """Worst error against scipy (double precision) and against the 80-digit reference."""
    worst, case = worst_case(cases, seed)
    worst_wad = 0.0
    for c in random_cases(exact_cases, seed + 1):
        worst_wad = max(worst_wad, float(abs(black76.price(*c) - exact_price(*c))))
    print(
        f"accuracy: worst |price - scipy| / F = {worst:.2e} over {cases:,} cases "
        f"(at F={case.forward}, K={case.strike}, t={case.t}, sigma={case.sigma}, "
        f"{'call' if case.is_call else 'put'}); worst error vs the exact value over "
        f"{exact_cases} cases: {worst_wad:.3f} wad"
    )
    return {
        "worst_abs_error_over_F": worst,
        "accuracy_cases": cases,
        "worst_wad_error_vs_exact": round(worst_wad, 4),
        "exact_cases": exact_cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=4_000, help="cases timed per pass")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (best is kept)")
    parser.add_argument("--accuracy-cases", type=int, default=10_000, help="cases against scipy")
    parser.add_argument("--exact-cases", type=int, default=200, help="cases against the Decimal reference")
    parser.add_argument("--seed", type=int, default=76)
    args = parser.parse_args()
    if min(args.cases, args.repeats, args.accuracy_cases) <= 0 or args.exact_cases < 0:
        parser.error("--cases, --repeats and --accuracy-cases must be positive")

    print(f"Python {platform.python_version()} on {platform.machine()}")
    figures: dict[str, Any] = {}
    figures |= bench_prices(args.cases, args.repeats, args.seed)
    figures |= bench_accuracy(args.accuracy_cases, args.exact_cases, args.seed)
    figures["python"] = platform.python_version()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
