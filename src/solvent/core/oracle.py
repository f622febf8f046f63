"""
Oracle: reports from several sources aggregated into one index price.

Introduction
------------
Each asset has a set of authorised reporters. Every accepted report triggers
an aggregation over the *fresh* reports (age <= ``staleness_s`` at the block
time):

1. fewer fresh reports than ``quorum``: nothing changes (``QuorumNotMet``);
2. m = median of fresh prices (mean of the two middle ones, floored, for an
   even count); reports with |p - m| > max_deviation * m are left out.
   The arriving report, if left out, emits ``ReportDiscarded``. When a report
   is superseded by its reporter's next one it is counted once against its
   reporter (``discarded``) if it was left out both on arrival and in the
   last aggregation it took part in, else as ``accepted``; so reporters that
   lead or lag a genuine move by one round are not blamed for it;
3. fewer kept than ``quorum``: nothing changes;
4. index' = median of the kept prices. A move |index' - index| > band * index
   is not taken: it is held (``IndexMoveHeld``) and the feed is marked
   ``band_tripped``; it is taken once ``band_confirmations`` aggregates at
   distinct block times agree with it within max_deviation
   (``IndexJumpConfirmed``). An aggregate back inside the band clears the hold.

A feed whose last aggregate with a quorum is older than ``staleness_s`` is
*stale*: its markets accept only risk-reducing actions (see ``breakers``). Volatility is sampled on taken
updates at least ``vol_interval_s`` apart (see ``docs/margin.md``).

Glossary
--------
index      the aggregated oracle price (quote atoms per base unit)
mark       index * (1 + clamp(premium EMA, ±mark_band)), see ``funding``
"""

from typing import TypeVar

