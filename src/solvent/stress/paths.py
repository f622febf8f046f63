"""
Price paths: the shipped real crash episodes and seeded synthetic paths.

Introduction
------------
A ``PricePath`` is one oracle asset's price at evenly spaced times:
``prices[k]`` is the price at ``start + k * step_s``, already in the core's
price unit (quote atoms per whole base unit, ``core.units``), so whatever the
lab hands to the core is an integer. A path of ``steps`` steps holds
``steps + 1`` prices: the start point and one per step. Where a path keeps
bar extremes, ``lows[k]`` / ``highs[k]`` bound the price over the step that
ends at point k, the interval (t[k-1], t[k]]; for k = 0 they are the start
price. Between two points the path says nothing: ``price_at`` holds the last
point (a step function), and after the last point it holds the last price.

Real episodes
-------------
``EPISODES`` names, per episode, one shipped file of ``solvent/data`` per
oracle asset of the default deployment (Fixture F: feeds BTC, ETH, ALT and
USDT; see ``solvent/data/README.md`` for what each file is and where it came
from). Three mappings are choices of the lab, stated in each path's
``source``: LUNA is played on the ALT feed (the deployment's alt-coin market);
a collateral stablecoin's depeg (USDC/USD in March 2023, USDe/USDT in October
2025) is played on the USDT feed, the deployment's one stablecoin collateral
with an oracle; prices quoted in USDT or USD are used as prices in the
venue's quote asset (USDC) without conversion, as ``bots.episodes`` does.

``episode_paths(name, step_s)`` puts every asset of an episode on one grid:

* **Window.** The common window of the files: from the latest first bar's
  open time to the earliest last bar's close time. Nothing is produced
  outside it, and nothing before a file's first bar or after its last.
* **Bars coarser than the step** (hourly or 15-minute bars at a 60 s step)
  are refined *within each bar*, piecewise linearly in integers, through four
  waypoints: open -> first extreme -> second extreme -> close. The data says
  nothing about the order of the high and the low inside a bar, so this is a
  model choice: a bar that closes up (close >= open) is taken to have visited
  its low first (open -> low -> high -> close), a bar that closes down its
  high first (open -> high -> low -> close); a flat bar visits the extreme
  nearer its open first. The waypoints sit on grid points spaced in
  proportion to the price distance between them (constant speed), each
  extreme on its own interior point, so a refined bar reaches its real low
  and high, stays within [low, high], and ends exactly on its real close at
  its close time (``ts`` + interval). A bar of two steps has room for one
  extreme only: the one further outside [open, close]. The open is the first
  trade *after* the bar opened, so at a bar boundary the path shows the
  previous bar's close; the open only starts the interpolation, clamped into
  [low, high] (in the USDC file every open is the previous row's close, and
  434 of its 808 opens lie outside their bar's range).
* **Bars as fine as the step or finer** are sampled: the point at t is the
  close of the latest bar closed by t, and ``lows``/``highs`` are the
  extremes of the bars that closed within the step.
* **Gaps** (bars absent from a file: Kraken emits none for a minute without
  trades, the USDC file is sparse) hold the last close until the next bar;
  nothing is interpolated across a gap.

Prices are parsed exactly (``decimal``), including the scientific notation of
the LUNA file (``8e-05``), and rounded to the nearest quote atom (10**-6,
half to even): the USDC file carries 10 decimals, and LUNA's last prices are
a few dozen atoms, so the core's resolution is coarse there.

Synthetic paths
---------------
Seeded with ``numpy.random.Generator(PCG64(seed))``: the same seed and
parameters give the same prices (with the same numpy). ``source`` records the
generator and every parameter. Volatilities are annualised over
``SECONDS_PER_YEAR`` (365 days); Δt = step_s / SECONDS_PER_YEAR.

* ``gbm``: geometric Brownian motion,
  ln S[k+1] = ln S[k] + (μ - σ²/2) Δt + σ √Δt Z.
* ``jump_diffusion``: Merton's model: GBM plus N[k] ~ Poisson(λ Δt) jumps a
  step, each a log-return Y ~ Normal(jump_mean, jump_std) (lognormal jump
  factors). ``crash_bias`` p makes each jump a fall of |Y| with probability p
  and a rise of |Y| otherwise. Jumps are not compensated in the drift: a
  crash-biased path falls on average, which is its purpose.
* ``garch``: GARCH(1,1) log-returns r[k] = μΔt + σ[k] Z[k] with
  σ²[k] = ω + α (r[k-1] - μΔt)² + β σ²[k-1], ω = v (1 - α - β) for the
  long-run variance per step v = σ_annual² Δt: volatility clusters.
* ``depeg``: a stablecoin at its peg, falling linearly to ``low`` over
  ``fall_steps``, then recovering ``recover_fraction`` of the loss over
  ``recover_steps`` (fast at first: 1 - e^(-3u), rescaled to end on the
  target), with white noise of ``noise_bps`` on top.

``realised_vol`` and ``rolling_vol`` estimate annualised volatility from a
path's log-returns (zero-mean estimator), as the congestion model's input.

Glossary
--------
price    quote atoms per whole base unit (BTC at 100,000 USDC = 100_000 * 10**6)
step_s   seconds between two points of a path
steps    number of steps; a path holds steps + 1 prices
"""

