"""
The node's side of settlement on chain (docs/settlement.md): the withdrawals root logged with
every block, checked on restart and by ``verify``; EXIT, CURSORS and WITHDRAWAL proofs against
the roots of the last commit height, through the API and the SDK; older logs still open.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.node.clocks import TickingClock

from solvent.core.tx import ChainDeposit, ForcedWithdrawal, Tx, Withdraw
from solvent.defaults import usd
from solvent.node.api import create_app
from solvent.node.chain import sign_submission
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.keccak import keccak256
from solvent.node.log import DB_NAME, BlockLog, chain_digest
from solvent.node.merkle import EMPTY_ROOT, verify_proof
from solvent.node.node import Node, NodeConfig
from solvent.node.server import NodeServer
from solvent.node.state_root import EXIT, WITHDRAWAL, all_exits
from solvent.node.verify import verify
from solvent.sdk import Client

OPERATOR, ALICE = dev_key("operator"), dev_key("alice")
A = dev_address("alice")
BLOCK = "0x" + "cd" * 32


def open_node(directory: Path, commit_every: int = 5) -> Node:
    genesis = GenesisConfig(commit_every=commit_every)
    return Node(directory, genesis, NodeConfig(clock=TickingClock(genesis.time)))


def send(node: Node, key: bytes, tx: Tx, nonce: int) -> dict[str, Any]:
    future = node.submit(sign_submission(key, node.domain, tx, nonce))
    node.produce_block(force=True)
    return future.result(timeout=5).to_json()


def run_to_commit(node: Node) -> None:
    node.produce_to_commit_height()


def check(proof: dict[str, Any], logged_root: bytes) -> None:
    leaf = bytes.fromhex(proof["leaf"][2:])
    siblings = [bytes.fromhex(s[2:]) for s in proof["siblings"]]
    assert proof["root"] == "0x" + logged_root.hex()
    assert verify_proof(logged_root, keccak256(leaf), proof["index"], siblings)


def settle_some(node: Node) -> None:
    send(node, OPERATOR, ChainDeposit(0, BLOCK, A, 0, "USDC", usd("1000")), 1)
    send(node, ALICE, Withdraw(A, 0, "USDC", usd("300")), 1)
    send(node, OPERATOR, ForcedWithdrawal(0, A, 0, "USDC", usd("100")), 2)
    run_to_commit(node)


def test_proofs_verify_against_the_logged_roots_of_the_commit_height(tmp_path: Path) -> None:
    node = open_node(tmp_path / "n")
    settle_some(node)
    record = node.log.block(node.height)
    assert record is not None and record.withdrawals_root is not None
    assert record.withdrawals_root != EMPTY_ROOT
    client = TestClient(create_app(node))
    for withdrawal_id, amount in ((0, usd("300")), (1, usd("100"))):
        proof = client.get(f"/proofs/withdrawals/{withdrawal_id}").json()
        assert proof["height"] == node.height and proof["amount"] == amount and proof["owner"] == A
        assert int(proof["leaf"][2:66], 16) == WITHDRAWAL
        check(proof, record.withdrawals_root)
    exit_ = client.get(f"/proofs/exits/{A}/0/USDC").json()
    assert exit_["amount"] == usd("600") == all_exits(node.state)[(EXIT, f"{A}|USDC", 0)]
    assert int(exit_["leaf"][2:66], 16) == EXIT
    check(exit_, record.root)
    cursors = client.get("/proofs/cursors").json()
    assert (cursors["deposits_credited"], cursors["forced_served"]) == (1, 1)
    check(cursors, record.root)
    assert client.get("/proofs/withdrawals/2").status_code == 404
    assert client.get(f"/proofs/exits/{A}/0/ETH").status_code == 404
    # A new withdrawal is provable once a commit height contains it; proofs stay at that height.
    send(node, ALICE, Withdraw(A, 0, "USDC", usd("1")), 2)
    assert client.get("/proofs/withdrawals/2").status_code == 404
    assert client.get("/proofs/cursors").json()["height"] == record.height
    run_to_commit(node)
    later = node.log.block(node.height)
    assert later is not None and later.withdrawals_root is not None
    check(client.get("/proofs/withdrawals/0").json(), later.withdrawals_root)
    check(client.get("/proofs/withdrawals/2").json(), later.withdrawals_root)
    node.close()


def test_restart_and_verify_check_the_withdrawals_root(tmp_path: Path) -> None:
    directory = tmp_path / "n"
    node = open_node(directory)
    settle_some(node)
    node.produce_block(force=True)
    height, root, wroot = node.height, node.root(), node.tree.withdrawals_root()
    node.close()
    node = open_node(directory)
    assert (node.height, node.root(), node.tree.withdrawals_root()) == (height, root, wroot)
    assert len(node.tree.withdrawals) == 2
    node.close()
    assert verify(directory, workers=0).ok
    # Another withdrawals root, digests made again: only replay can tell.
    db = sqlite3.connect(directory / DB_NAME)
    rows = db.execute("SELECT height, body, root, withdrawals_root FROM blocks ORDER BY height").fetchall()
    previous = bytes(32)
    for h, body, state_root, logged in rows:
        wroot = keccak256(b"forged") if h == 3 else logged
        digest = chain_digest(previous, h, body, state_root, wroot)
        db.execute("UPDATE blocks SET digest = ?, withdrawals_root = ? WHERE height = ?", (digest, wroot, h))
        previous = digest
    db.commit()
    db.close()
    report = verify(directory, workers=0)
    assert report.first_bad == 3 and "withdrawals root" in report.reason
    with pytest.raises(Exception, match="withdrawals root"):
        open_node(directory)


def test_a_genesis_record_without_commit_every_loads_with_the_default() -> None:
    old = GenesisConfig().to_json()
    del old["commit_every"]
    assert GenesisConfig.from_json(json.loads(json.dumps(old))).commit_every == 10
    with pytest.raises(ValueError):
        GenesisConfig(commit_every=0)


def test_a_schema_1_log_gets_the_withdrawals_column(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(
        "CREATE TABLE blocks (height INTEGER PRIMARY KEY, body BLOB NOT NULL, root BLOB NOT NULL, "
        "digest BLOB NOT NULL)"
    )
    body, root = b'{"height":0}', bytes(32)
    db.execute("INSERT INTO blocks VALUES (0, ?, ?, ?)", (body, root, chain_digest(bytes(32), 0, body, root)))
    db.commit()
    db.close()
    log = BlockLog(tmp_path)
    assert log.check() == 0  # the old row keeps its old digest
    record = log.block(0)
    assert record is not None and record.withdrawals_root is None
    log.append(1, b'{"height":1}', root, EMPTY_ROOT)
    assert log.check() == 1
    log.close()


def test_the_sdk_reads_the_proofs(tmp_path: Path) -> None:
    genesis = GenesisConfig(commit_every=2)
    with NodeServer(tmp_path / "n", genesis, NodeConfig(block_interval_s=0.02)) as server:
        operator = Client(server.url, OPERATOR)
        operator.submit(ChainDeposit(0, BLOCK, A, 0, "USDC", usd("50")))
        alice = Client(server.url, ALICE)
        withdrawal_id = alice.submit(Withdraw(A, 0, "USDC", usd("20")))["events"][0]["withdrawal_id"]
        node = server.node
        start = node.height
        while node.tree.checkpoint is None or node.tree.checkpoint.height <= start:
            node.produce_block(force=True)
        assert alice.withdrawal_proof(withdrawal_id)["amount"] == usd("20")
        assert alice.exit_proof("USDC")["amount"] == usd("30")
        assert alice.cursors_proof()["deposits_credited"] == 1
