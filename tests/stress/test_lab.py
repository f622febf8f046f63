"""The stress lab's run loop: determinism, conservation, and the keeper-latency mechanism."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from solvent.stress.config import LabConfig
from solvent.stress.lab import build_state, population_counts, run
from solvent.stress.paths import format_time
from solvent.stress.result import SUMMARY_KEYS

SMALL = LabConfig(episode="black-thursday", duration_s=2 * 3600, agents=40, seed=3)


def _check_shape(result_summary: dict, series: dict) -> None:
    assert set(SUMMARY_KEYS) <= set(result_summary)
    lengths = {len(v) for v in series.values()}
    assert len(lengths) == 1 and lengths.pop() > 1


def test_run_is_deterministic_in_process_and_across_hash_seeds(tmp_path: Path) -> None:
    first = run(SMALL)
    second = run(SMALL)
    assert first.canonical_summary() == second.canonical_summary()
    script = tmp_path / "one_run.py"
    script.write_text(
        "import sys\n"
        "from solvent.stress.config import LabConfig\n"
        "from solvent.stress.lab import run\n"
        f"config = LabConfig.from_mapping({SMALL.to_json()!r})\n"
        "sys.stdout.write(run(config).canonical_summary())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout == first.canonical_summary()
    other = run(SMALL.with_(seed=4))
    assert other.canonical_summary() != first.canonical_summary()


@pytest.mark.parametrize(
    "config",
    [
        SMALL.with_(episode="2024-08-05", duration_s=3600),
        SMALL.with_(synthetic="gbm", duration_s=3600, synthetic_params={"sigma_annual": 1.5}),
        SMALL.with_(synthetic="jumps", duration_s=3600, margin="fixed", breakers=False),
        SMALL.with_(synthetic="garch", duration_s=3600, reporters="one_liar"),
        SMALL.with_(synthetic="depeg", duration_s=3600, congestion=True),
    ],
    ids=["aug-2024", "gbm", "jumps-fixed-margin-no-breakers", "garch-one-liar", "depeg-congested"],
)
def test_money_and_open_interest_are_conserved(config: LabConfig) -> None:
    result = run(config)
    conservation = result.summary["conservation"]
    assert conservation.pop("longs_equal_shorts") is True
    assert set(conservation.values()) == {0}
    _check_shape(result.summary, result.series)
    assert result.agent_steps == config.agents * config.steps


def test_a_real_crash_window_liquidates_leveraged_traders() -> None:
    result = run(SMALL.with_(agents=60, leverage=8.0))
    s = result.summary
    assert s["liquidations"]["count"] > 0
    assert s["agents"]["trend"]["count"] + s["agents"]["meanrev"]["count"] > 0
    assert s["open_interest"]["mean_notional"] > 0
    # The window is centred on the largest one-hour fall of BTC.
    prices = result.series["price.BTC"]
    assert min(prices) < prices[0]


MECHANISM = LabConfig(
    episode="black-thursday",
    duration_s=4 * 3600,
    agents=40,
    seed=1,
    leverage=8.0,
    breakers=False,
    keeper_latency_jitter_s=0.0,
)


def test_late_keepers_leave_bad_debt_that_prompt_keepers_avoid() -> None:
    late = run(MECHANISM.with_(keeper_latency_s=5400.0)).summary
    prompt = run(MECHANISM.with_(keeper_latency_s=1.0)).summary
    assert late["bad_debt"]["total"] > 0
    assert prompt["bad_debt"]["total"] == 0
    assert late["liquidations"]["count"] < prompt["liquidations"]["count"]
    assert late["collateralisation"]["negative_equity_max"] > 0


def test_keeper_latency_is_applied() -> None:
    result = run(MECHANISM.with_(keeper_latency_s=180.0))
    assert result.latencies_s
    assert min(result.latencies_s) >= 180


def test_congestion_with_a_tiny_fee_budget_delays_keepers() -> None:
    base = MECHANISM.with_(keeper_latency_s=1.0)
    direct = run(base)
    jammed = run(base.with_(congestion=True, keeper_max_fee_gwei=1.0))
    chain = jammed.summary["chain"]
    assert chain["enabled"] and chain["submitted"] > 0
    assert chain["dropped"] > 0 or chain["included"] < chain["submitted"]
    assert max(jammed.latencies_s, default=10**9) > max(direct.latencies_s)


def test_population_has_a_maker_and_a_keeper() -> None:
    counts = population_counts(LabConfig(agents=3))
    assert counts["maker"] >= 1 and counts["keeper"] >= 1 and sum(counts.values()) == 3
    assert population_counts(LabConfig(agents=1000))["trend"] == 450


def test_fixed_margin_and_lifted_breakers_reach_the_state() -> None:
    state = build_state(LabConfig(margin="fixed", breakers=False, params={"MAJ.insurance": "250000"}))
    assert all(m.margin.imf_vol_factor == 0 and m.margin.mmf_vol_factor == 0 for m in state.markets.values())
    assert all(
        d.vol_halt == 0 and d.move_limit == 0 and d.divergence_limit == 0 for d in state.domains.values()
    )
    assert state.insurance["MAJ"] == 250_000 * 10**6


def test_a_shorter_episode_is_played_whole_and_margin_is_reported() -> None:
    # 10 October 2025 is 2 h 10 min of 1-minute bars: a day asked, 130 steps played.
    config = SMALL.with_(episode="2025-10-10", duration_s=86_400, agents=20)
    result = run(config)
    assert result.summary["run"]["steps"] == 130
    assert format_time(result.summary["run"]["path_start"]).startswith("2025-10-10 20:3")  # real time
    assert result.agent_steps == 20 * 130 and len(result.series["t"]) == 131
    fixed = run(config.with_(margin="fixed", params={"BTC-PERP.base_imf": "12%", "BTC-PERP.base_mmf": "6%"}))
    margin = fixed.summary["margin"]["BTC-PERP"]
    assert margin == {
        "imf_mean": "0.120000",
        "imf_max": "0.120000",
        "mmf_mean": "0.060000",
        "mmf_max": "0.060000",
    }
    scaled = result.summary["margin"]["BTC-PERP"]
    assert (
        float(scaled["imf_max"]) >= float(scaled["imf_mean"]) >= 0.1
    )  # the deployment's base, plus volatility
    assert float(result.summary["agents"]["trader_leverage_mean"]) > 0
