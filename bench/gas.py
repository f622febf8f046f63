"""Gas of the vault's calls (contracts/Vault.vy) on titanoboa, against the issue's goals and StarkEx.

What it measures
----------------
Each call is measured as a transaction of its own: 21,000 + calldata (16 gas a non-zero byte,
4 a zero byte) + execution, less the storage refund (at most a fifth of the total, EIP-3529),
with cold storage and accounts at its start (boa's access lists are reset before each call).
The token is the plain ERC-20 of ``contracts/test/MockERC20.vy`` (an OpenZeppelin-like token
costs about the same: two balance slots, an allowance).

1. ``deposit_gas``: a depositor's second deposit (the vault and the depositor already hold the
   token; the first deposit into an empty vault also pays 20,000 for the token's new slot).
2. ``commit_gas``: a commitment after the first (the first writes the state root slot fresh).
3. ``withdraw_gas``: a claim with a full 32-sibling proof out of a withdrawals tree of
   ``--leaves`` leaves (default 1,000,000), the owner already holding the token and the id's
   bitmap word already written (255 claims in 256). The tree has a fixed depth of 32, so a
   proof is 32 siblings and a claim costs the same whether the tree has 1,000 or 1,000,000
   leaves: only the bytes of the siblings matter (a zero byte is cheaper than a non-zero one,
   and beyond level 0 every sibling is a hash). ``withdraw_cold_gas``: the worst case, the
   first id of a bitmap word paid to an address that never held the token.
4. ``request_gas`` (a forced withdrawal after the first), ``freeze_gas`` (with the CURSORS
   proof), ``exit_gas`` (an EXIT leaf proof, owner holding the token), ``refund_gas``.

Goals of the issue: withdraw <= 100,000 gas, commit <= 60,000 gas.

Peers: StarkEx publishes per-transaction gas (docs.starkware.co/starkex/on-chain_gas_usage.html,
recursive proofs, fully optimised batches): perpetual trade 426, deposit 10,000, withdrawal
31,000, full withdrawal 40,000; forced withdrawal 86,185 and forced trade 104,189 (mainnet
averages, three months to 28 February 2023). Its trades are cheap because a STARK proof covers
the batch; Solvent commits a root per ``commit_every`` blocks at ``commit_gas`` whatever the
number of trades, and verifies nothing else on chain (the trust model of docs/settlement.md).

Run
---
    .venv/bin/python bench/gas.py [--leaves 1000000] [--quick]

The last line printed is one JSON object of the figures.
"""

import argparse
import json
import time

import boa

from solvent.chain.contracts import deploy_token, deploy_vault, tx_gas
from solvent.chain.leaves import asset_id, cursors_leaf, exit_leaf, withdrawal_leaf
from solvent.node.merkle import MerkleTree

WITHDRAW_GOAL = 100_000
COMMIT_GOAL = 60_000
STARKEX = {  # gas per transaction, docs.starkware.co/starkex/on-chain_gas_usage.html
    "starkex_perp_trade_gas": 426,
    "starkex_deposit_gas": 10_000,
    "starkex_withdrawal_gas": 31_000,
    "starkex_forced_withdrawal_gas": 86_185,
}
USDC = asset_id("USDC")


def _address(i: int) -> str:
    return boa.env.generate_address(f"user{i}")


