"""
The protocol state as plain typed records.

Introduction
------------
Everything the protocol knows lives in one ``State``: listed assets, oracle
feeds, markets (with their order books), liquidity pools, accounts and the
protocol's own balances. Records are mutable ``slots`` dataclasses; only the
engine's handlers mutate them. Units follow ``core.units``.

Glossary
--------
account key   ``(owner, subaccount)``: an Ethereum address and a number
cross bucket  the subaccount's balances plus its non-isolated positions
isolated      a position margined only by its own ``isolated_margin``
"""

from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any

from sortedcontainers import SortedDict, SortedList

from solvent.core.units import AccountKey


class TimeInForce(StrEnum):
    GTC = "GTC"  # good till cancelled: the rest rests
    IOC = "IOC"  # immediate or cancel: the rest is cancelled
    FOK = "FOK"  # fill or kill: all or nothing
    POST_ONLY = "POST_ONLY"  # refused if it would take liquidity


class TriggerKind(StrEnum):
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"  # attached to a position, closes it at market
    STOP_LOSS = "STOP_LOSS"  # attached to a position, closes it at market


class InstrumentKind(StrEnum):
    PERPETUAL = "PERPETUAL"  # no expiry; funding ties it to the index
    FUTURE = "FUTURE"  # dated: settles at the TWAP of the index, no funding
    CALL = "CALL"  # European call, cash-settled on the TWAP
    PUT = "PUT"  # European put, cash-settled on the TWAP


class StpMode(StrEnum):
    CANCEL_RESTING = "CANCEL_RESTING"
    CANCEL_TAKER = "CANCEL_TAKER"


@dataclass(slots=True)
class Asset:
    """A collateral asset. The quote asset has weight 1 and no oracle."""

    symbol: str
    decimals: int
    init_weight: int  # ratio: value counted for opening risk
    maint_weight: int  # ratio: value counted against liquidation (>= init)
    deposit_cap: int  # asset atoms: cap on net deposits of all accounts
    is_quote: bool
    total_deposits: int = 0  # asset atoms deposited - withdrawn, all accounts
    domain: str = ""  # risk domain whose fund covers deficits left by this collateral

    @property
    def atoms_per_unit(self) -> int:
        return int(10**self.decimals)


@dataclass(slots=True)
class Reporter:
    """The last report of one authorised reporter and its record."""

    price: int = 0
    timestamp: int = 0  # 0: never reported
    accepted: int = 0
    discarded: int = 0
    flagged: bool = False  # the latest report was an outlier when it arrived
    outlier: bool = False  # the latest report was an outlier in the last aggregation


@dataclass(slots=True)
class OracleFeed:
    """Aggregation of reports into the index price of one asset."""

    asset: str
    reporters: dict[str, Reporter]
    quorum: int
    staleness_s: int
    max_deviation: int  # ratio: reports farther than this from the median are dropped
    band: int  # ratio: larger index moves are not taken at once
    band_confirmations: int  # consecutive out-of-band aggregates that confirm a jump
    vol_lambda: int  # ratio: EWMA decay per volatility sample
    vol_interval_s: int  # minimum seconds between volatility samples
    index_price: int = 0  # 0: never had a quorum
    index_time: int = 0  # block time the index was last taken
    quorum_time: int = 0  # block time of the last aggregate with a quorum (taken or held)
    pending_price: int = 0  # last out-of-band aggregate, awaiting confirmation
    pending_count: int = 0
    pending_time: int = 0  # block time of the last confirmation
    band_tripped: bool = False  # an out-of-band move is pending (read by breakers)
    vol_variance: int = 0  # ratio: EWMA of squared log-returns, per hour
    vol_sigma: int = 0  # ratio: sqrt(vol_variance), the hourly realised volatility
    vol_last_price: int = 0
    vol_last_time: int = 0
    move_anchor_price: int = 0  # index at the start of the current move window
    move_anchor_time: int = 0


@dataclass(slots=True)
class VolReporter:
    """The last volatility report of one authorised reporter."""

    atm_vol: int = 0  # ratio, annualised
    skew: int = 0  # signed ratio: vol per unit of log-moneyness
    curvature: int = 0  # signed ratio: vol per unit of log-moneyness squared
    timestamp: int = 0  # 0: never reported


