"""Every bench script runs on a small size and ends with one JSON line holding its key figures.

Speed is never asserted here (benches measure it); this only keeps the scripts working.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

CASES = [
    ("state.py", ["--accounts", "2000", "--samples", "200"], {"rss_mb", "health_us"}),
    ("risk_scan.py", ["--accounts", "2000", "--repeats", "1", "--verify", "50"], {"scan_ms", "full_scan_ms"}),
    ("liquidation.py", ["--accounts", "100", "--repeats", "1"], {"liquidations_per_s"}),
    ("matching.py", ["--ops", "2000", "--accounts", "50"], {"ops_per_s", "reference_ops_per_s"}),
    (
        "node.py",
        ["--quick"],
        {"signed_orders_per_s", "http_orders_per_s", "p50_ack_ms", "p99_ack_ms", "verify_tx_per_s"},
    ),
    ("signing.py", ["--quick"], {"hash_us", "recover_us"}),
    ("gas.py", ["--quick"], {"withdraw_gas", "commit_gas", "exit_gas", "deposit_gas", "freeze_gas"}),
    ("stress.py", ["--quick"], {"agent_steps_per_s", "episode_wall_s", "sweep_speedup", "cores"}),
    (
        "options.py",
        ["--quick"],
        {"prices_per_s", "worst_abs_error_over_F", "pm_ms", "pm_cold_ms", "option_scan_ms"},
    ),
]


@pytest.mark.parametrize(("script", "args", "keys"), CASES, ids=[c[0] for c in CASES])
def test_bench_runs_and_prints_its_figures(script: str, args: list[str], keys: set[str]) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert keys <= set(figures)
