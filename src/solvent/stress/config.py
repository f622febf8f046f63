"""
What one stress-lab run is: the path, the population, the venue's parameters and the frictions.

Introduction
------------
A ``LabConfig`` names everything a run depends on, so that a run is a pure
function of it: the same config (seed included) gives the same
``summary.json``, byte for byte. It is read from and written to plain
JSON/TOML tables (``from_mapping`` / ``to_json``), which is what
``solvent stress`` builds from its options and what each cell of a
``solvent sweep`` grid is.

Path: exactly one of ``episode`` (a name of ``stress.paths.EPISODES``) and
``synthetic`` (a kind of ``stress.paths.synthetic``, with
``synthetic_params``). ``start`` cuts an episode's window (ISO UTC or unix
seconds; by default the lab centres ``duration_s`` on the episode's largest
one-hour fall); an episode shorter than ``duration_s`` is played whole
(``run.steps`` in the summary is what was played); ``step_s`` is the lab's
clock tick and the grid of the path.

Venue: ``deployment`` (a genesis of ``solvent.deployments``), ``margin``
(``"vol"``: the deployment's volatility-scaled requirements; ``"fixed"``:
``imf_vol_factor`` and ``mmf_vol_factor`` set to 0 on every market, so the
base fractions alone), ``breakers`` (False lifts the domain's circuit
breakers: divergence, volatility and move halts; the oracle's own band and
staleness rules stay, they are the feed's correctness, not a breaker), and
``params``: overrides applied after genesis, ``"<domain|market|asset>.<field>"
-> value`` in the human units of the deployment files (``"MAJ.keeper_fee":
"1%"``, ``"BTC-PERP.base_mmf": "3%"``, ``"MAJ.insurance": "250000"`` for the
fund's size).

Population: ``agents`` is the total count, split by ``mix`` (shares of
trend and mean-reversion traders, market makers, LPs, keepers and attackers;
at least one market maker and, where ``keepers`` > 0, one keeper per
``keepers``); ``leverage`` is the traders' mean target leverage (their
leverage distribution is lognormal around it, capped by each market's
maximum).

Frictions: ``keeper_latency_s`` (mean) and ``keeper_latency_jitter_s``
(spread) between a keeper's seeing a liquidatable account and its
transaction reaching the venue; ``keeper_max_fee_gwei`` its gas budget;
``congestion`` routes keeper and user transactions through the settlement
chain model (``stress.congestion``), where a fee below the base fee waits or
is dropped; ``reporters`` the oracle fault profile (``honest``,
``one_liar``, ``several_silent``).
"""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

MIX_KINDS = ("trend", "meanrev", "maker", "lp", "keeper", "attacker")
REPORTER_PROFILES = ("honest", "one_liar", "several_silent")
MARGIN_MODES = ("vol", "fixed")


@dataclass(frozen=True)
class LabConfig:
    """One stress-lab run (see the module's introduction)."""

    episode: str | None = "black-thursday"
    synthetic: str | None = None
    synthetic_params: dict[str, Any] = field(default_factory=dict)
    start: str | int | None = None
    duration_s: int = 86_400
    step_s: int = 60
    seed: int = 0
    deployment: str = "fixture_f"
    margin: str = "vol"
    breakers: bool = True
    params: dict[str, str] = field(default_factory=dict)
    agents: int = 100
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "trend": 0.45,
            "meanrev": 0.35,
            "maker": 0.08,
            "lp": 0.06,
            "keeper": 0.05,
            "attacker": 0.01,
        }
    )
    leverage: float = 5.0
    keeper_latency_s: float = 1.0
    keeper_latency_jitter_s: float = 0.5
    keeper_max_fee_gwei: float = 200.0
    congestion: bool = False
    reporters: str = "honest"
    label: str = ""  # a name for tables and plots; no effect on the run

    def __post_init__(self) -> None:
        if (self.episode is None) == (self.synthetic is None):
            raise ValueError("give exactly one of episode and synthetic")
        if self.duration_s <= 0 or self.step_s <= 0 or self.duration_s % self.step_s:
            raise ValueError("duration_s and step_s must be positive, duration_s a multiple of step_s")
        if self.agents < 1:
            raise ValueError("a run needs at least one agent")
        if self.margin not in MARGIN_MODES:
            raise ValueError(f"margin is one of {', '.join(MARGIN_MODES)}, not {self.margin!r}")
        if self.reporters not in REPORTER_PROFILES:
            raise ValueError(f"reporters is one of {', '.join(REPORTER_PROFILES)}, not {self.reporters!r}")
        unknown = set(self.mix) - set(MIX_KINDS)
        if unknown or any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError(f"mix takes non-negative shares of {', '.join(MIX_KINDS)}")
        if self.leverage <= 0 or self.keeper_latency_s < 0 or self.keeper_latency_jitter_s < 0:
            raise ValueError("leverage must be positive and keeper latencies not negative")
        if self.keeper_max_fee_gwei <= 0:
            raise ValueError("keeper_max_fee_gwei must be positive")

    @property
    def steps(self) -> int:
        return self.duration_s // self.step_s

    @property
    def name(self) -> str:
        """What the run played: the label, else the episode or synthetic kind with the seed."""
        return self.label or f"{self.episode or self.synthetic}#{self.seed}"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "LabConfig":
        """Build from a JSON/TOML table; an unknown key is an error naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown lab option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        if "synthetic" in values and "episode" not in values:
            values["episode"] = None
        return cls(**values)

    def with_(self, **changes: Any) -> "LabConfig":
        """A copy with ``changes`` (``synthetic`` given clears ``episode``)."""
        if changes.get("synthetic") is not None and "episode" not in changes:
            changes["episode"] = None
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
