"""The stress lab's speed: one day of a crash with 1,000 agents, and a sweep on one core vs all cores.

What it measures
----------------
1. ``episode_wall_s`` and ``agent_steps_per_s``: ``stress.lab.run`` of one config, by default
   Black Thursday, 24 hours at 1-minute steps (1,440 steps) with 1,000 agents (the default mix),
   in this process: the wall time of ``lab.run`` (``RunResult.wall_s``) and agents x steps
   divided by it. Writing the report is timed apart (``report_s``: ``report.write_run``, the
   plots included). The goal of the issue: ``episode_wall_s`` <= 60.
2. ``sweep_speedup``: a sweep of ``--runs`` small cells (``--sweep-agents`` agents,
   ``--sweep-hours`` hours at 1-minute steps; episodes cycled over the shipped real ones, one
   seed per run) through ``stress.sweep.run_sweep``, first with 1 worker (in this process), then
   with ``--workers`` processes (default: every core); speedup = wall(1) / wall(N). The rows of
   both runs are compared: they must be equal (``sweep_rows_equal``).

Run
---
    .venv/bin/python bench/stress.py [--episode black-thursday] [--agents 1000] [--hours 24]
        [--runs 100] [--sweep-agents 10] [--sweep-hours 1] [--workers N] [--quick]

``--quick``: 50 agents for 1 hour, and 6 runs of 5 agents for 20 minutes (a smoke run).
The last line printed is one JSON object of the figures.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from solvent.stress import lab
from solvent.stress.config import LabConfig
from solvent.stress.paths import EPISODES
from solvent.stress.report import write_run
from solvent.stress.sweep import Cell, Sweep, run_sweep

GOAL_EPISODE_S = 60.0


def sweep_of(runs: int, agents: int, hours: float) -> Sweep:
    """Return ``runs`` small cells, episodes cycled over the shipped real ones, seed = run number."""
    names = list(EPISODES)
    cells = []
    for i in range(runs):
        config = LabConfig(
            episode=names[i % len(names)],
            seed=i,
            agents=agents,
            duration_s=round(hours * 3600),
            label=f"run {i}",
        )
        cells.append(Cell(i, "bench", config.episode or "", i, config))
    return Sweep("bench", cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episode", default="black-thursday")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--sweep-agents", type=int, default=10)
    parser.add_argument("--sweep-hours", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.hours, args.runs, args.sweep_agents, args.sweep_hours = 50, 1.0, 6, 5, 1 / 3
    cores = os.cpu_count() or 1

    # 1. One episode
    config = LabConfig(episode=args.episode, agents=args.agents, duration_s=round(args.hours * 3600))
    result = lab.run(config)
    rate = result.agent_steps / result.wall_s
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        write_run(result, Path(out))
        report_s = time.perf_counter() - started
    liquidations = result.summary["liquidations"]["count"]
    if config.steps == 1440 and config.agents == 1000:
        verdict = "met" if result.wall_s <= GOAL_EPISODE_S else "missed"
    else:
        verdict = "not judged at this size"
    print(
        f"episode {config.episode}: {config.steps} steps x {config.agents} agents = {result.agent_steps:,} "
        f"agent-steps in {result.wall_s:.1f} s -> {rate:,.0f} agent-steps/s "
        f"(goal <= {GOAL_EPISODE_S:.0f} s for 1,440 steps x 1,000 agents: {verdict}); "
        f"{liquidations} liquidations; report written in {report_s:.1f} s"
    )

    # 2. A sweep on one core, then on all
    sweep = sweep_of(args.runs, args.sweep_agents, args.sweep_hours)
    started = time.perf_counter()
    serial = run_sweep(sweep, workers=1)
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = run_sweep(sweep, workers=args.workers)
    parallel_s = time.perf_counter() - started
    equal = [r.row() for r in serial] == [r.row() for r in parallel]
    failed = sum(r.error is not None for r in serial)
    speedup = serial_s / parallel_s
    print(
        f"sweep of {args.runs} runs ({args.sweep_agents} agents, {args.sweep_hours:g} h each): "
        f"1 worker {serial_s:.1f} s, {args.workers} workers {parallel_s:.1f} s -> speedup {speedup:.2f} "
        f"on {cores} cores; rows equal: {equal}; failed cells: {failed}"
    )
    figures = {
        "agent_steps_per_s": round(rate),
        "episode_wall_s": round(result.wall_s, 2),
        "episode_agents": config.agents,
        "episode_steps": config.steps,
        "report_s": round(report_s, 2),
        "sweep_speedup": round(speedup, 2),
        "sweep_runs": args.runs,
        "sweep_serial_s": round(serial_s, 2),
        "sweep_parallel_s": round(parallel_s, 2),
        "sweep_workers": args.workers,
        "sweep_rows_equal": equal,
        "sweep_failed": failed,
        "cores": cores,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
