# ruff: noqa: E501  (scenario lines are kept whole, one transaction a line)
"""``solvent replay`` reports liquidations, keeper rewards, funds, ADL and socialised loss."""

import json
from pathlib import Path

import pytest

from solvent.cli import main
from solvent.scenario import risk_report, run_lines, run_scenario

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


KEEPER_STORY = """{"genesis": "fixture_f"}
{"tx": "Prices", "asset": "BTC", "price": "100000"}
{"tx": "Deposit", "account": "maker", "asset": "USDC", "amount": "10000000"}
{"tx": "Deposit", "account": "bidder", "asset": "USDC", "amount": "10000000"}
{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "10050"}
{"tx": "PlaceOrder", "account": "maker", "market": "BTC-PERP", "side": "sell", "size": "1", "price": "100000"}
{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", "size": "1", "price": "100000", "tif": "IOC"}
{"tx": "Keeper", "keeper": "keeper"}
{"expect": {"no_events": "Liquidated"}}
{"tx": "SetTime", "advance": 30}
{"tx": "Prices", "asset": "BTC", "price": "94000"}
{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", "size": "0.5", "price": "93500"}
{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", "size": "1", "price": "93000"}
{"tx": "Keeper", "keeper": "keeper"}
{"expect": {"event": {"kind": "Liquidated", "size": "0.7176", "keeper_reward": "334.934"}}}
{"expect": {"balance": {"account": "keeper", "is": "334.934"}}}
{"tx": "Keeper", "keeper": "keeper"}
{"expect": {"no_events": "Liquidated"}}
"""


def test_keeper_line_runs_the_reference_keeper() -> None:
    replay = run_lines(KEEPER_STORY)
    assert replay.failure is None, replay.failure
