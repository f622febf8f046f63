"""
One leaf format, two implementations: the proofs the node serves are the proofs the vault accepts.

Random node states (seeded: chain deposits for several owners, withdrawals, forced withdrawals,
blocks up to a commit height) are built by a real ``Node``; every WITHDRAWAL, EXIT and CURSORS
proof it gives (``node.state_root``, what ``/proofs/...`` serves) leads, in the Vyper verifier,
to the root the node logged at that height, and a tampered leaf, sibling or root does not.
"""

import random
from pathlib import Path
from typing import Any

import boa
import pytest

from solvent.chain.contracts import deploy_vault
from solvent.core.tx import ChainDeposit, ForcedWithdrawal, Tx, Withdraw
from solvent.defaults import usd
from solvent.node.chain import sign_submission
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.keccak import keccak256
from solvent.node.node import Node, NodeConfig
from solvent.node.state_root import cursors_proof, exit_proof, withdrawal_proof

OPERATOR = dev_key("operator")
NAMES = ("alice", "bob", "carol", "dave")


@pytest.fixture(scope="module")
def vault() -> Any:
    return deploy_vault(boa.env.generate_address("sequencer"), 3600)


def build(directory: Path, seed: int) -> Node:
    """A node after a seeded mix of chain deposits, withdrawals and forced withdrawals."""
    rng = random.Random(seed)
    genesis = GenesisConfig(commit_every=4)
    clock = [genesis.time]

    def tick() -> float:
        clock[0] += 1
        return clock[0]

    node = Node(directory, genesis, NodeConfig(clock=tick))
    nonces: dict[bytes, int] = {}
    forced = 0

    def send(key: bytes, tx: Tx) -> None:
        nonces[key] = nonces.get(key, 0) + 1
        node.submit(sign_submission(key, node.domain, tx, nonces[key]))

    for deposit_id in range(rng.randint(4, 10)):
        name = rng.choice(NAMES)
        owner, key = dev_address(name), dev_key(name)
        block_hash = "0x" + rng.randbytes(32).hex()
        send(OPERATOR, ChainDeposit(deposit_id, block_hash, owner, rng.randint(0, 1), "USDC", usd("1000")))
        if rng.random() < 0.5:
            send(key, Withdraw(owner, 0, "USDC", usd(str(rng.randint(1, 400)))))
        if rng.random() < 0.3:
            send(OPERATOR, ForcedWithdrawal(forced, owner, 0, "USDC", usd(str(rng.randint(1, 2000)))))
            forced += 1
        node.produce_block(force=True)
    node.produce_to_commit_height()
    return node


def agree(vault: Any, proof: dict[str, Any]) -> None:
    """The contract reaches the node's root from the node's proof, and not from a tampered one."""
    leaf = bytes.fromhex(proof["leaf_hash"][2:])
    root = bytes.fromhex(proof["root"][2:])
    siblings = [bytes.fromhex(s[2:]) for s in proof["siblings"]]
    index = proof["index"]
    assert vault.compute_root(leaf, index, siblings) == root
    assert keccak256(bytes.fromhex(proof["leaf"][2:])) == leaf  # the leaf is its fields' encoding
    flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
    assert vault.compute_root(flipped, index, siblings) != root
    level = index % len(siblings)
    tampered = [*siblings[:level], bytes(31) + b"\x01", *siblings[level + 1 :]]
    assert vault.compute_root(leaf, index, tampered) != root


@pytest.mark.parametrize("seed", range(4))
def test_every_proof_the_node_serves_is_accepted_by_the_vault(vault: Any, tmp_path: Path, seed: int) -> None:
    node = build(tmp_path / "node", seed)
    try:
        tree = node.tree
        record = node.log.block(node.height)
        assert record is not None and record.withdrawals_root is not None
        proofs = [cursors_proof(tree)]
        proofs += [withdrawal_proof(tree, i) for i in range(len(tree.withdrawals))]
        proofs += [exit_proof(tree, dev_address(name), sub, "USDC") for name in NAMES for sub in (0, 1)]
        served = [p for p in proofs if p is not None]
        assert len(served) >= 3  # the cursors, at least one withdrawal and one exit claim
        for proof in served:
            logged = record.withdrawals_root if "withdrawal_id" in proof else record.root
            assert proof["height"] == node.height and proof["root"] == "0x" + logged.hex()
            agree(vault, proof)
    finally:
        node.close()
