"""
Price paths: real episodes refined on a grid without leaving the data, and seeded synthetic paths.
"""

import math
from itertools import pairwise

import numpy as np
import pytest

from solvent.core.units import QUOTE_ONE
from solvent.defaults import usd
from solvent.stress.paths import (
    EPISODES,
    Bar,
    PricePath,
    decimal_atoms,
    depeg,
    episode,
    episode_paths,
    file_path,
    garch,
    gbm,
    jump_diffusion,
    parse_time,
    read_bars,
    realised_vol,
    rolling_vol,
    synthetic,
    to_price,
    waypoints,
)


def log_returns(path: PricePath) -> np.ndarray:
    return np.diff(np.log(np.asarray(path.prices, dtype=np.float64)))


# --- Real episodes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EPISODES))
def test_refinement_keeps_every_real_close_and_stays_within_each_bar(name: str) -> None:
    paths = episode_paths(name, step_s=60)
    for asset, path in paths.items():
        f = episode(name).files[asset]
        bars = read_bars(f.file)
        assert path.step_s == 60 and path.prices and path.lows and path.highs
        assert min(path.prices) > 0 and all(type(p) is int for p in path.prices)
        times = {t: k for k, t in enumerate(path.times())}
        checked = 0
        for bar in bars:
            close_time = bar.ts + f.interval_s
            if close_time in times and close_time > path.start:
                assert path.prices[times[close_time]] == bar.close
                checked += 1
            for t in range(bar.ts + 60, close_time, 60):  # the bar's interior points
                if t in times:
                    assert bar.low <= path.prices[times[t]] <= bar.high
        assert checked == sum(path.start < b.ts + f.interval_s <= path.end for b in bars) > 0
        # Every point lies within its step's extremes.
        assert all(lo <= p <= hi for lo, p, hi in zip(path.lows, path.prices, path.highs, strict=True))


def test_every_asset_of_an_episode_shares_one_grid_in_the_common_window() -> None:
    paths = episode_paths("usdc-depeg-2023-03")
    btc, usdt = paths["BTC"], paths["USDT"]
    assert (btc.start, btc.steps) == (usdt.start, usdt.steps)
    assert btc.start == parse_time("2023-03-09T05:00")  # the USDC file starts 5 h after BTC's
    assert btc.end == parse_time("2023-03-16T00:00")  # BTC's last bar closes first
    assert min(usdt.prices) == decimal_atoms("0.8994177942")  # the 15m bar low of 2023-03-11 08:30, visited
    assert "played as the stablecoin collateral USDT" in usdt.source


def test_an_hourly_bar_visits_its_low_and_high_in_the_order_its_direction_suggests() -> None:
    # 2020-03-12 10:00: open 7354.21, high 7367.03, low 5550, close 6014.9: a down bar, high first.
    path = episode_paths("black-thursday", start="2020-03-12T10:00", steps=60)["BTC"]
    bar = next(b for b in read_bars("btc_usdt_2020-03-12_1h.csv") if b.ts == path.start)
    assert path.prices[0] == 7354210000  # the 09:00 bar's close
    assert path.prices[-1] == bar.close == usd("6014.9")
    k_high, k_low = path.prices.index(bar.high), path.prices.index(bar.low)
    assert 0 < k_high < k_low < 60


def test_waypoints() -> None:
    up = Bar(0, open=100, high=130, low=90, close=120)
    assert waypoints(up, 1) == [(0, 100), (1, 120)]
    assert waypoints(up, 2) == [(0, 100), (1, 130), (2, 120)]  # high is further outside [100, 120]
    # Distances 10, 40, 10 of 60 over 8 steps: the extremes at 8 * 10/60 -> 1 and 8 * 50/60 -> 7.
    assert waypoints(up, 8) == [(0, 100), (1, 90), (7, 130), (8, 120)]
    down = Bar(0, open=100, high=101, low=50, close=60)
    assert [p for _, p in waypoints(down, 60)] == [100, 101, 50, 60]
    flat = Bar(0, open=100, high=100, low=100, close=100)
    assert waypoints(flat, 60) == [(0, 100), (60, 100)]


def test_gaps_hold_the_last_close() -> None:
    # The Kraken file has no bar for a minute without trades: the path holds the last close.
    bars = read_bars("btc_usdc_kraken_2023-03-11_1m.csv")
    path = file_path("btc_usdc_kraken_2023-03-11_1m.csv", "BTC", 60)
    before, after = next((a, b) for a, b in pairwise(bars) if b.ts - a.ts > 60)
    for t in range(before.ts + 60, after.ts + 60, 60):
        assert path.price_at(t) == before.close
    assert path.price_at(after.ts + 60) == after.close
    assert path.steps == (bars[-1].ts + 60 - bars[0].ts) // 60


def test_coarser_steps_sample_closes_and_keep_the_extremes() -> None:
    hourly = episode_paths("2024-08-05", step_s=300)["BTC"]
    minute = episode_paths("2024-08-05", step_s=60)["BTC"]
    assert hourly.prices == minute.prices[: 5 * hourly.steps + 1 : 5]
    assert hourly.lows is not None and minute.lows is not None
    assert min(hourly.lows) == min(minute.lows) == usd("48888")


def test_a_step_that_does_not_fit_the_bars_is_refused() -> None:
    with pytest.raises(ValueError, match="grid"):
        episode_paths("black-thursday", step_s=7 * 60)
    with pytest.raises(ValueError, match="unknown episode"):
        episode_paths("ftx-2022-11")


