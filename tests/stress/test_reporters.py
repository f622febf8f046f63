"""
Oracle reporters of the stress lab, applied to Fixture F through the real core.
"""

import os
import subprocess
import sys
from collections.abc import Iterator

from tests.core.fixtures import T0, listed_state

from solvent.core.engine import apply
from solvent.core.events import Event
from solvent.core.oracle import is_halted, is_stale
from solvent.core.state import State
from solvent.core.tx import PriceReport, SetTime
from solvent.defaults import reporters, usd
from solvent.stress.paths import PricePath, gbm
from solvent.stress.reporters import (
    ReporterModel,
    ReporterSet,
    default_names,
    honest,
    one_liar,
    several_silent,
)


def steps(
    state: State, path: PricePath, rs: ReporterSet, times: range | None = None
) -> Iterator[tuple[int, list[Event]]]:
    """Set the clock to each time and apply the reports due then; yield the time and its events."""
    for t in path.times() if times is None else times:
        if t != state.time:
            apply(state, SetTime(t))
        events: list[Event] = []
        for tx in rs.reports_at(t, path):
            events += apply(state, tx)
        yield t, events


def play(state: State, path: PricePath, rs: ReporterSet, times: range | None = None) -> list[list[Event]]:
    """Run every step; return each step's events."""
    return [events for _, events in steps(state, path, rs, times)]


def flat_then(prices: list[int], step_s: int = 60) -> PricePath:
    return PricePath("test", "BTC", T0, step_s, tuple(prices), "test path")


def test_the_reporters_are_the_ones_the_deployment_registers() -> None:
    rs = ReporterSet("BTC", models=honest(5))
    assert default_names("BTC") == tuple(f"btc-reporter-{i}" for i in range(1, 6))
    assert rs.addresses == reporters("BTC")
    assert set(rs.addresses) == set(listed_state().feeds["BTC"].reporters)


def test_the_same_seed_gives_the_same_reports() -> None:
    path = gbm(1, steps=300)
    model = ReporterModel(noise_bps=20, stale_prob=0.3, delay_s=5)

    def run(seed: int) -> list[PriceReport]:
        rs = ReporterSet("BTC", models=model, seed=seed)
        return [r for t in path.times() for r in rs.reports_at(t, path)]

    a, b, c = run(9), run(9), run(10)
    assert a == b and repr(a) == repr(b)
    assert a != c
    assert 0.6 * 5 * 301 < len(a) < 0.8 * 5 * 301  # about 70% of the rounds reported


def test_an_honest_set_makes_the_index_follow_the_path() -> None:
    state = listed_state()
    path = gbm(2, steps=240, sigma_annual=1.0)
    play(state, path, ReporterSet("BTC", models=honest(5)))
    assert state.feeds["BTC"].index_price == path.prices[-1]
    # With noise the index is a median of noisy reports: close to the path at every step.
    state = listed_state()
    rs = ReporterSet("BTC", models=honest(5, ReporterModel(noise_bps=10)), seed=4)
    for t, _ in steps(state, path, rs):
        assert abs(state.feeds["BTC"].index_price / path.price_at(t) - 1) < 0.0025


def test_a_liar_does_not_move_the_index() -> None:
    path = gbm(3, steps=120)
    for factor in (1.5, 1.015, 0.2):  # far out, inside the 2% deviation, far below
        state = listed_state()
        events = play(state, path, ReporterSet("BTC", models=one_liar(5, factor), seed=1))
        feed = state.feeds["BTC"]
        assert feed.index_price == path.prices[-1]
        discarded = [e for step in events for e in step if e.kind == "ReportDiscarded"]
        liar = reporters("BTC")[0]
        if factor == 1.015:
            assert not discarded
        else:
            assert discarded and {e.data["reporter"] for e in discarded} == {liar}


def test_silent_reporters_below_quorum_make_the_feed_stale() -> None:
    path = gbm(4, steps=10)
    state = listed_state()
    play(state, path, ReporterSet("BTC", models=honest(5)), range(T0, T0 + 1))  # an index at T0
    play(state, path, ReporterSet("BTC", models=several_silent(5, 3), seed=2), range(T0 + 60, T0 + 601, 60))
    feed = state.feeds["BTC"]
    # At T0 + 60 the silent three's reports of T0 are 60 s old, still fresh (age <= 60): the last
    # quorum, whose median is their price.
    assert feed.index_price == path.prices[0] and feed.quorum_time == T0 + 60
    assert is_stale(state, feed)
    # Two silent of five leave a quorum of three: fresh, and following the path.
    state = listed_state()
    play(state, path, ReporterSet("BTC", models=several_silent(5, 2), seed=2))
    assert not is_stale(state, state.feeds["BTC"])
    assert state.feeds["BTC"].index_price == path.prices[-1]


