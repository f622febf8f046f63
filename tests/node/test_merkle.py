"""
The Merkle tree and the state root (node.merkle, node.state_root).

The incremental tree against a naive full computation; proofs verify and a
tampered leaf, sibling, index or root does not; the state root kept block
by block equals one built from scratch after random flows of transactions.
"""

import dataclasses
import random

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.core.fixtures import GOVERNOR, T0, addr, ready_state, report

from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.events import Event
from solvent.core.state import State
from solvent.core.tx import (
    AuthoriseAgent,
    CancelAll,
    ChainDeposit,
    ForcedWithdrawal,
    ModifyOrder,
    PlaceOrder,
    SetTime,
    Signed,
    Transfer,
    Withdraw,
)
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.keccak import keccak256
from solvent.node.merkle import DEPTH, EMPTY_ROOT, ZERO, MerkleTree, verify_proof
from solvent.node.state_root import (
    _GLOBAL_FIELDS,
    ACCOUNT,
    LEAF_FIELDS,
    ORDER,
    SIGNER,
    StateTree,
    all_exits,
    all_leaf_keys,
    leaf_encoding,
)


def naive_root(leaves: dict[int, bytes]) -> bytes:
    """The root by definition: every level computed over its non-empty nodes."""
    level = dict(leaves)
    for height in range(DEPTH):
        parents: dict[int, bytes] = {}
        for index in {i >> 1 for i in level}:
            left = level.get(2 * index, ZERO[height])
            right = level.get(2 * index + 1, ZERO[height])
            parents[index] = keccak256(left + right)
        level = parents
    return level.get(0, ZERO[DEPTH])


def test_known_values() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert MerkleTree().root() == EMPTY_ROOT == naive_root({})
    tree = MerkleTree()
    tree.set_leaf(0, keccak256(b"a"))
    assert tree.root() == naive_root({0: keccak256(b"a")})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 300), st.binary(min_size=1)), max_size=12), max_size=6))
def test_incremental_root_equals_the_definition(batches: list[list[tuple[int, bytes]]]) -> None:
    tree = MerkleTree()
    leaves: dict[int, bytes] = {}
    for batch in batches:
        for index, data in batch:
            leaves[index] = keccak256(data)
            tree.set_leaf(index, leaves[index])
        assert tree.root() == naive_root(
            {i: h for i, h in leaves.items()} | {i: ZERO[0] for i in range(len(tree)) if i not in leaves}
        )


def test_proofs_verify_and_tampering_is_rejected() -> None:
    rng = random.Random(7)
    tree = MerkleTree()
    leaves = {i: keccak256(rng.randbytes(40)) for i in range(1000)}
    for i, h in leaves.items():
        tree.set_leaf(i, h)
    root = tree.root()
    for i in (0, 1, 511, 999):
        proof = tree.proof(i)
        assert len(proof) == DEPTH
        assert verify_proof(root, leaves[i], i, proof)
        assert not verify_proof(root, leaves[i ^ 1], i, proof)  # another leaf
        assert not verify_proof(root, leaves[i], i ^ 1, proof)  # another index
        assert not verify_proof(keccak256(root), leaves[i], i, proof)  # another root
        for level in (0, 9, 31):
            bad = list(proof)
            bad[level] = keccak256(bad[level])
            assert not verify_proof(root, leaves[i], i, bad)  # a tampered sibling
        assert not verify_proof(root, leaves[i], i, proof[:-1])  # a short proof


def test_a_leaf_never_seen_is_empty_and_provable() -> None:
    tree = MerkleTree()
    tree.set_leaf(5, keccak256(b"x"))
    assert tree.leaf(3) == ZERO[0] and tree.leaf(10**6) == ZERO[0]
    assert verify_proof(tree.root(), ZERO[0], 3, tree.proof(3))
    with pytest.raises(ValueError):
        tree.set_leaf(2**DEPTH, ZERO[0])


# --- the state root -----------------------------------------------------------------


def test_leaf_encoding_is_the_abi_encoding() -> None:
    """The leaf words are what Solidity's and Vyper's abi.encode give (eth_abi here)."""
    state = ready_state()
    owner = addr("taker")
    apply(state, Signed(owner, 5, 0, CancelAll(owner, 0)))
    account = leaf_encoding(state, (ACCOUNT, owner, 0))
    assert account[:96] == abi_encode(["uint8", "address", "uint32"], [ACCOUNT, owner, 0])
    assert len(account) == 128
    signer = leaf_encoding(state, (SIGNER, owner, 0))
    assert signer[:128] == abi_encode(["uint8", "address", "uint64", "uint64"], [SIGNER, owner, 5, 0])


def test_every_field_of_the_state_is_in_some_leaf() -> None:
    """A field added to State must be added to a leaf, or the root would not commit to it."""
    covered = set(_GLOBAL_FIELDS) | set(LEAF_FIELDS)
    assert covered == {f.name for f in dataclasses.fields(State)}


