"""
The chain commands of the ``solvent`` command line: a development chain, the vault's deployment,
and every call a user makes to the vault.

    solvent chain devnet [--host 127.0.0.1] [--port 8546]
    solvent chain deploy --rpc URL (--key HEX | --dev NAME) [--sequencer ADDR] [--force-window 3600]
                         [--deployment fixture_f] [--asset SYMBOL=TOKEN ...]
                         [--test-token SYMBOL:DECIMALS ...] [--mint ADDR=AMOUNT[:SYMBOL] ...]
                         [--fund] [--out FILE.json]
    solvent chain status   --rpc URL --vault ADDR [--json]
    solvent chain deposit  --rpc URL --vault ADDR (--key | --dev) ASSET AMOUNT [--sub N]
    solvent chain withdraw --rpc URL --vault ADDR (--key | --dev) (--node URL | --log DIR) WITHDRAWAL_ID
    solvent chain force    --rpc URL --vault ADDR (--key | --dev) ASSET AMOUNT [--sub N]
    solvent chain freeze   --rpc URL --vault ADDR (--key | --dev) REQUEST_ID (--node URL | --log DIR)
    solvent chain exit     --rpc URL --vault ADDR (--key | --dev) --log DIR [--owner ADDR | --all]
    solvent chain refund   --rpc URL --vault ADDR (--key | --dev) DEPOSIT_ID

``--rpc`` defaults to the environment's ``SOLVENT_RPC`` and ``--vault`` to
``SOLVENT_VAULT``. Amounts are decimal units of the token (``1250.5``),
converted exactly with the token's decimals: more decimals than the token has
is refused, never rounded. Addresses of ``--mint`` and ``--owner`` may be a
development role name (``alice``: the address of ``dev_key("alice")``).

The escape hatch without the operator is ``force`` → (deadline) → ``freeze
--log`` → ``exit --log``, ``withdraw --log``, ``refund``: every proof is rebuilt
from a copy of the node's log (``solvent.chain.escape``). Any error prints
``solvent chain <command>: <what to do>`` on stderr and exits 1.
"""

# ruff: noqa: PLC0415 - web3 and the Vyper compiler take seconds to import: only `solvent chain` pays

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solvent.cli_node import parse_private_key
from solvent.core.units import from_atoms, to_atoms
from solvent.node.genesis import dev_address, dev_key

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from solvent.chain.client import VaultClient
    from solvent.chain.escape import EscapeKit

DEVNET_PORT = 8546  # the node's API takes 8545
FUND_WEI = 100 * 10**18  # what --fund gives each address on a devnet
HTTP_NOT_FOUND = 404
COMMIT_WAIT_S = 30  # how long withdraw/freeze --node wait for the vault to commit the node's height

# What to do about each revert string of contracts/Vault.vy.
HINTS = {
    "UnknownAsset": "the vault does not list this asset; `solvent chain status` shows the listed ones",
    "ZeroAmount": "the amount must be above 0",
    "Frozen": "the vault is frozen for good: only withdraw, exit and refund work now",
    "NotFrozen": "the vault is live: exits and refunds come only after `solvent chain freeze`",
    "DeadlineNotPassed": "wait until the request's deadline has passed on the chain's clock, then retry",
    "RequestServed": "the operator served this request in time (the vault's last root says so): "
    "there is nothing to freeze",
    "UnknownRequest": "no forced-withdrawal request has this id (`solvent chain status` counts them)",
    "UnknownDeposit": "no deposit has this id (`solvent chain status` counts them)",
    "DepositCredited": "the node credited this deposit before the freeze: it is in the owner's EXIT claim "
    "(`solvent chain exit`)",
    "WrongDeposit": "the deposit's fields differ from its Deposited event",
    "AlreadyRefunded": "this deposit was already refunded",
    "AlreadyWithdrawn": "this withdrawal was already paid",
    "AlreadyExited": "this claim was already paid",
    "InvalidProof": "the proof does not match the vault's root: take it from a node or a log at the "
    "vault's last committed height",
    "StaleRoot": "exits are proven against the vault's last committed height only",
    "UnknownRoot": "the vault never committed the proof's height: wait for the node's next commitment",
    "InsufficientHoldings": "the vault holds less of this token than the withdrawal pays: retry after "
    "more deposits",
    "NothingToPay": "this withdrawal pays 0 (a forced withdrawal the node refused)",
    "Unauthorized": "only the vault's admin lists assets and only its sequencer commits",
    "AssetListed": "this asset or token is already listed on the vault",
    "FeeOnTransfer": "the token takes a fee on transfer: the vault refuses it",
    "TransferFailed": "the token refused the transfer: check the balance and the allowance",
}


