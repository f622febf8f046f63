"""
Transactions: one record per action.

Introduction
------------
Every state change is one of these records passed to ``engine.apply``.
Amounts are in atoms of their asset, sizes in size atoms, prices in quote
atoms per base unit (see ``core.units``). User transactions name their
``owner``; the node checks the owner's (or an agent's) signature before a
transaction reaches the core, so the core trusts ``owner`` as the sender.
Governance transactions carry ``sender`` and are accepted only from the
state's governor.

``codec.decode_tx`` builds these records from JSON and refuses malformed
payloads; ``TX_TYPES`` maps each type name to its record.
"""

from dataclasses import dataclass

from solvent.core.state import InstrumentKind, StpMode, TimeInForce, TriggerKind

# --- clock -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetTime:
    """Advance the protocol clock (the block time). Never goes backwards."""

    time: int


# --- governance --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListAsset:
    """List a collateral asset (and, for non-quote assets, its oracle feed)."""

    sender: str
    symbol: str
    decimals: int
    init_weight: int
    maint_weight: int
    deposit_cap: int
    reporters: tuple[str, ...] = ()
    quorum: int = 1
    staleness_s: int = 60
    max_deviation: int = 2 * 10**16
    band: int = 10**17
    band_confirmations: int = 3
    vol_lambda: int = 94 * 10**16
    vol_interval_s: int = 60
    domain: str = ""  # risk domain of a non-quote asset (its fund covers collateral deficits)


@dataclass(frozen=True, slots=True)
class ListOracle:
    """Create an index feed for an underlying that is not a collateral asset."""

    sender: str
    asset: str
    reporters: tuple[str, ...]
    quorum: int
    staleness_s: int = 60
    max_deviation: int = 2 * 10**16
    band: int = 10**17
    band_confirmations: int = 3
    vol_lambda: int = 94 * 10**16
    vol_interval_s: int = 60


@dataclass(frozen=True, slots=True)
class ListMarket:
    """List a market on an existing oracle feed: a perpetual, or a dated series.

    A ``FUTURE`` needs ``expiry`` and ``settle_window_s``; a ``CALL`` or ``PUT``
    also ``strike``, ``contract_size`` and ``vol_feed`` (see core.instruments).
    """

    sender: str
    market: str
    asset: str
    domain: str
    tick: int
    lot: int
    min_notional: int
    base_imf: int
    base_mmf: int
    max_leverage: int
    size_step: int = 10**12
    imf_size_factor: int = 0
    mmf_size_factor: int = 0
    vol_ref: int = 10**16
    imf_vol_factor: int = 0
    mmf_vol_factor: int = 0
    maker_fee: int = 0
    taker_fee: int = 0
    price_band: int = 5 * 10**16
    mark_band: int = 5 * 10**15
    premium_tau_s: int = 300
    impact_notional: int = 10_000 * 10**6
    funding_cap: int = 5 * 10**15
    funding_interest: int = 0
    funding_premium_hours: int = 8
    max_orders_per_account: int = 200
    stp_mode: StpMode = StpMode.CANCEL_RESTING
    pool: str | None = None
    oi_cap: int = 0  # size atoms per side; 0 = none
    kind: InstrumentKind = InstrumentKind.PERPETUAL
    expiry: int = 0  # unix seconds; dated markets only
    settle_window_s: int = 0  # seconds of index averaged before expiry
    min_fresh_s: int = 0  # fresh seconds the average needs (0: half the window)
    strike: int = 0  # price; options only
    contract_size: int = 0  # size atoms of the underlying per contract; options only
    vol_feed: str = ""  # options only
    option_floor: int = 5 * 10**17  # ratio: floor of a short option's requirement (share of f * U)


@dataclass(frozen=True, slots=True)
class ListVolOracle:
    """Create the implied-volatility feed of one underlying at one expiry."""

    sender: str
    feed: str
    asset: str
    expiry: int
    reporters: tuple[str, ...]
    quorum: int
    staleness_s: int = 300
    max_deviation: int = 10**17  # ratio: 10 vol points from the median ATM vol
    min_vol: int = 10**16  # 1%
    max_vol: int = 5 * 10**18  # 500%


@dataclass(frozen=True, slots=True)
class SetPortfolioParams:
    """Set (or replace) the portfolio-margin scenario grid of one underlying."""

    sender: str
    asset: str
    move: int
    steps: int
    vol_up: int
    vol_down: int
    vol_ref: int
    move_vol_factor: int
    max_move: int
    short_option_min: int
    im_factor: int


