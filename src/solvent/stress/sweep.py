"""
Sweeps: many stress-lab runs (cells) over parameter sets × episodes × seeds, on all cores or on Ray.

Introduction
------------
A sweep file is TOML::

    name = "example"                       # optional, for titles
    episodes = ["black-thursday", "2021-05-19", "synthetic:jumps"]   # or "all-real"
    seeds = [0, 1]

    [base]                                 # a LabConfig table (stress.config)
    agents = 20
    duration_s = 3600

    [[sets]]                               # named overrides of base, params merged into base's
    name = "baseline"

    [[sets]]
    name = "small-fund"
    params = { "MAJ.insurance" = "10000" }

    [grid]                                 # optional: every set is crossed with every combination
    keeper_latency_s = [1, 30]             # set names get "/keeper_latency_s=30"
    "params.BTC-PERP.base_mmf" = ["3%", "5%"]

``episodes`` takes names of ``stress.paths.EPISODES``, ``"synthetic:KIND"``
for a synthetic path of ``stress.paths.SYNTHETIC`` (with the set's
``synthetic_params``), or the string ``"all-real"`` for every shipped
episode; without ``episodes`` each set plays its own path. ``seeds`` is a
list of integers (default ``[base.seed]``).

``expand`` turns the file into cells, in order: sets (each crossed with the
grid, in the grid's order), then episodes, then seeds. Every cell's
``LabConfig`` is built (and so checked) before anything runs, so a bad
option fails the sweep at once; a cell that raises while running is
reported as failed with its error, and the sweep goes on.

``run_sweep`` runs the cells over a ``ProcessPoolExecutor`` (``workers``
processes, ``os.cpu_count()`` by default) or, with ``ray_address``, as Ray
tasks (``"local"`` starts a local Ray), through the same function per cell.
Results come back in cell order whatever the order of completion, and hold
no wall time, so the files are the same with 1 worker, 8 workers or Ray.

``write_sweep`` writes ``sweep.json`` and ``sweep.csv`` (one row per cell:
set, episode, seed, status, the headline numbers of ``stress.report``),
``comparison.md`` (per set × episode, the mean over the seeds that
succeeded) and ``report.html`` (the comparison table and grouped bars of
bad debt per 1M OI, liquidation latency p99 and minimum collateralisation).
"""

import concurrent.futures
import csv
import html
import itertools
import json
import os
import tomllib
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes

from solvent.stress.config import LabConfig
from solvent.stress.paths import EPISODES, SYNTHETIC
from solvent.stress.report import HEADLINE_LABELS, format_number, headline, html_page, html_table, plot_png
from solvent.stress.result import RunResult

Runner = Callable[[LabConfig], RunResult]
Progress = Callable[[int, int], None]
ALL_REAL = "all-real"
SYNTHETIC_PREFIX = "synthetic:"
SWEEP_KEYS = ("name", "base", "sets", "grid", "episodes", "seeds")
COMPARED = (
    ("bad_debt_per_1m_oi", "bad debt per 1M OI"),
    ("latency_p99_s", "liquidation latency p99 (s)"),
    ("min_collateralisation", "minimum system collateralisation"),
)


class SweepConfigError(ValueError):
    """A sweep file that cannot be expanded; the message says what to change."""


class RayMissingError(RuntimeError):
    """``ray_address`` was given but Ray is not installed."""


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its place, its names and its config."""

    index: int
    set: str
    episode: str
    seed: int
    config: LabConfig


@dataclass
class CellResult:
    """What one cell gave: the summary, or the error that stopped it (``status`` "ok" or "failed")."""

    cell: Cell
    summary: dict[str, Any] | None = None
    error: str | None = None
    wall_s: float = 0.0  # not written to the sweep's files: it differs between runs
    agent_steps: int = 0

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "failed"

    def row(self) -> dict[str, Any]:
        """Return the cell's row of ``sweep.csv`` / ``sweep.json``."""
        numbers: Mapping[str, Any] = (
            headline(self.summary) if self.summary is not None else dict.fromkeys(HEADLINE_LABELS)
        )
        return {
            "cell": self.cell.index,
            "set": self.cell.set,
            "episode": self.cell.episode,
            "seed": self.cell.seed,
            "status": self.status,
            **numbers,
            "error": self.error or "",
        }


@dataclass
class Sweep:
    """A sweep file, expanded: its name and cells."""

    name: str
    cells: list[Cell] = field(default_factory=list)


# --- Expanding ----------------------------------------------------------------------------------