class CommandError(Exception):
    """A user's mistake or a refusal, as the sentence that tells what to do."""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    chain = sub.add_parser("chain", help="the vault on chain: devnet, deploy, deposit, withdraw, escape")
    commands = chain.add_subparsers(dest="chain_command", required=True, metavar="COMMAND")

    devnet = commands.add_parser("devnet", help="serve a development chain over JSON-RPC (Ctrl-C stops)")
    devnet.add_argument("--host", default="127.0.0.1")
    devnet.add_argument("--port", type=int, default=DEVNET_PORT, help="default 8546 (the node's API: 8545)")

    deploy = commands.add_parser("deploy", help="deploy a vault, list its assets, write the deployment JSON")
    _rpc_argument(deploy)
    _key_arguments(deploy, "the deployer: the vault's admin, who lists its assets")
    deploy.add_argument(
        "--sequencer", help="address that commits roots (default: the dev operator, dev_key('operator'))"
    )
    deploy.add_argument("--force-window", type=int, default=3600, help="seconds to serve a forced request")
    deploy.add_argument("--deployment", default="fixture_f", help="the node's deployment (asset decimals)")
    deploy.add_argument(
        "--asset", action="append", default=[], metavar="SYMBOL=TOKEN", help="list an existing ERC-20"
    )
    deploy.add_argument(
        "--test-token",
        action="append",
        default=[],
        metavar="SYMBOL:DECIMALS",
        help="deploy a mintable test token and list it (development chains)",
    )
    deploy.add_argument(
        "--mint",
        action="append",
        default=[],
        metavar="ADDR=AMOUNT[:SYMBOL]",
        help="mint test tokens (every --test-token, or SYMBOL's); ADDR may be a dev name (alice)",
    )
    deploy.add_argument(
        "--fund", action="store_true", help="devnet only: give ether to the deployer, sequencer, mint targets"
    )
    deploy.add_argument("--out", help="write the deployment JSON to this file")

    status = commands.add_parser("status", help="the vault's state: roots, counters, holdings")
    _vault_arguments(status)
    status.add_argument("--json", action="store_true", help="print one JSON document")

    deposit = commands.add_parser("deposit", help="deposit tokens into the vault (approves it if needed)")
    _vault_arguments(deposit)
    _key_arguments(deposit, "the depositor")
    deposit.add_argument("asset", help="symbol, e.g. USDC")
    deposit.add_argument("amount", help="decimal units of the token, e.g. 1250.5")
    deposit.add_argument("--sub", type=int, default=0, help="subaccount credited (default 0)")

    withdraw = commands.add_parser("withdraw", help="pay a withdrawal made on the node, with its proof")
    _vault_arguments(withdraw)
    _key_arguments(withdraw, "the sender (the withdrawal's owner is paid, whoever sends it)")
    _proof_source(withdraw)
    withdraw.add_argument("withdrawal_id", type=int)

    force = commands.add_parser("force", help="request a forced withdrawal the operator must serve in time")
    _vault_arguments(force)
    _key_arguments(force, "the owner of the account")
    force.add_argument("asset")
    force.add_argument("amount", help="decimal units of the token")
    force.add_argument("--sub", type=int, default=0)

    freeze = commands.add_parser("freeze", help="freeze the vault for a request not served by its deadline")
    _vault_arguments(freeze)
    _key_arguments(freeze, "the sender (anyone)")
    freeze.add_argument("request_id", type=int)
    _proof_source(freeze)

    exit_ = commands.add_parser("exit", help="after a freeze: pay EXIT claims with proofs from the log")
    _vault_arguments(exit_)
    _key_arguments(exit_, "the sender (each claim is paid to its owner)")
    exit_.add_argument("--log", required=True, help="a copy of the node's data directory")
    whose = exit_.add_mutually_exclusive_group()
    whose.add_argument("--owner", help="pay this owner's claims (default: the sender's)")
    whose.add_argument("--all", action="store_true", help="pay every claim at the vault's last root")

    advance = commands.add_parser("advance", help="devnet only: move the chain's clock forward and mine")
    _rpc_argument(advance)
    advance.add_argument("seconds", type=int, help="seconds to add to the chain's time")
    refund = commands.add_parser("refund", help="after a freeze: return a deposit the node never credited")
    _vault_arguments(refund)
    _key_arguments(refund, "the sender (the depositor is paid)")
    refund.add_argument("deposit_id", type=int)


