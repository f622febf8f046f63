"""
Oracle reporters for the stress lab: ``PriceReport``s derived from a price path.

Introduction
------------
A ``ReporterSet`` plays the reporters of one asset's feed. Their names are
the ones the default deployments register (``<asset>-reporter-1..N``, the
addresses of ``defaults.reporters``), so their reports are accepted by a
state built from Fixture F. Each reporter follows a ``ReporterModel``:

* ``report_every_s`` / ``phase_s``: it is due at ``phase_s + n *
  report_every_s``; a reporter reports on its first call and then once per
  due time that has passed since, at the time of the call (if the lab calls
  less often than the schedule, missed rounds are not made up);
* ``delay_s``: it reports the path's price from ``delay_s`` ago; before the
  path's start plus the delay it has nothing to report. ``stamp`` says what
  the delay is: ``"observed"`` (the default) stamps the report with the time
  the price was seen, as a report that reaches the chain late: the core ages
  it from then, so a delay beyond ``staleness_s`` makes the reporter never
  count; ``"sent"`` stamps it with the call's time, as a reporter whose own
  source lags: the core takes it as fresh, and the index lags the path;
* ``noise_bps``: a Gaussian error of that many basis points (one sigma),
  drawn per report;
* ``stale_prob``: the probability of skipping a due round;
* ``fault``: ``"liar"`` reports price × ``liar_factor``; ``"silent"`` never
  reports.

Every reporter draws from its own ``random.Random`` seeded by (seed, asset,
name), two draws per due round whatever the outcome, so the same seed and
the same calls give the same reports, and changing one reporter's model does
not change the others' draws. Prices are integers in the core's price unit;
a reporter without noise or fault reports the path's integer price exactly.

What the core does with them
----------------------------
``core.oracle`` aggregates after every accepted report over the fresh ones
(age <= ``staleness_s`` at the block time); with Fixture F: quorum 3 of 5,
stale after 60 s, reports beyond 2% of the median left out, a move of the
index beyond the 10% band held until 3 aggregates at distinct block times
confirm it. So:

* an honest set reporting together moves the index to the path's price in
  the round's block (the first reports of a large move are left out against
  the previous ones until three new ones make the new median);
* one liar, or two, beyond 2% is left out, and within 2% cannot move a
  median of five honest-majority reports;
* with more than ``N - quorum`` reporters silent (or skipping) the feed
  loses its quorum, and ``staleness_s`` later it is stale: its markets
  accept only risk-reducing actions;
* a path that moves more than the band in one step is reported as it is:
  the index holds (the markets pause, ``IndexMoveHeld``) until the third
  confirming aggregate, one report round later each, i.e. two rounds at the
  default schedule. That hold is a rule under stress, so the lab's reporters
  do not smooth it away. (The node demo's reporters, ``bots.episodes.rounds``,
  do: they split a big move into in-band steps one second apart, to show a
  replay without pauses.)

The lab must set the state's time (``SetTime``) to the call's time before
applying its reports: the core refuses a report stamped after the block time.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from solvent.core.tx import PriceReport
from solvent.defaults import address_of
from solvent.stress.paths import PricePath

Fault = Literal["none", "liar", "silent"]
FAULTS: tuple[Fault, ...] = ("none", "liar", "silent")
Stamp = Literal["observed", "sent"]


@dataclass(frozen=True, slots=True)
class ReporterModel:
    """How one reporter derives its reports from the path (see the introduction)."""

    noise_bps: float = 0.0  # one sigma of a Gaussian error, in basis points of the price
    delay_s: int = 0  # reports the price of delay_s ago (see stamp)
    report_every_s: int = 60
    stale_prob: float = 0.0  # probability of skipping a due round
    fault: Fault = "none"
    liar_factor: float = 1.0  # a liar reports price * liar_factor
    phase_s: int = 0  # due at phase_s + n * report_every_s
    stamp: Stamp = "observed"  # "observed": stamped when seen (t - delay_s); "sent": stamped t

    def __post_init__(self) -> None:
        if self.noise_bps < 0 or self.delay_s < 0:
            raise ValueError("noise_bps and delay_s must not be negative")
        if self.report_every_s <= 0:
            raise ValueError(f"report_every_s must be positive, was {self.report_every_s}")
        if not 0 <= self.stale_prob <= 1:
            raise ValueError(f"stale_prob must be in [0, 1], was {self.stale_prob}")
        if self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, was {self.fault!r}")
        if self.liar_factor <= 0:
            raise ValueError(f"liar_factor must be positive, was {self.liar_factor}")
        if self.stamp not in ("observed", "sent"):
            raise ValueError(f"stamp must be 'observed' or 'sent', was {self.stamp!r}")


def default_names(asset: str, count: int = 5) -> tuple[str, ...]:
    """Return the reporter names the deployments register for ``asset``: ``<asset>-reporter-<i>``."""
    return tuple(f"{asset.lower()}-reporter-{i}" for i in range(1, count + 1))


def honest(n: int = 5, base: ReporterModel = ReporterModel()) -> tuple[ReporterModel, ...]:
    """Return ``n`` honest reporters, each following ``base`` (noise, delay, schedule)."""
    return (base,) * n


def one_liar(
    n: int = 5, factor: float = 1.5, which: int = 0, base: ReporterModel = ReporterModel()
) -> tuple[ReporterModel, ...]:
    """Return ``n`` reporters of which number ``which`` (0-based) reports price × ``factor``."""
    if not 0 <= which < n:
        raise ValueError(f"which must be between 0 and n - 1, was {which} of {n}")
    liar = replace(base, fault="liar", liar_factor=factor)
    return tuple(liar if i == which else base for i in range(n))


def several_silent(
    n: int = 5, k: int = 3, base: ReporterModel = ReporterModel()
) -> tuple[ReporterModel, ...]:
    """Return ``n`` reporters of which the first ``k`` never report."""
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n, was {k} of {n}")
    silent = replace(base, fault="silent")
    return tuple(silent if i < k else base for i in range(n))


class ReporterSet:
    """The reporters of one asset, each with its model and its own seeded stream."""

    def __init__(
        self,
        asset: str,
        names: Sequence[str] | None = None,
        models: ReporterModel | Sequence[ReporterModel] = ReporterModel(),
        seed: int = 0,
    ) -> None:
        if isinstance(models, ReporterModel):
            count = 5 if names is None else len(names)
            models = (models,) * count
        chosen = default_names(asset, len(models)) if names is None else tuple(names)
        if len(chosen) != len(models):
            raise ValueError(f"{len(chosen)} names for {len(models)} models")
        self.asset = asset
        self.names = chosen
        self.models = tuple(models)
        self.addresses = tuple(address_of(name) for name in chosen)
        # A string seed is hashed by sha512 in random.Random, not by hash(): stable across runs.
        self._rngs = [random.Random(f"{seed}/{asset}/{name}") for name in chosen]
        self._next_due: list[int | None] = [None] * len(chosen)
        self._last_call: int | None = None

    def reports_at(self, t: int, path: PricePath) -> list[PriceReport]:
        """Return the reports due at time ``t`` from ``path``, in reporter order.

        Calls must come at increasing times; every report is stamped at or
        before ``t`` and after its reporter's previous one.
        """
        if path.asset != self.asset:
            raise ValueError(f"a path of {path.asset} given to the reporters of {self.asset}")
        if self._last_call is not None and t <= self._last_call:
            raise ValueError(f"reports asked at {t}, not after the last call at {self._last_call}")
        self._last_call = t
        out: list[PriceReport] = []
        for i, model in enumerate(self.models):
            due = self._next_due[i]
            if model.fault == "silent" or (due is not None and t < due):
                continue
            every = model.report_every_s
            self._next_due[i] = model.phase_s + ((t - model.phase_s) // every + 1) * every
            rng = self._rngs[i]
            skip, z = rng.random(), rng.gauss(0.0, 1.0)  # both drawn every round: streams stay aligned
            seen = t - model.delay_s
            if skip < model.stale_prob or seen < path.start:
                continue
            price = reported_price(model, path.price_at(seen), z)
            out.append(
                PriceReport(self.addresses[i], self.asset, price, seen if model.stamp == "observed" else t)
            )
        return out


def reported_price(model: ReporterModel, price: int, z: float) -> int:
    """Return what a reporter with ``model`` reports for ``price``, given its normal draw ``z``."""
    factor = 1.0
    if model.noise_bps:
        factor += model.noise_bps / 10_000 * z
    if model.fault == "liar":
        factor *= model.liar_factor
    if factor == 1.0:
        return price  # exact: no float round trip for an honest, noiseless report
    return max(1, round(price * factor))
