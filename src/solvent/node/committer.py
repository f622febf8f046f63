"""
The committer's choice: which roots of the log to put on chain (``docs/settlement.md``).

Introduction
------------
The vault's ``commit(height, state_root, withdrawals_root)`` must be given
only **commit heights**, multiples of the genesis ``commit_every``, where
the EXIT leaves are current (elsewhere a withdrawal made since the last
refresh would be both in the withdrawals root and in an EXIT amount).
Heights must strictly increase on chain, and a later commitment subsumes
the earlier ones: the withdrawals tree is append-only (every earlier
withdrawal is in the later root), exits and ``freeze`` read the last state
root only. So the committer sends **the latest commit height above the
last one committed**, and may skip those it missed (fewer transactions,
same guarantees).

This module is pure (a log in, commitments out): sending the transaction
(web3, gas, retries) is the chain integration's.
"""

from dataclasses import dataclass

from solvent.node.log import BlockLog


@dataclass(frozen=True, slots=True)
class Commitment:
    """The arguments of one ``Vault.commit``."""

    height: int
    state_root: bytes
    withdrawals_root: bytes

    def args(self) -> tuple[int, bytes, bytes]:
        return self.height, self.state_root, self.withdrawals_root


def commit_heights(last_logged: int, commit_every: int, after: int | None = None) -> list[int]:
    """The commit heights of a log ending at ``last_logged``, above ``after`` (None: all)."""
    if commit_every < 1:
        raise ValueError("commit_every must be at least 1")
    first = 0 if after is None else (after // commit_every + 1) * commit_every
    return list(range(first, last_logged + 1, commit_every))


def commitment_at(log: BlockLog, height: int, commit_every: int) -> Commitment:
    """The roots logged at a commit height; ValueError if it is not one, or not logged."""
    if height % commit_every:
        raise ValueError(f"height {height} is not a commit height (a multiple of {commit_every})")
    record = log.block(height)
    if record is None:
        raise ValueError(f"block {height} is not in the log")
    if record.withdrawals_root is None:
        raise ValueError(f"block {height} was logged without a withdrawals root (a schema-1 log)")
    return Commitment(height, record.root, record.withdrawals_root)


def next_commitment(log: BlockLog, commit_every: int, last_committed: int | None) -> Commitment | None:
    """The commitment to send now: the latest commit height of the log above ``last_committed``
    (the vault's ``last_height()``; None: nothing committed yet), or None if there is none."""
    heights = commit_heights(log.height, commit_every, last_committed)
    if not heights:
        return None
    return commitment_at(log, heights[-1], commit_every)
