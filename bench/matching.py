"""Order operations per second through ``engine.apply`` with full margin checks, against two references.

What it measures
----------------
A market-maker flow on one market (BTC-PERP of ``solvent.defaults.fixture_f()``), 1,000
accounts that each deposited 1,000,000 USDC, the BTC index set to 100,000 by five
``PriceReport``s:

- 60% place: a GTC limit order resting 0.1 to 200 USDC from the mark (bids below, asks above,
  so a place never crosses), 0.001 to 0.049 BTC;
- 30% cancel, by order id, of a random order of that account that is still open;
- 10% take: half IOC market orders, half IOC limit orders 10 to 100 USDC through the mark,
  0.001 to 0.099 BTC, which fill against the resting orders.

Fixture F's liquidity pool LP quotes BTC-PERP; it is left empty by default, so takers fill
against the book only, as in the references. ``--pool USDC`` funds it to see what a live pool
costs (it is then consulted by every order priced near the mark).

The list of operations is generated first from a seeded ``random.Random``, replaying it on a
plain price-time book to know which orders are open when a cancel is drawn. The same list is
then replayed, and only the replay loops are timed (``time.perf_counter``), through

1. Solvent: ``apply(state, tx)`` with every check (validation, price band, margin of each order
   that adds risk, maker re-check on each fill, fees, positions, funding settlement, events);
2. ``BareBook``, written here: price-time priority, a ``SortedDict`` of levels of dicts, tuples
   for fills, no checks at all: the "no risk checks" reference;
3. ``lightmatchingengine`` from PyPI (the ``bench`` extra), if it imports: a published
   pure-Python matching engine without risk checks. It gets integer ticks and lots (it works
   in whatever numbers it is given) and has no IOC, so a take is a marketable limit order
   whose remainder is cancelled at once.

Solvent may refuse an operation (``ProtocolError``): refusals count as processed operations and
are reported separately, by kind and error. Expect a few refused cancels: Solvent's
self-trade prevention (which the plain book lacks) cancels a taker's own resting orders, so its
fills drift slightly from the plain book's and some cancel targets have filled in Solvent. The
``PlaceOrder`` records are built before the
timed loop (as a decoded transaction stream would be); a ``CancelOrder`` is built in the loop,
since Solvent assigns order ids only when it accepts an order. The engines take turns every
5,000 operations, so a machine that speeds up or slows down during the run (shared or
throttled cores) affects all of them alike and the ratios stay meaningful. Progress is shown on
stderr between chunks, outside the timed regions, with no refresh thread. The garbage collector
stays on; the inputs are moved out of its sight (``gc.freeze``) first.

Run
---
    .venv/bin/python bench/matching.py [--ops 200000] [--accounts 1000] [--seed 1] [--pool 0] [--profile]

``--profile`` adds one more Solvent run of the same flow under ``cProfile`` (not timed) and
prints its top 25 functions by own time. The last line printed is one JSON object.
"""

import argparse
import cProfile
import gc
import importlib.metadata
import json
import platform
import pstats
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sortedcontainers import SortedDict

from solvent.core.engine import apply, genesis
from solvent.core.errors import ProtocolError
from solvent.core.state import State, TimeInForce
from solvent.core.tx import CancelOrder, Deposit, PlaceOrder, PoolDeposit, PriceReport, SetTime
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import GENESIS_TIME, GOVERNOR, address_of, fixture_f, reporters

MARKET = "BTC-PERP"
MID = 100_000 * QUOTE_ONE  # the BTC index and mark
TICK = QUOTE_ONE // 10  # BTC-PERP tick: 0.1 USDC
LOT = SIZE_ONE // 10_000  # BTC-PERP lot: 0.0001 BTC
MILLI_BTC = SIZE_ONE // 1000
BAND = MID // 20  # market orders are limited to mark * (1 ± 5%) by the price band
DEPOSIT = 1_000_000 * QUOTE_ONE
CHUNK = 5000

