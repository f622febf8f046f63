"""
A reference keeper: finds liquidatable accounts and liquidates them, most underwater first.

Introduction
------------
``Keeper`` keeps a ``RiskIndex`` next to the state. After each transaction
the caller passes the events to ``observe``; ``liquidations`` screens every
bucket with the index, confirms each candidate with the exact integer
check of the core (``margin.cross_risk`` / ``isolated_risk``) and returns
one transaction per liquidatable bucket, most underwater first (health / MM
most negative first, ties by account key and bucket):

* a bucket with positions: ``Liquidate`` of the market the core requires,
  the cross position with the largest maintenance requirement
  (``liquidation.largest_risk_market``) or the isolated position itself;
* a cross bucket without positions but with quote debt:
  ``LiquidateCollateral`` of the collateral with the largest weighted value
  (the keeper buys it, so only once its own account exists and holds quote).

``run`` submits them one by one through ``apply`` (or any function of the
same shape, such as a node client), records refusals (``NoLiquidityInBand``,
``LiquidationCapReached``, ``OracleStale`` ...) instead of raising them, and
repeats passes, at most ``max_passes``, while they make progress: a partial
liquidation leaves an account that needs another step, and a cross bucket
gives up its positions one market at a time.

Dated markets: a position in an expired market is never liquidated (the
core refuses it with ``MarketExpired``: trading has stopped and ``Settle``
closes it at the settlement average). Before anything else the keeper sends
``Settle`` for every expired series whose average is complete (the core
would accept it), in market id order, since settling may turn an account's
debt into a fund payment or free the margin it held; a bucket whose only
positions have expired waits, without a transaction, until then.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from solvent.core.engine import apply
from solvent.core.errors import LiquidationCapReached, MarketPaused, OracleStale, ProtocolError
from solvent.core.events import Event
from solvent.core.instruments import has_expired
from solvent.core.liquidation import largest_risk_market
from solvent.core.margin import Risk, collateral_values, cross_risk, isolated_risk
from solvent.core.state import Account, State
from solvent.core.tx import Liquidate, LiquidateCollateral, Settle, Tx
from solvent.core.units import AccountKey
from solvent.keeper.risk_index import CROSS, RiskIndex, RowKey

ApplyFn = Callable[[State, Tx], list[Event]]
Outcome = tuple[Tx, list[Event] | ProtocolError]

# Refusals that hold for every liquidation in the market until time passes.
_MARKET_BLOCKING = (LiquidationCapReached, OracleStale, MarketPaused)


@dataclass(frozen=True, slots=True)
class Underwater:
    """A bucket the core confirms is below maintenance."""

    key: AccountKey
    bucket: str  # "" for the cross bucket, else the isolated position's market
    risk: Risk

    @property
    def ratio(self) -> Fraction:
        """health / MM (health in quote atoms when MM is 0): the more negative, the deeper."""
        return Fraction(self.risk.health, max(self.risk.mm, 1))

    @property
    def row(self) -> RowKey:
        return (self.key[0], self.key[1], self.bucket)


def exact_risk(state: State, row: RowKey) -> Risk | None:
    """Return the core's risk of one bucket, or None when the bucket no longer exists."""
    owner, sub, bucket = row
    account = state.accounts.get((owner, sub))
    if account is None:
        return None
    if bucket == CROSS:
        return cross_risk(state, account)
    pos = account.positions.get(bucket)
    if pos is None or not pos.isolated or pos.size == 0:
        return None
    return isolated_risk(state, account, bucket)


def confirm(state: State, rows: Iterable[RowKey]) -> list[Underwater]:
    """Return the rows the core finds liquidatable, most underwater first."""
    found: list[Underwater] = []
    for row in rows:
        risk = exact_risk(state, row)
        if risk is not None and risk.is_liquidatable:
            found.append(Underwater((row[0], row[1]), row[2], risk))
    found.sort(key=lambda u: (u.ratio, u.row))
    return found


def largest_collateral(state: State, account: Account) -> str | None:
    """Return the non-quote collateral with the largest maintenance value (ties: symbol)."""
    best: tuple[int, str] | None = None
    for symbol in sorted(account.balances):
        amount = account.balances[symbol]
        if symbol == state.quote or amount <= 0:
            continue
        _, value = collateral_values(state, {symbol: amount})
        if best is None or value > best[0]:
            best = (value, symbol)
    return best[1] if best is not None else None


