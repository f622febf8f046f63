"""Liquidations per second through ``engine.apply``, and the keeper's scan and confirmation.

What it measures
----------------
Set-up (not timed), every step through ``engine.apply``: Fixture F, BTC at 100,000; the
governor raises the BTC-PERP open-interest cap and the MAJ liquidation cap per window (so
that the run measures liquidations, not ``LiquidationCapReached``); an LP funds the pool
with ``--pool`` USDC (the backstop); ``--accounts`` traders (default 2,000) each buy 0.1 BTC
from a maker, 80% of them at 8.7 to 9.9x leverage and 20% at 2 to 5x. The index then falls
7% (one update, five reports) and a bidder rests 40 bids of 10 BTC inside the liquidation
band. Each of ``--repeats`` rounds (default 5; figures are medians) runs three phases,
each on its own deep copy of that state:

1. keeper: ``Keeper.underwater`` (screen of every bucket with the risk index + the core's
   exact check of each candidate) — ``scan_confirm_ms``; then ``Liquidate`` of every
   confirmed account through ``apply``, one after the other — ``liquidations_per_s``
   (refusals counted apart);
2. ``Keeper.run`` end to end (screen, confirm, ``apply``, observing every result's events,
   passes until no progress) — ``keeper_run_per_s``, passes, and what is left liquidatable;
3. reference: the same accounts close the same sizes themselves with reduce-only IOC sells
   through ``apply`` — ``reference_close_per_s``: what a plain taker order costs.

Run
---
    .venv/bin/python bench/liquidation.py [--accounts 2000] [--pool 20000000] [--repeats 5] [--seed 7]

The last line printed is one JSON object of the figures.
"""

import argparse
import copy
import json
import platform
import random
import statistics
import time
from dataclasses import dataclass

from _common import owner_of
from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.events import Event
from solvent.core.state import State, TimeInForce
from solvent.core.tx import (
    Deposit,
    Liquidate,
    PlaceOrder,
    PoolDeposit,
    PriceReport,
    SetDomain,
    SetMarketLimits,
    SetTime,
    Tx,
)
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import GOVERNOR, address_of, reporters
from solvent.keeper import Keeper, RiskIndex
from solvent.scenario import check_conservation, start_state

BTC = "BTC-PERP"
POSITION = SIZE_ONE // 10  # 0.1 BTC each
START = 100_000 * QUOTE_ONE
DROP = 93_000 * QUOTE_ONE  # -7%


def report(state: State, asset: str, price: int) -> None:
    apply(state, SetTime(state.time + 1))
    for reporter in reporters(asset):
        apply(state, PriceReport(reporter, asset, price, state.time))


