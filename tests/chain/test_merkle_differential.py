"""
The vault's Merkle verifier against node.merkle: proofs made in Python are accepted by the
contract, and a tampered leaf, sibling, index or root is rejected by both.
"""

from typing import Any

import boa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solvent.chain.contracts import deploy_vault
from solvent.node.keccak import keccak256
from solvent.node.merkle import DEPTH, MerkleTree, verify_proof

hashes = st.binary(min_size=32, max_size=32)


@pytest.fixture(scope="module")
def vault() -> Any:
    return deploy_vault(boa.env.generate_address("sequencer"), 3600)


def _flip(value: bytes, bit: int) -> bytes:
    return (int.from_bytes(value, "big") ^ (1 << bit)).to_bytes(32, "big")


@settings(max_examples=30)
@given(
    indices=st.sets(st.integers(0, 3000), min_size=1, max_size=12),
    seed=hashes,
    pick=st.integers(0, 11),
    level=st.integers(0, DEPTH - 1),
    bit=st.integers(0, 255),
)
def test_tree_proofs_agree_with_the_contract(
    vault: Any, indices: set[int], seed: bytes, pick: int, level: int, bit: int
) -> None:
    tree = MerkleTree()
    ordered = sorted(indices)
    for i in ordered:
        tree.set_leaf(i, keccak256(seed + i.to_bytes(4, "big")))  # distinct leaves
    root = tree.root()
    index = ordered[pick % len(ordered)]
    leaf, proof = tree.leaf(index), tree.proof(index)
    assert verify_proof(root, leaf, index, proof)
    assert vault.compute_root(leaf, index, proof) == root
    tampered_proof = list(proof)
    tampered_proof[level] = _flip(proof[level], bit)
    other_index = index ^ (1 << level)
    cases = [(_flip(leaf, bit), index, proof), (leaf, index, tampered_proof)]
    if tree.leaf(other_index) != leaf:
        cases.append((leaf, other_index, proof))
    for bad_leaf, bad_index, bad_proof in cases:
        assert not verify_proof(root, bad_leaf, bad_index, bad_proof)
        assert vault.compute_root(bad_leaf, bad_index, bad_proof) != root
    bad_root = _flip(root, bit)
    assert not verify_proof(bad_root, leaf, index, proof)
    assert vault.compute_root(leaf, index, proof) != bad_root


@settings(max_examples=30)
@given(
    leaf=hashes,
    index=st.integers(0, 2**DEPTH - 1),
    proof=st.lists(hashes, min_size=DEPTH, max_size=DEPTH),
)
def test_any_index_below_two_to_the_depth_folds_alike(
    vault: Any, leaf: bytes, index: int, proof: list[bytes]
) -> None:
    # A sparse index (high bits set) cannot be built into a MerkleTree here; fold by hand.
    node, bits = leaf, index
    for sibling in proof:
        node = keccak256(sibling + node) if bits & 1 else keccak256(node + sibling)
        bits >>= 1
    assert verify_proof(node, leaf, index, proof)
    assert vault.compute_root(leaf, index, proof) == node


def test_an_index_past_the_tree_is_refused_by_both(vault: Any) -> None:
    tree = MerkleTree()
    tree.set_leaf(5, b"\x07" * 32)
    root, proof = tree.root(), tree.proof(5)
    assert not verify_proof(root, b"\x07" * 32, 5 + 2**DEPTH, proof)
    with boa.reverts("InvalidProof"):
        vault.compute_root(b"\x07" * 32, 5 + 2**DEPTH, proof)
