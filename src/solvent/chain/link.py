"""
The node's link to its vault: the chain watcher and the committer.

Introduction
------------
``ChainWatcher`` reads the vault's ``Deposited`` and
``ForcedWithdrawalRequested`` events and turns them into the operator's
``ChainDeposit`` and ``ForcedWithdrawal`` transactions, signed with the
operator key and submitted to the node like any other. ``ChainCommitter``
posts the roots of the node's log to ``Vault.commit`` with the sequencer key.
``ChainLink`` runs both in one background thread next to the sequencer.

**Exactly once, across restarts.** The watcher keeps no durable cursor of
its own: the node's state does. ``State.deposits_credited`` and
``State.forced_served`` (restored from the log on restart, like every
other field) say which ids are done, and the watcher submits ids from there,
in order. A watcher that starts again scans the vault's events from its
deployment block and skips every id below the cursors; if two submissions of
one id ever raced, the core refuses the second (``DepositAlreadyCredited``,
``ForcedOutOfOrder``), so nothing is credited twice in any case. Ids are
submitted again only once every earlier submission has resolved: a refused
envelope (say a nonce) is retried, an applied one is not.

**Provenance.** Each ``ChainDeposit`` carries the hash of the block holding
its event: anyone can fetch that block and check the credit. The watcher
reads only blocks at least ``confirmations`` deep (0 on a development chain;
the depth after which the chain in use does not reorganise, on a real one):
a credit is not undone if its block later leaves the chain.

**Commitments.** The committer sends ``node.committer.next_commitment``: the
latest commit height of the log (a multiple of the genesis
``commit_every``, the K of the issue) above the vault's ``last_height()``,
skipping any it missed (a later root subsumes them). A node on a wall clock
cuts a block at least every second, so a commit height comes at least every
K seconds, well inside a forced-withdrawal window. Nothing is sent once the
vault is frozen.

Both poll: ``poll()`` does one round (tests call it between blocks), the
link's thread calls them every ``interval`` seconds. Errors of the RPC are
counted and retried on the next round, never fatal to the node.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3Exception

from solvent.chain.client import ChainError, DepositEvent, ForcedRequest, VaultClient
from solvent.core.tx import ChainDeposit, ForcedWithdrawal, Tx
from solvent.node.chain import Receipt, sign_submission
from solvent.node.committer import Commitment, next_commitment
from solvent.node.eip712 import address_of_key
from solvent.node.node import Node


@dataclass
class WatchReport:
    """What one round of the watcher did."""

    scanned_to: int  # the last block read (-1: none yet)
    deposits: int = 0  # ChainDeposit submitted this round
    requests: int = 0  # ForcedWithdrawal submitted this round


class ChainWatcher:
    """Turns the vault's events into the operator's transactions, each id once, in order."""

    def __init__(
        self,
        node: Node,
        vault: VaultClient,
        operator_key: bytes,
        confirmations: int = 0,
        start_block: int | None = None,
    ) -> None:
        if address_of_key(operator_key) != node.genesis.operator:
            raise ValueError("the watcher signs with the node's operator key; this key is another")
        self.node = node
        self.vault = vault
        self.key = operator_key
        self.confirmations = confirmations
        if start_block is None:
            start_block = vault.start_block or vault.deployed_at_block()
        vault.start_block = start_block
        self.next_block = start_block
        self.scanned_to = self.next_block - 1
        self._deposits: dict[int, DepositEvent] = {}
        self._requests: dict[int, ForcedRequest] = {}
        self._in_flight: list[Future[Receipt]] = []
        self._sent_deposits = 0  # ids below it were submitted (meaningful while in flight)
        self._sent_requests = 0
        self._nonce = 0

    def poll(self) -> WatchReport:
        """Read the new confirmed blocks and submit what the node has not done yet."""
        head = int(self.vault.w3.eth.block_number) - self.confirmations
        if head >= self.next_block:
            for deposit in self.vault.deposits(self.next_block, head):
                self._deposits[deposit.deposit_id] = deposit
            for request in self.vault.forced_requests(self.next_block, head):
                self._requests[request.request_id] = request
            self.next_block = head + 1
            self.scanned_to = head
        with self.node.lock:
            credited = self.node.state.deposits_credited
            served = self.node.state.forced_served
            window = self.node.state.nonces.get(self.node.genesis.operator)
            high = window.high if window is not None else 0
        self._in_flight = [f for f in self._in_flight if not f.done()]
        if not self._in_flight:  # everything submitted has resolved: the state is the truth
            self._sent_deposits, self._sent_requests = credited, served
        self._sent_deposits = max(self._sent_deposits, credited)
        self._sent_requests = max(self._sent_requests, served)
        for done in [i for i in self._deposits if i < credited]:
            del self._deposits[done]
        for done in [i for i in self._requests if i < served]:
            del self._requests[done]
        self._nonce = max(self._nonce, high)
        report = WatchReport(self.scanned_to)
        while self._sent_deposits in self._deposits:
            self._submit(_credit(self._deposits[self._sent_deposits], self.vault))
            self._sent_deposits += 1
            report.deposits += 1
        while self._sent_requests in self._requests:
            tx = _serve(self._requests[self._sent_requests], self.vault)
            if tx is None:  # an asset the vault never listed: cannot happen, the vault refuses it
                break
            self._submit(tx)
            self._sent_requests += 1
            report.requests += 1
        return report

    def _submit(self, tx: Tx) -> None:
        self._nonce += 1
        submission = sign_submission(self.key, self.node.domain, tx, self._nonce)
        self._in_flight.append(self.node.submit(submission))

    def pending(self) -> int:
        """Ids seen on chain and not yet done by the node."""
        return len(self._deposits) + len(self._requests)


def _credit(deposit: DepositEvent, vault: VaultClient) -> ChainDeposit:
    # An asset the node does not list is credited under the vault's symbol and bounced by the
    # core back to the depositor as a withdrawal (docs/settlement.md).
    symbol = vault.symbol_of(deposit.asset) or "0x" + deposit.asset.hex()
    return ChainDeposit(
        deposit.deposit_id,
        deposit.block_hash,
        deposit.owner,
        deposit.subaccount,
        symbol,
        deposit.amount,
    )


def _serve(request: ForcedRequest, vault: VaultClient) -> ForcedWithdrawal | None:
    symbol = vault.symbol_of(request.asset)
    if symbol is None:
        return None
    return ForcedWithdrawal(request.request_id, request.owner, request.subaccount, symbol, request.amount)


class ChainCommitter:
    """Posts the log's latest commit height above the vault's last one."""

    def __init__(self, node: Node, vault: VaultClient, sequencer: LocalAccount) -> None:
        self.node = node
        self.vault = vault
        self.sequencer = sequencer
        self.sent: list[Commitment] = []

    def poll(self) -> Commitment | None:
        """Send one commitment if the log has a newer commit height; return it."""
        if self.vault.frozen():
            return None
        last = self.vault.last_height()
        with self.node.lock:
            commitment = next_commitment(self.node.log, self.node.genesis.commit_every, last)
        if commitment is None:
            return None
        self.vault.commit(self.sequencer, *commitment.args())
        self.sent.append(commitment)
        return commitment


@dataclass
class LinkStats:
    rounds: int = 0
    deposits: int = 0
    requests: int = 0
    commitments: int = 0
    errors: int = 0
    last_error: str = ""


class ChainLink:
    """The watcher and the committer in one background thread."""

    def __init__(
        self,
        watcher: ChainWatcher,
        committer: ChainCommitter | None,
        interval: float = 1.0,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self.watcher = watcher
        self.committer = committer
        self.interval = interval
        self.on_error = on_error
        self.stats = LinkStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """One round: watch, then commit; an RPC error is counted and retried next round."""
        self.stats.rounds += 1
        try:
            report = self.watcher.poll()
            self.stats.deposits += report.deposits
            self.stats.requests += report.requests
            if self.committer is not None and self.committer.poll() is not None:
                self.stats.commitments += 1
        except (ChainError, Web3Exception, OSError, ValueError) as error:
            self.stats.errors += 1
            self.stats.last_error = str(error)
            if self.on_error is not None:
                self.on_error(error)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="solvent-chain-link", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception as error:  # the link must outlive any one bad round
                self.stats.errors += 1
                self.stats.last_error = f"{type(error).__name__}: {error}"
                if self.on_error is not None:
                    self.on_error(error)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
