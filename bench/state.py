"""Memory and time of a large state, and the time of one account's health.

What it measures
----------------
1. Build: a state of ``--accounts`` accounts (default 1,000,000), each with USDC collateral and
   two positions, BTC-PERP and ETH-PERP. The deployment (``solvent.defaults.fixture_f()``) and
   the BTC and ETH index prices (five ``PriceReport``s each) go through ``engine.apply``; the
   accounts are then built as records (``state.Account``, ``state.Position``), since a million
   trades through the book would measure matching, not the state. The state stays consistent:
   accounts come in pairs that traded with each other, one long BTC-PERP and short ETH-PERP,
   the other the opposite, at the same sizes and prices (sizes and entry prices vary by pair),
   so longs equal shorts in each market, ``open_interest`` is their sum, and the quote balances
   add up to the deposits recorded in ``state.deposited`` and ``Asset.total_deposits``. A check
   after the build (not timed) proves it.
   Reported: build time, resident memory (``/proc/self/statm``) before and after and its
   delta, and the peak (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KiB on Linux). The
   garbage collector is off during the bulk build (no cycles are created; a loader of a
   snapshot would do the same) and back on afterwards.
2. Health: ``margin.cross_risk(state, account).health`` over ``--samples`` accounts drawn at
   random (default 100,000), mean microseconds per call; once for account records already at
   hand, once including the ``state.accounts[key]`` look-up.

Goals of the issue: resident memory <= 2 GB, health <= 20 us.

Run
---
    .venv/bin/python bench/state.py [--accounts 1000000] [--samples 100000] [--seed 7]

The last line printed is one JSON object of the figures.
"""

import argparse
import gc
import json
import platform
import random
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from _common import owner_of, peak_rss_mb, rss_mb
from solvent.core.engine import apply, genesis
from solvent.core.margin import cross_risk
from solvent.core.state import Account, Position, State
from solvent.core.tx import PriceReport, SetTime
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import GENESIS_TIME, GOVERNOR, fixture_f, reporters

PRICES = {"BTC": 100_000 * QUOTE_ONE, "ETH": 4_000 * QUOTE_ONE}
DEPOSIT = 20_000 * QUOTE_ONE  # USDC per account
PROGRESS_EVERY = 50_000
GOAL_MB = 2048
GOAL_US = 20.0


def priced_state() -> State:
    """Fixture F with BTC at 100,000 and ETH at 4,000, set by five reports each through ``apply``."""
    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    for tx in fixture_f():
        apply(state, tx)
    for asset, price in PRICES.items():
        for reporter in reporters(asset):
            apply(state, PriceReport(reporter, asset, price, GENESIS_TIME))
    for market_id, asset in (("BTC-PERP", "BTC"), ("ETH-PERP", "ETH")):
        mark = state.markets[market_id].mark_price
        if mark != PRICES[asset]:
            raise RuntimeError(f"{market_id}: mark {mark}, expected {PRICES[asset]}")
    return state


def build(state: State, count: int, seed: int, progress: Progress) -> None:
    """Add ``count`` accounts (even) in trading pairs; set open interest and deposits."""
    btc, eth = state.markets["BTC-PERP"], state.markets["ETH-PERP"]
    rng = random.Random(seed)
    accounts = state.accounts
    btc_oi = eth_oi = 0
    task = progress.add_task("building accounts", total=count)
    for i in range(0, count, 2):
        # The pair traded with each other: the same size and price on both sides.
        btc_size = rng.randrange(100, 5001) * btc.lot  # 0.01 to 0.5 BTC
        eth_size = rng.randrange(100, 5001) * eth.lot  # 0.1 to 5 ETH
        btc_cost = btc_size * (PRICES["BTC"] + rng.randrange(-2000, 2001) * btc.tick) // SIZE_ONE
        eth_cost = eth_size * (PRICES["ETH"] + rng.randrange(-2000, 2001) * eth.tick) // SIZE_ONE
        for sign, j in ((1, i), (-1, i + 1)):
            owner = owner_of(j)
            # Trades move quote at once: the long paid its cost, the short received it.
            accounts[(owner, 0)] = Account(
                owner,
                0,
                {"USDC": DEPOSIT - sign * btc_cost + sign * eth_cost},
                {
                    "BTC-PERP": Position(sign * btc_size, sign * btc_cost, btc.cum_funding),
                    "ETH-PERP": Position(-sign * eth_size, -sign * eth_cost, eth.cum_funding),
                },
            )
        btc_oi += btc_size
        eth_oi += eth_size
        if i % PROGRESS_EVERY == 0:
            progress.update(task, completed=i)
            progress.refresh()
    btc.open_interest += btc_oi
    eth.open_interest += eth_oi
    usdc = state.assets["USDC"]
    usdc.total_deposits += count * DEPOSIT
    state.deposited["USDC"] = state.deposited.get("USDC", 0) + count * DEPOSIT


