"""
Volatility oracle: implied-volatility smiles from several reporters, aggregated.

Introduction
------------
Each ``VolFeed`` covers one underlying at one expiry. A reporter publishes a
small parametric smile in log-moneyness k = ln(K / F):

    vol(k) = atm_vol + skew * k + curvature * k**2,   clamped to [min_vol, max_vol]

Every accepted report triggers an aggregation over the feed's *fresh*
reports (age <= ``staleness_s``), by the same rules as prices
(``core.oracle``):

1. fewer fresh reports than ``quorum``: nothing changes (``QuorumNotMet``);
2. m = median of the fresh ATM vols; a report whose ATM vol is farther than
   ``max_deviation`` (absolute, in vol points) from m is left out
   (``VolReportDiscarded``), so one bad or manipulated reporter cannot move
   the smile;
3. fewer kept than ``quorum``: nothing changes;
4. each parameter of the smile is the median of the kept reports' values
   (taken one parameter at a time).

A feed with no quorum within ``staleness_s`` is stale: its option markets
are frozen (breaker ``vol_stale``), exactly like a stale index.

Glossary
--------
forward   the underlying's index price (zero rates: F = index)
vol       annualised implied volatility, a ratio (0.8 = 80%)
"""

from solvent.core.errors import (
    AmountTooLarge,
    InvalidAmount,
    Unauthorized,
    UnknownAsset,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE, clamp, ln_ratio
from solvent.core.oracle import check_report_time, compute_median, fresh_reports
from solvent.core.state import State, VolFeed
from solvent.core.tx import VolReport

# A report's parameters are bounded so that a typo cannot overflow anything downstream;
# the smile is clamped to the feed's [min_vol, max_vol] in any case.
MAX_VOL_PARAM = 100 * ONE


def is_vol_stale(state: State, feed: VolFeed) -> bool:
    """Return whether the feed has no smile or no quorum within the staleness limit."""
    return feed.atm_vol == 0 or state.time - feed.quorum_time > feed.staleness_s


def smile_vol(feed: VolFeed, strike: int, forward: int) -> int:
    """Return the smile's volatility at ``strike`` for ``forward`` (ratio, clamped)."""
    k = ln_ratio((strike * ONE) // forward) if strike != forward else 0
    vol = feed.atm_vol + (feed.skew * k) // ONE + (((feed.curvature * k) // ONE) * k) // ONE
    return clamp(vol, feed.min_vol, feed.max_vol)


def validate_vol_report(state: State, tx: VolReport) -> VolFeed:
    """Check a report without changing anything; return its feed."""
    feed = state.vol_feeds.get(tx.feed)
    if feed is None:
        raise UnknownAsset(f"no volatility feed {tx.feed!r}; list it with ListVolOracle first")
    reporter = feed.reporters.get(tx.reporter)
    if reporter is None:
        raise Unauthorized(f"{tx.reporter} is not an authorised reporter for {tx.feed}")
    if tx.atm_vol <= 0:
        raise InvalidAmount(f"atm_vol must be positive, was {tx.atm_vol}")
    for name, value in (("atm_vol", tx.atm_vol), ("skew", tx.skew), ("curvature", tx.curvature)):
        if abs(value) > MAX_VOL_PARAM:
            raise AmountTooLarge(f"{name} must be within ±{MAX_VOL_PARAM} (±100.0), was {value}")
    check_report_time(state, tx.timestamp, reporter.timestamp)
    return feed


def record_vol_report(state: State, feed: VolFeed, tx: VolReport, events: list[Event]) -> bool:
    """Store an already validated report and aggregate; return whether the smile was taken."""
    reporter = feed.reporters[tx.reporter]
    reporter.atm_vol = tx.atm_vol
    reporter.skew = tx.skew
    reporter.curvature = tx.curvature
    reporter.timestamp = tx.timestamp
    return aggregate_vol(state, feed, events, tx.reporter)


def aggregate_vol(state: State, feed: VolFeed, events: list[Event], arriving: str | None = None) -> bool:
    """Recompute the smile from fresh reports; return whether a smile was taken."""
    now = state.time
    fresh = fresh_reports(now, feed.reporters, feed.staleness_s)
    if len(fresh) < feed.quorum:
        events.append(event("QuorumNotMet", asset=feed.id, fresh=len(fresh), quorum=feed.quorum))
        return False
    median = compute_median([r.atm_vol for _, r in fresh])
    kept = []
    for addr, r in fresh:
        if abs(r.atm_vol - median) > feed.max_deviation:
            if addr == arriving:
                events.append(
                    event("VolReportDiscarded", feed=feed.id, reporter=addr, atm_vol=r.atm_vol, median=median)
                )
            continue
        kept.append(r)
    if len(kept) < feed.quorum:
        events.append(event("QuorumNotMet", asset=feed.id, fresh=len(kept), quorum=feed.quorum))
        return False
    feed.atm_vol = compute_median([r.atm_vol for r in kept])
    feed.skew = compute_median([r.skew for r in kept])
    feed.curvature = compute_median([r.curvature for r in kept])
    feed.quorum_time = now
    events.append(
        event("SmileUpdated", feed=feed.id, atm_vol=feed.atm_vol, skew=feed.skew, curvature=feed.curvature)
    )
    return True
