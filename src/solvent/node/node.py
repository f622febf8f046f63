"""
The node: a mempool, a sequencer that makes blocks, the durable log and restart.

Introduction
------------
``Node.submit`` checks a submission's domain and signature (``node.chain``)
and queues it; the returned future resolves to its ``Receipt`` once the
block holding it is durable. ``produce_block`` (called every
``block_interval_s`` by ``start``'s thread, or directly by tests and tools):

1. sets the block time (``SetTime``: the node clock in whole seconds, never
   backwards), then applies each queued submission as a ``Signed`` envelope
   through ``engine.apply``. A submission whose envelope the core refuses
   (nonce used, unauthorised, expired) changed nothing and is left out of
   the block; its future resolves at once with the refusal;
2. updates the state root (``node.state_root``), appends the block to the
   log and fsyncs it (``node.log``): one fsync for the whole block;
3. only then resolves the futures of the block's transactions and tells
   the listeners (the API's streams) about the block.

A client-chosen ``idempotency_key`` makes a retry safe: a second submission
from the same signer with the same key gets the first one's receipt
(the key is kept in the log, so this holds across restarts).

**Restart.** Opening a directory that has blocks checks every block's
digest (``CorruptLog`` on any change), loads the latest snapshot (or
rebuilds the genesis state), and replays the later blocks, comparing each
root with the logged one; a mismatch stops the node (``RootMismatch``).
Snapshots are written every ``snapshot_every`` blocks.

Threads: one lock guards the state; ``submit`` only touches the queue, so
signature checks of many clients run while a block is being applied.
"""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.events import Event
from solvent.core.state import State
from solvent.core.tx import SetTime, Signed
from solvent.node.chain import (
    Receipt,
    ReplayMismatch,
    Submission,
    apply_block,
    block_body,
    check_submission,
    receipt_of,
    refused_receipt,
)
from solvent.node.eip712 import Domain
from solvent.node.genesis import GenesisConfig, genesis_state
from solvent.node.log import BlockLog, CorruptLog
from solvent.node.state_root import StateTree


class RootMismatch(Exception):
    """Replaying the log gave another state root than the one logged: the node stops."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    block_interval_s: float = 0.1
    max_block_txs: int = 10_000
    snapshot_every: int = 1_000
    clock: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A committed block, as listeners receive it."""

    height: int
    time: int
    root: bytes
    txs: list[Submission]  # the logged transactions
    receipts: list[Receipt]
    events: list[Event]  # the block's events in order (SetTime's first)


@dataclass(slots=True)
class _Pending:
    submission: Submission
    signer: str
    future: "Future[Receipt]"


@dataclass(slots=True)
class RestartReport:
    height: int  # last block
    snapshot: int | None  # height of the snapshot restored (None: genesis)
    replayed: int  # blocks replayed after it
    torn_bytes: int  # bytes of a torn WAL tail dropped (an unacknowledged block)
    seconds: float


