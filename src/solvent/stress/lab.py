"""
The stress lab's run loop: a ``LabConfig`` in, a ``RunResult`` out.

Introduction
------------
``run(config)`` drives the real core in process (``engine.apply``):

1. **Setup.** The deployment's genesis (``scenario.start_state``'s
   transactions), with what no governance transaction can change applied at
   listing: ``margin="fixed"`` and market fields of ``params``
   (``"BTC-PERP.base_mmf"``) rewrite the ``ListMarket`` transactions, and
   ``"<domain>.insurance"`` rewrites the genesis ``FundInsurance`` of that
   domain (the treasury keeps what it no longer pays in; a larger fund is
   paid in by a treasury ``Deposit``). Domain fields go through
   ``SetDomain``, ``oi_cap``/``reduce_only`` through ``SetMarketLimits``,
   asset weights through ``SetAssetWeights``. ``breakers=False`` sets the
   domains' ``divergence_limit``, ``vol_halt`` and ``move_limit`` to 0 (off).
   Paths: an episode's grid windowed to ``duration_s`` (by default centred
   on the largest one-hour fall of its main asset: BTC, else ALT, else USDT,
   clamped to the episode; a shorter episode is played whole), or a synthetic path of BTC starting at
   ``GENESIS_PRICES["BTC"]`` (a depeg: of USDT at its peg); every path is
   shifted to the lab's clock, and an asset without a path holds its
   genesis price. Every reporter reports the first point, in rounds one
   second apart, until each index equals it; then the agents deposit and
   the makers quote.
2. **Each step** k = 1..steps at t = t0 + k * step_s: whatever is due
   before t (keeper transactions at their due times, the chain's blocks) is
   applied at its own time (``SetTime`` to it); then ``SetTime(t)``; the
   reporters (one ``ReporterSet`` per asset, the config's profile, seeded
   by the config's seed); the agents (makers, LPs, attackers and the
   traders drawn to act this step) in a seeded order; the keepers look at
   one shared scan (``keeper.Keeper``'s index and exact check) and schedule
   each liquidation at their latency; the series are recorded. Funding
   needs no transaction: the core accrues it on every report and settles
   an account's on every touch.
3. **Chain.** With ``congestion`` keeper transactions (max fee
   ``keeper_max_fee_gwei``, 300,000 gas) and user transactions of traders,
   LPs and attackers (max fee lognormal around 40 gwei, 150,000 gas) go
   through ``congestion.ChainModel`` and are applied at the block time that
   includes them; a dropped keeper transaction is retried at the keeper's
   next look. Makers and reporters reach the venue directly: they are the
   venue's own quoting and oracle infrastructure, which a real deployment
   runs on a priority path (and a maker stuck behind the base fee would
   only widen the stress we already model with pulled quotes).

Bad debt
--------
From the core's events (``core.liquidation``): a bankrupt account's
deficit beyond its own collateral is paid by the domain's fund
(``InsurancePaid``), absorbed by the counterparties of ADL at the
bankruptcy price (``Deleveraged``: |size x mark - notional| at the mark
after the liquidation), charged to other accounts (``SocialisedLoss``), or
left owed (``UncoveredDeficit``); ``uncovered`` also counts, at the end
of the run, every account's value below zero: debt still owed, by accounts
whose liquidation is still due or whose owner closed a position at a loss
beyond its collateral (the core lets a reduce-only order do that and no
event records it). ``total`` is the sum of the four. A
keeper's reward topped up from the fund is a cost of liquidation, not bad
debt.

Sampling
--------
Series are sampled every ``sample_every = ceil(steps / 144)`` steps (and
at the last); ``collateralisation`` (every account's ``cross_risk``) is
computed at those points only, so its minimum is over the sampled steps.
"""

import heapq
import math
import random
import time as wallclock
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np

from solvent.core.engine import apply, genesis
from solvent.core.errors import ProtocolError
from solvent.core.events import Event, accounts_named
from solvent.core.hashing import state_hash
from solvent.core.margin import compute_fractions, cross_risk
from solvent.core.pool import pool_equity
from solvent.core.state import State
from solvent.core.tx import (
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    ListMarket,
    PoolDeposit,
    PriceReport,
    SetAssetWeights,
    SetDomain,
    SetMarketLimits,
    SetTime,
    Tx,
)
from solvent.core.units import QUOTE_DECIMALS, QUOTE_ONE, SIZE_ONE, parse_account
from solvent.defaults import GENESIS, GENESIS_TIME, GOVERNOR, TREASURY, reporters
from solvent.keeper.keeper import Keeper, Underwater
from solvent.keeper.risk_index import CROSS, RowKey
from solvent.scenario import (
    SIZE_DECIMALS,
    check_conservation,
    human_to_atoms,
    open_interest_gaps,
    ratio_to_atoms,
)
from solvent.stress import agents as ag
from solvent.stress.config import LabConfig
from solvent.stress.congestion import GWEI, ChainModel, ChainParams, gwei
from solvent.stress.paths import PricePath, episode_paths, parse_time, rolling_vol, synthetic, to_price
from solvent.stress.reporters import ReporterModel, ReporterSet, honest, one_liar, several_silent
from solvent.stress.result import RunResult