def test_skipped_rounds_lose_the_quorum_when_too_many_skip() -> None:
    path = gbm(5, steps=600)

    def stale_steps(stale_prob: float) -> int:
        state = listed_state()
        rs = ReporterSet("BTC", models=ReporterModel(stale_prob=stale_prob), seed=3)
        return sum(is_stale(state, state.feeds["BTC"]) for _ in steps(state, path, rs))

    # A report stays fresh for one round after its own: a reporter counts unless it skips twice.
    assert stale_steps(0.1) == 0
    assert stale_steps(0.6) > 30


def test_a_move_beyond_the_band_is_held_until_confirmed() -> None:
    # Fixture F: band 10%, three confirming aggregates at distinct block times.
    before, after = usd("100000"), usd("80000")
    path = flat_then([before, before, after, after, after, after])
    state = listed_state()
    events = play(state, path, ReporterSet("BTC", models=honest(5)))
    kinds = [{e.kind for e in step} for step in events]
    assert "IndexMoveHeld" in kinds[2] and "IndexMoveHeld" in kinds[3]
    assert "IndexJumpConfirmed" in kinds[4]
    assert state.feeds["BTC"].index_price == after and not is_halted(state, state.feeds["BTC"])


def test_a_delayed_reporter_reports_the_past() -> None:
    path = gbm(6, steps=20)
    rs = ReporterSet("BTC", models=ReporterModel(delay_s=150), seed=0)
    assert rs.reports_at(T0, path) == []  # nothing seen yet
    assert rs.reports_at(T0 + 60, path) == []
    reports = rs.reports_at(T0 + 180, path)
    assert {(r.timestamp, r.price) for r in reports} == {(T0 + 30, path.prices[0])} and len(reports) == 5
    lagging = ReporterSet("BTC", models=ReporterModel(delay_s=150, stamp="sent"), seed=0)
    lagging.reports_at(T0 + 60, path)
    assert {r.timestamp for r in lagging.reports_at(T0 + 180, path)} == {T0 + 180}


def test_delay_stamped_when_seen_ages_reports_and_stamped_when_sent_lags_the_index() -> None:
    path = gbm(6, steps=20)
    times = range(T0 + 150, path.end + 1, 60)
    # Seen 150 s before they arrive: older than the 60 s staleness, never counted.
    state = listed_state()
    play(state, path, ReporterSet("BTC", models=ReporterModel(delay_s=150)), times)
    assert state.feeds["BTC"].index_price == 0
    # Within the staleness limit they count, 30 s behind.
    state = listed_state()
    play(state, path, ReporterSet("BTC", models=ReporterModel(delay_s=30)), times)
    assert state.feeds["BTC"].index_price == path.price_at(path.end - 30)
    # A lagging source stamped when sent: fresh, and the index is the price of 150 s ago.
    state = listed_state()
    play(state, path, ReporterSet("BTC", models=ReporterModel(delay_s=150, stamp="sent")), times)
    assert state.feeds["BTC"].index_price == path.price_at(path.end - 150)


def test_the_schedule_reports_once_per_due_time() -> None:
    path = gbm(7, steps=10)
    rs = ReporterSet("BTC", models=ReporterModel(report_every_s=30, phase_s=T0 % 30 + 5), seed=0)
    counts = [len(rs.reports_at(t, path)) for t in range(T0, T0 + 121, 10)]
    # The first call reports; then at T0+5+30k, seen at the next call after it.
    assert counts == [5, 5, 0, 0, 5, 0, 0, 5, 0, 0, 5, 0, 0]
    stamps = [r.timestamp for t in range(T0 + 130, T0 + 400, 7) for r in rs.reports_at(t, path)]
    assert stamps == sorted(stamps)


RUN = """
from solvent.stress.congestion import ChainModel, gwei
from solvent.stress.paths import episode_paths, rolling_vol, synthetic
from solvent.stress.reporters import ReporterModel, ReporterSet
out = []
for kind in ("gbm", "jumps", "garch", "depeg"):
    out.append(repr(synthetic(kind, 5, steps=500)))
path = episode_paths("2025-10-10")["BTC"]
rs = ReporterSet("BTC", models=ReporterModel(noise_bps=10, stale_prob=0.2), seed=5)
chain = ChainModel(5, start=path.start)
for k, (t, vol) in enumerate(zip(path.times(), rolling_vol(path, 15))):
    out += map(repr, rs.reports_at(t, path))
    chain.advance(t, vol)
    chain.submit(k, gwei(40), 300_000, t)
    out.append(repr(chain.included(t)))
print(out)
"""


def test_a_run_is_the_same_in_another_process() -> None:
    # String hashing is salted per process (PYTHONHASHSEED): nothing may depend on it.
    outputs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        done = subprocess.run(
            [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10_000
