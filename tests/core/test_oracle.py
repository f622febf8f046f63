"""
Oracle aggregation, with exact integers.

Fixture F feeds: five reporters, quorum 3, stale after 60 s, reports more
than 2% from the median left out, a move of more than 10% held until 3
aggregates at distinct block times agree. Prices in quote atoms per unit:
100,000 USDC = 100_000_000_000.
"""

from math import isqrt

from fixtures import T0, kinds, listed_state, of_kind, ready_state, refused, report

from solvent.core.engine import apply
from solvent.core.errors import (
    AmountTooLarge,
    InvalidAmount,
    ReportFromFuture,
    ReportReplayed,
    Unauthorized,
    UnknownAsset,
)
from solvent.core.fixed import ln_ratio
from solvent.core.oracle import compute_median, is_halted, is_stale
from solvent.core.tx import PriceReport, SetTime
from solvent.defaults import address_of, reporters, usd

R = reporters("BTC")
P100K = 100_000_000_000


def _send(state, i: int, price: str, t: int | None = None):
    """Reporter ``i`` (0-based) of BTC reports ``price`` at ``t`` (default: now)."""
    return apply(state, PriceReport(R[i], "BTC", usd(price), state.time if t is None else t))


def test_index_needs_a_quorum_of_fresh_reports():
    state = listed_state()
    assert [e.to_json() for e in _send(state, 0, "100000")] == [
        {"event": "QuorumNotMet", "asset": "BTC", "fresh": 1, "quorum": 3}
    ]
    assert kinds(_send(state, 1, "100000")) == ["QuorumNotMet"]
    events = _send(state, 2, "100000")
    assert of_kind(events, "IndexUpdated") == [{"asset": "BTC", "index": P100K, "previous": 0}]
    feed = state.feeds["BTC"]
    assert (feed.index_price, feed.index_time) == (P100K, T0)
    assert state.markets["BTC-PERP"].mark_price == P100K


def test_median_of_odd_and_even_counts():
    assert compute_median([3, 1, 2]) == 2
    assert compute_median([10, 1, 3, 2]) == 2  # floor((2 + 3) / 2)
    assert compute_median([4, 7]) == 5  # floor(11 / 2)


def test_index_is_the_median_of_kept_reports():
    state = listed_state()
    _send(state, 0, "100000")
    _send(state, 1, "100100")
    _send(state, 2, "100200")
    assert state.feeds["BTC"].index_price == 100_100_000_000  # median of three
    _send(state, 3, "100300")
    # even count: floor((100,100 + 100,200) / 2) = 100,150
    assert state.feeds["BTC"].index_price == 100_150_000_000


def test_outlier_report_is_left_out_and_blamed_when_superseded():
    state = listed_state()
    for i in range(4):
        _send(state, i, "100000")
    events = _send(state, 4, "103000")  # 3% from the median 100,000 > 2%
    assert of_kind(events, "ReportDiscarded") == [
        {"asset": "BTC", "reporter": R[4], "price": 103_000_000_000, "median": P100K}
    ]
    assert state.feeds["BTC"].index_price == P100K
    apply(state, SetTime(T0 + 10))
    _send(state, 4, "100000")  # the next report supersedes the outlier: counted once against it
    _send(state, 0, "100000")
    reporter4, reporter0 = state.feeds["BTC"].reporters[R[4]], state.feeds["BTC"].reporters[R[0]]
    assert (reporter4.accepted, reporter4.discarded) == (0, 1)
    assert (reporter0.accepted, reporter0.discarded) == (1, 0)


def test_report_exactly_at_max_deviation_is_kept():
    state = listed_state()
    for i in range(4):
        _send(state, i, "100000")
    # |102,000 - 100,000| * 10**18 = 2 * 10**27 is not > 2% * 100,000 = 2 * 10**27
    assert "ReportDiscarded" not in kinds(_send(state, 4, "102000"))


def test_reporter_leading_a_genuine_move_is_not_blamed():
    state = ready_state()
    apply(state, SetTime(T0 + 10))
    assert "ReportDiscarded" in kinds(_send(state, 0, "103000"))  # first to see the move
    for i in range(1, 5):
        _send(state, i, "103000")
    assert state.feeds["BTC"].index_price == 103_000_000_000
    apply(state, SetTime(T0 + 20))
    _send(state, 0, "103000")
    reporter = state.feeds["BTC"].reporters[R[0]]
    # T0 report accepted, T0+10 report not an outlier in the last aggregation it took part in
    assert (reporter.accepted, reporter.discarded) == (2, 0)


def test_index_is_stale_after_staleness_seconds():
    state = ready_state()
    feed = state.feeds["BTC"]
    apply(state, SetTime(T0 + 60))
    assert not is_stale(state, feed)
    apply(state, SetTime(T0 + 61))
    assert is_stale(state, feed) and is_halted(state, feed)
    # A single fresh report is no quorum: the index stays stale.
    assert of_kind(_send(state, 0, "100000"), "QuorumNotMet") == [{"asset": "BTC", "fresh": 1, "quorum": 3}]
    assert is_stale(state, feed)
    _send(state, 1, "100000")
    _send(state, 2, "100000")
    assert not is_stale(state, feed) and feed.index_time == T0 + 61