import csv
import io
import math
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.random import PCG64, Generator

from solvent.core.units import QUOTE_ONE, SECONDS_PER_YEAR
from solvent.defaults import GENESIS_TIME

PriceLike = int | str | float  # int: core price units; str/float: quote units ("0.88", 100000.0)


@dataclass(frozen=True, slots=True)
class PricePath:
    """One oracle asset's price at ``start + k * step_s`` for k = 0..steps, in core price units."""

    name: str
    asset: str  # the oracle asset of the deployment, e.g. "BTC"
    start: int  # unix seconds of prices[0]
    step_s: int
    prices: tuple[int, ...]
    source: str  # how the path was made: file and model, or generator and parameters
    lows: tuple[int, ...] | None = None  # per point: lowest price over (t[k-1], t[k]]
    highs: tuple[int, ...] | None = None
    origin: int | None = None  # the path's own time of prices[0] once ``shifted`` (else ``start``)

    def __post_init__(self) -> None:
        if self.step_s <= 0:
            raise ValueError(f"step_s must be positive, was {self.step_s}")
        if not self.prices or min(self.prices) <= 0:
            raise ValueError("a path needs at least one price, and every price positive")
        for extremes in (self.lows, self.highs):
            if extremes is not None and len(extremes) != len(self.prices):
                raise ValueError("lows and highs need one value per price")

    @property
    def steps(self) -> int:
        """Return the number of steps (one fewer than the prices)."""
        return len(self.prices) - 1

    @property
    def end(self) -> int:
        """Return the time of the last point."""
        return self.start + self.steps * self.step_s

    def time(self, k: int) -> int:
        """Return the time of point ``k``."""
        return self.start + k * self.step_s

    def times(self) -> range:
        """Return the times of every point."""
        return range(self.start, self.end + 1, self.step_s)

    def index_at(self, t: int) -> int:
        """Return the index of the last point at or before ``t`` (the last one after the end)."""
        if t < self.start:
            raise ValueError(f"{self.name} starts at {self.start}; no price at {t}")
        return min((t - self.start) // self.step_s, self.steps)

    def price_at(self, t: int) -> int:
        """Return the price known at ``t``: the last point at or before it."""
        return self.prices[self.index_at(t)]

    def window(self, start: int | str | None = None, steps: int | None = None) -> "PricePath":
        """Return the part of the path from time ``start`` (a point's time) for ``steps`` steps."""
        first = 0
        if start is not None:
            t = parse_time(start)
            first = self.index_at(t)
            if self.time(first) != t:
                raise ValueError(
                    f"{start} is not a point of {self.name} (every {self.step_s} s from {self.start})"
                )
        if steps is not None and steps < 0:
            raise ValueError(f"steps must not be negative, was {steps}")
        last = self.steps if steps is None else first + steps
        if last > self.steps:
            raise ValueError(
                f"{self.name} has {self.steps - first} steps from {self.time(first)}, fewer than {steps}"
            )
        prices = self.prices[first : last + 1]
        # The first point's extremes become its own price, as at any path's start.
        lows = None if self.lows is None else (prices[0], *self.lows[first + 1 : last + 1])
        highs = None if self.highs is None else (prices[0], *self.highs[first + 1 : last + 1])
        return replace(self, start=self.time(first), prices=prices, lows=lows, highs=highs)

    def shifted(self, start: int) -> "PricePath":
        """Return the same prices starting at ``start`` (e.g. a state's genesis time)."""
        origin = self.start if self.origin is None else self.origin
        return replace(
            self, start=start, source=f"{self.source}; shifted from start {self.start}", origin=origin
        )


def parse_time(value: int | str) -> int:
    """Return unix seconds of an int or an ISO UTC time such as ``2020-03-12T06:00``."""
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp())


