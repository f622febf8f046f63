"""
Stateful property test of the engine: random sequences of every user transaction.

A Hypothesis ``RuleBasedStateMachine`` starts from Fixture F (three markets,
three collateral assets, the LP pool) with fresh prices, and applies random
transactions of every user type, good and deliberately bad, from 4 owners x
2 subaccounts plus a stranger. Every transaction goes through ``submit``,
which checks:

- P3: a refused transaction raises ``ProtocolError`` and leaves
  ``state_hash`` exactly as it was; no other exception ever escapes;
- ``preview`` gives the same events (or the same error) as ``apply`` and
  changes nothing.

After every step the invariants are checked (``check_invariants``): money is
conserved per asset to the atom, longs equal shorts and open interest, no
non-quote balance is negative, books and trigger indexes are consistent and
uncrossed, pool shares add up, and funding never pays out more than it took.
At teardown the whole transaction log is replayed on a fresh state, which
must refuse the same transactions with the same errors, emit the same events
and reach the same ``state_hash`` (determinism).

Run longer with ``SOLVENT_HYPOTHESIS_PROFILE=thorough`` (see tests/conftest.py).
"""

from typing import Any

from hypothesis import event as statistic
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from solvent.core.book import best_price
from solvent.core.engine import apply, genesis, preview
from solvent.core.errors import ProtocolError
from solvent.core.events import Event
from solvent.core.hashing import state_hash
from solvent.core.margin import cross_risk, current_cum_funding, funding_owed
from solvent.core.pool import DEAD_SHARES
from solvent.core.state import Market, State, TimeInForce, TriggerKind
from solvent.core.tx import (
    TX_TYPES,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    ModifyOrder,
    MoveIsolatedMargin,
    PlaceOrder,
    PlaceTrigger,
    PoolDeposit,
    PoolRequestWithdrawal,
    PoolWithdraw,
    PriceReport,
    SetLeverage,
    SetMarginMode,
    SetTime,
    SettleFunding,
    Transfer,
    Tx,
    Withdraw,
)
from solvent.core.units import MAX_AMOUNT, SIZE_ONE, AccountKey
from solvent.defaults import GENESIS_TIME, GOVERNOR, address_of, fixture_f, reporters, usd

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


def base_transactions() -> list[Tx]:
    """Fixture F and one fresh report from every reporter of every feed."""
    txs: list[Tx] = [SetTime(GENESIS_TIME), *fixture_f()]
    for asset in FEEDS:
        txs += [PriceReport(r, asset, START_PRICE[asset], GENESIS_TIME) for r in reporters(asset)]
    return txs


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
    for trigger_id, trigger in market.triggers.items():
        assert trigger.id == trigger_id
        assert trigger.market == market.id
        assert trigger.account in state.accounts
        assert 0 < trigger_id < state.next_order_id
        assert trigger_id not in market.book.orders
        if trigger.fires_above:
            above.add((trigger.trigger_price, trigger_id))
            # Triggers fire on every mark update; an unfired one is beyond the mark.
            assert trigger.trigger_price > market.mark_price
        else:
            below.add((-trigger.trigger_price, trigger_id))
            assert trigger.trigger_price < market.mark_price
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


def check_invariants(state: State) -> None:
    check_money(state)
    check_accounts_and_positions(state)
    for market in state.markets.values():
        check_book(state, market)
        check_triggers(state, market)
        check_funding(state, market)
    check_pools(state)


# --- the machine ---------------------------------------------------------------------

Outcome = list[Event] | str  # the events of an accepted transaction, or the refusal's error name


def apply_checked(state: State, tx: Tx) -> Outcome:
    """Apply ``tx``; a refusal must be a ProtocolError that leaves ``state_hash`` unchanged (P3)."""
    before = state_hash(state)
    try:
        return apply(state, tx)
    except ProtocolError as error:
        assert state_hash(state) == before, f"refused {tx!r} ({error.name}) but changed the state"
        return error.name
    except Exception as error:
        raise AssertionError(
            f"{tx!r} raised {type(error).__name__} ({error}); only ProtocolError may escape"
        ) from error


