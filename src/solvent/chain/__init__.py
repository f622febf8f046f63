"""
Settlement on chain: the vault contract's leaf encodings and a loader for the contracts.

Introduction
------------
``leaves`` encodes the three leaf kinds the vault reads (EXIT 8, WITHDRAWAL 9,
CURSORS 10) with the node's own word encoders and keccak, so the node and the
contract hash them identically; ``contracts`` finds the Vyper sources (in a
checkout or an installed package) and deploys them with titanoboa. The design
is ``docs/settlement.md``.
"""
