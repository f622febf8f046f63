"""
The keeper: exact outcomes, most underwater first, the market the core requires,
collateral sales, refusals recorded, and no liquidatable account left behind.
"""

import random

from keeper_helpers import Market, check_index, exact_liquidatable, key, size

from solvent.core.engine import apply
from solvent.core.errors import NoLiquidityInBand, OracleStale, ProtocolError
from solvent.core.events import Event
from solvent.core.state import State
from solvent.core.tx import (
    Liquidate,
    LiquidateCollateral,
    MoveIsolatedMargin,
    SetMarginMode,
    Tx,
    Withdraw,
)
from solvent.defaults import address_of, usd
from solvent.keeper import Keeper, RiskIndex
from solvent.keeper.risk_index import CROSS
from solvent.scenario import Replay, Step, check_conservation, run_lines

KEEPER = address_of("keeper")


def liquidated(outcomes: list[tuple[Tx, list[Event] | ProtocolError]]) -> list[Event]:
    return [e for _, r in outcomes if isinstance(r, list) for e in r if e.kind == "Liquidated"]


def test_exact_outcome_of_a_partial_liquidation() -> None:
    """docs/liquidation.md, worked example 1, found and sent by the keeper."""
    text = "\n".join(
        [
            '{"genesis": "fixture_f"}',
            '{"tx": "Prices", "asset": "BTC", "price": "100000"}',
            '{"tx": "Deposit", "account": "maker", "asset": "USDC", "amount": "10000000"}',
            '{"tx": "Deposit", "account": "bidder", "asset": "USDC", "amount": "10000000"}',
            '{"tx": "Deposit", "account": "keeper", "asset": "USDC", "amount": "1000"}',
            '{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "10050"}',
            '{"tx": "PlaceOrder", "account": "maker", "market": "BTC-PERP", "side": "sell", '
            '"size": "1", "price": "100000"}',
            '{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", '
            '"size": "1", "price": "100000", "tif": "IOC"}',
            '{"tx": "SetTime", "advance": 30}',
            '{"tx": "Prices", "asset": "BTC", "price": "94000"}',
            '{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", '
            '"size": "0.5", "price": "93500"}',
            '{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", '
            '"size": "1", "price": "93000"}',
        ]
    )
    keeper = Keeper(KEEPER)
    replay = replay_with(keeper, text)
    assert replay.failure is None
    state = replay.state
    trader = key("trader")
    assert keeper.liquidations(state) == [Liquidate(KEEPER, 0, trader[0], 0, "BTC-PERP")]
    outcomes = keeper.run(state)
    assert [tx for tx, _ in outcomes] == [Liquidate(KEEPER, 0, trader[0], 0, "BTC-PERP")]
    (ev,) = liquidated(outcomes)
    assert ev.data["size"] == size("0.7176")
    assert ev.data["notional"] == usd("66986.8")
    assert ev.data["penalty"] == usd("1004.802")
    assert ev.data["keeper_reward"] == usd("334.934")
    assert ev.data["insurance_fee"] == usd("669.868")
    assert ev.data["deficit"] == 0
    assert state.accounts[trader].positions["BTC-PERP"].size == size("0.2824")
    assert state.accounts[trader].balances["USDC"] == -usd("24018.002")
    assert state.accounts[key("keeper")].balances["USDC"] == usd("1334.934")
    assert state.insurance["MAJ"] == usd("1000669.868")
    assert keeper.passes == 1  # the second screen finds it healthy: value 2,527.598 >= MM 1,327.28
    assert keeper.liquidations(state) == []
    assert keeper.index is not None
    check_index(state, keeper.index)


def replay_with(keeper: Keeper, text: str) -> Replay:
    """Replay scenario text with ``keeper`` observing every step's events."""
    holder: list[State] = []

    def on_step(step: Step) -> None:
        keeper.observe(holder[0], step.events)

    return run_lines(text, "<test>", on_step, holder.append)


def three_longs() -> Market:
    """Three 1 BTC longs with 10,050, 10,400 and 10,200 USDC; BTC falls to 94,000."""
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    for name, amount in (("t1", "10050"), ("t2", "10400"), ("t3", "10200")):
        m.deposit(name, amount)
        m.trade(name, "BTC-PERP", "buy", "1", "100000")
    m.advance(30)
    m.prices(BTC="94000")
    return m


