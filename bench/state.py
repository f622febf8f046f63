"""Memory and time of a large state: 1,000,000 accounts with 2 positions each, and one health.

The markets and prices are set up through ``apply``; the accounts are built as records
directly (a million trades through the book would measure matching, not the state). Accounts
come in pairs, one long BTC-PERP and short ETH-PERP, the other the opposite, so that longs
equal shorts in both markets and open interest is set to match. Health is
``margin.cross_risk(state, account).health``, averaged over random accounts.

    python bench/state.py [--accounts 1000000] [--samples 100000]

The last line printed is one JSON object of the figures.
"""

import argparse
import gc
import json
import random
import resource
import time

from rich.progress import Progress

from solvent.core.engine import apply
from solvent.core.hashing import state_hash
from solvent.core.margin import cross_risk
from solvent.core.state import Account, Position
from solvent.core.tx import PriceReport
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import reporters
from solvent.scenario import start_state


def rss_mb() -> float:
    """Return this process's current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    count = args.accounts - args.accounts % 2
    state = start_state("fixture_f")
    for asset, price in (("BTC", 100_000), ("ETH", 4_000)):
        for reporter in reporters(asset)[:3]:
            apply(state, PriceReport(reporter, asset, price * QUOTE_ONE, state.time))
    btc, eth = state.markets["BTC-PERP"], state.markets["ETH-PERP"]
    btc_size, eth_size = SIZE_ONE // 10, SIZE_ONE  # 0.1 BTC and 1 ETH
    btc_cost, eth_cost = 10_000 * QUOTE_ONE, 4_000 * QUOTE_ONE
    gc.collect()
    before = rss_mb()
    gc.disable()  # the records hold no cycles; the collector would only rescan them
    start = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task("building accounts", total=count)
        for i in range(count):
            owner = f"0x{i:040x}"
            sign = 1 if i % 2 == 0 else -1
            quote = 20_000 * QUOTE_ONE - sign * btc_cost + sign * eth_cost
            state.accounts[(owner, 0)] = Account(
                owner,
                0,
                {"USDC": quote},
                {
                    "BTC-PERP": Position(sign * btc_size, sign * btc_cost, btc.cum_funding),
                    "ETH-PERP": Position(-sign * eth_size, -sign * eth_cost, eth.cum_funding),
                },
            )
            if i % 50_000 == 0:
                progress.update(task, completed=i)
    build_s = time.perf_counter() - start
    gc.enable()
    btc.open_interest = count // 2 * btc_size
    eth.open_interest = count // 2 * eth_size
    state.deposited["USDC"] = sum(a.balances["USDC"] for a in state.accounts.values())
    after = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rng = random.Random(7)
    keys = [(f"0x{rng.randrange(count):040x}", 0) for _ in range(args.samples)]
    accounts = [state.accounts[k] for k in keys]
    start = time.perf_counter()
    total = 0
    for account in accounts:
        total += cross_risk(state, account).health
    health_us = (time.perf_counter() - start) / len(accounts) * 1e6
    small = count <= 20_000
    print(f"accounts: {count:,} with 2 positions each (0.1 BTC-PERP and 1 ETH-PERP, opposite sides)")
    print(f"build: {build_s:.1f} s ({count / build_s:,.0f} accounts/s)")
    print(f"memory: {after:,.0f} MiB resident ({after - before:,.0f} MiB for the accounts)")
    print(f"peak resident: {peak:,.0f} MiB")
    print(f"health of one account: {health_us:.2f} µs (mean of {len(accounts):,}); goal ≤ 20 µs")
    print("memory goal ≤ 2,048 MiB: " + ("met" if peak <= 2048 else "MISSED"))
    if small:
        print(f"state hash: {state_hash(state)[:16]}…")
    print(
        json.dumps(
            {
                "accounts": count,
                "rss_mb": round(peak),
                "accounts_mb": round(after - before),
                "build_s": round(build_s, 2),
                "health_us": round(health_us, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
