"""``solvent replay`` reports liquidations, keeper rewards, funds, ADL and socialised loss."""

import json
from pathlib import Path

import pytest

from solvent.cli import main
from solvent.scenario import risk_report, run_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_risk_report_of_a_bankruptcy_with_adl() -> None:
    replay = run_scenario(EXAMPLES / "12_insurance_fund_then_adl.jsonl")
    assert replay.failure is None
    report = risk_report(replay.state, replay.steps)
    assert report["liquidations"] == 1
    assert report["keeper_rewards"] == "0"
    assert report["insurance_paid"] == "20000"
    assert report["deleveraged_positions"] == 2
    assert report["socialised_loss"] == "0"
    assert report["insurance_funds"] == {"ALT": "0", "MAJ": "1000000"}


def test_replay_prints_the_risk_line_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "11_keeper_liquidates_partially.jsonl")
    assert main(["replay", path]) == 0
    out = capsys.readouterr().out
    assert "liquidations 1" in out
    assert "keeper rewards 334.934" in out
    assert "MAJ 1000669.868" in out
    assert main(["replay", path, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["risk"]["penalties"] == "1004.802"
