"""Time of the keeper's risk scan over 1,000,000 accounts after one market's index moves.

What it measures
----------------
1. Build: Fixture F plus 17 listed markets (20 in all, one oracle each), prices reported
   through ``engine.apply``; then ``--accounts`` accounts (default 1,000,000) built as records
   (as ``bench/state.py`` does), each with 10 positions in 10 distinct markets out of 20, in
   pairs that traded with each other (opposite sizes, so longs = shorts in every market and
   ``open_interest`` is their sum). Position notionals are log-normal around 5,000 USDC;
   collateral is set so that value_maint = MM * (1.02 + Exp(mean 3)): nobody is
   liquidatable at the start. One account in ten holds part of its collateral in ETH.
   The 17 new markets have a size add-on (mmf grows with sqrt(notional)), so the scan
   evaluates the full formula. Reported: build times and resident memory.
2. Index: ``RiskIndex.from_state(state)`` (one Python pass over the records, then a
   vectorised recompute). Memory of its arrays.
3. Scan (``scan_ms``, median of ``--repeats``): five reporters move ``--market``'s index by
   ``--move`` (default -8%) through ``apply`` (not timed); timed: ``index.observe(state,
   events)`` (the incremental update: the moved market's holders only) plus
   ``index.screen(state)`` (every row compared with its tolerance) — the time to find every
   liquidatable account's candidate row. The index then moves back (not timed).
4. Reference (``full_scan_ms``, same repeats): ``index.recompute_all(state)`` (every
   holding of every market) plus the same screen. The candidates must be identical.
5. Confirmation (``confirm_ms``): the exact integer check of the core on every candidate
   (``keeper.confirm``), and exactness: every account of a random ``--verify`` sample
   (default 100,000) outside the candidates is checked exactly and must not be liquidatable
   (``--verify 0`` checks all). Also the exact check's mean time per account, which
   extrapolates to the cost of scanning every account exactly.

Goal of the issue: scan_ms <= 50 ms on the 2-core machine.

Run
---
    .venv/bin/python bench/risk_scan.py [--accounts 1000000] [--repeats 5] [--move -0.08]
                                        [--market M01-PERP] [--verify 100000] [--seed 7]

The last line printed is one JSON object of the figures.
"""

import argparse
import gc
import json
import platform
import random
import statistics
import time

import numpy as np

from _common import owner_of, peak_rss_mb, rss_mb
from solvent.core.engine import apply, genesis
from solvent.core.events import Event
from solvent.core.margin import cross_risk
from solvent.core.state import Account, Position, State
from solvent.core.tx import ListMarket, ListOracle, PriceReport, SetTime
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import GENESIS_TIME, GOVERNOR, fixture_f, pct, reporters
from solvent.keeper import RiskIndex, confirm
from solvent.keeper.risk_index import CROSS, market_params, position_terms

GOAL_MS = 50.0
POSITIONS = 10
EXTRA = 17  # markets listed on top of Fixture F's three
ETH_PRICE = 4_000 * QUOTE_ONE


def market_prices() -> dict[str, int]:
    """Index price per asset: BTC, ETH, ALT and M01..M17 spread over six decades."""
    prices = {"BTC": 100_000 * QUOTE_ONE, "ETH": ETH_PRICE, "ALT": QUOTE_ONE}
    for k in range(1, EXTRA + 1):
        prices[f"M{k:02d}"] = int(round(0.5 * 2.2**k, 2) * QUOTE_ONE)
    return prices