@dataclass(slots=True)
class VolFeed:
    """Aggregated implied-volatility smile of one underlying at one expiry (see core.vol_oracle)."""

    id: str
    asset: str  # the price feed of the underlying
    expiry: int  # unix seconds
    reporters: dict[str, VolReporter]
    quorum: int
    staleness_s: int
    max_deviation: int  # ratio: reports whose ATM vol is farther than this from the median are dropped
    min_vol: int  # ratio: the smile is clamped to [min_vol, max_vol]
    max_vol: int
    atm_vol: int = 0  # 0: never had a quorum
    skew: int = 0
    curvature: int = 0
    quorum_time: int = 0  # block time of the last aggregate with a quorum


@dataclass(slots=True)
class Expiry:
    """How a dated future or an option expires and settles (see core.instruments).

    The settlement price is the average of the index over the fresh seconds
    of ``[time - window_s, time)``; when fewer than ``min_fresh_s`` of them
    were fresh, the window runs on past expiry until it has that many.
    """

    time: int  # unix seconds: trading stops
    window_s: int
    min_fresh_s: int
    strike: int = 0  # price; options only
    contract_size: int = 0  # size atoms of the underlying per contract; options only
    vol_feed: str = ""  # options only
    twap_sum: int = 0  # Σ index * fresh seconds counted so far
    twap_seconds: int = 0  # fresh seconds counted so far
    settlement_price: int = 0  # the TWAP, set by Settle
    settled: bool = False


@dataclass(slots=True)
class Order:
    """A resting limit order."""

    id: int
    account: AccountKey
    market: str
    is_buy: bool
    price: int
    size: int  # size atoms still open
    reduce_only: bool
    client_id: int | None


@dataclass(slots=True)
class Trigger:
    """A trigger order waiting for the mark price to cross ``trigger_price``."""

    id: int
    account: AccountKey
    market: str
    kind: TriggerKind
    is_buy: bool
    trigger_price: int
    fires_above: bool  # fires when mark >= trigger (else mark <= trigger)
    size: int  # size atoms; 0 = the whole position when it fires
    limit_price: int  # STOP_LIMIT only, else 0
    reduce_only: bool
    client_id: int | None


@dataclass(slots=True)
class Book:
    """Price levels of one market. A level maps order id -> Order in time order."""

    bids: SortedDict  # key -price -> dict[int, Order]
    asks: SortedDict  # key price -> dict[int, Order]
    orders: dict[int, Order] = field(default_factory=dict)
    by_account: dict[AccountKey, set[int]] = field(default_factory=dict)
    by_client_id: dict[tuple[AccountKey, int], int] = field(default_factory=dict)


def new_book() -> Book:
    """Return an empty book."""
    return Book(bids=SortedDict(), asks=SortedDict())


@dataclass(slots=True)
class MarginParams:
    """How a market's margin fractions grow with size and volatility (see docs/margin.md)."""

    base_imf: int  # ratio
    base_mmf: int  # ratio
    size_step: int  # quote atoms: notional at which the size add-on equals its factor
    imf_size_factor: int  # ratio
    mmf_size_factor: int  # ratio
    vol_ref: int  # ratio: hourly volatility below which no add-on applies
    imf_vol_factor: int  # ratio
    mmf_vol_factor: int  # ratio
    max_leverage: int  # whole number: cap a user may not exceed
    option_floor: int = 0  # ratio: a short option's requirement never falls below this share of f * U


@dataclass(slots=True)
class Domain:
    """A risk domain: markets that share an insurance fund, caps and liquidation rules.

    The fund itself is ``State.insurance[domain]``. See docs/liquidation.md.
    """

    id: str
    keeper_fee: int  # ratio of closed notional paid to the keeper
    insurance_fee: int  # ratio of closed notional paid to the insurance fund
    close_buffer: int  # ratio >= 1: close until value_maint >= close_buffer * MM
    liq_band: int  # ratio: liquidation fills within mark * (1 ± liq_band)
    collateral_discount: int  # ratio: collateral sold at index * (1 - discount)
    liq_cap_notional: int  # quote atoms liquidated per market per window
    liq_window_s: int
    oi_cap_notional: int  # quote atoms of open interest over the domain's markets; 0 = none
    divergence_limit: int  # ratio: |premium EMA| beyond it => reduce-only; 0 = off
    vol_halt: int  # ratio: hourly volatility beyond it => reduce-only; 0 = off
    move_limit: int  # ratio: index move within move_window_s beyond it => reduce-only; 0 = off
    move_window_s: int
    backstop_max_skew: int  # ratio: |pool position notional| <= it * pool equity; 0 = no backstop
    mmf_vol_step: int  # ratio per hour: how fast the volatility add-on of mmf may rise; 0 = at once