GENESIS_PRICES = {"BTC": "100000", "ETH": "3000", "ALT": "1", "USDT": "1"}  # quote units
KEEPER_GAS = 300_000
USER_GAS = 150_000
KEEPER_LOOK_TOP = 16  # a keeper schedules at most this many of the deepest buckets per look
KEEPER_CROWD = 3  # a keeper leaves a bucket that this many keepers are already liquidating
VOL_WINDOW = 30  # steps of the agents' and the chain's realised volatility


class ConservationError(RuntimeError):
    """Invariant: money or open interest was not conserved (a bug of the core or the lab)."""


# --- setup -----------------------------------------------------------------------------------


def _split_params(
    params: dict[str, str], state: State
) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, str]]]:
    """Return the ListMarket overrides per market and the other (key, field, value) overrides."""
    listing: dict[str, dict[str, str]] = {}
    rest: list[tuple[str, str, str]] = []
    market_fields = set(ListMarket.__dataclass_fields__)
    for name in sorted(params):
        key, sep, fld = name.rpartition(".")
        if not sep:
            raise ValueError(f"param {name!r}: write <domain|market|asset>.<field>")
        if key in state.markets and fld in market_fields and fld not in ("oi_cap",):
            listing.setdefault(key, {})[fld] = params[name]
        else:
            rest.append((key, fld, params[name]))
    return listing, rest


def _human(fld: str, value: str) -> int:
    from solvent.scenario import _QUOTE_FIELDS, _RATIO_FIELDS  # noqa: PLC0415

    if fld in _RATIO_FIELDS:
        return ratio_to_atoms(value, fld)
    if fld in _QUOTE_FIELDS or fld in ("insurance",):
        return human_to_atoms(value, QUOTE_DECIMALS, fld)
    if fld in ("oi_cap", "lot", "size"):
        return human_to_atoms(value, SIZE_DECIMALS, fld)
    if fld in ("tick", "price"):
        return human_to_atoms(value, QUOTE_DECIMALS, fld)
    return int(value)


def build_state(config: LabConfig) -> State:
    """Return the genesis of ``config.deployment`` with the config's overrides (see the introduction)."""
    if config.deployment not in GENESIS:
        raise ValueError(f"unknown deployment {config.deployment!r}")
    txs = GENESIS[config.deployment]()
    probe = genesis(GOVERNOR)
    apply(probe, SetTime(GENESIS_TIME))
    for tx in txs:
        apply(probe, tx)
    listing, rest = _split_params(config.params, probe)
    insurance = {k: _human("insurance", v) for k, f, v in rest if f == "insurance"}
    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    for original in txs:
        tx = original
        if isinstance(tx, ListMarket):
            changes: dict[str, Any] = {f: _human(f, v) for f, v in listing.get(tx.market, {}).items()}
            if config.margin == "fixed":
                changes |= {"imf_vol_factor": 0, "mmf_vol_factor": 0}
            tx = replace(tx, **changes)
        elif isinstance(tx, FundInsurance) and tx.domain in insurance:
            tx = replace(tx, amount=min(tx.amount, insurance[tx.domain]))
            if tx.amount == 0:
                continue
        apply(state, tx)
    for domain, amount in sorted(insurance.items()):
        if domain not in state.domains:
            raise ValueError(f"param {domain}.insurance: no such domain")
        more = amount - state.insurance[domain]
        if more > 0:
            apply(state, Deposit(TREASURY, 0, state.quote, more))
            apply(state, FundInsurance(TREASURY, 0, domain, more))
    for key, fld, value in rest:
        if fld == "insurance":
            continue
        if key in state.domains and fld in SetDomain.__dataclass_fields__:
            apply(state, SetDomain(GOVERNOR, key, **{fld: _human(fld, value)}))
        elif key in state.markets and fld == "oi_cap":
            apply(state, SetMarketLimits(GOVERNOR, key, oi_cap=_human(fld, value)))
        elif key in state.markets and fld == "reduce_only":
            apply(state, SetMarketLimits(GOVERNOR, key, reduce_only=value.lower() in ("1", "true", "yes")))
        elif key in state.assets and fld in ("init_weight", "maint_weight"):
            asset = state.assets[key]
            weights = {"init_weight": asset.init_weight, "maint_weight": asset.maint_weight}
            weights[fld] = _human(fld, value)
            apply(state, SetAssetWeights(GOVERNOR, key, **weights))
        else:
            raise ValueError(f"param {key}.{fld}: not a field the lab can set")
    if not config.breakers:
        for domain in sorted(state.domains):
            apply(state, SetDomain(GOVERNOR, domain, divergence_limit=0, vol_halt=0, move_limit=0))
    return state


def _main_asset(assets: Iterable[str]) -> str:
    for asset in ("BTC", "ALT", "USDT"):
        if asset in assets:
            return asset
    return min(assets)


