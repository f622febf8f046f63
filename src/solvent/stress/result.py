"""
What a stress-lab run returns: the summary (``summary.json``) and the time series behind the plots.

Summary
-------
Every number a run reports, JSON-ready and deterministic (no wall time, no
host name): the same ``LabConfig`` gives the same ``summary`` byte for byte
(``canonical_summary``). Money is in quote atoms (integers; the quote asset
has ``quote_decimals`` decimals) so that sums are exact; ratios are decimal
strings or integers in basis points where named ``_bps``.

Top-level keys (``SUMMARY_KEYS``):

* ``run``: the config (``LabConfig.to_json``), the path's ``source`` per
  asset, the times (``start``, ``end``, ``steps``, ``step_s`` on the lab's
  clock; ``path_start``, the main path's own time at ``start``: an
  episode's real UTC time), the final
  ``state_hash``, ``quote_decimals``.
* ``bad_debt``: the deficits of bankrupt accounts beyond their own
  collateral, in quote atoms, and how they were covered:
  ``{"total", "insurance", "adl", "socialised", "uncovered",
  "per_1m_oi"}``; ``per_1m_oi`` is ``total`` per 1,000,000 of mean open
  interest notional (a decimal string, "0" when there was none).
* ``insurance``: per domain ``{"start", "end", "min", "paid", "received"}``.
* ``liquidations``: ``{"count", "collateral", "notional", "keeper_rewards",
  "penalties", "refused": {code: n}, "latency_s": {"count", "p50", "p90",
  "p99", "max"}}``; latency is from the first step at which the lab saw the
  bucket liquidatable to the liquidation that acted on it.
* ``adl``: ``{"deleveraged_positions", "notional"}``;
  ``socialised_loss`` (quote atoms).
* ``open_interest``: per market ``{"start", "max", "end", "mean"}`` notional
  at mark, and ``mean_notional`` over all markets.
* ``funding``: per market ``{"min_rate", "max_rate", "paid"}`` (rates as
  decimal strings per hour).
* ``pool``: ``{"deposited", "withdrawn", "nav_start", "nav_end", "pnl",
  "min_nav"}``.
* ``breakers``: per market, per breaker kind, the number of activations.
* ``collateralisation``: ``{"min_ratio", "min_at", "accounts_below_mm_max",
  "negative_equity_max"}``; ``min_ratio`` is the lowest, over steps, of the
  sum of accounts' maintenance value over the sum of their maintenance
  requirements (accounts with positions), a decimal string.
* ``margin``: per market, the mean and the highest over steps of the
  initial and maintenance fractions a position pays at the margin (base plus
  the volatility add-on, without the size add-on), as decimal strings:
  ``{"imf_mean", "imf_max", "mmf_mean", "mmf_max"}``.
* ``agents``: per kind, the count and the total PnL (quote atoms) and, for
  traders, how many were liquidated; the attacker's PnL on its own;
  ``trader_leverage_mean``, the mean over samples of the traders' position
  notional over their equity (accounts with positive equity), a decimal
  string; ``maker_pulls``.
* ``chain``: ``{"enabled", "submitted", "included", "dropped",
  "mean_delay_s", "max_base_fee_gwei"}``.
* ``txs``: ``{"applied", "refused": {code: n}}``.
* ``conservation``: per asset, deposited - withdrawn - holdings (all 0), and
  ``longs_equal_shorts`` (True).

Series
------
``series`` holds one list per name, all of the same length, sampled every
``sample_every`` steps (``t`` first): ``price.<asset>`` (the path),
``index.<asset>`` (the oracle), ``mark.<market>``, ``oi.<market>`` (notional),
``funding.<market>`` (rate per hour, float), ``insurance.<domain>``,
``pool_nav``, ``collateralisation`` (float), ``liquidations`` (count in the
interval), ``bad_debt`` (cumulative), ``base_fee_gwei`` (float, 0 without
congestion). Floats appear only here, for plotting.
"""

import json
from dataclasses import dataclass, field
from typing import Any

SUMMARY_KEYS = (
    "run",
    "bad_debt",
    "insurance",
    "liquidations",
    "adl",
    "socialised_loss",
    "open_interest",
    "funding",
    "pool",
    "breakers",
    "collateralisation",
    "margin",
    "agents",
    "chain",
    "txs",
    "conservation",
)


@dataclass
class RunResult:
    """One run: its summary (see the module's introduction), series and liquidation latencies."""

    summary: dict[str, Any]
    series: dict[str, list[Any]] = field(default_factory=dict)
    latencies_s: list[int] = field(default_factory=list)
    wall_s: float = 0.0  # not in the summary: it differs between two runs of one config
    agent_steps: int = 0  # agents x steps: what bench/stress.py divides by the wall time

    def canonical_summary(self) -> str:
        """The summary as ``summary.json`` holds it (sorted keys, two-space indent, newline)."""
        return canonical_json(self.summary)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=2) + "\n"