@dataclass(slots=True)
class Market:
    """A perpetual swap, dated future or option on one oracle asset, settled in the quote asset.

    For an option, one size unit (``SIZE_ONE``) is one contract of
    ``expiry.contract_size`` size atoms of the underlying, and prices are premiums per contract.
    """

    id: str
    asset: str  # the oracle feed of the underlying
    domain: str  # risk domain (insurance fund)
    tick: int  # price units
    lot: int  # size atoms
    min_notional: int  # quote atoms
    margin: MarginParams
    maker_fee: int  # signed ratio; negative = rebate
    taker_fee: int  # ratio; >= |maker_fee|
    price_band: int  # ratio: limit prices within mark*(1 ± band)
    mark_band: int  # ratio: mark within index*(1 ± band)
    premium_tau_s: int  # seconds: EMA time constant of the premium
    impact_notional: int  # quote atoms: depth for impact bid/ask
    funding_cap: int  # ratio per hour
    funding_interest: int  # ratio per hour
    funding_premium_hours: int  # the premium is paid over this many hours
    max_orders_per_account: int
    stp_mode: StpMode
    pool: str | None  # pool that quotes this market, if any
    book: Book = field(default_factory=new_book)
    triggers_above: SortedList = field(default_factory=SortedList)  # (price, id)
    triggers_below: SortedList = field(default_factory=SortedList)  # (-price, id)
    triggers: dict[int, Trigger] = field(default_factory=dict)
    mark_price: int = 0
    premium_ema: int = 0  # signed ratio
    premium_time: int = 0
    funding_rate: int = 0  # signed ratio per hour; > 0: longs pay shorts
    cum_funding: int = 0  # quote atoms * ONE per base unit, since listing
    funding_time: int = 0
    funding_balance: int = 0  # quote atoms in transit between payers and receivers
    open_interest: int = 0  # size atoms of all longs (= all shorts)
    oi_cap: int = 0  # size atoms per side; 0 = none
    breakers: dict[str, str] = field(default_factory=dict)  # tripped breaker -> its effect
    mm_sigma: int = 0  # ratio: the volatility the maintenance fraction uses (rate-limited)
    mm_sigma_time: int = 0
    liq_window_start: int = 0
    liq_window_notional: int = 0  # quote atoms liquidated in the current window
    kind: InstrumentKind = InstrumentKind.PERPETUAL
    expiry: Expiry | None = None  # dated futures and options
    underlying_price: int = 0  # options: price of one contract's underlying at the last mark


@dataclass(slots=True)
class Position:
    """A signed position. Trades move quote at once, so value = size * mark."""

    size: int  # size atoms; > 0 long
    cost: int  # quote atoms paid for the open size (signed), for entry price
    funding_index: int  # market.cum_funding when funding was last settled
    isolated: bool = False  # margined by isolated_margin alone
    isolated_margin: int = 0  # quote atoms; isolated positions only
    realised_pnl: int = 0  # quote atoms, for reporting


@dataclass(slots=True)
class MarketSetting:
    """A subaccount's choices for one market."""

    leverage: int = 0  # whole number; 0 = the protocol's maximum
    isolated: bool = False


@dataclass(slots=True)
class Account:
    """One margin account: collateral balances and positions."""

    owner: str
    index: int
    balances: dict[str, int]
    positions: dict[str, Position]
    settings: dict[str, MarketSetting] | None = None  # created on first use
    portfolio: bool = False  # portfolio margin per underlying (see core.portfolio)


@dataclass(slots=True)
class PoolWithdrawal:
    shares: int
    ready_time: int


@dataclass(slots=True)
class Pool:
    """A liquidity pool: LPs' quote, quoting every market it serves."""

    id: str
    account: AccountKey  # the pool's own margin account
    half_spread: int  # ratio
    skew_factor: int  # ratio: extra price offset at full skew
    max_skew: int  # ratio: |position notional| per market <= max_skew * equity
    lp_fee_share: int  # ratio of the taker fee paid to the pool on its fills
    cooldown_s: int
    total_shares: int = 0
    shares: dict[AccountKey, int] = field(default_factory=dict)
    pending: dict[AccountKey, PoolWithdrawal] = field(default_factory=dict)


