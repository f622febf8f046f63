"""Signed orders through the node: durable throughput in process and over HTTP, ack latency, verify.

What it measures
----------------
Setup of every phase (not timed): a fresh node (``node.node.Node``) in its own directory with
the default genesis (Fixture F); the operator (``dev_key("operator")``) deposits 100,000 USDC for
each of ``--traders`` traders (``dev_key("bench-trader-<i>")``) and the three BTC reporters
report 100,000 at the block time (re-reported every 10 s during a phase, so the index never goes
stale). The fresh node has the same genesis and deposits each time, so one pre-signed flow is
valid on each of them. Before each phase the bench collects its garbage and freezes what survives
(``gc.freeze``: the pre-signed orders, which are the clients' data, and the fresh genesis state),
so that the collector's full passes walk what the phase creates, as in a node started for it.

The flow (signed before anything is timed: signing is the client's cost, done here over a pool
of processes): ``--orders`` transactions on BTC-PERP from traders picked at random, as market
makers quote. A trader keeps at most ``--quotes`` resting quotes: at that count its next
transaction cancels its oldest quote by client id (refused as ``UnknownOrder`` if it has filled
meanwhile); otherwise, with probability ``--cross``, it sends an IOC limit order crossing the
mark by 1 to 200 ticks (it fills against the best quotes; the rest is cancelled), else a GTC
limit order resting 1 to 1,000 ticks (0.1 USDC each, so within 0.1%) on its side of the mark.
Sizes are 5 to 20 lots (0.0005 to 0.002 BTC). The book stays near ``--traders`` x ``--quotes``
orders. Every figure counts all three kinds as orders; the mix, the fills and every refusal by
name are printed.

1. ``signed_orders_per_s`` (in process): the submission JSON objects go in batches of
   ``--batch``, at most ``--in-flight`` batches not yet durable at a time (clients that wait
   for their receipts before they send again; a flood would pile checked orders up in the
   node's queue, where every full pass of the garbage collector walks them), to
   ``node.verifier.Verifier`` (2 worker processes decode them and recover every
   signer), the checked ones to ``Node.submit_checked``, and the node's sequencer thread makes a
   block every ``--block-interval`` s with group commit (one fsync per block). Timed: from the
   first batch handed to the verifier to the last receipt resolved, i.e. durable. The same run
   with ``kind="thread"`` (2 threads) and ``kind="inline"`` (checks in the driving thread, as
   ``Node.submit`` does) on fresh nodes, for comparison (``--kinds``). CPU seconds of this
   process and of the worker processes are read from ``/proc``.
2. ``http_orders_per_s``: a ``NodeServer`` started here (sequencer + uvicorn in threads of this
   process, the API as it is: ``POST /txs`` checks each signature in turn on the event loop)
   and ``--http-clients`` concurrent httpx clients in one other process (same 2 cores), each
   posting pre-encoded batches of ``--http-batch`` to ``POST /txs`` (which answers once the
   block is durable). Timed in the client process: first request sent to last answer.
3. ``p50_ack_ms`` / ``p99_ack_ms`` (in process, through the verifier as in 1): open loop at a
   fixed ``--rate`` (default 5,000 orders/s) for ``--seconds`` (default 10): order i is due at
   t0 + i / rate, and a sender thread hands every due order to the verifier every ``--tick`` s
   (default 5 ms: a gateway's batching; at 1 ms the per-batch overhead in the node's process
   saturates it and the latency grows with the run).
   Latency = from the order's due time (not its send time, so a stalled sender is counted) to
   its durable receipt (the future resolving after the block's fsync); over applied orders
   (refusals resolve before the fsync). The sequencer makes a block every
   ``--latency-block-interval`` s.
4. ``verify_tx_per_s``: ``solvent.node.verify.verify`` over the directory written by 1 (process
   pool): replay from genesis, every signature recovered again, every root compared. And
   ``replay_tx_per_s``: the same replay with the logged signers trusted (``apply_block`` with
   ``check_signatures=False``, as a restart replays), which tells what the recoveries cost.
5. Where the time goes: on a fresh node, the first ``--profile-orders`` orders, already checked,
   queued and sequenced by ``produce_block`` in blocks of the size 1 averaged: once timed
   (``sequencer_tx_per_s``: the sequencer alone, no signature checks), once under cProfile
   (core apply vs state root vs block JSON vs SQLite). Also the time of the BTC-PERP market's
   leaf alone with the book that run leaves (the state root re-encodes each market's whole
   record, book included, every block), and the garbage collector's pauses during 1 and 3.

Goals of the issue (2-core machine): signed_orders_per_s >= 20,000; p99_ack_ms <= 50 at 5,000/s;
verify_tx_per_s >= 20,000.

Run
---
    .venv/bin/python bench/node.py [--orders 100000] [--traders 100] [--quotes 4] [--cross 0.2]
        [--kinds process,thread,inline] [--batch 1000] [--in-flight 8] [--block-interval 0.1]
        [--http-orders 50000] [--http-clients 8] [--http-batch 100]
        [--rate 5000] [--seconds 10] [--latency-block-interval 0.01] [--tick 0.005]
        [--profile-orders 20000] [--seed 7] [--dir DIR] [--quick]

The last line printed is one JSON object of the figures.
"""