def build_paths(config: LabConfig, state: State, t0: int) -> dict[str, PricePath]:
    """Return a path per oracle asset of the state, all starting at ``t0`` (see the introduction)."""
    steps = config.steps
    paths: dict[str, PricePath] = {}
    if config.episode is not None:
        full = episode_paths(config.episode, config.step_s)
        main = full[_main_asset(full)]
        # An episode shorter than duration_s is played whole (the summary's run.steps says so):
        # a sweep over every real episode keeps one duration for the long ones.
        steps = min(steps, main.steps)
        if config.start is not None:
            first = main.index_at(parse_time(config.start))
        else:
            hour = max(1, 3600 // config.step_s)
            p = np.asarray(main.prices, dtype=np.float64)
            h = min(hour, main.steps)
            fall = int(np.argmin(p[h:] / p[:-h]))
            first = fall + h // 2 - steps // 2
        first = max(0, min(first, main.steps - steps))
        for asset, path in full.items():
            if asset in state.feeds:
                paths[asset] = path.window(path.time(first), steps).shifted(t0)
    else:
        kind = config.synthetic or "gbm"
        params = dict(config.synthetic_params)
        if kind != "depeg":
            params.setdefault("start_price", to_price(GENESIS_PRICES["BTC"]))
        made = synthetic(kind, config.seed, steps, config.step_s, start=t0, **params)
        paths[made.asset] = made
    for asset in sorted(state.feeds):
        if asset not in paths:
            price = to_price(GENESIS_PRICES.get(asset, "1"))
            paths[asset] = PricePath(
                f"constant:{asset}",
                asset,
                t0,
                config.step_s,
                (price,) * (steps + 1),
                "constant: genesis price",
            )
    return paths


def _profile(name: str) -> tuple[ReporterModel, ...]:
    base = ReporterModel(noise_bps=1.0)
    if name == "one_liar":
        return one_liar(5, factor=1.5, base=base)
    if name == "several_silent":
        # Two silent of five leave a bare quorum of 3; a skipped round (5%) then loses it.
        return several_silent(5, k=2, base=replace(base, stale_prob=0.05))
    return honest(5, base)


# --- population ------------------------------------------------------------------------------


def population_counts(config: LabConfig) -> dict[str, int]:
    """Return the count per kind: largest remainders of ``mix``, at least one maker and, when
    the mix has keepers, at least one keeper."""
    total = sum(config.mix.values())
    shares = {k: config.mix.get(k, 0.0) / total * config.agents for k in ag_kinds()}
    counts = {k: math.floor(v) for k, v in shares.items()}
    left = config.agents - sum(counts.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - counts[k]), k))[:left]:
        counts[k] += 1
    needs = ["maker"] + (["keeper"] if config.mix.get("keeper", 0) > 0 else [])
    for need in needs:
        if counts[need] == 0:
            donor = max((k for k in counts if k not in needs or counts[k] > 1), key=lambda k: (counts[k], k))
            if counts[donor] > 0:
                counts[donor] -= 1
                counts[need] += 1
    return counts


def ag_kinds() -> tuple[str, ...]:
    from solvent.stress.config import MIX_KINDS  # noqa: PLC0415

    return MIX_KINDS


def _cap_notional(state: State, market: str, price: int) -> int:
    cap = state.markets[market].oi_cap
    return cap * price // SIZE_ONE if cap else 10_000_000 * QUOTE_ONE