@dataclass(slots=True)
class PortfolioParams:
    """The scenario grid of portfolio margin on one underlying (see core.portfolio)."""

    move: int  # ratio: the largest price move tried, before the volatility add-on
    steps: int  # price moves tried on each side of 0 (moves k * range / steps, k = -steps..steps)
    vol_up: int  # ratio: implied vols scaled by (1 + vol_up) ...
    vol_down: int  # ratio: ... and by (1 - vol_down)
    vol_ref: int  # ratio: hourly realised volatility above which the range widens
    move_vol_factor: int  # ratio: range += factor * max(0, sigma - vol_ref)
    max_move: int  # ratio < 1: cap on the widened range
    short_option_min: int  # ratio of the underlying notional each short option contract adds
    im_factor: int  # ratio >= 1: initial = maintenance * im_factor


@dataclass(slots=True)
class Twap:
    """A TWAP order the state machine executes in slices, one every ``interval_s``."""

    id: int
    account: AccountKey
    market: str
    is_buy: bool
    remaining: int  # size atoms not yet sent as slices
    slices_left: int
    interval_s: int
    next_time: int  # block time of the next slice
    worst_price: int | None  # no slice fills beyond this price
    reduce_only: bool


@dataclass(slots=True)
class NonceWindow:
    """The nonces a signer has used: the highest, and which of the 64 below it (see core.auth)."""

    high: int = 0
    mask: int = 0  # bit i set: nonce high - 1 - i was used


@dataclass(frozen=True, slots=True)
class AgentGrant:
    """What an agent key may do for its owner: trade, never move money out (see core.auth)."""

    subaccounts: tuple[int, ...] = ()  # empty: every subaccount
    markets: tuple[str, ...] = ()  # empty: every market
    expires: int = 0  # block time after which the grant lapses; 0: never


@dataclass(slots=True)
class State:
    """The whole protocol state."""

    governor: str
    quote: str
    time: int = 0
    assets: dict[str, Asset] = field(default_factory=dict)
    feeds: dict[str, OracleFeed] = field(default_factory=dict)
    markets: dict[str, Market] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    accounts: dict[AccountKey, Account] = field(default_factory=dict)
    fee_balance: int = 0  # quote atoms earned by the protocol
    insurance: dict[str, int] = field(default_factory=dict)  # domain -> quote atoms
    domains: dict[str, Domain] = field(default_factory=dict)
    vol_feeds: dict[str, VolFeed] = field(default_factory=dict)
    portfolio: dict[str, PortfolioParams] = field(default_factory=dict)  # underlying -> its grid
    next_order_id: int = 1
    deposited: dict[str, int] = field(default_factory=dict)  # asset -> atoms ever deposited
    withdrawn: dict[str, int] = field(default_factory=dict)  # asset -> atoms ever withdrawn
    nonces: dict[str, NonceWindow] = field(default_factory=dict)  # signer -> nonces used
    agents: dict[str, dict[str, AgentGrant]] = field(default_factory=dict)  # owner -> agent -> grant
    scheduled_cancels: dict[AccountKey, int] = field(default_factory=dict)  # dead-man's switches
    twaps: dict[int, Twap] = field(default_factory=dict)
    next_twap_id: int = 1
    next_withdrawal_id: int = 0  # ids of withdrawals paid on chain: 0, 1, 2, ... (docs/settlement.md)
    deposits_credited: int = 0  # chain deposits 0 .. n-1 are credited (ChainDeposit)
    forced_served: int = 0  # forced-withdrawal requests 0 .. m-1 are served (ForcedWithdrawal)
    chain_settled: bool = False  # one-way (SettleOnChain): plain Deposit refused, ChainDeposit only

    def __setstate__(self, state: tuple[object, dict[str, Any]]) -> None:
        """Restore a pickle (a node's snapshot, a deep copy): a field added to State since the
        pickle was written takes its default, as if the state had been built with it."""
        _, slots = state  # a slots class pickles as (None, {field: value})
        for f in fields(self):
            if f.name in slots:
                value = slots[f.name]
            elif f.default is not MISSING:
                value = f.default
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"Invariant: a pickled State without its required field {f.name!r}")
            setattr(self, f.name, value)


POOL_OWNER_PREFIX = "pool:"


def pool_account_key(pool_id: str) -> AccountKey:
    """Return the account key under which a pool holds its positions."""
    return (POOL_OWNER_PREFIX + pool_id, 0)
