"""
The demo on a node: a real crash replayed through the API by bots, then the whole log verified.

Introduction
------------
``run_demo`` starts a ``NodeServer`` (sequencer, SQLite log, API) on a fresh
directory, a temporary one unless given, with the default deployment
(``fixture_f``: BTC-PERP and ETH-PERP in domain MAJ, quote USDC) and a
**replay clock**: the node's block time is the episode's time, which the demo
moves round by round, so the oracle's staleness, funding and volatility run
on the hours of the crash while the replay takes seconds. Genesis is stamped
one minute before the first close.

Everything after genesis is a signed transaction sent over HTTP by a bot
with its own key (``solvent.bots``), as any client would send it:

* the operator (``dev_key("operator")``) credits every bot's deposit, as the
  chain watcher would;
* ``Reporters``: the deployment's five dev reporters per asset report each
  round's price, stamped with the block time from ``/meta``; closes that
  move more than the band are reached in steps (``bots.episodes.rounds``);
* ``MarketMaker``: five levels a side on each market around the index;
* ``Trader``s (``TRADERS``): leveraged longs and a few shorts, the most
  leveraged opening again after each close-out;
* ``Flow``: one small random market order per market and round;
* ``KeeperBot``: reads the blocks and the accounts, liquidates whatever the
  core reports below maintenance.

Each round: the maker pulls its quotes, the clock moves to the round's time
and the demo waits until ``/meta`` shows it (the next block), then the
reporters report, the maker quotes again, the traders and the flow trade and
the keeper liquidates. The bots act one after another and each waits for its
receipts, so a run's trades and liquidations repeat exactly (only where the
sequencer cuts blocks, hence their number, varies). Between hourly bars no
report arrives for an hour, so each round starts with the feeds stale and the
markets frozen until its reports: the oracle's rule, counted in the summary.
A progress bar shows the episode's time, prices and counts.

Afterwards the node stops and ``node.verify.verify`` replays the log from
genesis, recovering every signature again and comparing every block's state
root. The summary (``DemoSummary``, also printed): blocks, transactions,
trades, liquidations, the insurance funds before and after, what they paid,
bad debt (socialised loss and deficits nobody could bear), ADL, breakers,
refusals, whether money is conserved in the node's final state, and how many
roots verified.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from solvent.bots import episodes
from solvent.bots.episodes import EPISODES, Round, load_bars, rounds
from solvent.bots.keeper import KeeperBot
from solvent.bots.maker import MarketMaker
from solvent.bots.reporters import Reporters
from solvent.bots.tally import Tally, send
from solvent.bots.traders import Flow, Trader, TraderSpec
from solvent.core.fixed import ONE
from solvent.core.tx import Deposit
from solvent.core.units import QUOTE_DECIMALS, from_atoms
from solvent.defaults import usd
from solvent.node.genesis import GenesisConfig, dev_key
from solvent.node.log import DB_NAME
from solvent.node.node import NodeConfig
from solvent.node.server import NodeServer
from solvent.node.verify import verify
from solvent.scenario import check_conservation
from solvent.sdk import Client

BLOCK_INTERVAL_S = 0.02  # cut a block 20 ms after a submission: the bots wait for each one

# Sized against fixture_f's open-interest caps (100 BTC, 2,500 ETH per side) and a maker that
# quotes 300,000 USDC a side per market. Leverage in tenths.
TRADERS: tuple[TraderSpec, ...] = (
    TraderSpec("demo-long-btc-9x", "BTC-PERP", True, 90, usd("5000"), reentries=4, cooldown=2),
    TraderSpec("demo-long-btc-6x", "BTC-PERP", True, 60, usd("12000")),
    TraderSpec("demo-long-btc-4x", "BTC-PERP", True, 40, usd("20000")),
    TraderSpec("demo-long-btc-2.5x", "BTC-PERP", True, 25, usd("40000")),
    TraderSpec("demo-short-btc-5x", "BTC-PERP", False, 50, usd("15000"), reentries=2, cooldown=3),
    TraderSpec("demo-long-eth-9x", "ETH-PERP", True, 90, usd("5000"), reentries=4, cooldown=2),
    TraderSpec("demo-long-eth-5x", "ETH-PERP", True, 50, usd("15000")),
    TraderSpec("demo-long-eth-3x", "ETH-PERP", True, 30, usd("30000")),
    TraderSpec("demo-short-eth-8x", "ETH-PERP", False, 80, usd("10000"), reentries=2, cooldown=3),
)
MAKER_DEPOSIT = usd("2000000")
FLOW_DEPOSIT = usd("200000")
KEEPER_DEPOSIT = usd("10000")


class ReplayClock:
    """The node's clock during a replay: it stands still until the demo moves it."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@dataclass(frozen=True, slots=True)
