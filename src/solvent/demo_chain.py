"""
The demo of settlement on chain: deposit in the vault, trade on the node, withdraw by proof —
or, with ``escape``, leave after the operator stops.

Introduction
------------
``run_chain_demo`` starts a development chain (``chain.devnet``: an EVM
behind a JSON-RPC server, as any RPC URL), deploys ``contracts/Vault.vy``
and a test USDC, and a node whose genesis is bound to that chain and vault
(its EIP-712 domain: the chain id and the vault's address). A ``ChainLink``
thread runs next to the sequencer: the watcher credits the vault's deposits
and serves forced withdrawals, the committer posts the roots of every commit
height (``COMMIT_EVERY`` blocks). Every step goes through the same code as
against a real chain: web3, locally signed transactions, the node's API.

The story:

1. **Deposits on chain.** The treasury, a market maker and two traders
   (alice, bob) hold test USDC and deposit it in the vault; the watcher
   credits each deposit once, with the chain block's hash as provenance. The
   node is chain-settled: its genesis credited nothing (the insurance funds
   start empty) and it refuses a plain ``Deposit``, so the treasury funds
   the insurance from its own deposit (``FundInsurance``).
2. **Trading.** The dev reporters report BTC; the maker quotes; alice buys
   and bob sells BTC-PERP; BTC rises 4%; alice sells to close at a profit.
3. **Withdrawal by proof** (default). Alice withdraws her balance on the
   node; the committer posts a root containing the withdrawal; the node's
   proof endpoint serves its Merkle proof; alice's own transaction to the
   vault pays her, once (a second claim is refused ``AlreadyWithdrawn``).
   Finally the log is replayed from genesis (``verify``).
3'. **Escape** (``escape=True``). After a last commitment the operator
   stops: no node, no API, no roots. Carol deposits anyway (never
   credited); alice asks for a forced withdrawal on chain; the deadline
   passes unserved (``freeze`` before it is refused ``DeadlineNotPassed``);
   bob freezes the vault with the CURSORS proof of the last committed root,
   rebuilt from a copy of the log (``chain.escape``); every account exits
   with its EXIT proof from that copy; carol's deposit is refunded; a second
   exit is refused. P8 is checked: Σ paid ≤ Σ deposited, each claim once.
   What stays in the vault is the insurance funds and the venue's fees,
   which have no exit claim.

The chain's clock moves only by ``advance_time`` (the force window), so the
demo takes seconds; the node's clock is the wall clock.
"""

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from solvent.bots.reporters import Reporters
from solvent.bots.tally import Tally
from solvent.chain.client import ChainError, VaultClient, account, connect, deploy_test_token, mint
from solvent.chain.devnet import DevnetServer, advance_time, fund
from solvent.chain.escape import kit_at
from solvent.chain.link import ChainCommitter, ChainLink, ChainWatcher
from solvent.core.state import TimeInForce
from solvent.core.tx import CancelAll, FundInsurance, PlaceOrder, Withdraw
from solvent.core.units import SIZE_ONE, from_atoms
from solvent.defaults import usd
from solvent.node.genesis import GenesisConfig, dev_key
from solvent.node.node import NodeConfig
from solvent.node.server import NodeServer
from solvent.node.verify import verify
from solvent.sdk import Client

COMMIT_EVERY = 5  # blocks between commit heights (the K of the committer)
FORCE_WINDOW = 3_600  # seconds the operator has to serve a forced withdrawal
ETHER = 10**18
BTC_START = usd("60000")
BTC_UP = usd("62400")  # +4%: inside the oracle's 10% band, reached in one report
# The treasury is the deployment's role: a chain-settled genesis starts with empty insurance
# funds (it credits nothing the vault does not hold), so it funds them from the vault.
DEPOSITS = {"treasury": usd("1020000"), "maker": usd("2000000"), "alice": usd("20000"), "bob": usd("20000")}
INSURANCE = {"MAJ": usd("1000000"), "ALT": usd("20000")}
CAROL_DEPOSIT = usd("5000")


@dataclass
class ChainDemoSummary:
    escape: bool
    deposited: int = 0  # Σ on chain, USDC atoms
    credited: int = 0  # Σ the watcher credited
    paid: int = 0  # Σ the vault paid (withdrawals, exits, refunds)
    holdings: int = 0  # what the vault still holds
    commitments: int = 0
    fills: int = 0
    refusals_shown: list[str] = field(default_factory=list)
    verified: bool = False
    ok: bool = False