def priced_state(prices: dict[str, int]) -> State:
    """Fixture F, 17 more oracles and markets (with a size add-on), every index reported."""
    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    for tx in fixture_f():
        apply(state, tx)
    for k in range(1, EXTRA + 1):
        asset = f"M{k:02d}"
        price = prices[asset]
        apply(state, ListOracle(GOVERNOR, asset, reporters(asset), 3))
        tick = 10 ** max(0, len(str(price)) - 6)  # about 1e-5 of the price
        lot = 10 ** (len(str(SIZE_ONE * QUOTE_ONE // price)) - 1)  # worth 0.1 to 1 USDC
        apply(
            state,
            ListMarket(
                GOVERNOR,
                f"{asset}-PERP",
                asset,
                "MAJ",
                tick=tick,
                lot=lot,
                min_notional=10 * QUOTE_ONE,
                base_imf=pct("10"),
                base_mmf=pct("5"),
                max_leverage=10,
                size_step=1_000_000 * QUOTE_ONE,
                imf_size_factor=pct("2"),
                mmf_size_factor=pct("1"),
                vol_ref=pct("2"),
                imf_vol_factor=10**18,
                mmf_vol_factor=10**18 // 2,
                pool="LP",
            ),
        )
    for asset, price in prices.items():
        for reporter in reporters(asset):
            apply(state, PriceReport(reporter, asset, price, GENESIS_TIME))
    for market in state.markets.values():
        if market.mark_price != prices[market.asset]:
            raise RuntimeError(f"{market.id}: mark {market.mark_price}, expected {prices[market.asset]}")
    return state


def generate(state: State, count: int, seed: int) -> dict[str, np.ndarray]:
    """Positions, sizes and collateral of ``count`` accounts (pairs mirror each other)."""
    rng = np.random.default_rng(seed)
    market_ids = sorted(state.markets)
    nm = len(market_ids)
    pairs = count // 2
    # 10 distinct markets per pair: the first 10 of a random permutation of the 20.
    cols = np.argsort(rng.random((pairs, nm)), axis=1)[:, :POSITIONS].astype(np.int64)
    marks = np.array([state.markets[m].mark_price for m in market_ids], dtype=np.float64)
    lots = np.array([state.markets[m].lot for m in market_ids], dtype=np.float64)
    notional = rng.lognormal(np.log(5_000 * QUOTE_ONE), 0.8, size=(pairs, POSITIONS))
    lots_held = np.maximum(1.0, np.round(notional * SIZE_ONE / marks[cols] / lots[cols]))
    sign = np.where(rng.random((pairs, POSITIONS)) < 0.5, -1.0, 1.0)
    sizes = sign * lots_held * lots[cols]
    # Both sides of each pair: account 2i holds sizes, account 2i+1 holds -sizes.
    cols2 = np.repeat(cols, 2, axis=0)
    sizes2 = np.empty((2 * pairs, POSITIONS))
    sizes2[0::2] = sizes
    sizes2[1::2] = -sizes
    # Value and maintenance requirement of each account with the risk index's model.
    value = np.zeros(2 * pairs)
    mm = np.zeros(2 * pairs)
    for c, market_id in enumerate(market_ids):
        market = state.markets[market_id]
        where = cols2 == c
        q = sizes2[where]
        hc, _ = position_terms(
            q,
            np.zeros_like(q),
            market.mark_price,
            0.0,
            market_params(market),
            0,
            0,
        )
        v = q * (market.mark_price / SIZE_ONE)
        row = np.nonzero(where)[0]
        np.add.at(value, row, v)
        np.add.at(mm, row, v - hc)
    target = mm * (1.02 + rng.exponential(3.0, size=2 * pairs))
    eth = np.where(rng.random(2 * pairs) < 0.1, 0.3 * target / (ETH_PRICE / 10**6 * 0.85) * 1e12, 0.0)
    eth = np.floor(eth / 1e9) * 1e9  # whole gwei
    eth_value = eth * (ETH_PRICE / 1e18) * 0.85
    usdc = np.ceil(target - value - eth_value + 2 * POSITIONS)  # a few atoms for rounding
    return {"cols": cols2, "sizes": sizes2, "usdc": usdc, "eth": eth}


def build(state: State, data: dict[str, np.ndarray]) -> int:
    """Add the accounts as records; return the number of positions."""
    market_ids = sorted(state.markets)
    cols = data["cols"].tolist()
    sizes = data["sizes"].astype(np.int64).tolist()
    usdc = [int(x) for x in data["usdc"].tolist()]
    eth = [int(x) for x in data["eth"].tolist()]  # may pass 2**63 atoms: Python ints
    marks = [state.markets[m].mark_price for m in market_ids]
    accounts = state.accounts
    oi = [0] * len(market_ids)
    positions = 0
    for i in range(len(usdc)):
        owner = owner_of(i + 1)
        balances = {"USDC": usdc[i]}
        if eth[i]:
            balances["ETH"] = eth[i]
        held = {}
        for c, s in zip(cols[i], sizes[i], strict=True):
            held[market_ids[c]] = Position(s, s * marks[c] // SIZE_ONE, 0)
            if s > 0:
                oi[c] += s
        positions += len(held)
        accounts[(owner, 0)] = Account(owner, 0, balances, held)
    for c, market_id in enumerate(market_ids):
        state.markets[market_id].open_interest += oi[c]
    for symbol, amounts in (("USDC", usdc), ("ETH", eth)):
        total = sum(amounts)
        state.assets[symbol].total_deposits += total
        state.deposited[symbol] = state.deposited.get(symbol, 0) + total
    return positions


def move_index(state: State, asset: str, price: int) -> list[Event]:
    events = apply(state, SetTime(state.time + 1))  # a new timestamp for the reporters
    for reporter in reporters(asset):
        events += apply(state, PriceReport(reporter, asset, price, state.time))
    return events


def index_mb(index: RiskIndex) -> float:
    total = index.h.nbytes + index.gross.nbytes + index.const.nbytes + index.nhold.nbytes + index.alive.nbytes
    total += sum(b.nbytes for b in index.work.buffers)
    for col in index.columns:
        total += col.rows.nbytes + col.qty.nbytes + col.fref.nbytes + col.hc.nbytes + col.g.nbytes
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--move", type=float, default=-0.08, help="index move of the market (default -0.08)")
    parser.add_argument("--market", default="M01-PERP", help="the market whose index moves")
    parser.add_argument(
        "--verify", type=int, default=100_000, help="non-candidates checked exactly (0 = every account)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    count = args.accounts - args.accounts % 2
    if count <= 0 or args.repeats <= 0 or not -0.099 <= args.move <= 0.099:
        parser.error("--accounts >= 2, --repeats >= 1, |--move| < 10% (the oracle band)")

    prices = market_prices()
    state = priced_state(prices)
    if args.market not in state.markets:
        parser.error(f"--market: one of {', '.join(sorted(state.markets))}")
    asset = state.markets[args.market].asset
    gc.collect()
    rss_start = rss_mb()
    start = time.perf_counter()
    data = generate(state, count, args.seed)
    gen_s = time.perf_counter() - start
    gc.disable()
    start = time.perf_counter()
    positions = build(state, data)
    build_s = time.perf_counter() - start
    gc.enable()
    del data
    gc.collect()
    rss_state = rss_mb()
    start = time.perf_counter()
    index = RiskIndex.from_state(state)
    index_s = time.perf_counter() - start
    gc.collect()
    gc.freeze()
    rss_index = rss_mb()
    initial = index.screen(state)
    initial_exact = confirm(state, initial.keys)

    base = prices[asset]
    moved = int(base * (1 + args.move))
    scans: list[float] = []
    updates: list[float] = []
    fulls: list[float] = []
    applies: list[float] = []
    screen = full = None
    max_gap = 0.0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        events = move_index(state, asset, moved)
        t1 = time.perf_counter()
        index.observe(state, events)
        t_update = time.perf_counter()
        screen = index.screen(state)
        t2 = time.perf_counter()
        applies.append((t1 - t0) * 1e3)
        updates.append((t_update - t1) * 1e3)
        scans.append((t2 - t1) * 1e3)
        incremental_h = index.h[: index.nrows].copy()
        t0 = time.perf_counter()
        index.recompute_all(state)
        full = index.screen(state)
        fulls.append((time.perf_counter() - t0) * 1e3)
        if not np.array_equal(screen.rows, full.rows):
            raise RuntimeError("the incremental and the full recompute screened different rows")
        gross = np.maximum(index.gross[: index.nrows], 1.0)
        max_gap = max(max_gap, float(np.max(np.abs(incremental_h - index.h[: index.nrows]) / gross)))
        if _ < args.repeats - 1:
            index.observe(state, move_index(state, asset, base))
    assert screen is not None and full is not None
    t0 = time.perf_counter()
    found = confirm(state, screen.keys)  # includes looking up the candidates' keys
    confirm_ms = (time.perf_counter() - t0) * 1e3
    liquidatable = {u.row for u in found}

    # Exactness: nobody outside the candidates is liquidatable (a sample, or everyone).
    candidates = set(screen.keys)
    rng = random.Random(args.seed + 1)
    everyone = [k for k in index.keys if k[2] == CROSS]
    sample = (
        everyone if args.verify <= 0 or args.verify >= len(everyone) else rng.sample(everyone, args.verify)
    )
    outside = [k for k in sample if k not in candidates]
    t0 = time.perf_counter()
    missed = 0
    tightest = float("inf")
    for owner, sub, _bucket in outside:
        risk = cross_risk(state, state.accounts[(owner, sub)])
        if risk.is_liquidatable:
            missed += 1
        if risk.mm:
            tightest = min(tightest, risk.health / risk.mm)
    exact_us = (time.perf_counter() - t0) / max(1, len(outside)) * 1e6
    gc.unfreeze()
    peak = peak_rss_mb()

    scan_ms = statistics.median(scans)
    full_ms = statistics.median(fulls)
    holders = index.columns[index.markets[args.market].column].live()
    print(f"Python {platform.python_version()}, numpy {np.__version__} on {platform.machine()}")
    print(
        f"accounts: {count:,} with {positions:,} positions over {len(state.markets)} markets "
        f"({positions / count:.0f} each); index rows {index.nrows:,}, holdings {index.holdings():,}"
    )
    print(f"build: generate {gen_s:.1f} s, core records {build_s:.1f} s, index from state {index_s:.1f} s")
    print(
        f"resident memory: {rss_start:,.0f} MiB at start, {rss_state:,.0f} MiB with the state, "
        f"{rss_index:,.0f} MiB with the index (arrays {index_mb(index):,.0f} MiB); peak {peak:,.0f} MiB"
    )
    print(f"before the move: {len(initial.keys)} candidates, {len(initial_exact)} liquidatable")
    print(
        f"{args.market} index {base / QUOTE_ONE:,.2f} -> {moved / QUOTE_ONE:,.2f} ({args.move:+.1%}), "
        f"{holders:,} holders; apply of the reports {statistics.median(applies):.2f} ms"
    )
    print(
        f"scan (incremental update + screen): {scan_ms:.1f} ms median of {args.repeats} "
        f"({', '.join(f'{s:.1f}' for s in scans)}); goal <= {GOAL_MS:.0f} ms: "
        + ("met" if scan_ms <= GOAL_MS else "MISSED")
    )
    update_ms = statistics.median(updates)
    print(
        f"  of which the update of {args.market}'s holders {update_ms:.1f} ms, "
        f"the screen of all {index.nrows:,} rows {scan_ms - update_ms:.1f} ms"
    )
    print(
        f"reference, full recompute + screen: {full_ms:.1f} ms median "
        f"({full_ms / scan_ms:.1f}x the incremental scan); same candidates; "
        f"largest |incremental - full| = {max_gap:.1e} of gross"
    )
    print(
        f"candidates {len(screen.keys):,}, confirmed liquidatable by the core {len(liquidatable):,} "
        f"(false positives {len(screen.keys) - len(liquidatable):,}); exact confirmation {confirm_ms:.0f} ms"
    )
    print(
        f"exactness: {len(outside):,} accounts outside the candidates checked exactly, {missed} "
        f"liquidatable (tightest health/MM {tightest:.2e}); exact check {exact_us:.1f} us per account, "
        f"so an exact scan of all {count:,} would take ~{exact_us * count / 1e6:.0f} s"
    )
    if missed:
        raise SystemExit("the screen missed a liquidatable account")
    print(
        json.dumps(
            {
                "accounts": count,
                "positions": positions,
                "markets": len(state.markets),
                "market": args.market,
                "move": args.move,
                "holders": holders,
                "scan_ms": round(scan_ms, 2),
                "full_scan_ms": round(full_ms, 2),
                "scan_samples_ms": [round(s, 2) for s in scans],
                "update_ms": round(update_ms, 2),
                "full_scan_samples_ms": [round(s, 2) for s in fulls],
                "candidates": len(screen.keys),
                "liquidatable": len(liquidatable),
                "confirm_ms": round(confirm_ms, 1),
                "verified": len(outside),
                "missed": missed,
                "exact_check_us": round(exact_us, 2),
                "exact_scan_s_extrapolated": round(exact_us * count / 1e6, 1),
                "apply_reports_ms": round(statistics.median(applies), 2),
                "build_state_s": round(build_s, 1),
                "build_index_s": round(index_s, 1),
                "rss_state_mb": round(rss_state),
                "rss_index_mb": round(rss_index),
                "index_arrays_mb": round(index_mb(index)),
                "rss_peak_mb": round(peak),
                "python": platform.python_version(),
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
