"""
The leaves the vault reads: EXIT (8), WITHDRAWAL (9) and CURSORS (10).

Introduction
------------
Each leaf is ``keccak256(abi.encode(...))`` of 32-byte words, as every leaf of
``node.state_root``; the words are made by that module's ``word``,
``address_word`` and ``id_hash``, and the encoders are that module's own, so
the node's trees and ``contracts/Vault.vy`` agree byte for byte.
``tests/chain`` checks every encoding against the contract.

=========  ==============================================================  ===========
kind       fields (each one ABI word)                                      tree
=========  ==============================================================  ===========
EXIT       (8, address owner, uint256 subaccount, bytes32 asset, amount)   state
WITHDRAWAL (9, uint256 withdrawal_id, address owner, bytes32 asset, amount) withdrawals
CURSORS    (10, uint256 deposits_credited, uint256 forced_served)          state
=========  ==============================================================  ===========

Glossary
--------
asset    bytes32 keccak256 of the asset's symbol (``asset_id("USDC")``)
amount   token units (the token's own decimals)
"""

from solvent.node.keccak import keccak256

# One encoding, the node's: the vault verifies exactly the leaves the node's trees hold.
from solvent.node.state_root import (
    CURSORS,
    EXIT,
    WITHDRAWAL,
    cursors_encoding,
    exit_encoding,
    id_hash,
    withdrawal_encoding,
)

__all__ = [
    "CURSORS",
    "EXIT",
    "WITHDRAWAL",
    "asset_id",
    "cursors_encoding",
    "cursors_leaf",
    "exit_encoding",
    "exit_leaf",
    "withdrawal_encoding",
    "withdrawal_leaf",
]


def asset_id(symbol: str) -> bytes:
    """Return an asset's id on chain: keccak256 of its symbol."""
    return id_hash(symbol)


def exit_leaf(owner: str, subaccount: int, symbol: str, amount: int) -> bytes:
    """Return the EXIT leaf hash."""
    return keccak256(exit_encoding(owner, subaccount, symbol, amount))


def withdrawal_leaf(withdrawal_id: int, owner: str, symbol: str, amount: int) -> bytes:
    """Return the WITHDRAWAL leaf hash."""
    return keccak256(withdrawal_encoding(withdrawal_id, owner, symbol, amount))


def cursors_leaf(deposits_credited: int, forced_served: int) -> bytes:
    """Return the CURSORS leaf hash."""
    return keccak256(cursors_encoding(deposits_credited, forced_served))
