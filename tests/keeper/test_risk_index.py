"""
The risk index: its float model against the core's integers, incremental updates
against a full recompute, and a screen that never misses a liquidatable bucket.
"""

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keeper_helpers import START, Market, all_rows, check_index, check_model, exact_liquidatable, key

from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.events import event
from solvent.core.fixed import ONE
from solvent.core.margin import compute_fractions
from solvent.core.state import Account, Position, State
from solvent.core.tx import (
    CancelAll,
    MoveIsolatedMargin,
    SetMarginMode,
    SetTime,
    SettleFunding,
    Withdraw,
)
from solvent.core.units import from_atoms
from solvent.defaults import address_of, usd
from solvent.keeper import exact_risk, risk_index
from solvent.keeper.risk_index import (
    CROSS,
    FUNDING_RESYNC,
    RiskIndex,
    accounts_named,
    fraction_terms,
    market_params,
    position_terms,
    position_terms_scalar,
)
from solvent.scenario import Step, run_lines

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "examples").glob("*.jsonl")) + sorted(
    (REPO / "tests" / "scenarios").rglob("*.jsonl")
)


# --- the float model --------------------------------------------------------------


@given(
    notional=st.integers(0, 10**16),
    sigma=st.integers(0, ONE),
    mm_sigma=st.integers(0, ONE),
    size_factor=st.sampled_from([0, 10**15, 3 * 10**16]),
)
def test_fractions_match_the_core(notional: int, sigma: int, mm_sigma: int, size_factor: int) -> None:
    state = Market().start().state
    market = state.markets["BTC-PERP"]
    market.margin.imf_size_factor = size_factor
    market.margin.mmf_size_factor = size_factor // 2
    _, mmf = compute_fractions(market, sigma, notional, 0, mm_sigma)
    params = market_params(market)
    imf0, mmf0, imf_sf, mmf_sf = fraction_terms(params, sigma, mm_sigma)
    root = (notional / params[2]) ** 0.5
    model = min(mmf0 + mmf_sf * root, imf0 + imf_sf * root, 1.0)
    assert abs(model - mmf / ONE) <= 1e-12


