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
global     (6, bytes32 record)                           everything else in ``State`` (1)
order      (7, bytes32 keccak(market id), uint64 order id, bytes32 record)   a resting order
exit       (8, address owner, uint256 subaccount, bytes32 keccak(asset), uint256 amount)
cursors    (10, uint256 deposits_credited, uint256 forced_served)
=========  =====================================================================

(1) A field added to ``State`` after logs were written (``chain_settled``) is in the global
record only once set, as a ``[name, value]`` pair after the others (``global_record``): a
state that never set it hashes as before, so older logs verify with the same roots.

Kinds 8 and 10 exist for the settlement contract (``docs/settlement.md``),
which reads amounts from them without parsing a record. EXIT leaves are
refreshed only at heights that are multiples of ``commit_every`` (genesis
config, default 10), for every account whose owner is an address (a pool's
own account has none: its value belongs to its LPs) and every asset it may
claim (``core.exit_claims``); between those heights they keep the amounts of
the last such height, so the tree remembers them (``StateTree.exits``, saved
with snapshots). An amount of 0 has no leaf: its slot is freed like an
order's. The CURSORS leaf is rehashed every block.

A second tree, the **withdrawals tree** (``WithdrawalsTree``), holds one
WITHDRAWAL leaf ``(9, uint256 withdrawal_id, address owner, bytes32
keccak(asset), uint256 amount)`` per ``Withdrawn`` event at index
``withdrawal_id``; it is append-only. Its root is logged with every block
next to the state root (``node.log``).

At every height that is a multiple of ``commit_every`` the tree keeps a
**checkpoint**: a copy of both trees, which the proofs of EXIT, CURSORS and
WITHDRAWAL leaves are made against (those are the roots the committer puts
on chain).

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
from dataclasses import dataclass, field, fields
from typing import Any

from solvent.core.events import Event, accounts_named
from solvent.core.exit_claims import exit_claims
from solvent.core.hashing import canonical, encode_record
from solvent.core.state import Market, Order, State
from solvent.core.units import AccountKey, parse_account
from solvent.node.keccak import keccak256
from solvent.node.merkle import ZERO, MerkleTree

ACCOUNT, SIGNER, MARKET, POOL, FUND, GLOBAL, ORDER, EXIT, WITHDRAWAL, CURSORS = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
# (kind, id, subaccount or order id or 0); an EXIT leaf's id is "owner|asset".
LeafKey = tuple[int, str, int]
CURSORS_KEY: LeafKey = (CURSORS, "", 0)
DEFAULT_COMMIT_EVERY = 10

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
    "next_withdrawal_id",
    "chain_settled",
)
# Fields added to State after logs were written: the global record names each as a pair
# [name, value] after the others, and only while it differs from this value, so that a log
# written before it replays to the same roots (``solvent verify``).
_GLOBAL_IF_SET: dict[str, object] = {"chain_settled": False}
# The fields with leaves of their own; with _GLOBAL_FIELDS, every field of State.
LEAF_FIELDS = (
    "accounts",
    "nonces",
    "agents",
    "markets",
    "pools",
    "insurance",
    "deposits_credited",
    "forced_served",
)


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
    if kind == CURSORS:
        return word(CURSORS) + word(state.deposits_credited) + word(state.forced_served)
    if kind == EXIT:
        raise ValueError("an EXIT leaf's amount is the tree's (StateTree.leaf_encoding)")
    return word(GLOBAL) + record_hash(global_record(state))


def global_record(state: State) -> list[object]:
    """The global leaf's record: the values of ``_GLOBAL_FIELDS`` in order, except that a field
    of ``_GLOBAL_IF_SET`` is a ``[name, value]`` pair at the end, present only when set."""
    out: list[object] = [getattr(state, f) for f in _GLOBAL_FIELDS if f not in _GLOBAL_IF_SET]
    for name, unset in _GLOBAL_IF_SET.items():
        value = getattr(state, name)
        if value != unset:
            out.append([name, value])
    return out