def preview_checked(state: State, tx: Tx) -> Outcome:
    """Return what ``preview`` says ``tx`` would do; it must change nothing."""
    before = state_hash(state)
    outcome: Outcome
    try:
        outcome = preview(state, tx).events
    except ProtocolError as error:
        outcome = error.name
    except Exception as error:
        raise AssertionError(f"preview of {tx!r} raised {type(error).__name__}: {error}") from error
    assert state_hash(state) == before, f"preview of {tx!r} changed the state"
    return outcome


def weighted(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good``, one time in twelve ``bad``."""
    return st.integers(0, 11).flatmap(lambda i: bad if i == 0 else good)


def known_accounts() -> st.SearchStrategy[AccountKey]:
    return weighted(st.sampled_from(ACCOUNTS), st.sampled_from(UNKNOWN_ACCOUNTS))


def markets() -> st.SearchStrategy[str]:
    return weighted(st.sampled_from(MARKETS), st.just(UNKNOWN_MARKET))


def client_ids() -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), st.integers(0, 3), st.just(2**64))


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = genesis(GOVERNOR)
        self.log: list[tuple[Tx, Outcome]] = []
        self.healthy = True
        for tx in base_transactions():
            outcome = self.submit(tx)
            assert not isinstance(outcome, str), f"fixture transaction refused: {tx!r}: {outcome}"

    # -- applying -------------------------------------------------------------------

    def submit(self, tx: Tx) -> Outcome:
        """Apply ``tx`` with the P3 and preview checks; log and return its outcome."""
        self.healthy = False
        expected: Outcome | None = None
        if not isinstance(tx, PriceReport | SetTime):  # preview is for what users send
            expected = preview_checked(self.state, tx)
        outcome = apply_checked(self.state, tx)
        if isinstance(outcome, str):
            note(f"refused {outcome}: {tx!r}")
        else:
            note(f"applied {tx!r} -> {[e.kind for e in outcome]}")
        if expected is not None:
            assert outcome == expected, f"preview said {expected!r}, apply did {outcome!r} for {tx!r}"
        # Coverage, shown by ``pytest --hypothesis-show-statistics``.
        statistic(f"{type(tx).__name__}: {outcome if isinstance(outcome, str) else 'accepted'}")
        for e in outcome if not isinstance(outcome, str) else ():
            statistic(f"event {e.kind}")
            if e.kind in ("TriggerFailed", "OrderCancelled"):
                statistic(f"event {e.kind} {e.data['reason']}")
        self.log.append((tx, outcome))
        self.healthy = True
        return outcome

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
        lp=st.integers(0, 2_000_000),
        quotes=st.booleans(),
    )
    def seed(self, deposits: list[int], eth: int, lp: int, quotes: bool) -> None:
        """Fund the accounts (USD amounts), optionally the pool and a ladder of quotes."""
        for key, amount in zip(ACCOUNTS, deposits, strict=True):
            self.submit(Deposit(key[0], key[1], "USDC", usd(str(amount))))
        if eth:
            self.submit(Deposit(OWNERS[1], 0, "ETH", eth * 10**18))
        if lp:
            self.submit(Deposit(OWNERS[3], 1, "USDC", usd(str(lp))))
            self.submit(PoolDeposit(OWNERS[3], 1, POOL, usd(str(lp))))
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


GOVERNANCE = {"ListAsset", "ListOracle", "ListMarket", "CreatePool", "SetAssetWeights", "SetReporters"}


def test_machine_sends_every_user_transaction_type() -> None:
    """A transaction type added to the protocol must be added to the machine too."""
    sent = {
        name
        for name, cls in TX_TYPES.items()
        if any(isinstance(value, type) and value is cls for value in globals().values())
    }
    assert set(TX_TYPES) - GOVERNANCE == sent - GOVERNANCE
    assert len(set(TX_TYPES) - GOVERNANCE) == 18
