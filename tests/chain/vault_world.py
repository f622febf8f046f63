"""
A vault on titanoboa with the operator's two trees built in Python (node.merkle).

``Operator`` stands for the node: it keeps the state tree (EXIT leaves, the
CURSORS leaf) and the append-only withdrawals tree, and commits their roots.
``World`` deploys a vault and a listed USDC mock with role-named actors.
"""

from dataclasses import dataclass, field
from typing import Any

import boa
from eth_utils import to_checksum_address

from solvent.chain.contracts import FEE_TOKEN, MOCK_TOKEN, REENTRANT_TOKEN, deploy_token, deploy_vault
from solvent.chain.leaves import asset_id, cursors_leaf, exit_leaf, withdrawal_leaf
from solvent.node.keccak import keccak256
from solvent.node.merkle import ZERO, MerkleTree

FORCE_WINDOW = 7 * 24 * 3600
CURSORS_SLOT = 0  # the operator keeps the CURSORS leaf at index 0; EXIT leaves follow
ClaimKey = tuple[str, int, str]  # (owner, subaccount, symbol)


@dataclass
class Operator:
    state: MerkleTree = field(default_factory=MerkleTree)
    withdrawals: MerkleTree = field(default_factory=MerkleTree)
    exit_slot: dict[ClaimKey, int] = field(default_factory=dict)
    exit_amount: dict[ClaimKey, int] = field(default_factory=dict)
    cursors: tuple[int, int] = (0, 0)
    withdrawn: list[tuple[str, str, int]] = field(default_factory=list)  # by id: (owner, symbol, amount)

    def __post_init__(self) -> None:
        self.set_cursors(0, 0)

    def set_exit(self, owner: str, subaccount: int, symbol: str, amount: int) -> None:
        key = (owner, subaccount, symbol)
        slot = self.exit_slot.setdefault(key, len(self.exit_slot) + 1)
        self.exit_amount[key] = amount
        leaf = exit_leaf(owner, subaccount, symbol, amount) if amount else ZERO[0]
        self.state.set_leaf(slot, leaf)

    def set_cursors(self, deposits_credited: int, forced_served: int) -> None:
        self.cursors = (deposits_credited, forced_served)
        self.state.set_leaf(CURSORS_SLOT, cursors_leaf(deposits_credited, forced_served))

    def add_withdrawal(self, owner: str, symbol: str, amount: int) -> int:
        withdrawal_id = len(self.withdrawn)
        self.withdrawn.append((owner, symbol, amount))
        self.withdrawals.set_leaf(withdrawal_id, withdrawal_leaf(withdrawal_id, owner, symbol, amount))
        return withdrawal_id

    def roots(self) -> tuple[bytes, bytes]:
        return self.state.root(), self.withdrawals.root()

    def exit_args(self, owner: str, subaccount: int, symbol: str) -> tuple[Any, ...]:
        """(owner, subaccount, asset, amount, index, proof) for ``Vault.exit`` (add the height)."""
        key = (owner, subaccount, symbol)
        slot = self.exit_slot[key]
        return owner, subaccount, asset_id(symbol), self.exit_amount[key], slot, self.state.proof(slot)

    def withdraw_args(self, withdrawal_id: int, count: int | None = None) -> tuple[Any, ...]:
        """(withdrawal_id, owner, asset, amount, proof) for ``Vault.withdraw`` (add the height);
        with ``count``, the proof in the tree of the first ``count`` withdrawals (an older root)."""
        owner, symbol, amount = self.withdrawn[withdrawal_id]
        tree = self.withdrawals
        if count is not None:
            tree = MerkleTree()
            for i, (who, sym, value) in enumerate(self.withdrawn[:count]):
                tree.set_leaf(i, withdrawal_leaf(i, who, sym, value))
        return withdrawal_id, owner, asset_id(symbol), amount, tree.proof(withdrawal_id)

    def freeze_args(self, request_id: int) -> tuple[Any, ...]:
        """(request_id, deposits_credited, forced_served, index, proof) for ``Vault.freeze``."""
        return (request_id, *self.cursors, CURSORS_SLOT, self.state.proof(CURSORS_SLOT))


def role_address(name: str) -> str:
    """The same address for a role in every test (boa's generated ones depend on call order,
    which would make Hypothesis's draws depend on history)."""
    address = to_checksum_address(keccak256(name.encode())[-20:])
    boa.env.alias(address, name)
    return address


@dataclass
class World:
    vault: Any
    usdc: Any
    admin: str
    sequencer: str
    depositor: str  # "U" of ADV-25
    other: str  # "V" of ADV-25
    attacker: str
    operator: Operator = field(default_factory=Operator)
    height: int = 0

    @classmethod
    def create(cls) -> "World":
        admin, sequencer, depositor, other, attacker = (
            role_address(n) for n in ("admin", "sequencer", "depositor", "other", "attacker")
        )
        vault = deploy_vault(sequencer, FORCE_WINDOW, admin=admin)
        usdc = deploy_token("USDC")
        vault.list_asset("USDC", usdc.address, sender=admin)
        for actor in (depositor, other, attacker):
            usdc.mint(actor, 10**12)
            usdc.approve(vault.address, 2**256 - 1, sender=actor)
        return cls(vault, usdc, admin, sequencer, depositor, other, attacker)

    def list_token(self, symbol: str, kind: str = MOCK_TOKEN) -> Any:
        token = deploy_token(symbol, name=kind)
        self.vault.list_asset(symbol, token.address, sender=self.admin)
        for actor in (self.depositor, self.other, self.attacker):
            token.mint(actor, 10**12)
            token.approve(self.vault.address, 2**256 - 1, sender=actor)
        return token

    def deposit(self, who: str, amount: int, symbol: str = "USDC", subaccount: int = 0) -> int:
        deposit_id: int = self.vault.deposit(asset_id(symbol), amount, subaccount, sender=who)
        return deposit_id

    def commit(self, height: int | None = None) -> int:
        """Commit the operator's roots at ``height`` (default: the next multiple of 10)."""
        self.height = self.height + 10 if height is None else height
        state_root, withdrawals_root = self.operator.roots()
        self.vault.commit(self.height, state_root, withdrawals_root, sender=self.sequencer)
        return self.height


__all__ = ["FEE_TOKEN", "FORCE_WINDOW", "MOCK_TOKEN", "REENTRANT_TOKEN", "Operator", "World"]