def check_consistency(state: State) -> str:
    """Check longs = shorts = open interest per market and quote held (funds too) = quote deposited."""
    for market in state.markets.values():
        longs = shorts = 0
        for account in state.accounts.values():
            pos = account.positions.get(market.id)
            if pos is not None:
                longs += max(pos.size, 0)
                shorts += max(-pos.size, 0)
        if not longs == shorts == market.open_interest:
            raise RuntimeError(f"{market.id}: longs {longs}, shorts {shorts}, OI {market.open_interest}")
    quote = state.quote
    held = sum(account.balances.get(quote, 0) for account in state.accounts.values())
    held += sum(state.insurance.values())  # the genesis insurance funds
    net = state.deposited.get(quote, 0) - state.withdrawn.get(quote, 0)
    if not held == net == state.assets[quote].total_deposits:
        raise RuntimeError(f"{quote}: held {held}, deposited net {net}")
    btc, eth = state.markets["BTC-PERP"].open_interest, state.markets["ETH-PERP"].open_interest
    return (
        f"longs = shorts = open interest (BTC-PERP {btc / SIZE_ONE:,.4f} BTC, "
        f"ETH-PERP {eth / SIZE_ONE:,.3f} ETH); USDC held = deposited ({held / QUOTE_ONE:,.0f})"
    )


def time_health(state: State, count: int, samples: int, seed: int) -> tuple[float, float, int]:
    """Return (µs per health of an account at hand, µs including the look-up, liquidatable count)."""
    rng = random.Random(seed + 1)
    keys = [(owner_of(rng.randrange(count)), 0) for _ in range(samples)]
    records = [state.accounts[key] for key in keys]
    total = 0
    start = time.perf_counter()
    for account in records:
        total += cross_risk(state, account).health
    at_hand = time.perf_counter() - start
    accounts = state.accounts
    start = time.perf_counter()
    for key in keys:
        total += cross_risk(state, accounts[key]).health
    with_lookup = time.perf_counter() - start
    liquidatable = sum(1 for account in records[:1000] if cross_risk(state, account).health < 0)
    return at_hand / samples * 1e6, with_lookup / samples * 1e6, liquidatable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--accounts", type=int, default=1_000_000, help="accounts to build (default 1,000,000)"
    )
    parser.add_argument(
        "--samples", type=int, default=100_000, help="health calls to average (default 100,000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of sizes, prices and samples (default 7)")
    args = parser.parse_args()
    count = args.accounts - args.accounts % 2
    if count <= 0 or args.samples <= 0:
        parser.error("--accounts must be at least 2 and --samples positive")

    state = priced_state()
    gc.collect()
    rss_before = rss_mb()
    progress = Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        auto_refresh=False,  # no refresh thread while timing; refreshed every 50,000 accounts
        transient=True,
    )
    with progress:
        gc.disable()
        start = time.perf_counter()
        try:
            build(state, count, args.seed, progress)
        finally:
            build_s = time.perf_counter() - start
            gc.enable()
    rss_after = rss_mb()
    peak = peak_rss_mb()
    consistency = check_consistency(state)
    gc.collect()
    gc.freeze()  # a million records need no rescanning while health is timed
    health_us, health_lookup_us, liquidatable = time_health(state, count, args.samples, args.seed)
    gc.unfreeze()
    delta = rss_after - rss_before

    print(f"Python {platform.python_version()} on {platform.machine()}")
    print(f"accounts: {count:,}, each with USDC and 2 positions (BTC-PERP and ETH-PERP, opposite sides)")
    print(f"consistent: {consistency}")
    print(f"build: {build_s:.2f} s ({count / build_s:,.0f} accounts/s, records built directly)")
    print(
        f"resident memory: {rss_before:,.0f} MiB before, {rss_after:,.0f} MiB after, "
        f"delta {delta:,.0f} MiB ({delta * 2**20 / count:,.0f} bytes per account)"
    )
    print(
        f"peak resident (ru_maxrss): {peak:,.0f} MiB; goal <= {GOAL_MB:,} MiB: "
        + ("met" if peak <= GOAL_MB else "MISSED")
    )
    print(
        f"health, cross_risk(state, account).health: {health_us:.2f} us per call "
        f"(mean of {args.samples:,} random accounts); goal <= {GOAL_US:.0f} us: "
        + ("met" if health_us <= GOAL_US else "MISSED")
    )
    print(f"  including the state.accounts[key] look-up: {health_lookup_us:.2f} us per call")
    print(f"  liquidatable among the first 1,000 sampled: {liquidatable}")
    print(
        json.dumps(
            {
                "accounts": count,
                "rss_mb": round(peak),
                "rss_before_mb": round(rss_before),
                "rss_after_mb": round(rss_after),
                "rss_delta_mb": round(delta),
                "bytes_per_account": round(delta * 2**20 / count),
                "build_s": round(build_s, 2),
                "health_us": round(health_us, 3),
                "health_with_lookup_us": round(health_lookup_us, 3),
                "samples": args.samples,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