PLACE, CANCEL, TAKE = 0, 1, 2
KIND_NAMES = ("place", "cancel", "take")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of the flow."""

    kind: int  # PLACE, CANCEL or TAKE
    account: int
    is_buy: bool
    price: int | None  # PLACE: limit; TAKE: IOC limit, None for a market order; CANCEL: None
    size: int  # size atoms (0 for CANCEL)
    target: int  # CANCEL: index in the flow of the PLACE whose order is cancelled, else -1

    def limit(self) -> int:
        """Return the price the order may trade to (a market order: the band edge)."""
        if self.price is not None:
            return self.price
        return MID + BAND if self.is_buy else MID - BAND


# --- the "no risk checks" reference ---------------------------------------------------------


class BareBook:
    """Price-time priority and nothing else: the floor of what a Python book can cost.

    A side is a ``SortedDict`` of levels keyed best first (bids by -price, asks by price); a
    level is a dict order id -> open size, in time order. A fill is ``(maker id, price, size)``.
    """

    __slots__ = ("asks", "bids", "orders")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.orders: dict[int, tuple[SortedDict, int]] = {}  # id -> (side, level key)

    def submit(
        self, order_id: int, is_buy: bool, price: int, size: int, rest: bool
    ) -> list[tuple[int, int, int]]:
        """Match ``size`` up to ``price``; rest the remainder if ``rest`` (GTC), else drop it (IOC)."""
        fills: list[tuple[int, int, int]] = []
        if is_buy:
            opposite, own, bound, key = self.asks, self.bids, price, -price
        else:
            opposite, own, bound, key = self.bids, self.asks, -price, price
        orders = self.orders
        while size and opposite:
            level_key, level = opposite.peekitem(0)
            if level_key > bound:
                break
            level_price = level_key if is_buy else -level_key
            while size and level:
                maker = next(iter(level))
                resting = level[maker]
                if resting <= size:
                    del level[maker]
                    del orders[maker]
                    size -= resting
                    fills.append((maker, level_price, resting))
                else:
                    level[maker] = resting - size
                    fills.append((maker, level_price, size))
                    size = 0
            if not level:
                del opposite[level_key]
        if size and rest:
            level = own.get(key)
            if level is None:
                own[key] = {order_id: size}
            else:
                level[order_id] = size
            orders[order_id] = (own, key)
        return fills

    def cancel(self, order_id: int) -> bool:
        found = self.orders.pop(order_id, None)
        if found is None:
            return False
        levels, key = found
        level = levels[key]
        del level[order_id]
        if not level:
            del levels[key]
        return True

    def open_orders(self) -> int:
        return len(self.orders)


# --- the flow ---------------------------------------------------------------------------------


def generate(ops: int, accounts: int, seed: int) -> list[Op]:
    """Return a reproducible flow of ``ops`` operations.

    The flow is replayed on a ``BareBook`` as it is drawn, so that a cancel names an order of
    its account that a price-time book still holds (not one that has filled).
    """
    rng = random.Random(seed)
    book = BareBook()
    open_places: list[list[int]] = [[] for _ in range(accounts)]  # flow indices, maybe filled
    flow: list[Op] = []
    for i in range(ops):
        roll = rng.random()
        if 0.6 <= roll < 0.9:
            target = -1
            for _ in range(1000):  # an account that still has an open order
                account = rng.randrange(accounts)
                places = open_places[account]
                while places and target < 0:
                    j = rng.randrange(len(places))
                    places[j], places[-1] = places[-1], places[j]
                    candidate = places.pop()
                    if candidate in book.orders:  # else it filled: forget it
                        target = candidate
                if target >= 0:
                    break
            if target >= 0:
                book.cancel(target)
                flow.append(Op(CANCEL, account, False, None, 0, target))
                continue
            roll = 0.0  # nothing rests yet (the first operations): place instead
        account = rng.randrange(accounts)
        is_buy = rng.random() < 0.5
        sign = -1 if is_buy else 1
        if roll < 0.6:
            price = MID + sign * rng.randrange(1, 2001) * TICK
            op = Op(PLACE, account, is_buy, price, rng.randrange(1, 50) * MILLI_BTC, -1)
            open_places[account].append(i)
            book.submit(i, is_buy, price, op.size, True)
        else:
            through: int | None = None
            if rng.random() < 0.5:
                through = MID - sign * rng.randrange(100, 1001) * TICK
            op = Op(TAKE, account, is_buy, through, rng.randrange(1, 100) * MILLI_BTC, -1)
            book.submit(i, is_buy, op.limit(), op.size, False)
        flow.append(op)
    return flow


# --- timing harness -----------------------------------------------------------------------------


def progress_bar() -> Progress:
    """A progress display on stderr, refreshed only when told (no thread runs during timing)."""
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        auto_refresh=False,
        transient=True,
    )


class Engine(Protocol):
    @property
    def items(self) -> Sequence[Any]: ...

    def body(self, chunk: Sequence[Any], offset: int) -> None: ...


def replay(engines: dict[str, Engine], ops: int, progress: Progress) -> dict[str, float]:
    """Replay the flow through every engine, chunk by chunk in turn; return each one's seconds.

    Only ``body`` is timed. Taking turns every ``CHUNK`` operations exposes all engines to the
    same machine conditions (a shared or throttled core shifts all of them, not one), so the
    ratios hold even where the absolute rates wander.
    """
    task = progress.add_task("replaying " + ", ".join(engines), total=ops * len(engines))
    seconds = dict.fromkeys(engines, 0.0)
    gc.collect()
    gc.freeze()  # setup and inputs are not the engines' garbage
    try:
        for offset in range(0, ops, CHUNK):
            for name, engine in engines.items():
                chunk = engine.items[offset : offset + CHUNK]
                start = time.perf_counter()
                engine.body(chunk, offset)
                seconds[name] += time.perf_counter() - start
                progress.update(task, advance=len(chunk))
            progress.refresh()
    finally:
        gc.unfreeze()
    return seconds


# --- Solvent ------------------------------------------------------------------------------------


def solvent_state(accounts: int, pool_usdc: int = 0) -> tuple[State, list[str]]:
    """Fixture F, the BTC index at 100,000 by five reports, ``accounts`` funded market makers,
    and ``pool_usdc`` USDC in the liquidity pool LP that quotes BTC-PERP (0: it stays empty).
    """
    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    for tx in fixture_f():
        apply(state, tx)
    for reporter in reporters("BTC"):
        apply(state, PriceReport(reporter, "BTC", MID, GENESIS_TIME))
    if state.markets[MARKET].mark_price != MID:
        raise RuntimeError(f"the mark is {state.markets[MARKET].mark_price}, expected {MID}")
    owners = [address_of(f"bench-market-maker-{i}") for i in range(accounts)]
    for owner in owners:
        apply(state, Deposit(owner, 0, "USDC", DEPOSIT))
    if pool_usdc:
        provider = address_of("bench-liquidity-provider")
        apply(state, Deposit(provider, 0, "USDC", pool_usdc * QUOTE_ONE))
        apply(state, PoolDeposit(provider, 0, "LP", pool_usdc * QUOTE_ONE))
    return state, owners


class SolventRun:
    """The flow through ``apply``; cancels resolve their target's order id at run time."""

    def __init__(self, flow: list[Op], accounts: int, pool_usdc: int = 0) -> None:
        self.state, owners = solvent_state(accounts, pool_usdc)
        self.items: list[tuple[int, Any, int]] = []
        for op in flow:
            owner = owners[op.account]
            if op.kind == PLACE:
                tx: Any = PlaceOrder(owner, 0, MARKET, op.is_buy, op.size, op.price, TimeInForce.GTC)
            elif op.kind == TAKE:
                tx = PlaceOrder(owner, 0, MARKET, op.is_buy, op.size, op.price, TimeInForce.IOC)
            else:
                tx = owner
            self.items.append((op.kind, tx, op.target))
        self.order_ids: dict[int, int] = {}  # flow index of a place -> its order id, once it rests
        self.refused: Counter[tuple[str, str]] = Counter()  # (kind, error name) -> count
        self.fills = 0

    def body(self, chunk: Sequence[tuple[int, Any, int]], offset: int) -> None:
        state = self.state
        order_ids = self.order_ids
        refused = self.refused
        fills = 0
        for i, (kind, payload, target) in enumerate(chunk, offset):
            # payload: the PlaceOrder, or for a cancel the owner (the order id is known only now)
            tx = CancelOrder(payload, 0, MARKET, order_ids.pop(target, 0)) if kind == CANCEL else payload
            try:
                events = apply(state, tx)
            except ProtocolError as error:
                refused[KIND_NAMES[kind], error.name] += 1
                continue
            if kind == PLACE:
                for ev in events:
                    if ev.kind == "OrderPlaced":
                        order_ids[i] = ev.data["order_id"]  # type: ignore[assignment]
            elif kind == TAKE:
                for ev in events:
                    if ev.kind == "Fill":
                        fills += 1
        self.fills += fills

    def open_orders(self) -> int:
        return len(self.state.markets[MARKET].book.orders)


