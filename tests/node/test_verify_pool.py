"""
``verify`` with its signature checks in worker processes reports what the serial replay reports.

A log of a few blocks of trades is verified serially (``workers=0``) and with the checks ahead
of the replay in processes and threads (one block per task, or several): the same blocks,
transactions and root. A block whose signature was tampered with, whose signer was swapped or
whose domain was changed (its digests made again, so only the replay can find it) is the first
bad block either way, with the same reason; so it is when the pool fails. Blocks the workers
confirmed are applied trusting the logged signers, and only those.
"""

import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from solvent.core.tx import Deposit, PlaceOrder, PriceReport, Tx
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node import verify as verify_module
from solvent.node.chain import sign_submission
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.log import DB_NAME, chain_digest
from solvent.node.node import Node, NodeConfig
from solvent.node.verifier import Verifier
from solvent.node.verify import VerifyReport, verify

ALICE, BOB, OPERATOR = dev_key("alice"), dev_key("bob"), dev_key("operator")
A, B = dev_address("alice"), dev_address("bob")
BLOCKS = 8  # of trades, after the deposits and the prices


def make_log(directory: Path) -> None:
    clock = [GenesisConfig().time]
    node = Node(directory, GenesisConfig(), NodeConfig(clock=lambda: clock[0]))
    nonces: dict[bytes, int] = {}

    def block(*txs: tuple[bytes, Tx]) -> None:
        clock[0] += 1
        futures = []
        for key, tx in txs:
            nonces[key] = nonces.get(key, 0) + 1
            futures.append(node.submit(sign_submission(key, node.domain, tx, nonces[key])))
        node.produce_block(force=True)
        assert all(f.result(timeout=5).status == "applied" for f in futures)

    block(*[(OPERATOR, Deposit(owner, 0, "USDC", usd("100000"))) for owner in (A, B)])
    reporters = [f"btc-reporter-{i}" for i in (1, 2, 3)]
    block(*[(dev_key(r), PriceReport(dev_address(r), "BTC", usd("100000"), clock[0] + 1)) for r in reporters])
    for i in range(BLOCKS):
        price = usd(str(99_000 + 10 * i))
        size = SIZE_ONE // 100
        block(
            (ALICE, PlaceOrder(A, 0, "BTC-PERP", True, size, price)),
            (BOB, PlaceOrder(B, 0, "BTC-PERP", False, size, price)),
            (ALICE, PlaceOrder(A, 0, "BTC-PERP", True, size, price - usd("100"))),
        )
    node.close()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("verify") / "node"
    make_log(directory)
    return directory


def tamper(source: Path, target: Path, height: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Copy the log with the first transaction of block ``height`` changed, and every digest from
    that block on made again: only replaying the block can tell."""
    target.mkdir()
    with sqlite3.connect(source / DB_NAME) as db, sqlite3.connect(target / DB_NAME) as copy:
        db.backup(copy)
    db = sqlite3.connect(target / DB_NAME)
    rows = db.execute("SELECT height, body, root, withdrawals_root FROM blocks ORDER BY height").fetchall()
    previous = bytes(32)
    for h, logged, root, withdrawals_root in rows:
        body = logged
        if h == height:
            block = json.loads(logged)
            change(block["txs"][0])
            body = json.dumps(block, sort_keys=True, separators=(",", ":")).encode()
        digest = chain_digest(previous, h, body, root, withdrawals_root)
        db.execute("UPDATE blocks SET body = ?, digest = ? WHERE height = ?", (body, digest, h))
        previous = digest
    db.commit()
    db.close()


def flip_signature(tx: dict[str, Any]) -> None:
    signature = bytes.fromhex(tx["signature"][2:])
    tx["signature"] = "0x" + (signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]).hex()


def swap_signer(tx: dict[str, Any]) -> None:
    tx["signer"] = B if tx["signer"] != B else A


def other_chain(tx: dict[str, Any]) -> None:
    tx["chain_id"] = 1


def same(a: VerifyReport, b: VerifyReport) -> bool:
    """The same report but for the time taken."""
    fields = ("blocks", "txs", "root", "first_bad", "reason")
    return all(getattr(a, name) == getattr(b, name) for name in fields)


POOLS = [("process", 2), ("process", 1), ("thread", 2)]


@pytest.mark.parametrize(("kind", "workers"), POOLS)
@pytest.mark.parametrize("group_bytes", [1, verify_module.GROUP_BYTES])
def test_the_pool_verifies_as_the_serial_replay(
    log: Path, kind: Any, workers: int, group_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_module, "GROUP_BYTES", group_bytes)
    serial = verify(log, workers=0)
    assert serial.ok and serial.blocks == BLOCKS + 3 and serial.txs == 3 * BLOCKS + 5
    heights: list[int] = []
    pooled = verify(log, heights.append, workers=workers, kind=kind, pool_above=0)
    assert same(pooled, serial) and heights == list(range(BLOCKS + 3))


def test_confirmed_blocks_and_only_those_trust_the_logged_signers(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[tuple[int, bool]] = []
    apply_block = verify_module.apply_block

    def spy(state: Any, tree: Any, block: dict[str, Any], domain: Any, check_signatures: bool) -> Any:
        checked.append((block["height"], check_signatures))
        return apply_block(state, tree, block, domain, check_signatures)

    monkeypatch.setattr(verify_module, "apply_block", spy)
    assert verify(log, workers=2, pool_above=0).ok
    assert checked == [(h, False) for h in range(1, BLOCKS + 3)]
    checked.clear()
    assert verify(log, workers=0).ok
    assert checked == [(h, True) for h in range(1, BLOCKS + 3)]
    checked.clear()
    assert verify(log).ok  # a log this small is checked serially: the workers would start later
    assert checked == [(h, True) for h in range(1, BLOCKS + 3)]
    checked.clear()
    bad = tmp_path / "bad"
    tamper(log, bad, 5, flip_signature)
    assert verify(bad, workers=2, pool_above=0).first_bad == 5
    assert checked == [(h, False) for h in range(1, 5)] + [(5, True)]


@pytest.mark.parametrize("change", [flip_signature, swap_signer, other_chain])
@pytest.mark.parametrize(("kind", "workers"), POOLS)
def test_a_tampered_block_is_the_first_bad_one_either_way(
    log: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None], kind: Any, workers: int
) -> None:
    bad = tmp_path / "bad"
    tamper(log, bad, 6, change)
    serial = verify(bad, workers=0)
    assert serial.first_bad == 6 and serial.blocks == 6
    why = "signed for another domain" if change is other_chain else "the signature is not"
    assert serial.reason.startswith(f"replay failed: block 6 tx 0: {why}")
    pooled = verify(bad, workers=workers, kind=kind, pool_above=0)
    assert same(pooled, serial)


def test_a_failing_pool_leaves_the_checks_to_the_replay(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Verifier, bodies: Sequence[bytes]) -> "Future[list[bool]]":
        failed: Future[list[bool]] = Future()
        failed.set_exception(RuntimeError("a worker was killed"))
        return failed

    monkeypatch.setattr(Verifier, "submit_logged", broken)
    assert same(verify(log, workers=2, pool_above=0), verify(log, workers=0))
    bad = tmp_path / "bad"
    tamper(log, bad, 4, flip_signature)
    report = verify(bad, workers=2, pool_above=0)
    assert report.first_bad == 4 and same(report, verify(bad, workers=0))
