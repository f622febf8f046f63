"""
The leaves the vault reads: EXIT (8), WITHDRAWAL (9) and CURSORS (10).

Introduction
------------
Each leaf is ``keccak256(abi.encode(...))`` of 32-byte words, as every leaf of
``node.state_root``; the words are made by that module's ``word``,
``address_word`` and ``id_hash`` so the node's trees and ``contracts/Vault.vy``
agree byte for byte. ``tests/chain`` checks every encoding against the contract.

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
from solvent.node.state_root import address_word, id_hash, word

EXIT, WITHDRAWAL, CURSORS = 8, 9, 10


def asset_id(symbol: str) -> bytes:
    """Return an asset's id on chain: keccak256 of its symbol."""
    return id_hash(symbol)


def exit_encoding(owner: str, subaccount: int, symbol: str, amount: int) -> bytes:
    """Return the ABI encoding of an EXIT leaf: what ``owner/subaccount`` may take of an asset."""
    return word(EXIT) + address_word(owner) + word(subaccount) + asset_id(symbol) + word(amount)


def withdrawal_encoding(withdrawal_id: int, owner: str, symbol: str, amount: int) -> bytes:
    """Return the ABI encoding of a WITHDRAWAL leaf (its index in the tree is ``withdrawal_id``)."""
    return word(WITHDRAWAL) + word(withdrawal_id) + address_word(owner) + asset_id(symbol) + word(amount)


def cursors_encoding(deposits_credited: int, forced_served: int) -> bytes:
    """Return the ABI encoding of the CURSORS leaf: deposits credited and forced requests served."""
    return word(CURSORS) + word(deposits_credited) + word(forced_served)


def exit_leaf(owner: str, subaccount: int, symbol: str, amount: int) -> bytes:
    """Return the EXIT leaf hash."""
    return keccak256(exit_encoding(owner, subaccount, symbol, amount))


def withdrawal_leaf(withdrawal_id: int, owner: str, symbol: str, amount: int) -> bytes:
    """Return the WITHDRAWAL leaf hash."""
    return keccak256(withdrawal_encoding(withdrawal_id, owner, symbol, amount))


def cursors_leaf(deposits_credited: int, forced_served: int) -> bytes:
    """Return the CURSORS leaf hash."""
    return keccak256(cursors_encoding(deposits_credited, forced_served))