def _rpc_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", help="the chain's JSON-RPC URL (default: $SOLVENT_RPC)")


def _vault_arguments(parser: argparse.ArgumentParser) -> None:
    _rpc_argument(parser)
    parser.add_argument("--vault", help="the vault's address (default: $SOLVENT_VAULT)")
    parser.add_argument(
        "--vault-block",
        type=int,
        help="the vault's deployment block, where event scans start (default: $SOLVENT_VAULT_BLOCK, "
        "else found on chain, which needs an archive RPC)",
    )


def _key_arguments(parser: argparse.ArgumentParser, who: str) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", help=f"private key, hex: {who}")
    group.add_argument("--dev", metavar="NAME", help="the development key of a role name (devnets only)")


def _proof_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--node", metavar="URL", help="take the proof from the node's API")
    group.add_argument("--log", metavar="DIR", help="rebuild it from a copy of the node's log (no operator)")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a ``solvent chain`` command; None if ``args.command`` is not ``chain``."""
    if args.command != "chain":
        return None
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "devnet": cmd_devnet,
        "deploy": cmd_deploy,
        "status": cmd_status,
        "deposit": cmd_deposit,
        "withdraw": cmd_withdraw,
        "force": cmd_force,
        "freeze": cmd_freeze,
        "exit": cmd_exit,
        "refund": cmd_refund,
        "advance": cmd_advance,
    }
    name = args.chain_command
    try:
        return handlers[name](args)
    except Exception as error:  # every failure is one line for the user, never a traceback
        message = _explain(error, args)
        if message is None:
            raise
        print(f"solvent chain {name}: {message}", file=sys.stderr)
        return 1


def _explain(error: Exception, args: argparse.Namespace) -> str | None:
    """The sentence for an error a user can meet; None for a bug (its traceback is wanted)."""
    import httpx
    from web3.exceptions import Web3Exception

    from solvent.chain.client import ChainError
    from solvent.chain.devnet import DevnetError
    from solvent.chain.escape import EscapeError
    from solvent.sdk import NodeError

    if isinstance(error, CommandError):
        return str(error)
    if isinstance(error, ChainError):
        hint = HINTS.get(error.reason)
        return f"{error}" + (f"; {hint}" if hint else "")
    if isinstance(error, EscapeError):
        return f"{error}; pass --log a copy of the node's data directory holding that height"
    if isinstance(error, NodeError):
        return f"the node refused: {error}"
    if isinstance(error, httpx.HTTPError):
        node = getattr(args, "node", None)
        return f"no answer from the node at {node}: {error} (is `solvent node` running there?)"
    if isinstance(error, DevnetError):
        return f"{error} (--fund needs a development chain: `solvent chain devnet`, anvil)"
    if isinstance(error, Web3Exception | OSError):
        return f"the chain at {getattr(args, 'rpc', None) or os.environ.get('SOLVENT_RPC')} failed: {error}"
    if isinstance(error, ValueError):
        return str(error)
    return None


# --- shared steps --------------------------------------------------------------------------


def _connect(args: argparse.Namespace) -> "Web3":
    from solvent.chain.client import ChainError, connect

    url = args.rpc or os.environ.get("SOLVENT_RPC")
    if not url:
        raise CommandError("no chain RPC: pass --rpc URL or set SOLVENT_RPC")
    args.rpc = url
    try:
        return connect(url)
    except ChainError as error:
        raise CommandError(
            f"no EVM JSON-RPC answers at {url}: start one (`solvent chain devnet`) or fix --rpc"
        ) from error


def _vault(args: argparse.Namespace, w3: "Web3") -> "VaultClient":
    from web3 import Web3

    from solvent.chain.client import VaultClient

    address = args.vault or os.environ.get("SOLVENT_VAULT")
    if not address:
        raise CommandError(
            "no vault: pass --vault ADDR or set SOLVENT_VAULT (the `vault` of the deploy JSON)"
        )
    if not Web3.is_address(address):
        raise CommandError(f"--vault {address} is not an address (0x and 40 hex digits)")
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise CommandError(
            f"no contract at {address} on chain {w3.eth.chain_id} ({args.rpc}): check --vault and --rpc"
        )
    start = args.vault_block if args.vault_block is not None else os.environ.get("SOLVENT_VAULT_BLOCK")
    return VaultClient(w3, address, int(start or 0))


def _scan_start(vault: "VaultClient") -> int:
    """Where the vault's events begin: --vault-block, else a bisection on its code (0 on an RPC
    that keeps no old state: a full scan)."""
    return vault.start_block or vault.deployed_at_block()


def _signer(args: argparse.Namespace, w3: "Web3") -> "LocalAccount":
    from solvent.chain.client import account

    key = dev_key(args.dev) if args.dev else parse_private_key(args.key, "--key")
    signer = account(key)
    if int(w3.eth.get_balance(signer.address)) == 0:
        raise CommandError(
            f"{signer.address} has no ether to pay gas: send it some (on a devnet, `solvent chain deploy "
            "--fund --mint ADDR=...` funds the addresses it mints to)"
        )
    return signer


def _address(text: str, flag: str) -> str:
    """An address, or the address of a development role name."""
    from web3 import Web3

    if text.startswith("0x"):
        if not Web3.is_address(text):
            raise CommandError(f"{flag} {text} is not an address (0x and 40 hex digits)")
        return text.lower()
    return dev_address(text)


def _decimals(vault: "VaultClient", symbol: str) -> int:
    return int(vault.token(symbol).functions.decimals().call())


def _amount(text: str, decimals: int, symbol: str) -> int:
    try:
        atoms = to_atoms(text, decimals)
    except ValueError as error:
        raise CommandError(f"{error} ({symbol} has {decimals} decimals): give an exact amount") from error
    if atoms <= 0:
        raise CommandError(f"the amount must be above 0, not {text}")
    return atoms


def _await_commitment(vault: "VaultClient", height: int) -> int:
    """Wait until the vault has committed ``height`` (the node proves against its latest commit
    height, which the vault gets a round of the node's link later); return the vault's last."""
    deadline = time.monotonic() + COMMIT_WAIT_S
    last = vault.last_height()
    if last is None or last < height:
        print(f"waiting for the vault to commit height {height} (last: {last})", file=sys.stderr)
    while last is None or last < height:
        if time.monotonic() > deadline:
            raise CommandError(
                f"the node's proof is against height {height}, which the vault has not committed in "
                f"{COMMIT_WAIT_S} s (last: {last}): is the node's chain link running? retry later"
            )
        time.sleep(0.2)
        last = vault.last_height()
    return last


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _kit(vault: "VaultClient", log: str) -> "EscapeKit":
    """The proofs at the vault's last committed root, rebuilt from the log in ``log``."""
    from solvent.chain.escape import kit_at

    if not Path(log).is_dir():
        raise CommandError(f"--log {log} is not a directory: pass a copy of the node's data directory")
    last = vault.last_height()
    if last is None:
        raise CommandError("the vault has no committed root yet: there is nothing to prove against")
    return kit_at(log, last, vault.status().state_root)


class _Units:
    """Token decimals by symbol, read once."""

    def __init__(self, vault: "VaultClient") -> None:
        self.vault = vault
        self.decimals: dict[str, int] = {}

    def __call__(self, atoms: int, symbol: str) -> str:
        if symbol not in self.decimals:
            self.decimals[symbol] = _decimals(self.vault, symbol)
        return f"{from_atoms(atoms, self.decimals[symbol])} {symbol}"


# --- the commands --------------------------------------------------------------------------


def cmd_devnet(args: argparse.Namespace) -> int:
    from solvent.chain.devnet import serve

    try:
        serve(args.host, args.port)
    except OSError as error:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port} ({error}): choose another --port"
        ) from error
    return 0