class Node:
    """One sequencer over one data directory."""

    def __init__(
        self,
        directory: str | Path,
        genesis: GenesisConfig | None = None,
        config: NodeConfig | None = None,
    ) -> None:
        self.config = config or NodeConfig()
        self.directory = Path(directory)
        started = time.perf_counter()
        self.log = BlockLog(self.directory)
        height = self.log.check()
        stored = self.log.meta()
        if stored is None:
            if height >= 0:
                raise CorruptLog("the log has blocks but no genesis record")
            self.genesis = genesis or GenesisConfig()
            self.state, self.tree = self._create()
            snapshot = None
            replayed = 0
        else:
            self.genesis = GenesisConfig.from_json(stored)
            if genesis is not None and genesis != self.genesis:
                raise ValueError(
                    f"{self.directory} holds another venue's log ({stored}); use an empty directory"
                )
            self.state, self.tree, snapshot, replayed = self._restore()
        self.domain: Domain = self.genesis.domain
        self.height = self.log.height
        self.restart = RestartReport(
            self.height, snapshot, replayed, self.log.torn_bytes, time.perf_counter() - started
        )
        self.lock = threading.RLock()  # the state, the tree and the log
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._idempotent: dict[tuple[str, str], Future[Receipt]] = {}
        self._load_idempotency_keys()
        self.listeners: list[Callable[[BlockInfo], None]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- genesis and restart ----------------------------------------------------------

    def _create(self) -> tuple[State, StateTree]:
        state = genesis_state(self.genesis)
        tree = StateTree.build(state, commit_every=self.genesis.commit_every)
        self.log.set_meta(self.genesis.to_json())
        body = json.dumps(
            {"height": 0, "time": state.time, "genesis": self.genesis.to_json()},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        self.log.append(0, body, tree.root(), tree.withdrawals_root())
        self.log.save_snapshot(0, state, tree.layout(), tree.root())
        return state, tree

    def _restore(self) -> tuple[State, StateTree, int | None, int]:
        snapshot = self.log.latest_snapshot()
        if snapshot is None:
            state = genesis_state(self.genesis)
            tree = StateTree.build(state, commit_every=self.genesis.commit_every)
            start = 0
            first = self.log.block(0)
            if first is None or first.root != tree.root():
                raise RootMismatch("the genesis block's root is not this venue's genesis root")
        else:
            start, state, layout, root = snapshot
            tree = StateTree.build(state, layout, height=start, commit_every=self.genesis.commit_every)
            if tree.root() != root:
                raise RootMismatch(f"snapshot {start} does not hash to its logged root")
        replayed = 0
        for record in self.log.blocks(start + 1):
            try:
                result = apply_block(state, tree, record.json(), self.genesis.domain, check_signatures=False)
            except ReplayMismatch as error:
                raise RootMismatch(str(error)) from None
            if result.root != record.root:
                raise RootMismatch(
                    f"block {record.height} replays to root 0x{result.root.hex()}, the log says "
                    f"0x{record.root.hex()}: this build of Solvent does not reproduce the log; "
                    "run `solvent verify` and report it"
                )
            if record.withdrawals_root is not None and result.withdrawals_root != record.withdrawals_root:
                raise RootMismatch(
                    f"block {record.height} replays to withdrawals root 0x{result.withdrawals_root.hex()}, "
                    f"the log says 0x{record.withdrawals_root.hex()}; run `solvent verify` and report it"
                )
            replayed += 1
        return state, tree, (start if snapshot is not None else None), replayed

    def _load_idempotency_keys(self) -> None:
        for record in self.log.blocks(1):
            body = record.json()
            for index, obj in enumerate(body["txs"]):
                key = obj.get("idempotency_key")
                if key is not None:
                    future: Future[Receipt] = Future()
                    future.set_result(Receipt("applied", record.height, index, []))
                    self._idempotent[(obj["signer"], key)] = future

    # --- submitting -------------------------------------------------------------------

    def submit(self, submission: Submission) -> "Future[Receipt]":
        """Check the signature and queue the submission; the future resolves when it is durable
        (or refused). Raises ``ProtocolError`` for a wrong domain or a bad signature."""
        signer = check_submission(self.domain, submission)
        return self.submit_checked([(submission, signer)])[0]

    def submit_checked(self, checked: list[tuple[Submission, str]]) -> list["Future[Receipt]"]:
        """Queue submissions whose signatures are already checked, one future each (as ``submit``).

        Each pair is ``(submission, signer)`` as ``node.verifier`` returns it: ``check_submission``
        accepted the submission in this node's domain and recovered ``signer``. Nothing is
        checked again here; the caller vouches for it. Idempotency keys work as in ``submit``.
        """
        futures: list[Future[Receipt]] = []
        with self._queue_lock:
            for submission, signer in checked:
                future: Future[Receipt] = Future()
                key = submission.idempotency_key
                if key is not None:
                    earlier = self._idempotent.get((signer, key))
                    if earlier is not None:
                        futures.append(earlier)
                        continue
                    self._idempotent[(signer, key)] = future
                self._queue.append(_Pending(submission, signer, future))
                futures.append(future)
        return futures

    def pending(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    # --- sequencing -------------------------------------------------------------------

    def produce_block(self, force: bool = False) -> BlockInfo | None:
        """Make one block of the queued submissions; None when there was nothing to do
        (no submission and the clock has not moved a second), unless ``force``."""
        with self._queue_lock:
            batch = self._queue[: self.config.max_block_txs]
            del self._queue[: len(batch)]
        with self.lock:
            now = max(self.state.time, int(self.config.clock()))
            if not batch and now == self.state.time and not force:
                return None
            height = self.height + 1
            state = self.state
            events = apply(state, SetTime(now))
            included: list[tuple[_Pending, Receipt]] = []
            txs: list[Submission] = []
            signers: set[str] = set()
            for pending in batch:
                sub = pending.submission
                try:
                    tx_events = apply(state, Signed(pending.signer, sub.nonce, sub.expires, sub.payload))
                except ProtocolError as error:
                    pending.future.set_result(refused_receipt(error))
                    self._forget(pending)
                    continue
                receipt = receipt_of(tx_events, height, len(txs))
                txs.append(sub)
                events += tx_events
                signers.add(pending.signer)
                included.append((pending, receipt))
            root = self.tree.after_block(state, events, signers, height)
            withdrawals_root = self.tree.withdrawals_root()
            body = block_body(height, now, [sub.log_text() for sub in txs])
            self.log.append(height, body, root, withdrawals_root)  # durable from here
            self.height = height
            if height % self.config.snapshot_every == 0:
                self.log.save_snapshot(height, state, self.tree.layout(), root)
        for pending, receipt in included:
            pending.future.set_result(receipt)
        info = BlockInfo(height, now, root, txs, [r for _, r in included], events)
        for listener in list(self.listeners):
            listener(info)
        return info

    def produce_to_commit_height(self) -> int:
        """Cut blocks (empty unless submissions are queued) until the height is a commit height
        (a multiple of the genesis ``commit_every``, none if it is one); return it. What an idle
        node on the wall clock reaches within ``commit_every`` seconds, at once."""
        while self.height % self.genesis.commit_every:
            self.produce_block(force=True)
        return self.height

    def _forget(self, pending: _Pending) -> None:
        key = pending.submission.idempotency_key
        if key is not None:
            with self._queue_lock:
                if self._idempotent.get((pending.signer, key)) is pending.future:
                    del self._idempotent[(pending.signer, key)]

    # --- the sequencer thread ---------------------------------------------------------

    def start(self) -> None:
        """Produce a block every ``block_interval_s`` in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="solvent-sequencer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.config.block_interval_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += interval
            self.produce_block()
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.log.close()

    # --- reading ----------------------------------------------------------------------

    def snapshot_now(self) -> None:
        """Write a snapshot of the current height."""
        with self.lock:
            self.log.save_snapshot(self.height, self.state, self.tree.layout(), self.tree.root())

    def root(self) -> bytes:
        with self.lock:
            return self.tree.root()


def wait_all(futures: list["Future[Receipt]"], timeout: float | None = None) -> list[Receipt]:
    return [f.result(timeout) for f in futures]