@dataclass(frozen=True, slots=True)
class ListDomain:
    """Create a risk domain: its insurance fund (empty), caps, liquidation and breaker rules."""

    sender: str
    domain: str
    keeper_fee: int = 5 * 10**15
    insurance_fee: int = 10**16
    close_buffer: int = 125 * 10**16
    liq_band: int = 2 * 10**16
    collateral_discount: int = 2 * 10**16
    liq_cap_notional: int = 10**13
    liq_window_s: int = 60
    oi_cap_notional: int = 0
    divergence_limit: int = 0
    vol_halt: int = 0
    move_limit: int = 0
    move_window_s: int = 3600
    backstop_max_skew: int = 0
    mmf_vol_step: int = 0


@dataclass(frozen=True, slots=True)
class SetDomain:
    """Change some parameters of a risk domain; a field left None keeps its value."""

    sender: str
    domain: str
    keeper_fee: int | None = None
    insurance_fee: int | None = None
    close_buffer: int | None = None
    liq_band: int | None = None
    collateral_discount: int | None = None
    liq_cap_notional: int | None = None
    liq_window_s: int | None = None
    oi_cap_notional: int | None = None
    divergence_limit: int | None = None
    vol_halt: int | None = None
    move_limit: int | None = None
    move_window_s: int | None = None
    backstop_max_skew: int | None = None
    mmf_vol_step: int | None = None


@dataclass(frozen=True, slots=True)
class SetMarketLimits:
    """Change a market's open-interest cap and/or put it in (or out of) reduce-only mode."""

    sender: str
    market: str
    oi_cap: int | None = None
    reduce_only: bool | None = None


@dataclass(frozen=True, slots=True)
class CreatePool:
    """Create a liquidity pool; markets opt in with ``ListMarket(pool=...)``."""

    sender: str
    pool: str
    half_spread: int
    skew_factor: int
    max_skew: int
    lp_fee_share: int
    cooldown_s: int


@dataclass(frozen=True, slots=True)
class SetAssetWeights:
    """Change a collateral asset's weights (e.g. set the initial weight to 0 in a depeg)."""

    sender: str
    symbol: str
    init_weight: int
    maint_weight: int


@dataclass(frozen=True, slots=True)
class SetReporters:
    """Replace the authorised reporter set of a feed."""

    sender: str
    asset: str
    reporters: tuple[str, ...]
    quorum: int


@dataclass(frozen=True, slots=True)
class SettleOnChain:
    """Settle the venue on chain from now on, for ever (``docs/settlement.md``): plain ``Deposit``
    is refused (``DepositOnChainOnly``), money enters only as a ``ChainDeposit`` from the vault.

    One-way: there is no transaction that turns it off, and a second one is refused
    (``AlreadyExists``). A node applies it at genesis when ``GenesisConfig.chain_settled``.
    """

    sender: str


# --- oracle ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceReport:
    """One reporter's price for one asset at ``timestamp``."""

    reporter: str
    asset: str
    price: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class VolReport:
    """One reporter's implied-volatility smile for one feed at ``timestamp``.

    vol(k) = atm_vol + skew * k + curvature * k**2 with k = ln(strike / forward).
    """

    reporter: str
    feed: str
    atm_vol: int
    skew: int
    curvature: int
    timestamp: int


# --- ledger ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deposit:
    """Credit collateral (the node ingests it from the settlement chain)."""

    owner: str
    subaccount: int
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Debit collateral to be paid out on chain; refused below initial margin."""

    owner: str
    subaccount: int
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class ChainDeposit:
    """Credit a deposit the vault received on chain (``docs/settlement.md``); operator only.

    ``deposit_id`` is the vault's sequential id: the core credits ids 0, 1, 2, ...
    exactly once each, in order. ``block_hash`` (0x and 64 hex digits) names the chain
    block holding the deposit, so that anyone can check the credit against the chain.
    """

    deposit_id: int
    block_hash: str
    owner: str
    subaccount: int
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class ForcedWithdrawal:
    """Serve a forced-withdrawal request made on chain (``docs/settlement.md``); operator only.

    Served in ``request_id`` order; it withdraws as much of ``amount`` as a ``Withdraw``
    would be allowed (possibly 0) and always advances ``State.forced_served``.
    """

    request_id: int
    owner: str
    subaccount: int
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move collateral between two subaccounts of the same owner."""

    owner: str
    from_subaccount: int
    to_subaccount: int
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class FundInsurance:
    """Move quote from a subaccount into a risk domain's insurance fund (a donation)."""

    owner: str
    subaccount: int
    domain: str
    amount: int


