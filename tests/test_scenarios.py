"""Scenario files: every example replays with its expectations, and failures name their line."""

import json
from pathlib import Path

import pytest

from solvent import scenario
from solvent.cli import main
from solvent.core.errors import InsufficientMargin
from solvent.core.events import Event
from solvent.core.hashing import state_hash
from solvent.core.state import State
from solvent.core.tx import Tx, Withdraw
from solvent.scenario import check_conservation, open_interest_gaps, run_lines, run_scenario

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.jsonl"))
DERIVATIVES = sorted((Path(__file__).resolve().parent / "scenarios" / "derivatives").glob("DRV-*.jsonl"))


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


# --- Advance, event fields, insurance, conservation, longs = shorts, refusal check ---------

ALT_OUTLIER = """{"genesis": "fixture_f"}
{"tx": "Prices", "asset": "ALT", "prices": ["1.00", "1.00", "1.01", "0.99", "100.0"]}
"""


def _run(text: str, **kwargs: bool) -> str | None:
    replay = run_lines(text, **kwargs)
    return None if replay.failure is None else str(replay.failure)


def test_advance_keeps_fresh_reporters_reporting_and_stale_ones_silent() -> None:
    text = (
        ALT_OUTLIER
        + '{"tx": "SetTime", "advance": 50}\n'
        + '{"tx": "PriceReport", "reporter": "alt-reporter-1", "asset": "ALT", "price": "1.00"}\n'
        + '{"tx": "PriceReport", "reporter": "alt-reporter-2", "asset": "ALT", "price": "1.00"}\n'
        + '{"tx": "PriceReport", "reporter": "alt-reporter-3", "asset": "ALT", "price": "1.01"}\n'
        + '{"tx": "Advance", "seconds": 100, "every": 30}\n'
    )
    replay = run_lines(text)
    assert replay.failure is None, str(replay.failure)
    state = replay.state
    assert state.time == 1_700_000_150
    feed = state.feeds["ALT"]
    stamps = [r.timestamp for r in feed.reporters.values()]
    # 1-3 re-reported at every step (+80, +110, +140, +150 s); 4 and 5, last heard at +0 s,
    # were already stale at the first step and stay silent.
    assert stamps == [1_700_000_150] * 3 + [1_700_000_000] * 2
    assert [r.price for r in feed.reporters.values()][:3] == [10**6, 10**6, 1_010_000]
    assert feed.index_time == 1_700_000_150
    advance = replay.steps[-1]
    reports = [e for e in advance.events if e.kind == "ReportDiscarded"]
    assert reports == []  # the outlier, reporter 5, never re-reported


def test_advance_steps_and_reports_of_a_fully_fresh_feed() -> None:
    text = (
        '{"genesis": "fixture_f"}\n{"tx": "Prices", "asset": "ALT", "price": "1"}\n'
        + '{"tx": "Advance", "seconds": 65, "every": 30}\n'
        + '{"expect": {"index": {"asset": "ALT", "is": "1"}}}\n'
        + '{"tx": "PlaceOrder", "account": "nobody", "market": "ALT-PERP", "side": "buy", "size": "10", '
        + '"price": "1"}\n{"expect": {"error": "UnknownAccount"}}\n'
    )
    replay = run_lines(text)
    assert replay.failure is None, str(replay.failure)
    assert replay.state.time == 1_700_000_065  # steps of 30, 30 and 5 s
    assert all(r.timestamp == 1_700_000_065 for r in replay.state.feeds["ALT"].reporters.values())


def test_advance_without_reports_lets_the_oracle_go_stale() -> None:
    text = (
        '{"genesis": "fixture_f"}\n{"tx": "Prices", "asset": "BTC", "price": "100000"}\n'
        + '{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "100000"}\n'
        + '{"tx": "Advance", "seconds": 61, "report": false}\n'
        + '{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", "size": "0.1", '
        + '"tif": "IOC"}\n{"expect": {"error": "OracleStale"}}\n'
    )
    assert _run(text) is None
    assert _run(text.replace('"report": false', '"report": true')) is not None  # fresh: no error
    bad = _run('{"genesis": "fixture_f"}\n{"tx": "Advance", "seconds": 60, "every": 0}\n')
    assert bad is not None and "every must be at least 1 second" in bad


def test_event_expectation_matches_fields_in_human_units_and_names() -> None:
    good = [
        {"kind": "ReportDiscarded", "reporter": "alt-reporter-5"},
        {"kind": "ReportDiscarded", "price": "100", "median": "1.0000", "asset": "ALT"},
        {"kind": "ReportDiscarded", "price": 100_000_000},  # the raw value in atoms
        [{"kind": "IndexUpdated", "index": "1"}, {"kind": "QuorumNotMet", "fresh": 2}],
    ]
    for spec in good:
        assert _run(ALT_OUTLIER + json.dumps({"expect": {"event": spec}}) + "\n") is None, spec
    failure = _run(
        ALT_OUTLIER + '{"expect": {"event": {"kind": "ReportDiscarded", "reporter": "alt-reporter-4"}}}\n'
    )
    assert failure is not None and "line 3" in failure and "reporter=alt-reporter-5" in failure
    assert _run(ALT_OUTLIER + '{"expect": {"event": {"kind": "Fill"}}}\n') is not None


