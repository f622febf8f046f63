"""Order operations per second through ``apply``, with full margin checks, against two references.

Flow (market makers): 60% place a resting limit order near the mark, 30% cancel one of the
account's open orders, 10% take with an IOC market order; 1,000 accounts, one market
(BTC-PERP of the default deployment). The operation list is generated first from a seed, then
replayed through (1) Solvent's ``apply``, (2) a bare price-time book with no risk checks written
here, (3) ``lightmatchingengine`` from PyPI when it is installed (``pip install -e '.[bench]'``).
Only the replay loops are timed.

    python bench/matching.py [--ops 200000] [--seed 1] [--profile]

The last line printed is one JSON object of the figures.
"""

import argparse
import cProfile
import json
import pstats
import random
import time
from dataclasses import dataclass

from sortedcontainers import SortedDict

from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.state import State, TimeInForce
from solvent.core.tx import CancelOrder, Deposit, PlaceOrder, PriceReport
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import address_of, reporters
from solvent.scenario import start_state

MARKET = "BTC-PERP"
MID = 100_000 * QUOTE_ONE
TICK = QUOTE_ONE // 10
LOT = SIZE_ONE // 1000  # the library gets integer ticks and lots, so its floats stay exact


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "place", "cancel", "take"
    account: int
    is_buy: bool
    price: int  # place only
    size: int
    target: int  # cancel: index of the placing op whose order is cancelled


def generate(ops: int, accounts: int, seed: int) -> list[Op]:
    """Return a reproducible flow; a cancel names an earlier place of the same account."""
    rng = random.Random(seed)
    open_places: list[list[int]] = [[] for _ in range(accounts)]
    flow: list[Op] = []
    while len(flow) < ops:
        account = rng.randrange(accounts)
        roll = rng.random()
        size = rng.randrange(1, 50) * SIZE_ONE // 1000
        if roll < 0.6:
            is_buy = rng.random() < 0.5
            offset = rng.randrange(1, 2000) * TICK
            price = MID - offset if is_buy else MID + offset
            open_places[account].append(len(flow))
            flow.append(Op("place", account, is_buy, price, size, -1))
        elif roll < 0.9:
            if not open_places[account]:
                continue
            target = open_places[account].pop(rng.randrange(len(open_places[account])))
            flow.append(Op("cancel", account, False, 0, 0, target))
        else:
            flow.append(Op("take", account, rng.random() < 0.5, 0, size, -1))
    return flow


def solvent_state(accounts: int) -> tuple[State, list[str]]:
    state = start_state("fixture_f")
    for reporter in reporters("BTC")[:3]:
        apply(state, PriceReport(reporter, "BTC", MID, state.time))
    owners = [address_of(f"market-maker-{i}") for i in range(accounts)]
    for owner in owners:
        apply(state, Deposit(owner, 0, "USDC", 10_000_000 * QUOTE_ONE))
    return state, owners


def run_solvent(flow: list[Op], accounts: int, profile: bool) -> dict[str, float]:
    state, owners = solvent_state(accounts)
    txs: list[object] = []
    for op in flow:
        owner = owners[op.account]
        if op.kind == "place":
            txs.append(PlaceOrder(owner, 0, MARKET, op.is_buy, op.size, op.price))
        elif op.kind == "cancel":
            txs.append(("cancel", owner, op.target))
        else:
            txs.append(PlaceOrder(owner, 0, MARKET, op.is_buy, op.size, None, TimeInForce.IOC))
    order_ids: dict[int, int] = {}  # op index -> order id once it rested
    refused = 0
    fills = 0
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    for i, item in enumerate(txs):
        tx = item
        if isinstance(item, tuple):
            # -1 when the order filled or its place was refused: a cancel that fails.
            order_id = order_ids.pop(item[2], -1)
            tx = CancelOrder(item[1], 0, MARKET, order_id)
        try:
            events = apply(state, tx)  # type: ignore[arg-type]
        except ProtocolError:
            refused += 1
            continue
        for ev in events:
            if ev.kind == "OrderPlaced":
                order_ids[i] = ev.data["order_id"]  # type: ignore[assignment]
            elif ev.kind == "Fill":
                fills += 1
    elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {"seconds": elapsed, "refused": refused, "fills": fills}


