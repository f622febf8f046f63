"""What a commit height costs the sequencer: the EXIT refresh and the copies of both trees.

What it measures
----------------
At a height that is a multiple of the genesis ``commit_every`` the state tree refreshes the EXIT
leaves (``StateTree.refresh_exits``: ``core.exit_claims`` for each account whose claim can have
changed, found in one pass over the accounts) and keeps a checkpoint: a copy of the state tree
and of the withdrawals tree, from which the node serves proofs (docs/settlement.md). Other
heights update only the leaves a block touched.

For each account count the script builds a genesis state (Fixture F) with that many accounts,
each credited 1,000 USDC by the operator, then times ``after_block`` on an empty block at an
ordinary height and at a commit height (median of ``--repeat``), and the state tree's copy
alone. Accounts hold no positions: an account with positions also values them at the marks, so
these figures are a lower bound per account. The figure that matters is ``commit_ms`` against
the block interval: the sequencer does it inline, every ``commit_every`` blocks.

Run
---
    .venv/bin/python bench/checkpoint.py [--accounts 10000,50000] [--repeat 5] [--quick]

The last line printed is one JSON object of the figures.
"""

import argparse
import json
import statistics
import time

from _common import owner_of, peak_rss_mb
from solvent.core.engine import apply
from solvent.core.tx import Deposit, Signed
from solvent.defaults import usd
from solvent.node.genesis import GenesisConfig, genesis_state
from solvent.node.state_root import StateTree

COMMIT_EVERY = 10


def measure(accounts: int, repeat: int) -> dict[str, float]:
    config = GenesisConfig(commit_every=COMMIT_EVERY)
    state = genesis_state(config)
    for i in range(accounts):
        deposit = Deposit(owner_of(i + 1), 0, "USDC", usd("1000"))
        apply(state, Signed(config.operator, i + 1, 0, deposit))
    started = time.perf_counter()
    tree = StateTree.build(state, commit_every=COMMIT_EVERY)
    build_s = time.perf_counter() - started
    ordinary, commit, copy = [], [], []
    height = COMMIT_EVERY
    for _ in range(repeat):
        started = time.perf_counter()
        tree.after_block(state, [], set(), height + 1)
        ordinary.append(time.perf_counter() - started)
        height += COMMIT_EVERY
        started = time.perf_counter()
        tree.after_block(state, [], set(), height)
        commit.append(time.perf_counter() - started)
        started = time.perf_counter()
        tree.tree.copy()
        copy.append(time.perf_counter() - started)
    return {
        "accounts": accounts,
        "leaves": len(tree.index),
        "build_s": round(build_s, 3),
        "ordinary_ms": round(statistics.median(ordinary) * 1000, 2),
        "commit_ms": round(statistics.median(commit) * 1000, 2),
        "state_tree_copy_ms": round(statistics.median(copy) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="10000,50000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 accounts, 3 repeats")
    args = parser.parse_args()
    counts = [1_000, 5_000] if args.quick else [int(n) for n in args.accounts.split(",")]
    repeat = 3 if args.quick else args.repeat
    rows = []
    for count in counts:
        row = measure(count, repeat)
        rows.append(row)
        per_account_us = row["commit_ms"] * 1000 / count
        print(
            f"{count:>9,} accounts ({row['leaves']:,} leaves): ordinary block {row['ordinary_ms']:.2f} ms, "
            f"commit height {row['commit_ms']:.1f} ms ({per_account_us:.2f} µs per account), "
            f"state tree copy {row['state_tree_copy_ms']:.2f} ms"
        )
    last = rows[-1]
    print(
        json.dumps(
            {
                "commit_every": COMMIT_EVERY,
                "rows": rows,
                "commit_ms": last["commit_ms"],
                "commit_us_per_account": round(last["commit_ms"] * 1000 / last["accounts"], 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
