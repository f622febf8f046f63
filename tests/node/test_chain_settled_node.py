"""
A node settled on chain (``GenesisConfig.chain_settled``, docs/settlement.md): the deployment's
genesis Deposits still seed the insurance funds, then ``SettleOnChain`` applies, so the
operator's signed ``Deposit`` is refused ``DepositOnChainOnly`` (6007) while ``ChainDeposit`` is
credited; ``verify`` replays the log to the same roots, and refuses a log in which a plain
Deposit was credited all the same. A log written before the field existed (genesis JSON, genesis
block and snapshots without it) opens and verifies with the same roots.
"""

import copyreg
import io
import json
import pickle
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from tests.node.clocks import TickingClock

from solvent.core import engine
from solvent.core.state import State
from solvent.core.tx import ChainDeposit, Deposit, Tx, Withdraw
from solvent.defaults import usd
from solvent.node.chain import sign_submission
from solvent.node.genesis import GenesisConfig, dev_address, dev_key, genesis_state
from solvent.node.log import DB_NAME, chain_digest
from solvent.node.node import Node, NodeConfig
from solvent.node.state_root import GLOBAL, leaf_encoding, record_hash, word
from solvent.node.verify import verify

OPERATOR, ALICE = dev_key("operator"), dev_key("alice")
A = dev_address("alice")
BLOCK = "0x" + "cd" * 32
# The global record's fields before chain_settled existed, in their order.
FIELDS_BEFORE = (
    "governor",
    "quote",
    "time",
    "assets",
    "feeds",
    "domains",
    "vol_feeds",
    "portfolio",
    "next_order_id",
    "deposited",
    "withdrawn",
    "fee_balance",
    "scheduled_cancels",
    "twaps",
    "next_twap_id",
    "next_withdrawal_id",
)


def open_node(directory: Path, genesis: GenesisConfig | None) -> Node:
    time = (genesis or GenesisConfig()).time
    return Node(directory, genesis, NodeConfig(clock=TickingClock(time), snapshot_every=3))


def send(node: Node, key: bytes, tx: Tx, nonce: int) -> dict[str, Any]:
    future = node.submit(sign_submission(key, node.domain, tx, nonce))
    node.produce_block(force=True)
    return future.result(timeout=5).to_json()


def test_a_settled_genesis_credits_nothing_the_vault_does_not_hold() -> None:
    """The deployment's treasury Deposit and the FundInsurance it pays for are left out: the funds
    start empty and every account holds nothing, so every atom on the node came from the vault."""
    plain, settled = genesis_state(GenesisConfig()), genesis_state(GenesisConfig(chain_settled=True))
    assert not plain.chain_settled and settled.chain_settled
    assert plain.insurance["MAJ"] == usd("1000000") and plain.deposited == {"USDC": usd("1020000")}
    assert settled.insurance == {"MAJ": 0, "ALT": 0}
    assert settled.deposited == {} and not any(any(a.balances.values()) for a in settled.accounts.values())
    assert settled.markets.keys() == plain.markets.keys() and settled.feeds.keys() == plain.feeds.keys()
    for deployment in ("fixture_f", "derivatives"):
        state = genesis_state(GenesisConfig(deployment=deployment, chain_settled=True))
        assert state.chain_settled and not any(state.insurance.values()) and not state.deposited


def test_a_settled_node_refuses_the_operators_deposit_and_verifies(tmp_path: Path) -> None:
    directory = tmp_path / "n"
    genesis = GenesisConfig(chain_settled=True)
    node = open_node(directory, genesis)
    assert node.state.chain_settled
    receipt = send(node, OPERATOR, Deposit(dev_address("operator"), 0, "USDC", usd("1000000")), 1)
    assert receipt["status"] == "refused"
    assert (receipt["error"]["code"], receipt["error"]["error"]) == (6007, "DepositOnChainOnly")
    assert "deposit in the vault on chain" in receipt["error"]["message"]
    assert (dev_address("operator"), 0) not in node.state.accounts
    receipt = send(node, OPERATOR, ChainDeposit(0, BLOCK, A, 0, "USDC", usd("1000")), 2)
    assert receipt["status"] == "applied" and receipt["events"][0]["kind"] == "Deposited"
    assert send(node, ALICE, Withdraw(A, 0, "USDC", usd("300")), 1)["status"] == "applied"
    assert send(node, OPERATOR, Deposit(A, 0, "USDC", 1), 3)["error"]["code"] == 6007
    for _ in range(4):
        node.produce_block(force=True)
    height, root = node.height, node.root()
    node.close()
    # Restart (snapshot and replay) and verify rebuild the same state from the log alone.
    node = open_node(directory, None)
    assert node.genesis == genesis and node.state.chain_settled
    assert (node.height, node.root()) == (height, root)
    assert node.state.accounts[(A, 0)].balances["USDC"] == usd("700")
    node.close()
    report = verify(directory, workers=0)
    assert report.ok, report.reason
    assert report.root == "0x" + root.hex()


