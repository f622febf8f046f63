"""
``solvent verify DATA_DIR``: re-execute a node's whole log as an independent party.

Introduction
------------
``verify`` trusts nothing the node computed. From the genesis record alone
it rebuilds the genesis state, then replays every block: each signature is
recovered again (and must give the logged signer), each transaction goes
through ``engine.apply``, and the state root after each block must equal the
logged one. It reports the first block whose root differs (or whose
transactions do not replay), or that all match, with the number of blocks
and transactions and the time taken. It reads the database read-only and
never writes to it.
"""

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from solvent.node.chain import ReplayMismatch, apply_block
from solvent.node.genesis import GenesisConfig, genesis_state
from solvent.node.log import DB_NAME, CorruptLog, chain_digest
from solvent.node.state_root import StateTree


@dataclass(frozen=True, slots=True)
class VerifyReport:
    blocks: int
    txs: int
    seconds: float
    root: str  # the last root, hex
    first_bad: int | None  # the first block that differs; None: all match
    reason: str

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify(directory: str | Path, progress: object = None) -> VerifyReport:
    """Replay the log of ``directory`` from genesis; compare every root."""
    path = Path(directory) / DB_NAME
    if not path.exists():
        raise FileNotFoundError(f"no Solvent log at {path}")
    started = time.perf_counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
        if row is None:
            raise CorruptLog(f"{path} has no genesis record")
        config = GenesisConfig.from_json(json.loads(row[0]))
        state = genesis_state(config)
        tree = StateTree.build(state)
        previous = bytes(32)
        blocks = txs = 0
        root = tree.root()
        rows = db.execute("SELECT height, body, root, digest FROM blocks ORDER BY height")
        for height, body, logged_root, digest in rows:
            if height != blocks:
                return _report(blocks, txs, started, root, height, f"block {blocks} is missing")
            if chain_digest(previous, height, body, logged_root) != digest:
                return _report(blocks, txs, started, root, height, "the block does not match its digest")
            previous = digest
            block = json.loads(body)
            if height > 0:
                try:
                    result = apply_block(state, tree, block, config.domain, check_signatures=True)
                except (ReplayMismatch, Exception) as error:
                    return _report(blocks, txs, started, root, height, f"replay failed: {error}")
                root = result.root
                txs += len(block["txs"])
            if root != logged_root:
                return _report(
                    blocks,
                    txs,
                    started,
                    root,
                    height,
                    f"root 0x{root.hex()} differs from the logged 0x{logged_root.hex()}",
                )
            blocks += 1
            if callable(progress):
                progress(height)
        return _report(blocks, txs, started, root, None, "every root matches")
    finally:
        db.close()


def _report(blocks: int, txs: int, started: float, root: bytes, bad: int | None, reason: str) -> VerifyReport:
    return VerifyReport(blocks, txs, time.perf_counter() - started, "0x" + root.hex(), bad, reason)
