"""
The node's commands of the ``solvent`` command line.

    solvent node [--data DIR] [--port 8545] [--deployment fixture_f] [--block-ms 100]
    solvent verify DATA_DIR [--workers 2]
    solvent account URL OWNER [--sub N] [--json]
    solvent order URL (--key HEX | --dev NAME) MARKET buy|sell SIZE [PRICE] [--tif GTC|IOC|FOK]
    solvent oracle URL --asset BTC --file PRICES.csv [--dev-reporters 3] [--interval 1.0]
    solvent keeper URL (--key HEX | --dev NAME) [--interval 1.0] [--rounds N]

Keys: ``--key`` takes a private key in hex; ``--dev NAME`` the public
development key of a role (``node.genesis.dev_key``), for local nodes only.
Sizes and prices are decimal units (``0.01``, ``100000``).
"""

import argparse
import contextlib
import csv
import gc
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from solvent.bots.keeper import KeeperBot
from solvent.bots.tally import Tally
from solvent.core.state import TimeInForce
from solvent.core.tx import PlaceOrder, PriceReport
from solvent.core.units import to_atoms
from solvent.defaults import usd
from solvent.node.genesis import GenesisConfig, dev_key
from solvent.node.node import NodeConfig
from solvent.node.server import NodeServer
from solvent.node.verify import verify
from solvent.sdk import Client, NodeError


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    node = sub.add_parser("node", help="run a node: sequencer, durable log and API")
    node.add_argument("--data", default="solvent-data", help="data directory (created if absent)")
    node.add_argument("--host", default="127.0.0.1")
    node.add_argument("--port", type=int, default=8545)
    node.add_argument("--deployment", default="fixture_f", help="genesis deployment of a new directory")
    node.add_argument("--block-ms", type=int, default=100, help="block interval in milliseconds")
    check = sub.add_parser("verify", help="re-execute a node's log from genesis and compare every root")
    check.add_argument("data")
    check.add_argument(
        "--workers", type=int, default=2, help="processes checking signatures ahead of the replay (0: none)"
    )
    account = sub.add_parser("account", help="show an account")
    account.add_argument("url")
    account.add_argument("owner")
    account.add_argument("--sub", type=int, default=0)
    account.add_argument("--json", action="store_true")
    order = sub.add_parser("order", help="sign and submit an order")
    order.add_argument("url")
    _key_arguments(order)
    order.add_argument("market")
    order.add_argument("side", choices=["buy", "sell"])
    order.add_argument("size", help="in base units, e.g. 0.01")
    order.add_argument("price", nargs="?", help="limit price; omit for a market order (IOC)")
    order.add_argument("--tif", default="GTC", choices=[t.value for t in TimeInForce])
    order.add_argument("--sub", type=int, default=0)
    oracle = sub.add_parser("oracle", help="report prices from a CSV file (ts,open,high,low,close,...)")
    oracle.add_argument("url")
    oracle.add_argument("--asset", required=True)
    oracle.add_argument("--file", required=True)
    oracle.add_argument("--dev-reporters", type=int, default=3, help="report with the first N dev reporters")
    oracle.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    keeper = sub.add_parser("keeper", help="liquidate every account below maintenance, through the API")
    keeper.add_argument("url")
    _key_arguments(keeper)
    keeper.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    keeper.add_argument("--rounds", type=int, default=0, help="stop after N rounds (0: run until Ctrl-C)")


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", help="private key, hex")
    group.add_argument("--dev", help="use the development key of this role name (local nodes only)")


