"""solvent stress / solvent sweep: files written, summaries printed, bad input refused with exit code 2."""

import json
import sys
from pathlib import Path

import pytest

from solvent.cli import main

SWEEP = """
name = "tiny"
episodes = ["black-thursday"]
seeds = [0, 1]

[base]
agents = 6
duration_s = 1800

[[sets]]
name = "baseline"

[[sets]]
name = "slow"
keeper_latency_s = 30.0
"""


def test_stress_list_names_every_episode_and_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stress", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("black-thursday", "luna-2022-05", "gbm", "jumps", "garch", "depeg"):
        assert name in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stress", "--episode", "atlantis", "--out", "x"], "unknown episode 'atlantis'"),
        (["stress", "--synthetic", "moon", "--out", "x"], "unknown synthetic kind 'moon'"),
        (["stress", "--out", "x"], "give --episode NAME or --synthetic KIND"),
        (["stress", "--episode", "black-thursday"], "give --out DIR"),
        (["stress", "--episode", "black-thursday", "--agents", "0", "--out", "x"], "at least one agent"),
        (
            ["stress", "--episode", "black-thursday", "--hours", "-1", "--out", "x"],
            "--hours must be positive",
        ),
        (
            ["stress", "--episode", "black-thursday", "--param", "oops", "--out", "x"],
            "--param takes KEY=VALUE",
        ),
        (["stress", "--episode", "black-thursday", "--config", "/no/such.toml", "--out", "x"], "cannot read"),
        (["sweep", "/no/such.toml"], "cannot read the sweep file"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["stress", "--episode", "black-thursday", "--margin", "loose", "--out", "x"])
    assert exit_.value.code == 2


def test_sweep_with_a_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SWEEP.replace("agents = 6", "agnets = 6"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "unknown lab option(s) agnets" in capsys.readouterr().err


# --- real runs of the lab (stress.lab.run), kept tiny ---------------------------------------------


def test_stress_writes_the_run_and_prints_its_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "lab.toml"
    config.write_text('[lab]\nagents = 50\nparams = { "MAJ.keeper_fee" = "1%" }\n')
    out = tmp_path / "run"
    argv = [
        "stress",
        "--config",
        str(config),
        "--episode",
        "black-thursday",
        "--hours",
        "0.5",
        "--agents",
        "8",
    ]
    assert main([*argv, "--seed", "3", "--param", "MAJ.insurance=250000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "bad debt per 1M OI" in printed and str(out / "report.html") in printed
    summary = json.loads((out / "summary.json").read_text())
    run = summary["run"]["config"]
    assert run["agents"] == 8 and run["seed"] == 3 and run["duration_s"] == 1800
    assert run["params"] == {"MAJ.keeper_fee": "1%", "MAJ.insurance": "250000"}
    assert (out / "series.csv").is_file()
    assert (out / "report.html").read_text().count('src="data:image/png;base64,') >= 9


def test_sweep_command_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2"]) == 0
    assert "4 of 4 cells ok" in capsys.readouterr().out
    document = json.loads((out / "sweep.json").read_text())
    assert [(c["set"], c["seed"]) for c in document["cells"]] == [
        ("baseline", 0),
        ("baseline", 1),
        ("slow", 0),
        ("slow", 1),
    ]
    for name in ("sweep.csv", "comparison.md", "report.html"):
        assert (out / name).is_file()


def test_sweep_on_ray_without_ray_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    path = tmp_path / "tiny.toml"
    path.write_text(SWEEP)
    assert main(["sweep", str(path), "--ray", "local", "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'solvent[ray]'" in capsys.readouterr().err
