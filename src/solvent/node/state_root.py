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
market     (3, bytes32 keccak(market id), bytes32 record)   record: the book as order ids
pool       (4, bytes32 keccak(pool id), bytes32 record)
fund       (5, bytes32 keccak(domain), uint256 quote atoms)
global     (6, bytes32 record)                           everything else in ``State``
order      (7, bytes32 keccak(market id), uint64 order id, bytes32 record)   a resting order
=========  =====================================================================

``record`` is keccak256 of the record's canonical JSON (``core.hashing``:
fields in declaration order, dicts sorted by key), so anyone holding a
record can check it against a proven leaf. ``agents`` is the record hash of
the grants the address has given (``State.agents[address]``), or zero.

Leaves are numbered in order of first appearance: after each block the
records seen for the first time are appended in sorted order of their keys
(kind, then id), so every replay numbers them identically. An order's leaf
lives only while the order rests: when it leaves the book its slot becomes
an empty leaf again and is free, and new leaves take the lowest free slots
first, so the tree's width follows the live state, not every order ever
placed.

Resting orders have leaves of their own because the book is the part of the
state that changes most and is largest: hashed whole into its market's leaf,
a book of 300 orders cost 6-14 ms every block, whatever the block held
(``docs/performance.md``). The market's record now holds the book's shape
only — for each side, its levels best first, each with the ids of its
orders in time priority (``market_record``); the orders' own fields are in
their leaves. The book's indexes by account and by client id are derived
from the orders and are not committed.

