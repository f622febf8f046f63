"""
Leaving without the operator: the proofs a frozen vault needs, rebuilt from a copy of the log.

Introduction
------------
When the operator stops serving, its API stops serving proofs too. The vault
then pays against the **last committed** state root, and everything needed
to prove a claim there is public: the log (every block, as the node wrote
it; ``solvent verify`` replays it) and the vault's events. ``kit_at``
replays a copy of the log up to the vault's last committed height, checking
every root on the way (``node.verify.replay``), and checks that the root it
rebuilt is the one on chain; the kit then gives the CURSORS proof that
``freeze`` takes, the EXIT proof of every claim and the WITHDRAWAL proof of
every withdrawal in that root (the vault refuses one already paid:
``AlreadyWithdrawn``), in the JSON the node's
own proof endpoints serve, so ``VaultClient.freeze``/``exit`` take either.

This is the data-availability assumption of the design, named: a user can
exit without the operator as long as someone (the user, a watcher, an
archive) kept a copy of the log up to the last committed height. Without
the log no proof can be made; the refund of uncredited deposits needs only
the chain.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solvent.node.state_root import StateTree, cursors_proof, exit_fields, exit_proof, withdrawal_proof
from solvent.node.verify import replay


class EscapeError(Exception):
    """The log cannot prove claims against the vault's root."""


@dataclass(frozen=True, slots=True)
class EscapeKit:
    """The trees of a committed height, rebuilt from the log."""

    height: int
    state_root: str  # 0x hex
    tree: StateTree

    def cursors(self) -> dict[str, Any]:
        """The CURSORS proof ``Vault.freeze`` takes."""
        proof = cursors_proof(self.tree)
        if proof is None:  # pragma: no cover - kit_at checks the checkpoint exists
            raise EscapeError("no checkpoint")
        return proof

    def claims(self, owner: str | None = None) -> list[dict[str, Any]]:
        """The EXIT proofs of every claim at this root (of one owner if given), in leaf order."""
        checkpoint = self.tree.checkpoint
        if checkpoint is None:  # pragma: no cover - kit_at checks the checkpoint exists
            raise EscapeError("no checkpoint")
        proofs = []
        for key in sorted(checkpoint.exits, key=lambda k: checkpoint.exit_index[k]):
            who, subaccount, asset = exit_fields(key)
            if owner is not None and who != owner.lower():
                continue
            proof = exit_proof(self.tree, who, subaccount, asset)
            if proof is not None:
                proofs.append(proof)
        return proofs

    def withdrawals(self, owner: str | None = None) -> list[dict[str, Any]]:
        """The WITHDRAWAL proofs at this root (of one owner if given; amount 0 left out): the
        vault still pays them after a freeze, once each."""
        checkpoint = self.tree.checkpoint
        count = 0 if checkpoint is None else checkpoint.withdrawals
        proofs = []
        for withdrawal_id in range(count):
            proof = withdrawal_proof(self.tree, withdrawal_id)
            if proof is None or proof["amount"] == 0:
                continue
            if owner is None or proof["owner"] == owner.lower():
                proofs.append(proof)
        return proofs


def kit_at(directory: str | Path, height: int, state_root: str | None = None) -> EscapeKit:
    """Replay the log in ``directory`` to the commit height ``height`` and return its kit; if
    ``state_root`` (0x hex, the vault's) is given, refuse a log whose root there differs."""
    try:
        result = replay(directory, until=height, workers=0)
    except FileNotFoundError as error:
        raise EscapeError(f"no copy of the log at {directory}: {error}") from error
    if not result.report.ok:
        raise EscapeError(f"the log does not replay to height {height}: {result.report.reason}")
    checkpoint = result.tree.checkpoint
    if checkpoint is None or checkpoint.height != height:
        raise EscapeError(
            f"height {height} is not a commit height of this log (commit_every: a multiple of it)"
        )
    root = "0x" + checkpoint.state_root.hex()
    if state_root is not None and root != state_root.lower():
        raise EscapeError(f"the log's state root at {height} is {root}, the vault's {state_root}")
    return EscapeKit(height, root, result.tree)