@dataclasses.dataclass
class _Listing:
    symbol: str
    decimals: int
    token: str | None  # None: deploy a test token


def _deployment_decimals(name: str) -> dict[str, int]:
    from solvent.core.tx import ListAsset
    from solvent.defaults import GENESIS

    if name not in GENESIS:
        raise CommandError(f"unknown --deployment {name!r}; one of {', '.join(GENESIS)}")
    return {tx.symbol: tx.decimals for tx in GENESIS[name]() if isinstance(tx, ListAsset)}


def _listings(args: argparse.Namespace) -> list[_Listing]:
    from web3 import Web3

    known = _deployment_decimals(args.deployment)
    listings: list[_Listing] = []

    def node_decimals(symbol: str) -> int:
        if symbol not in known:
            raise CommandError(
                f"{symbol} is not an asset of the node's deployment {args.deployment} "
                f"({', '.join(known) or 'none'}): the node would bounce every deposit of it"
            )
        if any(listing.symbol == symbol for listing in listings):
            raise CommandError(f"{symbol} is listed twice")
        return known[symbol]

    for text in args.asset:
        symbol, sep, token = text.partition("=")
        if not sep or not Web3.is_address(token):
            raise CommandError(f"--asset takes SYMBOL=TOKEN_ADDRESS, not {text!r}")
        listings.append(_Listing(symbol, node_decimals(symbol), token))
    for text in args.test_token:
        symbol, sep, digits = text.partition(":")
        if not sep or not digits.isdigit():
            raise CommandError(f"--test-token takes SYMBOL:DECIMALS (USDC:6), not {text!r}")
        decimals = node_decimals(symbol)
        if int(digits) != decimals:
            raise CommandError(
                f"--test-token {text}: the node's {symbol} has {decimals} decimals; a token unit must be "
                f"one atom of it (use {symbol}:{decimals})"
            )
        listings.append(_Listing(symbol, decimals, None))
    return listings