class AccountLine:
    name: str
    deposited: int
    equity: int  # the cross bucket's maintenance value at the end
    liquidations: int


@dataclass(frozen=True, slots=True)
class DemoSummary:
    episode: str
    first_time: int  # block time of the first round
    last_time: int
    bars: int
    rounds: int
    seconds: float  # wall clock, start of the node to the end of verification
    height: int  # the last block
    blocks: int  # blocks in the log, genesis included
    transactions: int  # transactions in the log
    trades: int  # fills
    traded_notional: int
    liquidations: int  # Liquidated events
    liquidated_notional: int
    liquidated_accounts: int
    keeper_rewards: int
    insurance_before: dict[str, int]
    insurance_after: dict[str, int]
    insurance_fees: int  # the funds' part of liquidation penalties
    insurance_paid: int  # deficits the funds covered
    socialised_loss: int
    uncovered_deficit: int
    adl_events: int
    breakers: dict[str, int]  # "MARKET breaker" -> trips
    refused: dict[str, int]  # error name -> transactions refused
    prices: dict[str, tuple[int, int, int]]  # asset -> first, lowest, last reported
    roots_verified: int
    verified: bool
    verify_reason: str
    conserved: bool  # deposits - withdrawals == everything held, per asset, in the final state
    accounts: list[AccountLine] = field(default_factory=list)

    @property
    def bad_debt(self) -> int:
        """Losses the insurance funds did not absorb: socialised, or left owed."""
        return self.socialised_loss + self.uncovered_deficit

    @property
    def ok(self) -> bool:
        return self.verified and self.conserved


def wait_for_time(client: Client, target: int, timeout: float = 10.0) -> None:
    """Wait until the node's block time (``/meta``) reaches ``target``."""
    deadline = time.monotonic() + timeout
    while int(client.get("/meta")["time"]) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the node's block time did not reach {target} within {timeout} s")
        time.sleep(0.002)


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def _usdc(atoms: int) -> str:
    return f"{int(from_atoms(atoms, QUOTE_DECIMALS).split('.')[0]):,}"


def _price(atoms: int) -> str:
    whole, _, frac = from_atoms(atoms, QUOTE_DECIMALS).partition(".")
    return f"{int(whole):,}" + (f".{frac[:2]}" if frac else "")


def run_demo(
    directory: Path | None = None,
    episode: str = "black-thursday",
    steps: int | None = None,
    console: Console | None = None,
    *,
    start: str | None = None,
) -> DemoSummary:
    """Replay ``steps`` bars of an episode (its defaults when None) against a fresh node.

    ``directory`` keeps the node's data there (it must hold no log); None uses a temporary
    directory, removed afterwards. ``start``: the first bar's open time, ISO UTC.
    """
    console = console or Console()
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="solvent-demo-") as tmp:
            return _run(Path(tmp) / "node", episode, steps, start, console)
    if (directory / DB_NAME).exists():
        raise ValueError(f"{directory} already holds a node's log; the demo needs an empty directory")
    return _run(directory, episode, steps, start, console)