def test_most_underwater_first() -> None:
    m = three_longs()
    keeper = m.keeper
    found = keeper.underwater(m.state)
    assert [u.key for u in found] == [key("t1"), key("t3"), key("t2")]
    ratios = [u.ratio for u in found]
    assert ratios == sorted(ratios) and ratios[-1] < 0
    assert [u.risk.health for u in found] == [-usd("700"), -usd("550"), -usd("350")]
    m.bid("bidder", "BTC-PERP", "5", "93500")
    outcomes = keeper.run(m.state)
    assert [tx.owner for tx, _ in outcomes] == [address_of(n) for n in ("t1", "t3", "t2")]  # type: ignore[union-attr]
    assert all(isinstance(r, list) for _, r in outcomes)
    assert exact_liquidatable(m.state) == set()


def test_ties_go_by_account_key() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    for name in ("u1", "u2", "u3"):
        m.deposit(name, "10050")
        m.trade(name, "BTC-PERP", "buy", "1", "100000")
    m.advance(30)
    m.prices(BTC="94000")
    found = m.keeper.underwater(m.state)
    assert [u.key for u in found] == sorted(key(n) for n in ("u1", "u2", "u3"))


def test_cross_bucket_liquidates_the_largest_requirement_first() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    m.deposit("a", "12100")
    m.trade("a", "BTC-PERP", "buy", "1", "100000")  # MM 5,000 at 100,000
    m.trade("a", "ETH-PERP", "buy", "10", "2000")  # MM 1,000
    m.advance(30)
    m.prices(BTC="93000", ETH="1860")
    assert m.keeper.liquidations(m.state) == [Liquidate(KEEPER, 0, key("a")[0], 0, "BTC-PERP")]
    m.bid("bidder", "BTC-PERP", "2", "92500")
    m.bid("bidder", "ETH-PERP", "20", "1850")
    outcomes = m.keeper.run(m.state)
    markets = [tx.market for tx, r in outcomes if isinstance(r, list)]  # type: ignore[union-attr]
    assert markets[0] == "BTC-PERP"
    assert not any(isinstance(r, ProtocolError) for _, r in outcomes)
    assert exact_liquidatable(m.state) == set()


def test_isolated_bucket_is_liquidated_by_its_market() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    m.deposit("c", "50000")
    c = address_of("c")
    m.apply(SetMarginMode(c, 0, "ALT-PERP", True))
    m.apply(MoveIsolatedMargin(c, 0, "ALT-PERP", usd("2100")))
    m.trade("c", "ALT-PERP", "buy", "10000", "1")
    m.trade("c", "BTC-PERP", "buy", "0.1", "100000")
    for price in ("0.95", "0.9", "0.85"):
        m.advance(30)
        m.prices(ALT=price, BTC="100000")
    found = m.keeper.underwater(m.state)
    assert [(u.key, u.bucket) for u in found] == [(key("c"), "ALT-PERP")]
    m.bid("bidder", "ALT-PERP", "20000", "0.84")
    outcomes = m.keeper.run(m.state)
    assert next(tx for tx, _ in outcomes) == Liquidate(KEEPER, 0, c, 0, "ALT-PERP")
    assert m.state.accounts[key("c")].positions["BTC-PERP"].size == size("0.1")  # cross untouched
    assert exact_liquidatable(m.state) == set()
    check_index(m.state, m.index)


def test_collateral_is_sold_when_no_position_is_left() -> None:
    m = Market().start()
    m.deposit("e", "1", asset="ETH")
    e = address_of("e")
    m.apply(Withdraw(e, 0, "USDC", usd("1500")))  # quote -1,500 against 0.85 x 2,000 of ETH
    for price in ("1850", "1700"):
        m.advance(30)
        m.prices(ETH=price, BTC="100000")
    assert [u.key for u in m.keeper.underwater(m.state)] == [key("e")]
    assert m.keeper.liquidations(m.state) == []  # the keeper has no quote to buy with yet
    m.deposit("keeper", "10000")
    assert m.keeper.liquidations(m.state) == [LiquidateCollateral(KEEPER, 0, e, 0, "ETH")]
    outcomes = m.keeper.run(m.state)
    kinds = [ev.kind for _, r in outcomes if isinstance(r, list) for ev in r]
    assert "CollateralLiquidated" in kinds
    assert m.state.accounts[key("e")].balances["USDC"] >= 0
    assert exact_liquidatable(m.state) == set()
    check_index(m.state, m.index)