def _resting_order(state: State, market_id: str, order_id: int) -> Order | None:
    market = state.markets.get(market_id)
    return market.book.orders.get(order_id) if market is not None else None


def all_leaf_keys(state: State) -> list[LeafKey]:
    """Every leaf the state has, sorted (the order a fresh tree numbers them in)."""
    keys: list[LeafKey] = [(ACCOUNT, owner, sub) for owner, sub in state.accounts]
    keys += [(SIGNER, s, 0) for s in set(state.nonces) | set(state.agents)]
    keys += [(MARKET, m, 0) for m in state.markets]
    keys += [(POOL, p, 0) for p in state.pools]
    keys += [(FUND, d, 0) for d in state.insurance]
    keys.append((GLOBAL, "", 0))
    keys.append(CURSORS_KEY)
    keys += [(ORDER, m, i) for m, market in state.markets.items() for i in market.book.orders]
    return sorted(keys)


# --- EXIT and WITHDRAWAL leaves ----------------------------------------------------------


def exit_key(owner: str, subaccount: int, asset: str) -> LeafKey:
    return (EXIT, f"{owner}|{asset}", subaccount)


def exit_fields(key: LeafKey) -> tuple[str, int, str]:
    """(owner, subaccount, asset) of an EXIT leaf key."""
    owner, _, asset = key[1].partition("|")
    return owner, key[2], asset


def exit_encoding(owner: str, subaccount: int, asset: str, amount: int) -> bytes:
    return word(EXIT) + address_word(owner) + word(subaccount) + id_hash(asset) + word(amount)


def withdrawal_encoding(withdrawal_id: int, owner: str, asset: str, amount: int) -> bytes:
    return word(WITHDRAWAL) + word(withdrawal_id) + address_word(owner) + id_hash(asset) + word(amount)


def cursors_encoding(deposits_credited: int, forced_served: int) -> bytes:
    return word(CURSORS) + word(deposits_credited) + word(forced_served)


def account_exits(state: State, key: AccountKey) -> dict[LeafKey, int]:
    """The EXIT leaves of one account now: key -> amount (> 0); none for a pool's account."""
    account = state.accounts.get(key)
    if account is None or not key[0].startswith("0x"):
        return {}
    return {exit_key(key[0], key[1], a): v for a, v in exit_claims(state, account).items()}


def all_exits(state: State) -> dict[LeafKey, int]:
    """Every EXIT leaf of the state now (what a refresh at a commit height computes)."""
    out: dict[LeafKey, int] = {}
    for key in state.accounts:
        out.update(account_exits(state, key))
    return out


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """One WITHDRAWAL leaf's fields (its index is ``withdrawal_id``)."""

    withdrawal_id: int
    owner: str
    asset: str
    amount: int

    def encoding(self) -> bytes:
        return withdrawal_encoding(self.withdrawal_id, self.owner, self.asset, self.amount)


