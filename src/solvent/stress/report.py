"""
A stress-lab run on disk: ``summary.json``, ``series.csv`` and a self-contained ``report.html``.

Introduction
------------
``write_run(result, out)`` writes three files into ``out``:

* ``summary.json``: exactly ``result.canonical_summary()`` (the schema is
  ``stress.result``'s docstring), byte for byte the same for the same config.
* ``series.csv``: one row per sample, ``t`` first, then every other series
  in name order; money and prices in quote atoms, as the run gave them.
* ``report.html``: one file, no external reference (no URL, no script): a
  header table of the headline numbers in human units (quote atoms /
  10**quote_decimals), the plots as base64 PNG, the run's config and the
  sources of its price paths.

The plots are made with matplotlib's Agg backend on figures of a fixed size
and dpi, with the PNG metadata (software version) left out and
``svg.hashsalt`` fixed, so that the same run gives the same bytes on the same
matplotlib.

``headline(summary)`` is the handful of numbers a run is judged by; the
report's header table and every row of a sweep (``stress.sweep``) use it.

Glossary
--------
atoms        integer quote amounts (USDC has 6 decimals: 1 USDC = 10**6 atoms)
per_1m_oi    bad debt per 1,000,000 of mean open-interest notional (both in quote units)
min ratio    the lowest, over steps, of the system's maintenance value over its requirement
"""

import base64
import csv
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # imported after matplotlib.use("Agg"), which must come first
from matplotlib.figure import Figure

from solvent.stress.paths import format_time
from solvent.stress.result import RunResult