def build_agents(config: LabConfig, state: State, index: dict[str, int], traded: list[str]) -> list[ag.Agent]:
    """Return the population, sized to the venue: traders' equity fills about half of each
    market's open-interest cap at the mean leverage; makers quote 5% of it per side."""
    counts = population_counts(config)
    rng = random.Random(f"{config.seed}/population")
    out: list[ag.Agent] = []
    n_traders = counts["trend"] + counts["meanrev"]
    per_market = max(1, n_traders // max(1, len(traded)))
    maker_markets = traded + (
        ["ALT-PERP"] if "ALT-PERP" in state.markets and "ALT-PERP" not in traded else []
    )
    n_makers_per = max(1, counts["maker"] // max(1, len(maker_markets)))
    for kind in ("trend", "meanrev"):
        for i in range(counts[kind]):
            name = f"{kind}-{i}"
            market = rng.choice(traded)
            m = state.markets[market]
            cap = _cap_notional(state, market, index[market])
            scale = max(50 * QUOTE_ONE, 0.5 * cap / (per_market * config.leverage * 3.0))
            equity = int(ag.pareto(rng, scale))
            lev = min(
                rng.lognormvariate(math.log(config.leverage) - 0.125, 0.5), 0.95 * m.margin.max_leverage
            )
            lookback = rng.choice((5, 15, 60) if kind == "trend" else (5, 15))
            out.append(
                ag.Trader(
                    name,
                    f"{config.seed}/{name}",
                    kind,
                    market,
                    equity,
                    lev,
                    lookback,
                    z=rng.uniform(0.5, 1.5),
                )
            )
    for i in range(counts["maker"]):
        name = f"maker-{i}"
        market = maker_markets[i % len(maker_markets)]
        cap = _cap_notional(state, market, index[market])
        per_level = max(100 * QUOTE_ONE, int(0.05 * cap / 3 / n_makers_per))
        out.append(ag.Maker(name, f"{config.seed}/{name}", market, per_level * 3 * 4, per_level))
    pool = sorted(state.pools)[0] if state.pools else None
    if pool is not None:
        total_cap = sum(_cap_notional(state, m, index[m]) for m in traded)
        for i in range(counts["lp"]):
            name = f"lp-{i}"
            equity = int(rng.lognormvariate(math.log(0.2 * total_cap / max(1, counts["lp"])), 0.5))
            out.append(ag.LP(name, f"{config.seed}/{name}", pool, equity, rng.uniform(0.02, 0.1)))
    mean, jitter = config.keeper_latency_s, config.keeper_latency_jitter_s
    for i in range(counts["keeper"]):
        name = f"keeper-{i}"
        if jitter > 0 and mean > 0:
            shape = (mean / jitter) ** 2
            latency = rng.gammavariate(shape, mean / shape)  # gamma: mean ``mean``, sd ``jitter``
        else:
            latency = mean
        out.append(ag.KeeperAgent(name, f"{config.seed}/{name}", 10_000 * QUOTE_ONE, latency))
    for i in range(counts["attacker"]):
        name = f"attacker-{i}"
        lag = next((m for m in traded if m != "ALT-PERP"), traded[0])
        push = "ALT-PERP" if "ALT-PERP" in state.markets else None
        out.append(ag.Attacker(name, f"{config.seed}/{name}", 20_000 * QUOTE_ONE, lag, push))
    return out


# --- the run ---------------------------------------------------------------------------------


class _Lab:
    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.state = build_state(config)
        self.scanner = Keeper("0x" + "5c" * 20)  # the lab's eye: one shared index and exact check
        self.applied = 0
        self.refused: Counter[str] = Counter()
        self.liq_refused: Counter[str] = Counter()
        self.bad = {"insurance": 0, "adl": 0, "socialised": 0, "uncovered": 0}
        self.liq = {"count": 0, "collateral": 0, "notional": 0, "keeper_rewards": 0, "penalties": 0}
        self.adl = {"deleveraged_positions": 0, "notional": 0}
        self.ins_paid: Counter[str] = Counter()
        self.funding_paid: Counter[str] = Counter()
        self.funding_rates: dict[str, list[int]] = {}
        self.breakers: dict[str, Counter[str]] = {}
        self.pool_withdrawn = 0
        self.pool_deposited = 0
        self.first_seen: dict[RowKey, int] = {}
        self.latencies: list[int] = []
        self.liq_in_interval = 0
        self.owner_agent: dict[str, ag.Agent] = {}
        self.unseen: list[Event] = []
        self.contested: Counter[RowKey] = Counter()  # keepers with a liquidation of the row in flight

    def scan(self) -> list[Underwater]:
        """Return the confirmed liquidatable buckets, deepest first, after bringing the index
        up to date with every event since the last scan (one refresh per touched account)."""
        index = self.scanner.ensure_index(self.state)
        index.sync_prices(self.state)
        touched = accounts_named(self.state, self.unseen)
        self.unseen = []
        if touched:
            index.refresh(self.state, touched)
        return self.scanner.underwater(self.state)

    # -- applying --

    def apply(self, tx: Tx) -> list[Event] | None:
        try:
            events = apply(self.state, tx)
        except ProtocolError as error:
            self.refused[error.name] += 1
            if isinstance(tx, Liquidate | LiquidateCollateral):
                self.liq_refused[error.name] += 1
            return None
        self.applied += 1
        self.unseen.extend(events)  # the scan's index catches up once per look (``scan``)
        self._tally(events)
        return events

    def set_time(self, t: int) -> None:
        if t > self.state.time:
            self.apply(SetTime(t))

    def _tally(self, events: list[Event]) -> None:
        state = self.state
        for ev in events:
            kind, d = ev.kind, ev.data
            if kind == "Liquidated":
                self.liq["count"] += 1
                self.liq_in_interval += 1
                self.liq["notional"] += int(d["notional"] or 0)
                self.liq["keeper_rewards"] += int(d["keeper_reward"] or 0)
                self.liq["penalties"] += int(d["penalty"] or 0)
                key = parse_account(str(d["account"]))
                if key is not None:
                    row = (key[0], key[1], CROSS)
                    seen = self.first_seen.pop(row, None)
                    if seen is not None:
                        self.latencies.append(state.time - seen)
                    agent = self.owner_agent.get(key[0])
                    if agent is not None:
                        agent.liquidated += 1
            elif kind == "CollateralLiquidated":
                self.liq["collateral"] += 1
            elif kind == "InsurancePaid":
                self.bad["insurance"] += int(d["amount"] or 0)
                self.ins_paid[str(d["domain"])] += int(d["amount"] or 0)
            elif kind == "Deleveraged":
                market = state.markets[str(d["market"])]
                notional = int(d["notional"] or 0)
                at_mark = int(d["size"] or 0) * market.mark_price // SIZE_ONE
                self.adl["deleveraged_positions"] += 1
                self.adl["notional"] += notional
                self.bad["adl"] += abs(at_mark - notional)
            elif kind == "SocialisedLoss":
                self.bad["socialised"] += int(d["amount"] or 0)
            elif kind == "UncoveredDeficit":
                self.bad["uncovered"] += int(d["amount"] or 0)
            elif kind == "FundingPaid":
                amount = int(d["amount"] or 0)
                if amount > 0:
                    self.funding_paid[str(d["market"])] += amount
            elif kind == "FundingRate":
                self.funding_rates.setdefault(str(d["market"]), []).append(int(d["rate"] or 0))
            elif kind == "BreakerTripped":
                self.breakers.setdefault(str(d["market"]), Counter())[str(d["breaker"])] += 1
            elif kind == "PoolWithdrawn":
                self.pool_withdrawn += int(d["amount"] or 0)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


def run(config: LabConfig, progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run one stress-lab configuration (see the module's introduction)."""
    wall = wallclock.perf_counter()
    lab = _Lab(config)
    state = lab.state
    steps, step_s = config.steps, config.step_s
    t_init = state.time + 1
    paths = build_paths(config, state, t_init)
    steps = min(p.steps for p in paths.values())
    assets = sorted(paths)
    main = paths[_main_asset([a for a in assets if not paths[a].name.startswith("constant:")] or assets)]
    # Initial prices: every reporter reports the first point until each index equals it.
    t = t_init
    for _ in range(10):
        lab.set_time(t)
        for asset in assets:
            price = paths[asset].prices[0]
            for reporter in reporters(asset):
                lab.apply(PriceReport(reporter, asset, price, t))
        if all(state.feeds[a].index_price == paths[a].prices[0] for a in assets):
            break
        t += 1
    else:
        raise RuntimeError("the feeds did not take the paths' first prices")
    t0 = t
    paths = {a: p.shifted(t0) if t0 != p.start else p for a, p in paths.items()}
    market_ids = sorted(state.markets)
    index = {m: state.feeds[state.markets[m].asset].index_price for m in market_ids}
    moving = {a for a in assets if len(set(paths[a].prices)) > 1}
    traded = [m for m in market_ids if state.markets[m].asset in moving] or market_ids
    agents = build_agents(config, state, index, traded)
    for agent in agents:
        lab.owner_agent[agent.owner] = agent
        for tx in agent.setup(state):
            if lab.apply(tx) is not None and isinstance(tx, PoolDeposit):
                lab.pool_deposited += tx.amount
    keepers = [a for a in agents if isinstance(a, ag.KeeperAgent)]
    keeper_objs = [Keeper(k.owner) for k in keepers]
    actors = [a for a in agents if not isinstance(a, ag.KeeperAgent | ag.Trader)]
    traders = [a for a in agents if isinstance(a, ag.Trader)]
    act_probs = np.array([tr.act_prob for tr in traders])
    gen = np.random.Generator(np.random.PCG64(abs(hash_seed(f"{config.seed}/activity"))))
    order_rng = random.Random(f"{config.seed}/order")
    fee_rng = random.Random(f"{config.seed}/fees")
    sets = {
        a: ReporterSet(a, models=replace_every(_profile(config.reporters), step_s), seed=config.seed)
        for a in assets
    }
    vols = rolling_vol(main, VOL_WINDOW)
    chain: ChainModel[int] | None = None
    if config.congestion:
        chain = ChainModel(config.seed, ChainParams(), start=state.time)
    chain_pending: dict[int, tuple[ag.Agent, Tx, RowKey | None]] = {}
    chain_stats = {"submitted": 0, "included": 0, "dropped": 0, "delay": 0}
    heap: list[tuple[int, int, int, RowKey, Tx]] = []  # (due, seq, keeper number, row, tx)
    seq = 0
    log_index: dict[str, list[float]] = {m: [math.log(index[m])] for m in market_ids}

    def _release(keeper: ag.KeeperAgent, row: RowKey) -> None:
        if keeper.pending.pop(row, None) is not None:
            lab.contested[row] -= 1
            if lab.contested[row] <= 0:
                del lab.contested[row]

    def user_send(agent: ag.Agent, tx: Tx) -> None:
        nonlocal seq
        if chain is None:
            lab.apply(tx)
            return
        seq += 1
        fee = gwei(min(2000.0, fee_rng.lognormvariate(math.log(40.0), 0.5)))
        chain.submit(seq, fee, USER_GAS, state.time)
        chain_pending[seq] = (agent, tx, None)
        chain_stats["submitted"] += 1

    def keeper_due(number: int, row: RowKey, tx: Tx) -> None:
        nonlocal seq
        keeper = keepers[number]
        if chain is None:
            _release(keeper, row)
            keeper.sent += 1
            lab.apply(tx)
            return
        seq += 1
        chain.submit(seq, gwei(config.keeper_max_fee_gwei), KEEPER_GAS, state.time)
        chain_pending[seq] = (keeper, tx, row)
        chain_stats["submitted"] += 1
        keeper.sent += 1

    def block(at: int, k: int) -> None:
        if chain is None:
            return
        chain.advance(at, vols[min(k, len(vols) - 1)])
        for tx_id in chain.included(at):
            agent, tx, row = chain_pending.pop(tx_id)
            chain_stats["included"] += 1
            chain_stats["delay"] += at - chain.status[tx_id].submitted
            lab.set_time(at)
            if row is not None and isinstance(agent, ag.KeeperAgent):
                _release(agent, row)
            lab.apply(tx)
        for tx_id in chain.dropped(at):
            agent, _, row = chain_pending.pop(tx_id)
            chain_stats["dropped"] += 1
            if row is not None and isinstance(agent, ag.KeeperAgent):
                _release(agent, row)  # retried at the keeper's next look

    def run_due(until: int, inclusive: bool, k: int) -> None:
        while True:
            due = heap[0][0] if heap else math.inf
            nb = chain.next_block_time if chain is not None else None
            blk = nb if nb is not None else math.inf
            nxt = min(due, blk)
            if nxt > until or (nxt == until and not inclusive):
                return
            lab.set_time(int(nxt))
            if due <= blk:
                _, _, number, row, tx = heapq.heappop(heap)
                keeper_due(number, row, tx)
            else:
                block(int(blk), k)

    sample_every = max(1, math.ceil(steps / 144))
    series: dict[str, list[Any]] = {"t": []}
    oi_track: dict[str, list[int]] = {m: [] for m in market_ids}
    coll: dict[str, Any] = {
        "min_ratio": None,
        "min_at": None,
        "accounts_below_mm_max": 0,
        "negative_equity_max": 0,
    }
    insurance_start = dict(state.insurance)
    insurance_min = dict(state.insurance)
    # Per market, every step: the requirement fractions at the margin (no size add-on); and at
    # each sample the traders' leverage, their positions' notional over their equity.
    margin_track: dict[str, list[tuple[int, int]]] = {m: [] for m in market_ids}
    trader_keys = {(t.owner, 0) for t in traders}
    leverage_track: list[Decimal] = []
    pool_id = sorted(state.pools)[0] if state.pools else None
    nav_start = pool_equity(state, state.pools[pool_id]) if pool_id else 0
    nav_min = nav_start

    def record(k: int) -> None:
        nonlocal nav_min
        for m in market_ids:
            market = state.markets[m]
            oi_track[m].append(market.open_interest * market.mark_price // SIZE_ONE)
            sigma = state.feeds[market.asset].vol_sigma
            margin_track[m].append(compute_fractions(market, sigma, 0, 0, market.mm_sigma))
        for d, v in state.insurance.items():
            insurance_min[d] = min(insurance_min[d], v)
        nav = pool_equity(state, state.pools[pool_id]) if pool_id else 0
        nav_min = min(nav_min, nav)
        if k % sample_every and k != steps:
            return
        series["t"].append(state.time)
        for a in assets:
            series.setdefault(f"price.{a}", []).append(paths[a].prices[k])
            series.setdefault(f"index.{a}", []).append(state.feeds[a].index_price)
        for m in market_ids:
            market = state.markets[m]
            series.setdefault(f"mark.{m}", []).append(market.mark_price)
            series.setdefault(f"oi.{m}", []).append(oi_track[m][-1])
            series.setdefault(f"funding.{m}", []).append(market.funding_rate / 1e18)
        for d in sorted(state.insurance):
            series.setdefault(f"insurance.{d}", []).append(state.insurance[d])
        series.setdefault("pool_nav", []).append(nav)
        value = mm = below = negative = 0
        exposure = equity = 0
        for key, account in state.accounts.items():
            if not account.positions:
                continue
            risk = cross_risk(state, account)
            if key in trader_keys and risk.value_maint > 0:
                equity += risk.value_maint
                for market_id, pos in account.positions.items():
                    exposure += abs(pos.size) * state.markets[market_id].mark_price // SIZE_ONE
            value += risk.value_maint
            mm += risk.mm
            below += risk.is_liquidatable
            negative += max(0, -risk.value_maint)
        if equity:
            leverage_track.append(Decimal(exposure) / Decimal(equity))
        ratio = Decimal(value) / Decimal(mm) if mm else None
        series.setdefault("collateralisation", []).append(float(ratio) if ratio is not None else 0.0)
        if ratio is not None and (coll["min_ratio"] is None or ratio < coll["min_ratio"]):
            coll["min_ratio"], coll["min_at"] = ratio, state.time
        coll["accounts_below_mm_max"] = max(coll["accounts_below_mm_max"], below)
        coll["negative_equity_max"] = max(coll["negative_equity_max"], negative)
        series.setdefault("liquidations", []).append(lab.liq_in_interval)
        lab.liq_in_interval = 0
        series.setdefault("bad_debt", []).append(lab.bad_total)
        series.setdefault("base_fee_gwei", []).append(chain.base_fee / GWEI if chain is not None else 0.0)

    record(0)
    for k in range(1, steps + 1):
        t = t0 + k * step_s
        run_due(t, False, k)
        lab.set_time(t)
        for a in assets:
            for report in sets[a].reports_at(t, paths[a]):
                lab.apply(report)
        run_due(t, True, k)
        # The agents' view: computed once for everyone.
        for m in market_ids:
            idx = state.feeds[state.markets[m].asset].index_price
            index[m] = idx
            log_index[m].append(math.log(idx) if idx > 0 else log_index[m][-1])
        vol, last = {}, {}
        for m in market_ids:
            hist = log_index[m][-VOL_WINDOW - 1 :]
            rets = np.diff(np.asarray(hist))
            vol[m] = float(np.sqrt(np.mean(rets * rets))) if rets.size else 0.0
            last[m] = abs(float(rets[-1])) if rets.size else 0.0
        nxt = min(k + 1, steps)
        view = ag.StepView(
            state,
            t,
            k,
            index,
            log_index,
            vol,
            last,
            {m: paths[state.markets[m].asset].prices[nxt] for m in market_ids},
            _nav_per_share(state, pool_id),
        )
        active: list[ag.Agent] = [traders[i] for i in np.flatnonzero(gen.random(len(traders)) < act_probs)]
        movers = actors + active
        order_rng.shuffle(movers)
        for agent in movers:
            for tx in agent.act(view):
                if isinstance(agent, ag.Maker):
                    lab.apply(tx)
                else:
                    user_send(agent, tx)
        # Keepers look at the shared scan and schedule at their latency.
        found = lab.scan()
        for item in found:
            lab.first_seen.setdefault(item.row, t)
        top = found[:KEEPER_LOOK_TOP]
        for number in sorted(range(len(keepers)), key=lambda _: order_rng.random()):
            keeper = keepers[number]
            for item in top:
                if item.row in keeper.pending or lab.contested[item.row] >= KEEPER_CROWD:
                    continue
                liq = keeper_objs[number].tx_for(state, item)
                if liq is None:
                    continue
                due = t + round(keeper.latency_s)
                keeper.pending[item.row] = due
                lab.contested[item.row] += 1
                seq += 1
                heapq.heappush(heap, (due, seq, number, item.row, liq))
        run_due(t, True, k)
        record(k)
        if progress is not None:
            progress(k, steps)

    # Debt nobody has covered by the end: accounts whose value is below zero (liquidations
    # still due, or a position closed by its owner at a loss beyond its collateral).
    lab.bad["uncovered"] += sum(max(0, -cross_risk(state, a).value_maint) for a in state.accounts.values())
    gaps = check_conservation(state)
    oi_gaps = open_interest_gaps(state)
    if any(gaps.values()) or oi_gaps:
        raise ConservationError(f"Invariant: conservation gaps {gaps}, open interest gaps {oi_gaps}")
    summary = _summary(
        config,
        lab,
        paths,
        agents,
        chain,
        chain_stats,
        oi_track,
        coll,
        insurance_start,
        insurance_min,
        nav_start,
        nav_min,
        pool_id,
        gaps,
        t0,
        margin_track,
        leverage_track,
        steps,
        _origin(paths[main.asset]),
    )
    return RunResult(
        summary,
        series,
        sorted(lab.latencies),
        wall_s=wallclock.perf_counter() - wall,
        agent_steps=config.agents * steps,
    )


def hash_seed(text: str) -> int:
    """Return a stable 63-bit integer from a string (Python's hash() varies by process)."""
    import hashlib  # noqa: PLC0415

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def replace_every(models: tuple[ReporterModel, ...], step_s: int) -> tuple[ReporterModel, ...]:
    """Return the models reporting once a step."""
    return tuple(replace(m, report_every_s=step_s) for m in models)


def _nav_per_share(state: State, pool_id: str | None) -> float:
    if pool_id is None:
        return 0.0
    pool = state.pools[pool_id]
    return pool_equity(state, pool) / pool.total_shares if pool.total_shares else 0.0


def _origin(path: PricePath) -> int:
    return path.start if path.origin is None else path.origin


def _ratio_text(value: Decimal | None) -> str:
    if value is None:
        return "0"
    return format(value.quantize(Decimal("0.000001")), "f")


def _percentile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _summary(
    config: LabConfig,
    lab: _Lab,
    paths: dict[str, PricePath],
    agents: list[ag.Agent],
    chain: ChainModel[int] | None,
    chain_stats: dict[str, int],
    oi_track: dict[str, list[int]],
    coll: dict[str, Any],
    insurance_start: dict[str, int],
    insurance_min: dict[str, int],
    nav_start: int,
    nav_min: int,
    pool_id: str | None,
    gaps: dict[str, int],
    t0: int,
    margin_track: dict[str, list[tuple[int, int]]],
    leverage_track: list[Decimal],
    steps: int,
    path_start: int,
) -> dict[str, Any]:
    state = lab.state
    oi = {
        m: {"start": v[0], "max": max(v), "end": v[-1], "mean": sum(v) // len(v)} for m, v in oi_track.items()
    }
    mean_notional = sum(o["mean"] for o in oi.values())
    total = lab.bad_total
    per_1m = Decimal(total) * 1_000_000 / Decimal(mean_notional) if mean_notional and total else None
    kinds: dict[str, dict[str, int]] = {}
    for agent in agents:
        entry = kinds.setdefault(agent.kind, {"count": 0, "pnl": 0})
        entry["count"] += 1
        entry["pnl"] += agent.pnl(state)
        if isinstance(agent, ag.Trader):
            entry["liquidated"] = entry.get("liquidated", 0) + agent.liquidated
    makers = [a for a in agents if isinstance(a, ag.Maker)]
    nav_end = pool_equity(state, state.pools[pool_id]) if pool_id else 0
    lat = lab.latencies
    one = Decimal(10**18)
    return {
        "run": {
            "config": config.to_json(),
            "source": {a: p.source for a, p in sorted(paths.items())},
            "start": t0,
            # The main path's own time at t0 (an episode's real UTC time), for plots and readers.
            "path_start": path_start,
            "end": t0 + steps * config.step_s,
            "steps": steps,
            "step_s": config.step_s,
            "state_hash": state_hash(state),
            "quote_decimals": QUOTE_DECIMALS,
        },
        "bad_debt": {**lab.bad, "total": total, "per_1m_oi": _ratio_text(per_1m)},
        "insurance": {
            d: {
                "start": insurance_start.get(d, 0),
                "end": state.insurance[d],
                "min": insurance_min.get(d, state.insurance[d]),
                "paid": lab.ins_paid[d],
                "received": state.insurance[d] - insurance_start.get(d, 0) + lab.ins_paid[d],
            }
            for d in sorted(state.insurance)
        },
        "liquidations": {
            **lab.liq,
            "refused": dict(sorted(lab.liq_refused.items())),
            "latency_s": {
                "count": len(lat),
                "p50": _percentile(lat, 0.5),
                "p90": _percentile(lat, 0.9),
                "p99": _percentile(lat, 0.99),
                "max": max(lat, default=0),
            },
        },
        "adl": dict(lab.adl),
        "socialised_loss": lab.bad["socialised"],
        "open_interest": {**oi, "mean_notional": mean_notional},
        "funding": {
            m: {
                "min_rate": str(Decimal(min(lab.funding_rates.get(m, [0]))) / one),
                "max_rate": str(Decimal(max(lab.funding_rates.get(m, [0]))) / one),
                "paid": lab.funding_paid[m],
            }
            for m in sorted(state.markets)
        },
        "pool": {
            "deposited": lab.pool_deposited,
            "withdrawn": lab.pool_withdrawn,
            "nav_start": nav_start,
            "nav_end": nav_end,
            "pnl": nav_end - nav_start + lab.pool_withdrawn,
            "min_nav": nav_min,
        },
        "breakers": {m: dict(sorted(lab.breakers.get(m, Counter()).items())) for m in sorted(state.markets)},
        "collateralisation": {
            "min_ratio": _ratio_text(coll["min_ratio"]),
            "min_at": coll["min_at"],
            "accounts_below_mm_max": coll["accounts_below_mm_max"],
            "negative_equity_max": coll["negative_equity_max"],
        },
        "margin": {
            m: {
                "imf_mean": _ratio_text(Decimal(sum(i for i, _ in v)) / len(v) / one),
                "imf_max": _ratio_text(Decimal(max(i for i, _ in v)) / one),
                "mmf_mean": _ratio_text(Decimal(sum(x for _, x in v)) / len(v) / one),
                "mmf_max": _ratio_text(Decimal(max(x for _, x in v)) / one),
            }
            for m, v in sorted(margin_track.items())
        },
        "agents": {
            **{k: kinds[k] for k in sorted(kinds)},
            "trader_leverage_mean": _ratio_text(
                sum(leverage_track, Decimal(0)) / len(leverage_track) if leverage_track else None
            ),
            "attacker_pnl": kinds.get("attacker", {}).get("pnl", 0),
            "maker_pulls": sum(m.pulls for m in makers),
        },
        "chain": {
            "enabled": chain is not None,
            "submitted": chain_stats["submitted"],
            "included": chain_stats["included"],
            "dropped": chain_stats["dropped"],
            "mean_delay_s": _ratio_text(
                Decimal(chain_stats["delay"]) / chain_stats["included"] if chain_stats["included"] else None
            ),
            "max_base_fee_gwei": _ratio_text(
                Decimal(max((b.base_fee for b in chain.blocks), default=0)) / GWEI
                if chain is not None
                else None
            ),
        },
        "txs": {"applied": lab.applied, "refused": dict(sorted(lab.refused.items()))},
        "conservation": {**{a: g for a, g in sorted(gaps.items())}, "longs_equal_shorts": True},
    }