# --- liquidation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Liquidate:
    """Close part of an account's position below maintenance (anyone may send it).

    ``keeper``/``keeper_subaccount`` receive the keeper's reward; ``size``
    caps the closed size (None: as much as the rules allow).
    """

    keeper: str
    keeper_subaccount: int
    owner: str
    subaccount: int
    market: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class LiquidateCollateral:
    """Buy a liquidatable, position-free account's collateral at index * (1 - discount)."""

    keeper: str
    keeper_subaccount: int
    owner: str
    subaccount: int
    asset: str
    amount: int | None = None


# --- expiry ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settle:
    """Settle an expired future or option at its TWAP (anyone may send it)."""

    sender: str
    market: str


# --- orders ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A limit order (``price`` set) or a market order (``price`` None, ``worst_price`` optional)."""

    owner: str
    subaccount: int
    market: str
    is_buy: bool
    size: int
    price: int | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    client_id: int | None = None
    worst_price: int | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one open order by ``order_id`` or by ``client_id``."""

    owner: str
    subaccount: int
    market: str
    order_id: int | None = None
    client_id: int | None = None


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order and trigger of the subaccount (in one market, or all)."""

    owner: str
    subaccount: int
    market: str | None = None


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Change an open order's price and/or size; keeps priority only if it just shrinks."""

    owner: str
    subaccount: int
    market: str
    order_id: int
    price: int
    size: int


@dataclass(frozen=True, slots=True)
class PlaceTrigger:
    """A stop or take-profit/stop-loss order that fires on the mark price."""

    owner: str
    subaccount: int
    market: str
    kind: TriggerKind
    trigger_price: int
    is_buy: bool | None = None  # STOP_*: required; TP/SL: derived from the position
    size: int = 0  # 0 with TP/SL: the whole position when it fires
    limit_price: int | None = None  # STOP_LIMIT only
    reduce_only: bool = False
    client_id: int | None = None


@dataclass(frozen=True, slots=True)
class CancelTrigger:
    owner: str
    subaccount: int
    market: str
    trigger_id: int


# --- settings ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetLeverage:
    """Cap leverage in a market: initial requirement >= 1/leverage."""

    owner: str
    subaccount: int
    market: str
    leverage: int


@dataclass(frozen=True, slots=True)
class SetMarginMode:
    """Switch a market between cross and isolated; only with no position or order in it."""

    owner: str
    subaccount: int
    market: str
    isolated: bool


@dataclass(frozen=True, slots=True)
class SetPortfolioMargin:
    """Margin the subaccount's cross positions per underlying by scenarios (or back to simple)."""

    owner: str
    subaccount: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class MoveIsolatedMargin:
    """Move quote between the cross balance and an isolated position (> 0: into it)."""

    owner: str
    subaccount: int
    market: str
    amount: int


@dataclass(frozen=True, slots=True)
class SettleFunding:
    """Settle the account's accrued funding now (it also settles on every touch)."""

    owner: str
    subaccount: int


# --- pool --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolDeposit:
    """Move quote from the subaccount into a pool for shares."""

    owner: str
    subaccount: int
    pool: str
    amount: int


@dataclass(frozen=True, slots=True)
class PoolRequestWithdrawal:
    """Lock shares for withdrawal; they can be redeemed after the pool's cooldown."""

    owner: str
    subaccount: int
    pool: str
    shares: int


@dataclass(frozen=True, slots=True)
class PoolWithdraw:
    """Redeem locked shares at the pool's current share value."""

    owner: str
    subaccount: int
    pool: str


# --- node conveniences: a dead-man's switch, cancel-and-replace by client id ----------------


@dataclass(frozen=True, slots=True)
class ScheduleCancel:
    """A dead-man's switch: cancel every order and trigger of the subaccount at block time
    ``at`` unless this is sent again with a later time (or ``at = 0``, which disarms it)."""

    owner: str
    subaccount: int
    at: int


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    """Cancel-and-replace, atomically, the open order with this client id: a new price and
    size under the same client id (``ModifyOrder`` addressed by client id)."""

    owner: str
    subaccount: int
    market: str
    client_id: int
    price: int
    size: int