def _mints(args: argparse.Namespace, listings: list[_Listing]) -> list[tuple[str, str, int]]:
    """(address, symbol, atoms) of every ``--mint``."""
    tests = {listing.symbol: listing.decimals for listing in listings if listing.token is None}
    mints = []
    for text in args.mint:
        who, sep, rest = text.partition("=")
        amount, _, only = rest.partition(":")
        if not sep or not who or not amount:
            raise CommandError(f"--mint takes ADDR=AMOUNT or ADDR=AMOUNT:SYMBOL, not {text!r}")
        if not tests:
            raise CommandError("--mint mints test tokens: add --test-token SYMBOL:DECIMALS")
        if only and only not in tests:
            raise CommandError(f"--mint {text}: {only} is not a --test-token ({', '.join(tests)})")
        address = _address(who, "--mint")
        for symbol in [only] if only else list(tests):
            mints.append((address, symbol, _amount(amount, tests[symbol], symbol)))
    return mints


def cmd_deploy(args: argparse.Namespace) -> int:
    from rich.console import Console
    from web3 import Web3

    from solvent.chain.client import VaultClient, account, deploy_test_token, mint
    from solvent.chain.devnet import fund

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    if args.force_window <= 0:
        raise CommandError("--force-window takes seconds above 0")
    listings = _listings(args)
    mints = _mints(args, listings)
    sequencer = _address(args.sequencer, "--sequencer") if args.sequencer else dev_address("operator")
    w3 = _connect(args)
    admin = account(dev_key(args.dev) if args.dev else parse_private_key(args.key, "--key"))
    if args.fund:
        if not w3.eth.accounts:
            raise CommandError(
                f"--fund needs a development chain with unlocked accounts; {args.rpc} has none"
            )
        for address in dict.fromkeys([admin.address.lower(), sequencer] + [m[0] for m in mints]):
            fund(w3, address, FUND_WEI)
        console.print(f"funded the deployer, the sequencer and {len(mints)} mint target(s) with 100 ETH")
    if int(w3.eth.get_balance(admin.address)) == 0:
        raise CommandError(f"the deployer {admin.address} has no ether: send it some (a devnet: --fund)")
    vault = VaultClient.deploy(w3, admin, sequencer, args.force_window)
    console.print(
        f"vault {vault.address} (admin {admin.address}, sequencer {Web3.to_checksum_address(sequencer)})"
    )
    assets: dict[str, str] = {}
    for listing in listings:
        token = listing.token
        if token is None:
            token = deploy_test_token(w3, admin, listing.symbol, listing.decimals)
            console.print(f"test token {listing.symbol} ({listing.decimals} decimals) at {token}")
        vault.list_asset(admin, listing.symbol, token, decimals=listing.decimals)
        assets[listing.symbol] = Web3.to_checksum_address(token)
        console.print(f"listed {listing.symbol} = {assets[listing.symbol]}")
    decimals = {listing.symbol: listing.decimals for listing in listings}
    for address, symbol, atoms in mints:
        mint(w3, admin, assets[symbol], address, atoms)
        console.print(f"minted {from_atoms(atoms, decimals[symbol])} {symbol} to {address}")
    deployment = {
        "rpc": args.rpc,
        "chain_id": int(w3.eth.chain_id),
        "vault": vault.address,
        "assets": assets,
        "deployed_block": vault.start_block,
        "sequencer": Web3.to_checksum_address(sequencer),
    }
    text = json.dumps(deployment, indent=2)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as error:  # deployed all the same: print it before failing
            print(text)
            raise CommandError(f"cannot write --out {args.out}: {error}; the deployment is above") from error
        console.print(f"wrote {args.out}")
    print(text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    w3 = _connect(args)
    vault = _vault(args, w3)
    status = vault.status()
    if args.json:
        print(json.dumps(dataclasses.asdict(status), indent=2))
        return 0
    units = _Units(vault)
    console = Console()
    overview = Table(title=f"vault {status.address}", show_header=False)
    overview.add_column("field", style="bold")
    overview.add_column("value", overflow="fold")
    overview.add_row("chain", f"{status.chain_id} · block {status.block} at {_utc(status.timestamp)}")
    overview.add_row("admin", status.admin)
    overview.add_row("sequencer", status.sequencer)
    overview.add_row("force window", f"{status.force_window} s")
    overview.add_row("frozen", "[red]yes[/]" if status.frozen else "no")
    committed = "nothing yet" if status.last_height is None else str(status.last_height)
    overview.add_row("last committed height", committed)
    overview.add_row("state root", status.state_root)
    overview.add_row("deposits", str(status.deposits))
    overview.add_row("forced requests", str(status.requests))
    if status.frozen:
        overview.add_row("deposits credited (at freeze)", str(status.deposits_credited))
    console.print(overview)
    holdings = Table(title="assets")
    for column in ("asset", "token", "holdings"):
        holdings.add_column(column)
    for line in status.assets:
        holdings.add_row(line.symbol, line.token, units(line.holdings, line.symbol))
    console.print(holdings)
    return 0


def cmd_deposit(args: argparse.Namespace) -> int:
    w3 = _connect(args)
    vault = _vault(args, w3)
    user = _signer(args, w3)
    decimals = _decimals(vault, args.asset)
    amount = _amount(args.amount, decimals, args.asset)
    held = vault.balance_of(args.asset, user.address)
    if held < amount:
        raise CommandError(
            f"{user.address} holds {from_atoms(held, decimals)} {args.asset}, less than {args.amount}"
        )
    event = vault.deposit(user, args.asset, amount, args.sub)
    print(
        f"deposit {event.deposit_id}: {from_atoms(amount, decimals)} {args.asset} to "
        f"{event.owner}/{event.subaccount}, block {event.block_number} {event.block_hash}"
    )
    return 0


def cmd_withdraw(args: argparse.Namespace) -> int:
    from solvent.sdk import Client, NodeError

    w3 = _connect(args)
    vault = _vault(args, w3)
    sender = _signer(args, w3)
    if args.node:
        with Client(args.node) as node:
            try:
                proof = node.withdrawal_proof(args.withdrawal_id)
            except NodeError as error:
                if error.code != HTTP_NOT_FOUND:
                    raise
                raise CommandError(
                    f"the node has no proof of withdrawal {args.withdrawal_id}: it is provable from the "
                    "node's next commit height on (every commit_every blocks, a few seconds): retry then"
                ) from error
        _await_commitment(vault, int(proof["height"]))
    else:
        kit = _kit(vault, args.log)
        found = [p for p in kit.withdrawals() if int(p["withdrawal_id"]) == args.withdrawal_id]
        if not found:
            raise CommandError(
                f"withdrawal {args.withdrawal_id} is not in the log's withdrawals at the vault's last "
                f"height {kit.height} (made later, never made, or refused with amount 0)"
            )
        proof = found[0]
    vault.withdraw(sender, proof)
    units = _Units(vault)
    symbol, owner = str(proof["asset"]), str(proof["owner"])
    print(
        f"withdrawal {args.withdrawal_id}: paid {units(int(proof['amount']), symbol)} to {owner}; "
        f"{owner} now holds {units(vault.balance_of(symbol, owner), symbol)}"
    )
    return 0


def cmd_force(args: argparse.Namespace) -> int:
    w3 = _connect(args)
    vault = _vault(args, w3)
    user = _signer(args, w3)
    decimals = _decimals(vault, args.asset)
    amount = _amount(args.amount, decimals, args.asset)
    request = vault.request_forced(user, args.asset, amount, args.sub)
    print(
        f"forced withdrawal request {request.request_id}: {from_atoms(amount, decimals)} {args.asset} "
        f"from {request.owner}/{request.subaccount}; deadline {_utc(request.deadline)} (chain time). "
        f"Not served by then: `solvent chain freeze {request.request_id} --log DIR`"
    )
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    from solvent.chain.client import ChainError
    from solvent.sdk import Client

    w3 = _connect(args)
    vault = _vault(args, w3)
    sender = _signer(args, w3)
    last = vault.last_height()
    cursors: dict[str, Any] | None = None
    if last is not None:
        if args.node:
            with Client(args.node) as node:
                cursors = node.cursors_proof()
            last = _await_commitment(vault, int(cursors["height"]))
            if int(cursors["height"]) != last:
                raise CommandError(
                    f"the node's proof is at height {cursors['height']}, the vault's last is {last}: "
                    "use --log with a copy of the log holding the vault's last height"
                )
        else:
            cursors = _kit(vault, args.log).cursors()
    try:
        vault.freeze(sender, args.request_id, cursors)
    except ChainError as error:
        if error.reason != "DeadlineNotPassed":
            raise
        deadline = _deadline(vault, args.request_id)
        now = int(w3.eth.get_block("latest")["timestamp"])
        raise CommandError(
            f"{error}: request {args.request_id}'s deadline is {_utc(deadline)}, the chain's time "
            f"{_utc(now)}; retry in {deadline - now + 1} s"
        ) from error
    credited = vault.status().deposits_credited
    at = "no committed root" if last is None else f"the root of height {last}"
    print(
        f"vault frozen on request {args.request_id} at {at}; deposits credited: {credited}. Next: "
        "`solvent chain exit --log DIR` (claims), `solvent chain withdraw --log DIR ID` (withdrawals "
        f"not yet paid), `solvent chain refund ID` (deposits {credited} and later)"
    )
    return 0


def _deadline(vault: "VaultClient", request_id: int) -> int:
    head = int(vault.w3.eth.block_number)
    for request in vault.forced_requests(_scan_start(vault), head):
        if request.request_id == request_id:
            return request.deadline
    raise CommandError(f"no forced-withdrawal request {request_id} on the vault")


def cmd_exit(args: argparse.Namespace) -> int:
    from solvent.chain.client import ChainError

    w3 = _connect(args)
    vault = _vault(args, w3)
    sender = _signer(args, w3)
    if not vault.frozen():
        raise CommandError(
            "the vault is not frozen: exits come after `solvent chain freeze` (a forced request left "
            "unserved past its deadline); while it is live, withdraw through the node"
        )
    kit = _kit(vault, args.log)
    owner = None if args.all else _address(args.owner, "--owner") if args.owner else sender.address.lower()
    claims = kit.claims(owner)
    whose = "any account" if owner is None else owner
    if not claims:
        print(f"no EXIT claim of {whose} at the vault's last root (height {kit.height})")
        return 0
    units = _Units(vault)
    paid_any = 0
    for claim in claims:
        account_name = f"{claim['owner']}/{claim['subaccount']}"
        claimed = units(int(claim["amount"]), str(claim["asset"]))
        try:
            paid = vault.exit(sender, claim)
        except ChainError as error:
            if error.reason != "AlreadyExited":
                raise
            print(f"{account_name} {claim['asset']}: claimed {claimed}, already paid: skipped")
            continue
        paid_any += 1
        print(f"{account_name} {claim['asset']}: claimed {claimed}, paid {units(paid, str(claim['asset']))}")
    print(f"{paid_any} of {len(claims)} claims of {whose} paid at height {kit.height}")
    return 0


def cmd_refund(args: argparse.Namespace) -> int:
    w3 = _connect(args)
    vault = _vault(args, w3)
    sender = _signer(args, w3)
    head = int(w3.eth.block_number)
    found = [d for d in vault.deposits(_scan_start(vault), head) if d.deposit_id == args.deposit_id]
    if not found:
        raise CommandError(f"no deposit {args.deposit_id} on the vault (`solvent chain status` counts them)")
    deposit = found[0]
    paid = vault.refund(sender, deposit)
    symbol = vault.symbol_of(deposit.asset) or "0x" + deposit.asset.hex()
    units = _Units(vault)
    print(
        f"deposit {deposit.deposit_id} refunded: paid {units(paid, symbol)} to {deposit.owner} "
        f"(deposited {units(deposit.amount, symbol)})"
    )
    return 0


def cmd_advance(args: argparse.Namespace) -> int:
    from solvent.chain.devnet import DevnetError, advance_time

    if args.seconds < 1:
        raise CommandError("seconds must be at least 1")
    w3 = _connect(args)
    try:
        now = advance_time(w3, args.seconds)
    except DevnetError as error:
        why = f"{error}: only development chains (solvent chain devnet, anvil) move their clock"
        raise CommandError(why) from error
    print(f"chain time is now {now} ({_utc(now)})")
    return 0