def test_refusals_are_recorded_not_raised() -> None:
    m = three_longs()  # no bids and an empty pool: nothing to sell into
    outcomes = m.keeper.run(m.state)
    assert len(outcomes) == 3
    assert all(isinstance(r, NoLiquidityInBand) for _, r in outcomes)
    assert m.keeper.passes == 1
    # The index goes stale: one refusal blocks the market for the rest of the run.
    m.advance(120)
    outcomes = m.keeper.run(m.state)
    assert [type(r) for _, r in outcomes] == [OracleStale]


def test_keeper_never_targets_its_own_owner() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("keeper", "10050")
    m.trade("keeper", "BTC-PERP", "buy", "1", "100000")
    m.advance(30)
    m.prices(BTC="94000")
    assert [u.key for u in m.keeper.underwater(m.state)] == [key("keeper")]
    assert m.keeper.liquidations(m.state) == []
    assert m.keeper.run(m.state) == []


def test_keeper_builds_its_index_on_first_use_and_uses_the_given_apply() -> None:
    m = three_longs()
    m.bid("bidder", "BTC-PERP", "5", "93500")
    keeper = Keeper(address_of("other-keeper"))
    assert keeper.index is None
    sent: list[Tx] = []

    def node(state: State, tx: Tx) -> list[Event]:
        sent.append(tx)
        return apply(state, tx)

    outcomes = keeper.run(m.state, node)
    assert isinstance(keeper.index, RiskIndex)
    assert sent == [tx for tx, _ in outcomes] and len(sent) == 3


def test_after_drops_and_runs_no_account_with_positions_is_liquidatable() -> None:
    """Forty accounts at random leverage, long and short BTC and ETH; the prices fall in
    steps and the keeper runs after each; with a funded pool and a deep book nothing
    liquidatable is left, money is conserved, and the index never misses.
    """
    rng = random.Random(11)
    m = Market().start()
    m.deposit("maker", "100000000")
    m.deposit("bidder", "100000000")
    m.fund_pool("20000000")
    for i in range(40):
        name = f"acct{i}"
        side = "buy" if i % 4 else "sell"
        tenths = rng.randrange(1, 3)
        eth_units = rng.randrange(1, 5) if i % 3 == 0 else 0
        initial = 10_000 * tenths / 10 + 200 * eth_units
        m.deposit(name, str(round(initial * rng.uniform(1.02, 1.6)) + 50))
        m.trade(name, "BTC-PERP", side, f"0.{tenths}", "100000")
        if eth_units:
            m.trade(name, "ETH-PERP", side, str(eth_units), "2000")
    btc, eth = 100_000.0, 2_000.0
    total = 0
    for _ in range(6):
        btc *= 0.97
        eth *= 0.96
        m.advance(30)
        m.prices(BTC=f"{btc:.1f}", ETH=f"{eth:.2f}")
        for market, price in (("BTC-PERP", btc), ("ETH-PERP", eth)):
            m.bid("bidder", market, "50", f"{price * 0.995:.1f}")
        check_index(m.state, m.index)
        outcomes = m.keeper.run(m.state)
        total += len(liquidated(outcomes))
        left = {row for row in exact_liquidatable(m.state) if _has_positions(m.state, row)}
        assert left == set()
        check_index(m.state, m.index)
    assert total >= 10
    assert all(gap == 0 for gap in check_conservation(m.state).values())


def _has_positions(state: State, row: tuple[str, int, str]) -> bool:
    account = state.accounts[(row[0], row[1])]
    if row[2] != CROSS:
        return True
    return any(not p.isolated and p.size for p in account.positions.values())
