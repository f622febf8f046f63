"""
Crash episodes: real price bars shipped in ``solvent/data`` and the report rounds they become.

Introduction
------------
An ``Episode`` names one CSV file per asset (``ts,open,high,low,close,volume``,
``ts`` the bar's open time; see ``solvent/data/README.md`` for provenance).
``load_bars`` joins the files on ``ts`` and returns, for a window of bars,
each bar's **close time** (``ts`` + interval: a close is known only then) and
its closes in quote atoms.

``rounds`` turns bars into the rounds the reporters play. The oracle holds
an index move larger than its ``band`` until ``band_confirmations``
aggregates at distinct block times agree (``core.oracle``), which would
pause the markets for a few blocks on every big bar. The reporters instead
reach a big move in several reports, each within ``max_step`` of the last:
the prices in between are interpolated linearly, in integers, between the
two real closes, one second apart, and the last round of the bar reports
the real close at the bar's close time plus the extra seconds. Keepers and
market makers act between those rounds, as they would between a real
oracle's updates.
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from solvent.core.fixed import ONE
from solvent.defaults import usd


@dataclass(frozen=True, slots=True)
class Episode:
    name: str
    title: str
    files: dict[str, str]  # asset -> file name in solvent/data
    interval_s: int
    start: str  # default first bar (its open time), ISO UTC
    steps: int  # default number of bars


EPISODES: dict[str, Episode] = {
    "black-thursday": Episode(
        "black-thursday",
        "Black Thursday, 11-13 March 2020: BTC and ETH, Binance spot, 1h bars",
        {"BTC": "btc_usdt_2020-03-12_1h.csv", "ETH": "eth_usdt_2020-03-12_1h.csv"},
        3600,
        "2020-03-11T12:00",
        48,
    ),
    "2025-10-10": Episode(
        "2025-10-10",
        "10 October 2025: BTC only, Binance USD-M perpetual, 1m bars",
        {"BTC": "btc_usdt_perp_2025-10-10_1m.csv"},
        60,
        "2025-10-10T20:36",
        90,
    ),
}


@dataclass(frozen=True, slots=True)
class Bar:
    time: int  # close time: the bar's open time + the interval, unix seconds
    closes: dict[str, int]  # asset -> close in quote atoms


@dataclass(frozen=True, slots=True)
class Round:
    """One round of reports: every asset's price at one block time."""

    time: int
    prices: dict[str, int]
    bar: int  # index of the bar in the window
    close: bool  # True: the bar's real close; False: a step on the way to it


def parse_time(text: str) -> int:
    """Return the unix time of an ISO UTC time such as ``2020-03-12T06:00``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def read_closes(name: str) -> dict[int, int]:
    """Return ``ts -> close`` (quote atoms) of a shipped file."""
    text = resources.files("solvent").joinpath("data", name).read_text()
    return {int(row["ts"]): usd(row["close"]) for row in csv.DictReader(io.StringIO(text))}


def episode(name: str) -> Episode:
    found = EPISODES.get(name)
    if found is None:
        raise ValueError(f"unknown episode {name!r}; one of {', '.join(EPISODES)}")
    return found


def load_bars(ep: Episode, start: str | None = None, steps: int | None = None) -> list[Bar]:
    """Return ``steps`` bars from ``start`` (the episode's defaults when None)."""
    closes = {asset: read_closes(name) for asset, name in ep.files.items()}
    common = sorted(set.intersection(*(set(c) for c in closes.values())))
    first = parse_time(start or ep.start)
    count = ep.steps if steps is None else steps
    chosen = [ts for ts in common if ts >= first][:count]
    if count < 1 or len(chosen) < count:
        raise ValueError(
            f"{ep.name} has {len(chosen)} bars from {start or ep.start}, fewer than the {count} asked for"
        )
    return [Bar(ts + ep.interval_s, {a: closes[a][ts] for a in sorted(closes)}) for ts in chosen]


def linear(old: int, new: int, n: int) -> list[int]:
    """Return n prices from ``old`` (excluded) to ``new`` (included), linearly, in integers."""
    return [old + (new - old) * k // n for k in range(1, n + 1)]


def steps_needed(old: int, new: int, max_step: int) -> int:
    """Return the fewest linear steps from ``old`` to ``new`` with each step within
    ``max_step`` (a ratio) of the price before it."""
    n = 1
    while True:
        path = linear(old, new, n)
        if all(abs(p - q) * ONE <= max_step * q for p, q in zip(path, [old, *path[:-1]], strict=True)):
            return n
        n += 1


def rounds(bars: list[Bar], max_step: int) -> list[Round]:
    """Return the report rounds of ``bars``: one per bar, more where a close moves more than
    ``max_step``; then every asset moves in that many linear steps, one second apart."""
    out: list[Round] = []
    for i, bar in enumerate(bars):
        if i == 0:
            out.append(Round(bar.time, dict(bar.closes), 0, True))
            continue
        before = bars[i - 1].closes
        n = max(steps_needed(before[a], p, max_step) for a, p in bar.closes.items())
        if i + 1 < len(bars) and bar.time + n - 1 >= bars[i + 1].time:
            raise ValueError(f"the bar closing at {bar.time} needs {n} rounds, more than its seconds")
        paths = {a: linear(before[a], p, n) for a, p in bar.closes.items()}
        for k in range(n):
            out.append(Round(bar.time + k, {a: path[k] for a, path in paths.items()}, i, k == n - 1))
    return out
