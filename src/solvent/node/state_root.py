"""
The state root: canonical records as Merkle leaves, kept up to date block by block.

Introduction
------------
Every part of the state is in exactly one leaf of the tree (``node.merkle``):

=========  =====================================================================
kind       leaf = keccak256(abi.encode(...)), every field one 32-byte word
=========  =====================================================================
account    (1, address owner, uint32 subaccount, bytes32 record)   a pool's account: keccak(owner)
signer     (2, address signer, uint64 highest nonce, uint64 nonce mask, bytes32 agents)
market     (3, bytes32 keccak(market id), bytes32 record)   record: book and triggers included
pool       (4, bytes32 keccak(pool id), bytes32 record)
fund       (5, bytes32 keccak(domain), uint256 quote atoms)
global     (6, bytes32 record)                           everything else in ``State``
=========  =====================================================================

``record`` is keccak256 of the record's canonical JSON (``core.hashing``:
fields in declaration order, dicts sorted by key), so anyone holding a
record can check it against a proven leaf. ``agents`` is the record hash of
the grants the address has given (``State.agents[address]``), or zero.

Leaves are numbered in order of first appearance: after each block the
records seen for the first time are appended in sorted order of their keys
(kind, then id), so every replay numbers them identically.

Which leaves a block changes: the accounts its events name (any
``owner/subaccount`` field, as the keeper's index reads them; a pool's own
account with the pool), the signers of its envelopes and the owners of
agent grants it changed; and, every block, all markets, pools, funds and
the global record (few, and moved by every price report). Tests check that
this incremental root equals one built from scratch after random blocks.
"""

from collections.abc import Iterable

from solvent.core.events import Event, accounts_named
from solvent.core.hashing import encode_record
from solvent.core.state import State
from solvent.node.keccak import keccak256
from solvent.node.merkle import ZERO, MerkleTree

ACCOUNT, SIGNER, MARKET, POOL, FUND, GLOBAL = 1, 2, 3, 4, 5, 6
LeafKey = tuple[int, str, int]  # (kind, id, subaccount or 0)

_GLOBAL_FIELDS = (
    "governor",
    "quote",
    "time",
    "assets",
    "feeds",
    "domains",
    "vol_feeds",
    "portfolio",
    "next_order_id",
    "deposited",
    "withdrawn",
    "fee_balance",
    "scheduled_cancels",
    "twaps",
    "next_twap_id",
)
# The fields with leaves of their own; with _GLOBAL_FIELDS, every field of State.
LEAF_FIELDS = ("accounts", "nonces", "agents", "markets", "pools", "insurance")


def word(value: int) -> bytes:
    """One ABI word: an unsigned integer (or two's complement of a negative one), 32 bytes."""
    return (value % 2**256).to_bytes(32, "big")


def address_word(owner: str) -> bytes:
    """An address as an ABI word; a pool's own account (``pool:<id>``) as keccak256 of its name."""
    if owner.startswith("0x") and len(owner) == 42:
        return bytes(12) + bytes.fromhex(owner[2:])
    return keccak256(owner.encode())


def record_hash(value: object) -> bytes:
    return keccak256(encode_record(value))


def id_hash(name: str) -> bytes:
    return keccak256(name.encode())


def leaf_encoding(state: State, key: LeafKey) -> bytes:
    """Return the ABI encoding of one leaf's fields (its hash is the leaf)."""
    kind, name, sub = key
    if kind == ACCOUNT:
        account = state.accounts.get((name, sub))
        body = record_hash(account) if account is not None else bytes(32)
        return word(ACCOUNT) + address_word(name) + word(sub) + body
    if kind == SIGNER:
        window = state.nonces.get(name)
        grants = state.agents.get(name)
        high, mask = (window.high, window.mask) if window is not None else (0, 0)
        agents = record_hash(grants) if grants else bytes(32)
        return word(SIGNER) + address_word(name) + word(high) + word(mask) + agents
    if kind == MARKET:
        market = state.markets.get(name)
        return word(MARKET) + id_hash(name) + (record_hash(market) if market is not None else bytes(32))
    if kind == POOL:
        pool = state.pools.get(name)
        return word(POOL) + id_hash(name) + (record_hash(pool) if pool is not None else bytes(32))
    if kind == FUND:
        return word(FUND) + id_hash(name) + word(state.insurance.get(name, 0))
    return word(GLOBAL) + record_hash([getattr(state, f) for f in _GLOBAL_FIELDS])


def leaf_hash(state: State, key: LeafKey) -> bytes:
    return keccak256(leaf_encoding(state, key))


def all_leaf_keys(state: State) -> list[LeafKey]:
    """Every leaf the state has, sorted (the order a fresh tree numbers them in)."""
    keys: list[LeafKey] = [(ACCOUNT, owner, sub) for owner, sub in state.accounts]
    keys += [(SIGNER, s, 0) for s in set(state.nonces) | set(state.agents)]
    keys += [(MARKET, m, 0) for m in state.markets]
    keys += [(POOL, p, 0) for p in state.pools]
    keys += [(FUND, d, 0) for d in state.insurance]
    keys.append((GLOBAL, "", 0))
    return sorted(keys)


class StateTree:
    """The Merkle tree of one state, with the index of every leaf."""

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self.index: dict[LeafKey, int] = {}

    @classmethod
    def build(cls, state: State, index: dict[LeafKey, int] | None = None) -> "StateTree":
        """Build the tree of a state from scratch, hashing every leaf: at the positions of
        ``index`` (a snapshot's numbering, which depends on history) or, without one, in
        sorted order (genesis)."""
        tree = cls()
        if index is not None:
            tree.index = dict(index)
        tree.update(state, all_leaf_keys(state) + list(tree.index))
        return tree

    def update(self, state: State, keys: Iterable[LeafKey]) -> bytes:
        """Rehash these leaves (new ones get the next indices, in sorted order); return the root."""
        for key in sorted(set(keys)):
            index = self.index.get(key)
            if index is None:
                index = self.index[key] = len(self.index)
            self.tree.set_leaf(index, leaf_hash(state, key))
        return self.tree.root()

    def after_block(self, state: State, events: Iterable[Event], signers: Iterable[str]) -> bytes:
        """Update the leaves a block may have changed (see the module docstring); return the root."""
        events = list(events)
        keys: set[LeafKey] = {(ACCOUNT, owner, sub) for owner, sub in accounts_named(state, events)}
        keys |= {(SIGNER, s, 0) for s in signers}
        for ev in events:
            if ev.kind in ("AgentAuthorised", "AgentRevoked"):
                keys.add((SIGNER, str(ev.data["owner"]), 0))
        keys |= {(MARKET, m, 0) for m in state.markets}
        keys |= {(POOL, p, 0) for p in state.pools}
        keys |= {(FUND, d, 0) for d in state.insurance}
        keys.add((GLOBAL, "", 0))
        return self.update(state, keys)

    def root(self) -> bytes:
        return self.tree.root()

    def proof(self, key: LeafKey) -> tuple[int, list[bytes]]:
        """Return (leaf index, siblings) of a leaf; KeyError if the state never had it."""
        index = self.index[key]
        return index, self.tree.proof(index)


def empty_leaf() -> bytes:
    return ZERO[0]
