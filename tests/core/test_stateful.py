"""
Stateful property test of the engine: random sequences of every user transaction.

A Hypothesis ``RuleBasedStateMachine`` starts from Fixture F (three markets,
three collateral assets, the LP pool, insurance funds MAJ 1,000,000 and ALT
20,000 USDC) with fresh prices, and applies random transactions of every user
type, good and deliberately bad, from 4 owners x 2 subaccounts plus a
stranger, a market maker and a keeper. Besides orders, transfers, triggers
and the pool, the machine builds risk (leveraged pairs between two owners,
loans against ETH or USDT collateral), sends price shocks (all reporters
move one index 9-30%, against the most leveraged trader by preference, and
confirm a jump beyond the 10% band at three block times), liquidations
(``Liquidate``, ``LiquidateCollateral``, good and bad), insurance donations
(``FundInsurance``) and a little governance (``SetDomain``: the pool
backstop, the liquidation cap and band; ``SetMarketLimits``: open-interest
caps, reduce-only). Liquidity comes and goes: the pool (funded or not at
the seed), the maker's ladders, and a rule that empties a market's book and
turns its backstop off. ``deleveraging_crash`` tells the whole ADL story in
one step (no liquidity, a large ALT pair, a crash, winners taking profit,
the 20,000 ALT fund too small), so that ADL, ADL at the mark with a
shortfall, socialised losses and uncovered deficits happen in CI runs. The
*keeper* scans every account exactly (``margin.bucket_risk`` /
``cross_risk``) and liquidates every liquidatable bucket until nothing
changes; it runs after most shocks and as a rule of its own.

Every transaction goes through ``submit``, which checks:

- P3: a refused transaction raises ``ProtocolError`` and leaves
  ``state_hash`` exactly as it was; no other exception ever escapes;
- ``preview`` gives the same events (or the same error) as ``apply`` and
  changes nothing;
- P5: ``SocialisedLossCharged`` names only accounts that hold a position in
  that domain after the transaction (never the bankrupt account itself), each
  charge leaves its payer's cross value >= 0, and the charges add up to the
  ``SocialisedLoss``;
- P6: an insurance fund changes only on ``FundInsurance``, ``Liquidate`` and
  ``LiquidateCollateral`` naming its own domain (the domain of the market, of
  the collateral asset, or the domain itself);
- ADL makes no new victims: an account ``Deleveraged`` in a liquidation (and
  not also a maker in it) keeps a bucket value >= 0, before any socialised
  charge of the same transaction.

After every step the invariants are checked (``check_invariants``): money is
conserved per asset to the atom (insurance funds included), no insurance
fund is negative, longs equal shorts and open interest, no non-quote balance
is negative, books and trigger indexes are consistent and uncrossed, pool
shares add up, and funding never pays out more than it took.

P4 is checked when the keeper rule has run to completion (no liquidatable
bucket left that it has not just tried): every account with an open position
has value_maint >= 0 in each of its buckets (cross and isolated). A bucket
whose last liquidation was refused with ``NoLiquidityInBand``,
``LiquidationCapReached``, ``OracleStale`` or ``MarketPaused`` is excused:
there was no liquidity in the band (nor insurance to pay for it, nor anyone
to deleverage), or its price is not yet usable; so is an account left with
a debt nobody could bear (``UncoveredDeficit``). The statistics
(``pytest --hypothesis-show-statistics``) count the checked and the excused.

At teardown the whole transaction log is replayed on a fresh state, which
must refuse the same transactions with the same errors, emit the same events
and reach the same ``state_hash`` (determinism).

Run longer with ``SOLVENT_HYPOTHESIS_PROFILE=thorough`` (see tests/conftest.py).
"""

import functools
import pickle
from typing import Any

import pytest
from hypothesis import event as statistic
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from solvent.core.auth import AGENT_TXS, NONCE_WINDOW, actor_of, check_nonce
from solvent.core.book import best_price
from solvent.core.engine import apply, genesis, preview
from solvent.core.errors import NonceUsed, ProtocolError
from solvent.core.events import Event
from solvent.core.fixed import ONE
from solvent.core.hashing import state_hash
from solvent.core.instruments import contract_underlying, has_expired, is_option, option_mark
from solvent.core.liquidation import largest_risk_market
from solvent.core.margin import (
    bucket_risk,
    compute_fractions,
    cross_risk,
    current_cum_funding,
    funding_owed,
    isolated_risk,
)
from solvent.core.pool import DEAD_SHARES
from solvent.core.state import InstrumentKind, Market, State, TimeInForce, TriggerKind, pool_account_key
from solvent.core.tx import (
    TX_TYPES,
    AuthoriseAgent,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    CancelTwap,
    ChainDeposit,
    Deposit,
    ForcedWithdrawal,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    ListMarket,
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
    SetDomain,
    SetLeverage,
    SetMarginMode,
    SetMarketLimits,
    SetPortfolioMargin,
    SetPortfolioParams,
    SetTime,
    Settle,
    SettleFunding,
    Signed,
    Transfer,
    Tx,
    VolReport,
    Withdraw,
)
from solvent.core.units import MAX_AMOUNT, SIZE_ONE, AccountKey
from solvent.defaults import GENESIS, GENESIS_TIME, GOVERNOR, address_of, fixture_f, pct, reporters, usd

OWNERS = tuple(address_of(f"stateful-trader-{i}") for i in range(4))
ACCOUNTS: tuple[AccountKey, ...] = tuple((owner, sub) for owner in OWNERS for sub in (0, 1))
STRANGER = address_of("stateful-stranger")  # never deposits
UNKNOWN_ACCOUNTS: tuple[AccountKey, ...] = ((STRANGER, 0), (OWNERS[0], 7))
MARKETS = ("BTC-PERP", "ETH-PERP", "ALT-PERP")
UNKNOWN_MARKET = "DOGE-PERP"
COLLATERAL = ("USDC", "ETH", "USDT")
UNKNOWN_ASSET = "DOGE"
FEEDS = ("BTC", "ETH", "USDT", "ALT")
POOL = "LP"
START_PRICE = {"BTC": usd("100000"), "ETH": usd("3000"), "USDT": usd("1"), "ALT": usd("2")}
UNDERLYING = {"BTC-PERP": "BTC", "ETH-PERP": "ETH", "ALT-PERP": "ALT"}
ATOMS_PER_UNIT = {"USDC": 10**6, "USDT": 10**6, "ETH": 10**18, UNKNOWN_ASSET: 1}
# Largest order in lots: about 100k USD of notional at the start prices.
MAX_LOTS = {"BTC-PERP": 10_000, "ETH-PERP": 33_000, "ALT-PERP": 50_000}
BAD_NUMBERS = (0, -1, -(10**6), MAX_AMOUNT + 1, 2**256)
SUBACCOUNT_LIMIT = 2**32 - 1
MAKER = address_of("stateful-maker")  # quotes ladders around the mark (funded or not at the seed)
AGENT_KEYS = tuple(address_of(f"stateful-agent-{i}") for i in range(2))
STRANGER = address_of("stateful-stranger")
KEEPER = address_of("stateful-keeper")  # rich, never trades: buys collateral, earns keeper rewards
KEEPER_FUNDS = usd("1000000000")
POOL_OWNER = pool_account_key(POOL)[0]
ROGUE_KEEPER = address_of("stateful-rogue-keeper")  # no account: rewards create one, purchases fail
DOMAINS = ("MAJ", "ALT")
DOMAIN_OF = {"BTC-PERP": "MAJ", "ETH-PERP": "MAJ", "ALT-PERP": "ALT"}
MAX_LEVERAGE = {"BTC-PERP": 10, "ETH-PERP": 10, "ALT-PERP": 5}
# A keeper's liquidation of a liquidatable bucket may be refused only for these: no liquidity in
# the band (nor insurance to pay for it, nor anyone to deleverage), the window's cap, or a price
# that may not be used yet. P4 excuses a bucket whose last liquidation was refused so.
LIQUIDATION_EXCUSES = frozenset({"NoLiquidityInBand", "LiquidationCapReached", "OracleStale", "MarketPaused"})
KEEPER_BOUND = 40  # liquidations per keeper run; reaching it leaves the run incomplete (no P4)
# Pairs of accounts of different owners that open opposite positions against each other.
PAIRS = tuple((a, b) for a in ACCOUNTS for b in ACCOUNTS if a[0] != b[0] and a[1] == 0)
Bucket = tuple[AccountKey, str]  # an account's "cross" bucket, or its isolated position in a market


# The derivatives machine: the derivatives deployment's BTC series (all expiring at EXPIRY).
FUTURE = "BTC-FUT-30D"
VOL_FEED = "BTC-30D"
VOL_REPORTERS = tuple(address_of(f"btc-vol-{i}") for i in range(1, 6))
EXPIRY = GENESIS_TIME + 30 * 86_400
START_SMILE = (6 * ONE // 10, -ONE // 10, ONE // 5)  # ATM vol 60%, skew -10%, curvature 20%
OPTION_LOTS = 300  # largest option order in lots: 3 contracts of 1 BTC
LINEAR_LOTS = 20_000  # largest future or BTC-PERP order in lots: 2 BTC
MAX_LIVE_SERIES = 2  # expiries trading at once: each series re-marks its options on every block


def base_transactions() -> list[Tx]:
    """Fixture F and one fresh report from every reporter of every feed."""
    txs: list[Tx] = [SetTime(GENESIS_TIME), *fixture_f()]
    for asset in FEEDS:
        txs += [PriceReport(r, asset, START_PRICE[asset], GENESIS_TIME) for r in reporters(asset)]
    return txs


def derivatives_transactions() -> list[Tx]:
    """The derivatives deployment, one fresh report from every price reporter and a smile."""
    txs: list[Tx] = [SetTime(GENESIS_TIME), *GENESIS["derivatives"]()]
    for asset in FEEDS:
        txs += [PriceReport(r, asset, START_PRICE[asset], GENESIS_TIME) for r in reporters(asset)]
    txs += [VolReport(r, VOL_FEED, *START_SMILE, GENESIS_TIME) for r in VOL_REPORTERS]
    return txs


BASES = {"fixture_f": base_transactions, "derivatives": derivatives_transactions}


# --- invariants ------------------------------------------------------------------------


def check_money(state: State) -> None:
    """Every asset: net deposits == everything that holds it, to the atom."""
    assert set(state.deposited) <= set(state.assets)
    assert set(state.withdrawn) <= set(state.assets)
    for symbol, asset in state.assets.items():
        net = state.deposited.get(symbol, 0) - state.withdrawn.get(symbol, 0)
        assert asset.total_deposits == net, f"{symbol}: total_deposits {asset.total_deposits} != {net}"
        held = sum(account.balances.get(symbol, 0) for account in state.accounts.values())
        if symbol == state.quote:
            held += state.fee_balance
            held += sum(state.insurance.values())
            held += sum(market.funding_balance for market in state.markets.values())
            held += sum(
                pos.isolated_margin
                for account in state.accounts.values()
                for pos in account.positions.values()
            )
        else:
            for key, account in state.accounts.items():
                assert account.balances.get(symbol, 0) >= 0, f"{key} holds negative {symbol}"
        assert held == net, f"{symbol}: {net} atoms deposited net but {held} held ({held - net:+})"


def check_accounts_and_positions(state: State) -> None:
    for key, account in state.accounts.items():
        assert (account.owner, account.index) == key
        assert set(account.balances) <= set(state.assets)
        assert set(account.positions) <= set(state.markets)
        for market_id, pos in account.positions.items():
            market = state.markets[market_id]
            assert pos.size % market.lot == 0, f"{key} {market_id}: size {pos.size} off the lot"
            if pos.size == 0:
                # Only an isolated position may exist flat: it holds margin moved in ahead of a trade.
                assert pos.isolated and pos.isolated_margin != 0, f"{key} {market_id}: empty position"
            if not pos.isolated:
                assert pos.isolated_margin == 0, f"{key} {market_id}: cross position with isolated margin"
    for market in state.markets.values():
        longs = shorts = 0
        for account in state.accounts.values():
            held = account.positions.get(market.id)
            if held is not None:
                longs += max(held.size, 0)
                shorts += max(-held.size, 0)
        assert longs == shorts, f"{market.id}: longs {longs} != shorts {shorts}"
        assert market.open_interest == longs, f"{market.id}: open interest {market.open_interest} != {longs}"


def check_funding(state: State, market: Market) -> None:
    """Funding never pays out more than it takes in.

    Longs equal shorts at every instant and every size change settles first,
    so the exact funding of all positions sums to zero; payers round up and
    receivers down. Hence what the market holds plus what every position
    would still owe if settled now is never negative.
    """
    cum = current_cum_funding(market, state.feeds[market.asset].index_price, state.time)
    pending = sum(
        funding_owed(pos.size, pos.funding_index, cum)
        for account in state.accounts.values()
        if (pos := account.positions.get(market.id)) is not None
    )
    assert market.funding_balance + pending >= 0, (
        f"{market.id}: funding balance {market.funding_balance} + pending {pending} < 0"
    )


def check_book(state: State, market: Market) -> None:
    book = market.book
    seen = {}
    for is_bid, levels in ((True, book.bids), (False, book.asks)):
        for level_key, level in levels.items():
            assert level, f"{market.id}: empty level {level_key}"
            price = -level_key if is_bid else level_key
            assert price > 0
            assert price % market.tick == 0
            for order_id, order in level.items():
                assert order.id == order_id
                assert order.is_buy == is_bid
                assert order.price == price
                assert order.market == market.id
                assert order.size > 0, f"{market.id}: order {order_id} rests with size {order.size}"
                assert order.size % market.lot == 0
                assert order.account in state.accounts, f"order {order_id} of unknown {order.account}"
                assert 0 < order_id < state.next_order_id
                assert order_id not in seen, f"{market.id}: order {order_id} on two levels"
                seen[order_id] = order
    assert book.orders.keys() == seen.keys()
    assert all(book.orders[i] is order for i, order in seen.items())
    by_account: dict[AccountKey, set[int]] = {}
    for order in seen.values():
        by_account.setdefault(order.account, set()).add(order.id)
    assert book.by_account == by_account
    with_client_id = [o for o in seen.values() if o.client_id is not None]
    by_client_id = {(o.account, o.client_id): o.id for o in with_client_id}
    assert len(by_client_id) == len(with_client_id), f"{market.id}: a client id rests twice"
    assert book.by_client_id == by_client_id
    for ids in by_account.values():
        assert len(ids) <= market.max_orders_per_account
    bid, ask = best_price(book, True), best_price(book, False)
    assert bid is None or ask is None or bid < ask, f"{market.id}: crossed book {bid} >= {ask}"


def check_triggers(state: State, market: Market) -> None:
    above = set()
    below = set()
    # Triggers fire on every mark update; an unfired one is beyond the mark. Trading stops at
    # expiry: an expired market's triggers wait for Settle, which cancels them.
    live = not has_expired(state, market)
    for trigger_id, trigger in market.triggers.items():
        assert trigger.id == trigger_id
        assert trigger.market == market.id
        assert trigger.account in state.accounts
        assert 0 < trigger_id < state.next_order_id
        assert trigger_id not in market.book.orders
        if trigger.fires_above:
            above.add((trigger.trigger_price, trigger_id))
            assert not live or trigger.trigger_price > market.mark_price
        else:
            below.add((-trigger.trigger_price, trigger_id))
            assert not live or trigger.trigger_price < market.mark_price
    assert list(market.triggers_above) == sorted(above)
    assert list(market.triggers_below) == sorted(below)


def check_pools(state: State) -> None:
    for pool in state.pools.values():
        assert pool.account in state.accounts
        assert all(shares > 0 for shares in pool.shares.values())
        assert all(p.shares > 0 for p in pool.pending.values())
        owned = sum(pool.shares.values()) + sum(p.shares for p in pool.pending.values())
        if pool.total_shares == 0:
            assert owned == 0
        else:
            assert pool.total_shares == owned + DEAD_SHARES


def check_insurance(state: State) -> None:
    """Every domain has a fund, and no fund is ever negative (it pays only what it holds)."""
    assert set(state.insurance) == set(state.domains), f"funds {sorted(state.insurance)}"
    for domain, fund in state.insurance.items():
        assert fund >= 0, f"insurance fund {domain} is negative: {fund}"


def settlement_payoff(market: Market, size: int, price: int) -> int:
    """Return what a position of ``size`` receives (< 0: pays) when settled at ``price``: the
    future's value, or the option's intrinsic value per contract, rounded down."""
    expiry = market.expiry
    assert expiry is not None
    if market.kind is InstrumentKind.FUTURE:
        return (size * price) // SIZE_ONE
    if market.kind is InstrumentKind.CALL:
        intrinsic = max(0, price - expiry.strike)
    else:
        intrinsic = max(0, expiry.strike - price)
    return (size * intrinsic * expiry.contract_size) // (SIZE_ONE * SIZE_ONE)


def check_dated(state: State, market: Market) -> None:
    """A dated market: its settlement average, its settlement, an option's mark."""
    expiry = market.expiry
    if expiry is None:
        assert market.kind is InstrumentKind.PERPETUAL, f"{market.id}: a {market.kind} with no expiry"
        return
    assert market.kind is not InstrumentKind.PERPETUAL, f"{market.id}: a perpetual with an expiry"
    # Only fresh seconds count: at most the window, plus late ones only up to min_fresh_s.
    assert 0 <= expiry.twap_seconds <= expiry.window_s, f"{market.id}: {expiry.twap_seconds} s averaged"
    assert expiry.twap_sum >= 0 and (expiry.twap_seconds > 0 or expiry.twap_sum == 0)
    if expiry.settled:
        assert state.time >= expiry.time, f"{market.id} settled before its expiry"
        assert expiry.twap_seconds >= expiry.min_fresh_s, f"{market.id} settled on too few fresh seconds"
        assert expiry.settlement_price == expiry.twap_sum // expiry.twap_seconds, (
            f"{market.id}: settled at {expiry.settlement_price}, the average is "
            f"{expiry.twap_sum // expiry.twap_seconds}"
        )
        assert market.open_interest == 0, f"{market.id}: settled with open interest {market.open_interest}"
        assert not market.book.orders and not market.book.bids and not market.book.asks, (
            f"{market.id}: settled with orders on its book"
        )
        assert not market.triggers and not market.triggers_above and not market.triggers_below
        held = sorted(key for key, account in state.accounts.items() if market.id in account.positions)
        assert not held, f"{market.id}: settled, but {held} still hold a position in it"
        # The last mark is the settlement value of one unit (one contract for an option).
        unit = settlement_payoff(market, SIZE_ONE, expiry.settlement_price)
        expected = max(1, unit) if is_option(market) else expiry.settlement_price
        assert market.mark_price == expected, f"{market.id}: settled mark {market.mark_price}"
        return
    assert expiry.settlement_price == 0
    if not is_option(market):
        return
    # An option's mark is Black-76 at the index, the smile and the time left, within the
    # no-arbitrage bounds: at least 1 atom, a call at most the underlying, a put at most the strike.
    forward = state.feeds[market.asset].index_price
    mark = market.mark_price
    assert mark == option_mark(state, market), (
        f"{market.id}: mark {mark} is stale, Black-76 now gives {option_mark(state, market)}"
    )
    underlying = contract_underlying(forward, expiry)
    assert market.underlying_price == underlying, f"{market.id}: underlying price {market.underlying_price}"
    strike = (expiry.strike * expiry.contract_size) // SIZE_ONE
    assert mark >= 1, f"{market.id}: mark {mark} < 1"
    if market.kind is InstrumentKind.CALL:
        assert mark <= underlying + 1, f"{market.id}: call mark {mark} above the underlying {underlying}"
    else:
        assert mark <= strike + 1, f"{market.id}: put mark {mark} above the strike {strike}"


