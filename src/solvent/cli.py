"""
The ``solvent`` command line.

    solvent replay FILE [--json]   replay a scenario, print events and a summary
    solvent demo [DIR]             replay every scenario in examples/
    solvent demo --node [--episode E] [--steps N] [--start ISO] [DIR]
                                   bots replay a real crash through a node's API (``demo_node``),
                                   then every root is verified (``make demo``)
    solvent demo --chain [--escape] [DIR]
                                   on a devnet: deposit in the vault, trade, withdraw by proof;
                                   or the operator stops and users freeze and exit (``demo_chain``)
    solvent node | verify | account | order | oracle   the node (see ``cli_node``)
    solvent stress | sweep          the stress lab: one run, or a sweep file (see ``cli_stress``)

``replay`` exits 1 naming the line when an expectation fails or a
transaction fails that the file did not expect to fail.
"""

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from solvent import cli_chain, cli_node, cli_stress, demo_node
from solvent.scenario import (
    Replay,
    Step,
    humanise_event,
    replay_to_json,
    risk_report,
    run_scenario,
    summarise,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _print_step(console: Console, replay_state: Replay, step: Step) -> None:
    if step.kind == "comment":
        console.print(f"[bold cyan]# {step.text}[/]")
        return
    if step.kind == "expect":
        console.print(f"  [green]✓ expect[/] {step.text}")
        return
    if step.error is not None:
        console.print(
            f"  [yellow]{step.text}[/] refused [bold]{step.error.name}[/] ({step.error.code}): "
            f"{step.error.message}"
        )
        return
    console.print(f"  [white]{step.text}[/]")
    for ev in step.events:
        fields = humanise_event(replay_state.state, ev)
        kind = fields.pop("event")
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        console.print(f"      [magenta]{kind}[/] {text}", highlight=False)


def _print_summary(console: Console, replay: Replay) -> None:
    summary = summarise(replay.state)
    table = Table(title="accounts", show_lines=False)
    for column in ("account", "balances", "positions", "value", "health", "free"):
        table.add_column(column)
    for name, acc in summary["accounts"].items():
        positions = ", ".join(
            f"{m} {p['size']} @ {p['entry_price']}" for m, p in acc["positions"].items() if p["entry_price"]
        )
        balances = ", ".join(f"{a} {v}" for a, v in acc["balances"].items())
        short = name[:8] + "…" + name[-2:] if name.startswith("0x") else name
        table.add_row(short, balances, positions, acc["value"], acc["health"], acc["free_collateral"])
    console.print(table)
    markets = Table(title="markets")
    for column in ("market", "index", "mark", "open interest", "funding /h", "orders"):
        markets.add_column(column)
    for market_id, m in summary["markets"].items():
        markets.add_row(
            market_id,
            m["index"],
            m["mark"],
            m["open_interest"],
            m["funding_rate_per_hour"],
            str(m["open_orders"]),
        )
    console.print(markets)
    risk = risk_report(replay.state, replay.steps)
    funds = ", ".join(f"{d} {v}" for d, v in risk["insurance_funds"].items())
    console.print(
        f"liquidations {risk['liquidations']} (+{risk['collateral_liquidations']} of collateral) · "
        f"keeper rewards {risk['keeper_rewards']} · insurance paid out {risk['insurance_paid']} · "
        f"ADL {risk['deleveraged_positions']} positions · socialised loss {risk['socialised_loss']} · "
        f"funds: {funds}"
    )
    if risk["breakers"]:
        tripped = "; ".join(f"{m}: {', '.join(b)}" for m, b in risk["breakers"].items())
        console.print(f"breakers tripped: {tripped}")
    conserved = "[green]money conserved to the unit[/]" if summary["conserved"] else "[red]NOT CONSERVED[/]"
    console.print(f"fees {summary['fee_balance']} USDC · {conserved} · state {summary['state_hash'][:16]}…")


def cmd_replay(path: str, as_json: bool) -> int:
    if not Path(path).is_file():
        print(f"solvent replay: no such file {path}", file=sys.stderr)
        return 2
    console = Console()
    if as_json:
        replay = run_scenario(path)
        print(json.dumps(replay_to_json(replay), indent=2))
    else:
        console.rule(f"[bold]{path}")
        replay = run_scenario(path)
        for step in replay.steps:
            _print_step(console, replay, step)
        _print_summary(console, replay)
    if replay.failure is not None:
        print(f"solvent replay: {path}: {replay.failure}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(directory: str | None) -> int:
    folder = Path(directory) if directory else Path("examples")
    if not folder.is_dir():
        folder = EXAMPLES
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        print(f"solvent demo: no scenarios in {folder}", file=sys.stderr)
        return 2
    failures = 0
    for path in files:
        failures += cmd_replay(str(path), as_json=False) != 0
    console = Console()
    colour = "green" if failures == 0 else "red"
    console.print(
        f"[bold {colour}]{len(files) - failures} of {len(files)} scenarios replayed with every "
        "expectation holding[/]"
    )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="solvent", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay", help="replay a scenario file")
    replay.add_argument("file")
    replay.add_argument("--json", action="store_true", help="print one JSON document")
    demo = sub.add_parser("demo", help="replay every scenario in examples/, or (--node) a crash on a node")
    demo.add_argument("directory", nargs="?", help="scenarios; with --node: keep the node's data here")
    demo.add_argument("--node", action="store_true", help="start a node; bots replay a crash via its API")
    demo.add_argument("--episode", default="black-thursday", help="with --node: black-thursday or 2025-10-10")
    demo.add_argument("--steps", type=int, help="with --node: bars to replay (default: the episode's window)")
    demo.add_argument("--start", help="with --node: the first bar's open time, ISO UTC (2020-03-12T06:00)")
    demo.add_argument(
        "--chain", action="store_true", help="deposit in the vault on a devnet, trade, withdraw by proof"
    )
    demo.add_argument(
        "--escape", action="store_true", help="with --chain: the operator stops; users freeze and exit"
    )
    cli_node.register(sub)
    cli_stress.register(sub)
    cli_chain.register(sub)
    args = parser.parse_args(argv)
    handled = cli_node.dispatch(args)
    if handled is None:
        handled = cli_stress.dispatch(args)
    if handled is None:
        handled = cli_chain.dispatch(args)
    if handled is not None:
        return handled
    if args.command == "replay":
        return cmd_replay(args.file, args.json)
    if args.chain or args.escape:
        from solvent import demo_chain  # noqa: PLC0415 (web3 and the devnet: seconds to load)

        return demo_chain.run_cli(args.escape, args.directory)
    if args.node:
        return demo_node.run_cli(args.episode, args.steps, args.start, args.directory)
    return cmd_demo(args.directory)


if __name__ == "__main__":
    sys.exit(main())