def _usd(atoms: int) -> str:
    """Quote atoms as exact dollars with thousands separators (at least cents: 1,234.50)."""
    sign, atoms = ("-" if atoms < 0 else ""), abs(atoms)
    fraction = f"{atoms % 10**6:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{atoms // 10**6:,}.{fraction}"


class _Demo:
    def __init__(self, console: Console, directory: Path, escape: bool, rpc: str) -> None:
        self.console = console
        self.rpc = rpc
        self.directory = directory
        self.summary = ChainDemoSummary(escape)
        self.admin = account(dev_key("vault-admin"))
        self.operator_key = dev_key("operator")
        self.operator = account(self.operator_key)
        self.keys = {name: dev_key(f"demo-chain-{name}") for name in (*DEPOSITS, "carol")}
        self.keys["treasury"] = dev_key("treasury")
        self.users = {name: account(key) for name, key in self.keys.items()}

    def say(self, text: str) -> None:
        self.console.print(text)

    # --- set-up -------------------------------------------------------------------------

    def deploy(self, rpc: str) -> None:
        self.w3 = connect(rpc)
        for who in (self.admin, self.operator, *self.users.values()):
            fund(self.w3, who.address, 10 * ETHER)
        self.vault = VaultClient.deploy(self.w3, self.admin, self.operator.address, FORCE_WINDOW)
        self.token = deploy_test_token(self.w3, self.admin, "USDC", 6)
        self.vault.list_asset(self.admin, "USDC", self.token, decimals=6)
        for name, user in self.users.items():
            mint(self.w3, self.admin, self.token, user.address, DEPOSITS.get(name, CAROL_DEPOSIT))
        self.say(
            f"[bold]chain[/] {rpc} (chain id {self.w3.eth.chain_id}): vault {self.vault.address}, "
            f"USDC {self.token}, force window {FORCE_WINDOW} s"
        )

    def start_node(self) -> None:
        genesis = GenesisConfig(
            chain_id=int(self.w3.eth.chain_id),
            venue=self.vault.address.lower(),
            commit_every=COMMIT_EVERY,
            chain_settled=True,  # money enters only through the vault: the plain Deposit is refused
        )
        self.server = NodeServer(self.directory, genesis, NodeConfig(block_interval_s=0.02), port=0).start()
        # The link has its own connection: web3 providers are not shared between threads.
        vault = VaultClient(connect(self.rpc), self.vault.address)
        self.link = ChainLink(
            ChainWatcher(self.server.node, vault, self.operator_key),
            ChainCommitter(self.server.node, vault, self.operator),
            interval=0.1,
        )
        self.link.start()
        self.say(
            f"[bold]node[/] {self.server.url}: EIP-712 domain bound to the vault; the chain link "
            f"credits deposits and commits roots every {COMMIT_EVERY} blocks"
        )

    def client(self, name: str) -> Client:
        return Client(self.server.url, self.keys[name])

    # --- waiting on the link ------------------------------------------------------------

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what} (link: {self.link.stats})")
            time.sleep(0.05)

    def commit_now(self) -> int:
        """Cut empty blocks to the next commit height (what an idle node does each second, sped
        up) and wait until the committer has posted it; return the height."""
        node = self.server.node
        node.produce_block(force=True)
        target = node.produce_to_commit_height()
        self.wait(f"the commitment of height {target}", lambda: (self.vault.last_height() or -1) >= target)
        return target

    # --- the story ----------------------------------------------------------------------

    def deposits(self) -> None:
        table = Table("deposit", "owner", "USDC", "chain block", title="1. deposits on chain")
        for name, amount in DEPOSITS.items():
            event = self.vault.deposit(self.users[name], "USDC", amount)
            self.summary.deposited += amount
            table.add_row(str(event.deposit_id), name, _usd(amount), event.block_hash[:18] + "…")
        self.wait("the watcher's credits", lambda: self.server.node.state.deposits_credited == len(DEPOSITS))
        for name in DEPOSITS:
            self.summary.credited += int(self.client(name).account()["balances"].get("USDC", 0))
        treasury = self.client("treasury")
        for domain, amount in INSURANCE.items():
            treasury.submit(FundInsurance(treasury.address, 0, domain, amount))
        self.console.print(table)
        self.say(f"   credited on the node by the watcher: {_usd(self.summary.credited)} USDC, each once")
        funds = ", ".join(f"{d} {_usd(a)}" for d, a in INSURANCE.items())
        self.say(f"   the treasury funds the insurance from its deposit: {funds}")

    def trade(self) -> None:
        tally = Tally()
        reporters = Reporters(self.server.url, ["BTC"], tally)
        maker, alice, bob = self.client("maker"), self.client("alice"), self.client("bob")
        try:
            reporters.report({"BTC": BTC_START})
            self._quote(maker, BTC_START)
            size = SIZE_ONE // 5  # 0.2 BTC
            alice.submit(PlaceOrder(alice.address, 0, "BTC-PERP", True, size, None, TimeInForce.IOC))
            bob.submit(PlaceOrder(bob.address, 0, "BTC-PERP", False, size // 2, None, TimeInForce.IOC))
            maker.submit(CancelAll(maker.address, 0, None))
            reporters.report({"BTC": BTC_UP})
            self._quote(maker, BTC_UP)
            alice.submit(
                PlaceOrder(alice.address, 0, "BTC-PERP", False, size, None, TimeInForce.IOC, reduce_only=True)
            )
            self.summary.fills = 3
        finally:
            reporters.close()
        table = Table("account", "equity at the mark (USDC)", "BTC-PERP", title="2. trading on the node")
        for name, client in (("alice", alice), ("bob", bob), ("maker", maker)):
            view = client.account()
            position = next((p for p in view["positions"] if p["market"] == "BTC-PERP"), None)
            held = "-" if position is None else str(from_atoms(position["size"], 8))
            table.add_row(name, _usd(int(view["risk"]["value_maint"])), held)
        self.console.print(table)
        self.say("   BTC 60,000 -> 62,400: alice bought 0.2 and sold it back; bob is short 0.1")

    def _quote(self, maker: Client, price: int) -> None:
        lot = SIZE_ONE // 2
        maker.submit_many(
            [
                CancelAll(maker.address, 0, None),
                PlaceOrder(maker.address, 0, "BTC-PERP", True, lot, price * 999 // 1000),
                PlaceOrder(maker.address, 0, "BTC-PERP", False, lot, price * 1001 // 1000),
            ]
        )

    def withdraw_by_proof(self) -> None:
        alice = self.client("alice")
        free = int(alice.account()["balances"]["USDC"])
        receipt = alice.submit(Withdraw(alice.address, 0, "USDC", free))
        withdrawal_id = next(e["withdrawal_id"] for e in receipt["events"] if e["kind"] == "Withdrawn")
        height = self.commit_now()
        proof = alice.withdrawal_proof(withdrawal_id)
        user = self.users["alice"]
        before = self.vault.balance_of("USDC", user.address)
        self.vault.withdraw(user, proof)
        after = self.vault.balance_of("USDC", user.address)
        self.summary.paid += after - before
        try:
            self.vault.withdraw(user, proof)
        except ChainError as refused:
            self.summary.refusals_shown.append(refused.reason)
        table = Table("step", "value", title="3. withdrawal paid by proof")
        table.add_row("withdrawal id on the node", str(withdrawal_id))
        table.add_row("root committed on chain at height", str(height))
        table.add_row("Merkle proof", f"{len(proof['siblings'])} siblings, leaf index {proof['index']}")
        table.add_row("alice's USDC on chain", f"{_usd(before)} -> {_usd(after)}")
        table.add_row("the same proof again", ", ".join(self.summary.refusals_shown) or "paid twice (!)")
        self.console.print(table)

    def escape(self) -> None:
        final = self.commit_now()
        self.stop_node()
        self.say(
            f"[bold red]the operator stops[/] after committing height {final}: no node, no API, no roots"
        )
        carol = self.users["carol"]
        pending = self.vault.deposit(carol, "USDC", CAROL_DEPOSIT)
        self.summary.deposited += CAROL_DEPOSIT
        request = self.vault.request_forced(self.users["alice"], "USDC", usd("1000"))
        bob = self.users["bob"]
        try:
            self.vault.freeze(bob, request.request_id, None)
        except ChainError as refused:
            self.summary.refusals_shown.append(refused.reason)
        advance_time(self.w3, FORCE_WINDOW + 1)
        status = self.vault.status()
        kit = kit_at(self.directory, final, status.state_root)  # a copy of the public log
        self.vault.freeze(bob, request.request_id, kit.cursors())
        table = Table("claim", "asset", "claimed", "paid", title="3'. exit after freeze, proofs from the log")
        names = {u.address.lower(): n for n, u in self.users.items()}
        for claim in kit.claims():
            paid = self.vault.exit(bob, claim)
            self.summary.paid += paid
            who = names.get(claim["owner"], claim["owner"][:10] + "…")
            table.add_row(f"{who}/{claim['subaccount']}", claim["asset"], _usd(claim["amount"]), _usd(paid))
        for withdrawal in kit.withdrawals():
            if not self.vault.contract.functions.is_withdrawn(withdrawal["withdrawal_id"]).call():
                self.vault.withdraw(bob, withdrawal)
                self.summary.paid += int(withdrawal["amount"])
        refunded = self.vault.refund(carol, pending)
        self.summary.paid += refunded
        table.add_row("carol (refund)", "USDC", _usd(CAROL_DEPOSIT), _usd(refunded))
        try:
            self.vault.exit(bob, kit.claims()[0])
        except ChainError as refused:
            self.summary.refusals_shown.append(refused.reason)
        self.console.print(table)
        self.say(f"   refused on the way: {', '.join(self.summary.refusals_shown)}")

    def stop_node(self) -> None:
        self.link.stop()
        self.summary.commitments = self.link.stats.commitments
        self.server.stop()

    def finish(self) -> None:
        if not self.summary.escape:
            self.stop_node()
            report = verify(self.directory, workers=0)
            self.summary.verified = report.ok
            self.say(f"   verify: {report.blocks} blocks replayed from genesis, {report.reason}")
        else:
            self.summary.verified = True  # the escape kit replayed and checked the log itself
        self.summary.holdings = self.vault.status().assets[0].holdings
        s = self.summary
        conserved = s.deposited - s.paid == s.holdings
        expected = {"AlreadyWithdrawn"} if not s.escape else {"DeadlineNotPassed", "AlreadyExited"}
        s.ok = conserved and s.paid <= s.deposited and set(s.refusals_shown) == expected and s.verified
        table = Table("", "USDC", title="the vault's books (P8)")
        table.add_row("deposited on chain", _usd(s.deposited))
        table.add_row("paid by the vault", _usd(s.paid))
        held = " (insurance funds and fees: no exit claim)" if s.escape else ""
        table.add_row("still held" + held, _usd(s.holdings))
        table.add_row("commitments posted", str(s.commitments))
        self.console.print(table)
        verdict = "[green]ok[/]" if s.ok else "[red]FAILED[/]"
        self.say(f"{verdict}: paid <= deposited, deposited - paid = held, each claim paid once")


def run_chain_demo(directory: Path | None, escape: bool, console: Console) -> ChainDemoSummary:
    """Run the demo (a temporary directory for the node's log unless given)."""
    with tempfile.TemporaryDirectory(prefix="solvent-chain-demo-") as tmp:
        data = directory or Path(tmp) / "node"
        title = "escape: the operator stops, users leave" if escape else "deposit, trade, withdraw by proof"
        console.rule(f"[bold]Solvent on chain[/] — {title}")
        with DevnetServer(port=0) as chain:
            demo = _Demo(console, data, escape, chain.url)
            demo.deploy(chain.url)
            demo.start_node()
            try:
                demo.deposits()
                demo.trade()
                if escape:
                    demo.escape()
                else:
                    demo.withdraw_by_proof()
            except BaseException:
                if demo.server.node is not None:
                    demo.link.stop()
                    demo.server.stop()
                raise
            demo.finish()
        return demo.summary


def run_cli(escape: bool, data: str | None) -> int:
    """What ``solvent demo --chain [--escape]`` runs: 0 when the vault's books hold."""
    summary = run_chain_demo(Path(data) if data else None, escape, Console())
    return 0 if summary.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    return run_cli("--escape" in args, None)


if __name__ == "__main__":
    sys.exit(main())