import argparse
import asyncio
import cProfile
import gc
import itertools
import json
import multiprocessing
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import coincurve
import httpx

from solvent.core.errors import ProtocolError
from solvent.core.state import TimeInForce
from solvent.core.tx import CancelOrder, Deposit, PlaceOrder, PriceReport, Tx
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.chain import Receipt, Submission, apply_block, sign_submission
from solvent.node.eip712 import Domain
from solvent.node.genesis import GenesisConfig, dev_address, dev_key, genesis_state
from solvent.node.keccak import keccak256
from solvent.node.log import DB_NAME
from solvent.node.node import Node, NodeConfig
from solvent.node.server import NodeServer
from solvent.node.state_root import MARKET as MARKET_LEAF
from solvent.node.state_root import StateTree, leaf_encoding
from solvent.node.verifier import Checked, Verifier
from solvent.node.verify import verify

GOAL_ORDERS_PER_S = 20_000
GOAL_P99_MS = 50.0
GOAL_VERIFY_TX_PER_S = 20_000
MARKET = "BTC-PERP"
MARK = usd("100000")
TICK = usd("0.1")
LOT = SIZE_ONE // 10_000
REPORTERS = ("btc-reporter-1", "btc-reporter-2", "btc-reporter-3")
REFRESH_S = 10.0


# --- the flow ----------------------------------------------------------------------------------


def trader_name(i: int) -> str:
    return f"bench-trader-{i}"


def make_flow(count: int, traders: int, quotes: int, cross: float, seed: int) -> list[tuple[int, Tx]]:
    """(trader index, transaction) in order: see "The flow" in the module docstring."""
    rng = random.Random(seed)
    owners = [dev_address(trader_name(i)) for i in range(traders)]
    live: list[deque[int]] = [deque() for _ in range(traders)]
    next_client = [1] * traders
    flow: list[tuple[int, Tx]] = []
    for _ in range(count):
        w = rng.randrange(traders)
        owner = owners[w]
        if len(live[w]) >= quotes:
            flow.append((w, CancelOrder(owner, 0, MARKET, client_id=live[w].popleft())))
            continue
        is_buy = rng.random() < 0.5
        size = rng.randint(5, 20) * LOT
        if rng.random() < cross:
            price = MARK + (1 if is_buy else -1) * rng.randint(1, 200) * TICK
            flow.append((w, PlaceOrder(owner, 0, MARKET, is_buy, size, price, TimeInForce.IOC)))
        else:
            price = MARK - (1 if is_buy else -1) * rng.randint(1, 1_000) * TICK
            client = next_client[w]
            next_client[w] += 1
            live[w].append(client)
            tx = PlaceOrder(owner, 0, MARKET, is_buy, size, price, TimeInForce.GTC, client_id=client)
            flow.append((w, tx))
    return flow


def flow_kind(tx: Tx) -> str:
    if isinstance(tx, CancelOrder):
        return "cancel"
    return "IOC" if isinstance(tx, PlaceOrder) and tx.tif == TimeInForce.IOC else "GTC"


def _sign_chunk(domain: Domain, items: list[tuple[int, int, Tx]]) -> list[dict[str, Any]]:
    keys: dict[int, bytes] = {}
    out = []
    for w, nonce, tx in items:
        key = keys.get(w) or keys.setdefault(w, dev_key(trader_name(w)))
        out.append(sign_submission(key, domain, tx, nonce).to_json())
    return out