def measure(leaves: int) -> dict[str, int]:
    sequencer, admin, user, other, fresh = (_address(i) for i in range(5))
    vault = deploy_vault(sequencer, 3600, admin=admin)
    usdc = deploy_token("USDC")
    vault.list_asset("USDC", usdc.address, sender=admin)
    for who in (user, other):
        usdc.mint(who, 10**15)
        usdc.approve(vault.address, 2**256 - 1, sender=who)
    figures: dict[str, int] = {}
    vault.deposit(USDC, 10**12, 0, sender=user)
    figures["deposit_gas"] = tx_gas(vault.deposit, USDC, 10**9, 0, sender=user)
    vault.deposit(USDC, 10**9, 0, sender=other)  # id 2: left uncredited, refunded below

    # The trees: `leaves` withdrawals (ids 0..leaves-1), an EXIT leaf per user, the CURSORS leaf.
    withdrawals = MerkleTree()
    for i in range(leaves):
        owner = user if i % 2 else other
        withdrawals.set_leaf(i, withdrawal_leaf(i, owner, "USDC", 1_000 + i))
    state = MerkleTree()
    state.set_leaf(0, cursors_leaf(2, 0))
    state.set_leaf(1, exit_leaf(user, 0, "USDC", 10**6))
    for i in range(2, 1_000):
        state.set_leaf(i, exit_leaf(_address(100 + i % 7), i, "USDC", i))
    vault.commit(10, state.root(), withdrawals.root(), sender=sequencer)
    figures["commit_gas"] = tx_gas(vault.commit, 20, state.root(), withdrawals.root(), sender=sequencer)

    # A claim whose bitmap word is written already (id 2*k+1 after 2*k-1), paid to a holder.
    last = leaves - 1 if (leaves - 1) % 2 else leaves - 2
    vault.withdraw(last - 2, user, USDC, 1_000 + last - 2, withdrawals.proof(last - 2), 20)
    args = (last, user, USDC, 1_000 + last, withdrawals.proof(last), 20)
    figures["withdraw_gas"] = tx_gas(vault.withdraw, *args, sender=other)
    # The worst case: the first id of a bitmap word, to an address without tokens.
    cold = (last // 256 - 1) * 256
    fresh_tree = MerkleTree()
    fresh_tree.set_leaf(cold, withdrawal_leaf(cold, fresh, "USDC", 7))
    vault.commit(30, state.root(), fresh_tree.root(), sender=sequencer)
    cold_args = (cold, fresh, USDC, 7, fresh_tree.proof(cold), 30)
    figures["withdraw_cold_gas"] = tx_gas(vault.withdraw, *cold_args, sender=other)

    vault.request_forced_withdrawal(0, USDC, 10**6, sender=user)  # the first writes the count fresh
    figures["request_gas"] = tx_gas(vault.request_forced_withdrawal, 0, USDC, 10**6, sender=user)
    boa.env.time_travel(seconds=3_612)
    figures["freeze_gas"] = tx_gas(vault.freeze, 0, 2, 0, 0, state.proof(0), sender=other)
    exit_args = (user, 0, USDC, 10**6, 1, state.proof(1), 30)
    figures["exit_gas"] = tx_gas(vault.exit, *exit_args, sender=other)
    figures["refund_gas"] = tx_gas(vault.refund, 2, other, 0, USDC, 10**9, sender=other)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="withdrawals in the tree")
    parser.add_argument("--quick", action="store_true", help="a 2,000-leaf tree (same gas: fixed depth)")
    opts = parser.parse_args()
    leaves = 2_000 if opts.quick else opts.leaves
    started = time.perf_counter()
    figures = measure(leaves)
    print(f"Vault gas, one transaction per call (withdrawals tree of {leaves:,} leaves, depth 32)")
    for key, value in figures.items():
        goal = {"withdraw_gas": WITHDRAW_GOAL, "commit_gas": COMMIT_GOAL}.get(key)
        note = f"  goal <= {goal:,}: {'met' if value <= goal else 'MISSED'}" if goal else ""
        print(f"  {key:<20}{value:>10,}{note}")
    print("StarkEx, published per transaction (recursive proofs; forced withdrawal: mainnet average):")
    for key, value in STARKEX.items():
        print(f"  {key:<32}{value:>8,}")
    print(f"({time.perf_counter() - started:.1f} s)")
    print(json.dumps({**figures, **STARKEX, "leaves": leaves}))


if __name__ == "__main__":
    main()