def test_band_breach_is_held_then_confirmed_after_three_distinct_times():
    state = ready_state()
    feed = state.feeds["BTC"]
    events = report(state, "BTC", usd("112000"), T0 + 10)  # +12% > 10% band
    held = of_kind(events, "IndexMoveHeld")
    assert held[0] == {
        "asset": "BTC",
        "index": P100K,
        "proposed": 112_000_000_000,
        "confirmations": 1,
        "needed": 3,
    }
    assert [h["confirmations"] for h in held] == [1, 1, 1]  # reports 3-5 at one block time count once
    assert feed.index_price == P100K and feed.band_tripped and is_halted(state, feed)
    events = report(state, "BTC", usd("112000"), T0 + 11)
    assert [h["confirmations"] for h in of_kind(events, "IndexMoveHeld")] == [2] * 5
    assert feed.index_price == P100K
    events = report(state, "BTC", usd("112000"), T0 + 12)
    assert kinds(events)[:2] == ["IndexJumpConfirmed", "IndexUpdated"]
    assert of_kind(events, "IndexJumpConfirmed") == [{"asset": "BTC", "index": 112_000_000_000}]
    assert (feed.index_price, feed.index_time, feed.band_tripped) == (112_000_000_000, T0 + 12, False)
    assert (feed.pending_price, feed.pending_count) == (0, 0)


def test_band_hold_cleared_by_an_aggregate_back_inside_the_band():
    state = ready_state()
    feed = state.feeds["BTC"]
    report(state, "BTC", usd("112000"), T0 + 10)
    events = report(state, "BTC", usd("100500"), T0 + 11)
    assert of_kind(events, "IndexJumpCleared") == [{"asset": "BTC", "index": 100_500_000_000}]
    assert (feed.index_price, feed.band_tripped, feed.pending_count) == (100_500_000_000, False, 0)


def test_band_hold_restarts_on_a_disagreeing_aggregate():
    state = ready_state()
    feed = state.feeds["BTC"]
    report(state, "BTC", usd("112000"), T0 + 10)
    report(state, "BTC", usd("120000"), T0 + 11)  # 7% away from the pending 112,000: count restarts
    assert (feed.pending_price, feed.pending_count) == (120_000_000_000, 1)
    report(state, "BTC", usd("120000"), T0 + 12)
    assert feed.pending_count == 2 and feed.index_price == P100K
    events = report(state, "BTC", usd("120000"), T0 + 13)
    assert of_kind(events, "IndexJumpConfirmed") == [{"asset": "BTC", "index": 120_000_000_000}]


def test_report_from_the_future_refused():
    state = ready_state()
    refused(state, PriceReport(R[0], "BTC", P100K, T0 + 1), ReportFromFuture)


def test_replayed_or_older_report_refused():
    state = ready_state()  # every reporter reported at T0
    apply(state, SetTime(T0 + 5))
    refused(state, PriceReport(R[0], "BTC", P100K, T0), ReportReplayed)
    refused(state, PriceReport(R[0], "BTC", P100K, T0 - 1), ReportReplayed)
    apply(state, PriceReport(R[0], "BTC", P100K, T0 + 5))
    refused(state, PriceReport(R[0], "BTC", P100K, T0 + 5), ReportReplayed)


def test_unauthorized_reporter_refused():
    state = ready_state()
    refused(state, PriceReport(address_of("stranger"), "BTC", P100K, T0), Unauthorized)
    refused(state, PriceReport(reporters("ETH")[0], "BTC", P100K, T0), Unauthorized)


def test_bad_report_values_refused():
    state = ready_state()
    apply(state, SetTime(T0 + 1))
    refused(state, PriceReport(R[0], "DOGE", P100K, T0 + 1), UnknownAsset)
    refused(state, PriceReport(R[0], "BTC", 0, T0 + 1), InvalidAmount)
    refused(state, PriceReport(R[0], "BTC", -1, T0 + 1), InvalidAmount)
    refused(state, PriceReport(R[0], "BTC", 2**127, T0 + 1), AmountTooLarge)


def test_volatility_sampled_only_vol_interval_apart():
    state = ready_state()
    feed = state.feeds["BTC"]
    assert (feed.vol_last_price, feed.vol_last_time, feed.vol_variance) == (P100K, T0, 0)
    report(state, "BTC", usd("101000"), T0 + 30)  # taken, but only 30 s after the last sample
    assert (feed.index_price, feed.vol_last_time, feed.vol_variance) == (101_000_000_000, T0, 0)
    report(state, "BTC", usd("101000"), T0 + 60)  # 60 s: sampled
    assert (feed.vol_last_price, feed.vol_last_time) == (101_000_000_000, T0 + 60)
    # r = ln(1.01) in ratio units: the true value is 9_950_330_853_168_082.8...; ln_ratio is
    # within its documented error of 32 units (9_950_330_853_168_078 today).
    r = ln_ratio(101 * 10**16)
    assert abs(r - 9_950_330_853_168_083) <= 32
    sample = r * r * 3600 // (10**18 * 60)  # per-hour variance: 5_940_545_045_250_514 today
    # var = 0.94 * 0 + 0.06 * sample, floored: 356_432_702_715_030 today
    assert feed.vol_variance == 6 * 10**16 * sample // 10**18
    assert feed.vol_sigma == isqrt(feed.vol_variance * 10**18)


def test_volatility_sample_survives_a_fall_below_one_part_in_10_18():
    state = ready_state()
    feed = state.feeds["BTC"]
    for t in (T0 + 61, T0 + 62, T0 + 63):  # a jump to 10**30, confirmed at three block times
        report(state, "BTC", 10**30, t)
    assert (feed.index_price, feed.vol_last_price, feed.vol_last_time) == (10**30, 10**30, T0 + 63)
    # Back to 1: 1 * 10**18 // 10**30 = 0, whose logarithm does not exist; the sample must
    # still be taken (ratio held at its smallest unit) rather than crash the report.
    for t in (T0 + 263, T0 + 264, T0 + 265):
        report(state, "BTC", 1, t)
    assert (feed.index_price, feed.vol_last_price, feed.vol_last_time) == (1, 1, T0 + 265)
    assert feed.vol_sigma == isqrt(feed.vol_variance * 10**18) > 0
