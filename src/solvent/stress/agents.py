"""
Agent populations of the stress lab: leveraged traders, market makers, LPs, keepers, attackers.

Introduction
------------
Every agent owns one account (its address is ``defaults.address_of`` of its
name, ``"<kind>-<i>"``), starts with a ``Deposit`` of quote (``funding``,
money enters only that way) and each step returns the transactions it wants
from ``act(ctx)``. The lab applies them in process through ``engine.apply``;
agents decide with floats, but every field they hand to the core is an
integer in its units (prices on the tick, sizes on the lot).

``StepView`` is what every agent reads in one step, computed once by the lab
(so that no agent does work proportional to the population): the index per
market, its recent returns per lookback (``signal``), its realised
volatility per step and last move, the next point of the path (what the
oracle has not reported yet: the attacker's edge) and the pool's NAV.

* ``Trader`` (``trend`` / ``meanrev``): one market, drawn among the markets
  with a path; equity drawn from a Pareto law (heavy tail, capped at 50 x
  its scale); target leverage lognormal around the config's mean (sigma
  0.5), capped by 0.95 x the market's ``max_leverage``. It acts with
  probability ``act_prob`` a step; its signal is the index's return over its
  lookback against a threshold of ``z`` standard deviations (trend: follow
  it, meanrev: fade it). It opens or flips with one IOC market order with a
  ``worst_price`` ``slippage`` from the index, closes (reduce-only) when the
  signal turns against its position, and re-enters after a liquidation
  while its account keeps more than ``MIN_EQUITY_QUOTE``.
* ``Maker``: quotes ``levels`` levels each side of one market around the
  index, half-spread ``base_bps + vol_mult * vol_bps`` (the realised
  volatility per step in basis points), shifted against its inventory; it
  pulls the side that would grow an inventory beyond ``inventory_limit`` x
  its equity, and pulls everything (``CancelAll``) while the volatility per
  step or the last move exceeds its stress thresholds. It requotes with
  ``ReplaceOrder`` by client id (one transaction per changed order: cheaper
  than ``CancelAll`` + ``PlaceOrder``, which re-places every order; see
  ``bench`` figures in the lab's report) and ``PlaceOrder`` where an order
  filled away, only when the index moved by ``requote_frac`` of its
  half-spread since its last quote (checked every ``requote_every`` steps,
  at a phase of its own) or an order is missing; an order within that
  tolerance of its new price keeps its place.
* ``LP``: ``PoolDeposit`` at the start; ``PoolRequestWithdrawal`` of all its
  shares when the pool's NAV per share has fallen ``threshold`` below its
  entry; ``PoolWithdraw`` once the cooldown allows.
* ``KeeperAgent``: the lab does the looking (one shared scan per step, the
  keeper's exact check) and schedules each keeper's ``Liquidate`` at its
  latency; the agent holds its latency, its account and what it has
  pending (see ``lab``).
* ``Attacker``: (1) oracle lag: it knows the path's next point, which the
  index will only reflect one report round later, and trades into quotes
  around the stale index when the gap exceeds ``lag_bps``, closing when the
  gap is gone; (2) thin-book mark push on ALT-PERP: every ``cycle`` steps it
  buys aggressively for ``push_steps`` steps (IOC up to ``push_bps`` above
  the index) to lift the book's premium and the mark, then sells out.

Glossary
--------
equity    quote atoms the agent deposited at the start
index     the oracle's price of a market's asset (core price units)
signal    the index's log-return over a lookback of whole steps
"""

import math
import random
from dataclasses import dataclass, field

from solvent.core.margin import cross_risk
from solvent.core.state import Market, State, TimeInForce
from solvent.core.tx import (
    CancelAll,
    Deposit,
    PlaceOrder,
    PoolDeposit,
    PoolRequestWithdrawal,
    PoolWithdraw,
    ReplaceOrder,
    Tx,
)
from solvent.core.units import QUOTE_ONE, SIZE_ONE
from solvent.defaults import address_of

MIN_EQUITY_QUOTE = 20 * QUOTE_ONE  # below this a trader stops re-entering


@dataclass(slots=True)
class StepView:
    """What agents read in one step; computed once per step by the lab."""

    state: State
    t: int
    k: int  # step number
    index: dict[str, int]  # market -> index price
    returns: dict[str, list[float]]  # market -> log index per step so far (history)
    vol: dict[str, float]  # market -> realised volatility per step (stdev of log-returns)
    last_move: dict[str, float]  # market -> |log-return| of the last step
    next_price: dict[str, int]  # market -> the path's next point (what the oracle has not seen)
    pool_nav_per_share: float  # quote atoms per share, 0 without shares
    _signals: dict[tuple[str, int], float] = field(default_factory=dict)

    def signal(self, market: str, lookback: int) -> float:
        """Return the index's log-return over ``lookback`` steps (cached per step)."""
        key = (market, lookback)
        cached = self._signals.get(key)
        if cached is None:
            hist = self.returns[market]
            cached = hist[-1] - hist[max(0, len(hist) - 1 - lookback)] if hist else 0.0
            self._signals[key] = cached
        return cached


