"""
A fixed-depth binary Merkle tree over keccak256, updated incrementally.

Introduction
------------
The node commits to its state by the root of a binary tree of ``DEPTH`` (32)
levels: leaf ``i`` is the keccak256 of one record's encoding (see
``node.state_root``), an empty leaf is 32 zero bytes, and each inner node is
``keccak256(left ‖ right)``. The depth is fixed so that a proof always has
exactly ``DEPTH`` siblings: a verifier (this module's ``verify_proof``, and
the settlement contract) never has to trust a length, and an inner node can
never be passed off as a leaf.

Only the paths above changed leaves are rehashed when the root is asked
for: a block that touches ``k`` of ``n`` leaves costs about
``k * log2(n / k) + log2(n) + (DEPTH - log2(n))`` hashes. Levels are kept as
flat ``bytearray``s (32 bytes per node) up to the width the leaves reach;
everything to their right is empty and hashes to the precomputed
``ZERO[level]``.

Glossary
--------
leaf hash   keccak256 of a record's encoding; what ``set_leaf`` stores
proof       the ``DEPTH`` sibling hashes from the leaf up to the root
"""

from solvent.node.keccak import keccak256

DEPTH = 32
HASH_SIZE = 32


def _zero_hashes() -> tuple[bytes, ...]:
    zeros = [bytes(HASH_SIZE)]
    for _ in range(DEPTH):
        zeros.append(keccak256(zeros[-1] + zeros[-1]))
    return tuple(zeros)


ZERO: tuple[bytes, ...] = _zero_hashes()  # ZERO[level]: the root of an empty subtree of that height
EMPTY_ROOT = ZERO[DEPTH]


class MerkleTree:
    """Leaves by index; ``root()`` rehashes only what changed since it was last called."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray() for _ in range(DEPTH)]
        self.dirty: set[int] = set()
        self._root = EMPTY_ROOT

    def __len__(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    def set_leaf(self, index: int, leaf_hash: bytes) -> None:
        """Store a leaf hash at ``index`` (the tree grows to reach it)."""
        if not 0 <= index < 2**DEPTH:
            raise ValueError(f"leaf index {index} outside the tree")
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        leaves = self.levels[0]
        end = (index + 1) * HASH_SIZE
        if len(leaves) < end:
            leaves.extend(bytes(end - len(leaves)))
        leaves[index * HASH_SIZE : end] = leaf_hash
        self.dirty.add(index)

    def leaf(self, index: int) -> bytes:
        start = index * HASH_SIZE
        leaves = self.levels[0]
        return bytes(leaves[start : start + HASH_SIZE]) if start < len(leaves) else ZERO[0]

    def _node(self, level: int, index: int) -> bytes:
        nodes = self.levels[level] if level < DEPTH else None
        start = index * HASH_SIZE
        if nodes is None or start >= len(nodes):
            return ZERO[level]
        return bytes(nodes[start : start + HASH_SIZE])

    def root(self) -> bytes:
        """Return the root, rehashing the paths above the leaves set since the last call."""
        if not self.dirty:
            return self._root
        changed = self.dirty
        for level in range(DEPTH):
            nodes = self.levels[level]
            width = len(nodes) // HASH_SIZE
            parents = sorted({i >> 1 for i in changed})
            if level + 1 < DEPTH:
                above = self.levels[level + 1]
                need = ((width + 1) // 2) * HASH_SIZE
                if len(above) < need:
                    # New nodes are empty subtrees until their children are hashed into them.
                    above.extend(ZERO[level + 1] * ((need - len(above)) // HASH_SIZE))
            zero = ZERO[level]
            for parent in parents:
                left = 2 * parent
                start = left * HASH_SIZE
                if left + 1 < width:
                    pair = bytes(nodes[start : start + 2 * HASH_SIZE])
                else:
                    pair = (bytes(nodes[start : start + HASH_SIZE]) if left < width else zero) + zero
                digest = keccak256(pair)
                if level + 1 < DEPTH:
                    self.levels[level + 1][parent * HASH_SIZE : (parent + 1) * HASH_SIZE] = digest
                else:
                    self._root = digest
            changed = set(parents)
        self.dirty = set()
        return self._root

    def copy(self) -> "MerkleTree":
        """An independent copy (the root is brought up to date first)."""
        self.root()
        other = MerkleTree()
        other.levels = [bytearray(level) for level in self.levels]
        other._root = self._root
        return other

    def proof(self, index: int) -> list[bytes]:
        """Return the ``DEPTH`` siblings of leaf ``index``, leaf level first."""
        self.root()
        siblings = []
        for level in range(DEPTH):
            siblings.append(self._node(level, index ^ 1))
            index >>= 1
        return siblings


def verify_proof(root: bytes, leaf_hash: bytes, index: int, proof: list[bytes]) -> bool:
    """Return whether ``leaf_hash`` sits at ``index`` under ``root`` (stand-alone: no tree)."""
    if len(proof) != DEPTH or not 0 <= index < 2**DEPTH or len(leaf_hash) != HASH_SIZE:
        return False
    node = leaf_hash
    for sibling in proof:
        if len(sibling) != HASH_SIZE:
            return False
        node = keccak256(sibling + node) if index & 1 else keccak256(node + sibling)
        index >>= 1
    return node == root