def test_no_event_expectation() -> None:
    assert (
        _run(
            ALT_OUTLIER
            + '{"expect": {"no_event": {"kind": "ReportDiscarded", "reporter": "alt-reporter-1"}}}\n'
        )
        is None
    )
    failure = _run(
        ALT_OUTLIER + '{"expect": {"no_event": [{"kind": "Fill"}, {"kind": "ReportDiscarded"}]}}\n'
    )
    assert failure is not None and "emitted" in failure


def test_insurance_expectation() -> None:
    def fund(state: State) -> None:
        state.insurance["MAJ"] = 1_234_567_500_000
        state.insurance.pop("NEW", None)

    for spec, ok in (
        ({"domain": "MAJ", "is": "1234567.5"}, True),
        ({"domain": "MAJ", "at_least": "1234567.499999"}, True),
        ({"domain": "NEW", "is": "0"}, True),  # a domain without a fund holds 0
        ({"domain": "MAJ", "is": "1234567"}, False),
        ({"domain": "MAJ", "below": "1234567.5"}, False),
    ):
        replay = run_lines(BASE + json.dumps({"expect": {"insurance": spec}}) + "\n", setup=fund)
        assert (replay.failure is None) is ok, (spec, replay.failure)


def test_conserved_and_longs_equal_shorts_expectations() -> None:
    trade = (
        BASE
        + '{"tx": "Deposit", "account": "maker", "asset": "USDC", "amount": "100000"}\n'
        + '{"tx": "PlaceOrder", "account": "maker", "market": "BTC-PERP", "side": "sell", "size": "0.05", '
        + '"price": "100000"}\n'
        + '{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", "size": "0.05", '
        + '"tif": "IOC"}\n'
    )
    check = '{"expect": {"conserved": true, "longs_equal_shorts": true}}\n'
    assert _run(trade + check) is None

    def leak(state: State) -> None:
        state.fee_balance += 1  # money from nowhere

    failure = str(run_lines(trade + check, setup=leak).failure)
    assert "money is not conserved" in failure and "USDC -0.000001" in failure

    def skew(state: State) -> None:
        state.markets["BTC-PERP"].open_interest += 1

    failure = str(run_lines(trade + check, setup=skew).failure)
    assert "longs differ from shorts" in failure and "BTC-PERP" in failure


def test_check_refusals_catches_a_refusal_that_changed_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + '{"tx": "Withdraw", "account": "trader", "asset": "USDC", "amount": "5000"}\n'
    text += '{"expect": {"error": "InsufficientMargin"}}\n'
    assert _run(text, check_refusals=True) is None

    real_apply = scenario.apply

    def leaky_apply(state: State, tx: Tx) -> list[Event]:
        if isinstance(tx, Withdraw):
            state.fee_balance += 1  # a buggy handler that mutates before refusing
            raise InsufficientMargin("refused after a change")
        return real_apply(state, tx)

    monkeypatch.setattr(scenario, "apply", leaky_apply)
    assert _run(text) is None  # without the check the damage goes unnoticed
    failure = _run(text, check_refusals=True)
    assert failure is not None and "line 4" in failure and "refused transaction changed the state" in failure


@pytest.mark.parametrize(("every", "reported"), [(60, True), (61, False)])
def test_advance_freshness_is_judged_at_the_new_time(every: int, reported: bool) -> None:
    text = '{"genesis": "fixture_f"}\n{"tx": "Prices", "asset": "ALT", "price": "1"}\n'
    text += json.dumps({"tx": "Advance", "seconds": 2 * every, "every": every}) + "\n"
    replay = run_lines(text)
    assert replay.failure is None, str(replay.failure)
    last = {r.timestamp for r in replay.state.feeds["ALT"].reporters.values()}
    assert last == ({1_700_000_000 + 2 * every} if reported else {1_700_000_000})