@dataclass(frozen=True, slots=True)
class PlaceTwap:
    """Buy or sell ``size`` over ``duration_s`` in ``slices`` equal market orders (IOC, at most
    ``worst_price``), one per ``duration_s / slices`` seconds, the first at the next block."""

    owner: str
    subaccount: int
    market: str
    is_buy: bool
    size: int
    duration_s: int
    slices: int
    worst_price: int | None = None
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class CancelTwap:
    """Stop a TWAP order; slices already sent stay done."""

    owner: str
    subaccount: int
    twap_id: int


@dataclass(frozen=True, slots=True)
class PlaceScale:
    """``count`` resting limit orders of equal size spread evenly from ``low_price`` to
    ``high_price`` (both included), placed all together or not at all."""

    owner: str
    subaccount: int
    market: str
    is_buy: bool
    size: int
    low_price: int
    high_price: int
    count: int
    reduce_only: bool = False


# --- agent keys --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthoriseAgent:
    """Let ``agent`` trade for the owner (orders, triggers, leverage), never withdraw or
    transfer; optionally only on some subaccounts and markets, until ``expires`` (0: never).
    Authorising an agent again replaces its grant."""

    owner: str
    agent: str
    subaccounts: tuple[int, ...] = ()
    markets: tuple[str, ...] = ()
    expires: int = 0


@dataclass(frozen=True, slots=True)
class RevokeAgent:
    """Withdraw an agent's grant at once."""

    owner: str
    agent: str


# --- the signed envelope ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signed:
    """A transaction as the node received it: ``signer`` is the address its signature
    recovers to (the node checks the signature; the core checks what the signer may do),
    ``nonce`` one of the signer's unused nonces, ``expires`` a block-time deadline (0: none).
    Not a type of its own in ``TX_TYPES``: the node builds it (see core.auth)."""

    signer: str
    nonce: int
    expires: int
    payload: "Tx"


Tx = (
    SetTime
    | ListAsset
    | ListOracle
    | ListMarket
    | CreatePool
    | SetAssetWeights
    | SetReporters
    | SettleOnChain
    | PriceReport
    | Deposit
    | Withdraw
    | ChainDeposit
    | ForcedWithdrawal
    | Transfer
    | PlaceOrder
    | CancelOrder
    | CancelAll
    | ModifyOrder
    | PlaceTrigger
    | CancelTrigger
    | SetLeverage
    | SetMarginMode
    | MoveIsolatedMargin
    | SettleFunding
    | PoolDeposit
    | PoolRequestWithdrawal
    | PoolWithdraw
    | ListDomain
    | SetDomain
    | SetMarketLimits
    | FundInsurance
    | Liquidate
    | LiquidateCollateral
    | ListVolOracle
    | SetPortfolioParams
    | VolReport
    | Settle
    | SetPortfolioMargin
    | AuthoriseAgent
    | RevokeAgent
    | ScheduleCancel
    | ReplaceOrder
    | PlaceTwap
    | CancelTwap
    | PlaceScale
    | Signed
)

TX_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        SetTime,
        ListAsset,
        ListOracle,
        ListMarket,
        CreatePool,
        SetAssetWeights,
        SetReporters,
        SettleOnChain,
        PriceReport,
        Deposit,
        Withdraw,
        ChainDeposit,
        ForcedWithdrawal,
        Transfer,
        PlaceOrder,
        CancelOrder,
        CancelAll,
        ModifyOrder,
        PlaceTrigger,
        CancelTrigger,
        SetLeverage,
        SetMarginMode,
        MoveIsolatedMargin,
        SettleFunding,
        PoolDeposit,
        PoolRequestWithdrawal,
        PoolWithdraw,
        ListDomain,
        SetDomain,
        SetMarketLimits,
        FundInsurance,
        Liquidate,
        LiquidateCollateral,
        ListVolOracle,
        SetPortfolioParams,
        VolReport,
        Settle,
        SetPortfolioMargin,
        AuthoriseAgent,
        RevokeAgent,
        ScheduleCancel,
        ReplaceOrder,
        PlaceTwap,
        CancelTwap,
        PlaceScale,
    )
}