def test_verify_refuses_a_log_that_credited_a_plain_deposit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator running a core without the check credits itself: the replay does not."""
    directory = tmp_path / "n"
    node = open_node(directory, GenesisConfig(chain_settled=True))
    node.produce_block(force=True)
    honest = engine._HANDLERS[Deposit]

    def credit_anyway(state: State, tx: Deposit) -> Any:
        state.chain_settled = False
        try:
            return honest(state, tx)
        finally:
            state.chain_settled = True

    monkeypatch.setitem(engine._HANDLERS, Deposit, credit_anyway)
    receipt = send(node, OPERATOR, Deposit(dev_address("operator"), 0, "USDC", usd("1000000")), 1)
    assert receipt["status"] == "applied"
    forged_height = node.height
    node.produce_block(force=True)
    node.close()
    monkeypatch.undo()
    report = verify(directory, workers=0)
    assert report.first_bad == forged_height
    assert "root" in report.reason


def _old_pickle(state: State) -> bytes:
    """A State pickled as a version without ``chain_settled`` wrote it."""

    class Before(pickle.Pickler):
        def reducer_override(self, obj: object) -> object:
            if type(obj) is State:
                slots = {f.name: getattr(obj, f.name) for f in fields(State) if f.name != "chain_settled"}
                return copyreg.__newobj__, (State,), (None, slots)
            return NotImplemented

    buffer = io.BytesIO()
    Before(buffer, protocol=5).dump(state)
    return buffer.getvalue()


def _write_as_before_the_field(directory: Path) -> None:
    """Rewrite a log as a node without ``chain_settled`` wrote it: the genesis record and block
    without the field (digests chained again), every snapshot's state pickled without it."""
    db = sqlite3.connect(directory / DB_NAME)
    (meta,) = db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
    genesis = json.loads(meta)
    assert genesis.pop("chain_settled") is False
    db.execute("UPDATE meta SET value = ? WHERE key = 'genesis'", (json.dumps(genesis, sort_keys=True),))
    rows = db.execute("SELECT height, body, root, withdrawals_root FROM blocks ORDER BY height").fetchall()
    previous = bytes(32)
    for height, body, root, wroot in rows:
        written = body
        if height == 0:
            block = json.loads(body)
            del block["genesis"]["chain_settled"]
            written = json.dumps(block, sort_keys=True, separators=(",", ":")).encode()
        digest = chain_digest(previous, height, written, root, wroot)
        db.execute("UPDATE blocks SET body = ?, digest = ? WHERE height = ?", (written, digest, height))
        previous = digest
    for height, blob in db.execute("SELECT height, state FROM snapshots").fetchall():
        old = _old_pickle(pickle.loads(blob))
        db.execute("UPDATE snapshots SET state = ? WHERE height = ?", (old, height))
    db.commit()
    db.close()


def test_a_log_written_before_the_field_opens_and_verifies_with_the_same_roots(tmp_path: Path) -> None:
    directory = tmp_path / "n"
    node = open_node(directory, GenesisConfig())
    # The global leaf of an unsettled state is the one written before the field existed.
    before = word(GLOBAL) + record_hash([getattr(node.state, f) for f in FIELDS_BEFORE])
    assert leaf_encoding(node.state, (GLOBAL, "", 0)) == before
    assert send(node, OPERATOR, Deposit(A, 0, "USDC", usd("1000")), 1)["status"] == "applied"
    assert send(node, ALICE, Withdraw(A, 0, "USDC", usd("1")), 1)["status"] == "applied"
    for _ in range(5):
        node.produce_block(force=True)
    height, root = node.height, node.root()
    node.close()
    _write_as_before_the_field(directory)
    assert b"chain_settled" not in (directory / DB_NAME).read_bytes()
    report = verify(directory, workers=0)
    assert report.ok, report.reason
    node = open_node(directory, None)
    assert node.genesis == GenesisConfig() and not node.state.chain_settled
    assert (node.height, node.root()) == (height, root)
    assert send(node, OPERATOR, Deposit(A, 0, "USDC", 1), 2)["status"] == "applied"  # not settled
    node.close()
    assert verify(directory, workers=0).ok