def check_invariants(state: State) -> None:
    check_money(state)
    check_insurance(state)
    check_accounts_and_positions(state)
    for market in state.markets.values():
        check_book(state, market)
        check_triggers(state, market)
        check_funding(state, market)
        check_dated(state, market)
    check_pools(state)


# --- the machine ---------------------------------------------------------------------

Outcome = list[Event] | str  # the events of an accepted transaction, or the refusal's error name


def snapshot(state: State) -> bytes:
    """Return the state pickled: a few times cheaper than ``state_hash``, and as exact."""
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def unchanged(state: State, before: bytes) -> bool:
    """Return whether ``state_hash`` is what it was when ``before`` was taken.

    Equal pickles are equal states. Different pickles may still be the same state
    (e.g. a dict key removed and put back moves in insertion order), so then the
    canonical hashes decide.
    """
    return snapshot(state) == before or state_hash(state) == state_hash(pickle.loads(before))


def apply_checked(state: State, tx: Tx, before: bytes | None = None) -> Outcome:
    """Apply ``tx``; a refusal must be a ProtocolError that leaves ``state_hash`` unchanged (P3).

    ``before`` is the snapshot of the state now, if the caller already took it.
    """
    if before is None:
        before = snapshot(state)
    try:
        return apply(state, tx)
    except ProtocolError as error:
        assert unchanged(state, before), f"refused {tx!r} ({error.name}) but changed the state"
        return error.name
    except Exception as error:
        raise AssertionError(
            f"{tx!r} raised {type(error).__name__} ({error}); only ProtocolError may escape"
        ) from error


def preview_checked(state: State, tx: Tx, before: bytes | None = None) -> Outcome:
    """Return what ``preview`` says ``tx`` would do; it must change nothing."""
    if before is None:
        before = snapshot(state)
    outcome: Outcome
    try:
        outcome = preview(state, tx).events
    except ProtocolError as error:
        outcome = error.name
    except Exception as error:
        raise AssertionError(f"preview of {tx!r} raised {type(error).__name__}: {error}") from error
    assert unchanged(state, before), f"preview of {tx!r} changed the state"
    return outcome


@functools.cache
def _base(name: str) -> tuple[bytes, tuple[tuple[Tx, Outcome], ...]]:
    """Return the base state (pickled) and its log, built once: every example starts from it."""
    state = genesis(GOVERNOR)
    log = []
    for tx in BASES[name]():
        outcome = apply_checked(state, tx)
        assert not isinstance(outcome, str), f"fixture transaction refused: {tx!r}: {outcome}"
        log.append((tx, outcome))
    check_invariants(state)
    return snapshot(state), tuple(log)


def parse_account(text: object) -> AccountKey:
    """Return the account key of an event's ``owner/subaccount`` field."""
    assert isinstance(text, str)
    owner, _, sub = text.rpartition("/")
    return owner, int(sub)


def holds_position_in(state: State, key: AccountKey, domain: str) -> bool:
    account = state.accounts.get(key)
    return account is not None and any(
        pos.size and state.markets[market_id].domain == domain for market_id, pos in account.positions.items()
    )


def domains_named(state: State, tx: Tx) -> set[str]:
    """Return the domains whose insurance fund ``tx`` may change (P6)."""
    if isinstance(tx, FundInsurance):
        return {tx.domain}
    if isinstance(tx, Liquidate) and tx.market in state.markets:
        return {state.markets[tx.market].domain}
    if isinstance(tx, LiquidateCollateral) and tx.asset in state.assets:
        return {state.assets[tx.asset].domain}
    if isinstance(tx, Settle) and tx.market in state.markets:
        return {state.markets[tx.market].domain}  # a payer left with debt and nothing to sell
    return set()


def check_accepted(
    state: State, tx: Tx, events: list[Event], insurance_before: dict[str, int], before: bytes = b""
) -> None:
    """The properties of one accepted transaction: P5, P6 and ADL without new victims."""
    # P6: a fund moves only on a transaction naming its domain.
    named = domains_named(state, tx)
    for domain in sorted(set(insurance_before) | set(state.insurance)):
        if domain not in named:
            assert state.insurance.get(domain) == insurance_before.get(domain), (
                f"P6: {tx!r} changed the {domain} fund {insurance_before.get(domain)} -> "
                f"{state.insurance.get(domain)}"
            )
    if isinstance(tx, FundInsurance):
        assert state.insurance[tx.domain] == insurance_before[tx.domain] + tx.amount
    # P5: a socialised loss is charged only to accounts holding positions in its domain.
    losses = [e for e in events if e.kind == "SocialisedLoss"]
    charged = [e for e in events if e.kind == "SocialisedLossCharged"]
    for e in charged:
        key = parse_account(e.data["account"])
        domain = e.data["domain"]
        assert isinstance(domain, str)
        assert holds_position_in(state, key, domain), (
            f"P5: {tx!r} charged a {domain} socialised loss to {key}, which holds no {domain} position"
        )
        assert isinstance(e.data["amount"], int) and e.data["amount"] > 0
        # Each charge is capped at the account's own value: socialising makes no new victim.
        value = cross_risk(state, state.accounts[key]).value_maint
        assert value >= 0, f"a socialised charge left {key} with cross value {value} < 0: {tx!r}"
    if charged or losses:
        assert len(losses) == 1, f"{len(losses)} SocialisedLoss events in one transaction"
        loss = losses[0].data
        assert all(parse_account(e.data["account"]) != parse_account(loss["account"]) for e in charged)
        assert sum(e.data["amount"] for e in charged) == loss["amount"]  # type: ignore[misc]
    # ADL makes no new victims: a deleveraged account keeps its bucket value >= 0.
    makers = {parse_account(e.data["maker"]) for e in events if e.kind == "Fill"}
    charges: dict[AccountKey, int] = {}
    for e in charged:
        key = parse_account(e.data["account"])
        charges[key] = charges.get(key, 0) + e.data["amount"]  # type: ignore[operator]
    for e in events:
        if e.kind != "Deleveraged":
            continue
        key = parse_account(e.data["account"])
        market_id = e.data["market"]
        assert isinstance(market_id, str)
        account = state.accounts[key]
        if key in makers or market_id not in account.positions:
            continue  # also filled as a maker, or closed (its margin went to the cross balance)
        value = bucket_risk(state, account, market_id).value_maint + charges.get(key, 0)
        if value < 0 and before:
            # A taker already under water (a bucket with other positions) may be deleveraged at a
            # price that helps it; ADL must only not make it worse.
            old_state: State = pickle.loads(before)
            old_account = old_state.accounts.get(key)
            old = (
                bucket_risk(old_state, old_account, market_id).value_maint
                if old_account is not None and market_id in old_account.positions
                else 0
            )
            assert value >= old, f"ADL took {key}'s {market_id} bucket from {old} to {value}: {tx!r}"
            statistic("ADL of a taker already under water")
            continue
        assert value >= 0, f"ADL left {key} with {market_id} bucket value {value} < 0: {tx!r}"


