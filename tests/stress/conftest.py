"""
Stress-lab test helpers: a fake ``RunResult`` that fills every key of the schema of ``stress.result``.

``fake_run(config)`` stands in for ``stress.lab.run`` where a test is about what surrounds a
run (reports, sweeps) rather than the run: it is deterministic in the config (numbers move
with the seed) and raises for ``seed == FAILING_SEED``, so a sweep has a failing cell to report.
"""

from collections.abc import Callable

from solvent.stress.config import LabConfig
from solvent.stress.result import RunResult

FAILING_SEED = 13
USDC = 10**6


def fake_run(config: LabConfig, progress: Callable[[int, int], None] | None = None) -> RunResult:
    if config.seed == FAILING_SEED:
        raise RuntimeError(f"fake lab: seed {FAILING_SEED} always fails")
    s = config.seed + 1
    samples = 12
    t = [1_600_000_000 + 600 * k for k in range(samples)]
    bad = [0] * 6 + [1000 * USDC * s] * 6
    series: dict[str, list[object]] = {
        "t": t,
        "price.BTC": [(8000 - 100 * k * s) * USDC for k in range(samples)],
        "index.BTC": [(8000 - 100 * k * s + 5) * USDC for k in range(samples)],
        "price.ETH": [(200 - 3 * k) * USDC for k in range(samples)],
        "index.ETH": [(200 - 3 * k) * USDC for k in range(samples)],
        "mark.BTC-PERP": [(8000 - 100 * k * s) * USDC for k in range(samples)],
        "oi.BTC-PERP": [1_000_000 * USDC] * samples,
        "oi.ETH-PERP": [400_000 * USDC] * samples,
        "funding.BTC-PERP": [0.0001 * k for k in range(samples)],
        "funding.ETH-PERP": [-0.0001 * k for k in range(samples)],
        "insurance.MAJ": [(500_000 - 1000 * k) * USDC for k in range(samples)],
        "insurance.ALT": [100_000 * USDC] * samples,
        "pool_nav": [(1_000_000 + 50 * k) * USDC for k in range(samples)],
        "collateralisation": [2.0 - 0.05 * k for k in range(samples)],
        "liquidations": [0, 0, 1, 3, 5, 2, 0, 1, 0, 0, 0, 0],
        "bad_debt": bad,
        "base_fee_gwei": [20.0 + k for k in range(samples)] if config.congestion else [0.0] * samples,
    }
    if progress is not None:
        progress(config.steps, config.steps)
    latencies = [1, 1, 2, 2, 3, 5, 8, 13 * s]
    summary = {
        "run": {
            "config": config.to_json(),
            "source": {"BTC": "fake BTC path", "ETH": "fake ETH path"},
            "start": "2020-09-13T12:26:40Z",
            "end": "2020-09-13T14:16:40Z",
            "steps": config.steps,
            "step_s": config.step_s,
            "state_hash": "ab" * 32,
            "quote_decimals": 6,
        },
        "bad_debt": {
            "total": 1000 * USDC * s,
            "insurance": 900 * USDC * s,
            "adl": 100 * USDC * s,
            "socialised": 0,
            "uncovered": 0,
            "per_1m_oi": str(1000 * s / 1.4),
        },
        "insurance": {
            "MAJ": {
                "start": 500_000 * USDC,
                "end": 489_000 * USDC,
                "min": 489_000 * USDC,
                "paid": 900 * USDC * s,
                "received": 10 * USDC,
            },
            "ALT": {
                "start": 100_000 * USDC,
                "end": 100_000 * USDC,
                "min": 100_000 * USDC,
                "paid": 0,
                "received": 0,
            },
        },
        "liquidations": {
            "count": 12 + s,
            "collateral": 1,
            "notional": 250_000 * USDC,
            "keeper_rewards": 1250 * USDC,
            "penalties": 2500 * USDC,
            "refused": {"NotLiquidatable": 2},
            "latency_s": {"count": len(latencies), "p50": 2, "p90": 8, "p99": 13 * s, "max": 13 * s},
        },
        "adl": {"deleveraged_positions": 2, "notional": 30_000 * USDC},
        "socialised_loss": 0,
        "open_interest": {
            "BTC-PERP": {"start": 1, "max": 2, "end": 1, "mean": 1_000_000 * USDC},
            "ETH-PERP": {"start": 1, "max": 2, "end": 1, "mean": 400_000 * USDC},
            "mean_notional": 1_400_000 * USDC,
        },
        "funding": {"BTC-PERP": {"min_rate": "0", "max_rate": "0.0011", "paid": 5 * USDC}},
        "pool": {
            "deposited": 1_000_000 * USDC,
            "withdrawn": 0,
            "nav_start": 1_000_000 * USDC,
            "nav_end": 1_000_550 * USDC,
            "pnl": 550 * USDC,
            "min_nav": 1_000_000 * USDC,
        },
        "breakers": {"BTC-PERP": {"volatility": 1, "move": s}},
        "collateralisation": {
            "min_ratio": str(1.5 - 0.1 * s),
            "min_at": t[5],
            "accounts_below_mm_max": 4,
            "negative_equity_max": 1,
        },
        "agents": {"trend": {"count": 5, "pnl": -10 * USDC, "liquidated": 2}, "attacker": {"pnl": 0}},
        "chain": {
            "enabled": config.congestion,
            "submitted": 10,
            "included": 10,
            "dropped": 0,
            "mean_delay_s": "6",
            "max_base_fee_gwei": "31",
        },
        "txs": {"applied": 1000, "refused": {"InsufficientMargin": 3}},
        "conservation": {"USDC": 0, "longs_equal_shorts": True},
    }
    return RunResult(summary, series, latencies, wall_s=0.01 * s, agent_steps=config.agents * config.steps)