FIGSIZE = (8.0, 3.2)  # inches
DPI = 100
RC: dict[Any, Any] = {  # typed loosely: matplotlib types the keys as a Literal of every rcParam
    "svg.hashsalt": "solvent",  # fixed ids, should anything be drawn as SVG
    "path.simplify": True,
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
Draw = Callable[[list[Axes]], None]  # draws one plot on the axes it is given
PNG_METADATA: dict[str, str | None] = {"Software": None}  # no version string in the bytes

HEADLINE_LABELS: dict[str, str] = {
    "bad_debt": "bad debt",
    "bad_debt_per_1m_oi": "bad debt per 1M OI",
    "bad_debt_uncovered": "bad debt uncovered",
    "liquidations": "liquidations",
    "latency_p50_s": "liquidation latency p50 (s)",
    "latency_p99_s": "liquidation latency p99 (s)",
    "adl_positions": "ADL: deleveraged positions",
    "adl_notional": "ADL: notional",
    "socialised_loss": "socialised loss",
    "insurance_min": "insurance fund minimum (all domains)",
    "min_collateralisation": "minimum system collateralisation",
    "breaker_activations": "breaker activations",
    "oi_mean": "mean open interest",
    "trader_leverage": "traders' mean leverage",
}


# --- Numbers ------------------------------------------------------------------------------------


def to_number(value: Any) -> float | None:
    """Return ``value`` (int, float or decimal string) as a float; None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def quote_units(atoms: Any, quote_decimals: int) -> float | None:
    """Return ``atoms`` / 10**quote_decimals as a float (None when not a number)."""
    number = to_number(atoms)
    return None if number is None else number / 10**quote_decimals


def headline(summary: Mapping[str, Any]) -> dict[str, float | int | None]:
    """Return the headline numbers of a run, money in quote units (see ``HEADLINE_LABELS``).

    A number the summary does not hold (a run without positions has no
    collateralisation ratio) is None.
    """
    qd = int(summary["run"].get("quote_decimals", 6))
    bad = summary["bad_debt"]
    liq = summary["liquidations"]
    latency = liq.get("latency_s", {})
    insurance_mins = [to_number(d.get("min")) for d in summary.get("insurance", {}).values()]
    known_mins = [m for m in insurance_mins if m is not None]
    breakers = summary.get("breakers", {})
    activations = sum(int(n) for kinds in breakers.values() for n in kinds.values())
    count = liq.get("count")
    return {
        "bad_debt": quote_units(bad.get("total"), qd),
        "bad_debt_per_1m_oi": to_number(bad.get("per_1m_oi")),
        "bad_debt_uncovered": quote_units(bad.get("uncovered"), qd),
        "liquidations": None if count is None else int(count),
        "latency_p50_s": to_number(latency.get("p50")),
        "latency_p99_s": to_number(latency.get("p99")),
        "adl_positions": to_number(summary["adl"].get("deleveraged_positions")),
        "adl_notional": quote_units(summary["adl"].get("notional"), qd),
        "socialised_loss": quote_units(summary.get("socialised_loss"), qd),
        "insurance_min": min(known_mins) / 10**qd if known_mins else None,
        "min_collateralisation": to_number(summary["collateralisation"].get("min_ratio")),
        "breaker_activations": activations,
        "oi_mean": quote_units(summary["open_interest"].get("mean_notional"), qd),
        "trader_leverage": to_number(summary.get("agents", {}).get("trader_leverage_mean")),
    }


def format_number(value: float | int | None, digits: int = 2) -> str:
    """Return a number for a table: thousands separated, ``digits`` decimals unless whole; "–" for None."""
    if value is None:
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


# --- Files --------------------------------------------------------------------------------------


def write_run(result: RunResult, out: Path) -> None:
    """Write ``summary.json``, ``series.csv`` and ``report.html`` of ``result`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(result.canonical_summary())
    write_series_csv(result.series, out / "series.csv")
    (out / "report.html").write_text(run_html(result))


def series_names(series: Mapping[str, Sequence[Any]]) -> list[str]:
    """Return the series' names in file order: ``t`` first, then by name."""
    return (["t"] if "t" in series else []) + sorted(name for name in series if name != "t")


def write_series_csv(series: Mapping[str, Sequence[Any]], path: Path) -> None:
    """Write the series as CSV, one column per name (``series_names`` order)."""
    names = series_names(series)
    lengths = {len(series[name]) for name in names}
    if len(lengths) > 1:
        raise ValueError(f"the series differ in length: {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(names)
        for k in range(rows):
            writer.writerow([series[name][k] for name in names])


# --- Plots --------------------------------------------------------------------------------------


def png_data_uri(fig: Figure) -> str:
    """Return ``fig`` as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def new_figure(ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """Return a figure of the report's fixed size with ``ncols`` axes side by side."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=FIGSIZE, dpi=DPI)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.16, wspace=0.25)
        axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def plot_png(draw: Draw, ncols: int = 1) -> str:
    """Return the data URI of a new figure on which ``draw`` drew (report settings)."""
    with matplotlib.rc_context(RC):
        fig, axes = new_figure(ncols)
        draw(axes)
        return png_data_uri(fig)


def _prefixed(series: Mapping[str, Sequence[Any]], prefix: str) -> list[str]:
    return sorted(name[len(prefix) :] for name in series if name.startswith(prefix))


def _scaled(values: Sequence[Any], scale: float) -> list[float]:
    return [float(v) / scale if v is not None else float("nan") for v in values]


def run_plots(result: RunResult) -> list[tuple[str, str]]:
    """Return the run's plots as (title, data URI), in the report's order (``run_figures``)."""
    return [(title, plot_png(draw)) for title, draw in run_figures(result)]


def run_figures(result: RunResult) -> list[tuple[str, Draw]]:
    """Return the run's plots as (title, what draws it), in the report's order.

    One plot of the path against the oracle index per asset, then insurance
    funds, open interest, cumulative bad debt, liquidations per interval,
    the latency histogram, funding rates, pool NAV, collateralisation and,
    when the run had congestion, the base fee.
    """
    summary, series = result.summary, result.series
    qd = int(summary["run"].get("quote_decimals", 6))
    one = float(10**qd)
    t = series.get("t", [])
    t0 = t[0] if t else 0
    hours = [(x - t0) / 3600 for x in t]
    origin = summary["run"].get("path_start", t0)  # the path's own time: an episode's real UTC time
    xlabel = f"hours from {format_time(int(origin))} UTC" if t else "hours"
    plots: list[tuple[str, Draw]] = []

    def lines(title: str, names: list[tuple[str, str]], scale: float, ylabel: str) -> None:
        def draw(axes: list[Axes]) -> None:
            ax = axes[0]
            for key, label in names:
                ax.plot(hours, _scaled(series[key], scale), label=label, linewidth=1.0)
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if len(names) > 1:
                ax.legend(loc="best")

        plots.append((title, draw))

    for asset in _prefixed(series, "price."):
        names = [(f"price.{asset}", "path")]
        if f"index.{asset}" in series:
            names.append((f"index.{asset}", "oracle index"))
        lines(f"{asset}: price path vs oracle index", names, one, "quote per unit")
    domains = _prefixed(series, "insurance.")
    lines("insurance fund per domain", [(f"insurance.{d}", d) for d in domains], one, "quote")
    markets = _prefixed(series, "oi.")
    lines("open interest (notional at mark)", [(f"oi.{m}", m) for m in markets], one, "quote")
    lines("cumulative bad debt", [("bad_debt", "bad debt")], one, "quote")

    def liquidations(axes: list[Axes]) -> None:
        ax = axes[0]
        width = (hours[1] - hours[0]) if len(hours) > 1 else 1.0
        ax.bar(hours, [float(v) for v in series.get("liquidations", [])], width=width, align="edge")
        ax.set_title("liquidations per interval")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")

    plots.append(("liquidations per interval", liquidations))

    def latency(axes: list[Axes]) -> None:
        ax = axes[0]
        if result.latencies_s:
            ax.hist([float(x) for x in result.latencies_s], bins=min(40, max(5, len(result.latencies_s))))
        else:
            ax.text(0.5, 0.5, "no liquidation", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("liquidation latency (seen liquidatable -> liquidated)")
        ax.set_xlabel("seconds")
        ax.set_ylabel("liquidations")

    plots.append(("liquidation latency", latency))
    lines("funding rate", [(f"funding.{m}", m) for m in _prefixed(series, "funding.")], 1.0, "rate per hour")
    lines("pool NAV", [("pool_nav", "pool NAV")], one, "quote")
    lines(
        "system collateralisation", [("collateralisation", "ratio")], 1.0, "maintenance value / requirement"
    )
    if summary["run"].get("config", {}).get("congestion") and "base_fee_gwei" in series:
        lines("base fee (congestion)", [("base_fee_gwei", "base fee")], 1.0, "gwei")
    return plots


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { display: block; margin: 0.5em 0 1.5em; max-width: 100%; }
code { font-size: 0.9em; }
.failed { color: #a00; }
"""


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """Return an HTML table; cells are escaped, columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= numeric_from else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def html_page(title: str, body: str) -> str:
    """Return a complete HTML document (inline CSS only)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _headline_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    qd = int(summary["run"].get("quote_decimals", 6))
    numbers = headline(summary)
    rows = [[HEADLINE_LABELS[key], format_number(value)] for key, value in numbers.items()]
    bad = summary["bad_debt"]
    cover = ", ".join(
        f"{part} {format_number(quote_units(bad.get(part), qd))}"
        for part in ("insurance", "adl", "socialised", "uncovered")
    )
    rows.insert(1, ["bad debt covered by", cover])
    for domain, fund in sorted(summary.get("insurance", {}).items()):
        start, end, low = (format_number(quote_units(fund.get(k), qd)) for k in ("start", "end", "min"))
        rows.append([f"insurance {domain}: start / min / end", f"{start} / {low} / {end}"])
    for market, kinds in sorted(summary.get("breakers", {}).items()):
        tripped = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()) if n)
        if tripped:
            rows.append([f"breakers {market}", tripped])
    return rows


def run_html(result: RunResult) -> str:
    """Return the run's report: headline table, plots, config and path sources."""
    summary = result.summary
    run = summary["run"]
    config = run.get("config", {})
    name = config.get("label") or f"{config.get('episode') or config.get('synthetic')}#{config.get('seed')}"
    qd = int(run.get("quote_decimals", 6))
    parts = [f"<h1>Stress run: {html.escape(str(name))}</h1>"]
    when = f"{run.get('start')} to {run.get('end')}, {run.get('steps')} steps of {run.get('step_s')} s"
    parts.append(f"<p>{html.escape(when)}; money in quote units (atoms / 10**{qd}).</p>")
    parts.append("<h2>Headline</h2>")
    parts.append(html_table(["", "value"], _headline_rows(summary)))
    parts.append("<h2>Plots</h2>")
    for title, uri in run_plots(result):
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(f'<img alt="{html.escape(title)}" src="{uri}">')
    parts.append("<h2>Price paths</h2>")
    sources = run.get("source", {})
    parts.append(html_table(["asset", "source"], [[a, str(s)] for a, s in sorted(sources.items())], 2))
    parts.append("<h2>Config</h2>")
    rows = [[key, json.dumps(value, sort_keys=True)] for key, value in sorted(config.items())]
    parts.append(html_table(["option", "value"], rows, 2))
    if "state_hash" in run:
        parts.append(f"<p>Final state hash <code>{html.escape(str(run['state_hash']))}</code>.</p>")
    return html_page(f"Solvent stress run {name}", "\n".join(parts))