# --- references ---------------------------------------------------------------------------------


class BareRun:
    def __init__(self, flow: list[Op]) -> None:
        self.book = BareBook()
        self.items = [
            (op.kind, op.is_buy, op.limit() if op.kind != CANCEL else 0, op.size, op.target) for op in flow
        ]
        self.fills = 0

    def body(self, chunk: Sequence[tuple[int, bool, int, int, int]], offset: int) -> None:
        submit = self.book.submit
        cancel = self.book.cancel
        fills = 0
        for i, (kind, is_buy, price, size, target) in enumerate(chunk, offset):
            if kind == CANCEL:
                cancel(target)
            else:
                fills += len(submit(i, is_buy, price, size, kind == PLACE))
        self.fills += fills


class LightMatchingEngineRun:
    """``lightmatchingengine.LightMatchingEngine`` on the same flow, in integer ticks and lots."""

    def __init__(self, flow: list[Op], engine_class: Any, side: Any) -> None:
        self.engine = engine_class()
        self.items = [
            (
                op.kind,
                side.BUY if op.is_buy else side.SELL,
                op.limit() // TICK if op.kind != CANCEL else 0,
                op.size // LOT,
                op.target,
            )
            for op in flow
        ]
        self.orders: dict[int, Any] = {}  # flow index of a place -> the library's order
        self.fills = 0
        self.errors: Counter[str] = Counter()

    def body(self, chunk: Sequence[tuple[int, int, int, int, int]], offset: int) -> None:
        engine = self.engine
        add_order = engine.add_order
        cancel_order = engine.cancel_order
        orders = self.orders
        fills = 0
        for i, (kind, side, price, qty, target) in enumerate(chunk, offset):
            try:
                if kind == CANCEL:
                    order = orders.pop(target, None)
                    if order is None or cancel_order(order.order_id, MARKET) is None:
                        self.errors["cancel found nothing"] += 1
                else:
                    order, trades = add_order(MARKET, price, qty, side)
                    taker_id = order.order_id
                    for trade in trades:  # one aggressive trade per level, one passive per maker
                        if trade.order_id != taker_id:
                            fills += 1
                    if kind == PLACE:
                        orders[i] = order
                    elif order.leaves_qty > 0:
                        cancel_order(taker_id, MARKET)  # IOC: drop the rest
            except (AssertionError, IndexError, KeyError) as error:
                self.errors[type(error).__name__] += 1
        self.fills += fills

    def open_orders(self) -> int:
        book = self.engine.order_books.get(MARKET)
        if book is None:
            return 0
        return sum(len(level) for side in (book.bids, book.asks) for level in side.values())


