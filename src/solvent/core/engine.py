"""
The engine: ``apply(state, tx) -> events``, the one entry point of every state change.

Introduction
------------
``apply`` dispatches a transaction to its handler. Every handler validates
completely before it mutates (``# VALIDATE`` / ``# APPLY``), and the
matching engine plans before it applies, so a refused transaction raises a
``ProtocolError`` and leaves the state byte-for-byte as it was, without the
cost of copying the state. Tests check this after every refused
transaction by comparing ``state_hash`` before and after.

``preview`` answers "what would this do?" without changing anything: it
applies the transaction to a shadow of the state whose accounts are copied
on first touch, and reports the events and the account's margin after.
"""

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from solvent.core import algos, auth, governance, ledger, liquidation, orders, pool, settlement
from solvent.core.breakers import (
    sync_divergence,
    sync_feed_breakers,
    sync_stale_breakers,
    sync_vol_breakers,
    update_move_anchor,
)
from solvent.core.errors import AmountTooLarge, Malformed, ProtocolError, TimeWentBackwards
from solvent.core.events import Event, event
from solvent.core.funding import accrue, follow_volatility, update_mark
from solvent.core.instruments import (
    accumulate_twaps,
    is_option,
    refresh_option_mark,
    refresh_option_marks,
)
from solvent.core.margin import Risk, bucket_risk, cross_risk, estimate_liquidation_price
from solvent.core.oracle import record_report, validate_report
from solvent.core.state import Account, State
from solvent.core.tx import (
    TX_TYPES,
    AuthoriseAgent,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    CancelTwap,
    ChainDeposit,
    CreatePool,
    Deposit,
    ForcedWithdrawal,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    ListAsset,
    ListDomain,
    ListMarket,
    ListOracle,
    ListVolOracle,
    ModifyOrder,
    MoveIsolatedMargin,
    PlaceOrder,
    PlaceScale,
    PlaceTrigger,
    PlaceTwap,
    PoolDeposit,
    PoolRequestWithdrawal,
    PoolWithdraw,
    PriceReport,
    ReplaceOrder,
    RevokeAgent,
    ScheduleCancel,
    SetAssetWeights,
    SetDomain,
    SetLeverage,
    SetMarginMode,
    SetMarketLimits,
    SetPortfolioMargin,
    SetPortfolioParams,
    SetReporters,
    SetTime,
    Settle,
    SettleFunding,
    SettleOnChain,
    Signed,
    Transfer,
    Tx,
    VolReport,
    Withdraw,
)
from solvent.core.units import MAX_AMOUNT, AccountKey, format_account
from solvent.core.vol_oracle import record_vol_report, validate_vol_report


def genesis(governor: str, quote: str = "USDC") -> State:
    """Return an empty state governed by ``governor``, settling in ``quote``."""
    ledger.check_address(governor)
    return State(governor=governor, quote=quote)


def process_set_time(state: State, tx: SetTime) -> list[Event]:
    if tx.time < state.time:
        raise TimeWentBackwards(f"time {tx.time} is before the current time {state.time}")
    if tx.time > MAX_AMOUNT:
        raise AmountTooLarge("time out of range")
    # The index in force since the last block counts toward settlement averages.
    accumulate_twaps(state, state.time, tx.time)
    state.time = tx.time
    events: list[Event] = []
    sync_stale_breakers(state, events)
    refresh_option_marks(state)  # time decay moves option marks: their triggers may fire
    for market_id in sorted(state.markets):
        market = state.markets[market_id]
        if is_option(market) and market.triggers:
            orders.fire_triggers(state, market, events)
    for key in orders.fire_scheduled_cancels(state, events):
        algos.cancel_twaps_of(state, key, "dead-man", events)
    run_twap_slices(state, events)
    return events


def run_twap_slices(state: State, events: list[Event]) -> None:
    """Send the slice of every due TWAP (``core.algos``); a refused slice is an event."""
    for twap, order in algos.due_slices(state):
        try:
            events += orders.process_place_order(state, order)
        except ProtocolError as error:
            events.append(
                event(
                    "TwapSliceFailed",
                    twap_id=twap.id,
                    account=format_account(twap.account),
                    code=error.code,
                    error=error.name,
                    message=error.message,
                )
            )
        algos.advance_twap(state, twap, order.size, events)