class WithdrawalsTree:
    """The append-only tree of withdrawals: leaf ``i`` is withdrawal ``i``."""

    def __init__(self, records: Iterable[Withdrawal] = ()) -> None:
        self.tree = MerkleTree()
        self.records: list[Withdrawal] = []
        for record in records:
            self.append(record)

    def append(self, record: Withdrawal) -> None:
        if record.withdrawal_id != len(self.records):
            raise ValueError(
                f"Invariant: withdrawal {record.withdrawal_id} appended after {len(self.records) - 1}"
            )
        self.records.append(record)
        self.tree.set_leaf(record.withdrawal_id, keccak256(record.encoding()))

    def append_events(self, events: Iterable[Event]) -> None:
        """Append the withdrawal of every ``Withdrawn`` event, in order."""
        for ev in events:
            if ev.kind != "Withdrawn":
                continue
            key = parse_account(str(ev.data["account"]))
            if key is None:
                raise ValueError(f"Invariant: a Withdrawn event names no account: {ev.data}")
            withdrawal_id, amount = ev.data["withdrawal_id"], ev.data["amount"]
            assert isinstance(withdrawal_id, int) and isinstance(amount, int)
            self.append(Withdrawal(withdrawal_id, key[0], str(ev.data["asset"]), amount))

    def root(self) -> bytes:
        return self.tree.root()

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Both trees as they were at a commit height (a multiple of ``commit_every``)."""

    height: int
    state_tree: MerkleTree
    state_root: bytes
    exits: dict[LeafKey, int]
    exit_index: dict[LeafKey, int]
    cursors_index: int
    deposits_credited: int
    forced_served: int
    withdrawals_tree: MerkleTree
    withdrawals_root: bytes
    withdrawals: int  # how many withdrawals the tree held


@dataclass(slots=True)
class Layout:
    """What a snapshot keeps besides the state: leaf numbering, EXIT amounts, withdrawals."""

    index: dict[LeafKey, int]
    exits: dict[LeafKey, int] = field(default_factory=dict)
    withdrawals: list[Withdrawal] = field(default_factory=list)


# What the tree last saw of a book: order id -> (the order object, its size).
Seen = dict[int, tuple[Order, int]]


class StateTree:
    """The Merkle tree of one state, with the index of every leaf, and the withdrawals tree."""

    def __init__(self, commit_every: int = DEFAULT_COMMIT_EVERY) -> None:
        if commit_every < 1:
            raise ValueError("commit_every must be at least 1")
        self.commit_every = commit_every
        self.tree = MerkleTree()
        self.index: dict[LeafKey, int] = {}
        self.free: list[int] = []  # a heap of the slots orders and EXIT leaves left
        self.seen: dict[str, Seen] = {}
        self.exits: dict[LeafKey, int] = {}  # EXIT leaves of the last commit height (never mutated)
        self._claims: dict[AccountKey, dict[LeafKey, int]] = {}  # the same, by account
        self._touched: set[AccountKey] | None = None  # since the last refresh; None: all
        self.withdrawals = WithdrawalsTree()
        self.checkpoint: Checkpoint | None = None

    @classmethod
    def build(
        cls,
        state: State,
        layout: Layout | dict[LeafKey, int] | None = None,
        *,
        height: int = 0,
        commit_every: int = DEFAULT_COMMIT_EVERY,
    ) -> "StateTree":
        """Build the tree of a state from scratch, hashing every leaf: at the positions of
        ``layout`` (a snapshot's numbering, EXIT amounts and withdrawals, which depend on
        history) or, without one, in sorted order (genesis, whose EXIT leaves are computed).
        A tree built at a commit height keeps a checkpoint of it."""
        tree = cls(commit_every)
        if isinstance(layout, dict):
            layout = Layout(layout)
        if layout is not None:
            tree.index = dict(layout.index)
            used = set(layout.index.values())
            tree.free = [i for i in range(max(used, default=-1) + 1) if i not in used]
            tree._set_exits(dict(layout.exits))
            tree.withdrawals = WithdrawalsTree(layout.withdrawals)
        else:
            tree._set_exits(all_exits(state))
            tree._touched = set()
        tree.update(state, all_leaf_keys(state) + list(tree.exits) + list(tree.index))
        if height % commit_every == 0:
            tree._keep_checkpoint(state, height)
        return tree

    def layout(self) -> Layout:
        """What a snapshot must keep to rebuild this tree (``build``)."""
        return Layout(dict(self.index), dict(self.exits), list(self.withdrawals.records))

    def _set_exits(self, exits: dict[LeafKey, int]) -> None:
        self.exits = exits
        self._claims = {}
        for key, amount in exits.items():
            owner, sub, _ = exit_fields(key)
            self._claims.setdefault((owner, sub), {})[key] = amount

    def _present(self, state: State, key: LeafKey) -> bool:
        if key[0] == ORDER:
            return _resting_order(state, key[1], key[2]) is not None
        if key[0] == EXIT:
            return key in self.exits
        return True

    def leaf_encoding(self, state: State, key: LeafKey) -> bytes:
        """The ABI encoding of a leaf (an EXIT leaf's amount is the last commit height's)."""
        if key[0] == EXIT:
            owner, sub, asset = exit_fields(key)
            return exit_encoding(owner, sub, asset, self.exits.get(key, 0))
        return leaf_encoding(state, key)

    def update(self, state: State, keys: Iterable[LeafKey]) -> bytes:
        """Rehash these leaves and return the root. Orders no longer resting and EXIT leaves
        whose amount became 0 free their slots first; then new leaves take the lowest free
        slots, else the next ones, in sorted order."""
        keys = sorted(set(keys))
        live = []
        for key in keys:
            if key[0] != ORDER and key[0] != EXIT:
                live.append(key)
                continue
            present = self._present(state, key)
            if key[0] == ORDER:
                seen = self.seen.setdefault(key[1], {})
                if present:
                    order = state.markets[key[1]].book.orders[key[2]]
                    seen[key[2]] = (order, order.size)
                else:
                    seen.pop(key[2], None)
            if present:
                live.append(key)
                continue
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
            self.tree.set_leaf(slot, keccak256(self.leaf_encoding(state, key)))
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

    def refresh_exits(self, state: State) -> set[LeafKey]:
        """Recompute the EXIT amounts (a commit height); return the keys whose amount changed.

        An account's claims change only if an event named it since the last refresh, or it
        holds positions (marks and funding move), or owes quote (netted at index prices):
        only those are valued again, and only their leaves are compared, so a commit height
        costs the accounts that can have changed plus one cheap pass to find them."""
        quote = state.quote
        accounts = state.accounts
        if self._touched is None:
            candidates = set(accounts) | set(self._claims)
        else:
            candidates = self._touched | (self._claims.keys() - accounts.keys())
            for key, account in accounts.items():
                if account.positions or account.balances.get(quote, 0) < 0 or key not in self._claims:
                    candidates.add(key)
        exits = dict(self.exits)  # the last checkpoint keeps the dict it was given
        changed: set[LeafKey] = set()
        for key in candidates:
            fresh = account_exits(state, key) if key in accounts else {}
            old = self._claims.get(key, {})
            if fresh == old:
                continue
            for leaf in old.keys() - fresh.keys():
                del exits[leaf]
                changed.add(leaf)
            for leaf, amount in fresh.items():
                if old.get(leaf) != amount:
                    exits[leaf] = amount
                    changed.add(leaf)
            if fresh:
                self._claims[key] = fresh
            else:
                del self._claims[key]
        self.exits = exits
        self._touched = set()
        return changed

    def after_block(
        self,
        state: State,
        events: Iterable[Event],
        signers: Iterable[str],
        height: int | None = None,
    ) -> bytes:
        """Update the leaves a block may have changed (see the module docstring) and append its
        withdrawals; return the state root. At a commit height (``height`` a multiple of
        ``commit_every``) the EXIT leaves are refreshed and a checkpoint is kept."""
        events = list(events)
        self.withdrawals.append_events(events)
        named = accounts_named(state, events)
        if self._touched is not None:
            self._touched |= named
        keys: set[LeafKey] = {(ACCOUNT, owner, sub) for owner, sub in named}
        keys |= {(SIGNER, s, 0) for s in signers}
        for ev in events:
            if ev.kind in ("AgentAuthorised", "AgentRevoked"):
                keys.add((SIGNER, str(ev.data["owner"]), 0))
        keys |= {(MARKET, m, 0) for m in state.markets}
        keys |= {(POOL, p, 0) for p in state.pools}
        keys |= {(FUND, d, 0) for d in state.insurance}
        keys.add((GLOBAL, "", 0))
        keys.add(CURSORS_KEY)
        keys |= self.changed_orders(state)
        commit = height is not None and height % self.commit_every == 0
        if commit:
            keys |= self.refresh_exits(state)
        root = self.update(state, keys)
        if commit:
            assert height is not None
            self._keep_checkpoint(state, height)
        return root

    def _keep_checkpoint(self, state: State, height: int) -> None:
        self.checkpoint = Checkpoint(
            height=height,
            state_tree=self.tree.copy(),
            state_root=self.tree.root(),
            exits=self.exits,
            # Every leaf's slot (a copy: slots are reused later); the EXIT leaves' among them.
            exit_index=dict(self.index),
            cursors_index=self.index[CURSORS_KEY],
            deposits_credited=state.deposits_credited,
            forced_served=state.forced_served,
            withdrawals_tree=self.withdrawals.tree.copy(),
            withdrawals_root=self.withdrawals.root(),
            withdrawals=len(self.withdrawals),
        )

    def root(self) -> bytes:
        return self.tree.root()

    def withdrawals_root(self) -> bytes:
        return self.withdrawals.root()

    def proof(self, key: LeafKey) -> tuple[int, list[bytes]]:
        """Return (leaf index, siblings) of a leaf; KeyError if the state does not have it."""
        index = self.index[key]
        return index, self.tree.proof(index)


# --- proofs against the last commit height -----------------------------------------------


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _proof_json(
    height: int, root: bytes, index: int, encoding: bytes, siblings: list[bytes]
) -> dict[str, Any]:
    return {
        "height": height,
        "root": _hex(root),
        "index": index,
        "leaf": _hex(encoding),
        "leaf_hash": _hex(keccak256(encoding)),
        "siblings": [_hex(s) for s in siblings],
    }


def withdrawal_proof(tree: StateTree, withdrawal_id: int) -> dict[str, Any] | None:
    """The proof of a WITHDRAWAL leaf against the withdrawals root of the last commit height,
    with its fields; None if that height does not contain it (yet)."""
    cp = tree.checkpoint
    if cp is None or not 0 <= withdrawal_id < cp.withdrawals:
        return None
    record = tree.withdrawals.records[withdrawal_id]
    out = _proof_json(
        cp.height,
        cp.withdrawals_root,
        withdrawal_id,
        record.encoding(),
        cp.withdrawals_tree.proof(withdrawal_id),
    )
    out.update(withdrawal_id=withdrawal_id, owner=record.owner, asset=record.asset, amount=record.amount)
    return out


def exit_proof(tree: StateTree, owner: str, subaccount: int, asset: str) -> dict[str, Any] | None:
    """The proof of an EXIT leaf against the state root of the last commit height; None if
    the account has no claim on that asset there."""
    cp = tree.checkpoint
    key = exit_key(owner, subaccount, asset)
    if cp is None or key not in cp.exits:
        return None
    amount = cp.exits[key]
    index = cp.exit_index[key]
    encoding = exit_encoding(owner, subaccount, asset, amount)
    out = _proof_json(cp.height, cp.state_root, index, encoding, cp.state_tree.proof(index))
    out.update(owner=owner, subaccount=subaccount, asset=asset, amount=amount)
    return out


def cursors_proof(tree: StateTree) -> dict[str, Any] | None:
    """The proof of the CURSORS leaf against the state root of the last commit height."""
    cp = tree.checkpoint
    if cp is None:
        return None
    encoding = cursors_encoding(cp.deposits_credited, cp.forced_served)
    index = cp.cursors_index
    out = _proof_json(cp.height, cp.state_root, index, encoding, cp.state_tree.proof(index))
    out.update(deposits_credited=cp.deposits_credited, forced_served=cp.forced_served)
    return out


def empty_leaf() -> bytes:
    return ZERO[0]
