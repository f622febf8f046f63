"""
The stress lab's commands of the ``solvent`` command line (see docs/stress.md).

    solvent stress (--episode NAME | --synthetic KIND) [--agents N] [--seed S] [--hours H]
                   [--step-s 60] [--start ISO] [--margin vol|fixed] [--keeper-latency S]
                   [--congestion] [--no-breakers] [--reporters PROFILE] [--param KEY=VALUE ...]
                   [--config FILE.toml] --out DIR
    solvent stress --list
    solvent sweep CONFIG.toml [--out DIR] [--workers N] [--ray ADDRESS]

``--config`` reads a ``LabConfig`` table (TOML; a ``[lab]`` table or the
top level); the options given on the command line override it. Bad input
(an unknown episode, an option the config refuses, an unreadable file)
prints one line naming what to change and exits 2.
"""

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from solvent.stress.config import MARGIN_MODES, REPORTER_PROFILES, LabConfig
from solvent.stress.paths import EPISODES, SYNTHETIC
from solvent.stress.report import HEADLINE_LABELS, format_number, headline, write_run

BAD_INPUT = 2
SYNTHETIC_TITLES = {
    "gbm": "geometric Brownian motion of BTC (synthetic_params: sigma_annual, drift_annual)",
    "jumps": "Merton jump-diffusion of BTC: GBM plus Poisson jumps (jumps_per_day, jump_std, crash_bias)",
    "garch": "GARCH(1,1) returns of BTC: volatility clusters around sigma_annual",
    "depeg": "the USDT collateral leaves its peg, falls to low, recovers part of the way",
}


class BadInput(ValueError):
    """Input the lab cannot run; the message says what to change."""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stress = sub.add_parser("stress", help="run the stress lab on one path; write summary, series and report")
    which = stress.add_mutually_exclusive_group()
    which.add_argument("--episode", help="a real episode (solvent stress --list)")
    which.add_argument("--synthetic", help="a synthetic path: gbm, jumps, garch or depeg")
    which.add_argument("--list", action="store_true", help="list the episodes and synthetic kinds")
    stress.add_argument("--agents", type=int, help="agents in the population (default 100)")
    stress.add_argument("--seed", type=int, help="seed of the path, agents and reporters (default 0)")
    stress.add_argument("--hours", type=float, help="duration in hours (default 24)")
    stress.add_argument("--step-s", type=int, help="the lab's clock tick in seconds (default 60)")
    stress.add_argument("--start", help="start of an episode's window, ISO UTC (default: its worst hour)")
    stress.add_argument("--margin", choices=MARGIN_MODES, help="vol (default) or fixed requirements")
    stress.add_argument("--keeper-latency", type=float, help="keepers' mean latency in seconds (default 1)")
    stress.add_argument("--congestion", action="store_true", default=None, help="route txs through the chain")
    stress.add_argument("--no-breakers", action="store_true", help="lift the circuit breakers")
    stress.add_argument(
        "--reporters", choices=REPORTER_PROFILES, help="oracle fault profile (default honest)"
    )
    stress.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="venue override, e.g. MAJ.insurance=1e5",
    )
    stress.add_argument("--config", help="a TOML file of lab options; the options above override it")
    stress.add_argument("--out", help="directory of summary.json, series.csv and report.html")
    sweep = sub.add_parser("sweep", help="run a sweep file's cells over all cores (or Ray); compare them")
    sweep.add_argument("config", help="the sweep file (TOML), e.g. src/solvent/stress/sweeps/example.toml")
    sweep.add_argument("--out", help="output directory (default: sweep-<file name>)")
    sweep.add_argument("--workers", type=int, help="processes (default: every core)")
    sweep.add_argument("--ray", metavar="ADDRESS", help='run on Ray: "local", or a cluster address')


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a stress-lab command; None if ``args.command`` is not one."""
    handler = {"stress": cmd_stress, "sweep": cmd_sweep}.get(args.command)
    if handler is None:
        return None
    try:
        return handler(args)
    except BadInput as exc:
        print(f"solvent {args.command}: {exc}", file=sys.stderr)
        return BAD_INPUT


# --- solvent stress -----------------------------------------------------------------------------


def print_list(console: Console) -> None:
    """Print the episodes and synthetic kinds."""
    episodes = Table(title="episodes (--episode)")
    episodes.add_column("name")
    episodes.add_column("what")
    episodes.add_column("assets")
    for spec in EPISODES.values():
        episodes.add_row(spec.name, spec.title, ", ".join(spec.files))
    console.print(episodes)
    kinds = Table(title="synthetic paths (--synthetic)")
    kinds.add_column("kind")
    kinds.add_column("what")
    for kind, make in SYNTHETIC.items():
        doc = (make.__doc__ or "").strip().splitlines()
        kinds.add_row(kind, SYNTHETIC_TITLES.get(kind, doc[0] if doc else ""))
    console.print(kinds)


def read_table(path: str) -> dict[str, Any]:
    """Read a TOML file of lab options (its ``[lab]`` table, else the top level)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path} is not valid TOML: {exc}") from exc
    table = data.get("lab", data)
    if not isinstance(table, dict):
        raise BadInput(f"{path}: [lab] is a table of lab options")
    return dict(table)