def random_flow(seed: int, blocks: int, commit_every: int = 3) -> StateTree:
    """Apply random blocks; after each, the incremental root equals a fresh build's, and at
    commit heights the EXIT leaves equal those computed from scratch."""
    rng = random.Random(seed)
    state = ready_state()
    tree = StateTree.build(state, commit_every=commit_every)
    roles = ["maker", "maker2", "taker", "liquidator", "lp", "newcomer"]
    t = T0
    deposits = forced = 0
    for height in range(1, blocks + 1):
        events: list[Event] = []
        signers: set[str] = set()
        t += rng.choice([1, 5, 60])
        events += apply(state, SetTime(t))
        if rng.random() < 0.5:
            events += report(state, "BTC", usd(str(rng.randint(97_000, 103_000))), t)
        for _ in range(rng.randint(0, 8)):
            owner = addr(rng.choice(roles))
            kind = rng.random()
            mine = sorted(state.markets["BTC-PERP"].book.by_account.get((owner, 0), ()))
            if kind < 0.5:
                price = usd(str(rng.randint(99_000, 101_000)))
                payload: object = PlaceOrder(owner, 0, "BTC-PERP", rng.random() < 0.5, SIZE_ONE // 100, price)
            elif kind < 0.6 and mine:
                # Shrinking keeps the order (and its priority); a new price re-places it.
                order = state.markets["BTC-PERP"].book.orders[rng.choice(mine)]
                price = order.price if rng.random() < 0.5 else usd(str(rng.randint(99_000, 101_000)))
                size = rng.choice([order.size, order.size // 2, SIZE_ONE // 50])
                payload = ModifyOrder(owner, 0, "BTC-PERP", order.id, price, size)
            elif kind < 0.75:
                payload = Transfer(owner, 0, 1, "USDC", usd("10"))
            elif kind < 0.85:
                payload = Withdraw(owner, rng.randint(0, 1), "USDC", usd("5"))
            elif kind < 0.9:
                payload = AuthoriseAgent(owner, addr("bot"), markets=("BTC-PERP",))
            elif kind < 0.93:
                payload = ChainDeposit(
                    deposits, "0x" + "11" * 32, owner, 0, rng.choice(["USDC", "ETH"]), 10**6
                )
                deposits += 1
                owner = GOVERNOR
            elif kind < 0.96:
                payload = ForcedWithdrawal(forced, owner, 0, "USDC", usd(str(rng.choice([1, 10**6]))))
                forced += 1
                owner = GOVERNOR
            else:
                payload = CancelAll(owner, 0)
            try:
                events += apply(state, Signed(owner, rng.randint(1, 10**6), 0, payload))  # type: ignore[arg-type]
                signers.add(owner)
            except ProtocolError:
                pass
        root = tree.after_block(state, events, signers, height)
        # Numbering follows history (first appearance), so the fresh build takes the same one.
        assert set(all_leaf_keys(state)) <= set(tree.index)
        fresh = StateTree.build(state, tree.layout(), height=height, commit_every=commit_every)
        assert root == fresh.root()
        assert tree.withdrawals_root() == fresh.withdrawals_root()
        assert len(tree.withdrawals) == state.next_withdrawal_id
        if height % commit_every == 0:
            assert tree.exits == all_exits(state)
            assert tree.checkpoint is not None and tree.checkpoint.state_root == root
        resting = {(ORDER, "BTC-PERP", i) for i in state.markets["BTC-PERP"].book.orders}
        assert {k for k in tree.index if k[0] == ORDER} == resting
    return tree


@pytest.mark.parametrize("seed", range(3))
def test_the_incremental_state_root_equals_a_fresh_build(seed: int) -> None:
    random_flow(seed, 25)


def test_orders_leave_their_slots_to_new_orders() -> None:
    """The tree is as wide as the live state: every slot below its width is used or free."""
    tree = random_flow(7, 60)
    width = len(tree.index) + len(tree.free)
    assert sorted(list(tree.index.values()) + tree.free) == list(range(width))
    assert len(tree.tree) <= width


def test_a_resting_order_is_proven_by_its_own_leaf() -> None:
    state = ready_state()
    maker = addr("maker")
    apply(state, Signed(maker, 1, 0, PlaceOrder(maker, 0, "BTC-PERP", True, SIZE_ONE // 100, usd("99000"))))
    tree = StateTree.build(state)
    (order_id,) = state.markets["BTC-PERP"].book.orders
    index, siblings = tree.proof((ORDER, "BTC-PERP", order_id))
    encoding = leaf_encoding(state, (ORDER, "BTC-PERP", order_id))
    words = abi_encode(["uint8", "bytes32", "uint64"], [ORDER, keccak256(b"BTC-PERP"), order_id])
    assert encoding[:96] == words
    assert verify_proof(tree.root(), keccak256(encoding), index, siblings)
