"""
The node's link to its vault over web3 (``solvent.chain.link``): deposits on chain credited once,
forced requests served, roots committed every K blocks, withdrawals paid by the node's proofs,
and, without the operator, freeze and exit with proofs rebuilt from a copy of the log.

The chain is the in-process devnet (eth-tester behind web3); ``test_link_over_http`` runs the
same flow through the devnet's JSON-RPC server, as against any RPC URL.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from tests.node.clocks import TickingClock
from web3 import Web3

from solvent.chain.client import ChainError, VaultClient, account, connect, deploy_test_token, mint
from solvent.chain.devnet import DevnetServer, advance_time, fund, memory_web3
from solvent.chain.escape import EscapeError, kit_at
from solvent.chain.link import ChainCommitter, ChainLink, ChainWatcher, _credit
from solvent.core.tx import ChainDeposit, Withdraw
from solvent.defaults import usd
from solvent.node.chain import sign_submission
from solvent.node.genesis import GenesisConfig, dev_key
from solvent.node.node import Node, NodeConfig
from solvent.node.state_root import cursors_proof, withdrawal_proof

ETHER = 10**18
FORCE_WINDOW = 3_600
OPERATOR_KEY = dev_key("operator")


@dataclass
class World:
    w3: Web3
    vault: VaultClient
    admin: LocalAccount
    operator: LocalAccount
    alice: LocalAccount
    bob: LocalAccount
    node: Node
    watcher: ChainWatcher
    committer: ChainCommitter
    directory: Path

    def blocks_to_commit(self) -> None:
        """Make blocks up to the next commit height (at least one)."""
        self.node.produce_block(force=True)
        self.node.produce_to_commit_height()

    def sync(self) -> None:
        """The watcher's round, the block that applies it, a commit height, the committer's round."""
        self.watcher.poll()
        self.blocks_to_commit()
        self.committer.poll()

    def withdraw(self, user: LocalAccount, amount: int, nonce: int) -> int:
        future = self.node.submit(
            sign_submission(
                user.key, self.node.domain, Withdraw(user.address.lower(), 0, "USDC", amount), nonce
            )
        )
        self.node.produce_block(force=True)
        receipt = future.result(timeout=5).to_json()
        assert receipt["status"] == "applied", receipt
        return int(next(e["withdrawal_id"] for e in receipt["events"] if e["kind"] == "Withdrawn"))


def make_world(w3: Web3, directory: Path, commit_every: int = 5) -> World:
    admin = account(dev_key("vault-admin"))
    operator = account(OPERATOR_KEY)
    alice, bob = account(dev_key("alice")), account(dev_key("bob"))
    for who in (admin, operator, alice, bob):
        fund(w3, who.address, 10 * ETHER)
    vault = VaultClient.deploy(w3, admin, operator.address, FORCE_WINDOW)
    token = deploy_test_token(w3, admin, "USDC", 6)
    vault.list_asset(admin, "USDC", token, decimals=6)
    for user in (alice, bob):
        mint(w3, admin, token, user.address, usd("1000000"))
    genesis = GenesisConfig(
        chain_id=int(w3.eth.chain_id), venue=vault.address.lower(), commit_every=commit_every
    )
    node = Node(directory, genesis, NodeConfig(clock=TickingClock(genesis.time)))
    watcher = ChainWatcher(node, vault, OPERATOR_KEY)
    return World(
        w3,
        vault,
        admin,
        operator,
        alice,
        bob,
        node,
        watcher,
        ChainCommitter(node, vault, operator),
        directory,
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(memory_web3(), tmp_path / "node")
    yield w
    w.node.close()


def balance(w: World, user: LocalAccount) -> int:
    with w.node.lock:
        acct = w.node.state.accounts.get((user.address.lower(), 0))
        return 0 if acct is None else int(acct.balances.get("USDC", 0))


def test_deposit_trade_free_withdrawal_paid_by_proof(world: World) -> None:
    w = world
    event = w.vault.deposit(w.alice, "USDC", usd("5000"))
    assert event.deposit_id == 0
    report = w.watcher.poll()
    assert report.deposits == 1
    w.blocks_to_commit()
    assert balance(w, w.alice) == usd("5000")
    with w.node.lock:
        assert w.node.state.deposits_credited == 1
    committed = w.committer.poll()
    assert committed is not None and committed.height == w.node.height
    assert w.vault.last_height() == w.node.height
    assert w.committer.poll() is None  # nothing newer to commit

    wid = w.withdraw(w.alice, usd("1200"), nonce=1)
    w.blocks_to_commit()
    w.committer.poll()
    with w.node.lock:
        proof = withdrawal_proof(w.node.tree, wid)
    assert proof is not None
    before = w.vault.balance_of("USDC", w.alice.address)
    w.vault.withdraw(w.bob, proof)  # anyone may send it; the owner is paid
    assert w.vault.balance_of("USDC", w.alice.address) == before + usd("1200")
    with pytest.raises(ChainError, match="AlreadyWithdrawn"):
        w.vault.withdraw(w.alice, proof)
    status = w.vault.status()
    assert status.assets[0].holdings == usd("3800")
    assert balance(w, w.alice) == usd("3800")


def test_watcher_credits_each_deposit_once_across_restarts(world: World, tmp_path: Path) -> None:
    w = world
    for amount in ("100", "200", "300"):
        w.vault.deposit(w.alice, "USDC", usd(amount))
    assert w.watcher.poll().deposits == 3
    assert w.watcher.poll().deposits == 0  # in flight: not sent again
    w.node.produce_block(force=True)
    assert w.watcher.poll().deposits == 0
    assert balance(w, w.alice) == usd("600")
    w.vault.deposit(w.bob, "USDC", usd("50"))
    w.node.close()

    # A new node on the same log, a new watcher scanning the whole chain from the vault's deployment.
    node = Node(w.directory, None, NodeConfig(clock=TickingClock(w.node.genesis.time + 1_000)))
    try:
        watcher = ChainWatcher(node, w.vault, OPERATOR_KEY)
        report = watcher.poll()
        assert report.deposits == 1  # only bob's, id 3
        node.produce_block(force=True)
        with node.lock:
            assert node.state.deposits_credited == 4
            assert node.state.accounts[(w.alice.address.lower(), 0)].balances["USDC"] == usd("600")
            assert node.state.accounts[(w.bob.address.lower(), 0)].balances["USDC"] == usd("50")
        # A stale watcher that believes nothing was credited submits again: the core refuses it.
        stale = ChainWatcher(node, w.vault, OPERATOR_KEY)
        stale._sent_deposits = 0  # forcing the race the cursors prevent
        stale._in_flight = [node.submit(sign_submission(OPERATOR_KEY, node.domain, _credit0(w), 10**12))]
        node.produce_block(force=True)
        receipt = stale._in_flight[0].result(timeout=5)
        assert receipt.to_json()["status"] == "refused"
        assert receipt.to_json()["error"]["error"] == "DepositAlreadyCredited"
        with node.lock:
            assert node.state.accounts[(w.alice.address.lower(), 0)].balances["USDC"] == usd("600")
    finally:
        node.close()


def _credit0(w: World) -> ChainDeposit:
    (first, *_) = w.vault.deposits(0, int(w.w3.eth.block_number))
    return _credit(first, w.vault)


def test_block_hash_is_the_provenance(world: World) -> None:
    w = world
    event = w.vault.deposit(w.alice, "USDC", usd("10"))
    w.watcher.poll()
    w.node.produce_block(force=True)
    block = w.w3.eth.get_block(event.block_number)
    assert event.block_hash == "0x" + bytes(block["hash"]).hex()
    record = w.node.log.block(w.node.height)
    assert record is not None and event.block_hash in record.body.decode()


def test_forced_withdrawal_served_and_committed_in_time(world: World) -> None:
    w = world
    w.vault.deposit(w.alice, "USDC", usd("1000"))
    w.sync()
    request = w.vault.request_forced(w.alice, "USDC", usd("400"))
    w.sync()
    with w.node.lock:
        assert w.node.state.forced_served == 1
    assert balance(w, w.alice) == usd("600")
    advance_time(w.w3, FORCE_WINDOW + 10)
    cursors = _cursors(w)
    with pytest.raises(ChainError, match="RequestServed"):
        w.vault.freeze(w.bob, request.request_id, cursors)
    assert not w.vault.frozen()


def _cursors(w: World) -> dict[str, Any] | None:
    with w.node.lock:
        return cursors_proof(w.node.tree)


def test_escape_operator_stops_users_exit_with_proofs_from_the_log(world: World) -> None:
    w = world
    w.vault.deposit(w.alice, "USDC", usd("3000"))
    w.vault.deposit(w.bob, "USDC", usd("2000"))
    w.sync()
    w.withdraw(w.alice, usd("500"), nonce=1)
    w.blocks_to_commit()
    w.committer.poll()
    final = w.vault.last_height()
    # The operator stops: it serves nothing more, commits nothing more.
    w.node.close()
    pending = w.vault.deposit(w.bob, "USDC", usd("70"))  # never credited
    request = w.vault.request_forced(w.alice, "USDC", usd("100"))
    with pytest.raises(ChainError, match="DeadlineNotPassed"):
        w.vault.freeze(w.bob, request.request_id, None)
    advance_time(w.w3, FORCE_WINDOW + 1)
    assert final is not None
    kit = kit_at(w.directory, final, w.vault.status().state_root)
    w.vault.freeze(w.bob, request.request_id, kit.cursors())
    assert w.vault.frozen()
    with pytest.raises(EscapeError, match="state root"):
        kit_at(w.directory, final, "0x" + "00" * 32)

    paid = {}
    for claim in kit.claims():
        paid[claim["owner"]] = w.vault.exit(w.bob, claim)
    assert paid == {w.alice.address.lower(): usd("2500"), w.bob.address.lower(): usd("2000")}
    # Alice's withdrawal, in the final root but never claimed, is still paid once.
    (withdrawal,) = kit.withdrawals(w.alice.address)
    w.vault.withdraw(w.bob, withdrawal)
    # Bob's deposit made after the last root is refunded, once.
    assert w.vault.refund(w.bob, pending) == usd("70")
    # P8: everything deposited is paid out, to the unit, and nothing more.
    assert w.vault.status().assets[0].holdings == 0
    assert w.vault.balance_of("USDC", w.alice.address) == usd("1000000")
    assert w.vault.balance_of("USDC", w.bob.address) == usd("1000000")
    with pytest.raises(ChainError, match="AlreadyRefunded"):
        w.vault.refund(w.bob, pending)
    with pytest.raises(ChainError, match="AlreadyExited"):
        w.vault.exit(w.alice, kit.claims(w.alice.address)[0])
    with pytest.raises(ChainError, match="Frozen"):
        w.vault.deposit(w.alice, "USDC", 1)


def test_link_over_http(tmp_path: Path) -> None:
    with DevnetServer(port=0) as server:
        w = make_world(connect(server.url), tmp_path / "node")
        try:
            link = ChainLink(w.watcher, w.committer, interval=0.05)
            w.vault.deposit(w.alice, "USDC", usd("42"))
            link.poll()
            w.blocks_to_commit()
            link.poll()
            # Genesis (height 0) is a commit height too: the first round commits it.
            assert link.stats.deposits == 1 and link.stats.commitments == 2, link.stats
            assert balance(w, w.alice) == usd("42")
            assert w.vault.last_height() == w.node.height
            with pytest.raises(ChainError, match="Unauthorized"):
                w.vault.commit(w.alice, 10**6, bytes(32), bytes(32))
        finally:
            w.node.close()
