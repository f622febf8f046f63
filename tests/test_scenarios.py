"""Scenario files: every example replays with its expectations, and failures name their line."""

import json
from pathlib import Path

import pytest

from solvent.cli import main
from solvent.core.hashing import state_hash
from solvent.scenario import check_conservation, run_lines, run_scenario

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.jsonl"))


def test_there_are_at_least_eight_examples() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_replays_with_every_expectation(path: Path) -> None:
    replay = run_scenario(path)
    assert replay.failure is None, str(replay.failure)
    assert all(gap == 0 for gap in check_conservation(replay.state).values())
    assert sum(1 for s in replay.steps if s.kind == "expect") >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_replay_is_deterministic(path: Path) -> None:
    first = run_scenario(path)
    second = run_scenario(path)
    assert state_hash(first.state) == state_hash(second.state)


BASE = """{"genesis": "fixture_f"}
{"tx": "Prices", "asset": "BTC", "price": "100000"}
{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "1000"}
"""


def test_failed_expectation_names_its_line() -> None:
    expect = '{"expect": {"balance": {"account": "trader", "asset": "USDC", "is": "999"}}}\n'
    replay = run_lines(BASE + expect)
    assert replay.failure is not None
    assert replay.failure.line == 4
    assert "balance is 1000, expected is 999" in str(replay.failure)


def test_unexpected_refusal_names_its_line() -> None:
    replay = run_lines(BASE + '{"tx": "Withdraw", "account": "trader", "asset": "USDC", "amount": "2000"}\n')
    assert replay.failure is not None
    assert replay.failure.line == 4
    assert "InsufficientBalance" in str(replay.failure) or "InsufficientMargin" in str(replay.failure)


def test_expected_error_that_does_not_happen_fails() -> None:
    replay = run_lines(
        BASE
        + '{"tx": "Withdraw", "account": "trader", "asset": "USDC", "amount": "10"}\n'
        + '{"expect": {"error": "InsufficientMargin"}}\n'
    )
    assert replay.failure is not None
    assert replay.failure.line == 5


def test_wrong_error_code_fails() -> None:
    replay = run_lines(
        BASE
        + '{"tx": "Withdraw", "account": "nobody", "asset": "USDC", "amount": "10"}\n'
        + '{"expect": {"error": "InsufficientMargin"}}\n'
    )
    assert replay.failure is not None
    assert "UnknownAccount" in str(replay.failure)


def test_rounding_number_in_scenario_is_refused() -> None:
    deposit = '{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "0.0000001"}\n'
    replay = run_lines(BASE + deposit)
    assert replay.failure is not None
    assert "more than 6 decimals" in str(replay.failure)


def test_cli_replay_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(BASE + '{"expect": {"balance": {"account": "trader", "asset": "USDC", "is": "1000"}}}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text(BASE + '{"expect": {"balance": {"account": "trader", "asset": "USDC", "is": "1"}}}\n')
    assert main(["replay", str(good), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["summary"]["conserved"] is True
    assert document["summary"]["accounts"]["trader/0"]["balances"]["USDC"] == "1000"
    assert main(["replay", str(bad)]) == 1
    assert "line 4" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
