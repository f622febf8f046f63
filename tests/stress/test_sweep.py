"""stress.sweep: expanding a sweep file, running cells in order on 1 or 2 workers, failed cells, files."""

import json
import re
import tomllib
from pathlib import Path

import pytest

from conftest import FAILING_SEED, fake_run
from solvent.stress.paths import EPISODES
from solvent.stress.sweep import SweepConfigError, expand, load, run_sweep, write_sweep

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "solvent" / "stress" / "sweeps" / "example.toml"

SMALL = {
    "name": "small",
    "base": {"agents": 4, "duration_s": 3600, "params": {"MAJ.keeper_fee": "1%"}},
    "sets": [{"name": "baseline"}, {"name": "fixed", "margin": "fixed", "params": {"MAJ.insurance": "1000"}}],
    "episodes": ["black-thursday", "synthetic:jumps"],
    "seeds": [0, 1, FAILING_SEED],
}


def test_expand_orders_cells_by_set_then_episode_then_seed() -> None:
    sweep = expand(SMALL)
    keys = [(c.set, c.episode, c.seed) for c in sweep.cells]
    assert keys == [
        (s, e, seed)
        for s in ("baseline", "fixed")
        for e in ("black-thursday", "synthetic:jumps")
        for seed in (0, 1, FAILING_SEED)
    ]
    assert [c.index for c in sweep.cells] == list(range(12))
    fixed_jumps = sweep.cells[9].config
    assert fixed_jumps.synthetic == "jumps" and fixed_jumps.episode is None
    assert fixed_jumps.margin == "fixed" and fixed_jumps.agents == 4
    assert fixed_jumps.params == {"MAJ.keeper_fee": "1%", "MAJ.insurance": "1000"}  # merged with base's


def test_grid_crosses_every_set_and_all_real_means_every_episode() -> None:
    data = {"base": {"agents": 2}, "grid": {"keeper_latency_s": [1.0, 30.0], "params.MAJ.insurance": ["5"]}}
    sweep = expand({**data, "episodes": "all-real", "seeds": [0]})
    assert len(sweep.cells) == 2 * len(EPISODES)
    assert sweep.cells[0].set == "base/keeper_latency_s=1.0,MAJ.insurance=5"
    assert sweep.cells[-1].config.keeper_latency_s == 30.0
    assert sweep.cells[-1].config.params == {"MAJ.insurance": "5"}


def test_example_sweep_file_expands() -> None:
    sweep = load(EXAMPLE)
    data = tomllib.loads(EXAMPLE.read_text())
    assert len(sweep.cells) == len(data["sets"]) * len(data["episodes"]) * len(data["seeds"])


@pytest.mark.parametrize(
    ("name", "cells"), [("study-margin", 2 * 2 * 9 * 3), ("study-keepers", 2 * 4 * 9 * 2)]
)
def test_the_study_sweep_files_expand(name: str, cells: int) -> None:
    # docs/studies/01-margin-and-keepers.md: every real episode, the grid crossed with each set.
    sweep = load(EXAMPLE.with_name(f"{name}.toml"))
    assert len(sweep.cells) == cells and len(EPISODES) == 9
    fixed = [c.config for c in sweep.cells if c.config.margin == "fixed"]
    assert all(c.params["ALT-PERP.base_imf"] == "24.88%" for c in fixed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"episodes": ["atlantis"]}, "unknown episode 'atlantis'"),
        ({"episodes": ["synthetic:nope"]}, "unknown synthetic kind 'nope'"),
        ({"seeds": ["one"]}, "seeds is a non-empty list of integers"),
        ({"sets": [{"name": "a", "margin": "loose"}]}, "set 'a': margin is one of"),
        ({"sets": [{"name": "a", "agnets": 3}]}, "unknown lab option(s) agnets"),
        ({"sets": [{"name": "a"}, {"name": "a"}]}, "set names must differ"),
        ({"colour": "blue"}, "unknown sweep key(s) colour"),
    ],
)
def test_bad_sweep_files_are_refused_before_anything_runs(change: dict[str, object], message: str) -> None:
    with pytest.raises(SweepConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand({**SMALL, **change})


def test_results_come_in_cell_order_and_equal_with_one_and_two_workers(tmp_path: Path) -> None:
    sweep = expand(SMALL)
    seen: list[tuple[int, int]] = []
    one = run_sweep(sweep, workers=1, runner=fake_run, progress=lambda d, t: seen.append((d, t)))
    two = run_sweep(sweep, workers=2, runner=fake_run)
    assert [r.cell.index for r in two] == list(range(len(sweep.cells)))
    assert [r.row() for r in one] == [r.row() for r in two]
    assert seen[-1] == (12, 12)
    write_sweep(sweep, one, tmp_path / "one")
    write_sweep(sweep, two, tmp_path / "two")
    for name in ("sweep.json", "sweep.csv", "comparison.md", "report.html"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_a_failing_cell_is_reported_and_the_sweep_goes_on(tmp_path: Path) -> None:
    sweep = expand(SMALL)
    results = run_sweep(sweep, workers=2, runner=fake_run)
    failed = [r for r in results if r.status == "failed"]
    assert [r.cell.seed for r in failed] == [FAILING_SEED] * 4
    assert all("RuntimeError: fake lab: seed 13 always fails" in (r.error or "") for r in failed)
    write_sweep(sweep, results, tmp_path)
    document = json.loads((tmp_path / "sweep.json").read_text())
    assert [row["status"] for row in document["cells"]].count("failed") == 4
    assert document["comparison"][0]["seeds_ok"] == 2 and document["comparison"][0]["seeds_failed"] == 1
    assert document["comparison"][0]["bad_debt"] == 1500.0  # mean of 1,000 and 2,000 over seeds 0 and 1
    assert "## Failed cells" in (tmp_path / "comparison.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "always fails" in page
    assert "http://" not in page and "https://" not in page
    header = (tmp_path / "sweep.csv").read_text().splitlines()[0]
    assert header.startswith("cell,set,episode,seed,status,bad_debt,")


def test_ray_runs_the_same_cells(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import conftest  # noqa: PLC0415

    ray.cloudpickle.register_pickle_by_value(conftest)  # the workers cannot import the tests' conftest
    data = {**SMALL, "sets": SMALL["sets"][:1], "episodes": ["black-thursday"]}
    sweep = expand(data)
    on_ray = run_sweep(sweep, ray_address="local", runner=fake_run)
    local = run_sweep(sweep, workers=1, runner=fake_run)
    assert [r.row() for r in on_ray] == [r.row() for r in local]


def test_real_lab_cells_equal_on_one_and_two_workers_and_a_bad_param_fails_its_cell() -> None:
    data = {
        "base": {"agents": 5, "duration_s": 1200},
        "sets": [{"name": "baseline"}, {"name": "broken", "params": {"NOPE.field": "1"}}],
        "episodes": ["2021-05-19"],
        "seeds": [0],
    }
    sweep = expand(data)
    one = run_sweep(sweep, workers=1)
    two = run_sweep(sweep, workers=2)
    assert [r.row() for r in one] == [r.row() for r in two]
    assert [r.status for r in one] == ["ok", "failed"]
    assert "NOPE.field" in (one[1].error or "")


def test_the_sweep_file_in_the_docs_expands() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "stress.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    sweep = expand(tomllib.loads(block.group(1)))
    assert len(sweep.cells) == 3 * 4 * 2 * 2  # sets x grid x episodes x seeds
    assert sweep.cells[-1].set == "small-fund/keeper_latency_s=30.0,BTC-PERP.base_mmf=5%"