def round_down(value: int, unit: int) -> int:
    return (value // unit) * unit  # floors: a size or bid never exceeds what was asked


def round_up(value: int, unit: int) -> int:
    return -((-value) // unit) * unit  # ceils: an ask never below what was asked


def pareto(rng: random.Random, scale: float, alpha: float = 1.5, cap: float = 50.0) -> float:
    """Return scale * X with X Pareto(alpha) >= 1, capped at ``cap``."""
    return scale * min(cap, rng.paretovariate(alpha))


class Agent:
    """One account of the lab with its own seeded stream."""

    kind = "agent"

    def __init__(self, name: str, seed: str, equity: int) -> None:
        self.name = name
        self.owner = address_of(name)
        self.sub = 0
        self.rng = random.Random(seed)  # a string seed: hashed by sha512, stable across processes
        self.equity = equity
        self.deposited = equity
        self.liquidated = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.owner, self.sub)

    def setup(self, state: State) -> list[Tx]:
        """Return the transactions of the start: a deposit of the agent's equity."""
        return [Deposit(self.owner, self.sub, state.quote, self.equity)] if self.equity > 0 else []

    def act(self, view: StepView) -> list[Tx]:
        return []

    def value(self, state: State) -> int:
        """Return what the agent holds now in quote atoms (its account's value at the mark)."""
        account = state.accounts.get(self.key)
        return 0 if account is None else cross_risk(state, account).value_maint

    def pnl(self, state: State) -> int:
        return self.value(state) - self.deposited


def _ioc(owner: str, market: Market, is_buy: bool, size: int, ref: int, slip: float, reduce: bool) -> Tx:
    worst = ref * (1 + slip) if is_buy else ref * (1 - slip)
    worst_price = (
        round_up(int(worst), market.tick) if is_buy else max(market.tick, round_down(int(worst), market.tick))
    )
    return PlaceOrder(
        owner,
        0,
        market.id,
        is_buy,
        size,
        None,
        TimeInForce.IOC,
        reduce_only=reduce,
        worst_price=worst_price,
    )


class Trader(Agent):
    """A leveraged directional trader: trend following or mean reversion."""

    def __init__(
        self,
        name: str,
        seed: str,
        kind: str,
        market: str,
        equity: int,
        leverage: float,
        lookback: int,
        act_prob: float = 0.08,
        z: float = 1.0,
        slippage: float = 0.01,
    ) -> None:
        super().__init__(name, seed, equity)
        self.kind = kind
        self.market = market
        self.leverage = leverage
        self.lookback = lookback
        self.act_prob = act_prob
        self.z = z
        self.slippage = slippage

    def wants(self, view: StepView) -> int:
        """Return the desired direction: +1 long, -1 short, 0 no view."""
        ret = view.signal(self.market, self.lookback)
        threshold = self.z * max(view.vol[self.market], 1e-5) * math.sqrt(self.lookback)
        if abs(ret) < threshold:
            return 0
        direction = 1 if ret > 0 else -1
        return direction if self.kind == "trend" else -direction

    def act(self, view: StepView) -> list[Tx]:
        state = view.state
        market = state.markets[self.market]
        account = state.accounts.get(self.key)
        if account is None:
            return []
        pos = account.positions.get(self.market)
        size = pos.size if pos is not None else 0
        want = self.wants(view)
        ref = view.index[self.market]
        if want == 0 or ((size > 0) == (want > 0) and size != 0):
            return []  # no view, or already on the right side
        if size != 0:
            # The signal turned against the position: close it (the flip waits for the next act).
            return [_ioc(self.owner, market, size < 0, abs(size), ref, self.slippage, True)]
        value = cross_risk(state, account).value_maint
        if value < MIN_EQUITY_QUOTE:
            return []
        target = round_down(int(value * self.leverage * SIZE_ONE / ref), market.lot)
        if target * ref // SIZE_ONE < 2 * market.min_notional:
            return []
        return [_ioc(self.owner, market, want > 0, target, ref, self.slippage, False)]


class Maker(Agent):
    """A market maker quoting levels each side of one market around the index."""

    kind = "maker"

    def __init__(
        self,
        name: str,
        seed: str,
        market: str,
        equity: int,
        quote_notional: int,
        levels: int = 3,
        base_bps: float = 5.0,
        vol_mult: float = 1.5,
        level_gap_bps: float = 5.0,
        inventory_limit: float = 1.0,
        stress_vol_bps: float = 60.0,
        stress_move_bps: float = 150.0,
        requote_frac: float = 0.5,
        requote_every: int = 3,
    ) -> None:
        super().__init__(name, seed, equity)
        self.market = market
        self.quote_notional = quote_notional  # per level
        self.levels = levels
        self.base_bps = base_bps
        self.vol_mult = vol_mult
        self.level_gap_bps = level_gap_bps
        self.inventory_limit = inventory_limit
        self.stress_vol_bps = stress_vol_bps
        self.stress_move_bps = stress_move_bps
        self.requote_frac = requote_frac
        self.pulled = True  # no quotes yet
        self.pulls = 0  # times it pulled everything under stress
        self.last_ref = 0
        self.last_half = 0.0
        self.quoted: dict[int, tuple[int, int]] = {}  # client id -> (price, size) last sent
        self.requote_every = requote_every
        self.phase = self.rng.randrange(requote_every)

    def stressed(self, view: StepView) -> bool:
        return (
            view.vol[self.market] * 1e4 > self.stress_vol_bps
            or view.last_move[self.market] * 1e4 > self.stress_move_bps
        )

    def act(self, view: StepView) -> list[Tx]:
        state = view.state
        market = state.markets[self.market]
        ref = view.index[self.market]
        if ref <= 0 or self.key not in state.accounts:
            return []
        if self.stressed(view):
            if self.pulled:
                return []
            self.pulled = True
            self.pulls += 1
            self.quoted.clear()
            return [CancelAll(self.owner, self.sub, self.market)]
        book = market.book
        missing = any((self.key, cid) not in book.by_client_id for cid in self.quoted)
        half_bps = self.base_bps + self.vol_mult * view.vol[self.market] * 1e4
        moved = abs(ref - self.last_ref) / ref * 1e4 if self.last_ref else math.inf
        due = moved >= self.requote_frac * half_bps and (view.k + self.phase) % self.requote_every == 0
        if not self.pulled and not missing and not due:
            return []
        account = state.accounts[self.key]
        pos = account.positions.get(self.market)
        inventory = (pos.size * ref // SIZE_ONE) if pos is not None else 0
        limit = self.inventory_limit * max(self.equity, 1)
        skew = max(-1.0, min(1.0, inventory / limit))  # > 0: long, quote lower to sell
        mid = ref * (1 - skew * half_bps / 1e4)
        out: list[Tx] = []
        for side, is_buy in ((0, True), (1, False)):
            blocked = (is_buy and skew >= 1.0) or (not is_buy and skew <= -1.0)
            for level in range(self.levels):
                cid = side * 100 + level + 1
                exists = (self.key, cid) in book.by_client_id
                if blocked:
                    if exists:
                        out.append(CancelAll(self.owner, self.sub, self.market))
                        self.quoted.clear()
                        self.pulled = True
                        return out
                    continue
                off = (half_bps + level * self.level_gap_bps) / 1e4
                off = min(off, 0.04)  # inside the core's 5% price band around the mark
                if is_buy:
                    price = round_down(int(mid * (1 - off)), market.tick)
                else:
                    price = round_up(int(mid * (1 + off)), market.tick)
                price = max(price, market.tick)
                size = round_down(self.quote_notional * SIZE_ONE // price, market.lot)
                if size <= 0:
                    continue
                if exists:
                    was = self.quoted.get(cid)
                    if was is not None and abs(was[0] - price) / price * 1e4 <= self.requote_frac * half_bps:
                        continue  # close enough: keep the order (and its time priority)
                    out.append(ReplaceOrder(self.owner, self.sub, self.market, cid, price, size))
                else:
                    out.append(
                        PlaceOrder(self.owner, self.sub, self.market, is_buy, size, price, client_id=cid)
                    )
                self.quoted[cid] = (price, size)
        self.pulled = False
        self.last_ref = ref
        return out


class LP(Agent):
    """A liquidity provider of the venue's pool."""

    kind = "lp"

    def __init__(self, name: str, seed: str, pool: str, equity: int, threshold: float) -> None:
        super().__init__(name, seed, equity)
        self.pool = pool
        self.threshold = threshold
        self.entry_nav = 0.0
        self.requested = False
        self.withdrawn = False

    def setup(self, state: State) -> list[Tx]:
        return [*super().setup(state), PoolDeposit(self.owner, self.sub, self.pool, self.equity)]

    def act(self, view: StepView) -> list[Tx]:
        nav = view.pool_nav_per_share
        if not self.entry_nav:
            self.entry_nav = nav
            return []
        pool = view.state.pools[self.pool]
        if self.requested:
            pending = pool.pending.get(self.key)
            if pending is not None and view.t >= pending.ready_time and not self.withdrawn:
                self.withdrawn = True
                return [PoolWithdraw(self.owner, self.sub, self.pool)]
            return []
        shares = pool.shares.get(self.key, 0)
        if shares and nav < self.entry_nav * (1 - self.threshold):
            self.requested = True
            return [PoolRequestWithdrawal(self.owner, self.sub, self.pool, shares)]
        return []

    def value(self, state: State) -> int:
        pool = state.pools[self.pool]
        shares = pool.shares.get(self.key, 0)
        pending = pool.pending.get(self.key)
        shares += pending.shares if pending is not None else 0
        from solvent.core.pool import pool_equity  # noqa: PLC0415 (keeps the import list short)

        in_pool = shares * pool_equity(state, pool) // pool.total_shares if pool.total_shares else 0
        return super().value(state) + in_pool


class KeeperAgent(Agent):
    """A keeper: its account, its latency, and the liquidations it has in flight."""

    kind = "keeper"

    def __init__(self, name: str, seed: str, equity: int, latency_s: float) -> None:
        super().__init__(name, seed, equity)
        self.latency_s = latency_s
        self.pending: dict[tuple[str, int, str], int] = {}  # target row -> due or submit time
        self.sent = 0


class Attacker(Agent):
    """Oracle-lag trading on the main market and a thin-book mark push on ALT-PERP."""

    kind = "attacker"

    def __init__(
        self,
        name: str,
        seed: str,
        equity: int,
        lag_market: str | None,
        push_market: str | None,
        lag_bps: float = 30.0,
        cycle: int = 30,
        push_steps: int = 3,
        push_bps: float = 150.0,
        leverage: float = 3.0,
    ) -> None:
        super().__init__(name, seed, equity)
        self.lag_market = lag_market
        self.push_market = push_market
        self.lag_bps = lag_bps
        self.cycle = cycle
        self.push_steps = push_steps
        self.push_bps = push_bps
        self.leverage = leverage
        self.phase = self.rng.randrange(cycle)

    def act(self, view: StepView) -> list[Tx]:
        state = view.state
        account = state.accounts.get(self.key)
        if account is None:
            return []
        value = cross_risk(state, account).value_maint
        out: list[Tx] = []
        if self.lag_market is not None:
            out += self._lag(view, value)
        if self.push_market is not None:
            out += self._push(view, value)
        return out

    def _size(self, market: Market, notional: float, ref: int) -> int:
        return round_down(int(notional * SIZE_ONE / ref), market.lot)

    def _lag(self, view: StepView, value: int) -> list[Tx]:
        assert_market = self.lag_market
        if assert_market is None:
            return []
        market = view.state.markets[assert_market]
        ref = view.index[market.id]
        ahead = view.next_price.get(market.id, ref)
        gap_bps = (ahead - ref) / ref * 1e4
        pos = view.state.accounts[self.key].positions.get(market.id)
        size = pos.size if pos is not None else 0
        if size and (abs(gap_bps) < self.lag_bps / 3 or (size > 0) != (gap_bps > 0)):
            return [_ioc(self.owner, market, size < 0, abs(size), ref, 0.01, True)]
        if not size and abs(gap_bps) >= self.lag_bps and value > MIN_EQUITY_QUOTE:
            q = self._size(market, value * self.leverage / 2, ref)
            if q > 0:
                # Trades into quotes around the stale index, no worse than the price it knows is coming.
                return [_ioc(self.owner, market, gap_bps > 0, q, ref, abs(gap_bps) / 2e4, False)]
        return []

    def _push(self, view: StepView, value: int) -> list[Tx]:
        market_id = self.push_market
        if market_id is None:
            return []
        market = view.state.markets[market_id]
        ref = view.index[market_id]
        pos = view.state.accounts[self.key].positions.get(market_id)
        size = pos.size if pos is not None else 0
        at = (view.k + self.phase) % self.cycle
        if at < self.push_steps and value > MIN_EQUITY_QUOTE:
            q = self._size(market, value * self.leverage / (2 * self.push_steps), ref)
            if q > 0:
                return [_ioc(self.owner, market, True, q, ref, self.push_bps / 1e4, False)]
        elif at == self.push_steps + 5 and size > 0:
            return [_ioc(self.owner, market, False, size, ref, self.push_bps / 1e4, True)]
        return []