def parse_params(items: list[str]) -> dict[str, str]:
    """Return ``--param KEY=VALUE`` options as a mapping (a later key wins)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise BadInput(f"--param takes KEY=VALUE (MAJ.insurance=250000), not {item!r}")
        params[key.strip()] = value.strip()
    return params


def config_from_args(args: argparse.Namespace) -> LabConfig:
    """Build the run's ``LabConfig``: the ``--config`` file, then the options given."""
    table = read_table(args.config) if args.config else {}
    if args.episode is not None:
        table.update(episode=args.episode, synthetic=None)
    if args.synthetic is not None:
        table.update(synthetic=args.synthetic, episode=None)
    if "episode" not in table and "synthetic" not in table:
        raise BadInput("give --episode NAME or --synthetic KIND (solvent stress --list shows them)")
    if table.get("episode") is not None and table["episode"] not in EPISODES:
        raise BadInput(f"unknown episode {table['episode']!r}; one of {', '.join(EPISODES)}")
    if table.get("synthetic") is not None and table["synthetic"] not in SYNTHETIC:
        raise BadInput(f"unknown synthetic kind {table['synthetic']!r}; one of {', '.join(SYNTHETIC)}")
    options = {
        "agents": args.agents,
        "seed": args.seed,
        "step_s": args.step_s,
        "start": args.start,
        "margin": args.margin,
        "keeper_latency_s": args.keeper_latency,
        "congestion": args.congestion,
        "reporters": args.reporters,
    }
    table.update({k: v for k, v in options.items() if v is not None})
    if args.hours is not None:
        if args.hours <= 0:
            raise BadInput(f"--hours must be positive, was {args.hours}")
        table["duration_s"] = round(args.hours * 3600)
    if args.no_breakers:
        table["breakers"] = False
    if args.param:
        table["params"] = {**table.get("params", {}), **parse_params(args.param)}
    try:
        return LabConfig.from_mapping(table)
    except (TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from exc


def print_headline(console: Console, summary: dict[str, Any]) -> None:
    """Print the headline numbers (quote units)."""
    table = Table(title="headline (money in quote units)", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    for key, value in headline(summary).items():
        table.add_row(HEADLINE_LABELS[key], format_number(value))
    console.print(table)


def cmd_stress(args: argparse.Namespace) -> int:
    console = Console()
    if args.list:
        print_list(console)
        return 0
    config = config_from_args(args)
    if not args.out:
        raise BadInput("give --out DIR, the directory of summary.json, series.csv and report.html")
    from solvent.stress import lab  # noqa: PLC0415  (the lab's imports are heavy; --list needs none)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{config.name} steps", total=config.steps)
        try:
            result = lab.run(config, lambda done, total: progress.update(task, completed=done, total=total))
        except ValueError as exc:  # the lab refuses what the config cannot mean (a param it does not know)
            raise BadInput(str(exc)) from exc
    out = Path(args.out)
    write_run(result, out)
    rate = result.agent_steps / result.wall_s if result.wall_s > 0 else 0.0
    console.print(
        f"[bold]{config.name}[/]: {config.steps} steps of {config.step_s} s, {config.agents} agents, "
        f"{result.wall_s:.1f} s ({rate:,.0f} agent-steps/s)"
    )
    print_headline(console, result.summary)
    for name in ("summary.json", "series.csv", "report.html"):
        console.print(f"  {out / name}", highlight=False, soft_wrap=True)
    return 0


# --- solvent sweep ------------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace) -> int:
    from solvent.stress import sweep  # noqa: PLC0415

    try:
        spec = sweep.load(Path(args.config))
    except sweep.SweepConfigError as exc:
        raise BadInput(str(exc)) from exc
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers must be at least 1, was {args.workers}")
    out = Path(args.out or f"sweep-{Path(args.config).stem}")
    console = Console()
    workers = args.workers or os.cpu_count() or 1
    where = f"Ray ({args.ray})" if args.ray else f"{workers} worker process(es)"
    console.print(f"[bold]sweep {spec.name}[/]: {len(spec.cells)} cells on {where}")
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("cells", total=len(spec.cells))
        try:
            results = sweep.run_sweep(
                spec,
                workers=args.workers,
                ray_address=args.ray,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except sweep.RayMissingError as exc:
            raise BadInput(str(exc)) from exc
    sweep.write_sweep(spec, results, out)
    failed = [r for r in results if r.error is not None]
    console.print(
        f"{len(results) - len(failed)} of {len(results)} cells ok in {time.perf_counter() - started:.1f} s"
    )
    for r in failed:
        where = f"cell {r.cell.index} ({r.cell.set}, {r.cell.episode}, seed {r.cell.seed})"
        console.print(
            f"  [red]failed[/] {escape(where)}: {escape(r.error or '')}", highlight=False, soft_wrap=True
        )
    for name in ("sweep.csv", "sweep.json", "comparison.md", "report.html"):
        console.print(f"  {out / name}", highlight=False, soft_wrap=True)
    return 1 if failed else 0
