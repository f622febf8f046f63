"""
``solvent demo --chain`` and ``--escape`` (``solvent.demo_chain``): the stories of issue 8 point 4,
end to end on a devnet, with their books checked to the unit.
"""

import io
from pathlib import Path

from rich.console import Console

from solvent.demo_chain import CAROL_DEPOSIT, DEPOSITS, INSURANCE, run_chain_demo


def test_deposit_trade_withdraw_by_proof(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = run_chain_demo(tmp_path / "node", False, Console(file=out, width=120))
    assert summary.ok, out.getvalue()
    assert summary.deposited == summary.credited == sum(DEPOSITS.values())
    assert summary.paid > DEPOSITS["alice"]  # alice closed at a profit and took it all
    assert summary.holdings == summary.deposited - summary.paid
    assert summary.refusals_shown == ["AlreadyWithdrawn"]
    assert summary.verified and summary.commitments >= 2
    assert "every root matches" in out.getvalue()


def test_escape_after_the_operator_stops(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = run_chain_demo(tmp_path / "node", True, Console(file=out, width=120))
    assert summary.ok, out.getvalue()
    assert summary.deposited == sum(DEPOSITS.values()) + CAROL_DEPOSIT
    assert summary.refusals_shown == ["DeadlineNotPassed", "AlreadyExited"]
    # Everything but the insurance funds and the venue's fees leaves: every account's claim and
    # carol's refund.
    funds = sum(INSURANCE.values())
    assert funds < summary.holdings < funds + 100 * 10**6
    assert summary.paid + summary.holdings == summary.deposited
