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
import dataclasses
import gc
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from solvent.bots.keeper import KeeperBot
from solvent.bots.tally import Tally
from solvent.core.state import TimeInForce
from solvent.core.tx import PlaceOrder, PriceReport
from solvent.core.units import to_atoms
from solvent.defaults import usd
from solvent.node.eip712 import address_of_key
from solvent.node.genesis import GenesisConfig, dev_key
from solvent.node.node import Node, NodeConfig
from solvent.node.server import NodeServer
from solvent.node.verify import verify
from solvent.sdk import Client, NodeError

if TYPE_CHECKING:
    from solvent.chain.client import VaultClient
    from solvent.chain.link import ChainLink


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    node = sub.add_parser("node", help="run a node: sequencer, durable log and API")
    node.add_argument("--data", default="solvent-data", help="data directory (created if absent)")
    node.add_argument("--host", default="127.0.0.1")
    node.add_argument("--port", type=int, default=8545)
    node.add_argument("--deployment", default="fixture_f", help="genesis deployment of a new directory")
    node.add_argument("--block-ms", type=int, default=100, help="block interval in milliseconds")
    chain = node.add_argument_group("chain", "link the node to its vault (solvent chain deploy)")
    chain.add_argument("--chain-rpc", metavar="URL", help="the chain's JSON-RPC URL")
    chain.add_argument("--vault", metavar="ADDR", help="the vault's address: the venue signatures bind to")
    chain.add_argument(
        "--confirmations", type=int, default=0, help="blocks deep a deposit must be before it is credited"
    )
    chain.add_argument("--chain-interval", type=float, default=1.0, help="seconds between chain rounds")
    chain.add_argument(
        "--vault-block",
        type=int,
        help="the vault's deployment block (deploy JSON: deployed_block), where the watcher's scan "
        "starts (default: found on chain, which needs an archive RPC)",
    )
    chain.add_argument(
        "--operator-key",
        metavar="HEX",
        help="the operator's key: credits deposits, commits roots (default: dev)",
    )
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


def parse_private_key(text: str, flag: str) -> bytes:
    """A 32-byte private key from hex (``0x`` optional); ValueError names ``flag`` and the fix."""
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as error:
        raise ValueError(f"{flag} takes a private key in hex (64 hex digits)") from error
    if len(key) != 32:
        raise ValueError(f"{flag} takes a 32-byte private key (64 hex digits), not {len(key)} bytes")
    return key


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
    console = Console()
    genesis = GenesisConfig(deployment=args.deployment)
    chain: _Chain | None = None
    if args.chain_rpc or args.vault:
        try:
            chain = _chain(args, console)
        except ValueError as error:
            print(f"solvent node: {error}", file=sys.stderr)
            return 1
        genesis = dataclasses.replace(
            genesis,
            chain_id=chain.chain_id,
            venue=chain.vault.address.lower(),
            operator=chain.operator,
            chain_settled=True,  # money enters only through the vault: the plain Deposit is refused
        )
    try:
        server = NodeServer(Path(args.data), genesis, config, args.host, args.port)
    except ValueError as error:  # a directory holding another venue's log
        print(f"solvent node: {error}", file=sys.stderr)
        return 1
    report = server.node.restart
    console.print(
        f"[bold]solvent node[/] {server.url} · data {args.data} · height {report.height} "
        f"(snapshot {report.snapshot}, {report.replayed} blocks replayed in {report.seconds:.2f} s)"
    )
    if report.torn_bytes:
        console.print(f"[yellow]dropped a torn tail of {report.torn_bytes} bytes: a block never acknowledged")
    if chain is not None:
        console.print(
            "chain-settled: money enters only through the vault (a plain Deposit is refused) and the "
            "insurance funds start empty: the treasury deposits on chain, then signs FundInsurance",
            soft_wrap=True,
        )
    try:
        link = None if chain is None else chain.link(server.node, console, args)
    except ValueError as error:  # the chain stopped answering since _chain
        server.stop()
        print(f"solvent node: {error}", file=sys.stderr)
        return 1
    console.print(f"API docs: {server.url}/docs · Ctrl-C stops")
    # What start-up built (the state, the imports) lives as long as the node: out of the cyclic
    # collector's sight, full collections scan only what the running node allocates.
    gc.freeze()
    if link is None:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return 0
    # NodeServer.serve_forever, with the link started after the sequencer and stopped before the
    # node closes (it submits to the node and reads its log).
    server.verifier.warm()
    server.node.start()
    link.start()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.http.run()
    finally:
        link.stop()
        server.verifier.close()
        server.node.close()
        stats = link.stats
        console.print(
            f"chain link stopped: {stats.deposits} deposits credited, {stats.requests} forced requests "
            f"served, {stats.commitments} roots committed, {stats.errors} errors",
            soft_wrap=True,
        )
    return 0