@dataclass
class Keeper:
    """A keeper account and the risk index it scans."""

    owner: str
    subaccount: int = 0
    index: RiskIndex | None = None
    max_passes: int = 10
    passes: int = field(default=0, init=False)  # passes made by the last ``run``

    def observe(self, state: State, events: Iterable[Event]) -> None:
        """Update the index after ``apply`` returned ``events`` (builds it on first use)."""
        if self.index is None:
            self.index = RiskIndex.from_state(state)
        else:
            self.index.observe(state, events)

    def ensure_index(self, state: State) -> RiskIndex:
        if self.index is None:
            self.index = RiskIndex.from_state(state)
        return self.index

    def underwater(self, state: State) -> list[Underwater]:
        """Screen every bucket and return the confirmed liquidatable ones, deepest first."""
        screen = self.ensure_index(state).screen(state)
        return confirm(state, screen.keys)

    def tx_for(self, state: State, found: Underwater) -> Tx | None:
        """Return the transaction that liquidates this bucket now, or None (nothing to do)."""
        owner, sub = found.key
        if owner == self.owner:
            return None  # a keeper may not liquidate its own owner
        account = state.accounts[found.key]
        if found.bucket != CROSS:
            if has_expired(state, state.markets[found.bucket]):
                return None  # waits for Settle
            return Liquidate(self.owner, self.subaccount, owner, sub, found.bucket)
        market = largest_risk_market(state, account)
        if market is not None:
            return Liquidate(self.owner, self.subaccount, owner, sub, market)
        if any(pos.size and not pos.isolated for pos in account.positions.values()):
            return None  # only expired positions are left: they wait for Settle
        if account.balances.get(state.quote, 0) >= 0:
            return None
        if (self.owner, self.subaccount) not in state.accounts:
            return None  # a collateral buyer pays in quote: the core refuses a keeper with no account
        asset = largest_collateral(state, account)
        if asset is None:
            return None
        return LiquidateCollateral(self.owner, self.subaccount, owner, sub, asset)

    def settlements(self, state: State) -> list[Tx]:
        """Return ``Settle`` of every expired series the core would settle now, by market id."""
        txs: list[Tx] = []
        for market_id in sorted(state.markets):
            expiry = state.markets[market_id].expiry
            if (
                expiry is not None
                and not expiry.settled
                and state.time >= expiry.time
                and expiry.twap_seconds >= expiry.min_fresh_s
            ):
                txs.append(Settle(self.owner, market_id))
        return txs

    def liquidations(self, state: State) -> list[Tx]:
        """Return the settlements due, then the liquidation transactions for every confirmed
        bucket, deepest first."""
        txs: list[Tx] = self.settlements(state)
        for found in self.underwater(state):
            tx = self.tx_for(state, found)
            if tx is not None:
                txs.append(tx)
        return txs

    def run(self, state: State, apply_fn: ApplyFn = apply) -> list[Outcome]:
        """Submit liquidations until none makes progress; return each with its events or refusal."""
        outcomes: list[Outcome] = []
        refused: set[Tx] = set()
        blocked: set[str] = set()  # markets (or assets) refused for the rest of this run
        self.passes = 0
        for settle in self.settlements(state):
            try:
                events = apply_fn(state, settle)
            except ProtocolError as error:
                outcomes.append((settle, error))
                continue
            outcomes.append((settle, events))
            self.observe(state, events)
        for _ in range(self.max_passes):
            found = self.underwater(state)
            if not found:
                break
            self.passes += 1
            progress = False
            for item in found:
                risk = exact_risk(state, item.row)  # earlier liquidations may have changed it
                if risk is None or not risk.is_liquidatable:
                    continue
                tx = self.tx_for(state, item)
                if tx is None or tx in refused or _target(tx) in blocked:
                    continue
                try:
                    events = apply_fn(state, tx)
                except ProtocolError as error:
                    outcomes.append((tx, error))
                    refused.add(tx)
                    if isinstance(error, _MARKET_BLOCKING):
                        blocked.add(_target(tx))
                    continue
                outcomes.append((tx, events))
                self.observe(state, events)
                progress = True
            if not progress:
                break
        return outcomes


def _target(tx: Tx) -> str:
    if isinstance(tx, Liquidate):
        return tx.market
    if isinstance(tx, LiquidateCollateral):
        return tx.asset
    return ""