def load(path: Path) -> Sweep:
    """Read a sweep file (TOML) and expand it; a bad file raises ``SweepConfigError``."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SweepConfigError(f"cannot read the sweep file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SweepConfigError(f"{path} is not valid TOML: {exc}") from exc
    return expand(data, default_name=path.stem)


def _episodes(value: Any) -> list[str] | None:
    if value is None:
        return None
    names = list(EPISODES) if value == ALL_REAL else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SweepConfigError(f'episodes is a non-empty list of names or "{ALL_REAL}"')
    for name in names:
        kind = name.removeprefix(SYNTHETIC_PREFIX)
        if name.startswith(SYNTHETIC_PREFIX) and kind not in SYNTHETIC:
            raise SweepConfigError(
                f"unknown synthetic kind {kind!r} in episodes; one of {', '.join(SYNTHETIC)}"
            )
        if not name.startswith(SYNTHETIC_PREFIX) and name not in EPISODES:
            raise SweepConfigError(
                f"unknown episode {name!r}; one of {', '.join(EPISODES)}, "
                f'"synthetic:KIND" or "{ALL_REAL}" (solvent stress --list)'
            )
    return list(names)


def _grid(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return [{}]
    if not isinstance(value, dict) or not all(isinstance(v, list) and v for v in value.values()):
        raise SweepConfigError("grid is a table of option -> non-empty list of values")
    keys = list(value)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(value[k] for k in keys))]


def _overrides(base: Mapping[str, Any], *changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    params = dict(base.get("params", {}))
    for change in changes:
        for key, value in change.items():
            if key.startswith("params."):
                params[key.removeprefix("params.")] = value
            elif key == "params":
                params.update(value)
            else:
                merged[key] = value
        if "synthetic" in change and "episode" not in change:
            merged["episode"] = None
        if "episode" in change and "synthetic" not in change:
            merged["synthetic"] = None
    merged["params"] = params
    return merged


def _grid_name(combo: Mapping[str, Any]) -> str:
    return ",".join(f"{k.removeprefix('params.')}={v}" for k, v in combo.items())


def expand(data: Mapping[str, Any], default_name: str = "sweep") -> Sweep:
    """Return the cells of a sweep table (see the introduction); checks every cell's config."""
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise SweepConfigError(f"unknown sweep key(s) {', '.join(unknown)}; known: {', '.join(SWEEP_KEYS)}")
    base = data.get("base", {})
    if not isinstance(base, dict):
        raise SweepConfigError("base is a table of lab options")
    sets = data.get("sets", [{"name": "base"}])
    if not isinstance(sets, list) or not sets or not all(isinstance(s, dict) and "name" in s for s in sets):
        raise SweepConfigError("sets is a non-empty array of tables, each with a name ([[sets]] name = ...)")
    names = [str(s["name"]) for s in sets]
    if len(set(names)) != len(names):
        raise SweepConfigError(f"set names must differ: {', '.join(names)}")
    episodes = _episodes(data.get("episodes"))
    seeds = data.get("seeds", [base.get("seed", 0)])
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        raise SweepConfigError("seeds is a non-empty list of integers")
    sweep = Sweep(str(data.get("name", default_name)))
    for set_table, combo in itertools.product(sets, _grid(data.get("grid"))):
        set_name = str(set_table["name"]) + (f"/{_grid_name(combo)}" if combo else "")
        changes = {k: v for k, v in set_table.items() if k != "name"}
        paths: list[str | None] = [*episodes] if episodes else [None]
        for path in paths:
            path_change: dict[str, Any] = {}
            if path is not None and path.startswith(SYNTHETIC_PREFIX):
                path_change = {"synthetic": path.removeprefix(SYNTHETIC_PREFIX), "episode": None}
            elif path is not None:
                path_change = {"episode": path, "synthetic": None}
            for seed in seeds:
                table = _overrides(base, changes, combo, path_change, {"seed": seed})
                try:
                    config = LabConfig.from_mapping(table)
                except (TypeError, ValueError) as exc:
                    raise SweepConfigError(f"set {set_name!r}: {exc}") from exc
                episode = path or str(config.episode or f"{SYNTHETIC_PREFIX}{config.synthetic}")
                label = f"{set_name} {episode}#{seed}"
                config = config.with_(label=label)
                sweep.cells.append(Cell(len(sweep.cells), set_name, episode, seed, config))
    return sweep


# --- Running ------------------------------------------------------------------------------------