def load_lightmatchingengine() -> tuple[Any, Any] | str:
    """Return (LightMatchingEngine, Side), or why the library cannot be used."""
    try:
        from lightmatchingengine.lightmatchingengine import (  # noqa: PLC0415 - optional extra
            LightMatchingEngine,
            Side,
        )
    except ImportError as error:
        return f"not importable ({error}); pip install -e '.[bench]'"
    return LightMatchingEngine, Side


def lme_version() -> str:
    try:
        return importlib.metadata.version("lightmatchingengine")
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --- main ---------------------------------------------------------------------------------------


def profile_solvent(flow: list[Op], accounts: int, pool_usdc: int) -> None:
    """Run the flow once more through Solvent under cProfile and print the top 25 by own time."""
    run = SolventRun(flow, accounts, pool_usdc)
    profiler = cProfile.Profile()
    profiler.enable()
    for offset in range(0, len(run.items), CHUNK):
        run.body(run.items[offset : offset + CHUNK], offset)
    profiler.disable()
    print(f"\ncProfile of the Solvent run ({len(flow):,} operations; timings under the profiler):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations in the flow (default 200,000)")
    parser.add_argument("--accounts", type=int, default=1000, help="market-maker accounts (default 1,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the flow (default 1)")
    parser.add_argument("--profile", action="store_true", help="also profile one Solvent run (cProfile)")
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="USDC to put in the pool LP that quotes BTC-PERP (default 0: empty)",
    )
    args = parser.parse_args()
    if args.ops <= 0 or args.accounts <= 0 or args.pool < 0:
        parser.error("--ops and --accounts must be positive, --pool not negative")

    start = time.perf_counter()
    flow = generate(args.ops, args.accounts, args.seed)
    kinds = Counter(KIND_NAMES[op.kind] for op in flow)
    markets = sum(1 for op in flow if op.kind == TAKE and op.price is None)
    print(
        f"flow: {len(flow):,} operations over {args.accounts:,} accounts, seed {args.seed} "
        f"(generated in {time.perf_counter() - start:.1f} s, not timed)"
    )
    print(
        f"  place {kinds['place']:,}  cancel {kinds['cancel']:,}  "
        f"take {kinds['take']:,} ({markets:,} market, {kinds['take'] - markets:,} IOC limit)"
    )
    pool = f"holds {args.pool:,} USDC" if args.pool else "is empty, so takers fill only against the book"
    print(f"  pool LP (quotes BTC-PERP in fixture F) {pool}")
    print(f"  Python {platform.python_version()} on {platform.machine()}, one thread")

    lme_loaded = load_lightmatchingengine()
    solvent = SolventRun(flow, args.accounts, args.pool)
    bare = BareRun(flow)
    lme = LightMatchingEngineRun(flow, *lme_loaded) if isinstance(lme_loaded, tuple) else None
    engines: dict[str, Engine] = {"solvent": solvent, "bare book": bare}
    if lme is not None:
        engines["lightmatchingengine"] = lme
    with progress_bar() as progress:
        seconds = replay(engines, len(flow), progress)
    solvent_s = seconds["solvent"]
    bare_s = seconds["bare book"]
    lme_s = seconds.get("lightmatchingengine")

    ops = len(flow)
    ops_per_s = ops / solvent_s
    bare_per_s = ops / bare_s
    lme_per_s = ops / lme_s if lme_s is not None else None
    refused = sum(solvent.refused.values())
    accepted = ops - refused

    print()
    print(f"solvent apply, full margin checks: {ops_per_s:>10,.0f} ops/s  ({solvent_s:.2f} s)")
    print(f"  accepted {accepted:,} ({accepted / ops:.2%}), refused {refused:,} ({refused / ops:.2%})")
    for (kind, name), count in sorted(solvent.refused.items()):
        print(f"    refused {kind:<6} {name:<24} {count:>8,}")
    print(f"  fills {solvent.fills:,}; open orders at the end {solvent.open_orders():,}")
    print(f"bare price-time book, no checks:   {bare_per_s:>10,.0f} ops/s  ({bare_s:.2f} s)")
    print(f"  fills {bare.fills:,}; open orders at the end {bare.book.open_orders():,}")
    if lme is not None and lme_per_s is not None and lme_s is not None:
        print(f"lightmatchingengine {lme_version():<14} {lme_per_s:>10,.0f} ops/s  ({lme_s:.2f} s)")
        errors = ", ".join(f"{n} {c:,}" for n, c in sorted(lme.errors.items())) or "none"
        print(
            f"  fills {lme.fills:,}; open orders at the end {lme.open_orders():,}; library errors: {errors}"
        )
    else:
        print(f"lightmatchingengine: skipped, {lme_loaded}")
    print()
    faster = bare_per_s / ops_per_s
    print(f"solvent / bare book:           {ops_per_s / bare_per_s:.3f}  (bare book {faster:.1f}x faster)")
    if lme_per_s is not None:
        print(f"solvent / lightmatchingengine: {ops_per_s / lme_per_s:.3f}")
    verdict = "met" if ops_per_s >= 100_000 else "MISSED"
    print(f"goal >= 100,000 ops/s on one core: {verdict} ({ops_per_s / 100_000:.0%} of the goal)")
    print(f"mean cost per operation: solvent {1e6 / ops_per_s:.2f} us, bare book {1e6 / bare_per_s:.2f} us")

    if args.profile:
        profile_solvent(flow, args.accounts, args.pool)

    print(
        json.dumps(
            {
                "ops": ops,
                "accounts": args.accounts,
                "seed": args.seed,
                "pool_usdc": args.pool,
                "ops_per_s": round(ops_per_s),
                "reference_ops_per_s": round(bare_per_s),
                "lightmatchingengine_ops_per_s": round(lme_per_s) if lme_per_s is not None else None,
                "solvent_vs_reference": round(ops_per_s / bare_per_s, 4),
                "solvent_vs_lightmatchingengine": round(ops_per_s / lme_per_s, 4) if lme_per_s else None,
                "accepted": accepted,
                "refused": refused,
                "accepted_share": round(accepted / ops, 4),
                "fills": solvent.fills,
                "reference_fills": bare.fills,
                "lightmatchingengine_fills": lme.fills if lme is not None else None,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