def process_place_scale(state: State, tx: PlaceScale) -> list[Event]:
    """Place a scale order's children all together or not at all (``core.algos``)."""
    # VALIDATE: every child on a shadow of the state; a refusal there changes nothing here.
    children = algos.scale_children(state, tx)
    side = shadow(state)
    for child in children:
        orders.process_place_order(side, child)
    # APPLY
    events = [
        event(
            "ScalePlaced",
            account=format_account((tx.owner, tx.subaccount)),
            market=tx.market,
            count=len(children),
            size=tx.size,
        )
    ]
    for child in children:
        events += orders.process_place_order(state, child)
    return events


def process_price_report(state: State, tx: PriceReport) -> list[Event]:
    # VALIDATE
    feed = validate_report(state, tx)
    # APPLY: accrue funding at the old index and rate before the index moves.
    markets = [state.markets[m] for m in sorted(state.markets) if state.markets[m].asset == tx.asset]
    old_index = feed.index_price
    if old_index:
        for market in markets:
            accrue(market, old_index, state.time)
    events: list[Event] = []
    taken = record_report(state, feed, tx, events)
    if taken and markets:
        window = min(state.domains[m.domain].move_window_s for m in markets)
        update_move_anchor(feed, old_index, state.time, window)
    sync_feed_breakers(state, feed, events)
    if taken:
        for market in markets:
            follow_volatility(market, feed.vol_sigma, state.domains[market.domain].mmf_vol_step, state.time)
            if is_option(market):
                refresh_option_mark(state, market)
            else:
                update_mark(state, market, feed.index_price, events)
                sync_divergence(state, market, events)
            orders.fire_triggers(state, market, events)
    return events


def process_vol_report(state: State, tx: VolReport) -> list[Event]:
    # VALIDATE
    feed = validate_vol_report(state, tx)
    # APPLY
    events: list[Event] = []
    taken = record_vol_report(state, feed, tx, events)
    sync_vol_breakers(state, feed.id, events)
    if taken:
        refresh_option_marks(state, vol_feed=feed.id)
        for market_id in sorted(state.markets):
            market = state.markets[market_id]
            if market.expiry is not None and market.expiry.vol_feed == feed.id:
                orders.fire_triggers(state, market, events)
    return events


def process_signed(state: State, tx: Signed) -> list[Event]:
    """Apply a signed transaction (``core.auth``): check the envelope, apply the payload,
    spend the nonce whether the payload applied or was refused (then a ``Refused`` event)."""
    # VALIDATE
    auth.check_envelope(state, tx)
    # APPLY
    try:
        events = apply(state, tx.payload)
    except ProtocolError as error:
        events = [auth.refused_event(tx, error)]
    auth.use_nonce(state, tx.signer, tx.nonce)
    return events


_HANDLERS: dict[type, Callable[[State, Any], list[Event]]] = {
    SetTime: process_set_time,
    ListAsset: governance.process_list_asset,
    ListOracle: governance.process_list_oracle,
    ListMarket: governance.process_list_market,
    CreatePool: governance.process_create_pool,
    SetAssetWeights: governance.process_set_asset_weights,
    SetReporters: governance.process_set_reporters,
    SettleOnChain: governance.process_settle_on_chain,
    PriceReport: process_price_report,
    Deposit: ledger.process_deposit,
    Withdraw: ledger.process_withdraw,
    ChainDeposit: ledger.process_chain_deposit,
    ForcedWithdrawal: ledger.process_forced_withdrawal,
    Transfer: ledger.process_transfer,
    PlaceOrder: orders.process_place_order,
    CancelOrder: orders.process_cancel_order,
    CancelAll: orders.process_cancel_all,
    ModifyOrder: orders.process_modify_order,
    PlaceTrigger: orders.process_place_trigger,
    CancelTrigger: orders.process_cancel_trigger,
    SetLeverage: ledger.process_set_leverage,
    SetMarginMode: ledger.process_set_margin_mode,
    MoveIsolatedMargin: ledger.process_move_isolated_margin,
    SettleFunding: ledger.process_settle_funding,
    PoolDeposit: pool.process_pool_deposit,
    PoolRequestWithdrawal: pool.process_pool_request,
    PoolWithdraw: pool.process_pool_withdraw,
    ListDomain: governance.process_list_domain,
    SetDomain: governance.process_set_domain,
    SetMarketLimits: governance.process_set_market_limits,
    FundInsurance: ledger.process_fund_insurance,
    Liquidate: liquidation.process_liquidate,
    LiquidateCollateral: liquidation.process_liquidate_collateral,
    ListVolOracle: governance.process_list_vol_oracle,
    SetPortfolioParams: governance.process_set_portfolio_params,
    VolReport: process_vol_report,
    Settle: settlement.process_settle,
    SetPortfolioMargin: ledger.process_set_portfolio_margin,
    AuthoriseAgent: auth.process_authorise_agent,
    RevokeAgent: auth.process_revoke_agent,
    ScheduleCancel: orders.process_schedule_cancel,
    ReplaceOrder: orders.process_replace_order,
    PlaceTwap: algos.process_place_twap,
    CancelTwap: algos.process_cancel_twap,
    PlaceScale: process_place_scale,
    Signed: process_signed,  # the node's envelope, not a type of TX_TYPES
}

