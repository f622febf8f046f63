"""Agents of the stress lab: makers pull quotes in stress, traders' leverage respects the caps."""

from solvent.core.tx import CancelAll, PlaceOrder
from solvent.stress import agents as ag
from solvent.stress.config import LabConfig
from solvent.stress.lab import build_agents, build_state, run


def _view(state, market: str, vol: float, move: float) -> ag.StepView:
    index = {m: 100_000 * 10**6 for m in state.markets}
    return ag.StepView(
        state,
        state.time,
        1,
        index,
        {m: [0.0] for m in index},
        {m: vol for m in index},
        {m: move for m in index},
        dict(index),
        0.0,
    )


def test_maker_quotes_when_calm_and_pulls_everything_in_stress() -> None:
    state = build_state(LabConfig())
    maker = ag.Maker("maker-t", "s", "BTC-PERP", 10**12, 10**9, levels=2)
    state.accounts[maker.key] = __import__("solvent.core.state", fromlist=["Account"]).Account(
        maker.owner, 0, {"USDC": 10**12}, {}
    )
    calm = maker.act(_view(state, "BTC-PERP", 0.0001, 0.0001))
    assert len(calm) == 4 and all(isinstance(tx, PlaceOrder) for tx in calm)
    bids = sorted(tx.price for tx in calm if tx.is_buy)
    asks = sorted(tx.price for tx in calm if not tx.is_buy)
    assert bids[-1] < 100_000 * 10**6 < asks[0]
    stressed = maker.act(_view(state, "BTC-PERP", 0.02, 0.03))
    assert stressed == [CancelAll(maker.owner, 0, "BTC-PERP")]
    assert maker.act(_view(state, "BTC-PERP", 0.02, 0.03)) == []  # already pulled
    assert maker.pulls == 1


def test_traders_leverage_is_capped_by_each_market() -> None:
    config = LabConfig(agents=400, leverage=9.0)
    state = build_state(config)
    index = {m: 1000 * 10**6 for m in state.markets}
    traders = [
        a for a in build_agents(config, state, index, sorted(state.markets)) if isinstance(a, ag.Trader)
    ]
    assert len(traders) == 320
    for trader in traders:
        assert 0 < trader.leverage <= 0.95 * state.markets[trader.market].margin.max_leverage
    assert len({t.market for t in traders}) == 3
    equities = sorted(t.equity for t in traders)
    assert equities[-1] > 5 * equities[len(equities) // 2]  # a heavy tail


def test_makers_pull_quotes_in_a_real_crash() -> None:
    summary = run(LabConfig(episode="2024-08-05", duration_s=3600, agents=40, seed=2)).summary
    assert summary["agents"]["maker_pulls"] > 0
    assert summary["agents"]["maker"]["count"] >= 1


def test_an_attacker_pushing_a_thin_book_does_not_move_the_mark_past_its_band() -> None:
    # Fixture F's mark = index x (1 + clamp(premium EMA, +-0.5%)): the attacker's bursts of buys on
    # ALT-PERP (whose only other liquidity is the pool, quoting around the index) trade, but the
    # mark it could use to liquidate shorts stays within 0.5% of the oracle at every sample.
    mix = {"trend": 0.2, "meanrev": 0.1, "maker": 0.2, "keeper": 0.1, "attacker": 0.4}
    result = run(LabConfig(episode="2024-08-05", agents=30, seed=5, mix=mix))
    series = result.series
    assert result.summary["agents"]["attacker"]["count"] == 12
    assert result.summary["open_interest"]["ALT-PERP"]["max"] > 0  # the pushes traded
    for market, asset in (("ALT-PERP", "ALT"), ("BTC-PERP", "BTC")):
        marks, indexes = series[f"mark.{market}"], series[f"index.{asset}"]
        assert all(abs(m - i) * 1000 <= 5 * i for m, i in zip(marks, indexes, strict=True)), market