def lab_runner(config: LabConfig) -> RunResult:
    """Run one config in the lab (``stress.lab.run``), without progress."""
    from solvent.stress import lab  # noqa: PLC0415  (heavy: imported where a run happens)

    return lab.run(config)


def run_cell(cell: Cell, runner: Runner = lab_runner) -> CellResult:
    """Run one cell; an exception becomes a failed result carrying its type, message and origin."""
    try:
        result = runner(cell.config)
    except Exception as exc:  # a cell that raises is reported, not fatal to the sweep
        where = traceback.extract_tb(exc.__traceback__)[-1]
        origin = f" ({Path(where.filename).name}:{where.lineno})"
        return CellResult(cell, error=f"{type(exc).__name__}: {exc}{origin}")
    return CellResult(cell, result.summary, wall_s=result.wall_s, agent_steps=result.agent_steps)


def run_sweep(
    sweep: Sweep,
    workers: int | None = None,
    ray_address: str | None = None,
    runner: Runner = lab_runner,
    progress: Progress | None = None,
) -> list[CellResult]:
    """Run every cell and return the results in cell order.

    Parameters
    ----------
    workers
        Processes of the pool (``os.cpu_count()`` when None); 1 runs in this process.
    ray_address
        Run on Ray instead: ``"local"`` starts a local Ray, else ``ray.init(address=...)``.
    runner
        What runs one config (``stress.lab.run`` by default); a module-level function, so
        that it pickles to the workers.
    progress
        Called with (cells done, cells) as cells finish.
    """
    if ray_address is not None:
        return _run_on_ray(sweep, ray_address, runner, progress)
    count = (os.cpu_count() or 1) if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be at least 1, was {count}")
    total = len(sweep.cells)
    results: list[CellResult | None] = [None] * total
    done = 0
    if count == 1 or total <= 1:
        for cell in sweep.cells:
            results[cell.index] = run_cell(cell, runner)
            done += 1
            if progress is not None:
                progress(done, total)
        return [r for r in results if r is not None]
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(count, total)) as pool:
        futures = {pool.submit(run_cell, cell, runner): cell for cell in sweep.cells}
        for future in concurrent.futures.as_completed(futures):
            cell = futures[future]
            error = future.exception()  # only when the worker process itself died
            if error is None:
                results[cell.index] = future.result()
            else:
                results[cell.index] = CellResult(cell, error=f"{type(error).__name__}: {error}")
            done += 1
            if progress is not None:
                progress(done, total)
    return [r for r in results if r is not None]