def sign_flow(domain: Domain, flow: list[tuple[int, Tx]], workers: int = 2) -> list[dict[str, Any]]:
    """The submission JSON objects of the flow, nonces 1, 2, ... per trader (signed over a pool)."""
    nonces: Counter[int] = Counter()
    items = []
    for w, tx in flow:
        nonces[w] += 1
        items.append((w, nonces[w], tx))
    size = 2_000
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = pool.map(_sign_chunk, [domain] * len(chunks), chunks)
        return [obj for part in parts for obj in part]


# --- a funded node -----------------------------------------------------------------------------


class Funded:
    """A fresh node with funded traders and fresh BTC prices (kept fresh by ``start``)."""

    def __init__(self, node: Node, traders: int, running: bool = False) -> None:
        self.node = node
        self.running = running  # the node's sequencer thread makes the blocks
        self.nonces: Counter[str] = Counter()
        operator = dev_key("operator")
        futures = [
            self.sign_submit(operator, Deposit(dev_address(trader_name(i)), 0, "USDC", usd("100000")))
            for i in range(traders)
        ]
        self.wait(futures)
        self.report()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sign_submit(self, key: bytes, tx: Tx) -> "Future[Receipt]":
        name = key.hex()
        self.nonces[name] += 1
        return self.node.submit(sign_submission(key, self.node.domain, tx, self.nonces[name]))

    def wait(self, futures: list["Future[Receipt]"]) -> None:
        if not self.running:
            self.node.produce_block(force=True)
        for future in futures:
            receipt = future.result(timeout=30)
            if receipt.status != "applied":
                raise SystemExit(f"setup transaction refused: {receipt.error}")

    def report(self) -> None:
        """Every BTC reporter reports 100,000 at the node's time (the next block's at the latest)."""
        now = max(self.node.state.time, int(time.time()))
        futures = [
            self.sign_submit(dev_key(name), PriceReport(dev_address(name), "BTC", MARK, now))
            for name in REPORTERS
        ]
        self.wait(futures)

    def start(self) -> None:
        """Start the node's sequencer thread and report prices again every 10 s, until ``stop``."""
        if not self.running:
            self.node.start()
            self.running = True

        def run() -> None:
            while not self._stop.wait(REFRESH_S):
                self.report()

        self._thread = threading.Thread(target=run, name="bench-reporters", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def settle_heap() -> None:
    """Collect the earlier phases' garbage and freeze what survives (the pre-signed orders, the
    fresh node's genesis state), so that the collector walks only what the next phase creates,
    as in a node process started for the run."""
    gc.collect()
    gc.freeze()


def fresh_node(root: Path, name: str, traders: int, config: NodeConfig) -> Funded:
    directory = root / name
    shutil.rmtree(directory, ignore_errors=True)
    funded = Funded(Node(directory, GenesisConfig(), config), traders)
    settle_heap()
    return funded


# --- outcomes ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of a run's orders."""

    orders: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "<kind> <status>"
    refused: Counter[str] = field(default_factory=Counter)  # error name
    fills: int = 0

    def add(self, kind: str, status: str, error: str | None, fills: int) -> None:
        self.orders += 1
        self.statuses[f"{kind} {status}"] += 1
        if error is not None:
            self.refused[error] += 1
        self.fills += fills

    def add_receipt(self, kind: str, receipt: Receipt) -> None:
        error = None if receipt.error is None else str(receipt.error["error"])
        self.add(kind, receipt.status, error, sum(1 for e in receipt.events if e.kind == "Fill"))

    @property
    def applied(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.endswith(" applied"))

    def describe(self) -> str:
        mix = ", ".join(f"{key} {n:,}" for key, n in sorted(self.statuses.items()))
        refused = ", ".join(f"{name} {n:,}" for name, n in self.refused.most_common()) or "none"
        return (
            f"{self.orders:,} orders: {self.applied:,} applied, {self.orders - self.applied:,} refused "
            f"({refused}); {self.fills:,} fills; by kind: {mix}"
        )


class GcWatch:
    """Pauses of the cyclic garbage collector in this process while ``active``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self.active = False
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def start(self) -> None:
        self.pauses = []
        self.active = True

    def stop(self) -> str:
        self.active = False
        total = sum(p for _, p in self.pauses)
        full = [p for g, p in self.pauses if g == 2]
        longest = max((p for _, p in self.pauses), default=0.0)
        return (
            f"GC: {len(self.pauses):,} collections, {total * 1e3:.0f} ms in all, longest "
            f"{longest * 1e3:.1f} ms; {len(full)} full, {sum(full) * 1e3:.0f} ms"
        )


GC_WATCH = GcWatch()


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 1. in process ----------------------------------------------------------------------------


class Tally:
    """Receipts counted as they resolve, then dropped (as a node's clients drop theirs): holding
    every receipt would grow the heap that the cyclic garbage collector walks. With a
    ``window``, a batch's permit is released once all its receipts are in (a client waiting
    for its answers before it sends again)."""

    def __init__(
        self,
        kinds: list[str],
        due: list[float] | None = None,
        batch: int = 1,
        window: threading.Semaphore | None = None,
    ) -> None:
        self.kinds = kinds
        self.due = due
        self.batch = batch
        self.window = window
        self.outcome = Outcome()
        self.latencies: list[float] = []  # seconds from due to durable, applied orders only
        self.checked: list[float] = []  # seconds from due to checked and queued
        self._left = len(kinds)
        self._batch_left = [min(batch, len(kinds) - i) for i in range(0, len(kinds), batch)]
        self._lock = threading.Lock()
        self.done = threading.Event()
        if not kinds:
            self.done.set()

    def _counted(self, index: int) -> None:
        self._left -= 1
        self._batch_left[index // self.batch] -= 1
        if self._batch_left[index // self.batch] == 0 and self.window is not None:
            self.window.release()
        if self._left == 0:
            self.done.set()

    def refused(self, index: int, error: ProtocolError) -> None:
        with self._lock:
            self.outcome.add(self.kinds[index], "refused", error.name, 0)
            self._counted(index)

    def receipt(self, index: int, future: "Future[Receipt]") -> None:
        now = time.perf_counter()
        receipt = future.result()
        with self._lock:
            self.outcome.add_receipt(self.kinds[index], receipt)
            if self.due is not None and receipt.status == "applied":
                self.latencies.append(now - self.due[index])
            self._counted(index)


def queue_checked(node: Node, tally: Tally, start: int, future: "Future[list[Checked]]") -> None:
    """The verifier's callback: queue a batch's checked submissions, count its refusals."""
    results = future.result()
    receipts = iter(node.submit_checked([r for r in results if isinstance(r, tuple)]))
    if tally.due is not None:
        now = time.perf_counter()
        tally.checked.extend(now - tally.due[i] for i in range(start, start + len(results)))
    for offset, result in enumerate(results):
        if isinstance(result, tuple):
            next(receipts).add_done_callback(partial(tally.receipt, start + offset))
        else:
            tally.refused(start + offset, result)


@dataclass
class Run:
    seconds: float
    outcome: Outcome
    blocks: int
    main_cpu_s: float
    worker_cpu_s: float
    other_cpu_s: float  # CPU of every other process on the machine meanwhile
    book: int  # resting orders on BTC-PERP at the end
    gc: str  # the collector's pauses meanwhile


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (Linux /proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def run_in_process(
    funded: Funded,
    verifier: Verifier,
    objs: list[dict[str, Any]],
    kinds: list[str],
    batch: int,
    in_flight: int,
) -> Run:
    """Every object through the verifier and ``submit_checked``, at most ``in_flight`` batches
    not yet durable at a time; wait for every durable receipt."""
    node = funded.node
    window = threading.Semaphore(in_flight)
    tally = Tally(kinds, batch=batch, window=window)
    pids = verifier.worker_pids()
    height = node.height
    cpu_machine = busy_cpu_s()
    cpu_main = time.process_time()
    cpu_workers = sum(proc_cpu_s(pid) for pid in pids)
    GC_WATCH.start()
    started = time.perf_counter()
    for start in range(0, len(objs), batch):
        window.acquire()
        verifier.submit(objs[start : start + batch]).add_done_callback(
            partial(queue_checked, node, tally, start)
        )
    tally.done.wait()
    seconds = time.perf_counter() - started
    gc_line = GC_WATCH.stop()
    main_cpu = time.process_time() - cpu_main
    worker_cpu = sum(proc_cpu_s(pid) for pid in pids) - cpu_workers
    other_cpu = busy_cpu_s() - cpu_machine - main_cpu - worker_cpu
    with node.lock:
        book = len(node.state.markets[MARKET].book.orders)
    return Run(
        seconds, tally.outcome, node.height - height, main_cpu, worker_cpu, max(0.0, other_cpu), book, gc_line
    )


# --- 2. HTTP ----------------------------------------------------------------------------------


def http_clients(url: str, bodies: list[bytes], kinds: list[list[str]], concurrency: int) -> dict[str, Any]:
    """Run in a child process: post every body to /txs with ``concurrency`` clients."""

    async def main() -> dict[str, Any]:
        pending = deque(range(len(bodies)))
        outcome = Outcome()
        round_trips: list[float] = []
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

            async def worker() -> None:
                while pending:
                    index = pending.popleft()
                    sent = time.perf_counter()
                    response = await client.post("/txs", content=bodies[index], headers=headers)
                    round_trips.append(time.perf_counter() - sent)
                    response.raise_for_status()
                    for kind, receipt in zip(kinds[index], response.json(), strict=True):
                        error = receipt.get("error")
                        fills = sum(1 for e in receipt.get("events", ()) if e["kind"] == "Fill")
                        outcome.add(kind, receipt["status"], None if error is None else error["error"], fills)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "outcome": (outcome.orders, dict(outcome.statuses), dict(outcome.refused), outcome.fills),
            "p50_request_ms": statistics.median(round_trips) * 1e3,
            "max_request_ms": max(round_trips) * 1e3,
            "client_cpu_s": time.process_time(),
        }

    return asyncio.run(main())


def run_http(
    root: Path,
    traders: int,
    objs: list[dict[str, Any]],
    kinds: list[str],
    batch: int,
    clients: int,
    interval: float,
) -> tuple[dict[str, Any], int, float]:
    bodies = [json.dumps(objs[i : i + batch]).encode() for i in range(0, len(objs), batch)]
    body_kinds = [kinds[i : i + batch] for i in range(0, len(objs), batch)]
    directory = root / "http"
    shutil.rmtree(directory, ignore_errors=True)
    server = NodeServer(directory, GenesisConfig(), NodeConfig(block_interval_s=interval))
    with server:
        funded = Funded(server.node, traders, running=True)
        settle_heap()
        funded.start()
        height = server.node.height
        cpu = time.process_time()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result = pool.submit(http_clients, server.url, bodies, body_kinds, clients).result()
        server_cpu = time.process_time() - cpu
        funded.stop()
        blocks = server.node.height - height
    orders, statuses, refused, fills = result["outcome"]
    result["outcome"] = Outcome(orders, Counter(statuses), Counter(refused), fills)
    return result, blocks, server_cpu


# --- 3. latency at a fixed load ---------------------------------------------------------------


def run_latency(
    funded: Funded, verifier: Verifier, objs: list[dict[str, Any]], rate: float, tick: float = 0.001
) -> tuple[Tally, float]:
    """Open loop: order i is due at t0 + i / rate; latencies from due time to durable receipt."""
    node = funded.node
    count = len(objs)
    started = time.perf_counter()
    tally = Tally(["order"] * count, due=[started + i / rate for i in range(count)])
    due = tally.due or []
    sent = 0
    late = 0.0
    while sent < count:
        now = time.perf_counter()
        upto = min(count, int((now - started) * rate) + 1)
        if upto > sent:
            late = max(late, now - due[sent])
            verifier.submit(objs[sent:upto]).add_done_callback(partial(queue_checked, node, tally, sent))
            sent = upto
        time.sleep(tick)
    if not tally.done.wait(120):
        raise SystemExit("receipts still missing 120 s after the last order was sent")
    return tally, late


def replay_without_signatures(directory: Path) -> tuple[int, float]:
    """``verify``'s replay with the logged signers trusted (what a restart does): (txs, seconds)."""
    db = sqlite3.connect(f"file:{directory / DB_NAME}?mode=ro", uri=True)
    try:
        config = GenesisConfig.from_json(
            json.loads(db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()[0])
        )
        started = time.perf_counter()
        state = genesis_state(config)
        tree = StateTree.build(state)
        txs = 0
        for height, body, root in db.execute(
            "SELECT height, body, root FROM blocks WHERE height > 0 ORDER BY height"
        ):
            block = json.loads(body)
            if apply_block(state, tree, block, config.domain, check_signatures=False).root != root:
                raise SystemExit(f"block {height} replays to another root")
            txs += len(block["txs"])
        return txs, time.perf_counter() - started
    finally:
        db.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- 5. where the time goes -------------------------------------------------------------------

PROFILE_PARTS: list[tuple[str, str, str]] = [
    # label, file suffix, function name
    ("core apply (engine.apply: SetTime + every Signed)", "core/engine.py", "apply"),
    ("state root (StateTree.after_block)", "node/state_root.py", "after_block"),
    ("  of which record hashes (canonical JSON + keccak)", "node/state_root.py", "record_hash"),
    ("  of which market records (books as order ids)", "node/state_root.py", "market_record"),
    ("  of which the books compared (changed_orders)", "node/state_root.py", "changed_orders"),
    ("block JSON: Submission.log_text per tx", "node/chain.py", "log_text"),
    ("block JSON: block_body (json.dumps)", "node/chain.py", "block_body"),
    ("SQLite append + fsync (BlockLog.append)", "node/log.py", "append"),
    ("snapshots (BlockLog.save_snapshot)", "node/log.py", "save_snapshot"),
    ("receipts (receipt_of)", "node/chain.py", "receipt_of"),
    ("futures resolved (Future.set_result)", "concurrent/futures/_base.py", "set_result"),
]


def profile_parts(profile: cProfile.Profile) -> tuple[float, list[tuple[str, float]]]:
    stats: Any = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = 0.0
    parts = []
    for (filename, _, name), (_, _, _, cumulative, _) in stats.items():
        if filename.endswith("node/node.py") and name == "produce_block":
            total += cumulative
    for label, suffix, function in PROFILE_PARTS:
        seconds = sum(
            entry[3]
            for (filename, _, name), entry in stats.items()
            if filename.endswith(suffix) and name == function
        )
        parts.append((label, seconds))
    return total, parts


def sequence_checked(funded: Funded, checked: list[tuple[Submission, str]], block: int) -> tuple[float, int]:
    """Queue everything, then make blocks of ``block`` transactions in this thread; (seconds, blocks)."""
    node = funded.node
    futures = node.submit_checked(checked)
    started = time.perf_counter()
    blocks = 0
    while node.pending():
        node.produce_block()
        blocks += 1
    seconds = time.perf_counter() - started
    for future in futures:
        future.result()
    return seconds, blocks


def time_market_leaf(node: Node, repeats: int = 5) -> float:
    """Seconds to hash the market's leaf (its record, the book as order ids), as every block does."""
    with node.lock:
        started = time.perf_counter()
        for _ in range(repeats):
            keccak256(leaf_encoding(node.state, (MARKET_LEAF, MARKET, 0)))
        return (time.perf_counter() - started) / repeats


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders of run 1 (per kind)")
    parser.add_argument("--traders", type=int, default=100)
    parser.add_argument("--quotes", type=int, default=4, help="resting quotes per trader at most")
    parser.add_argument("--cross", type=float, default=0.2, help="share of new orders that cross (IOC)")
    parser.add_argument("--kinds", default="process,thread,inline", help="verifier kinds of run 1")
    parser.add_argument("--batch", type=int, default=1_000, help="submissions per verifier batch (run 1)")
    parser.add_argument("--in-flight", type=int, default=8, help="batches not yet durable at most (run 1)")
    parser.add_argument("--block-interval", type=float, default=0.1, help="seconds (runs 1 and 2)")
    parser.add_argument("--http-orders", type=int, default=50_000)
    parser.add_argument("--http-clients", type=int, default=8)
    parser.add_argument("--http-batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5_000.0, help="offered load of run 3, orders/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of run 3")
    parser.add_argument("--latency-block-interval", type=float, default=0.01)
    parser.add_argument("--tick", type=float, default=0.005, help="run 3's sender batches every tick s")
    parser.add_argument("--profile-orders", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where the nodes' directories go (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.http_orders, args.seconds, args.profile_orders = 3_000, 2_000, 1.0, 2_000
        args.traders = 20
    kinds_run = [k for k in args.kinds.split(",") if k]
    if not kinds_run or any(k not in ("process", "thread", "inline") for k in kinds_run):
        parser.error("--kinds: a comma-separated list of process, thread, inline")
    latency_orders = int(args.rate * args.seconds)
    total = max(args.orders, args.http_orders, latency_orders, args.profile_orders)
    if min(args.orders, args.http_orders, latency_orders, args.profile_orders, args.traders) <= 0:
        parser.error("sizes must be positive")

    root = Path(args.dir or tempfile.mkdtemp(prefix="solvent-bench-node-"))
    root.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"coincurve {coincurve.__version__}; load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    domain = GenesisConfig().domain
    started = time.perf_counter()
    flow = make_flow(total, args.traders, args.quotes, args.cross, args.seed)
    objs = sign_flow(domain, flow)
    kinds = [flow_kind(tx) for _, tx in flow]
    del flow
    mix = Counter(kinds[: args.orders])
    print(
        f"signed {total:,} orders from {args.traders} traders in {time.perf_counter() - started:.1f} s "
        f"(not timed); run 1's mix: " + ", ".join(f"{k} {n:,}" for k, n in sorted(mix.items()))
    )
    figures: dict[str, Any] = {"orders": args.orders, "traders": args.traders, "load_before": load[0]}

    # 1. In process, per verifier kind.
    runs: dict[str, Run] = {}
    config = NodeConfig(block_interval_s=args.block_interval)
    for kind in kinds_run:
        funded = fresh_node(root, f"run1-{kind}", args.traders, config)
        with Verifier(domain, workers=2, kind=kind) as verifier:
            verifier.warm()
            funded.start()
            run = run_in_process(
                funded, verifier, objs[: args.orders], kinds[: args.orders], args.batch, args.in_flight
            )
            funded.stop()
            funded.node.close()
        runs[kind] = run
        rate = args.orders / run.seconds
        print(
            f"1. in process, verifier {kind:7s}: {rate:,.0f} signed orders/s durable "
            f"({run.seconds:.2f} s, {run.blocks} blocks of {args.orders / max(1, run.blocks):,.0f} "
            "on average; "
            f"CPU: this process {run.main_cpu_s:.1f} s, workers {run.worker_cpu_s:.1f} s, "
            f"other processes {run.other_cpu_s:.1f} s; "
            f"book at the end {run.book} orders)"
        )
        print(f"   {run.outcome.describe()}")
        print(f"   {run.gc}")
        figures[f"signed_orders_per_s_{kind}"] = round(rate)
    best = max(runs, key=lambda k: args.orders / runs[k].seconds)
    main_kind = "process" if "process" in runs else best
    run1 = runs[main_kind]
    signed_per_s = args.orders / run1.seconds
    figures["signed_orders_per_s"] = round(signed_per_s)
    figures["refused"] = run1.outcome.orders - run1.outcome.applied
    figures["fastest_kind"] = best
    print(
        f"   fastest: {best}; goal >= {GOAL_ORDERS_PER_S:,}/s with the process pool: "
        + ("met" if signed_per_s >= GOAL_ORDERS_PER_S else f"MISSED ({signed_per_s:,.0f})")
    )

    # 2. HTTP.
    result, blocks, server_cpu = run_http(
        root,
        args.traders,
        objs[: args.http_orders],
        kinds[: args.http_orders],
        args.http_batch,
        args.http_clients,
        args.block_interval,
    )
    http_per_s = args.http_orders / result["seconds"]
    figures["http_orders_per_s"] = round(http_per_s)
    print(
        f"2. HTTP, {args.http_clients} clients x POST /txs of {args.http_batch}: {http_per_s:,.0f} orders/s "
        f"durable ({result['seconds']:.2f} s, {blocks} blocks; "
        f"request p50 {result['p50_request_ms']:.0f} ms, "
        f"max {result['max_request_ms']:.0f} ms; CPU: server process {server_cpu:.1f} s, "
        f"client process {result['client_cpu_s']:.1f} s)"
    )
    print(f"   {result['outcome'].describe()}")

    # 3. Latency at a fixed load, in process.
    funded = fresh_node(
        root, "latency", args.traders, NodeConfig(block_interval_s=args.latency_block_interval)
    )
    with Verifier(domain, workers=2, kind="process", min_chunk=4) as verifier:
        verifier.warm()
        made: list[tuple[float, int]] = []  # (time, transactions) of each block once durable
        funded.node.listeners.append(lambda info: made.append((time.perf_counter(), len(info.txs))))
        funded.start()
        busy = busy_cpu_s()
        cpu_main = time.process_time()
        cpu_workers = sum(proc_cpu_s(pid) for pid in verifier.worker_pids())
        GC_WATCH.start()
        tally, late = run_latency(funded, verifier, objs[:latency_orders], args.rate, args.tick)
        gc_line = GC_WATCH.stop()
        own = time.process_time() - cpu_main
        own += sum(proc_cpu_s(pid) for pid in verifier.worker_pids()) - cpu_workers
        other = max(0.0, busy_cpu_s() - busy - own)
        funded.stop()
        funded.node.close()
    latencies, outcome = tally.latencies, tally.outcome
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(made)]
    sizes = [n for _, n in made]
    p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
    figures["p50_ack_ms"], figures["p99_ack_ms"] = round(p50, 1), round(p99, 1)
    figures["max_ack_ms"] = round(max(latencies) * 1e3, 1)
    figures["p50_checked_ms"] = round(percentile(tally.checked, 0.5) * 1e3, 1)
    print(
        f"3. in process, open loop at {args.rate:,.0f} orders/s for {args.seconds:g} s "
        f"({len(made)} blocks, interval {args.latency_block_interval * 1e3:g} ms): submit to durable receipt "
        f"p50 {p50:.1f} ms, p90 {percentile(latencies, 0.9) * 1e3:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(latencies) * 1e3:.1f} ms over {len(latencies):,} applied orders; sender at most "
        f"{late * 1e3:.1f} ms late; CPU: this process and workers {own:.1f} s, other processes "
        f"{other:.1f} s; goal p99 <= {GOAL_P99_MS:g} ms: " + ("met" if p99 <= GOAL_P99_MS else "MISSED")
    )
    print(
        f"   of which due to checked and queued: p50 {percentile(tally.checked, 0.5) * 1e3:.1f} ms, "
        f"p99 {percentile(tally.checked, 0.99) * 1e3:.1f} ms; "
        f"blocks every {statistics.median(gaps) * 1e3:.1f} ms (median; p99 "
        f"{percentile(gaps, 0.99) * 1e3:.1f} ms, longest {max(gaps) * 1e3:.0f} ms) holding "
        f"{statistics.median(sizes):.0f} orders (median; at most {max(sizes):,}); {gc_line}"
    )
    print(f"   {outcome.describe()}")

    # 4. verify over run 1's log.
    report = verify(root / f"run1-{main_kind}")
    if not report.ok:
        raise SystemExit(f"verify found a bad block: {report.reason}")
    verify_per_s = report.txs / report.seconds
    figures["verify_tx_per_s"] = round(verify_per_s)
    print(
        f"4. verify over run 1 ({main_kind}): {report.blocks:,} blocks, {report.txs:,} txs in "
        f"{report.seconds:.2f} s = {verify_per_s:,.0f} tx/s, every root matches; goal >= "
        f"{GOAL_VERIFY_TX_PER_S:,}: " + ("met" if verify_per_s >= GOAL_VERIFY_TX_PER_S else "MISSED")
    )
    txs, seconds = replay_without_signatures(root / f"run1-{main_kind}")
    replay_per_s = txs / seconds
    figures["replay_tx_per_s"] = round(replay_per_s)
    print(
        f"   the same replay trusting the logged signers (as a restart does): {replay_per_s:,.0f} tx/s; "
        f"the signature checks are {100 * (1 - verify_per_s / replay_per_s):.0f}% of verify's time"
    )

    # 5. Where the time goes.
    block = max(1, round(args.orders / max(1, run1.blocks)))
    with Verifier(domain, workers=2) as verifier:
        results = verifier.check(objs[: args.profile_orders])
    checked = [r for r in results if isinstance(r, tuple)]
    timed = fresh_node(root, "sequencer", args.traders, NodeConfig(max_block_txs=block))
    seconds, blocks = sequence_checked(timed, checked, block)
    leaf_ms = time_market_leaf(timed.node) * 1e3
    book = len(timed.node.state.markets[MARKET].book.orders)
    timed.node.close()
    sequencer_per_s = len(checked) / seconds
    figures["sequencer_tx_per_s"] = round(sequencer_per_s)
    figured = fresh_node(root, "profile", args.traders, NodeConfig(max_block_txs=block))
    profile = cProfile.Profile()
    profile.enable()
    sequence_checked(figured, checked, block)
    profile.disable()
    figured.node.close()
    total_s, parts = profile_parts(profile)
    print(
        f"5. the sequencer alone (checked orders queued, produce_block in blocks of {block:,}): "
        f"{sequencer_per_s:,.0f} tx/s ({blocks} blocks, {seconds / blocks * 1e3:.1f} ms each); "
        f"the BTC-PERP leaf with {book} resting orders: {leaf_ms:.1f} ms per block"
    )
    print(f"   cProfile of produce_block ({total_s:.2f} s under the profiler):")
    for label, part in parts:
        print(f"     {label:55s} {part:7.2f} s {100 * part / total_s:5.1f}%")
    figures["profile_share"] = {label.strip(): round(part / total_s, 3) for label, part in parts}
    figures["market_leaf_ms"] = round(leaf_ms, 2)
    figures["goals"] = {
        "signed_orders_per_s": GOAL_ORDERS_PER_S,
        "p99_ack_ms": GOAL_P99_MS,
        "verify_tx_per_s": GOAL_VERIFY_TX_PER_S,
    }
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