def _key(args: argparse.Namespace) -> bytes:
    if args.dev:
        return dev_key(args.dev)
    return bytes.fromhex(args.key.removeprefix("0x"))


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a node command; None if ``args.command`` is not one."""
    handlers = {"node": cmd_node, "verify": cmd_verify, "account": cmd_account, "order": cmd_order}
    handlers["oracle"] = cmd_oracle
    handlers["keeper"] = cmd_keeper
    handler = handlers.get(args.command)
    return None if handler is None else handler(args)


def cmd_node(args: argparse.Namespace) -> int:
    config = NodeConfig(block_interval_s=args.block_ms / 1000)
    server = NodeServer(
        Path(args.data), GenesisConfig(deployment=args.deployment), config, args.host, args.port
    )
    report = server.node.restart
    console = Console()
    console.print(
        f"[bold]solvent node[/] {server.url} · data {args.data} · height {report.height} "
        f"(snapshot {report.snapshot}, {report.replayed} blocks replayed in {report.seconds:.2f} s)"
    )
    if report.torn_bytes:
        console.print(f"[yellow]dropped a torn tail of {report.torn_bytes} bytes: a block never acknowledged")
    console.print(f"API docs: {server.url}/docs · Ctrl-C stops")
    # What start-up built (the state, the imports) lives as long as the node: out of the cyclic
    # collector's sight, full collections scan only what the running node allocates.
    gc.freeze()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying blocks", total=None)
        report = verify(
            args.data,
            progress=lambda height: progress.update(task, completed=height),
            workers=max(0, args.workers),
        )
    rate = report.txs / report.seconds if report.seconds else 0.0
    if report.ok:
        console.print(
            f"[green]all {report.blocks} block roots match[/] ({report.txs} transactions, "
            f"{report.seconds:.2f} s, {rate:,.0f} tx/s); last root {report.root}"
        )
        return 0
    console.print(f"[red]block {report.first_bad} differs:[/] {report.reason}")
    return 1


def cmd_account(args: argparse.Namespace) -> int:
    try:
        view = Client(args.url).account(args.owner.lower(), args.sub)
    except NodeError as error:
        print(f"solvent account: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(view, indent=2))
        return 0
    console = Console()
    console.print(f"[bold]{view['owner']}/{view['subaccount']}[/] risk {view['risk']}")
    console.print("balances: " + ", ".join(f"{k} {v}" for k, v in view["balances"].items()))
    table = Table("market", "size", "entry", "mark", "uPnL", "liq. price")
    for p in view["positions"]:
        table.add_row(
            p["market"],
            str(p["size"]),
            str(p["entry_price"]),
            str(p["mark"]),
            str(p["unrealised_pnl"]),
            str(p["liquidation_price"]),
        )
    console.print(table)
    return 0


def cmd_order(args: argparse.Namespace) -> int:
    client = Client(args.url, _key(args))
    size = to_atoms(args.size, 8)
    price = usd(args.price) if args.price else None
    tif = TimeInForce(args.tif) if price is not None else TimeInForce.IOC
    tx = PlaceOrder(client.address, args.sub, args.market, args.side == "buy", size, price, tif)
    try:
        receipt = client.submit(tx)
    except NodeError as error:
        print(f"solvent order: {error}", file=sys.stderr)
        return 1
    print(json.dumps(receipt, indent=2))
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    """Report each row's close as the current price, one row per ``--interval`` seconds."""
    with open(args.file, newline="") as f:
        closes = [row["close"] for row in csv.DictReader(f)]
    reporters = [
        Client(args.url, dev_key(f"{args.asset.lower()}-reporter-{i}"))
        for i in range(1, args.dev_reporters + 1)
    ]
    console = Console()
    with Progress(console=console) as progress:
        task = progress.add_task(f"{args.asset} from {Path(args.file).name}", total=len(closes))
        for close in closes:
            now = int(reporters[0].get("/meta")["time"])
            for reporter in reporters:
                try:
                    reporter.submit(PriceReport(reporter.address, args.asset, usd(close), now), wait=False)
                except NodeError as error:
                    console.print(f"[yellow]{reporter.address}: {error}")
            progress.advance(task)
            time.sleep(args.interval)
    return 0


def cmd_keeper(args: argparse.Namespace) -> int:
    """Run ``bots.keeper.KeeperBot``: each round, read the new blocks, find the accounts the core
    says are below maintenance, and send signed ``Liquidate`` transactions (rewards go to the
    keeper's own account, which must exist)."""
    bot = KeeperBot(args.url, _key(args), Tally())
    console = Console()
    console.print(f"[bold]solvent keeper[/] {bot.address} on {args.url} · Ctrl-C stops")
    rounds = 0
    with contextlib.suppress(KeyboardInterrupt):
        while not args.rounds or rounds < args.rounds:
            done = bot.step()
            rounds += 1
            if done:
                console.print(f"round {rounds}: {done} liquidations ({bot.liquidations} in all)")
            time.sleep(args.interval)
    console.print(f"{bot.liquidations} liquidations, {bot.refusals} refused, over {rounds} rounds")
    bot.close()
    return 0