class BareBook:
    """Price-time priority and nothing else: the floor of what a Python book can do."""

    def __init__(self) -> None:
        self.bids = SortedDict()
        self.asks = SortedDict()
        self.orders: dict[int, tuple[bool, int]] = {}

    def place(self, order_id: int, is_buy: bool, price: int, size: int) -> None:
        side = self.bids if is_buy else self.asks
        key = -price if is_buy else price
        level = side.get(key)
        if level is None:
            level = side[key] = {}
        level[order_id] = size
        self.orders[order_id] = (is_buy, key)

    def cancel(self, order_id: int) -> bool:
        found = self.orders.pop(order_id, None)
        if found is None:
            return False
        is_buy, key = found
        side = self.bids if is_buy else self.asks
        level = side[key]
        del level[order_id]
        if not level:
            del side[key]
        return True

    def take(self, is_buy: bool, size: int) -> int:
        side = self.asks if is_buy else self.bids
        fills = 0
        while size and side:
            key, level = side.peekitem(0)
            for order_id in list(level):
                resting = level[order_id]
                qty = min(size, resting)
                size -= qty
                fills += 1
                if qty == resting:
                    del level[order_id]
                    del self.orders[order_id]
                else:
                    level[order_id] = resting - qty
                if not size:
                    break
            if not level:
                del side[key]
        return fills


def run_bare(flow: list[Op]) -> dict[str, float]:
    book = BareBook()
    fills = 0
    start = time.perf_counter()
    for i, op in enumerate(flow):
        if op.kind == "place":
            book.place(i, op.is_buy, op.price, op.size)
        elif op.kind == "cancel":
            book.cancel(op.target)
        else:
            fills += book.take(op.is_buy, op.size)
    return {"seconds": time.perf_counter() - start, "fills": fills}


def run_lightmatchingengine(flow: list[Op]) -> dict[str, float] | None:
    try:
        from lightmatchingengine.lightmatchingengine import (  # noqa: PLC0415 - optional extra
            LightMatchingEngine,
            Side,
        )
    except ImportError:
        return None
    engine = LightMatchingEngine()
    orders: dict[int, object] = {}
    fills = 0
    errors = 0  # the library raises IndexError on some books; counted, not hidden
    start = time.perf_counter()
    for i, op in enumerate(flow):
        side = Side.BUY if op.is_buy else Side.SELL
        try:
            if op.kind == "place":
                order, trades = engine.add_order(MARKET, op.price // TICK, op.size // LOT, side)
                orders[i] = order
                fills += len(trades)
            elif op.kind == "cancel":
                order = orders.pop(op.target, None)
                if order is not None and order.leaves_qty > 0:  # type: ignore[attr-defined]
                    engine.cancel_order(order.order_id, MARKET)  # type: ignore[attr-defined]
            else:
                # No IOC in the library: a marketable limit, then cancel what rests.
                far = 10 * MID // TICK if op.is_buy else 1
                order, trades = engine.add_order(MARKET, far, op.size // LOT, side)
                fills += len(trades)
                if order.leaves_qty > 0:
                    engine.cancel_order(order.order_id, MARKET)
        except (IndexError, KeyError, AssertionError):
            errors += 1
    return {"seconds": time.perf_counter() - start, "fills": fills, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the top functions of the solvent run")
    args = parser.parse_args()
    flow = generate(args.ops, args.accounts, args.seed)
    counts = {k: sum(1 for op in flow if op.kind == k) for k in ("place", "cancel", "take")}
    print(f"flow: {len(flow):,} operations, {counts} over {args.accounts} accounts, seed {args.seed}")
    solvent = run_solvent(flow, args.accounts, args.profile)
    bare = run_bare(flow)
    lme = run_lightmatchingengine(flow)
    ops_per_s = len(flow) / solvent["seconds"]
    bare_per_s = len(flow) / bare["seconds"]
    lme_per_s = len(flow) / lme["seconds"] if lme is not None else None
    print(
        f"solvent apply (full margin checks): {ops_per_s:10,.0f} ops/s  "
        f"({solvent['refused']:,} refused, {solvent['fills']:,} fills)"
    )
    print(f"bare price-time book (no checks):   {bare_per_s:10,.0f} ops/s  ({bare['fills']:,} fills)")
    if lme_per_s is not None and lme is not None:
        print(
            f"lightmatchingengine (PyPI):         {lme_per_s:10,.0f} ops/s  "
            f"({lme['fills']:,} fills, {lme['errors']:,} library errors)"
        )
    else:
        print("lightmatchingengine: not installed (pip install -e '.[bench]')")
    print(f"solvent / bare book: {ops_per_s / bare_per_s:.3f}; goal 100,000 ops/s on one core")
    if lme_per_s:
        print(f"solvent / lightmatchingengine: {ops_per_s / lme_per_s:.3f}")
    print(
        json.dumps(
            {
                "ops": len(flow),
                "ops_per_s": round(ops_per_s),
                "reference_ops_per_s": round(bare_per_s),
                "lightmatchingengine_ops_per_s": round(lme_per_s) if lme_per_s else None,
                "refused": solvent["refused"],
                "fills": solvent["fills"],
            }
        )
    )


if __name__ == "__main__":
    main()
