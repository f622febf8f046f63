"""
``solvent verify DATA_DIR``: re-execute a node's whole log as an independent party.

Introduction
------------
``verify`` trusts nothing the node computed. From the genesis record alone
it rebuilds the genesis state, then replays every block: each signature is
recovered again (and must give the logged signer), each transaction goes
through ``engine.apply``, and the state root and the withdrawals root after
each block must equal the logged ones. It reports the first block whose root differs (or whose
transactions do not replay), or that all match, with the number of blocks
and transactions and the time taken. It reads the database read-only and
never writes to it.

Signatures in parallel
----------------------
Recovering the signatures is most of the work (a serial replay spends half
of its time or more on it), so ``workers`` processes (``node.verifier``)
check the blocks ahead of the replay: while block N is applied, the blocks
after it are being checked. A block every one of whose submissions a worker
confirmed to recover, in the log's domain, to its logged signer is applied
trusting the logged signers (``apply_block(..., check_signatures=False)``);
any other block is applied checking each signature in turn, as the serial
replay does, so a bad block is reported with the same reason either way.
``workers=0`` (or ``kind="inline"``) is the serial replay, and so is a log
of less than ``pool_above`` bytes of blocks, which is checked sooner than
the workers start.
"""

import json
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from solvent.core.state import State
from solvent.node.chain import ReplayMismatch, apply_block
from solvent.node.genesis import GenesisConfig, genesis_state
from solvent.node.log import DB_NAME, CorruptLog, chain_digest
from solvent.node.state_root import StateTree
from solvent.node.verifier import Kind, Verifier

# Starting two workers takes ~0.3 s, the serial checks of ~1 MB of blocks (~2,000 submissions) about
# as long.
POOL_ABOVE_BYTES = 1 << 20
# Blocks are sent to the workers in groups of at least this many bytes (~150 submissions): a task
# costs the replaying process ~300 µs whatever its size, and a block may hold a single submission.
GROUP_BYTES = 64 << 10

Row = tuple[int, bytes, bytes, bytes, bytes | None]  # height, body, root, digest, withdrawals root


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


def verify(
    directory: str | Path,
    progress: Callable[[int], object] | None = None,
    workers: int = 2,
    kind: Kind = "process",
    pool_above: int = POOL_ABOVE_BYTES,
) -> VerifyReport:
    """Replay the log of ``directory`` from genesis; compare every root. ``progress`` is called
    with each height replayed; ``workers`` processes check signatures ahead (0: none)."""
    return replay(directory, None, progress, workers, kind, pool_above).report


@dataclass
class Replay:
    """A replay's report, and the state and trees it reached (at ``until``, or the log's end)."""

    report: VerifyReport
    state: State
    tree: StateTree


def replay(
    directory: str | Path,
    until: int | None = None,
    progress: Callable[[int], object] | None = None,
    workers: int = 2,
    kind: Kind = "process",
    pool_above: int = POOL_ABOVE_BYTES,
) -> Replay:
    """``verify`` up to height ``until`` (None: the whole log), keeping what it rebuilt: the state
    and trees of that height, whose checkpoint is the last commit height at or below it, hence
    the proofs a user needs against a root on chain, without the node (``chain.escape``)."""
    path = Path(directory) / DB_NAME
    if not path.exists():
        raise FileNotFoundError(f"no Solvent log at {path}")
    started = time.perf_counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    verifier: Verifier | None = None
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
        if row is None:
            raise CorruptLog(f"{path} has no genesis record")
        config = GenesisConfig.from_json(json.loads(row[0]))
        if workers > 0 and kind != "inline":
            (size,) = db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM blocks").fetchone()
            if size >= pool_above:
                verifier = Verifier(config.domain, workers, kind)
        state = genesis_state(config)
        tree = StateTree.build(state, commit_every=config.commit_every)
        previous = bytes(32)
        blocks = txs = 0
        root = tree.root()
        columns = {row[1] for row in db.execute("PRAGMA table_info(blocks)")}
        wcol = "withdrawals_root" if "withdrawals_root" in columns else "NULL"
        last = -1 if until is None else until
        rows = db.execute(
            f"SELECT height, body, root, digest, {wcol} FROM blocks"
            " WHERE ? < 0 OR height <= ? ORDER BY height",
            (last, last),
        )
        withdrawals_root = tree.withdrawals_root()
        for (height, body, logged_root, digest, logged_wroot), confirmed in _checked_ahead(rows, verifier):
            if height != blocks:
                return Replay(
                    _report(blocks, txs, started, root, height, f"block {blocks} is missing"), state, tree
                )
            if chain_digest(previous, height, body, logged_root, logged_wroot) != digest:
                reason = "the block does not match its digest"
                return Replay(_report(blocks, txs, started, root, height, reason), state, tree)
            previous = digest
            block = json.loads(body)
            if height > 0:
                try:
                    result = apply_block(state, tree, block, config.domain, check_signatures=not confirmed)
                except (ReplayMismatch, Exception) as error:
                    reason = f"replay failed: {error}"
                    return Replay(_report(blocks, txs, started, root, height, reason), state, tree)
                root = result.root
                withdrawals_root = result.withdrawals_root
                txs += len(block["txs"])
            # A log of schema 1 has no withdrawals root (None): nothing to compare it with.
            for what, ours, logged in (
                ("root", root, logged_root),
                ("withdrawals root", withdrawals_root, logged_wroot),
            ):
                if logged is not None and ours != logged:
                    reason = f"{what} 0x{ours.hex()} differs from the logged 0x{logged.hex()}"
                    return Replay(_report(blocks, txs, started, root, height, reason), state, tree)
            blocks += 1
            if progress is not None:
                progress(height)
        if until is not None and blocks <= until:
            reason = f"the log ends at height {blocks - 1}, below {until}"
            return Replay(_report(blocks, txs, started, root, blocks, reason), state, tree)
        return Replay(_report(blocks, txs, started, root, None, "every root matches"), state, tree)
    finally:
        if verifier is not None:
            verifier.close()
        db.close()


def _checked_ahead(rows: Iterator[Row], verifier: Verifier | None) -> Iterator[tuple[Row, bool]]:
    """Each row in order, with True if a worker confirmed every signature in it; the groups of
    rows after the one being yielded are checked meanwhile (False for all without a verifier)."""
    if verifier is None:
        for row in rows:
            yield row, False
        return
    window = 2 * verifier.workers + 1  # every worker busy, and the next groups read already
    in_flight: deque[tuple[list[Row], Future[list[bool]]]] = deque()
    exhausted = False
    while True:
        while not exhausted and len(in_flight) < window:
            group: list[Row] = []
            size = 0
            for row in rows:
                group.append(row)
                size += len(row[1])
                if size >= GROUP_BYTES:
                    break
            else:
                exhausted = True
            if group:
                in_flight.append((group, verifier.submit_logged([body for _, body, _, _, _ in group])))
        if not in_flight:
            return
        group, future = in_flight.popleft()
        try:
            verdicts = future.result()
        except Exception:  # a worker died: the replay checks these blocks itself, as it would
            verdicts = [False] * len(group)
        yield from zip(group, verdicts, strict=True)


def _report(blocks: int, txs: int, started: float, root: bytes, bad: int | None, reason: str) -> VerifyReport:
    return VerifyReport(blocks, txs, time.perf_counter() - started, "0x" + root.hex(), bad, reason)