def setup(count: int, pool: int, seed: int) -> State:
    rng = random.Random(seed)
    state = start_state("fixture_f")
    report(state, "BTC", START)
    for asset, price in (("ETH", 4_000), ("ALT", 1), ("USDT", 1)):
        report(state, asset, price * QUOTE_ONE)
    apply(state, SetMarketLimits(GOVERNOR, BTC, oi_cap=100_000 * SIZE_ONE))
    apply(state, SetDomain(GOVERNOR, "MAJ", liq_cap_notional=10**12 * QUOTE_ONE))
    maker, bidder, lp = address_of("maker"), address_of("bidder"), address_of("lp")
    for owner in (maker, bidder, lp):
        apply(state, Deposit(owner, 0, "USDC", 10**9 * QUOTE_ONE))
    apply(state, PoolDeposit(lp, 0, "LP", pool * QUOTE_ONE))
    notional = POSITION * START // SIZE_ONE
    for i in range(count):
        owner = owner_of(i)
        margin = rng.uniform(0.101, 0.115) if i % 5 else rng.uniform(0.2, 0.5)
        apply(state, Deposit(owner, 0, "USDC", int(notional * margin) + 10 * QUOTE_ONE))
        apply(state, PlaceOrder(maker, 0, BTC, False, POSITION, START))
        apply(state, PlaceOrder(owner, 0, BTC, True, POSITION, START, TimeInForce.IOC))
    report(state, "BTC", DROP)
    mark = state.markets[BTC].mark_price
    tick = state.markets[BTC].tick
    for level in range(40):
        price = (mark * (1000 - level * 19 // 40) // 1000) // tick * tick  # within 2% below
        apply(state, PlaceOrder(bidder, 0, BTC, True, 10 * SIZE_ONE, price))
    return state


def liquidated(events: list[Event]) -> int:
    return sum(1 for e in events if e.kind == "Liquidated")


@dataclass
class Direct:
    """Phase 1: scan + confirm, then each Liquidate through apply."""

    index_ms: float
    buckets: int
    candidates: int
    found: int
    scan_confirm_ms: float
    ok: int
    refused: int
    apply_s: float
    closed: dict[str, int]


def direct(base: State, keeper_owner: str) -> Direct:
    state = copy.deepcopy(base)
    start = time.perf_counter()
    index = RiskIndex.from_state(state)
    index_ms = (time.perf_counter() - start) * 1e3
    keeper = Keeper(keeper_owner, index=index)
    start = time.perf_counter()
    screen = index.screen(state)
    found = keeper.underwater(state)
    scan_confirm_ms = (time.perf_counter() - start) * 1e3
    txs = [tx for tx in (keeper.tx_for(state, u) for u in found) if tx is not None]
    ok = refused = 0
    closed: dict[str, int] = {}
    start = time.perf_counter()
    for tx in txs:
        try:
            events = apply(state, tx)
        except ProtocolError:
            refused += 1
            continue
        ok += liquidated(events)
        assert isinstance(tx, Liquidate)
        closed[tx.owner] = sum(int(e.data["size"] or 0) for e in events if e.kind == "Liquidated")
    apply_s = time.perf_counter() - start
    return Direct(
        index_ms, index.nrows, len(screen), len(found), scan_confirm_ms, ok, refused, apply_s, closed
    )


@dataclass
class Run:
    """Phase 2: Keeper.run end to end."""

    ok: int
    refused: int
    seconds: float
    passes: int
    left: int
    conserved: bool


def keeper_run(base: State, keeper_owner: str) -> Run:
    state = copy.deepcopy(base)
    keeper = Keeper(keeper_owner, index=RiskIndex.from_state(state))
    start = time.perf_counter()
    outcomes = keeper.run(state)
    seconds = time.perf_counter() - start
    ok = sum(liquidated(r) for _, r in outcomes if isinstance(r, list))
    refused = sum(1 for _, r in outcomes if isinstance(r, ProtocolError))
    left = len(keeper.underwater(state))
    conserved = all(gap == 0 for gap in check_conservation(state).values())
    return Run(ok, refused, seconds, keeper.passes, left, conserved)


def reference(base: State, closed: dict[str, int]) -> tuple[int, float]:
    """Phase 3: the same sizes closed by the accounts themselves with reduce-only IOC sells."""
    state = copy.deepcopy(base)
    orders: list[Tx] = [
        PlaceOrder(owner, 0, BTC, False, size, None, TimeInForce.IOC, reduce_only=True)
        for owner, size in closed.items()
        if size
    ]
    done = 0
    start = time.perf_counter()
    for order in orders:
        try:
            apply(state, order)
            done += 1
        except ProtocolError:
            pass
    return done, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--pool", type=int, default=20_000_000, help="USDC in the pool (backstop)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the three phases (median)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.accounts <= 0 or args.repeats <= 0:
        parser.error("--accounts and --repeats must be positive")

    start = time.perf_counter()
    base = setup(args.accounts, args.pool, args.seed)
    setup_s = time.perf_counter() - start
    keeper_owner = address_of("keeper")
    directs: list[Direct] = []
    runs: list[Run] = []
    refs: list[tuple[int, float]] = []
    for _ in range(args.repeats):  # interleaved, so that a busy moment hits every phase alike
        d = direct(base, keeper_owner)
        directs.append(d)
        runs.append(keeper_run(base, keeper_owner))
        refs.append(reference(base, d.closed))
    first, run = directs[0], runs[0]
    ok, refused, done = first.ok, first.refused, refs[0][0]
    if any((d.ok, d.refused) != (ok, refused) for d in directs) or any(r.ok != run.ok for r in runs):
        raise RuntimeError("the rounds did not liquidate the same accounts")
    scan_confirm_ms = statistics.median(d.scan_confirm_ms for d in directs)
    index_ms = statistics.median(d.index_ms for d in directs)
    apply_s = statistics.median(d.apply_s for d in directs)
    per_s = ok / apply_s
    run_s = statistics.median(r.seconds for r in runs)
    ref_s = statistics.median(s for _, s in refs)
    ref_per_s = done / ref_s if ref_s else 0.0
    screen_len, found_len = first.candidates, first.found
    run_ok, run_refused, left, conserved = run.ok, run.refused, run.left, all(r.conserved for r in runs)

    print(f"Python {platform.python_version()} on {platform.machine()}; medians of {args.repeats} rounds")
    print(
        f"accounts: {args.accounts:,} long 0.1 BTC each; BTC index 100,000 -> 93,000; pool "
        f"{args.pool:,} USDC, 400 BTC of bids in the band (set-up {setup_s:.1f} s)"
    )
    print(
        f"keeper scan + exact confirmation: {scan_confirm_ms:.1f} ms for {first.buckets:,} buckets "
        f"({screen_len} candidates, {found_len} liquidatable); index built in {index_ms:.1f} ms"
    )
    print(
        f"Liquidate through apply: {ok:,} liquidations in {apply_s * 1e3:.0f} ms = {per_s:,.0f} per s "
        f"({apply_s / max(ok, 1) * 1e6:.0f} us each; {refused} refused)"
    )
    print(
        f"Keeper.run end to end: {run_ok:,} liquidations ({run_refused} refused) in {run_s * 1e3:.0f} ms "
        f"= {run_ok / run_s:,.0f} per s, {run.passes} passes; liquidatable after: {left}; "
        f"money conserved: {conserved}"
    )
    print(
        f"reference, the same sizes closed by reduce-only IOC sells: {done:,} orders in "
        f"{ref_s * 1e3:.0f} ms = {ref_per_s:,.0f} per s (a liquidation costs "
        f"{ref_per_s / per_s if per_s else 0:.1f}x an order)"
    )
    print(
        json.dumps(
            {
                "accounts": args.accounts,
                "candidates": screen_len,
                "liquidatable": found_len,
                "scan_confirm_ms": round(scan_confirm_ms, 2),
                "liquidations": ok,
                "refused": refused,
                "liquidations_per_s": round(per_s),
                "liquidation_us": round(apply_s / max(ok, 1) * 1e6, 1),
                "keeper_run_liquidations": run_ok,
                "keeper_run_per_s": round(run_ok / run_s),
                "keeper_passes": run.passes,
                "left_liquidatable": left,
                "conserved": conserved,
                "reference_close_orders": done,
                "reference_close_per_s": round(ref_per_s),
                "repeats": args.repeats,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