if set(_HANDLERS) != set(TX_TYPES.values()) | {Signed}:
    raise ImportError("Invariant: every transaction type needs exactly one handler")


def apply(state: State, tx: Tx) -> list[Event]:
    """Apply one transaction; return its events or raise a ProtocolError with no change."""
    handler = _HANDLERS.get(type(tx))
    if handler is None:
        raise Malformed(f"{type(tx).__name__} is not a transaction type")
    return handler(state, tx)


# --- preview ---------------------------------------------------------------------


class _CopyOnRead(dict[AccountKey, Account]):
    """Accounts of a shadow state: each is deep-copied from the real state when first read."""

    def __init__(self, parent: dict[AccountKey, Account]) -> None:
        super().__init__()
        self._parent = parent

    def __missing__(self, key: AccountKey) -> Account:
        account = copy.deepcopy(self._parent[key])
        self[key] = account
        return account

    def get(self, key: AccountKey, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._parent

    # Scans of every account (ADL queue, socialised loss) must see the parent's accounts
    # too; each is copied when yielded, so nothing the preview touches is shared.
    def __iter__(self) -> Iterator[AccountKey]:
        return iter(sorted(set(self._parent) | set(dict.keys(self))))

    def __len__(self) -> int:
        return len(set(self._parent) | set(dict.keys(self)))

    def keys(self) -> Any:
        return list(self)

    def items(self) -> Any:
        return [(key, self[key]) for key in self]

    def values(self) -> Any:
        return [self[key] for key in self]


def shadow(state: State) -> State:
    """Return a state that behaves like ``state`` but shares nothing mutable with it."""
    accounts = state.accounts
    state.accounts = {}
    try:
        clone = copy.deepcopy(state)
    finally:
        state.accounts = accounts
    clone.accounts = _CopyOnRead(accounts)
    return clone


@dataclass(frozen=True, slots=True)
class Preview:
    """What ``apply`` would do: its events and the account's margin afterwards."""

    events: list[Event]
    account: AccountKey | None
    risk: Risk | None  # the cross bucket
    market_risk: Risk | None  # the bucket holding the transaction's market
    liquidation_price: int | None  # estimate for the transaction's market


def preview(state: State, tx: Tx) -> Preview:
    """Run ``tx`` on a shadow of the state and report what would happen; change nothing.

    Raises the same ``ProtocolError`` that ``apply`` would.
    """
    side = shadow(state)
    events = apply(side, tx)
    if isinstance(tx, Signed):
        tx = tx.payload  # the account it acts on
    owner = getattr(tx, "owner", None)
    sub = getattr(tx, "subaccount", getattr(tx, "from_subaccount", None))
    if owner is None or sub is None or (owner, sub) not in side.accounts:
        return Preview(events, None, None, None, None)
    key = (owner, sub)
    account = side.accounts[key]
    market_id = getattr(tx, "market", None)
    market_risk = None
    liquidation_price = None
    if isinstance(market_id, str) and market_id in side.markets:
        market_risk = bucket_risk(side, account, market_id)
        liquidation_price = estimate_liquidation_price(side, account, market_id)
    return Preview(events, key, cross_risk(side, account), market_risk, liquidation_price)