def format_time(t: int) -> str:
    """Return ``YYYY-MM-DD HH:MM`` UTC."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def decimal_atoms(text: str) -> int:
    """Return a decimal quote amount (plain or scientific: ``8e-05``) in quote atoms.

    Rounded to the nearest atom, half to even: a price outside the core is
    data, and the nearest representable value is the faithful one.
    """
    value = Decimal(text.strip())
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return int((value * QUOTE_ONE).to_integral_value(rounding=ROUND_HALF_EVEN))


def to_price(value: PriceLike) -> int:
    """Return core price units: an int is taken as such; a str or float is in quote units."""
    if isinstance(value, bool):
        raise TypeError("a price cannot be a bool")
    if isinstance(value, int):
        return value
    return decimal_atoms(str(value))


# --- Real episodes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    ts: int  # open time, unix seconds
    open: int
    high: int
    low: int
    close: int


@dataclass(frozen=True, slots=True)
class EpisodeFile:
    file: str  # name in solvent/data
    interval_s: int
    instrument: str  # what the file holds, for the path's source


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    name: str
    title: str
    files: Mapping[str, EpisodeFile]  # oracle asset -> file


def _files(**entries: tuple[str, int, str]) -> dict[str, EpisodeFile]:
    return {asset: EpisodeFile(*entry) for asset, entry in entries.items()}


_BTC_SPOT = "BTC/USDT, Binance spot"
_ETH_SPOT = "ETH/USDT, Binance spot"
_BTC_PERP = "BTC/USDT perpetual, Binance USD-M futures (inferred)"

EPISODES: dict[str, EpisodeSpec] = {
    spec.name: spec
    for spec in (
        EpisodeSpec(
            "black-thursday",
            "Black Thursday, 9-15 March 2020: BTC and ETH, Binance spot, 1h bars",
            _files(
                BTC=("btc_usdt_2020-03-12_1h.csv", 3600, _BTC_SPOT),
                ETH=("eth_usdt_2020-03-12_1h.csv", 3600, _ETH_SPOT),
            ),
        ),
        EpisodeSpec(
            "2021-05-19",
            "The 19 May 2021 crash, 16-22 May: BTC and ETH, Binance spot, 1h bars",
            _files(
                BTC=("btc_usdt_2021-05-19_1h.csv", 3600, _BTC_SPOT),
                ETH=("eth_usdt_2021-05-19_1h.csv", 3600, _ETH_SPOT),
            ),
        ),
        EpisodeSpec(
            "luna-2022-05",
            "LUNA (classic) collapse, 5-13 May 2022, on the ALT feed: Binance spot, 1m bars",
            _files(ALT=("luna_usdt_2022-05-09_1m.csv", 60, "LUNA/USDT, Binance spot (played as ALT)")),
        ),
        EpisodeSpec(
            "usdc-depeg-2023-03",
            "USDC depeg, 9-15 March 2023: BTC/USD 1m (Binance.US) and USDC/USD 15m on the USDT feed",
            _files(
                BTC=("btc_usd_2023-03-11_1m.csv", 60, "BTC/USD, Binance.US spot"),
                USDT=(
                    "usdc_usd_2023-03-11_15m.csv",
                    900,
                    "USDC/USD, aggregated, venue not stated (played as the stablecoin collateral USDT)",
                ),
            ),
        ),
        EpisodeSpec(
            "2024-08-05",
            "5 August 2024, 04:28-06:43 UTC: BTC only, Binance USD-M perpetual, 1m bars",
            _files(BTC=("btc_usdt_perp_2024-08-05_1m.csv", 60, _BTC_PERP)),
        ),
        EpisodeSpec(
            "2025-10-10",
            "10 October 2025, 20:36-22:46 UTC: BTC perpetual 1m and the USDe depeg on the USDT feed",
            _files(
                BTC=("btc_usdt_perp_2025-10-10_1m.csv", 60, _BTC_PERP),
                USDT=(
                    "usde_usdt_2025-10-10_1m.csv",
                    60,
                    "USDe/USDT, Binance spot (played as the stablecoin collateral USDT)",
                ),
            ),
        ),
        EpisodeSpec(
            "calm-2020-07",
            "Calm baseline, 13-19 July 2020: BTC and ETH, Binance spot, 1h bars",
            _files(
                BTC=("btc_usdt_calm_2020-07-13_1h.csv", 3600, _BTC_SPOT),
                ETH=("eth_usdt_calm_2020-07-13_1h.csv", 3600, _ETH_SPOT),
            ),
        ),
        EpisodeSpec(
            "calm-2019-09",
            "Calm baseline, 8-19 September 2019: BTC, Binance spot, 1m bars",
            _files(BTC=("btc_usdt_calm_2019-09-08_1m.csv", 60, _BTC_SPOT)),
        ),
        EpisodeSpec(
            "calm-usde-2025-09",
            "Calm baseline, 10-15 September 2025: USDe/USDT Binance 1m on the USDT feed",
            _files(
                USDT=(
                    "usde_usdt_calm_2025-09-10_1m.csv",
                    60,
                    "USDe/USDT, Binance spot (played as the stablecoin collateral USDT)",
                )
            ),
        ),
    )
}


def episode(name: str) -> EpisodeSpec:
    """Return the episode called ``name``."""
    found = EPISODES.get(name)
    if found is None:
        raise ValueError(f"unknown episode {name!r}; one of {', '.join(EPISODES)}")
    return found


@lru_cache(maxsize=32)
def read_bars(file: str) -> tuple[Bar, ...]:
    """Return the bars of a shipped file of ``solvent/data``, in core price units."""
    text = resources.files("solvent").joinpath("data", file).read_text(encoding="utf-8")
    bars = tuple(
        Bar(
            int(row["ts"]),
            decimal_atoms(row["open"]),
            decimal_atoms(row["high"]),
            decimal_atoms(row["low"]),
            decimal_atoms(row["close"]),
        )
        for row in csv.DictReader(io.StringIO(text))
    )
    if not bars or any(a.ts >= b.ts for a, b in pairwise(bars)):
        raise ValueError(f"{file}: bars must be sorted by ts, without duplicates")
    return bars


def episode_paths(
    name: str, step_s: int = 60, start: int | str | None = None, steps: int | None = None
) -> dict[str, PricePath]:
    """Return every asset's path of episode ``name`` on one grid of ``step_s`` seconds.

    The grid covers the files' common window (see the module's introduction);
    ``start`` (a grid time) and ``steps`` cut a part of it.
    """
    spec = episode(name)
    bars = {asset: read_bars(f.file) for asset, f in spec.files.items()}
    first = max(b[0].ts for b in bars.values())
    last = min(b[-1].ts + spec.files[a].interval_s for a, b in bars.items())
    count = (last - first) // step_s
    if count < 1:
        raise ValueError(f"{name}: the common window is shorter than one step of {step_s} s")
    paths: dict[str, PricePath] = {}
    for asset, f in sorted(spec.files.items()):
        prices, lows, highs = _grid(f, bars[asset], first, step_s, count)
        source = (
            f"real: {f.file} ({f.instrument}), {f.interval_s} s bars, window "
            f"{format_time(first)} to {format_time(first + count * step_s)} UTC; "
            f"{_grid_note(f.interval_s, step_s)}; gaps hold the last close; see solvent/data/README.md"
        )
        path = PricePath(f"{name}:{asset}", asset, first, step_s, prices, source, lows, highs)
        paths[asset] = path if start is None and steps is None else path.window(start, steps)
    return paths


def file_path(
    file: str, asset: str, interval_s: int, step_s: int = 60, instrument: str = "", name: str = ""
) -> PricePath:
    """Return one shipped file as a path of ``step_s`` seconds over its own window (rules as above)."""
    bars = read_bars(file)
    f = EpisodeFile(file, interval_s, instrument or file)
    first, last = bars[0].ts, bars[-1].ts + interval_s
    count = (last - first) // step_s
    prices, lows, highs = _grid(f, bars, first, step_s, count)
    source = f"real: {file} ({f.instrument}), {interval_s} s bars; {_grid_note(interval_s, step_s)}"
    return PricePath(name or f"{file}:{asset}", asset, first, step_s, prices, source, lows, highs)


def _grid_note(interval_s: int, step_s: int) -> str:
    if interval_s > step_s:
        return (
            f"refined to {step_s} s within each bar, open -> (low, high if the bar closed up; "
            "high, low if down) -> close, piecewise linear: a model, the order inside a bar is unknown"
        )
    if interval_s == step_s:
        return f"one point per bar close at {step_s} s"
    return f"sampled every {step_s} s at the last bar close"


def _grid(
    f: EpisodeFile, bars: tuple[Bar, ...], first: int, step_s: int, count: int
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Return prices, lows and highs of one file at ``first + k * step_s``, k = 0..count."""
    interval = f.interval_s
    refine = interval > step_s
    grain = step_s if refine else interval
    if (interval % step_s if refine else step_s % interval) or any((b.ts - first) % grain for b in bars):
        raise ValueError(
            f"{f.file}: bars of {interval} s do not fall on a grid of {step_s} s from {first}; "
            "choose a step that divides the bar interval or a multiple of it"
        )
    opens = [b.ts for b in bars]
    closes = [b.ts + interval for b in bars]
    m = interval // step_s
    prices: list[int] = []
    lows: list[int] = []
    highs: list[int] = []
    for k in range(count + 1):
        t = first + k * step_s
        i = bisect_right(opens, t) - 1  # the latest bar opened at or before t
        if refine and i >= 0 and opens[i] < t < closes[i]:
            price = _refined(bars[i], m, (t - opens[i]) // step_s)
        else:
            j = bisect_right(closes, t) - 1  # the latest bar closed by t
            if j >= 0:
                price = bars[j].close
            elif i >= 0 and opens[i] == t:
                price = bars[i].open  # the window's first point: no close known yet
            else:
                raise ValueError(f"{f.file}: no price at {t}, before its first bar")
        if k == 0:
            low = high = price
        elif refine:
            # The refined path is linear between points: its range over the step is its ends.
            low, high = min(price, prices[-1]), max(price, prices[-1])
        else:
            lo = bisect_right(closes, t - step_s)
            hi = bisect_right(closes, t)
            inside = bars[lo:hi]
            low = min((b.low for b in inside), default=price)
            high = max((b.high for b in inside), default=price)
        prices.append(price)
        lows.append(low)
        highs.append(high)
    return tuple(prices), tuple(lows), tuple(highs)


def waypoints(bar: Bar, m: int) -> list[tuple[int, int]]:
    """Return the (sub-step, price) waypoints of a bar refined into ``m`` steps (see the introduction)."""
    h, lo, c = bar.high, bar.low, bar.close
    # The USDC file's open is the previous bar's close and often outside the bar's range:
    # no trade of the bar was outside [low, high], so the interpolation starts inside it.
    o = min(max(bar.open, lo), h)
    low_first = c > o or (c == o and o - lo <= h - o)
    e1, e2 = (lo, h) if low_first else (h, lo)
    if m == 1:
        return [(0, o), (1, c)]
    if m == 2:
        # One interior point: the extreme further outside [open, close].
        return [(0, o), (1, lo if min(o, c) - lo > h - max(o, c) else h), (2, c)]
    d1, d2, d3 = abs(e1 - o), abs(e2 - e1), abs(c - e2)
    total = d1 + d2 + d3
    if total == 0:
        return [(0, o), (m, c)]
    # Constant speed: sub-steps in proportion to the distance travelled, rounded half up;
    # each extreme keeps an interior point of its own so that it is reached.
    k1 = min(max((2 * m * d1 + total) // (2 * total), 1), m - 2)
    k2 = min(max((2 * m * (d1 + d2) + total) // (2 * total), k1 + 1), m - 1)
    return [(0, o), (k1, e1), (k2, e2), (m, c)]


def _refined(bar: Bar, m: int, j: int) -> int:
    points = waypoints(bar, m)
    for (ka, pa), (kb, pb) in pairwise(points):
        if ka <= j <= kb:
            # Floor division keeps the point between pa and pb, so within [low, high].
            return pa + (pb - pa) * (j - ka) // (kb - ka)
    raise ValueError(f"sub-step {j} outside a bar of {m} steps")


# --- Synthetic paths ----------------------------------------------------------------------------


def _rng(seed: int) -> Generator:
    return Generator(PCG64(seed))


def _from_log(start_price: int, log_returns: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[int, ...]:
    """Return integer prices from a start price and per-step log-returns; never below one atom."""
    levels = start_price * np.exp(np.cumsum(log_returns))
    later = np.maximum(np.rint(levels), 1).astype(np.int64).tolist()
    return (start_price, *later)


def _check_common(start_price: int, steps: int, step_s: int) -> None:
    if start_price <= 0:
        raise ValueError(f"start_price must be positive, was {start_price}")
    if steps < 0 or step_s <= 0:
        raise ValueError(f"steps must be >= 0 and step_s > 0, were {steps} and {step_s}")


def _params(**values: object) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def gbm(
    seed: int,
    asset: str = "BTC",
    start_price: PriceLike = 100_000 * QUOTE_ONE,
    steps: int = 1440,
    step_s: int = 60,
    sigma_annual: float = 0.8,
    drift_annual: float = 0.0,
    start: int = GENESIS_TIME,
) -> PricePath:
    """Return a geometric Brownian motion path (see the introduction for the formula)."""
    s0 = to_price(start_price)
    _check_common(s0, steps, step_s)
    dt = step_s / SECONDS_PER_YEAR
    z = _rng(seed).standard_normal(steps)
    returns = (drift_annual - 0.5 * sigma_annual**2) * dt + sigma_annual * math.sqrt(dt) * z
    params = _params(seed=seed, start_price=s0, sigma_annual=sigma_annual, drift_annual=drift_annual)
    source = f"synthetic gbm: {params}; numpy PCG64"
    return PricePath(f"gbm:{asset}:{seed}", asset, start, step_s, _from_log(s0, returns), source)


def jump_diffusion(
    seed: int,
    asset: str = "BTC",
    start_price: PriceLike = 100_000 * QUOTE_ONE,
    steps: int = 1440,
    step_s: int = 60,
    sigma_annual: float = 0.6,
    drift_annual: float = 0.0,
    jumps_per_day: float = 2.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.05,
    crash_bias: float | None = None,
    start: int = GENESIS_TIME,
) -> PricePath:
    """Return a Merton jump-diffusion path: GBM plus Poisson jumps of lognormal size.

    ``jump_mean`` and ``jump_std`` are of the jump's log-return; with
    ``crash_bias`` p in [0, 1], a jump is a fall of |Y| with probability p.
    """
    s0 = to_price(start_price)
    _check_common(s0, steps, step_s)
    if crash_bias is not None and not 0 <= crash_bias <= 1:
        raise ValueError(f"crash_bias must be in [0, 1], was {crash_bias}")
    if jumps_per_day < 0 or jump_std < 0:
        raise ValueError("jumps_per_day and jump_std must not be negative")
    rng = _rng(seed)
    dt = step_s / SECONDS_PER_YEAR
    # Draws in a fixed order (diffusion, counts, sizes, signs) so the seed alone fixes the path.
    z = rng.standard_normal(steps)
    counts = rng.poisson(jumps_per_day * step_s / 86_400, steps)
    total = int(counts.sum())
    sizes = rng.normal(jump_mean, jump_std, total)
    if crash_bias is not None:
        falls = rng.random(total) < crash_bias
        sizes = np.where(falls, -np.abs(sizes), np.abs(sizes))
    jumps = np.zeros(steps)
    np.add.at(jumps, np.repeat(np.arange(steps), counts), sizes)
    returns = (drift_annual - 0.5 * sigma_annual**2) * dt + sigma_annual * math.sqrt(dt) * z + jumps
    params = _params(
        seed=seed,
        start_price=s0,
        sigma_annual=sigma_annual,
        drift_annual=drift_annual,
        jumps_per_day=jumps_per_day,
        jump_mean=jump_mean,
        jump_std=jump_std,
        crash_bias=crash_bias,
    )
    source = f"synthetic jumps (Merton): {params}; {total} jumps; numpy PCG64"
    return PricePath(f"jumps:{asset}:{seed}", asset, start, step_s, _from_log(s0, returns), source)


def garch(
    seed: int,
    asset: str = "BTC",
    start_price: PriceLike = 100_000 * QUOTE_ONE,
    steps: int = 1440,
    step_s: int = 60,
    sigma_annual: float = 0.8,
    alpha: float = 0.1,
    beta: float = 0.85,
    drift_annual: float = 0.0,
    start: int = GENESIS_TIME,
) -> PricePath:
    """Return a GARCH(1,1) path: volatility clusters around the long-run ``sigma_annual``."""
    s0 = to_price(start_price)
    _check_common(s0, steps, step_s)
    if alpha < 0 or beta < 0 or alpha + beta >= 1:
        raise ValueError(f"GARCH(1,1) needs alpha, beta >= 0 and alpha + beta < 1, were {alpha}, {beta}")
    dt = step_s / SECONDS_PER_YEAR
    long_run = sigma_annual**2 * dt  # variance per step
    omega = long_run * (1 - alpha - beta)
    z = _rng(seed).standard_normal(steps).tolist()
    shocks = [0.0] * steps
    variance = long_run
    for k in range(steps):
        shock = math.sqrt(variance) * z[k]
        shocks[k] = shock
        variance = omega + alpha * shock * shock + beta * variance
    returns = drift_annual * dt + np.asarray(shocks)
    params = _params(
        seed=seed,
        start_price=s0,
        sigma_annual=sigma_annual,
        alpha=alpha,
        beta=beta,
        drift_annual=drift_annual,
    )
    source = f"synthetic garch(1,1): {params}; numpy PCG64"
    return PricePath(f"garch:{asset}:{seed}", asset, start, step_s, _from_log(s0, returns), source)


def depeg(
    seed: int,
    asset: str = "USDT",
    steps: int = 1440,
    step_s: int = 60,
    low: PriceLike = "0.88",
    start_step: int | None = None,
    recover_steps: int | None = None,
    peg: PriceLike = "1",
    fall_steps: int = 30,
    recover_fraction: float = 0.8,
    noise_bps: float = 2.0,
    start: int = GENESIS_TIME,
) -> PricePath:
    """Return a stablecoin's depeg: at ``peg``, down to ``low``, then part of the way back.

    Defaults: the fall starts a quarter of the way in (``start_step``) and
    the recovery takes half the path (``recover_steps``).
    """
    top, bottom = to_price(peg), to_price(low)
    _check_common(top, steps, step_s)
    if not 0 < bottom < top:
        raise ValueError(f"low must be positive and below the peg, were {bottom} and {top}")
    if not 0 <= recover_fraction <= 1:
        raise ValueError(f"recover_fraction must be in [0, 1], was {recover_fraction}")
    begin = steps // 4 if start_step is None else start_step
    recover = max(1, steps // 2 if recover_steps is None else recover_steps)
    fall = max(1, fall_steps)
    target = bottom + recover_fraction * (top - bottom)
    curve = 1 - math.exp(-3.0)
    levels = []
    for k in range(steps + 1):
        if k <= begin:
            level = float(top)
        elif k <= begin + fall:
            level = top + (bottom - top) * (k - begin) / fall
        elif k <= begin + fall + recover:
            u = (k - begin - fall) / recover
            level = bottom + (target - bottom) * (1 - math.exp(-3.0 * u)) / curve
        else:
            level = target
        levels.append(level)
    noise = 1 + noise_bps / 10_000 * _rng(seed).standard_normal(steps + 1)
    prices = np.maximum(np.rint(np.asarray(levels) * noise), 1).astype(np.int64).tolist()
    params = _params(
        seed=seed,
        peg=top,
        low=bottom,
        start_step=begin,
        fall_steps=fall,
        recover_steps=recover,
        recover_fraction=recover_fraction,
        noise_bps=noise_bps,
    )
    source = f"synthetic depeg: {params}; numpy PCG64"
    return PricePath(f"depeg:{asset}:{seed}", asset, start, step_s, tuple(prices), source)


SYNTHETIC: dict[str, Callable[..., PricePath]] = {
    "gbm": gbm,
    "jumps": jump_diffusion,
    "garch": garch,
    "depeg": depeg,
}


def synthetic(kind: str, seed: int, steps: int = 1440, step_s: int = 60, **params: Any) -> PricePath:
    """Return a synthetic path of ``kind`` ("gbm", "jumps", "garch", "depeg") with ``params``."""
    make = SYNTHETIC.get(kind)
    if make is None:
        raise ValueError(f"unknown synthetic kind {kind!r}; one of {', '.join(SYNTHETIC)}")
    return make(seed, steps=steps, step_s=step_s, **params)


# --- Volatility ---------------------------------------------------------------------------------


def _log_returns(path: PricePath) -> np.ndarray[Any, np.dtype[np.float64]]:
    prices = np.asarray(path.prices, dtype=np.float64)
    return np.diff(np.log(prices))


def realised_vol(path: PricePath, window: int, end: int | None = None) -> float:
    """Return the annualised realised volatility of the ``window`` steps ending at point ``end``.

    sqrt(mean(r²) * steps per year) over the log-returns r of those steps
    (fewer at the start of the path; 0.0 without any).
    """
    if window < 1:
        raise ValueError(f"window must be at least one step, was {window}")
    last = path.steps if end is None else end
    first = max(0, last - window)
    returns = _log_returns(path)[first:last]
    if returns.size == 0:
        return 0.0
    return math.sqrt(float(np.mean(returns * returns)) * SECONDS_PER_YEAR / path.step_s)


def rolling_vol(path: PricePath, window: int) -> tuple[float, ...]:
    """Return ``realised_vol(path, window, k)`` for every point k, in one pass."""
    if window < 1:
        raise ValueError(f"window must be at least one step, was {window}")
    squares = _log_returns(path) ** 2
    sums = np.concatenate(([0.0], np.cumsum(squares)))
    ends = np.arange(path.steps + 1)
    firsts = np.maximum(0, ends - window)
    counts = ends - firsts
    means = np.divide(sums[ends] - sums[firsts], counts, out=np.zeros(ends.size), where=counts > 0)
    vols = np.sqrt(np.maximum(means, 0.0) * SECONDS_PER_YEAR / path.step_s)
    return tuple(float(v) for v in vols)
