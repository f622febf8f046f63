"""
The committer's choice (node.committer): the latest commit height above the last committed, with
the roots the log holds for it.
"""

from pathlib import Path

import pytest

from solvent.node.committer import Commitment, commit_heights, commitment_at, next_commitment
from solvent.node.genesis import GenesisConfig
from solvent.node.node import Node, NodeConfig


def test_commit_heights_are_the_multiples_above_the_last_committed() -> None:
    assert commit_heights(25, 10) == [0, 10, 20]
    assert commit_heights(25, 10, after=0) == [10, 20]
    assert commit_heights(25, 10, after=10) == [20]
    assert commit_heights(25, 10, after=20) == []
    assert commit_heights(30, 10, after=21) == [30]
    with pytest.raises(ValueError):
        commit_heights(5, 0)


def test_the_next_commitment_is_the_latest_commit_height_of_the_log(tmp_path: Path) -> None:
    node = Node(tmp_path / "n", GenesisConfig(commit_every=3), NodeConfig())
    for _ in range(7):
        node.produce_block(force=True)
    first = next_commitment(node.log, 3, None)
    assert first is not None and first.height == 6
    record = node.log.block(6)
    assert record is not None
    assert first == Commitment(6, record.root, node.tree.checkpoint.withdrawals_root)  # type: ignore[union-attr]
    assert first.args() == (6, record.root, record.withdrawals_root)
    assert next_commitment(node.log, 3, 6) is None
    node.produce_block(force=True)
    node.produce_block(force=True)
    later = next_commitment(node.log, 3, 6)
    assert later is not None and later.height == 9 and later.state_root == node.root()
    with pytest.raises(ValueError, match="not a commit height"):
        commitment_at(node.log, 4, 3)
    with pytest.raises(ValueError, match="not in the log"):
        commitment_at(node.log, 30, 3)
    node.close()