@dataclasses.dataclass
class _Chain:
    """The vault a node is linked to and the operator key that serves it."""

    vault: "VaultClient"
    chain_id: int
    key: bytes
    operator: str  # the key's address, lower-case: the genesis operator

    def link(self, node: "Node", console: Console, args: argparse.Namespace) -> "ChainLink":
        from web3.exceptions import Web3Exception  # noqa: PLC0415 (web3: only a linked node pays)

        from solvent.chain.client import ChainError, account  # noqa: PLC0415
        from solvent.chain.link import ChainCommitter, ChainLink, ChainWatcher  # noqa: PLC0415

        try:  # the watcher finds the vault's deployment block on chain
            watcher = ChainWatcher(node, self.vault, self.key, args.confirmations, args.vault_block)
        except (ChainError, Web3Exception, OSError) as error:
            raise ValueError(f"the chain at {args.chain_rpc} failed: {error}") from error
        committer = ChainCommitter(node, self.vault, account(self.key))
        last_error = [""]

        def on_error(error: Exception) -> None:
            if str(error) != last_error[0]:  # once per distinct error, not once per round
                console.print(
                    f"[yellow]chain link: {error} (retrying every {args.chain_interval} s)", soft_wrap=True
                )
            last_error[0] = str(error)

        class ReportingLink(ChainLink):
            """The link, printing what each round did."""

            def poll(self) -> None:
                before = dataclasses.replace(self.stats)
                super().poll()
                done = self.stats
                if done.deposits > before.deposits or done.requests > before.requests:
                    console.print(
                        f"chain link: submitted {done.deposits - before.deposits} deposit credit(s), "
                        f"{done.requests - before.requests} forced withdrawal(s)",
                        soft_wrap=True,
                    )
                if done.commitments > before.commitments:
                    height = committer.sent[-1].height
                    console.print(
                        f"chain link: committed the roots of height {height} to the vault", soft_wrap=True
                    )

        link = ReportingLink(watcher, committer, args.chain_interval, on_error)
        last = self.vault.last_height()
        console.print(
            f"chain link: vault {self.vault.address} on chain {self.chain_id} at {args.chain_rpc}, "
            f"every {args.chain_interval} s · credits Deposited events {args.confirmations} blocks deep "
            f"(from block {watcher.next_block}) and serves forced requests, signed by the operator "
            f"{self.operator} · commits the roots of every {node.genesis.commit_every}th block "
            f"(vault's last: {'none' if last is None else last})",
            soft_wrap=True,
        )
        return link


def _chain(args: argparse.Namespace, console: Console) -> _Chain:
    """Connect to the vault of ``--chain-rpc``/``--vault``; ValueError says what is wrong."""
    from web3 import Web3  # noqa: PLC0415 (web3: only a linked node pays for its import)

    from solvent.chain.client import ChainError, VaultClient, connect  # noqa: PLC0415

    if not (args.chain_rpc and args.vault):
        raise ValueError("--chain-rpc and --vault go together: the chain's RPC URL and the vault on it")
    if not Web3.is_address(args.vault):
        raise ValueError(f"--vault {args.vault} is not an address (0x and 40 hex digits)")
    if args.operator_key:
        key = parse_private_key(args.operator_key, "--operator-key")
    else:
        key = dev_key("operator")
        console.print(
            "[yellow]chain link: no --operator-key, using the public development key dev_key('operator'): "
            "for a local chain only, anyone can sign as it",
            soft_wrap=True,
        )
    operator = address_of_key(key)
    try:
        w3 = connect(args.chain_rpc)
    except ChainError as error:
        raise ValueError(f"{error.reason}: start the chain or fix --chain-rpc") from error
    if not w3.eth.get_code(Web3.to_checksum_address(args.vault)):
        raise ValueError(
            f"no contract at {args.vault} on chain {w3.eth.chain_id}: check --vault and --chain-rpc"
        )
    vault = VaultClient(w3, args.vault)
    sequencer = str(vault.contract.functions.sequencer().call()).lower()
    if sequencer != operator:
        raise ValueError(
            f"the vault's sequencer is {sequencer}, the operator key's address {operator}: pass the "
            "sequencer's key as --operator-key (a vault's sequencer never changes)"
        )
    if args.confirmations < 0 or args.chain_interval <= 0:
        raise ValueError("--confirmations takes 0 or more blocks, --chain-interval seconds above 0")
    return _Chain(vault, int(w3.eth.chain_id), key, operator)


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