def _run(
    directory: Path,
    episode_name: str,
    steps: int | None,
    start: str | None,
    console: Console,
) -> DemoSummary:
    started = time.perf_counter()
    ep = episodes.episode(episode_name)
    bars = load_bars(ep, start, steps)
    clock = ReplayClock(bars[0].time - 60)
    genesis = GenesisConfig(time=clock.now)
    server = NodeServer(directory, genesis, NodeConfig(block_interval_s=BLOCK_INTERVAL_S, clock=clock))
    server.start()
    tally = Tally()
    closers: list[Callable[[], None]] = []
    try:
        reader = Client(server.url)
        closers.append(reader.close)
        asset_of = {m["id"]: m["asset"] for m in reader.markets()}
        specs = [s for s in TRADERS if asset_of.get(s.market) in ep.files]
        reporters = Reporters(server.url, sorted(ep.files), tally)
        closers.append(reporters.close)
        plan = rounds(bars, reporters.max_step)
        maker = MarketMaker(server.url, dev_key("demo-maker"), tally)
        flow = Flow(server.url, dev_key("demo-flow"), tally)
        keeper = KeeperBot(server.url, dev_key("demo-keeper"), tally)
        bots = [Trader(server.url, dev_key(s.name), s, tally) for s in specs]
        closers += [maker.close, flow.close, keeper.close, *(bot.close for bot in bots)]
        deposits = [
            (maker.address, MAKER_DEPOSIT),
            (flow.address, FLOW_DEPOSIT),
            (keeper.address, KEEPER_DEPOSIT),
            *((t.address, t.spec.deposit) for t in bots),
        ]
        operator = Client(server.url, dev_key("operator"))
        closers.append(operator.close)
        send(operator, [Deposit(owner, 0, "USDC", amount) for owner, amount in deposits], tally)
        insurance_before: dict[str, int] = reader.get("/insurance")
        console.rule(f"[bold]solvent demo --node[/] · {ep.title}")
        console.print(
            f"node {server.url} · data {directory} · {len(bars)} bars, {len(plan)} report rounds "
            f"(moves over {reporters.max_step * 100 // ONE}% split) · "
            f"{len(bots)} traders, a market maker, a flow trader, a keeper"
        )
        prices = _replay(plan, server, reader, reporters, maker, bots, flow, keeper, tally, console)
        insurance_after: dict[str, int] = reader.get("/insurance")
        lines = [_line("maker", maker.address, MAKER_DEPOSIT, reader, tally)]
        lines.append(_line("flow", flow.address, FLOW_DEPOSIT, reader, tally))
        lines += [
            _line(t.spec.name.removeprefix("demo-"), t.address, t.spec.deposit, reader, tally) for t in bots
        ]
        lines.append(_line("keeper", keeper.address, KEEPER_DEPOSIT, reader, tally))
    finally:
        for close in closers:
            close()
        server.stop()
    height = server.node.height
    # The node's final state, read by the harness that ran it (no endpoint gives the totals).
    conserved = all(gap == 0 for gap in check_conservation(server.node.state).values())
    with console.status("verifying every block from genesis"):
        report = verify(directory)
    summary = DemoSummary(
        episode=ep.name,
        first_time=plan[0].time,
        last_time=plan[-1].time,
        bars=len(bars),
        rounds=len(plan),
        seconds=time.perf_counter() - started,
        height=height,
        blocks=height + 1,
        transactions=report.txs,
        trades=tally.fills,
        traded_notional=tally.fill_notional,
        liquidations=tally.liquidations,
        liquidated_notional=tally.liquidated_notional,
        liquidated_accounts=len(tally.liquidated),
        keeper_rewards=tally.keeper_rewards,
        insurance_before=insurance_before,
        insurance_after=insurance_after,
        insurance_fees=tally.insurance_fees,
        insurance_paid=tally.insurance_paid,
        socialised_loss=tally.socialised_loss,
        uncovered_deficit=tally.uncovered_deficit,
        adl_events=tally.adl_events,
        breakers=dict(sorted(tally.breakers.items())),
        refused=dict(sorted(tally.refused.items())),
        prices=prices,
        roots_verified=report.blocks,  # blocks whose root matched, up to the first that did not
        verified=report.ok,
        verify_reason=report.reason,
        conserved=conserved,
        accounts=lines,
    )
    print_summary(console, summary)
    return summary


def _replay(
    plan: list[Round],
    server: NodeServer,
    reader: Client,
    reporters: Reporters,
    maker: MarketMaker,
    bots: list[Trader],
    flow: Flow,
    keeper: KeeperBot,
    tally: Tally,
    console: Console,
) -> dict[str, tuple[int, int, int]]:
    """Play every round; return each asset's first, lowest and last reported price.

    Stale-feed breakers trip on the block clock (``SetTime``), in no transaction's receipt:
    the rounds read ``/breakers`` once the clock has moved and count the markets newly frozen
    since the last round's reports (an hour without a report, between hourly bars).
    """
    clock = server.node.config.clock
    assert isinstance(clock, ReplayClock)
    seen: dict[str, list[int]] = {}
    still_frozen = {m for m, b in reader.get("/breakers").items() if "stale" in b}  # from genesis on
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=len(plan))
        for number, step in enumerate(plan):
            maker.pull()
            clock.now = step.time
            wait_for_time(reader, step.time)
            frozen = {m for m, b in reader.get("/breakers").items() if "stale" in b}
            for market_id in sorted(frozen - still_frozen):
                tally.breakers[f"{market_id} stale"] += 1
            reporters.report(step.prices)
            markets = {m["id"]: m for m in reader.markets()}
            still_frozen = {m for m, view in markets.items() if "stale" in view["breakers"]}
            maker.step(list(markets.values()))
            for bot in bots:
                bot.step(number, markets)
            flow.step(markets)
            keeper.step()
            for asset, price in step.prices.items():
                seen.setdefault(asset, []).append(price)
            shown = " ".join(f"{a} {_price(p)}" for a, p in sorted(step.prices.items()))
            progress.update(
                task,
                advance=1,
                description=(
                    f"{_utc(step.time)} {shown} · trades {tally.fills} · liquidations {tally.liquidations}"
                ),
            )
    return {a: (p[0], min(p), p[-1]) for a, p in sorted(seen.items())}