from solvent.core.errors import (
    AmountTooLarge,
    InvalidAmount,
    ReportFromFuture,
    ReportReplayed,
    Unauthorized,
    UnknownAsset,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE, isqrt_down, ln_ratio
from solvent.core.state import OracleFeed, Reporter, State, VolReporter
from solvent.core.tx import PriceReport
from solvent.core.units import MAX_AMOUNT, SECONDS_PER_HOUR


def is_stale(state: State, feed: OracleFeed) -> bool:
    """Return whether the feed has no index or no quorum within the staleness limit.

    A quorum that proposes a held jump keeps the feed fresh: the market is then
    paused at its last taken index, not frozen.
    """
    return feed.index_price == 0 or state.time - feed.quorum_time > feed.staleness_s


def is_halted(state: State, feed: OracleFeed) -> bool:
    """Return whether risk may not be added on this feed: stale, or a jump is held."""
    return feed.band_tripped or is_stale(state, feed)


def compute_median(prices: list[int]) -> int:
    """Return the median; for an even count the floored mean of the two middle values."""
    ordered = sorted(prices)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


def validate_report(state: State, tx: PriceReport) -> OracleFeed:
    """Check a report without changing anything; return its feed."""
    feed = state.feeds.get(tx.asset)
    if feed is None:
        raise UnknownAsset(f"no oracle feed for {tx.asset!r}; list the asset first")
    reporter = feed.reporters.get(tx.reporter)
    if reporter is None:
        raise Unauthorized(f"{tx.reporter} is not an authorised reporter for {tx.asset}")
    if tx.price <= 0:
        raise InvalidAmount(f"price must be positive, was {tx.price}")
    if tx.price > MAX_AMOUNT:
        raise AmountTooLarge(f"price exceeds {MAX_AMOUNT}")
    check_report_time(state, tx.timestamp, reporter.timestamp)
    return feed


def check_report_time(state: State, timestamp: int, last: int) -> None:
    """Refuse a report stamped after the block time or not newer than its reporter's last."""
    if timestamp > state.time:
        raise ReportFromFuture(
            f"report stamped {timestamp} is after the block time {state.time}; check the reporter's clock"
        )
    if timestamp <= last:
        raise ReportReplayed(
            f"report stamped {timestamp} is not newer than this reporter's last ({last}); send a fresh report"
        )


def record_report(state: State, feed: OracleFeed, tx: PriceReport, events: list[Event]) -> bool:
    """Store an already validated report and aggregate; return whether the index was taken."""
    reporter = feed.reporters[tx.reporter]
    if reporter.timestamp:
        if reporter.flagged and reporter.outlier:
            reporter.discarded += 1
        else:
            reporter.accepted += 1
    reporter.price = tx.price
    reporter.timestamp = tx.timestamp
    reporter.outlier = False
    return aggregate(state, feed, events, tx.reporter)


_R = TypeVar("_R", Reporter, VolReporter)


def fresh_reports(now: int, reporters: dict[str, _R], staleness_s: int) -> list[tuple[str, _R]]:
    """Return the reports no older than ``staleness_s``, by reporter address."""
    return [(a, r) for a, r in sorted(reporters.items()) if r.timestamp and now - r.timestamp <= staleness_s]


def aggregate(state: State, feed: OracleFeed, events: list[Event], arriving: str | None = None) -> bool:
    """Recompute the index from fresh reports; return whether an index was taken."""
    now = state.time
    fresh = fresh_reports(now, feed.reporters, feed.staleness_s)
    if len(fresh) < feed.quorum:
        events.append(event("QuorumNotMet", asset=feed.asset, fresh=len(fresh), quorum=feed.quorum))
        return False
    median = compute_median([r.price for _, r in fresh])
    kept: list[int] = []
    for addr, r in fresh:
        # |p - m| > dev * m, cross-multiplied to avoid a rounding division.
        outlier = abs(r.price - median) * ONE > feed.max_deviation * median
        r.outlier = outlier
        if addr == arriving:
            r.flagged = outlier
            if outlier:
                events.append(
                    event(
                        "ReportDiscarded",
                        asset=feed.asset,
                        reporter=addr,
                        price=r.price,
                        median=median,
                    )
                )
        if not outlier:
            kept.append(r.price)
    if len(kept) < feed.quorum:
        events.append(event("QuorumNotMet", asset=feed.asset, fresh=len(kept), quorum=feed.quorum))
        return False
    index = compute_median(kept)
    feed.quorum_time = now
    old = feed.index_price
    if old and abs(index - old) * ONE > feed.band * old:
        return _hold_jump(state, feed, index, events)
    if feed.band_tripped:
        _clear_hold(feed)
        events.append(event("IndexJumpCleared", asset=feed.asset, index=index))
    take_index(state, feed, index, events)
    return True


def _clear_hold(feed: OracleFeed) -> None:
    feed.band_tripped = False
    feed.pending_price = 0
    feed.pending_count = 0


def _hold_jump(state: State, feed: OracleFeed, index: int, events: list[Event]) -> bool:
    pending = feed.pending_price
    agrees = pending and abs(index - pending) * ONE <= feed.max_deviation * pending
    if not agrees:
        feed.pending_price = index
        feed.pending_count = 1
        feed.pending_time = state.time
    elif state.time > feed.pending_time:
        feed.pending_count += 1
        feed.pending_time = state.time
        feed.pending_price = index
    if not feed.band_tripped:
        feed.band_tripped = True
    if feed.pending_count >= feed.band_confirmations:
        _clear_hold(feed)
        events.append(event("IndexJumpConfirmed", asset=feed.asset, index=index))
        take_index(state, feed, index, events)
        return True
    events.append(
        event(
            "IndexMoveHeld",
            asset=feed.asset,
            index=feed.index_price,
            proposed=index,
            confirmations=feed.pending_count,
            needed=feed.band_confirmations,
        )
    )
    return False


def take_index(state: State, feed: OracleFeed, index: int, events: list[Event]) -> None:
    """Set a new index and sample volatility."""
    now = state.time
    if feed.index_price != index:
        events.append(event("IndexUpdated", asset=feed.asset, index=index, previous=feed.index_price))
    feed.index_price = index
    feed.index_time = now
    sample_volatility(feed, index, now)


def sample_volatility(feed: OracleFeed, price: int, now: int) -> None:
    """Fold one log-return into the EWMA of hourly variance.

    r = ln(price / last), sample = r**2 * 3600 / dt  (per-hour variance),
    var' = λ*var + (1-λ)*sample, sigma = sqrt(var'). Samples are at least
    ``vol_interval_s`` apart so that splitting a move into many small
    updates does not change the estimate much.
    """
    if feed.vol_last_time == 0:
        feed.vol_last_price = price
        feed.vol_last_time = now
        return
    dt = now - feed.vol_last_time
    if dt < feed.vol_interval_s:
        return
    # A fall to below 1e-18 of the last price floors the ratio at 0; ln(0) is undefined,
    # so the ratio is held at its smallest unit (r = ln(1e-18), about -41.4).
    r = ln_ratio(max(1, (price * ONE) // feed.vol_last_price))
    sample = (r * r * SECONDS_PER_HOUR) // (ONE * dt)
    lam = feed.vol_lambda
    feed.vol_variance = (lam * feed.vol_variance + (ONE - lam) * sample) // ONE
    feed.vol_sigma = isqrt_down(feed.vol_variance * ONE)
    feed.vol_last_price = price
    feed.vol_last_time = now