def test_scalar_and_vector_terms_agree() -> None:
    rng = random.Random(3)
    params = (10**17, 5 * 10**16, 10**12, 10**15, 5 * 10**14, 2 * 10**16, ONE, ONE // 2)
    qty = np.array([rng.randrange(-(10**12), 10**12) for _ in range(200)], dtype=np.float64)
    ref = np.array([rng.randrange(-(10**24), 10**24) for _ in range(200)], dtype=np.float64)
    hc, g = position_terms(qty, ref, 95_000 * 10**6, 3e23, params, 5 * 10**16, 4 * 10**16)
    for i in range(200):
        shc, sg = position_terms_scalar(
            float(qty[i]), float(ref[i]), 95_000 * 10**6, 3e23, params, 5 * 10**16, 4 * 10**16
        )
        assert shc == pytest.approx(hc[i], rel=1e-12, abs=1e-6)
        assert sg == pytest.approx(g[i], rel=1e-12)


def test_events_name_accounts_and_pools() -> None:
    m = Market().start()
    m.deposit("a", "100")
    pool_key = m.state.pools["LP"].account
    a = key("a")
    events = [
        event("Fill", taker=f"{a[0]}/0", maker="pool:LP/0"),
        event("PoolDeposited", pool="LP", account=f"{a[0]}/0"),
        event("Transferred", source=f"{a[0]}/0", destination=f"{a[0]}/7"),  # /7 does not exist
        event("IndexUpdated", asset="BTC", index=1),
    ]
    assert accounts_named(m.state, events) == {a, pool_key}


# --- incremental == full recompute, and no misses, along real flows ---------------


def test_index_follows_trades_prices_funding_and_isolated_margin() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    m.deposit("a", "10100")
    m.deposit("b", "300")
    m.deposit("b", "0.2", asset="ETH")
    m.deposit("c", "30000")
    m.trade("a", "BTC-PERP", "buy", "1", "100000")
    m.trade("b", "ETH-PERP", "sell", "2", "2000")
    m.apply(SetMarginMode(address_of("c"), 0, "ALT-PERP", True))
    m.apply(MoveIsolatedMargin(address_of("c"), 0, "ALT-PERP", usd("11000")))
    m.trade("c", "ALT-PERP", "buy", "50000", "1")
    m.trade("c", "BTC-PERP", "sell", "0.1", "100000")
    check_index(m.state, m.index)
    check_model(m.state, m.index)
    # A one-sided book: the premium EMA moves the mark and funding accrues each update.
    m.bid("bidder", "BTC-PERP", "0.2", "104000")
    logged = len(m.log)
    for _ in range(20):
        m.advance(30)
        m.prices(**START)
        check_index(m.state, m.index)
        check_model(m.state, m.index)
    # The mark moved with no IndexUpdated: the index follows the state, not that event.
    assert not any(e.kind == "IndexUpdated" for _, events in m.log[logged:] for e in events)
    assert m.state.markets["BTC-PERP"].mark_price != usd("100000")
    assert m.state.markets["BTC-PERP"].funding_rate != 0
    for btc, eth, alt in (("96000", "2100", "0.95"), ("91000", "2200", "0.9"), ("87000", "2350", "0.84")):
        m.advance(30)
        m.prices(BTC=btc, ETH=eth, ALT=alt, USDT="1")
        check_index(m.state, m.index)
        check_model(m.state, m.index)
    assert {r[0] for r in exact_liquidatable(m.state)} >= {key("a")[0], key("b")[0]}
    m.apply(SettleFunding(address_of("a"), 0))
    m.apply(Withdraw(address_of("c"), 0, "USDC", usd("1000")))
    check_index(m.state, m.index)
    m.keeper.run(m.state)
    check_index(m.state, m.index)
    check_model(m.state, m.index)


def test_unbooked_funding_is_bounded_then_resynced() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    m.deposit("a", "20000")
    m.trade("a", "BTC-PERP", "buy", "1", "100000")
    m.bid("bidder", "BTC-PERP", "0.2", "104000")
    for _ in range(12):  # the EMA climbs and the funding rate with it
        m.advance(30)
        m.prices(BTC="100000")
    market = m.state.markets["BTC-PERP"]
    assert market.funding_rate > 0
    index = m.index
    before = index.updates
    # Only the clock moves: no event names the account, the mark stays, funding accrues.
    apply(m.state, SetTime(m.state.time + 5))
    drift = index.funding_drift(m.state)
    assert 0 < drift < FUNDING_RESYNC
    check_model(m.state, index)  # within the drift allowance
    apply(m.state, SetTime(m.state.time + 3600))
    assert index.funding_drift(m.state) > FUNDING_RESYNC
    index.screen(m.state)  # resyncs BTC-PERP
    assert index.updates > before
    assert index.funding_drift(m.state) == 0.0
    check_model(m.state, index)


def test_new_accounts_and_closed_isolated_rows() -> None:
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("c", "30000")
    m.apply(SetMarginMode(address_of("c"), 0, "BTC-PERP", True))
    m.apply(MoveIsolatedMargin(address_of("c"), 0, "BTC-PERP", usd("2000")))
    m.trade("c", "BTC-PERP", "buy", "0.1", "100000")
    row = (address_of("c"), 0, "BTC-PERP")
    assert m.index.alive[m.index.row_of[row]]
    m.trade("c", "BTC-PERP", "sell", "0.1", "100000", maker="maker")
    assert not m.index.alive[m.index.row_of[row]]
    check_index(m.state, m.index)
    for i in range(100):  # grows its arrays
        m.deposit(f"n{i}", "100")
    check_index(m.state, m.index)


def test_columns_compact_after_many_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(risk_index, "SORT_TAIL", 3)  # re-sort often: every lookup path is used
    m = Market().start()
    m.deposit("maker", "100000000")
    index = m.index
    for i in range(40):
        m.deposit(f"t{i}", "5000")
        m.trade(f"t{i}", "ETH-PERP", "buy" if i % 3 else "sell", "1", "2000")
        if i % 7 == 0:
            m.trade(f"t{i}", "ETH-PERP", "sell" if i % 3 else "buy", "1", "2000")  # closes it
    check_index(m.state, index)
    col = index.columns[index.markets["ETH-PERP"].column]
    holders = sum(1 for a in m.state.accounts.values() if "ETH-PERP" in a.positions)
    col.compact()
    assert col.sorted_n == col.n == col.live() == holders
    assert list(col.rows[: col.n]) == sorted(col.rows[: col.n])
    check_index(m.state, index)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_index_shadows_every_scenario(path: Path) -> None:
    """Replay each scenario with an index observing every step: at every step the screen
    holds every liquidatable bucket and the index equals a full recompute.
    """
    holder: dict[str, State] = {}
    index_holder: dict[str, RiskIndex] = {}

    def setup(state: State) -> None:
        holder["state"] = state
        index_holder["index"] = RiskIndex.from_state(state)

    def on_step(step: Step) -> None:
        if step.kind != "tx":
            return
        state, index = holder["state"], index_holder["index"]
        index.observe(state, step.events)
        check_index(state, index)

    run_lines(path.read_text(), path.name, on_step, setup)
    assert "state" in holder


# --- property: the screen is a superset of the exact set ---------------------------

MARKETS = ("BTC-PERP", "ETH-PERP", "ALT-PERP")

position_st = st.tuples(
    st.sampled_from(MARKETS),
    st.integers(-3000, 3000).filter(bool),  # lots of 10**-3 base unit (ALT: whole units x 1000)
    st.booleans(),  # isolated
    st.integers(-5000, 5000),  # unbooked funding offset, quote units per base unit
)
account_st = st.tuples(
    st.integers(-200_000, 200_000),  # USDC
    st.integers(0, 20),  # ETH
    st.lists(position_st, max_size=3, unique_by=lambda p: p[0]),
    st.integers(0, 30_000),  # isolated margin, USDC
)
move_st = st.tuples(
    st.sampled_from(["BTC", "ETH", "ALT"]),
    st.floats(-0.099, 0.099),
    st.integers(1, 59),  # seconds before the report
)


def _build(state: State, accounts: list[tuple[int, int, list[tuple[str, int, bool, int]], int]]) -> None:
    """Add accounts as records (as a snapshot loader would); the exact check needs no history."""
    for i, (usdc, eth, positions, iso_margin) in enumerate(accounts):
        owner = f"0x{i + 1:040x}"
        balances = {"USDC": usdc * 10**6}
        if eth:
            balances["ETH"] = eth * 10**17
        held = {}
        for market_id, lots, isolated, offset in positions:
            market = state.markets[market_id]
            unit = market.lot * (1000 if market_id == "ALT-PERP" else 10 if market_id == "BTC-PERP" else 1)
            held[market_id] = Position(
                lots * unit,
                0,
                market.cum_funding - offset * 10**6 * ONE,
                isolated,
                iso_margin * 10**6 if isolated else 0,
            )
        state.accounts[(owner, 0)] = Account(owner, 0, balances, held)


@given(
    accounts=st.lists(account_st, min_size=1, max_size=6),
    rates=st.tuples(*[st.integers(-5 * 10**15, 5 * 10**15)] * 3),
    moves=st.lists(move_st, min_size=1, max_size=6),
)
def test_screen_never_misses(
    accounts: list[tuple[int, int, list[tuple[str, int, bool, int]], int]],
    rates: tuple[int, int, int],
    moves: list[tuple[str, float, int]],
) -> None:
    m = Market().start()
    state = m.state
    _build(state, accounts)
    for market_id, rate in zip(MARKETS, rates, strict=True):
        state.markets[market_id].funding_rate = rate
    m.keeper.index = RiskIndex.from_state(state)
    check_index(state, m.index)
    check_model(state, m.index)
    last = {"BTC": 100_000.0, "ETH": 2_000.0, "ALT": 1.0}
    for asset, change, wait in moves:
        m.advance(wait)
        last[asset] *= 1 + change
        m.prices(**{asset: f"{last[asset]:.4f}"})
        m.prices(**{a: f"{p:.4f}" for a, p in last.items() if a != asset})  # keep the others fresh
        check_index(state, m.index)
        check_model(state, m.index)


@given(accounts=st.lists(account_st, min_size=1, max_size=5), wait=st.integers(0, 50))
def test_screen_catches_buckets_one_atom_under(
    accounts: list[tuple[int, int, list[tuple[str, int, bool, int]], int]], wait: int
) -> None:
    """Every bucket set to health exactly -1 atom is screened; the keeper confirms it."""
    m = Market().start()
    state = m.state
    state.markets["BTC-PERP"].funding_rate = 3 * 10**15
    _build(state, accounts)
    m.keeper.index = RiskIndex.from_state(state)
    m.advance(wait)  # funding the index has not booked
    rows = all_rows(state)
    for row in rows:
        risk = exact_risk(state, row)
        assert risk is not None
        account = state.accounts[(row[0], row[1])]
        if row[2] == CROSS:
            account.balances["USDC"] = account.balances.get("USDC", 0) - risk.health - 1
        else:
            account.positions[row[2]].isolated_margin -= risk.health + 1
    m.index.refresh(state, {(r[0], r[1]) for r in rows})
    assert exact_liquidatable(state) == set(rows)
    assert set(rows) <= set(m.index.screen(state).keys)
    assert {u.row for u in m.keeper.underwater(state)} == set(rows)


def test_a_closed_position_opened_after_funding_leaves_nothing_behind() -> None:
    """A holding whose funding index differs from the column's base, once closed, must not
    keep contributing when its market's price later moves.
    """
    m = Market().start()
    m.deposit("maker", "10000000")
    m.deposit("bidder", "10000000")
    m.bid("bidder", "BTC-PERP", "0.2", "104000")
    for _ in range(12):  # funding accrues: cum_funding moves away from the index's base
        m.advance(30)
        m.prices(BTC="100000")
    assert m.state.markets["BTC-PERP"].cum_funding != m.index.markets["BTC-PERP"].cum_base
    m.apply(CancelAll(address_of("bidder"), 0))
    m.deposit("a", "20000")
    m.trade("a", "BTC-PERP", "buy", "0.5", "100000")
    m.trade("a", "BTC-PERP", "sell", "0.5", "100000")
    assert "BTC-PERP" not in m.state.accounts[key("a")].positions
    m.advance(30)
    m.prices(BTC="96000")
    check_index(m.state, m.index)


# --- property: random flows through apply ------------------------------------------

TRADERS = ("p", "q", "r", "s")
op_st = st.one_of(
    st.tuples(
        st.just("trade"),
        st.sampled_from(TRADERS),
        st.sampled_from(MARKETS),
        st.booleans(),
        st.integers(1, 3),  # tenths of a BTC / units of 10 ETH / 10,000 ALT: often closes
    ),
    st.tuples(st.just("price"), st.sampled_from(["BTC", "ETH", "ALT"]), st.floats(-0.09, 0.09)),
    st.tuples(st.just("close"), st.sampled_from(TRADERS), st.sampled_from(MARKETS)),
    st.tuples(st.just("wait"), st.integers(1, 600)),
    st.tuples(st.just("isolate"), st.sampled_from(TRADERS), st.sampled_from(MARKETS), st.integers(1, 5000)),
    st.tuples(st.just("withdraw"), st.sampled_from(TRADERS), st.integers(1, 20000)),
    st.tuples(
        st.just("keeper"),
    ),
)
AMOUNT = {"BTC-PERP": "0.{}", "ETH-PERP": "{}0", "ALT-PERP": "{}0000"}


def flow_market() -> tuple[Market, dict[str, float]]:
    """Four traders with USDC and ETH, a funded pool, and funding that has accrued."""
    m = Market().start()
    m.deposit("maker", "100000000")
    m.deposit("bidder", "100000000")
    m.bid("bidder", "BTC-PERP", "2", "104000")  # the premium, so funding, moves
    m.fund_pool("5000000")  # after the bid, which the pool would otherwise fill
    for name in TRADERS:
        m.deposit(name, "15000")
        m.deposit(name, "1", asset="ETH")
    for _ in range(8):  # funding accrues: positions open at a funding index off the index's base
        m.advance(30)
        m.prices(BTC="100000", ETH="2000", ALT="1")
    m.apply(CancelAll(address_of("bidder"), 0))  # the premium decays from here on
    return m, {"BTC": 100_000.0, "ETH": 2_000.0, "ALT": 1.0}


def run_op(m: Market, last: dict[str, float], op: tuple[object, ...]) -> None:
    """Apply one step of a flow; a refused transaction is part of the flow."""
    try:
        if op[0] == "trade":
            _, name, market, buy, amount = op
            n = int(str(amount))
            qty = f"{n // 10}.{n % 10}" if market == "BTC-PERP" else AMOUNT[str(market)].format(n)
            m.trade(str(name), str(market), "buy" if buy else "sell", qty)
        elif op[0] == "close":
            _, name, market = op
            pos = m.state.accounts[key(str(name))].positions.get(str(market))
            if pos is not None and pos.size:
                side = "sell" if pos.size > 0 else "buy"
                m.trade(str(name), str(market), side, from_atoms(abs(pos.size), 8), reduce_only=True)
        elif op[0] in ("price", "wait"):
            if op[0] == "price":
                last[str(op[1])] *= 1 + float(str(op[2]))
                m.advance(1)
            else:
                m.advance(int(str(op[1])))
            m.prices(**{a: f"{p:.4f}" for a, p in last.items()})
        elif op[0] == "isolate":
            _, name, market, amount = op
            owner = address_of(str(name))
            m.apply(SetMarginMode(owner, 0, str(market), True))
            m.apply(MoveIsolatedMargin(owner, 0, str(market), usd(str(amount))))
        elif op[0] == "withdraw":
            m.apply(Withdraw(address_of(str(op[1])), 0, "USDC", usd(str(op[2]))))
        else:
            m.keeper.run(m.state)
    except ProtocolError:
        pass


@given(ops=st.lists(op_st, min_size=5, max_size=30))
def test_random_flows_keep_the_index_exact(ops: list[tuple[object, ...]]) -> None:
    """Trades that open, grow, flip and close positions, isolated margin, withdrawals,
    price moves, time (funding accrues) and keeper runs: after every step the index
    equals a full recompute and misses no liquidatable bucket.
    """
    m, last = flow_market()
    for op in ops:
        run_op(m, last, op)
        check_index(m.state, m.index)


@pytest.mark.parametrize("seed", range(4))
def test_long_random_walks_keep_the_index_exact(seed: int) -> None:
    """The same steps, 150 per walk, weighted towards trades, closes and price moves."""
    rng = random.Random(seed)
    m, last = flow_market()
    kinds = ["trade"] * 7 + ["close"] * 3 + ["price"] * 5 + ["keeper"] * 3 + ["wait", "isolate", "withdraw"]
    for _ in range(150):
        kind = rng.choice(kinds)
        name, market = rng.choice(TRADERS), rng.choice(MARKETS)
        op: tuple[object, ...] = {
            "trade": (kind, name, market, rng.random() < 0.5, rng.randrange(1, 7)),
            "close": (kind, name, market),
            "price": (kind, rng.choice(["BTC", "ETH", "ALT"]), rng.uniform(-0.08, 0.07)),
            "wait": (kind, rng.randrange(1, 600)),
            "isolate": (kind, name, market, rng.randrange(100, 5000)),
            "withdraw": (kind, name, rng.randrange(100, 20000)),
            "keeper": (kind,),
        }[kind]
        run_op(m, last, op)
        check_index(m.state, m.index)