def _run_on_ray(sweep: Sweep, address: str, runner: Runner, progress: Progress | None) -> list[CellResult]:
    try:
        import ray  # noqa: PLC0415  (an optional extra)
    except ImportError as exc:
        raise RayMissingError(
            "--ray needs Ray, an optional extra: pip install 'solvent[ray]' (or pip install 'ray>=2.40,<3')"
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "local" else address, log_to_driver=False)
    try:
        task: Any = ray.remote(run_cell)
        pending = {task.remote(cell, runner): cell.index for cell in sweep.cells}
        results: list[CellResult | None] = [None] * len(sweep.cells)
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                index = pending[ref]
                try:
                    results[index] = ray.get(ref)
                except Exception as exc:  # the task's process died: report the cell, go on
                    results[index] = CellResult(sweep.cells[index], error=f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(len(sweep.cells) - len(waiting), len(sweep.cells))
        return [r for r in results if r is not None]
    finally:
        if started_here:
            ray.shutdown()


# --- Writing ------------------------------------------------------------------------------------

ROW_KEYS = ("cell", "set", "episode", "seed", "status", *HEADLINE_LABELS, "error")


def aggregate(results: Sequence[CellResult]) -> list[dict[str, Any]]:
    """Return one row per set × episode (first-seen order): seeds ok/failed and each headline's mean."""
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for result in results:
        groups.setdefault((result.cell.set, result.cell.episode), []).append(result)
    rows = []
    for (set_name, episode), members in groups.items():
        ok = [headline(m.summary) for m in members if m.summary is not None]
        row: dict[str, Any] = {"set": set_name, "episode": episode, "seeds_ok": len(ok)}
        row["seeds_failed"] = len(members) - len(ok)
        for key in HEADLINE_LABELS:
            values = [float(v) for h in ok if (v := h[key]) is not None]
            row[key] = sum(values) / len(values) if values else None
        rows.append(row)
    return rows


def write_sweep(sweep: Sweep, results: Sequence[CellResult], out: Path) -> None:
    """Write ``sweep.json``, ``sweep.csv``, ``comparison.md`` and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [r.row() for r in results]
    document = {
        "name": sweep.name,
        "cells": rows,
        "configs": [r.cell.config.to_json() for r in results],
        "comparison": aggregate(results),
    }
    (out / "sweep.json").write_text(json.dumps(document, sort_keys=True, indent=2) + "\n")
    with (out / "sweep.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=ROW_KEYS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / "comparison.md").write_text(comparison_markdown(sweep, results))
    (out / "report.html").write_text(sweep_html(sweep, results))


def _comparison_rows(results: Sequence[CellResult]) -> tuple[list[str], list[list[str]]]:
    header = ["set", "episode", "seeds ok", "failed", *HEADLINE_LABELS.values()]
    rows = [
        [
            row["set"],
            row["episode"],
            str(row["seeds_ok"]),
            str(row["seeds_failed"]),
            *(format_number(row[key]) for key in HEADLINE_LABELS),
        ]
        for row in aggregate(results)
    ]
    return header, rows


def comparison_markdown(sweep: Sweep, results: Sequence[CellResult]) -> str:
    """Return the per set × episode table (means over seeds) as markdown, failed cells listed below."""
    header, rows = _comparison_rows(results)
    lines = [
        f"# Sweep {sweep.name}: comparison",
        "",
        "Mean over the seeds that succeeded; money in quote units.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    failed = [r for r in results if r.error is not None]
    if failed:
        lines += ["", "## Failed cells", ""]
        lines += [
            f"- cell {r.cell.index} ({r.cell.set}, {r.cell.episode}, seed {r.cell.seed}): {r.error}"
            for r in failed
        ]
    return "\n".join(lines) + "\n"


def comparison_plots(results: Sequence[CellResult]) -> list[tuple[str, str]]:
    """Return grouped bar charts (episodes on x, one bar per set) of the compared headlines."""
    rows = aggregate(results)
    sets = list(dict.fromkeys(r["set"] for r in rows))
    episodes = list(dict.fromkeys(r["episode"] for r in rows))
    means = {(r["set"], r["episode"]): r for r in rows}
    plots = []
    for key, title in COMPARED:

        def draw(axes: list[Axes], key: str = key, title: str = title) -> None:
            ax = axes[0]
            width = 0.8 / max(1, len(sets))
            for i, set_name in enumerate(sets):
                heights = []
                for episode in episodes:
                    value = means.get((set_name, episode), {}).get(key)
                    heights.append(float("nan") if value is None else float(value))
                positions = [e + (i - (len(sets) - 1) / 2) * width for e in range(len(episodes))]
                ax.bar(positions, heights, width=width, label=set_name)
            ax.set_xticks(range(len(episodes)), episodes, rotation=15, fontsize=7)
            ax.set_title(f"{title} (mean over seeds)")
            ax.legend(loc="best", fontsize=7)

        plots.append((title, plot_png(draw)))
    return plots


def sweep_html(sweep: Sweep, results: Sequence[CellResult]) -> str:
    """Return the sweep's report: comparison table, grouped bars, failed cells, every cell."""
    header, rows = _comparison_rows(results)
    parts = [f"<h1>Sweep {html.escape(sweep.name)}</h1>"]
    ok = sum(r.error is None for r in results)
    parts.append(f"<p>{len(results)} cells, {ok} ok, {len(results) - ok} failed; money in quote units.</p>")
    parts.append("<h2>Comparison (mean over seeds)</h2>")
    parts.append(html_table(header, rows, numeric_from=2))
    for title, uri in comparison_plots(results):
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(f'<img alt="{html.escape(title)}" src="{uri}">')
    failed = [r for r in results if r.error is not None]
    if failed:
        parts.append('<h2 class="failed">Failed cells</h2>')
        fail_rows = [
            [str(r.cell.index), r.cell.set, r.cell.episode, str(r.cell.seed), r.error or ""] for r in failed
        ]
        parts.append(html_table(["cell", "set", "episode", "seed", "error"], fail_rows, numeric_from=5))
    parts.append("<h2>Cells</h2>")
    cell_rows = [
        [str(r.cell.index), r.cell.set, r.cell.episode, str(r.cell.seed), r.status]
        + [format_number(v) for k, v in r.row().items() if k in HEADLINE_LABELS]
        for r in results
    ]
    cell_header = ["cell", "set", "episode", "seed", "status", *HEADLINE_LABELS.values()]
    parts.append(html_table(cell_header, cell_rows, numeric_from=5))
    return html_page(f"Solvent sweep {sweep.name}", "\n".join(parts))