def _line(name: str, address: str, deposited: int, reader: Client, tally: Tally) -> AccountLine:
    view = reader.account(address, 0)
    return AccountLine(name, deposited, view["risk"]["value_maint"], tally.liquidated.get(f"{address}/0", 0))


def print_summary(console: Console, s: DemoSummary) -> None:
    title = f"{s.episode}: closes from {_utc(s.first_time)} to {_utc(s.last_time)} UTC"
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("bars replayed / report rounds", f"{s.bars} / {s.rounds}")
    for asset, (first, low, last) in s.prices.items():
        table.add_row(f"{asset} first / low / last", f"{_price(first)} / {_price(low)} / {_price(last)}")
    table.add_row("blocks (genesis included)", f"{s.blocks:,}")
    table.add_row("transactions", f"{s.transactions:,}")
    table.add_row("trades (fills)", f"{s.trades:,} · {_usdc(s.traded_notional)} USDC")
    table.add_row(
        "liquidations",
        f"{s.liquidations} of {s.liquidated_accounts} accounts · {_usdc(s.liquidated_notional)} USDC",
    )
    table.add_row("keeper rewards", f"{_usdc(s.keeper_rewards)} USDC")
    for domain in sorted(s.insurance_after):
        before, after = s.insurance_before.get(domain, 0), s.insurance_after[domain]
        table.add_row(f"insurance fund {domain} before → after", f"{_usdc(before)} → {_usdc(after)} USDC")
    table.add_row(
        "insurance: penalties in / deficits paid",
        f"{_usdc(s.insurance_fees)} / {_usdc(s.insurance_paid)} USDC",
    )
    table.add_row(
        "bad debt: socialised / uncovered", f"{_usdc(s.socialised_loss)} / {_usdc(s.uncovered_deficit)} USDC"
    )
    table.add_row("ADL events", str(s.adl_events))
    stale = {k: v for k, v in s.breakers.items() if k.endswith(" stale")}
    others = {k: v for k, v in s.breakers.items() if k not in stale}
    table.add_row("breakers tripped", ", ".join(f"{k} ×{v}" for k, v in others.items()) or "none")
    # Between hourly bars no report arrives for an hour: each round starts with the feeds stale
    # and the markets frozen until its reports (the oracle's rule, shown apart from the rest).
    table.add_row("frozen by a stale feed", ", ".join(f"{k[:-6]} ×{v}" for k, v in stale.items()) or "never")
    table.add_row("refused transactions", ", ".join(f"{k} ×{v}" for k, v in s.refused.items()) or "none")
    table.add_row("money conserved", "[green]yes[/]" if s.conserved else "[red]NO[/]")
    colour = "green" if s.verified else "red"
    table.add_row("roots verified", f"[{colour}]{s.roots_verified} of {s.blocks}[/]")
    table.add_row("wall clock", f"{s.seconds:.1f} s")
    console.print(table)
    accounts = Table("account", "deposited", "equity at the end", "liquidations", title="accounts (USDC)")
    for line in s.accounts:
        accounts.add_row(line.name, _usdc(line.deposited), _usdc(line.equity), str(line.liquidations or ""))
    console.print(accounts)
    if not s.verified:
        console.print(f"[red]verification failed:[/] {s.verify_reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="solvent demo --node", description=__doc__.strip().split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--episode", default="black-thursday", choices=sorted(EPISODES))
    parser.add_argument("--steps", type=int, help="bars to replay (default: the episode's window)")
    parser.add_argument("--start", help="first bar, ISO UTC (e.g. 2020-03-12T06:00)")
    parser.add_argument("--data", help="keep the node's data in this (empty) directory")
    args = parser.parse_args(argv)
    return run_cli(args.episode, args.steps, args.start, args.data)


def run_cli(episode_name: str, steps: int | None, start: str | None, data: str | None) -> int:
    """What ``solvent demo --node`` runs: 0 when every root verified and money is conserved."""
    summary = run_demo(Path(data) if data else None, episode_name, steps, Console(), start=start)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