def test_check_refusals_judges_by_the_state_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal that only reorders a dict (same content, same canonical hash) changes nothing."""
    text = BASE + '{"tx": "Withdraw", "account": "trader", "asset": "USDC", "amount": "5000"}\n'
    text += '{"expect": {"error": "InsufficientMargin"}}\n'
    real_apply = scenario.apply

    def reordering_apply(state: State, tx: Tx) -> list[Event]:
        if isinstance(tx, Withdraw):
            first = next(iter(state.accounts))
            state.accounts[first] = state.accounts.pop(first)  # moved to the end
            raise InsufficientMargin("refused after reordering")
        return real_apply(state, tx)

    monkeypatch.setattr(scenario, "apply", reordering_apply)
    assert _run(text, check_refusals=True) is None


# --- futures and options: tests/scenarios/derivatives/, settlement, greeks, smile --------------


def test_there_are_derivatives_scenarios() -> None:
    assert len(DERIVATIVES) >= 8


@pytest.mark.parametrize("path", DERIVATIVES, ids=[p.stem for p in DERIVATIVES])
def test_derivatives_scenario_replays_with_every_expectation(path: Path) -> None:
    """Each edge case of futures and options replays, refusals leave the state unchanged (P3),
    money is conserved (P1) and longs equal shorts (P2) at the end."""
    replay = run_scenario(path, check_refusals=True)
    assert replay.failure is None, str(replay.failure)
    assert all(gap == 0 for gap in check_conservation(replay.state).values())
    assert open_interest_gaps(replay.state) == {}
    assert sum(1 for s in replay.steps if s.kind == "expect") >= 5


FUT = "BTC-FUT-30D"
SETTLED = (
    "\n".join(
        json.dumps(line)
        for line in (
            {"genesis": "derivatives"},
            {"tx": "Prices", "asset": "BTC", "price": "100000"},
            {"tx": "Vols", "feed": "BTC-30D", "atm_vol": "60%", "skew": "-10%", "curvature": "5%"},
            {"tx": "Deposit", "account": "a", "asset": "USDC", "amount": "100000"},
            {"tx": "Deposit", "account": "b", "asset": "USDC", "amount": "100000"},
            {
                "tx": "PlaceOrder",
                "account": "b",
                "market": FUT,
                "side": "sell",
                "size": "0.5",
                "price": "100000",
            },
            {"tx": "PlaceOrder", "account": "a", "market": FUT, "side": "buy", "size": "0.5", "tif": "IOC"},
            {"tx": "SetTime", "advance": 2590200},
            {"tx": "Prices", "asset": "BTC", "price": "101000"},
            {"tx": "Advance", "seconds": 1800, "every": 60},
        )
    )
    + "\n"
)


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ({"market": "BTC-FUT-30D", "settled": False, "fresh_seconds": 1800}, True),
        ({"market": "BTC-FUT-30D", "average": {"is": "101000"}}, True),
        ({"market": "BTC-FUT-30D", "fresh_seconds": {"at_least": 900}}, True),
        ({"market": "BTC-FUT-30D", "fresh_seconds": 1799}, False),
        ({"market": "BTC-FUT-30D", "average": {"is": "101000.000001"}}, False),
        ({"market": "BTC-FUT-30D", "settled": True}, False),
        ({"market": "BTC-FUT-30D", "price": {"is": "101000"}}, False),  # not settled yet
        ({"market": "BTC-PERP", "settled": False}, False),  # a perpetual never settles
    ],
)
def test_settlement_expectation_before_settle(spec: dict[str, object], ok: bool) -> None:
    failure = _run(SETTLED + json.dumps({"expect": {"settlement": spec}}) + "\n")
    assert (failure is None) is ok, (spec, failure)


def test_settlement_expectation_after_settle() -> None:
    settle = '{"tx": "Settle", "sender": "anyone", "market": "BTC-FUT-30D"}\n'
    good = {"market": "BTC-FUT-30D", "settled": True, "price": {"is": "101000"}, "fresh_seconds": 1800}
    assert _run(SETTLED + settle + json.dumps({"expect": {"settlement": good}}) + "\n") is None
    bad = {"market": "BTC-FUT-30D", "price": {"is": "101000.1"}}
    failure = _run(SETTLED + settle + json.dumps({"expect": {"settlement": bad}}) + "\n")
    assert failure is not None and "settlement price is 101000, expected is 101000.1" in failure


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ({"account": "a", "asset": "BTC", "delta": {"is": "0.5"}, "gamma": {"is": "0"}}, True),
        ({"account": "b", "asset": "BTC", "delta": {"is": "-50%"}, "vega": {"is": "0"}}, True),
        ({"account": "a", "asset": "ETH", "delta": {"is": "0"}}, True),  # no ETH position
        ({"account": "a", "asset": "BTC", "delta": {"is": "0.5000001"}}, False),
        ({"account": "a", "asset": "BTC", "theta": {"below": "0"}}, False),
        ({"account": "nobody", "asset": "BTC", "delta": {"is": "0"}}, False),
    ],
)
def test_greeks_expectation(spec: dict[str, object], ok: bool) -> None:
    text = "\n".join(SETTLED.splitlines()[:7]) + "\n"  # the futures trade, before expiry
    failure = _run(text + json.dumps({"expect": {"greeks": spec}}) + "\n")
    assert (failure is None) is ok, (spec, failure)


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ({"feed": "BTC-30D", "atm_vol": {"is": "60%"}, "skew": {"is": "-0.1"}}, True),
        ({"feed": "BTC-30D", "curvature": {"is": "0.05"}}, True),
        ({"feed": "BTC-30D", "stale": False}, True),
        ({"feed": "BTC-30D", "stale": True}, False),
        ({"feed": "BTC-30D", "atm_vol": {"is": "61%"}}, False),
        ({"feed": "BTC-30D", "skew": {"at_least": "0"}}, False),
    ],
)
def test_smile_expectation(spec: dict[str, object], ok: bool) -> None:
    text = "\n".join(SETTLED.splitlines()[:3]) + "\n"
    failure = _run(text + json.dumps({"expect": {"smile": spec}}) + "\n")
    assert (failure is None) is ok, (spec, failure)