Which leaves a block changes: the accounts its events name (any
``owner/subaccount`` field, as the keeper's index reads them; a pool's own
account with the pool), the signers of its envelopes and the owners of
agent grants it changed; and, every block, all markets, pools, funds and
the global record (few, and moved by every price report); and the orders
that entered, left or changed size. Those are found by comparing each book
with what the tree last saw of it (order object and size: the core changes
a resting order only by its size, and replaces it otherwise), a pass over
the book's dict without hashing. Tests check that this incremental root
equals one built from scratch after random blocks.
"""

import heapq
import json
from collections.abc import Iterable
from dataclasses import fields

from solvent.core.events import Event, accounts_named
from solvent.core.hashing import canonical, encode_record
from solvent.core.state import Market, Order, State
from solvent.node.keccak import keccak256
from solvent.node.merkle import ZERO, MerkleTree

ACCOUNT, SIGNER, MARKET, POOL, FUND, GLOBAL, ORDER = 1, 2, 3, 4, 5, 6, 7
LeafKey = tuple[int, str, int]  # (kind, id, subaccount or order id or 0)

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


_MARKET_FIELDS = tuple(f.name for f in fields(Market))


def market_record(market: Market) -> bytes:
    """The canonical encoding of a market with its book as order ids (see the introduction)."""
    out: list[object] = []
    for name in _MARKET_FIELDS:
        if name == "book":
            book = market.book
            out.append(
                [
                    [[key, list(level)] for key, level in book.bids.items()],
                    [[key, list(level)] for key, level in book.asks.items()],
                ]
            )
        else:
            out.append(canonical(getattr(market, name)))
    return json.dumps(out, separators=(",", ":")).encode()


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
        body = keccak256(market_record(market)) if market is not None else bytes(32)
        return word(MARKET) + id_hash(name) + body
    if kind == ORDER:
        order = _resting_order(state, name, sub)
        body = record_hash(order) if order is not None else bytes(32)
        return word(ORDER) + id_hash(name) + word(sub) + body
    if kind == POOL:
        pool = state.pools.get(name)
        return word(POOL) + id_hash(name) + (record_hash(pool) if pool is not None else bytes(32))
    if kind == FUND:
        return word(FUND) + id_hash(name) + word(state.insurance.get(name, 0))
    return word(GLOBAL) + record_hash([getattr(state, f) for f in _GLOBAL_FIELDS])


def _resting_order(state: State, market_id: str, order_id: int) -> Order | None:
    market = state.markets.get(market_id)
    return market.book.orders.get(order_id) if market is not None else None


def leaf_hash(state: State, key: LeafKey) -> bytes:
    """The leaf of a record; the empty leaf for an order no longer resting (its slot is free)."""
    if key[0] == ORDER and _resting_order(state, key[1], key[2]) is None:
        return ZERO[0]
    return keccak256(leaf_encoding(state, key))


def all_leaf_keys(state: State) -> list[LeafKey]:
    """Every leaf the state has, sorted (the order a fresh tree numbers them in)."""
    keys: list[LeafKey] = [(ACCOUNT, owner, sub) for owner, sub in state.accounts]
    keys += [(SIGNER, s, 0) for s in set(state.nonces) | set(state.agents)]
    keys += [(MARKET, m, 0) for m in state.markets]
    keys += [(POOL, p, 0) for p in state.pools]
    keys += [(FUND, d, 0) for d in state.insurance]
    keys.append((GLOBAL, "", 0))
    keys += [(ORDER, m, i) for m, market in state.markets.items() for i in market.book.orders]
    return sorted(keys)


# What the tree last saw of a book: order id -> (the order object, its size).
Seen = dict[int, tuple[Order, int]]


class StateTree:
    """The Merkle tree of one state, with the index of every leaf."""

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self.index: dict[LeafKey, int] = {}
        self.free: list[int] = []  # a heap of the slots orders left
        self.seen: dict[str, Seen] = {}

    @classmethod
    def build(cls, state: State, index: dict[LeafKey, int] | None = None) -> "StateTree":
        """Build the tree of a state from scratch, hashing every leaf: at the positions of
        ``index`` (a snapshot's numbering, which depends on history) or, without one, in
        sorted order (genesis)."""
        tree = cls()
        if index is not None:
            tree.index = dict(index)
            used = set(index.values())
            tree.free = [i for i in range(max(used, default=-1) + 1) if i not in used]
        tree.update(state, all_leaf_keys(state) + list(tree.index))
        return tree

    def update(self, state: State, keys: Iterable[LeafKey]) -> bytes:
        """Rehash these leaves and return the root. Orders no longer resting free their slots
        first; then new leaves take the lowest free slots, else the next ones, in sorted order."""
        keys = sorted(set(keys))
        live = []
        for key in keys:
            if key[0] != ORDER:
                live.append(key)
                continue
            order = _resting_order(state, key[1], key[2])
            seen = self.seen.setdefault(key[1], {})
            if order is not None:
                seen[key[2]] = (order, order.size)
                live.append(key)
                continue
            seen.pop(key[2], None)
            slot = self.index.pop(key, None)
            if slot is not None:
                self.tree.set_leaf(slot, ZERO[0])
                heapq.heappush(self.free, slot)
        for key in live:
            slot = self.index.get(key)
            if slot is None:
                # Every slot below the width is either used or free.
                slot = heapq.heappop(self.free) if self.free else len(self.index) + len(self.free)
                self.index[key] = slot
            self.tree.set_leaf(slot, leaf_hash(state, key))
        return self.tree.root()

    def changed_orders(self, state: State) -> set[LeafKey]:
        """The orders that entered, left or changed size since the tree last saw the books."""
        keys: set[LeafKey] = set()
        for market_id, market in state.markets.items():
            seen = self.seen.get(market_id, {})
            orders = market.book.orders
            for order_id, order in orders.items():
                was = seen.get(order_id)
                if was is None or was[0] is not order or was[1] != order.size:
                    keys.add((ORDER, market_id, order_id))
            keys.update((ORDER, market_id, i) for i in seen if i not in orders)
        return keys

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
        keys |= self.changed_orders(state)
        return self.update(state, keys)

    def root(self) -> bytes:
        return self.tree.root()

    def proof(self, key: LeafKey) -> tuple[int, list[bytes]]:
        """Return (leaf index, siblings) of a leaf; KeyError if the state does not have it."""
        index = self.index[key]
        return index, self.tree.proof(index)


def empty_leaf() -> bytes:
    return ZERO[0]