def weighted(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good``, one time in twelve ``bad``."""
    return st.integers(0, 11).flatmap(lambda i: bad if i == 0 else good)


def known_accounts() -> st.SearchStrategy[AccountKey]:
    return weighted(st.sampled_from(ACCOUNTS), st.sampled_from(UNKNOWN_ACCOUNTS))


def markets() -> st.SearchStrategy[str]:
    return weighted(st.sampled_from(MARKETS), st.just(UNKNOWN_MARKET))


def client_ids() -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), st.integers(0, 3), st.just(2**64))


class CheckedMachine(RuleBasedStateMachine):
    """What both machines share: ``submit`` (P3, P5, P6, preview), the keeper and P4, the
    invariants after every step, and the replay at teardown. ``BASE`` names the starting point."""

    BASE = "fixture_f"

    def __init__(self) -> None:
        super().__init__()
        base, log = _base(self.BASE)
        self.state: State = pickle.loads(base)
        self.log: list[tuple[Tx, Outcome]] = list(log)
        self.healthy = True
        self.uncovered: set[AccountKey] = set()  # named by UncoveredDeficit: debt nobody could pay

    # -- applying -------------------------------------------------------------------

    def submit(self, tx: Tx) -> Outcome:
        """Apply ``tx`` with the P3 and preview checks; log and return its outcome."""
        self.healthy = False
        expected: Outcome | None = None
        before = snapshot(self.state)
        if self.previewed(tx):
            expected = preview_checked(self.state, tx, before)
        insurance_before = dict(self.state.insurance)
        outcome = apply_checked(self.state, tx, before)
        if isinstance(outcome, str):
            note(f"refused {outcome}: {tx!r}")
        else:
            note(f"applied {tx!r} -> {[e.kind for e in outcome]}")
            check_accepted(self.state, tx, outcome, insurance_before, before)
            for e in outcome:
                if e.kind == "UncoveredDeficit":
                    self.uncovered.add(parse_account(e.data["account"]))
        if expected is not None:
            assert outcome == expected, f"preview said {expected!r}, apply did {outcome!r} for {tx!r}"
        # Coverage, shown by ``pytest --hypothesis-show-statistics``.
        statistic(f"{type(tx).__name__}: {outcome if isinstance(outcome, str) else 'accepted'}")
        for e in outcome if not isinstance(outcome, str) else ():
            statistic(f"event {e.kind}")
            if e.kind in ("TriggerFailed", "OrderCancelled"):
                statistic(f"event {e.kind} {e.data['reason']}")
            elif e.kind == "Liquidated":
                how = [k for k in ("filled", "deleveraged", "deficit", "shortfall") if e.data.get(k)]
                statistic(f"event Liquidated: {', '.join(how) or 'nothing?'}")
        self.log.append((tx, outcome))
        self.healthy = True
        return outcome

    def previewed(self, tx: Tx) -> bool:
        """Return whether ``submit`` checks ``preview`` against ``apply`` for ``tx``."""
        return not isinstance(tx, PriceReport | VolReport | SetTime)  # preview is for what users send

    # -- reading the state ---------------------------------------------------------------

    def market(self, market_id: str) -> Market | None:
        return self.state.markets.get(market_id)

    def reference_price(self, market_id: str) -> int:
        market = self.market(market_id)
        if market is not None and market.mark_price:
            return market.mark_price
        return START_PRICE[UNDERLYING.get(market_id, "ALT")]

    def tick(self, market_id: str) -> int:
        market = self.market(market_id)
        return market.tick if market is not None else 1

    def lot(self, market_id: str) -> int:
        market = self.market(market_id)
        return market.lot if market is not None else 1

    def near(self, market_id: str, bp: int) -> int:
        """Return the price ``bp`` basis points from the mark, on the tick."""
        tick = self.tick(market_id)
        raw = self.reference_price(market_id) * (10_000 + bp) // 10_000
        return max(raw - raw % tick, tick)

    def position(self, key: AccountKey, market_id: str) -> int:
        account = self.state.accounts.get(key)
        pos = account.positions.get(market_id) if account is not None else None
        return pos.size if pos is not None else 0

    def balance(self, key: AccountKey, symbol: str) -> int:
        account = self.state.accounts.get(key)
        return account.balances.get(symbol, 0) if account is not None else 0

    def report_all(self, asset: str, price: int) -> None:
        for reporter in reporters(asset):
            self.submit(PriceReport(reporter, asset, price, self.state.time))

    def keeper_targets(self, keeper: str = KEEPER) -> list[tuple[Bucket, Liquidate | LiquidateCollateral]]:
        """Every liquidatable bucket, found exactly, with the liquidation a keeper sends for it:
        an isolated position; the cross bucket's largest risk (``largest_risk_market``); or,
        with no cross position left, each collateral asset of the cross bucket."""
        state = self.state
        targets: list[tuple[Bucket, Liquidate | LiquidateCollateral]] = []
        for key in sorted(state.accounts):
            account = state.accounts[key]
            owner, sub = key
            for market_id in sorted(account.positions):
                pos = account.positions[market_id]
                if has_expired(state, state.markets[market_id]):
                    continue  # an expired position waits for Settle
                if pos.isolated and pos.size and isolated_risk(state, account, market_id).is_liquidatable:
                    targets.append(((key, market_id), Liquidate(keeper, 0, owner, sub, market_id)))
            if not cross_risk(state, account).is_liquidatable:
                continue
            first = largest_risk_market(state, account)
            if first is not None:
                targets.append(((key, "cross"), Liquidate(keeper, 0, owner, sub, first)))
                continue
            for symbol in sorted(account.balances):
                if symbol != state.quote and account.balances[symbol] > 0:
                    targets.append(((key, "cross"), LiquidateCollateral(keeper, 0, owner, sub, symbol)))
        return targets

    def run_keeper(self) -> None:
        """Liquidate every liquidatable bucket, again and again, until nothing changes; then P4.

        A liquidation of a bucket that is liquidatable may be refused only for one of
        ``LIQUIDATION_EXCUSES``; a refused one is tried again after the next accepted one
        (which may have brought liquidity, paid a fund or moved the cap).
        """
        last: dict[Bucket, str] = {}  # the refusal of each bucket's latest liquidation
        tried: set[Tx] = set()  # refused since the last accepted liquidation
        accepted = 0
        for _ in range(KEEPER_BOUND):
            todo = [(bucket, tx) for bucket, tx in self.keeper_targets() if tx not in tried]
            if not todo:
                break
            bucket, tx = todo[0]
            outcome = self.submit(tx)
            if isinstance(outcome, str):
                assert outcome in LIQUIDATION_EXCUSES or self.keeper_cannot_pay(tx, outcome), (
                    f"the keeper's {tx!r} of a liquidatable bucket was refused: {outcome}"
                )
                last[bucket] = outcome
                tried.add(tx)
            else:
                last.pop(bucket, None)
                tried.clear()
                accepted += 1
        else:
            if any(tx not in tried for _, tx in self.keeper_targets()):
                statistic("keeper run: bound reached (no P4)")
                return
        self.check_no_negative_buckets(last, accepted)

    def keeper_cannot_pay(self, tx: Tx, outcome: str) -> bool:
        """A keeper with finite quote may be refused the collateral it cannot pay for: after
        enough shocks in one direction the generated prices grow without bound, and no
        keeper holds the quote to buy a collateral worth more than its whole balance."""
        if outcome != "InsufficientBalance" or not isinstance(tx, LiquidateCollateral):
            return False
        state = self.state
        keeper = state.accounts[(tx.keeper, tx.keeper_subaccount)]
        held = state.accounts[(tx.owner, tx.subaccount)].balances.get(tx.asset, 0)
        asset = state.assets[tx.asset]
        price = state.feeds[tx.asset].index_price
        discount = state.domains[asset.domain].collateral_discount
        worth = held * (price * (ONE - discount) // ONE) // asset.atoms_per_unit
        return keeper.balances.get(state.quote, 0) < worth

    def check_no_negative_buckets(self, last: dict[Bucket, str], accepted: int) -> None:
        """P4: once the keepers are done, no account with an open position has a bucket with
        value_maint < 0, unless its last liquidation was refused with an excuse (no liquidity
        in the band, the cap, an unusable price) or its debt was left uncovered."""
        state = self.state
        excused = 0
        for key in sorted(state.accounts):
            account = state.accounts[key]
            if not any(pos.size for pos in account.positions.values()):
                continue
            buckets = [("cross", cross_risk(state, account))]
            buckets += [
                (m, isolated_risk(state, account, m))
                for m, p in sorted(account.positions.items())
                if p.isolated
            ]
            for name, risk in buckets:
                if risk.value_maint >= 0:
                    continue
                reason = last.get((key, name))
                if reason is None and key in self.uncovered:
                    reason = "UncoveredDeficit"  # the debt nobody could bear stays with the account
                if reason is None and any(
                    p.size
                    and has_expired(state, state.markets[m])
                    and (m == name if p.isolated else name == "cross")
                    for m, p in account.positions.items()
                ):
                    reason = "MarketExpired"  # no liquidation after expiry: Settle closes it
                assert reason is not None, (
                    f"P4: after the keepers, {key} holds open positions and its {name} bucket has "
                    f"value_maint {risk.value_maint} < 0 (MM {risk.mm}) with no liquidation refused"
                )
                excused += 1
                statistic(f"P4 excused: {reason}")
        statistic(
            f"keeper run complete: {'liquidated' if accepted else 'nothing done'}, "
            f"{'some buckets excused' if excused else 'P4 holds outright'}"
        )

    # -- checks --------------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        self.healthy = False
        check_invariants(self.state)
        self.healthy = True

    def teardown(self) -> None:
        if not self.healthy:
            return  # a check already failed; do not mask it
        replay_and_compare(self.log, state_hash(self.state))


class EngineMachine(CheckedMachine):
    """Fixture F: perpetuals, collateral, the pool, liquidations, ADL, insurance, governance."""

    # -- drawing inputs ----------------------------------------------------------------

    def draw_price(self, data: st.DataObject, market_id: str, label: str = "price") -> int:
        mode = data.draw(
            st.sampled_from(["near"] * 6 + ["touch"] * 3 + ["offtick", "zero", "negative", "huge", "max"]),
            label=f"{label} mode",
        )
        tick = self.tick(market_id)
        if mode == "near":
            return self.near(market_id, data.draw(st.integers(-700, 700), label=f"{label} bp"))
        if mode == "touch":
            market = self.market(market_id)
            prices = []
            if market is not None:
                prices = [p for p in (best_price(market.book, True), best_price(market.book, False)) if p]
            if not prices:
                return self.near(market_id, 0)
            return data.draw(st.sampled_from(prices), label=f"{label} at the touch")
        if mode == "offtick":
            return self.near(market_id, data.draw(st.integers(-300, 300), label=f"{label} bp")) + 1
        if mode == "zero":
            return 0
        if mode == "negative":
            return -tick
        if mode == "huge":
            return 2**256
        return MAX_AMOUNT - MAX_AMOUNT % tick

    def draw_size(self, data: st.DataObject, market_id: str, key: AccountKey | None = None) -> int:
        mode = data.draw(
            st.sampled_from(["lots"] * 8 + ["position", "offlot", "zero", "negative", "huge"]),
            label="size mode",
        )
        lot = self.lot(market_id)
        max_lots = MAX_LOTS.get(market_id, 100)
        if mode == "lots":
            return lot * data.draw(st.integers(1, max_lots), label="lots")
        if mode == "position":
            size = abs(self.position(key, market_id)) if key is not None else 0
            return size or lot
        if mode == "offlot":
            return lot * data.draw(st.integers(0, max_lots), label="lots") + 1
        if mode == "zero":
            return 0
        if mode == "negative":
            return -lot
        return 2**256

    def draw_amount(self, data: st.DataObject, symbol: str, key: AccountKey) -> int:
        unit = ATOMS_PER_UNIT.get(symbol, 1)
        mode = data.draw(
            st.sampled_from(["units"] * 5 + ["atoms", "balance", "half", "balance+1", "bad"]),
            label="amount mode",
        )
        if mode == "units":
            top = 100 if symbol == "ETH" else 250_000
            return unit * data.draw(st.integers(1, top), label="units")
        if mode == "atoms":
            return data.draw(st.integers(1, 10**6), label="atoms")
        balance = self.balance(key, symbol)
        if mode == "balance":
            return balance
        if mode == "half":
            return balance // 2
        if mode == "balance+1":
            return balance + 1
        return data.draw(st.sampled_from(BAD_NUMBERS), label="bad amount")

    # -- setup ---------------------------------------------------------------------------

    @initialize(
        deposits=st.lists(st.integers(1_000, 500_000), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
        eth=st.integers(0, 20),
        lp=st.sampled_from([0, 0, 100_000, 1_000_000, 5_000_000]),
        quotes=st.booleans(),
        maker=st.sampled_from([0, 200_000, 2_000_000]),
        pairs=st.lists(
            st.tuples(st.sampled_from(MARKETS), st.sampled_from(PAIRS), st.integers(60, 98), st.booleans()),
            max_size=4,
        ),
    )
    def seed(
        self,
        deposits: list[int],
        eth: int,
        lp: int,
        quotes: bool,
        maker: int,
        pairs: list[tuple[str, tuple[AccountKey, AccountKey], int, bool]],
    ) -> None:
        """Fund the accounts (USD amounts), the keeper, optionally the maker, the pool and a
        ladder of quotes. With no pool, no maker and no quotes, liquidations find no liquidity
        until traders bring some: deficits go to the insurance fund, then to ADL.
        """
        for key, amount in zip(ACCOUNTS, deposits, strict=True):
            self.submit(Deposit(key[0], key[1], "USDC", usd(str(amount))))
        self.submit(Deposit(KEEPER, 0, "USDC", KEEPER_FUNDS))
        if maker:
            self.submit(Deposit(MAKER, 0, "USDC", usd(str(maker))))
        if eth:
            self.submit(Deposit(OWNERS[1], 0, "ETH", eth * 10**18))
        if lp:
            self.submit(Deposit(OWNERS[3], 1, "USDC", usd(str(lp))))
            self.submit(PoolDeposit(OWNERS[3], 1, POOL, usd(str(lp))))
        for market_id, (long_key, short_key), use, isolated in pairs:
            self.open_pair(market_id, long_key, short_key, use, isolated)
        if quotes:
            owner, sub = ACCOUNTS[0]
            for market_id in MARKETS:
                lot = self.lot(market_id)
                for i in (1, 2, 3):
                    size = lot * (MAX_LOTS[market_id] // 15)  # about 7k USD a level
                    self.submit(PlaceOrder(owner, sub, market_id, True, size, self.near(market_id, -20 * i)))
                    self.submit(PlaceOrder(owner, sub, market_id, False, size, self.near(market_id, 20 * i)))

    # -- time and prices ---------------------------------------------------------------

    @rule(
        data=st.data(),
        dt=st.sampled_from([0, 1, 2, 5, 10, 30, 59, 60, 61, 120, 600, 3600]),
        bad=st.sampled_from([None, None, None, None, None, None, "past", "huge"]),
        refresh=st.sampled_from([True, True, True, False]),
    )
    def set_time(self, data: st.DataObject, dt: int, bad: str | None, refresh: bool) -> None:
        """Advance the clock; usually the reporters then refresh every feed with a small move."""
        now = self.state.time
        if bad == "past":
            self.submit(SetTime(now - 1))
            return
        if bad == "huge":
            self.submit(SetTime(MAX_AMOUNT + 1))
            return
        self.submit(SetTime(now + dt))
        if refresh and dt:
            self.refresh_feeds(data)

    def refresh_feeds(self, data: st.DataObject) -> None:
        """A quorum of every feed reports now, a small move from the index (or the held jump)."""
        for asset in FEEDS:
            feed = self.state.feeds[asset]
            follow = feed.band_tripped and data.draw(st.booleans(), label=f"{asset} follows the jump")
            base = feed.pending_price if follow else feed.index_price or START_PRICE[asset]
            walk = data.draw(st.integers(-80, 80), label=f"{asset} bp")
            price = max(base * (10_000 + walk) // 10_000, 1)
            for reporter in data.draw(st.permutations(reporters(asset)), label=f"{asset} reporters")[:3]:
                self.submit(PriceReport(reporter, asset, price, self.state.time))

    @rule(
        data=st.data(),
        feeds=st.sampled_from([*FEEDS, "all"]),
        dt=st.sampled_from([1, 1, 3, 10, 30, 0]),
        count=st.sampled_from([5, 5, 4, 3, 3, 2, 1]),
        move=st.one_of(
            st.integers(-900, 900),  # basis points, within the band
            st.integers(-3000, 3000),  # beyond the 10% band now and then
            st.just("pending"),  # confirm a held jump
        ),
        outlier=st.one_of(st.none(), st.integers(0, 4)),
    )
    def report_round(
        self,
        data: st.DataObject,
        feeds: str,
        dt: int,
        count: int,
        move: int | str,
        outlier: int | None,
    ) -> None:
        """Several reporters of one feed (or all) report a move, maybe one far off."""
        if dt:
            self.submit(SetTime(self.state.time + dt))
        for asset in FEEDS if feeds == "all" else (feeds,):
            feed = self.state.feeds[asset]
            base = feed.index_price or START_PRICE[asset]
            if move == "pending":
                price = feed.pending_price or base
            else:
                assert isinstance(move, int)
                price = max(base * (10_000 + move) // 10_000, 1)
            order = data.draw(st.permutations(reporters(asset)), label=f"{asset} reporters")
            for i, reporter in enumerate(order[:count]):
                p = price * 105 // 100 if i == outlier else price
                self.submit(PriceReport(reporter, asset, p, self.state.time))

    @rule(
        asset=st.sampled_from(FEEDS),
        factor=st.sampled_from(["0.85", "1.15", "0.85", "1.15", "0.5", "1.3", "2", "tiny", "giant"]),
        gaps=st.lists(st.integers(1, 20), min_size=3, max_size=3),
    )
    def jump(self, asset: str, factor: str, gaps: list[int]) -> None:
        """All reporters agree on an out-of-band price at three block times: the jump is confirmed."""
        base = self.state.feeds[asset].index_price or START_PRICE[asset]
        if factor == "tiny":
            price = 1
        elif factor == "giant":
            price = 2**120
        else:
            whole, _, frac = factor.partition(".")
            price = base * int(whole + frac) // 10 ** len(frac)
        for gap in gaps:
            self.submit(SetTime(self.state.time + gap))
            for reporter in reporters(asset):
                self.submit(PriceReport(reporter, asset, price, self.state.time))

    @rule(
        data=st.data(),
        asset=weighted(st.sampled_from(FEEDS), st.sampled_from([UNKNOWN_ASSET, "USDC"])),
        who=st.sampled_from(["registered"] * 5 + ["unregistered", "other feed"]),
        when=st.sampled_from(["now", "now", "now", "earlier", "future", "zero"]),
        price_mode=st.sampled_from(
            ["near", "near", "near", "zero", "negative", "max", "too large", "2**256"]
        ),
    )
    def report_single(self, data: st.DataObject, asset: str, who: str, when: str, price_mode: str) -> None:
        """One report, often bad: unknown feed or reporter, replayed, from the future, bad price."""
        if who == "registered":
            reporter = data.draw(st.sampled_from(reporters(asset)), label="reporter")
        elif who == "unregistered":
            reporter = address_of("stateful-rogue-reporter")
        else:
            reporter = reporters("BTC" if asset != "BTC" else "ETH")[0]
        now = self.state.time
        timestamp = {
            "now": now,
            "earlier": now - data.draw(st.integers(1, 100)),
            "future": now + 1,
            "zero": 0,
        }[when]
        feed = self.state.feeds.get(asset)
        base = (feed.index_price if feed is not None else 0) or START_PRICE.get(asset, usd("1"))
        price = {
            "near": base * (10_000 + data.draw(st.integers(-500, 500), label="bp")) // 10_000,
            "zero": 0,
            "negative": -base,
            "max": MAX_AMOUNT,
            "too large": MAX_AMOUNT + 1,
            "2**256": 2**256,
        }[price_mode]
        self.submit(PriceReport(reporter, asset, price, timestamp))

    # -- ledger ----------------------------------------------------------------------------

    @rule(
        data=st.data(),
        key=weighted(
            st.sampled_from(ACCOUNTS),
            st.sampled_from([(STRANGER, 0), (OWNERS[0], 2), ("0xNOT-AN-ADDRESS", 0), (OWNERS[1], -1)]),
        ),
        symbol=weighted(st.sampled_from(COLLATERAL), st.just(UNKNOWN_ASSET)),
    )
    def deposit(self, data: st.DataObject, key: AccountKey, symbol: str) -> None:
        amount = self.draw_amount(data, symbol, key)
        self.submit(Deposit(key[0], key[1], symbol, amount))

    @rule(data=st.data(), key=known_accounts(), symbol=weighted(st.sampled_from(COLLATERAL), st.just("DOGE")))
    def withdraw(self, data: st.DataObject, key: AccountKey, symbol: str) -> None:
        mode = data.draw(st.sampled_from(["amount"] * 3 + ["free"]), label="withdraw mode")
        amount = self.draw_amount(data, symbol, key)
        account = self.state.accounts.get(key)
        if mode == "free" and account is not None and symbol == self.state.quote:
            # Exactly the free collateral: the boundary of the initial-margin check.
            free = cross_risk(self.state, account).free_collateral
            amount = min(free, self.balance(key, symbol)) or amount
        self.submit(Withdraw(key[0], key[1], symbol, amount))

    @rule(
        data=st.data(),
        key=weighted(st.sampled_from(ACCOUNTS), st.sampled_from([(STRANGER, 0), (OWNERS[0], 2**33)])),
        symbol=weighted(st.sampled_from(COLLATERAL), st.just(UNKNOWN_ASSET)),
        skew=weighted(st.just(0), st.sampled_from([-1, 1])),
    )
    def chain_deposit(self, data: st.DataObject, key: AccountKey, symbol: str, skew: int) -> None:
        """A vault deposit: credited once in id order, or bounced back to a withdrawal."""
        amount = self.draw_amount(data, symbol, key)
        cursor = self.state.deposits_credited
        deposit_id = max(cursor + skew, 0)
        outcome = self.submit(ChainDeposit(deposit_id, "0x" + "cd" * 32, key[0], key[1], symbol, amount))
        if deposit_id != cursor:
            assert isinstance(outcome, str), outcome  # out of order, or a malformed field first
        elif not isinstance(outcome, str):
            assert self.state.deposits_credited == cursor + 1
            assert [e.kind for e in outcome] in (
                ["Deposited"],
                ["DepositBounced", "Withdrawn"],
                ["DepositBounced"],
            )

    @rule(
        data=st.data(),
        key=weighted(known_accounts(), st.sampled_from([(STRANGER, 0), (OWNERS[0], 2**33)])),
        symbol=weighted(st.sampled_from(COLLATERAL), st.just(UNKNOWN_ASSET)),
        skew=weighted(st.just(0), st.sampled_from([-1, 1])),
    )
    def forced_withdrawal(self, data: st.DataObject, key: AccountKey, symbol: str, skew: int) -> None:
        """A forced withdrawal pays the most a Withdraw may take, up to the request; the cursor
        always advances."""
        amount = self.draw_amount(data, symbol, key)
        cursor = self.state.forced_served
        request_id = max(cursor + skew, 0)
        withdrawals = self.state.next_withdrawal_id
        outcome = self.submit(ForcedWithdrawal(request_id, key[0], key[1], symbol, amount))
        if request_id != cursor:
            assert isinstance(outcome, str), outcome  # ForcedOutOfOrder, or a malformed field first
            return
        if isinstance(outcome, str):
            return
        assert self.state.forced_served == cursor + 1
        paid = outcome[-1]
        assert paid.kind == "Withdrawn" and paid.data["withdrawal_id"] == withdrawals
        assert isinstance(paid.data["amount"], int) and 0 <= paid.data["amount"] <= max(amount, 0)
        if paid.data["amount"] < amount and key in self.state.accounts and symbol in self.state.assets:
            more = Withdraw(key[0], key[1], symbol, paid.data["amount"] + 1)
            with pytest.raises(ProtocolError):
                preview(self.state, more)  # the most the margin rules allow was paid

    @rule(
        data=st.data(),
        key=known_accounts(),
        to=st.sampled_from(["other"] * 5 + ["same", 2, -1, SUBACCOUNT_LIMIT + 1]),
        symbol=weighted(st.sampled_from(COLLATERAL), st.just(UNKNOWN_ASSET)),
    )
    def transfer(self, data: st.DataObject, key: AccountKey, to: int | str, symbol: str) -> None:
        amount = self.draw_amount(data, symbol, key)
        destination = 1 - key[1] if to == "other" else key[1] if to == "same" else to
        assert isinstance(destination, int)
        self.submit(Transfer(key[0], key[1], destination, symbol, amount))

    # -- orders ------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        key=known_accounts(),
        market_id=markets(),
        is_buy=st.booleans(),
        market_order=st.sampled_from([False, False, False, True]),
        tif=st.sampled_from(TimeInForce),
        reduce_only=st.sampled_from([False, False, False, True]),
        client_id=client_ids(),
    )
    def place_order(
        self,
        data: st.DataObject,
        key: AccountKey,
        market_id: str,
        is_buy: bool,
        market_order: bool,
        tif: TimeInForce,
        reduce_only: bool,
        client_id: int | None,
    ) -> None:
        size = self.draw_size(data, market_id, key)
        price = None
        worst = None
        if market_order:
            if data.draw(st.booleans(), label="with worst price"):
                worst = self.draw_price(data, market_id, "worst price")
        else:
            price = self.draw_price(data, market_id)
        self.submit(
            PlaceOrder(key[0], key[1], market_id, is_buy, size, price, tif, reduce_only, client_id, worst)
        )

    @rule(data=st.data(), key=st.sampled_from(ACCOUNTS), market_id=st.sampled_from(MARKETS))
    def trade_at_the_touch(self, data: st.DataObject, key: AccountKey, market_id: str) -> None:
        """A taker crossing the spread, so that fills happen often."""
        market = self.state.markets[market_id]
        is_buy = data.draw(st.booleans(), label="is_buy")
        best = best_price(market.book, not is_buy)
        tif = data.draw(st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]), label="tif")
        size = self.lot(market_id) * data.draw(st.integers(1, MAX_LOTS[market_id] // 10), label="lots")
        if best is None:
            self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, size, None, TimeInForce.IOC))
        else:
            self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, size, best, tif))

    @rule(
        key=st.sampled_from(ACCOUNTS),
        market_id=st.sampled_from(MARKETS),
        is_buy=st.booleans(),
        bp=st.integers(10, 400),
        notional=st.integers(5_000, 60_000),
    )
    def lean_on_the_book(self, key: AccountKey, market_id: str, is_buy: bool, bp: int, notional: int) -> None:
        """A large GTC order through the mark: its rest skews impact prices, so funding flows."""
        price = self.near(market_id, bp if is_buy else -bp)
        lot = self.lot(market_id)
        size = usd(str(notional)) * SIZE_ONE // price
        self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, max(size - size % lot, lot), price))

    @rule(
        data=st.data(),
        key=st.sampled_from(ACCOUNTS),
        market_id=st.sampled_from(MARKETS),
        style=st.sampled_from(["market", "limit", "partial"]),
    )
    def close_position(self, data: st.DataObject, key: AccountKey, market_id: str, style: str) -> None:
        """A reduce-only order against an open position (or none, which is refused)."""
        size = self.position(key, market_id)
        is_buy = size < 0
        amount = abs(size) or self.lot(market_id)
        if style == "partial":
            amount = max(amount // 2 - (amount // 2) % self.lot(market_id), self.lot(market_id))
        if style == "limit":
            price = self.near(market_id, data.draw(st.integers(-200, 200), label="bp"))
            self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, amount, price, TimeInForce.GTC, True))
        else:
            self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, amount, None, TimeInForce.IOC, True))

    def orders_of(self, key: AccountKey | None = None) -> list[tuple[str, int]]:
        return [
            (market_id, order_id)
            for market_id in MARKETS
            for order_id, order in sorted(self.state.markets[market_id].book.orders.items())
            if key is None or order.account == key
        ]

    @rule(
        data=st.data(), key=known_accounts(), how=st.sampled_from(["mine", "mine", "other", "id", "client"])
    )
    def cancel_order(self, data: st.DataObject, key: AccountKey, how: str) -> None:
        mine = self.orders_of(key)
        others = self.orders_of()
        if how == "mine" and mine:
            market_id, order_id = data.draw(st.sampled_from(mine), label="order")
            self.submit(CancelOrder(key[0], key[1], market_id, order_id))
        elif how == "other" and others:
            market_id, order_id = data.draw(st.sampled_from(others), label="order")
            self.submit(CancelOrder(key[0], key[1], market_id, order_id))
        elif how == "client":
            market_id = data.draw(markets(), label="market")
            client_id = data.draw(client_ids(), label="client id")
            self.submit(CancelOrder(key[0], key[1], market_id, None, client_id))
        else:
            market_id = data.draw(markets(), label="market")
            self.submit(CancelOrder(key[0], key[1], market_id, data.draw(st.integers(-1, 10**9))))

    @rule(key=known_accounts(), market_id=st.one_of(st.none(), markets()))
    def cancel_all(self, key: AccountKey, market_id: str | None) -> None:
        self.submit(CancelAll(key[0], key[1], market_id))

    @rule(
        data=st.data(),
        foreign=st.sampled_from([False] * 7 + [True]),
        new_price=st.sampled_from(["same", "same", "other"]),
        new_size=st.sampled_from(["same", "smaller", "larger", "other"]),
    )
    def modify_order(self, data: st.DataObject, foreign: bool, new_price: str, new_size: str) -> None:
        orders = self.orders_of()
        if not orders:
            key = data.draw(known_accounts(), label="account")
            market_id = data.draw(markets(), label="market")
            self.submit(
                ModifyOrder(key[0], key[1], market_id, 10**9, self.near(market_id, 0), self.lot(market_id))
            )
            return
        market_id, order_id = data.draw(st.sampled_from(orders), label="order")
        order = self.state.markets[market_id].book.orders[order_id]
        key = order.account
        if foreign:
            key = data.draw(st.sampled_from([k for k in ACCOUNTS if k != order.account]), label="intruder")
        price = order.price if new_price == "same" else self.draw_price(data, market_id)
        lot = self.lot(market_id)
        if new_size == "same":
            size = order.size
        elif new_size == "smaller":
            size = max(order.size - lot * data.draw(st.integers(1, 10), label="lots"), lot)
        elif new_size == "larger":
            size = order.size + lot * data.draw(st.integers(1, 100), label="lots")
        else:
            size = self.draw_size(data, market_id, key)
        self.submit(ModifyOrder(key[0], key[1], market_id, order_id, price, size))

    # -- triggers --------------------------------------------------------------------------

    @rule(
        data=st.data(),
        key=known_accounts(),
        market_id=markets(),
        kind=st.sampled_from(TriggerKind),
        sensible=st.sampled_from([True, True, True, False]),
        reduce_only=st.booleans(),
        client_id=client_ids(),
    )
    def place_trigger(
        self,
        data: st.DataObject,
        key: AccountKey,
        market_id: str,
        kind: TriggerKind,
        sensible: bool,
        reduce_only: bool,
        client_id: int | None,
    ) -> None:
        """A trigger of any kind; ``sensible`` puts it on the side of the mark where it is accepted."""
        if kind in (TriggerKind.TAKE_PROFIT, TriggerKind.STOP_LOSS) and sensible:
            holders = [k for k in ACCOUNTS if self.position(k, market_id)]
            if holders:
                key = data.draw(st.sampled_from(holders), label="position holder")
        position = self.position(key, market_id)
        distance = data.draw(st.one_of(st.integers(1, 100), st.integers(1, 1500)), label="bp from the mark")
        limit_price = None
        size = 0
        if kind in (TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT):
            is_buy: bool | None = data.draw(st.booleans(), label="is_buy")
            fires_above = bool(is_buy)
            size = self.draw_size(data, market_id, key)
            if kind is TriggerKind.STOP_LIMIT:
                limit_price = self.draw_price(data, market_id, "limit price")
        else:
            is_buy = data.draw(st.sampled_from([None, None, position < 0, position > 0]), label="is_buy")
            fires_above = (position > 0) == (kind is TriggerKind.TAKE_PROFIT)
            if data.draw(st.booleans(), label="explicit size"):
                size = self.draw_size(data, market_id, key)
        if not sensible:
            fires_above = data.draw(st.booleans(), label="fires above")
            if data.draw(st.booleans(), label="bad limit price"):
                limit_price = None if kind is TriggerKind.STOP_LIMIT else self.near(market_id, 0)
            if is_buy is not None and data.draw(st.booleans(), label="drop is_buy"):
                is_buy = None
        trigger_price = self.near(market_id, distance if fires_above else -distance)
        if not sensible and data.draw(st.booleans(), label="bad trigger price"):
            trigger_price = self.draw_price(data, market_id, "trigger price")
        self.submit(
            PlaceTrigger(
                key[0],
                key[1],
                market_id,
                kind,
                trigger_price,
                is_buy,
                size,
                limit_price,
                reduce_only,
                client_id,
            )
        )

    @rule(data=st.data(), key=known_accounts(), foreign=st.sampled_from([False, False, False, True]))
    def cancel_trigger(self, data: st.DataObject, key: AccountKey, foreign: bool) -> None:
        triggers = [
            (market_id, trigger)
            for market_id in MARKETS
            for _, trigger in sorted(self.state.markets[market_id].triggers.items())
        ]
        if not triggers:
            self.submit(CancelTrigger(key[0], key[1], data.draw(markets(), label="market"), 10**9))
            return
        market_id, trigger = data.draw(st.sampled_from(triggers), label="trigger")
        owner, sub = key if foreign else trigger.account
        self.submit(CancelTrigger(owner, sub, market_id, trigger.id))

    # -- settings ---------------------------------------------------------------------------

    @rule(
        key=known_accounts(),
        market_id=markets(),
        leverage=st.sampled_from([1, 2, 3, 5, 10, 0, 11, -1, 2**256]),
    )
    def set_leverage(self, key: AccountKey, market_id: str, leverage: int) -> None:
        self.submit(SetLeverage(key[0], key[1], market_id, leverage))

    @rule(key=known_accounts(), market_id=markets(), isolated=st.booleans())
    def set_margin_mode(self, key: AccountKey, market_id: str, isolated: bool) -> None:
        self.submit(SetMarginMode(key[0], key[1], market_id, isolated))

    @rule(
        data=st.data(),
        key=known_accounts(),
        market_id=markets(),
        mode=st.sampled_from(["in", "in", "out", "all out", "bad"]),
    )
    def move_isolated_margin(self, data: st.DataObject, key: AccountKey, market_id: str, mode: str) -> None:
        account = self.state.accounts.get(key)
        isolated = sorted(m for m, v in (account.settings or {}).items() if v.isolated) if account else []
        if isolated and data.draw(st.integers(0, 3), label="into an isolated market") > 0:
            market_id = data.draw(st.sampled_from(isolated), label="isolated market")
        elif market_id not in isolated and data.draw(st.booleans(), label="switch to isolated first"):
            self.submit(SetMarginMode(key[0], key[1], market_id, True))
        pos = account.positions.get(market_id) if account is not None else None
        held = pos.isolated_margin if pos is not None else 0
        if mode == "in":
            amount = usd(str(data.draw(st.integers(1, 100_000), label="USD")))
        elif mode == "out":
            amount = -usd(str(data.draw(st.integers(1, 100_000), label="USD")))
        elif mode == "all out":
            amount = -held or -1
        else:
            amount = data.draw(st.sampled_from([0, MAX_AMOUNT + 1, -(MAX_AMOUNT + 1), 2**256, -(2**256)]))
        self.submit(MoveIsolatedMargin(key[0], key[1], market_id, amount))

    @rule(data=st.data(), key=known_accounts())
    def settle_funding(self, data: st.DataObject, key: AccountKey) -> None:
        holders = [k for k in ACCOUNTS if k in self.state.accounts and self.state.accounts[k].positions]
        if len(holders) > 0 and data.draw(st.booleans(), label="a holder"):
            key = data.draw(st.sampled_from(holders), label="holder")
        self.submit(SettleFunding(key[0], key[1]))

    # -- pool -----------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        key=known_accounts(),
        pool=weighted(st.just(POOL), st.just("NOPE")),
        mode=st.sampled_from(["amount", "amount", "dead shares", "dead shares + 1"]),
    )
    def pool_deposit(self, data: st.DataObject, key: AccountKey, pool: str, mode: str) -> None:
        if mode == "dead shares":
            amount = DEAD_SHARES
        elif mode == "dead shares + 1":
            amount = DEAD_SHARES + 1
        else:
            amount = self.draw_amount(data, "USDC", key)
        self.submit(PoolDeposit(key[0], key[1], pool, amount))

    @rule(
        data=st.data(),
        key=known_accounts(),
        pool=weighted(st.just(POOL), st.just("NOPE")),
        mode=st.sampled_from(["all", "half", "all + 1", "bad"]),
    )
    def pool_request_withdrawal(self, data: st.DataObject, key: AccountKey, pool: str, mode: str) -> None:
        holders = sorted(self.state.pools[POOL].shares)
        if holders and data.draw(st.integers(0, 3), label="an LP") > 0:
            key = data.draw(st.sampled_from(holders), label="LP")
        held = self.state.pools[POOL].shares.get(key, 0)
        shares = {
            "all": held,
            "half": held // 2,
            "all + 1": held + 1,
            "bad": data.draw(st.sampled_from(BAD_NUMBERS), label="shares"),
        }[mode]
        self.submit(PoolRequestWithdrawal(key[0], key[1], pool, shares))

    @rule(
        data=st.data(),
        key=known_accounts(),
        pool=weighted(st.just(POOL), st.just("NOPE")),
        wait=st.booleans(),
    )
    def pool_withdraw(self, data: st.DataObject, key: AccountKey, pool: str, wait: bool) -> None:
        """Redeem locked shares; ``wait`` first sits out the cooldown (and refreshes the prices)."""
        waiting = sorted(self.state.pools[POOL].pending)
        if waiting and data.draw(st.integers(0, 3), label="an LP") > 0:
            key = data.draw(st.sampled_from(waiting), label="LP")
        pending = self.state.pools[POOL].pending.get(key)
        if wait and pending is not None and pending.ready_time > self.state.time:
            self.submit(SetTime(pending.ready_time))
            self.refresh_feeds(data)
        self.submit(PoolWithdraw(key[0], key[1], pool))

    # -- risk: leverage, shocks, liquidity --------------------------------------------------------

    def open_pair(
        self,
        market_id: str,
        long_key: AccountKey,
        short_key: AccountKey,
        use: int,
        isolated: bool,
        notional: int | None = None,
    ) -> None:
        """Two owners trade ``use``% of what the poorer one's free collateral allows at the market's
        current initial fraction: the maker rests at the mark, the taker takes it. With
        ``isolated`` the long side trades in isolated mode with half its free collateral moved in.
        With ``notional`` (USD) both first deposit what that notional needs at ``use``%.
        """
        if notional:
            market = self.state.markets[market_id]
            imf, _ = compute_fractions(
                market, self.state.feeds[market.asset].vol_sigma, 0, 0, market.mm_sigma
            )
            margin = usd(str(notional)) * imf // ONE * 100 // use
            for key in (long_key, short_key):
                account = self.state.accounts.get(key)
                free = cross_risk(self.state, account).free_collateral if account is not None else 0
                if margin > free:
                    self.submit(Deposit(key[0], key[1], "USDC", margin - max(free, 0)))
        if isolated:
            self.submit(SetMarginMode(long_key[0], long_key[1], market_id, True))
            account = self.state.accounts.get(long_key)
            free = cross_risk(self.state, account).free_collateral if account is not None else 0
            self.submit(MoveIsolatedMargin(long_key[0], long_key[1], market_id, max(free // 2, 1)))
        market = self.state.markets[market_id]
        feed = self.state.feeds[market.asset]
        imf, _ = compute_fractions(market, feed.vol_sigma, 0, 0, market.mm_sigma)
        free = min(
            bucket_risk(self.state, account, market_id).free_collateral if account is not None else 0
            for account in (self.state.accounts.get(long_key), self.state.accounts.get(short_key))
        )
        price = self.near(market_id, 0)
        lot = self.lot(market_id)
        size = max(free, 0) * ONE // max(imf, 1) * use // 100 * SIZE_ONE // price
        size = min(max(size - size % lot, lot), lot * MAX_LOTS[market_id] * 5)
        maker, taker = (long_key, short_key) if use % 2 else (short_key, long_key)
        self.submit(PlaceOrder(maker[0], maker[1], market_id, maker == long_key, size, price))
        self.submit(
            PlaceOrder(taker[0], taker[1], market_id, taker == long_key, size, price, TimeInForce.IOC)
        )

    @rule(
        market_id=st.sampled_from(MARKETS),
        pair=st.sampled_from(PAIRS),
        use=st.integers(60, 98),
        isolated=st.sampled_from([False, False, False, True]),
        notional=st.sampled_from([None, None, 100_000, 400_000]),
    )
    def leveraged_pair(
        self,
        market_id: str,
        pair: tuple[AccountKey, AccountKey],
        use: int,
        isolated: bool,
        notional: int | None,
    ) -> None:
        """Two traders open opposite leveraged positions against each other (see ``open_pair``)."""
        self.open_pair(market_id, pair[0], pair[1], use, isolated, notional)

    @rule(
        key=st.sampled_from(ACCOUNTS),
        market_id=st.sampled_from(MARKETS),
        is_buy=st.booleans(),
        use=st.integers(30, 100),
    )
    def lever_up(self, key: AccountKey, market_id: str, is_buy: bool, use: int) -> None:
        """A market order for ``use``% of what the bucket's free collateral allows at full leverage."""
        account = self.state.accounts.get(key)
        free = bucket_risk(self.state, account, market_id).free_collateral if account is not None else 0
        lot = self.lot(market_id)
        size = (
            max(free, 0) * MAX_LEVERAGE[market_id] * use // 100 * SIZE_ONE // self.reference_price(market_id)
        )
        self.submit(
            PlaceOrder(key[0], key[1], market_id, is_buy, max(size - size % lot, lot), None, TimeInForce.IOC)
        )

    @rule(
        key=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(["ETH", "ETH", "USDT"]),
        units=st.integers(1, 30),
        use=st.integers(80, 100),
    )
    def borrow_against_collateral(self, key: AccountKey, symbol: str, units: int, use: int) -> None:
        """Deposit collateral, then withdraw ``use``% of the free collateral in quote: a debt that a
        fall of the collateral's price makes liquidatable (``LiquidateCollateral``)."""
        amount = units * (10**18 if symbol == "ETH" else 10_000 * 10**6)  # 1 ETH or 10,000 USDT a unit
        self.submit(Deposit(key[0], key[1], symbol, amount))
        account = self.state.accounts.get(key)
        free = cross_risk(self.state, account).free_collateral if account is not None else 0
        self.submit(Withdraw(key[0], key[1], "USDC", max(free * use // 100, 1)))

    @rule(
        market_id=st.sampled_from(MARKETS),
        levels=st.integers(1, 4),
        step_bp=st.sampled_from([5, 10, 25, 50]),
        notional=st.integers(5_000, 150_000),
        replace=st.booleans(),
    )
    def make_market(self, market_id: str, levels: int, step_bp: int, notional: int, replace: bool) -> None:
        """The maker quotes a ladder around the mark: liquidity for liquidations (if it has funds)."""
        if replace and self.state.markets[market_id].book.by_account.get((MAKER, 0)):
            self.submit(CancelAll(MAKER, 0, market_id))
        lot = self.lot(market_id)
        for i in range(1, levels + 1):
            for is_buy in (True, False):
                price = self.near(market_id, -step_bp * i if is_buy else step_bp * i)
                size = usd(str(notional)) * SIZE_ONE // price
                self.submit(PlaceOrder(MAKER, 0, market_id, is_buy, max(size - size % lot, lot), price))

    @rule(market_id=st.sampled_from(MARKETS), backstop_off=st.booleans())
    def liquidity_leaves(self, market_id: str, backstop_off: bool) -> None:
        """Every resting order in a market is cancelled by its owner and, with ``backstop_off``,
        governance turns the domain's pool backstop off: a liquidation there finds no liquidity
        in the band, so a deficit the fund cannot pay goes to ADL."""
        for key in sorted(self.state.markets[market_id].book.by_account):
            self.submit(CancelAll(key[0], key[1], market_id))
        if backstop_off:
            self.submit(SetDomain(GOVERNOR, DOMAIN_OF[market_id], backstop_max_skew=0))

    def keep_fresh(self, data: st.DataObject, skip: str | None = None) -> None:
        """Every reporter of every other feed repeats its index now; a held jump is confirmed
        once more or abandoned (the reporters return to the index)."""
        for asset in FEEDS:
            if asset == skip:
                continue
            feed = self.state.feeds[asset]
            price = feed.index_price
            if feed.band_tripped and data.draw(st.booleans(), label=f"{asset} confirms the held jump"):
                price = feed.pending_price
            self.report_all(asset, price)

    @rule(
        data=st.data(),
        asset=st.sampled_from(["victim", "victim", "victim", "BTC", "ETH", "ALT", "USDT"]),
        moves=st.lists(
            st.one_of(st.integers(-3000, -900), st.integers(-3000, -900), st.integers(900, 3000)),
            min_size=1,
            max_size=3,
        ),
        gaps=st.lists(st.integers(1, 15), min_size=3, max_size=3),
        confirmed=st.sampled_from([True, True, True, True, False]),
        keepers=st.sampled_from([True, True, False]),
    )
    def price_shock(
        self,
        data: st.DataObject,
        asset: str,
        moves: list[int],
        gaps: list[int],
        confirmed: bool,
        keepers: bool,
    ) -> None:
        """A crash (or spike) of 9-30% in one feed, in up to three moves, reported by all five
        reporters while the other feeds stay fresh. A move beyond the 10% band is held until
        three aggregates at distinct block times agree (unless ``confirmed`` is False: then the
        reporters stop after two and the jump stays held). Then, usually, the keepers act.
        ``victim``: every move goes against a position (or the ETH collateral) of one of the
        three traders with the least margin to spare, if any."""
        if asset == "victim":
            exposures = []
            for key in ACCOUNTS:
                account = self.state.accounts.get(key)
                if account is None:
                    continue
                for m, pos in sorted(account.positions.items()):
                    if pos.size:
                        risk = bucket_risk(self.state, account, m)
                        exposures.append(
                            (risk.value_maint * ONE // max(risk.mm, 1), UNDERLYING[m], pos.size > 0)
                        )
                if account.balances.get("ETH", 0) > 0:
                    risk = cross_risk(self.state, account)
                    exposures.append((risk.value_maint * ONE // max(risk.mm, 1), "ETH", True))
            exposures.sort()
            if exposures:
                i = data.draw(st.integers(0, min(2, len(exposures) - 1)), label="victim")
                _, asset, is_long = exposures[i]
                moves = [-abs(bp) if is_long else abs(bp) for bp in moves]
            else:
                asset = data.draw(st.sampled_from(FEEDS), label="asset")
        for bp in moves:
            feed = self.state.feeds[asset]
            old = feed.index_price
            price = max(old * (10_000 + bp) // 10_000, 1)
            rounds = 3 if abs(price - old) * ONE > feed.band * old else 1
            if rounds == 3 and not confirmed:
                rounds = 2
            for gap in gaps[:rounds]:
                self.submit(SetTime(self.state.time + gap))
                self.report_all(asset, price)
                self.keep_fresh(data, skip=asset)
            statistic(f"price shock: {'held' if self.state.feeds[asset].band_tripped else 'taken'}")
            if self.state.feeds[asset].band_tripped:
                break
        if keepers:
            self.run_keeper()

    @rule(
        data=st.data(),
        pair=st.sampled_from(PAIRS),
        use=st.integers(80, 98),
        notional=st.integers(100_000, 480_000),
        crash=st.integers(2500, 6000),
        backstop_off=st.sampled_from([True, True, False]),
        profits_taken=st.booleans(),
    )
    def deleveraging_crash(
        self,
        data: st.DataObject,
        pair: tuple[AccountKey, AccountKey],
        use: int,
        notional: int,
        crash: int,
        backstop_off: bool,
        profits_taken: bool,
    ) -> None:
        """The ADL story in one step: ALT liquidity leaves (orders cancelled, usually the pool
        backstop off too), two traders open a large leveraged ALT pair (refused when a breaker
        holds ALT reduce-only), ALT moves ``crash`` bp against the ALT position with the least
        margin to spare (confirmed at three block times) and the keepers act. The bankrupt
        side's deficit at the band edge is more than the ALT fund (20,000) holds, so it is
        deleveraged against the other side; with the backstop on, the pool's fills drain the
        fund first. With ``profits_taken`` the winners withdraw their free collateral before the
        keepers come, so ADL at the bankruptcy price cannot take it all: the rest is closed at
        the mark and its shortfall is paid by the fund, then socialised."""
        self.liquidity_leaves("ALT-PERP", backstop_off)
        if not backstop_off:
            self.submit(SetDomain(GOVERNOR, "ALT", backstop_max_skew=pct("50")))
        self.open_pair("ALT-PERP", pair[0], pair[1], use, False, notional)
        holders = []
        for key in sorted(self.state.accounts):
            pos = self.state.accounts[key].positions.get("ALT-PERP")
            if pos is not None and pos.size and key[0] not in (KEEPER, POOL_OWNER):
                risk = bucket_risk(self.state, self.state.accounts[key], "ALT-PERP")
                holders.append((risk.value_maint * ONE // max(risk.mm, 1), key, pos.size > 0))
        victim_is_long = min(holders)[2] if holders else True
        bp = -crash if victim_is_long else crash
        price = max(self.state.feeds["ALT"].index_price * (10_000 + bp) // 10_000, 1)
        for gap in (1, 1, 1):
            self.submit(SetTime(self.state.time + gap))
            self.report_all("ALT", price)
            self.keep_fresh(data, skip="ALT")
        if profits_taken:
            for _, key, is_long in holders:
                winner = self.state.accounts[key]
                if is_long != victim_is_long:
                    free = min(cross_risk(self.state, winner).free_collateral, winner.balances.get("USDC", 0))
                    self.submit(Withdraw(key[0], key[1], "USDC", max(free, 1)))
        statistic(f"deleveraging crash: {len(holders)} ALT holders")
        self.run_keeper()

    # -- insurance, liquidation and governance ----------------------------------------------------

    @rule(
        data=st.data(),
        key=known_accounts(),
        domain=weighted(st.sampled_from(DOMAINS), st.sampled_from(["DOGE", ""])),
        small=st.booleans(),
    )
    def fund_insurance(self, data: st.DataObject, key: AccountKey, domain: str, small: bool) -> None:
        """A donation to a fund (often small: the ALT fund should still run dry now and then)."""
        if small:
            amount = usd(str(data.draw(st.integers(1, 5_000), label="USD")))
        else:
            amount = self.draw_amount(data, "USDC", key)
        self.submit(FundInsurance(key[0], key[1], domain, amount))

    @rule(
        data=st.data(),
        refresh=st.sampled_from([True, True, False]),
    )
    def keepers_act(self, data: st.DataObject, refresh: bool) -> None:
        """The keepers scan every account and liquidate; usually the reporters refresh first."""
        if refresh:
            self.submit(SetTime(self.state.time + 1))
            self.keep_fresh(data)
        self.run_keeper()

    @rule(
        data=st.data(),
        keeper=st.sampled_from([*OWNERS, KEEPER, KEEPER, ROGUE_KEEPER, "0xNOT-AN-ADDRESS"]),
        keeper_sub=weighted(st.sampled_from([0, 1]), st.sampled_from([-1, SUBACCOUNT_LIMIT + 1, 2**256])),
        whom=st.sampled_from(["liquidatable", "liquidatable", "liquidatable", "any", "own"]),
        size_mode=st.sampled_from(["all", "all", "lots", "drawn"]),
    )
    def liquidate(self, data: st.DataObject, keeper: str, keeper_sub: int, whom: str, size_mode: str) -> None:
        """A liquidation by anyone (an owner, the keeper, a keeper with no account, a bad address):
        of a liquidatable bucket, of any account and market, or of the keeper's own account."""
        candidates = [tx for _, tx in self.keeper_targets(keeper) if isinstance(tx, Liquidate)]
        if whom == "liquidatable" and candidates:
            chosen = data.draw(st.sampled_from(candidates), label="liquidatable")
            key: AccountKey = (chosen.owner, chosen.subaccount)
            market_id = chosen.market
        else:
            key = data.draw(known_accounts(), label="account")
            held = [m for m in MARKETS if self.position(key, m)]
            if held and data.draw(st.booleans(), label="a held market"):
                market_id = data.draw(st.sampled_from(held), label="market")
            else:
                market_id = data.draw(markets(), label="market")
            if whom == "own":
                keeper = key[0]
        size = None
        if size_mode == "lots":
            size = self.lot(market_id) * data.draw(st.integers(1, 200), label="lots")
        elif size_mode == "drawn":
            size = self.draw_size(data, market_id, key)
        self.submit(Liquidate(keeper, keeper_sub, key[0], key[1], market_id, size))

    @rule(
        data=st.data(),
        keeper=st.sampled_from([KEEPER, KEEPER, KEEPER, *OWNERS, ROGUE_KEEPER]),
        keeper_sub=st.sampled_from([0, 0, 0, 1]),
        symbol=weighted(st.sampled_from(["ETH", "USDT"]), st.sampled_from(["USDC", UNKNOWN_ASSET])),
        amount_mode=st.sampled_from(["all", "all", "part", "bad"]),
    )
    def liquidate_collateral(
        self, data: st.DataObject, keeper: str, keeper_sub: int, symbol: str, amount_mode: str
    ) -> None:
        """A keeper buys collateral of a liquidatable position-free account (or tries, of anyone)."""
        candidates = [tx for _, tx in self.keeper_targets(keeper) if isinstance(tx, LiquidateCollateral)]
        holders = [k for k in sorted(self.state.accounts) if self.balance(k, symbol) > 0]
        if candidates and data.draw(st.integers(0, 2), label="a liquidatable one") > 0:
            chosen = data.draw(st.sampled_from(candidates), label="liquidatable")
            key: AccountKey = (chosen.owner, chosen.subaccount)
            symbol = chosen.asset
        elif holders and data.draw(st.booleans(), label="a holder"):
            key = data.draw(st.sampled_from(holders), label="holder")
        else:
            key = data.draw(known_accounts(), label="account")
        amount = None
        if amount_mode == "part":
            amount = max(self.balance(key, symbol) * data.draw(st.integers(1, 99), label="%") // 100, 1)
        elif amount_mode == "bad":
            amount = data.draw(st.sampled_from([0, -1, 2**256]), label="bad amount")
        self.submit(LiquidateCollateral(keeper, keeper_sub, key[0], key[1], symbol, amount))

    @rule(
        sender=weighted(st.just(GOVERNOR), st.sampled_from([OWNERS[0], KEEPER])),
        domain=weighted(st.sampled_from(DOMAINS), st.just("DOGE")),
        backstop=st.sampled_from([None, None, 0, 0, pct("50"), ONE, ONE + 1]),
        liq_cap=st.sampled_from([None, None, usd("5000"), usd("100000"), usd("1000000"), usd("20000000"), 0]),
        liq_band=st.sampled_from([None, None, None, pct("1"), pct("2"), pct("5"), ONE]),
    )
    def set_domain(
        self, sender: str, domain: str, backstop: int | None, liq_cap: int | None, liq_band: int | None
    ) -> None:
        """Governance turns the pool backstop off or on, and moves the liquidation cap and band."""
        self.submit(
            SetDomain(sender, domain, liq_band=liq_band, liq_cap_notional=liq_cap, backstop_max_skew=backstop)
        )

    @rule(
        sender=weighted(st.just(GOVERNOR), st.just(OWNERS[1])),
        market_id=markets(),
        oi_cap=st.sampled_from([None, None, 0, "tight", "fixture", -1]),
        reduce_only=st.sampled_from([None, None, True, False, False]),
    )
    def set_market_limits(
        self, sender: str, market_id: str, oi_cap: int | str | None, reduce_only: bool | None
    ) -> None:
        """Governance caps open interest (at the fixture's cap, or just above today's) and sets or
        clears reduce-only; liquidations go on in a reduce-only market."""
        market = self.market(market_id)
        cap: int | None
        if oi_cap == "tight":
            cap = (market.open_interest if market is not None else 0) + 10 * self.lot(market_id)
        elif oi_cap == "fixture":
            cap = {"BTC-PERP": 100, "ETH-PERP": 2_500, "ALT-PERP": 2_000_000}.get(market_id, 1) * SIZE_ONE
        else:
            assert not isinstance(oi_cap, str)
            cap = oi_cap
        self.submit(SetMarketLimits(sender, market_id, cap, reduce_only))

    # -- signed envelopes and agent keys (core.auth) ------------------------------------

    @rule(
        owner=st.sampled_from(OWNERS),
        agent=st.sampled_from(AGENT_KEYS),
        subaccounts=st.sampled_from([(), (0,), (1,), (0, 1)]),
        markets=st.sampled_from([(), ("BTC-PERP",), ("ETH-PERP", "ALT-PERP")]),
        lifetime=st.sampled_from([0, 0, 60, 600]),
        nonce=st.integers(1, 300),
    )
    def authorise_agent(
        self,
        owner: str,
        agent: str,
        subaccounts: tuple[int, ...],
        markets: tuple[str, ...],
        lifetime: int,
        nonce: int,
    ) -> None:
        expires = self.state.time + lifetime if lifetime else 0
        self.submit_signed(owner, nonce, AuthoriseAgent(owner, agent, subaccounts, markets, expires))

    @rule(owner=st.sampled_from(OWNERS), agent=st.sampled_from(AGENT_KEYS), signed=st.booleans())
    def revoke_agent(self, owner: str, agent: str, signed: bool) -> None:
        tx = RevokeAgent(owner, agent)
        if signed:
            self.submit_signed(owner, self.next_nonce(owner), tx)
        else:
            self.submit(tx)

    @rule(
        data=st.data(),
        key=st.sampled_from(ACCOUNTS),
        signer=st.sampled_from(("owner", "agent", "stranger")),
        kind=st.sampled_from(("order", "cancel", "withdraw", "transfer", "leverage")),
        nonce=st.sampled_from(("next", "reuse", "old", "far")),
        expires=st.sampled_from((0, 0, -1, 30)),
    )
    def send_signed(
        self, data: st.DataObject, key: AccountKey, signer: str, kind: str, nonce: str, expires: int
    ) -> None:
        """A signed transaction from the owner, one of its agents or a stranger, with a fresh,
        reused, old or far nonce: accepted exactly when the model says so (P3 as always)."""
        owner, sub = key
        market_id = data.draw(st.sampled_from(MARKETS), label="market")
        payload: Tx
        if kind == "order":
            is_buy = data.draw(st.booleans(), label="is_buy")
            size = self.lot(market_id) * data.draw(st.integers(1, 50), label="lots")
            payload = PlaceOrder(
                owner, sub, market_id, is_buy, size, self.near(market_id, -40 if is_buy else 40)
            )
        elif kind == "cancel":
            payload = CancelAll(owner, sub, data.draw(st.sampled_from([None, market_id]), label="cancel"))
        elif kind == "withdraw":
            payload = Withdraw(owner, sub, "USDC", usd("10"))
        elif kind == "transfer":
            payload = Transfer(owner, sub, 1 - sub, "USDC", usd("10"))
        else:
            payload = SetLeverage(owner, sub, market_id, data.draw(st.integers(1, 5), label="leverage"))
        who = {"owner": owner, "agent": data.draw(st.sampled_from(AGENT_KEYS), label="agent")}.get(
            signer, STRANGER
        )
        window = self.state.nonces.get(who)
        high = window.high if window is not None else 0
        n = {
            "next": self.next_nonce(who),
            "reuse": high or 1,
            "old": max(1, high - data.draw(st.integers(1, 80), label="back")),
            "far": high + data.draw(st.integers(65, 10**6), label="ahead"),
        }[nonce]
        deadline = {0: 0, -1: self.state.time - 1, 30: self.state.time + 30}[expires]
        self.submit_signed(who, n, payload, deadline)

    @rule(key=known_accounts(), ahead=st.sampled_from([0, 1, 5, 60, -1, 86_401]))
    def schedule_cancel(self, key: AccountKey, ahead: int) -> None:
        """Arm (or disarm, 0) a dead-man's switch; bad times are refused. The clock fires it."""
        at = 0 if ahead == 0 else self.state.time + ahead
        outcome = self.submit(ScheduleCancel(key[0], key[1], at))
        if not isinstance(outcome, str):
            assert self.state.scheduled_cancels.get(key, 0) == at
        assert all(t > self.state.time for t in self.state.scheduled_cancels.values())

    @rule(data=st.data(), key=known_accounts(), market_id=st.sampled_from(MARKETS))
    def replace_order(self, data: st.DataObject, key: AccountKey, market_id: str) -> None:
        """Cancel-and-replace by client id: a new price near the mark and a new size."""
        client_id = data.draw(st.integers(0, 3), label="client_id")
        price = self.near(market_id, data.draw(st.integers(-300, 300), label="bp"))
        size = self.lot(market_id) * data.draw(st.integers(1, 40), label="lots")
        self.submit(ReplaceOrder(key[0], key[1], market_id, client_id, price, size))

    @rule(
        data=st.data(),
        key=known_accounts(),
        market_id=st.sampled_from(MARKETS),
        slices=st.sampled_from([1, 2, 3, 5, 0]),
        is_buy=st.booleans(),
    )
    def place_twap(
        self, data: st.DataObject, key: AccountKey, market_id: str, slices: int, is_buy: bool
    ) -> None:
        """A TWAP the clock executes slice by slice (failing slices are events)."""
        size = self.lot(market_id) * data.draw(st.integers(1, 60), label="lots")
        duration = data.draw(st.sampled_from([max(slices, 1), 10, 60, 600]), label="duration")
        worst = (
            self.near(market_id, 200 if is_buy else -200) if data.draw(st.booleans(), label="worst") else None
        )
        self.submit(PlaceTwap(key[0], key[1], market_id, is_buy, size, duration, slices, worst))

    @rule(data=st.data(), key=known_accounts())
    def cancel_twap(self, data: st.DataObject, key: AccountKey) -> None:
        mine = sorted(t.id for t in self.state.twaps.values() if t.account == key)
        twap_id = data.draw(st.sampled_from(mine), label="twap") if mine else self.state.next_twap_id
        self.submit(CancelTwap(key[0], key[1], twap_id))

    @rule(
        data=st.data(),
        key=known_accounts(),
        market_id=st.sampled_from(MARKETS),
        count=st.sampled_from([2, 3, 5, 1]),
        is_buy=st.booleans(),
    )
    def place_scale(
        self, data: st.DataObject, key: AccountKey, market_id: str, count: int, is_buy: bool
    ) -> None:
        """A scale order: all of its children rest (or cross) together, or none is placed."""
        size = self.lot(market_id) * data.draw(st.integers(1, 100), label="lots")
        near = data.draw(st.integers(-600, 600), label="near bp")
        low, high = self.near(market_id, near - 100), self.near(market_id, near + 100)
        before = len(self.state.markets[market_id].book.orders)
        outcome = self.submit(PlaceScale(key[0], key[1], market_id, is_buy, size, low, high, count))
        if isinstance(outcome, str):
            assert len(self.state.markets[market_id].book.orders) == before

    def next_nonce(self, signer: str) -> int:
        window = self.state.nonces.get(signer)
        return (window.high if window is not None else 0) + 1

    def submit_signed(self, signer: str, nonce: int, payload: Tx, expires: int = 0) -> None:
        """Submit ``Signed(...)`` and check it against the model of core.auth: the nonce is
        usable iff unused and within 64 of the highest; an agent only trades, in scope;
        an accepted envelope spends its nonce whatever its payload did."""
        window = self.state.nonces.get(signer)
        high = window.high if window is not None else 0
        used = nonce == high or (
            window is not None
            and 0 <= high - 1 - nonce < NONCE_WINDOW
            and window.mask >> (high - 1 - nonce) & 1
        )
        fresh = not used and nonce > high - 1 - NONCE_WINDOW
        actor = actor_of(payload)
        grant = self.state.agents.get(actor or "", {}).get(signer)
        allowed = signer == actor or (
            grant is not None
            and isinstance(payload, AGENT_TXS)
            and not (grant.expires and self.state.time > grant.expires)
            and (not grant.subaccounts or getattr(payload, "subaccount", None) in grant.subaccounts)
            and (not grant.markets or getattr(payload, "market", None) in grant.markets)
        )
        in_time = not expires or self.state.time <= expires
        outcome = self.submit(Signed(signer, nonce, expires, payload))
        if isinstance(outcome, str):
            assert not (fresh and allowed and in_time), f"refused {outcome}: {signer} {nonce} {payload!r}"
            if not in_time:
                assert outcome == "SignatureExpired"
            elif not fresh:
                assert outcome in ("NonceUsed", "Malformed"), outcome
            statistic(f"signed envelope refused: {outcome}")
            return
        assert fresh and allowed and in_time, f"accepted: {signer} {nonce} {payload!r}"
        assert self.state.nonces[signer].high >= nonce
        with pytest.raises(NonceUsed):
            check_nonce(self.state, signer, nonce)
        refused = [e for e in outcome if e.kind == "Refused"]
        statistic(f"signed envelope accepted: {'payload refused' if refused else 'payload applied'}")


def replay_and_compare(log: list[tuple[Tx, Outcome]], expected_hash: str) -> None:
    """Replay the log on a fresh state: same outcomes, same hash; then only the accepted ones."""
    fresh = genesis(GOVERNOR)
    for i, (tx, outcome) in enumerate(log):
        again: Outcome
        try:
            again = apply(fresh, tx)
        except ProtocolError as error:
            again = error.name
        assert again == outcome, f"replay step {i}: {tx!r} gave {again!r}, first run {outcome!r}"
    assert state_hash(fresh) == expected_hash
    check_invariants(fresh)
    accepted_only = genesis(GOVERNOR)
    for tx, outcome in log:
        if not isinstance(outcome, str):
            apply(accepted_only, tx)
    assert state_hash(accepted_only) == expected_hash


TestEngine = EngineMachine.TestCase


def test_base_state_is_consistent() -> None:
    """The starting point itself: every fixture transaction accepted, invariants hold."""
    state = genesis(GOVERNOR)
    for tx in base_transactions():
        apply(state, tx)
    check_invariants(state)
    assert {m: state.markets[m].mark_price for m in MARKETS} == {
        "BTC-PERP": usd("100000"),
        "ETH-PERP": usd("3000"),
        "ALT-PERP": usd("2"),
    }
    assert all(state.markets[m].open_interest == 0 for m in MARKETS)


# --- the derivatives machine -----------------------------------------------------------


class DerivativesMachine(CheckedMachine):
    """The derivatives deployment: the BTC future and options, smiles, expiry and settlement.

    See the module docstring. Besides ``CheckedMachine``'s checks, every ``SetTime`` is
    checked against a model of the settlement averages (``expected_averages``) and every
    ``Settle`` against the positions it closes (``check_settle``).
    """

    BASE = "derivatives"

    def __init__(self) -> None:
        super().__init__()
        # The settlement average of every unsettled dated market, (sum, fresh seconds), as the
        # module docstring of core.instruments defines it, kept by the machine from the feeds.
        self.averages: dict[str, tuple[int, int]] = {
            market_id: (market.expiry.twap_sum, market.expiry.twap_seconds)
            for market_id, market in self.state.markets.items()
            if market.expiry is not None
        }
        self.listed = 0  # series listed by governance

    # -- applying, with the settlement checks -------------------------------------------------

    def submit(self, tx: Tx) -> Outcome:
        averages = self.expected_averages(tx.time) if isinstance(tx, SetTime) else None
        before = self.before_settle(tx) if isinstance(tx, Settle) else None
        outcome = super().submit(tx)
        self.healthy = False
        accepted = not isinstance(outcome, str)
        if averages is not None and accepted:
            for market_id, expected in averages.items():
                expiry = self.state.markets[market_id].expiry
                assert expiry is not None
                assert (expiry.twap_sum, expiry.twap_seconds) == expected, (
                    f"{tx!r}: {market_id} averages (sum, seconds) {(expiry.twap_sum, expiry.twap_seconds)}, "
                    f"the model {expected}"
                )
            self.averages.update(averages)
        if before is not None:
            assert isinstance(tx, Settle)
            self.check_settle(tx, outcome, *before)
        if isinstance(tx, ListMarket) and accepted:
            self.averages[tx.market] = (0, 0)
        self.healthy = True
        return outcome

    def expected_averages(self, new_time: int) -> dict[str, tuple[int, int]]:
        """Return every open settlement average after the clock moves to ``new_time``.

        Between two blocks the index is the one the first block left. A second s counts when
        the feed then had a quorum within its staleness limit (s - quorum_time <= staleness_s)
        and s lies in ``[expiry - window_s, expiry)``, or s >= expiry while fewer than
        ``min_fresh_s`` seconds have counted (the window runs on).
        """
        state = self.state
        out = {}
        for market_id in sorted(state.markets):
            market = state.markets[market_id]
            expiry = market.expiry
            if expiry is None or expiry.settled:
                continue
            total, seconds = self.averages[market_id]
            feed = state.feeds[market.asset]
            start, end = state.time, new_time
            if feed.index_price and end > start:
                fresh = (start, min(end, feed.quorum_time + feed.staleness_s + 1))  # [start, first stale)
                window = max(0, min(fresh[1], expiry.time) - max(fresh[0], expiry.time - expiry.window_s))
                late = max(0, fresh[1] - max(fresh[0], expiry.time))
                counted = window + min(late, max(0, expiry.min_fresh_s - seconds - window))
                total += feed.index_price * counted
                seconds += counted
            out[market_id] = (total, seconds)
        return out

    def before_settle(self, tx: Settle) -> tuple[bool, dict[AccountKey, int], int]:
        """Return whether ``tx`` must be accepted, the sizes it closes and the fee balance."""
        market = self.state.markets.get(tx.market)
        expiry = market.expiry if market is not None else None
        ready = (
            tx.sender in (KEEPER, STRANGER, *OWNERS)
            and expiry is not None
            and not expiry.settled
            and self.state.time >= expiry.time
            and expiry.twap_seconds >= expiry.min_fresh_s
        )
        sizes = {
            key: pos.size
            for key, account in sorted(self.state.accounts.items())
            if (pos := account.positions.get(tx.market)) is not None and pos.size
        }
        return ready, sizes, self.state.fee_balance

    def check_settle(
        self, tx: Settle, outcome: Outcome, ready: bool, sizes: dict[AccountKey, int], fee: int
    ) -> None:
        """Settle is accepted exactly when the market is ready; it pays every holder its payoff
        at the average of the machine's model and keeps the rounding dust in ``fee_balance``."""
        if not ready:
            assert isinstance(outcome, str), f"{tx!r} was accepted before the market was ready"
            return
        assert not isinstance(outcome, str), f"{tx!r} of a ready market was refused: {outcome}"
        market = self.state.markets[tx.market]
        expiry = market.expiry
        assert expiry is not None and expiry.settled
        total, seconds = self.averages.pop(tx.market)
        price = total // seconds
        assert expiry.settlement_price == price, (
            f"{tx.market} settled at {expiry.settlement_price}, not {price}"
        )
        paid = {
            parse_account(e.data["account"]): e.data["amount"] for e in outcome if e.kind == "PositionSettled"
        }
        expected = {key: settlement_payoff(market, size, price) for key, size in sizes.items()}
        assert paid == expected, f"{tx.market} settled {paid}, the payoffs at {price} are {expected}"
        dust = -sum(expected.values())
        assert dust >= 0, f"{tx.market}: settlement paid out {-dust} more than it took"
        assert self.state.fee_balance == fee + dust, (
            f"{tx.market}: fees {self.state.fee_balance - fee}, dust {dust}"
        )
        statistic(f"Settle {market.kind}: {'dust' if dust else 'no dust'}, {len(sizes)} holders")

    def previewed(self, tx: Tx) -> bool:
        """``preview`` copies every market: checked only where the derivatives add something
        (Settle, portfolio margin, liquidations, withdrawals and the traders' orders)."""
        if isinstance(tx, PlaceOrder):
            return tx.owner != MAKER
        return isinstance(tx, Settle | SetPortfolioMargin | Liquidate | Withdraw)

    # -- reading the state -------------------------------------------------------------------

    def dated(self, status: str) -> list[str]:
        """Return the dated markets that are ``live`` (trading), ``expired`` (awaiting Settle)
        or ``settled``."""
        out = []
        for market_id in sorted(self.state.markets):
            expiry = self.state.markets[market_id].expiry
            if expiry is None:
                continue
            now = "settled" if expiry.settled else "expired" if self.state.time >= expiry.time else "live"
            if now == status:
                out.append(market_id)
        return out

    def live_vol_feeds(self) -> list[str]:
        """Return the volatility feeds of options that have not settled yet."""
        return sorted(
            {
                market.expiry.vol_feed
                for market in self.state.markets.values()
                if market.expiry is not None and market.expiry.vol_feed and not market.expiry.settled
            }
        )

    def price_at(self, market_id: str, bp: int) -> int:
        """Return a price ``bp`` basis points from the mark: of the underlying for an option
        (whose bands are measured on it), of the mark otherwise; on the tick, at least one."""
        market = self.state.markets[market_id]
        if not market.underlying_price:
            return self.near(market_id, bp)
        raw = market.mark_price + market.underlying_price * bp // 10_000
        return max(raw - raw % market.tick, market.tick)

    def max_lots(self, market_id: str) -> int:
        market = self.market(market_id)
        return OPTION_LOTS if market is not None and is_option(market) else LINEAR_LOTS

    def draw_market(self, data: st.DataObject, label: str = "market") -> str:
        """Mostly a live series or BTC-PERP; now and then an expired, settled or unknown one."""
        good = [*self.dated("live"), "BTC-PERP"]
        bad = [*self.dated("expired"), *self.dated("settled"), UNKNOWN_MARKET]
        market_id: str = data.draw(weighted(st.sampled_from(good), st.sampled_from(bad)), label=label)
        return market_id

    # -- reporters -----------------------------------------------------------------------------

    def report_btc(self, data: st.DataObject, walk: int = 60) -> None:
        """A quorum of BTC reporters reports now: a small move from the index (or the held jump)."""
        feed = self.state.feeds["BTC"]
        follow = feed.band_tripped and data.draw(st.booleans(), label="BTC follows the jump")
        base = feed.pending_price if follow else feed.index_price
        price = max(base * (10_000 + data.draw(st.integers(-walk, walk), label="BTC bp")) // 10_000, 1)
        for reporter in quorum(data, reporters("BTC"), 3):
            self.submit(PriceReport(reporter, "BTC", price, self.state.time))

    def report_vols(self, data: st.DataObject, feeds: list[str] | None = None) -> None:
        """A quorum of each volatility feed reports now: its smile, the ATM vol drifting a little."""
        for feed_id in self.live_vol_feeds() if feeds is None else feeds:
            feed = self.state.vol_feeds[feed_id]
            atm = feed.atm_vol or START_SMILE[0]
            atm = min(
                max(atm + data.draw(st.integers(-3, 3), label="vol points") * ONE // 100, ONE // 10), 3 * ONE
            )
            for reporter in quorum(data, VOL_REPORTERS, 3):
                self.submit(VolReport(reporter, feed_id, atm, feed.skew, feed.curvature, self.state.time))

    def keep_vols_fresh(self, data: st.DataObject) -> None:
        """Volatility reporters report when their quorum is about to go stale."""
        for feed_id in self.live_vol_feeds():
            feed = self.state.vol_feeds[feed_id]
            if self.state.time - feed.quorum_time >= feed.staleness_s * 2 // 3:
                self.report_vols(data, [feed_id])

    # -- setup ---------------------------------------------------------------------------------

    @initialize(
        deposits=st.lists(st.integers(2_000, 500_000), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
        maker=st.sampled_from([0, 1_000_000, 20_000_000]),
        portfolio=st.lists(st.sampled_from(ACCOUNTS), max_size=4, unique=True),
        quotes=st.booleans(),
    )
    def seed(self, deposits: list[int], maker: int, portfolio: list[AccountKey], quotes: bool) -> None:
        """Fund the traders (USD amounts), the keeper and maybe the maker; some traders switch
        to portfolio margin; the maker may quote every series."""
        for key, amount in zip(ACCOUNTS, deposits, strict=True):
            self.submit(Deposit(key[0], key[1], "USDC", usd(str(amount))))
        self.submit(Deposit(KEEPER, 0, "USDC", KEEPER_FUNDS))
        if maker:
            self.submit(Deposit(MAKER, 0, "USDC", usd(str(maker))))
        for key in portfolio:
            self.submit(SetPortfolioMargin(key[0], key[1], True))
        if quotes:
            for market_id in self.dated("live"):
                self.quote_ladder(market_id, 2, 20, 20 if is_option(self.state.markets[market_id]) else 2_000)

    # -- time, prices and smiles ---------------------------------------------------------------

    @rule(
        data=st.data(),
        dt=st.sampled_from([1, 5, 30, 59, 60, 61, 120, 299, 301, 900, 3600, 86_400]),
        btc=st.sampled_from([True, True, True, False]),
        vols=st.sampled_from([True, True, False]),
        bad=st.sampled_from([False] * 11 + [True]),
    )
    def advance(self, data: st.DataObject, dt: int, btc: bool, vols: bool, bad: bool) -> None:
        """The clock moves on; the BTC and volatility reporters usually report (else go stale)."""
        if bad:
            self.submit(SetTime(self.state.time - 1))
            return
        self.submit(SetTime(self.state.time + dt))
        if btc:
            self.report_btc(data)
        if vols:
            self.report_vols(data)

    @rule(
        data=st.data(),
        where=st.sampled_from(
            ["before window", "window start", "in window", "last second", "expiry", "after"]
        ),
        btc=st.sampled_from([True, True, False]),
        vols=st.sampled_from([True, True, False]),
    )
    def approach_expiry(self, data: st.DataObject, where: str, btc: bool, vols: bool) -> None:
        """The clock jumps to the next expiry: before or into its settlement window, to the
        last second of trading, to the expiry itself or past it."""
        pending = [
            m.expiry for m in self.state.markets.values() if m.expiry is not None and not m.expiry.settled
        ]
        if not pending:
            self.submit(SetTime(self.state.time + 1))
            return
        expiry = min(pending, key=lambda e: (e.time, e.window_s))
        start = expiry.time - expiry.window_s
        target = {
            "before window": start - data.draw(st.integers(1, 600), label="s before the window"),
            "window start": start,
            "in window": expiry.time - data.draw(st.integers(1, expiry.window_s), label="s before expiry"),
            "last second": expiry.time - 1,
            "expiry": expiry.time,
            "after": expiry.time + data.draw(st.integers(1, 7_200), label="s after expiry"),
        }[where]
        self.submit(SetTime(max(target, self.state.time)))
        statistic(f"approach expiry: {where}{'' if target >= self.state.time else ' (already past)'}")
        if btc:
            self.report_btc(data)
        if vols:
            self.report_vols(data)

    @rule(data=st.data(), rounds=st.integers(2, 16), settle=st.sampled_from([True, True, False]))
    def walk_window(self, data: st.DataObject, rounds: int, settle: bool) -> None:
        """Blocks every 15-240 s with BTC reports, usually: a silent round or a long gap leaves
        stale seconds out of the settlement averages (the window then runs on past expiry).
        Then, usually, Settle is sent for every expired series."""
        for _ in range(rounds):
            dt = data.draw(st.sampled_from([15, 45, 60, 61, 61, 61, 61, 90, 240]), label="dt")
            self.submit(SetTime(self.state.time + dt))
            if data.draw(st.integers(0, 5), label="BTC silent") > 0:
                self.report_btc(data, 30)
            if data.draw(st.integers(0, 7), label="vols silent") > 0:
                self.keep_vols_fresh(data)
        if settle:
            for market_id in self.dated("expired"):
                self.submit(Settle(KEEPER, market_id))

    @rule(
        data=st.data(),
        dt=st.sampled_from([0, 1, 1, 3, 10, 30]),
        count=st.sampled_from([5, 5, 4, 3, 3, 2, 1]),
        move=st.one_of(st.integers(-900, 900), st.integers(-3000, 3000), st.just("pending")),
        outlier=st.one_of(st.none(), st.integers(0, 4)),
    )
    def btc_round(
        self, data: st.DataObject, dt: int, count: int, move: int | str, outlier: int | None
    ) -> None:
        """Several BTC reporters report a move (within the band or beyond), maybe one far off."""
        if dt:
            self.submit(SetTime(self.state.time + dt))
        feed = self.state.feeds["BTC"]
        if move == "pending":
            price = feed.pending_price or feed.index_price
        else:
            assert isinstance(move, int)
            price = max(feed.index_price * (10_000 + move) // 10_000, 1)
        for i, reporter in enumerate(quorum(data, reporters("BTC"), count)):
            self.submit(
                PriceReport(reporter, "BTC", price * 105 // 100 if i == outlier else price, self.state.time)
            )

    @rule(
        data=st.data(),
        direction=st.sampled_from(["victim", "victim", "down", "up"]),
        moves=st.lists(st.integers(900, 3000), min_size=1, max_size=3),
        gaps=st.lists(st.integers(1, 15), min_size=3, max_size=3),
        confirmed=st.sampled_from([True, True, True, False]),
        keepers=st.sampled_from([True, True, False]),
    )
    def btc_shock(
        self,
        data: st.DataObject,
        direction: str,
        moves: list[int],
        gaps: list[int],
        confirmed: bool,
        keepers: bool,
    ) -> None:
        """BTC crashes or spikes 9-30% in up to three moves, confirmed at three block times
        (unless not ``confirmed``); ``victim``: against the BTC holder with the least margin to
        spare (by the rough sign of its position: long futures, calls and perps, short puts
        lose on a fall). Then, usually, the keepers act."""
        down = direction == "down"
        if direction == "victim":
            exposures = []
            for key in ACCOUNTS:
                account = self.state.accounts.get(key)
                if account is None:
                    continue
                exposure = 0
                for market_id, pos in sorted(account.positions.items()):
                    market = self.state.markets[market_id]
                    exposure += -pos.size if market.kind is InstrumentKind.PUT else pos.size
                if exposure:
                    risk = cross_risk(self.state, account)
                    exposures.append((risk.value_maint * ONE // max(risk.mm, 1), exposure > 0))
            exposures.sort()
            down = exposures[0][1] if exposures else data.draw(st.booleans(), label="down")
        for bp in moves:
            feed = self.state.feeds["BTC"]
            old = feed.index_price
            price = max(old * (10_000 + (-bp if down else bp)) // 10_000, 1)
            rounds = 3 if abs(price - old) * ONE > feed.band * old else 1
            for gap in gaps[: rounds if confirmed or rounds == 1 else 2]:
                self.submit(SetTime(self.state.time + gap))
                for reporter in quorum(data, reporters("BTC"), 3):
                    self.submit(PriceReport(reporter, "BTC", price, self.state.time))
                self.keep_vols_fresh(data)
            if self.state.feeds["BTC"].band_tripped:
                break
        statistic(f"BTC shock: {'held' if self.state.feeds['BTC'].band_tripped else 'taken'}")
        if keepers:
            self.run_keeper()

    @rule(
        data=st.data(),
        atm=st.one_of(st.just("drift"), st.integers(5, 300)),
        skew=st.integers(-60, 60),
        curvature=st.integers(0, 100),
        dt=st.sampled_from([0, 1, 1, 10, 60]),
        count=st.sampled_from([5, 4, 3, 3, 2, 1]),
        outlier=st.one_of(st.none(), st.none(), st.integers(0, 4)),
        keepers=st.sampled_from([True, False, False]),
    )
    def smile(
        self,
        data: st.DataObject,
        atm: str | int,
        skew: int,
        curvature: int,
        dt: int,
        count: int,
        outlier: int | None,
        keepers: bool,
    ) -> None:
        """Volatility reporters report a smile (in vol points): a drift of the ATM vol or a
        new level (a volatility shock), sometimes short of a quorum, sometimes with one report
        far from the others' ATM vol (discarded). A shock may make short options liquidatable."""
        feeds = self.live_vol_feeds() or sorted(self.state.vol_feeds)
        feed_id = data.draw(st.sampled_from(feeds), label="vol feed")
        if dt:
            self.submit(SetTime(self.state.time + dt))
        feed = self.state.vol_feeds[feed_id]
        if atm == "drift":
            level = max(
                (feed.atm_vol or START_SMILE[0]) + data.draw(st.integers(-8, 8), label="points") * ONE // 100,
                1,
            )
        else:
            assert isinstance(atm, int)
            level = atm * ONE // 100
        for i, reporter in enumerate(quorum(data, VOL_REPORTERS, count)):
            vol = level
            if i == outlier:
                vol = max(
                    level + data.draw(st.sampled_from([-40, -25, 25, 60]), label="outlier") * ONE // 100, 1
                )
            self.submit(
                VolReport(reporter, feed_id, vol, skew * ONE // 100, curvature * ONE // 100, self.state.time)
            )
        if keepers:
            self.run_keeper()

    @rule(
        data=st.data(),
        mode=st.sampled_from(
            ["unknown feed", "rogue", "zero", "negative", "too large", "future", "replayed", "ok"]
        ),
    )
    def vol_report_single(self, data: st.DataObject, mode: str) -> None:
        """One volatility report, usually bad: unknown feed or reporter, a non-positive or huge
        parameter, from the future, replayed; or a good one from a single reporter."""
        feed_id = data.draw(st.sampled_from(sorted(self.state.vol_feeds)), label="vol feed")
        reporter = data.draw(st.sampled_from(VOL_REPORTERS), label="vol reporter")
        atm, skew, curvature = START_SMILE
        timestamp = self.state.time
        if mode == "unknown feed":
            feed_id = "BTC-NOPE"
        elif mode == "rogue":
            reporter = reporters("BTC")[0]
        elif mode == "zero":
            atm = 0
        elif mode == "negative":
            atm = -ONE // 2
        elif mode == "too large":
            skew = data.draw(st.sampled_from([100 * ONE + 1, -(100 * ONE) - 1, 2**256]), label="skew")
        elif mode == "future":
            timestamp += 1
        elif mode == "replayed":
            timestamp = self.state.vol_feeds[feed_id].reporters[reporter].timestamp
        self.submit(VolReport(reporter, feed_id, atm, skew, curvature, timestamp))

    # -- trading -------------------------------------------------------------------------------

    def quote_ladder(self, market_id: str, levels: int, step_bp: int, lots: int) -> None:
        """The maker quotes ``levels`` bids and asks ``step_bp`` apart around the mark."""
        lot = self.lot(market_id)
        for i in range(1, levels + 1):
            for is_buy in (True, False):
                price = self.price_at(market_id, -step_bp * i if is_buy else step_bp * i)
                self.submit(PlaceOrder(MAKER, 0, market_id, is_buy, lot * lots, price))

    @rule(
        data=st.data(),
        key=st.sampled_from(ACCOUNTS),
        is_buy=st.booleans(),
        style=st.sampled_from(["touch", "touch", "touch", "rest", "market", "reduce", "bad"]),
    )
    def trade(self, data: st.DataObject, key: AccountKey, is_buy: bool, style: str) -> None:
        """Buy or write an option, trade the future (or hedge on BTC-PERP): at the touch, resting
        near the mark, at market, reducing a position, or with a bad price or size."""
        market_id = self.draw_market(data)
        market = self.market(market_id)
        lot = self.lot(market_id)
        size = lot * data.draw(st.integers(1, self.max_lots(market_id)), label="lots")
        price: int | None = None
        tif = TimeInForce.GTC
        reduce_only = False
        if style == "touch" and market is not None:
            price = best_price(market.book, not is_buy)
            tif = data.draw(st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]), label="tif")
            if price is None:
                tif = TimeInForce.IOC
        elif style == "rest" and market is not None:
            bp = data.draw(st.integers(0, 400), label="bp")
            price = self.price_at(market_id, -bp if is_buy else bp)
            tif = data.draw(st.sampled_from([TimeInForce.GTC, TimeInForce.POST_ONLY]), label="tif")
        elif style in ("market", "reduce"):
            tif = TimeInForce.IOC
            if style == "reduce":
                held = self.position(key, market_id)
                is_buy, size, reduce_only = held < 0, abs(held) or lot, True
        else:
            price = data.draw(st.sampled_from([0, -1, 1, 2**256, MAX_AMOUNT]), label="bad price")
            size = data.draw(st.sampled_from([size, 0, size + 1, -lot]), label="bad size")
        self.submit(PlaceOrder(key[0], key[1], market_id, is_buy, size, price, tif, reduce_only))

    @rule(
        data=st.data(),
        pair=st.sampled_from(PAIRS),
        use=st.integers(50, 98),
        isolated=st.sampled_from([False, False, False, True]),
    )
    def open_pair(
        self, data: st.DataObject, pair: tuple[AccountKey, AccountKey], use: int, isolated: bool
    ) -> None:
        """Two owners trade a live series against each other, ``use``% of what the poorer one's
        free collateral allows at roughly the initial fraction (an option's writer, on the
        whole underlying; a buyer, the premium). With ``isolated`` the short side is isolated
        with half its free collateral moved in."""
        live = self.dated("live")
        if not live:
            return
        market_id = data.draw(st.sampled_from(live), label="series")
        long_key, short_key = pair
        if isolated:
            self.submit(SetMarginMode(short_key[0], short_key[1], market_id, True))
            account = self.state.accounts.get(short_key)
            free = cross_risk(self.state, account).free_collateral if account is not None else 0
            self.submit(MoveIsolatedMargin(short_key[0], short_key[1], market_id, max(free // 2, 1)))
        market = self.state.markets[market_id]
        imf, _ = compute_fractions(market, self.state.feeds[market.asset].vol_sigma, 0, 0, market.mm_sigma)
        unit = market.underlying_price or market.mark_price  # what one size unit is worth
        need = max(unit * imf // ONE, market.mark_price, 1)
        free = min(
            bucket_risk(self.state, account, market_id).free_collateral if account is not None else 0
            for account in (self.state.accounts.get(long_key), self.state.accounts.get(short_key))
        )
        lot = self.lot(market_id)
        size = max(free, 0) * use // 100 * SIZE_ONE // need
        size = min(max(size - size % lot, lot), lot * self.max_lots(market_id) * 5)
        price = self.price_at(market_id, 0)
        maker, taker = (long_key, short_key) if use % 2 else (short_key, long_key)
        self.submit(PlaceOrder(maker[0], maker[1], market_id, maker == long_key, size, price))
        self.submit(
            PlaceOrder(taker[0], taker[1], market_id, taker == long_key, size, price, TimeInForce.IOC)
        )

    @rule(
        data=st.data(),
        levels=st.integers(1, 3),
        step_bp=st.sampled_from([5, 10, 25, 50, 100]),
        lots=st.integers(5, 300),
        replace=st.booleans(),
    )
    def make_market(self, data: st.DataObject, levels: int, step_bp: int, lots: int, replace: bool) -> None:
        """The maker quotes a ladder in a live series (of the underlying's price for an option)."""
        live = self.dated("live")
        if not live:
            return
        market_id = data.draw(st.sampled_from(live), label="series")
        if replace:
            self.submit(CancelAll(MAKER, 0, market_id))
        market = self.state.markets[market_id]
        self.quote_ladder(market_id, levels, step_bp, lots if is_option(market) else lots * 50)

    @rule(data=st.data())
    def liquidity_leaves(self, data: st.DataObject) -> None:
        """Every resting order of a series is cancelled by its owner: liquidations there find none."""
        dated = self.dated("live") + self.dated("expired")
        if not dated:
            return
        market_id = data.draw(st.sampled_from(dated), label="series")
        for key in sorted(self.state.markets[market_id].book.by_account):
            self.submit(CancelAll(key[0], key[1], market_id))

    @rule(data=st.data(), key=known_accounts(), market_id=st.one_of(st.none(), st.just("draw")))
    def cancel_all(self, data: st.DataObject, key: AccountKey, market_id: str | None) -> None:
        """Cancels are accepted after expiry too."""
        if market_id is not None:
            market_id = self.draw_market(data)
        self.submit(CancelAll(key[0], key[1], market_id))

    @rule(
        data=st.data(),
        key=known_accounts(),
        kind=st.sampled_from(TriggerKind),
        distance=st.integers(5, 500),
    )
    def place_trigger(self, data: st.DataObject, key: AccountKey, kind: TriggerKind, distance: int) -> None:
        """A trigger on a series (beyond the mark on the side it fires): Settle cancels it."""
        market_id = self.draw_market(data)
        if self.market(market_id) is None:
            self.submit(PlaceTrigger(key[0], key[1], market_id, kind, usd("1"), True, self.lot(market_id)))
            return
        position = self.position(key, market_id)
        size = self.lot(market_id) * data.draw(st.integers(1, 50), label="lots")
        if kind in (TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT):
            is_buy: bool | None = data.draw(st.booleans(), label="is_buy")
            fires_above = bool(is_buy)
        else:
            is_buy, size = None, 0
            fires_above = (position > 0) == (kind is TriggerKind.TAKE_PROFIT)
        trigger_price = self.price_at(market_id, distance if fires_above else -distance)
        limit = (
            self.price_at(market_id, distance if fires_above else -distance)
            if kind is TriggerKind.STOP_LIMIT
            else None
        )
        self.submit(PlaceTrigger(key[0], key[1], market_id, kind, trigger_price, is_buy, size, limit))

    # -- margin ----------------------------------------------------------------------------------

    @rule(key=known_accounts(), enabled=st.booleans())
    def set_portfolio_margin(self, key: AccountKey, enabled: bool) -> None:
        """Portfolio margin on or off: refused when the positions would not meet initial margin."""
        self.submit(SetPortfolioMargin(key[0], key[1], enabled))

    @rule(
        data=st.data(),
        key=st.sampled_from(ACCOUNTS),
        isolated=st.booleans(),
        usd_in=st.integers(-50_000, 100_000),
    )
    def isolate(self, data: st.DataObject, key: AccountKey, isolated: bool, usd_in: int) -> None:
        """Switch a series to isolated (or back) and move margin in or out."""
        market_id = self.draw_market(data)
        self.submit(SetMarginMode(key[0], key[1], market_id, isolated))
        if isolated and usd_in:
            self.submit(MoveIsolatedMargin(key[0], key[1], market_id, usd(str(usd_in))))

    @rule(
        data=st.data(),
        key=known_accounts(),
        mode=st.sampled_from(["free", "free", "free + 1", "half", "deposit"]),
    )
    def collateral(self, data: st.DataObject, key: AccountKey, mode: str) -> None:
        """Withdraw exactly the free collateral (the initial-margin boundary under option and
        portfolio margin), one atom more, or half of it; or deposit."""
        account = self.state.accounts.get(key)
        if mode == "deposit" or account is None:
            amount = usd(str(data.draw(st.integers(1, 200_000), label="USD")))
            self.submit(Deposit(key[0], key[1], "USDC", amount))
            return
        free = min(cross_risk(self.state, account).free_collateral, account.balances.get("USDC", 0))
        amount = {"free": free, "free + 1": free + 1, "half": free // 2}[mode]
        self.submit(Withdraw(key[0], key[1], "USDC", max(amount, 1)))

    # -- liquidation and settlement --------------------------------------------------------------

    @rule(data=st.data(), refresh=st.sampled_from([True, True, False]))
    def keepers_act(self, data: st.DataObject, refresh: bool) -> None:
        """The keepers scan every account and liquidate; usually the reporters refresh first."""
        if refresh:
            self.submit(SetTime(self.state.time + 1))
            self.report_btc(data, 20)
            self.report_vols(data)
        self.run_keeper()

    @rule(
        data=st.data(),
        keeper=st.sampled_from([KEEPER, KEEPER, OWNERS[0], ROGUE_KEEPER]),
        whom=st.sampled_from(["liquidatable", "liquidatable", "holder", "any"]),
    )
    def liquidate(self, data: st.DataObject, keeper: str, whom: str) -> None:
        """A liquidation of a liquidatable bucket, of a holder of a series (live, expired or
        settled: refused), or of anyone."""
        candidates = [tx for _, tx in self.keeper_targets(keeper) if isinstance(tx, Liquidate)]
        holders = sorted(
            (key, market_id)
            for key, account in self.state.accounts.items()
            if key[0] != KEEPER
            for market_id, pos in account.positions.items()
            if pos.size
        )
        if whom == "liquidatable" and candidates:
            tx = data.draw(st.sampled_from(candidates), label="liquidatable")
            self.submit(tx)
            return
        if whom == "holder" and holders:
            key, market_id = data.draw(st.sampled_from(holders), label="holder")
        else:
            key = data.draw(known_accounts(), label="account")
            market_id = self.draw_market(data)
        self.submit(Liquidate(keeper, 0, key[0], key[1], market_id))

    @rule(
        data=st.data(),
        which=st.sampled_from(["expired", "expired", "expired", "live", "settled", "perpetual", "unknown"]),
        sender=weighted(st.sampled_from([KEEPER, STRANGER, OWNERS[2]]), st.just("0xNOT-AN-ADDRESS")),
    )
    def settle(self, data: st.DataObject, which: str, sender: str) -> None:
        """Settle a series: accepted exactly when it has expired and its average has
        ``min_fresh_s`` fresh seconds (``check_settle``); refused otherwise, changing nothing."""
        choices = (
            {
                "perpetual": ["BTC-PERP"],
                "unknown": [UNKNOWN_MARKET],
            }.get(which)
            or self.dated(which)
            or [FUTURE]
        )
        self.submit(Settle(sender, data.draw(st.sampled_from(choices), label="market")))

    # -- governance --------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        days=st.sampled_from([1, 2, 7, 30]),
        window=st.sampled_from([300, 600, 1200]),
        min_fresh=st.sampled_from([0, 0, 120]),
        bad=st.sampled_from([None, None, None, None, "sender", "past", "duplicate", "mismatch", "window"]),
    )
    def list_series(
        self, data: st.DataObject, days: int, window: int, min_fresh: int, bad: str | None
    ) -> None:
        """After an expiry, governance lists a new series: a volatility feed, a future and an
        at-the-money call and put expiring ``days`` later (then the smile is reported). Or a
        listing that is refused: not the governor, an expiry in the past, a feed that exists,
        an option on a feed of another expiry, a window longer than the time left."""
        listed = self.listed + 1
        feed_id = f"BTC-S{listed}"
        expiry = self.state.time + days * 86_400
        live = {self.state.markets[m].expiry.time for m in self.dated("live")}  # type: ignore[union-attr]
        if bad is None and (
            not self.dated("expired") + self.dated("settled") or len(live) >= MAX_LIVE_SERIES
        ):
            bad = data.draw(
                st.sampled_from(["sender", "past", "duplicate", "mismatch", "window"]), label="bad"
            )
        strike = max(self.state.feeds["BTC"].index_price // usd("1000") * usd("1000"), usd("1000"))
        series = {
            "sender": [ListVolOracle(OWNERS[0], feed_id, "BTC", expiry, VOL_REPORTERS, 3)],
            "duplicate": [ListVolOracle(GOVERNOR, VOL_FEED, "BTC", expiry, VOL_REPORTERS, 3)],
            "past": [dated_listing(f"{feed_id}-FUT", InstrumentKind.FUTURE, self.state.time, window)],
            "window": [dated_listing(f"{feed_id}-FUT", InstrumentKind.FUTURE, expiry, days * 86_400 + 1)],
            "mismatch": [
                dated_listing(
                    f"{feed_id}-C", InstrumentKind.CALL, expiry, window, strike=strike, vol_feed=VOL_FEED
                )
            ],
        }.get(bad or "")
        if series is not None:
            for tx in series:
                self.submit(tx)
            return
        self.listed = listed
        self.submit(ListVolOracle(GOVERNOR, feed_id, "BTC", expiry, VOL_REPORTERS, 3, min_vol=ONE // 20))
        self.submit(dated_listing(f"{feed_id}-FUT", InstrumentKind.FUTURE, expiry, window, min_fresh))
        for kind, letter in ((InstrumentKind.CALL, "C"), (InstrumentKind.PUT, "P")):
            market_id = f"{feed_id}-{letter}-{strike // usd('1')}"
            self.submit(dated_listing(market_id, kind, expiry, window, min_fresh, strike, feed_id))
        self.report_vols(data, [feed_id])
        statistic("new series listed")

    @rule(
        sender=weighted(st.just(GOVERNOR), st.just(OWNERS[0])),
        move=st.sampled_from([5, 10, 15, 25]),
        steps=st.sampled_from([1, 3, 5, 0, 21]),
        im_factor=st.sampled_from(["100", "125", "200", "90"]),
        asset=weighted(st.just("BTC"), st.sampled_from(["ETH", "DOGE"])),
    )
    def set_portfolio_params(self, sender: str, move: int, steps: int, im_factor: str, asset: str) -> None:
        """Governance changes the scenario grid (good or bad values): portfolio accounts may
        become liquidatable."""
        self.submit(
            SetPortfolioParams(
                sender,
                asset,
                move=pct(str(move)),
                steps=steps,
                vol_up=pct("30"),
                vol_down=pct("30"),
                vol_ref=pct("2"),
                move_vol_factor=2 * ONE,
                max_move=pct("50"),
                short_option_min=pct("1"),
                im_factor=pct(im_factor),
            )
        )


def quorum(data: st.DataObject, group: tuple[str, ...], count: int) -> list[str]:
    """Return ``count`` reporters of ``group``, from a drawn one on (cheaper than a permutation)."""
    first = data.draw(st.integers(0, len(group) - 1), label="first reporter")
    return [group[(first + i) % len(group)] for i in range(min(count, len(group)))]


def dated_listing(
    market_id: str,
    kind: InstrumentKind,
    expiry: int,
    window: int,
    min_fresh: int = 0,
    strike: int = 0,
    vol_feed: str = "",
) -> ListMarket:
    """Return a listing like the derivatives deployment's: a BTC future (domain MAJ) or option
    (domain OPT, one BTC per contract)."""
    option = kind is not InstrumentKind.FUTURE
    return ListMarket(
        GOVERNOR,
        market_id,
        "BTC",
        "OPT" if option else "MAJ",
        tick=usd("0.1"),
        lot=SIZE_ONE // 100 if option else SIZE_ONE // 10_000,
        min_notional=usd("1"),
        base_imf=pct("15") if option else pct("10"),
        base_mmf=pct("7.5") if option else pct("5"),
        max_leverage=20 if option else 10,
        vol_ref=pct("2"),
        imf_vol_factor=ONE,
        mmf_vol_factor=ONE // 2,
        maker_fee=pct("0.02"),
        taker_fee=pct("0.05"),
        oi_cap=0 if option else 100 * SIZE_ONE,
        kind=kind,
        expiry=expiry,
        settle_window_s=window,
        min_fresh_s=min_fresh,
        strike=strike,
        contract_size=SIZE_ONE if option else 0,
        vol_feed=vol_feed,
    )


TestDerivatives = DerivativesMachine.TestCase


# --- regressions found by the machine ----------------------------------------------------


def kinds(outcome: Outcome) -> list[str]:
    """Return the event kinds of an accepted transaction; fail on a refusal."""
    assert not isinstance(outcome, str), f"refused: {outcome}"
    return [e.kind for e in outcome]


def base_state() -> State:
    state = genesis(GOVERNOR)
    for tx in base_transactions():
        assert not isinstance(apply_checked(state, tx), str)
    return state


def test_covered_quote_debit_from_an_account_without_quote() -> None:
    """An account holding only ETH may withdraw or transfer USDC into a covered debt.

    It used to raise KeyError (the account had no USDC entry), and the transfer
    had already created its destination account: not a ProtocolError, not atomic.
    """
    state = base_state()
    owner = OWNERS[0]
    eth = 10 * 10**18  # 30,000 USDC at 3,000; 24,000 at the 0.8 initial weight
    assert not isinstance(apply_checked(state, Deposit(owner, 0, "ETH", eth)), str)
    assert kinds(apply_checked(state, Withdraw(owner, 0, "USDC", usd("1000")))) == ["Withdrawn"]
    assert state.accounts[(owner, 0)].balances == {"ETH": eth, "USDC": -usd("1000")}
    assert kinds(apply_checked(state, Transfer(owner, 0, 1, "USDC", usd("500")))) == ["Transferred"]
    assert state.accounts[(owner, 0)].balances == {"ETH": eth, "USDC": -usd("1500")}
    assert state.accounts[(owner, 1)].balances == {"USDC": usd("500")}
    # Beyond the collateral: refused, and the destination is not created.
    assert apply_checked(state, Transfer(owner, 0, 2, "USDC", usd("23000"))) == "InsufficientMargin"
    assert (owner, 2) not in state.accounts
    assert apply_checked(state, Withdraw(owner, 0, "USDC", usd("22501"))) == "InsufficientMargin"
    assert kinds(apply_checked(state, Withdraw(owner, 0, "USDC", usd("22500")))) == ["Withdrawn"]
    assert state.accounts[(owner, 0)].balances == {"ETH": eth, "USDC": -usd("24000")}
    assert state.withdrawn == {"USDC": usd("23500")}
    check_invariants(state)


def test_confirmed_jumps_to_extreme_prices_are_applied() -> None:
    """A confirmed jump to 2**120 and then to 1 atom: volatility sampling must not fail on ln(0)."""
    state = base_state()
    for price in (2**120, 2**120, 2**120, 1, 1, 1):
        # 61 s without reports: the feed goes stale and its markets freeze.
        assert set(kinds(apply_checked(state, SetTime(state.time + 61)))) <= {"BreakerTripped"}
        emitted = []
        for reporter in reporters("BTC"):
            emitted += kinds(apply_checked(state, PriceReport(reporter, "BTC", price, state.time)))
        check_invariants(state)
    assert [k for k in emitted if not k.startswith("Breaker")][-2:] == ["IndexJumpConfirmed", "IndexUpdated"]
    feed = state.feeds["BTC"]
    assert feed.index_price == 1
    assert feed.vol_last_price == 1
    assert feed.band_tripped is False


def test_new_position_owes_funding_only_from_its_opening() -> None:
    """A short opened 59 s after the last accrual receives funding for 1 s, not 60.

    Longs pay 0.125%/h from T0+300 (a 1% premium over 8 h). D is long 0.1 BTC
    from T0 and buys 0.1 more at T0+359 from C, a new short. Had C's position
    started at the last accrual (T0+300), it would receive funding for 59 s that
    nobody paid, and the market's funding balance would end at -204,859.
    """
    state = base_state()
    b, c, d = (address_of(f"stateful-funding-{n}") for n in "BCD")
    for owner in (b, c, d):
        kinds(apply_checked(state, Deposit(owner, 0, "USDC", usd("100000"))))
    tenth = SIZE_ONE // 10
    kinds(apply_checked(state, PlaceOrder(d, 0, "BTC-PERP", True, SIZE_ONE // 2, usd("101000"))))
    assert kinds(apply_checked(state, PlaceOrder(b, 0, "BTC-PERP", False, tenth, None, TimeInForce.IOC))) == [
        "Fill"
    ]

    def report_all(time: int) -> None:
        kinds(apply_checked(state, SetTime(time)))
        for asset in FEEDS:
            for reporter in reporters(asset):
                kinds(apply_checked(state, PriceReport(reporter, asset, START_PRICE[asset], time)))

    report_all(GENESIS_TIME + 300)
    market = state.markets["BTC-PERP"]
    assert market.funding_rate == 125 * 10**13  # 1% premium / 8 h, per hour
    kinds(apply_checked(state, SetTime(GENESIS_TIME + 359)))
    events = apply_checked(state, PlaceOrder(c, 0, "BTC-PERP", False, tenth, None, TimeInForce.IOC))
    assert not isinstance(events, str)
    assert [(e.kind, e.data.get("amount")) for e in events] == [("FundingPaid", 204_862), ("Fill", None)]
    report_all(GENESIS_TIME + 360)
    paid = {}
    for owner in (b, c, d):
        outcome = apply_checked(state, SettleFunding(owner, 0))
        assert not isinstance(outcome, str)
        paid[owner] = [e.data["amount"] for e in outcome]
    # 0.1 BTC at 100,000 USDC for 60 s is 208,333.3 atoms; C held it for 1 s, D doubled for 1 s.
    assert paid == {b: [-208_333], c: [-3_472], d: [6_945]}
    assert market.funding_balance == 204_862 + 6_945 - 208_333 - 3_472 == 2
    check_invariants(state)


GOVERNANCE = {
    "ListVolOracle",
    "SetPortfolioParams",
    "ListAsset",
    "ListOracle",
    "ListMarket",
    "CreatePool",
    "SetAssetWeights",
    "SetReporters",
    "ListDomain",
    "SetDomain",
    "SetMarketLimits",
    "SettleOnChain",  # one-way; tests/core/test_chain_settled.py
}


def test_machine_sends_every_user_transaction_type() -> None:
    """A transaction type added to the protocol must be added to the machine too."""
    sent = {
        name
        for name, cls in TX_TYPES.items()
        if any(isinstance(value, type) and value is cls for value in globals().values())
    }
    assert set(TX_TYPES) - GOVERNANCE == sent - GOVERNANCE
    assert len(set(TX_TYPES) - GOVERNANCE) == 33


def test_preview_of_a_liquidation_that_deleverages_matches_apply() -> None:
    """A bankrupt ALT long, no book, no pool, a fund too small: ADL against the short.

    A is long 50,000 ALT at 2 with 25,000 USDC; ALT falls to 1 (confirmed at three block
    times). Closing at the band edge would cost the ALT fund (20,000) more than it holds, so
    the position is deleveraged against B, the only short. ``preview`` must say the same as
    ``apply``. Its shadow state used to list only the accounts it had touched, so its ADL
    queue was empty and it answered NoLiquidityInBand.
    """
    state = base_state()
    a, b, keeper = (address_of(f"stateful-adl-{n}") for n in ("a", "b", "keeper"))
    lots = 50_000 * SIZE_ONE
    for tx in (
        Deposit(a, 0, "USDC", usd("25000")),
        Deposit(b, 0, "USDC", usd("100000")),
        PlaceOrder(b, 0, "ALT-PERP", False, lots, usd("2")),
        PlaceOrder(a, 0, "ALT-PERP", True, lots, usd("2"), TimeInForce.IOC),
    ):
        kinds(apply_checked(state, tx))
    for dt in (1, 2, 3):
        kinds(apply_checked(state, SetTime(GENESIS_TIME + dt)))
        for reporter in reporters("ALT"):
            kinds(apply_checked(state, PriceReport(reporter, "ALT", usd("1"), GENESIS_TIME + dt)))
    liquidation = Liquidate(keeper, 0, a, 0, "ALT-PERP")
    expected = preview_checked(state, liquidation)
    outcome = apply_checked(state, liquidation)
    assert "Deleveraged" in kinds(outcome)
    check_invariants(state)
    assert expected == outcome


def test_liquidation_at_a_one_atom_index_does_not_divide_by_zero() -> None:
    """BTC confirmed at 1 atom while an ask below the index holds the premium EMA at -0.99%.

    The mark used to be 1 + floor(1 * -0.5%) = 0, and the liquidation of a long bought on 10x
    leverage (now worth nothing, its cross bucket below zero) raised ZeroDivisionError computing
    the window cap (``... * SIZE_ONE // mark``). The mark now stays at 1 atom, and the
    liquidation is accepted or refused with a ProtocolError (``apply_checked``).
    """
    state = base_state()
    a, b, c, keeper = (address_of(f"stateful-zero-mark-{n}") for n in ("a", "b", "c", "keeper"))
    tenth = SIZE_ONE // 10
    for tx in (
        Deposit(a, 0, "USDC", usd("2000")),
        Deposit(b, 0, "USDC", usd("100000")),
        Deposit(c, 0, "USDC", usd("100000")),
        PlaceOrder(b, 0, "BTC-PERP", False, tenth, usd("100000")),
        PlaceOrder(a, 0, "BTC-PERP", True, tenth, usd("100000"), TimeInForce.IOC),
        PlaceOrder(c, 0, "BTC-PERP", False, SIZE_ONE, usd("99000")),  # rests below the index
        SetTime(GENESIS_TIME + 300),
    ):
        kinds(apply_checked(state, tx))
    for asset in FEEDS:
        for reporter in reporters(asset):
            kinds(apply_checked(state, PriceReport(reporter, asset, START_PRICE[asset], GENESIS_TIME + 300)))
    for dt in (301, 302, 303):
        kinds(apply_checked(state, SetTime(GENESIS_TIME + dt)))
        for reporter in reporters("BTC"):
            kinds(apply_checked(state, PriceReport(reporter, "BTC", 1, GENESIS_TIME + dt)))
    market = state.markets["BTC-PERP"]
    assert state.feeds["BTC"].index_price == 1
    assert market.premium_ema < -market.mark_band
    assert market.mark_price == 1
    assert cross_risk(state, state.accounts[(a, 0)]).is_liquidatable
    apply_checked(state, Liquidate(keeper, 0, a, 0, "BTC-PERP"))
    check_invariants(state)
