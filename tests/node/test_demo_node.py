"""
The node demo on a short slice of Black Thursday: bots through the API, then the log checked.

The slice (2020-03-12 06:00 to 13:00 UTC, 8 hourly bars) holds the 10:00 bar
in which BTC fell 18% and ETH 21%: the reporters reach it in steps within the
oracle's band, and the leveraged longs are liquidated by the keeper bot.
The demo's summary is built from the bots' receipts and API reads; here it
is checked against an independent replay of the node's log from genesis:
every count and amount, the insurance funds, the conservation of money to
the atom, and that every liquidation is a transaction the keeper signed.
"""

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from solvent.core.state import State
from solvent.core.tx import Deposit, Liquidate, PriceReport
from solvent.demo_node import DemoSummary, run_demo
from solvent.node.chain import apply_block, decode_submission
from solvent.node.genesis import GenesisConfig, dev_address, genesis_state
from solvent.node.log import BlockLog
from solvent.node.state_root import StateTree
from solvent.scenario import check_conservation


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path, str]:
    directory = tmp_path_factory.mktemp("demo") / "node"
    out = io.StringIO()
    summary = run_demo(directory, "black-thursday", 8, Console(file=out, width=120), start="2020-03-12T06:00")
    return summary, directory, out.getvalue()


@dataclass
class Replayed:
    state: State
    kinds: Counter[str] = field(default_factory=Counter)  # event kind -> count
    sums: Counter[str] = field(default_factory=Counter)  # event kind -> amounts (notional for trades)
    breakers: Counter[str] = field(default_factory=Counter)  # "MARKET breaker" -> trips
    txs: list[dict[str, Any]] = field(default_factory=list)


AMOUNT = {"InsurancePaid": "amount", "SocialisedLoss": "amount", "UncoveredDeficit": "amount"}
AMOUNT |= {"Fill": "notional", "Liquidated": "notional"}


def replay(directory: Path) -> Replayed:
    """Replay the log from genesis: the final state, every event counted, every logged tx."""
    log = BlockLog(directory)
    try:
        log.check()  # digests chained from genesis; sets the height that ``blocks`` reads to
        meta = log.meta()
        assert meta is not None
        config = GenesisConfig.from_json(meta)
        out = Replayed(genesis_state(config))
        tree = StateTree.build(out.state)
        for record in log.blocks(1):
            block = record.json()
            result = apply_block(out.state, tree, block, config.domain, check_signatures=False)
            assert result.root == record.root
            out.txs += block["txs"]
            for ev in result.events:
                out.kinds[ev.kind] += 1
                if ev.kind in AMOUNT:
                    out.sums[ev.kind] += int(str(ev.data[AMOUNT[ev.kind]]))
                if ev.kind == "BreakerTripped":
                    out.breakers[f"{ev.data['market']} {ev.data['breaker']}"] += 1
        return out
    finally:
        log.close()


@pytest.fixture(scope="module")
def replayed(demo: tuple[DemoSummary, Path, str]) -> Replayed:
    return replay(demo[1])


def test_the_demo_verifies_trades_and_liquidates_in_the_crash(demo: tuple[DemoSummary, Path, str]) -> None:
    summary, _, printed = demo
    assert summary.verified, summary.verify_reason
    assert summary.roots_verified == summary.blocks == summary.height + 1
    assert summary.conserved
    assert summary.bars == 8 and summary.rounds > summary.bars  # the 10:00 bar needed steps
    assert summary.trades > 0
    assert summary.liquidations >= 1 and summary.liquidated_accounts >= 1
    low_btc = summary.prices["BTC"][1]
    assert low_btc < summary.prices["BTC"][0] * 85 // 100  # the crash is in the slice
    assert "roots verified" in printed and f"{summary.blocks} of {summary.blocks}" in printed
    assert summary.seconds < 60


def test_the_summary_matches_a_replay_of_the_log(
    demo: tuple[DemoSummary, Path, str], replayed: Replayed
) -> None:
    summary, r = demo[0], replayed
    assert len(r.txs) == summary.transactions
    assert r.kinds["Fill"] == summary.trades and r.sums["Fill"] == summary.traded_notional
    assert r.kinds["Liquidated"] == summary.liquidations
    assert r.sums["Liquidated"] == summary.liquidated_notional
    assert r.kinds["Deleveraged"] == summary.adl_events
    assert r.sums["InsurancePaid"] == summary.insurance_paid
    assert r.sums["SocialisedLoss"] == summary.socialised_loss
    assert r.sums["UncoveredDeficit"] == summary.uncovered_deficit
    assert dict(r.breakers) == summary.breakers  # stale trips included, read from /breakers
    assert dict(r.state.insurance) == summary.insurance_after
    genesis = genesis_state(GenesisConfig(time=summary.first_time - 60))
    assert dict(genesis.insurance) == summary.insurance_before
    # The funds gained the penalties' fund part and paid the deficits; what is left of the
    # difference is the keepers' top-ups (part of their rewards), never more than those.
    moved = sum(summary.insurance_after.values()) - sum(summary.insurance_before.values())
    top_ups = summary.insurance_fees - summary.insurance_paid - moved
    assert 0 <= top_ups <= summary.keeper_rewards


def test_money_is_conserved_to_the_atom(replayed: Replayed) -> None:
    state = replayed.state
    assert all(gap == 0 for gap in check_conservation(state).values())
    quote = state.quote
    held = sum(a.balances.get(quote, 0) for a in state.accounts.values())
    held += sum(p.isolated_margin for a in state.accounts.values() for p in a.positions.values())
    held += state.fee_balance + sum(state.insurance.values())
    held += sum(m.funding_balance for m in state.markets.values())
    assert held == state.deposited.get(quote, 0) - state.withdrawn.get(quote, 0)
    for market_id in state.markets:
        sizes = [a.positions[market_id].size for a in state.accounts.values() if market_id in a.positions]
        assert sum(sizes) == 0, f"{market_id}: longs and shorts differ"


def test_every_liquidation_is_a_signed_keeper_transaction(replayed: Replayed) -> None:
    keeper, operator = dev_address("demo-keeper"), dev_address("operator")
    kinds = Counter(obj["tx"]["tx"] for obj in replayed.txs)
    assert kinds["Liquidate"] >= 1 and kinds["PriceReport"] > 0 and kinds["PlaceOrder"] > 0
    for obj in replayed.txs:
        submission = decode_submission(obj)
        payload = submission.payload
        if isinstance(payload, Liquidate):
            assert submission.signer == keeper
        elif isinstance(payload, Deposit):
            assert submission.signer == operator
        elif isinstance(payload, PriceReport):
            assert submission.signer == payload.reporter