def test_prices_are_parsed_exactly() -> None:
    assert decimal_atoms("8e-05") == 80
    assert decimal_atoms("0.9994177942") == 999418
    assert decimal_atoms("6014.9") == usd("6014.9")
    assert to_price("100000") == to_price(100000.0) == 100_000 * QUOTE_ONE
    assert to_price(5) == 5
    assert min(episode_paths("luna-2022-05")["ALT"].prices) == 40  # 4e-05 USDT


def test_window_and_shift() -> None:
    path = gbm(1, steps=100)
    part = path.window(path.time(10), 20)
    assert part.prices == path.prices[10:31] and part.start == path.time(10)
    assert path.shifted(0).start == 0 and path.shifted(0).prices == path.prices
    assert path.price_at(path.time(10) + 59) == path.prices[10]
    assert path.price_at(path.end + 1000) == path.prices[-1]
    with pytest.raises(ValueError):
        path.price_at(path.start - 1)
    with pytest.raises(ValueError):
        path.window(path.time(90), 20)
    real = episode_paths("2024-08-05")["BTC"]
    part = real.window(real.time(10), 5)
    assert part.lows is not None and real.lows is not None
    assert part.lows[0] == part.prices[0] and part.lows[1:] == real.lows[11:16]


# --- Synthetic paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gbm", "jumps", "garch", "depeg"])
def test_the_same_seed_gives_the_same_path(kind: str) -> None:
    a = synthetic(kind, 7, steps=2000, step_s=60)
    b = synthetic(kind, 7, steps=2000, step_s=60)
    c = synthetic(kind, 8, steps=2000, step_s=60)
    assert a == b and repr(a) == repr(b)
    assert a.prices != c.prices
    assert len(a.prices) == 2001 and all(type(p) is int and p >= 1 for p in a.prices)
    assert kind.rstrip("s") in a.source and "seed=7" in a.source


def test_gbm_volatility_matches_its_sigma() -> None:
    path = gbm(3, steps=100_000, step_s=60, sigma_annual=0.8)
    assert realised_vol(path, path.steps) == pytest.approx(0.8, rel=0.02)
    drift = gbm(3, steps=100_000, step_s=60, sigma_annual=0.0, drift_annual=0.5)
    years = 100_000 * 60 / (365 * 86_400)
    assert drift.prices[-1] / drift.prices[0] == pytest.approx(math.exp(0.5 * years), rel=1e-6)


def test_jumps_appear_and_a_crash_bias_makes_them_falls() -> None:
    calm = gbm(5, steps=20_000, sigma_annual=0.6)
    jumpy = jump_diffusion(5, steps=20_000, sigma_annual=0.6, jumps_per_day=20, jump_std=0.05)
    step_sigma = 0.6 * math.sqrt(60 / (365 * 86_400))
    assert np.max(np.abs(log_returns(calm))) < 6 * step_sigma
    big = np.abs(log_returns(jumpy)) > 6 * step_sigma
    assert 100 < big.sum() < 400  # about 20 a day for 13.9 days, most far above the diffusion
    crashy = jump_diffusion(5, steps=20_000, jumps_per_day=20, jump_std=0.05, crash_bias=1.0)
    falls = log_returns(crashy)[np.abs(log_returns(crashy)) > 6 * step_sigma]
    assert falls.size > 100 and (falls < 0).all()
    assert crashy.prices[-1] < crashy.prices[0] / 100


def test_garch_clusters_volatility() -> None:
    def lag1_autocorrelation_of_squares(path: PricePath) -> float:
        squares = log_returns(path) ** 2
        return float(np.corrcoef(squares[:-1], squares[1:])[0, 1])

    clustered = garch(11, steps=50_000, sigma_annual=0.8, alpha=0.1, beta=0.85)
    assert lag1_autocorrelation_of_squares(clustered) > 0.08  # theory: 0.18
    assert abs(lag1_autocorrelation_of_squares(gbm(11, steps=50_000))) < 0.03
    assert realised_vol(clustered, clustered.steps) == pytest.approx(0.8, rel=0.1)
    with pytest.raises(ValueError, match="alpha"):
        garch(1, alpha=0.2, beta=0.8)


def test_depeg_falls_to_its_low_and_recovers_part_of_the_way() -> None:
    path = depeg(2, steps=1000, low="0.88", start_step=100, recover_steps=400, fall_steps=20, noise_bps=1.0)
    assert path.asset == "USDT" and path.prices[0] == pytest.approx(QUOTE_ONE, rel=5e-4)
    bottom = min(range(len(path.prices)), key=path.prices.__getitem__)
    assert 115 <= bottom <= 125
    assert path.prices[bottom] == pytest.approx(usd("0.88"), rel=5e-4)
    assert path.prices[-1] == pytest.approx(usd("0.976"), rel=5e-4)  # 0.88 + 80% of 0.12
    assert all(p == pytest.approx(QUOTE_ONE, rel=5e-4) for p in path.prices[:100])


def test_realised_vol_windows() -> None:
    path = gbm(4, steps=5000, sigma_annual=0.5)
    rolling = rolling_vol(path, 240)
    assert len(rolling) == len(path.prices) and rolling[0] == 0.0
    for k in (1, 100, 240, 3000, 5000):
        assert rolling[k] == pytest.approx(realised_vol(path, 240, k), rel=1e-9)
    flat = PricePath("flat", "BTC", 0, 60, (5,) * 10, "test")
    assert realised_vol(flat, 5) == 0.0
