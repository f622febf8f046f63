"""
Circuit breakers: when a market stops taking new risk, and why.

Introduction
------------
Each breaker is a condition on the oracle or the market with an effect:

==============  =========================================  ============
breaker         trips when                                 effect
==============  =========================================  ============
``stale``       the index has no fresh quorum              frozen
``vol_stale``   an option's smile has no fresh quorum      frozen
``band``        an index jump is held for confirmation     paused
``divergence``  |premium EMA| > domain ``divergence_limit``  reduce-only
``volatility``  hourly sigma > domain ``vol_halt``          reduce-only
``move``        index moved > ``move_limit`` in the window reduce-only
``governance``  governance set the market reduce-only       reduce-only
==============  =========================================  ============

*Frozen*: no new risk, no liquidation, no withdrawal valued on that index
(``OracleStale``). *Paused*: no new risk and no liquidation until the jump is
confirmed (``MarketPaused``); withdrawals are valued at the last taken index.
*Reduce-only*: no new risk (``MarketReduceOnly``); orders that reduce,
liquidations and ADL go on. In every mode nothing rests on the book and
maker fills that would add risk are skipped.

The conditions are read live where they decide (``orders.check_halt``), so a
breaker acts at the exact block its condition holds. ``Market.breakers``
records which are tripped so that every change emits one event,
``BreakerTripped`` or ``BreakerCleared``, with its reason: on the price
report that changes it, or for staleness, on the first ``SetTime`` after it.

The ``move`` breaker compares each taken index with an anchor: the index at
the start of the current window, which rolls forward once the window has
passed. Once tripped it holds until the window rolls with the index within
the limit of the new anchor. A move spread over two
windows can reach up to twice the limit before it trips; the per-update
band still holds each step.
"""

from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.oracle import is_stale
from solvent.core.state import Market, OracleFeed, State
from solvent.core.vol_oracle import is_vol_stale

EFFECTS: dict[str, str] = {
    "stale": "frozen",
    "vol_stale": "frozen",
    "band": "paused",
    "divergence": "reduce_only",
    "volatility": "reduce_only",
    "move": "reduce_only",
    "governance": "reduce_only",
}


def sync_breaker(market: Market, breaker: str, tripped: bool, events: list[Event], reason: str) -> None:
    """Record a breaker's state; emit an event when it changes."""
    was = breaker in market.breakers
    if tripped and not was:
        market.breakers[breaker] = EFFECTS[breaker]
        events.append(
            event(
                "BreakerTripped",
                market=market.id,
                breaker=breaker,
                effect=EFFECTS[breaker],
                reason=reason,
            )
        )
    elif was and not tripped:
        del market.breakers[breaker]
        events.append(event("BreakerCleared", market=market.id, breaker=breaker, reason=reason))


def reduce_only_reason(market: Market) -> str | None:
    """Return the first reduce-only breaker tripped in the market, or None."""
    for breaker in ("divergence", "volatility", "move", "governance"):
        if breaker in market.breakers:
            return breaker
    return None


def update_move_anchor(feed: OracleFeed, previous_index: int, now: int, window_s: int) -> None:
    """Roll the move window forward when it has passed: the new anchor is the index before this update."""
    if feed.move_anchor_time == 0 or now - feed.move_anchor_time >= window_s:
        feed.move_anchor_price = previous_index or feed.index_price
        feed.move_anchor_time = now


def moved_too_far(feed: OracleFeed, limit: int) -> bool:
    anchor = feed.move_anchor_price
    return limit > 0 and anchor > 0 and abs(feed.index_price - anchor) * ONE > limit * anchor


def sync_feed_breakers(state: State, feed: OracleFeed, events: list[Event]) -> None:
    """Re-evaluate the oracle-driven breakers of every market on ``feed``."""
    stale = is_stale(state, feed)
    for market_id in sorted(state.markets):
        market = state.markets[market_id]
        if market.asset != feed.asset:
            continue
        domain = state.domains[market.domain]
        sync_breaker(
            market, "stale", stale, events, "no fresh quorum of reports" if stale else "fresh quorum"
        )
        sync_breaker(
            market,
            "band",
            feed.band_tripped,
            events,
            "index jump held for confirmation" if feed.band_tripped else "index jump confirmed or cleared",
        )
        volatile = domain.vol_halt > 0 and feed.vol_sigma > domain.vol_halt
        sync_breaker(
            market,
            "volatility",
            volatile,
            events,
            f"hourly volatility {feed.vol_sigma} above {domain.vol_halt}"
            if volatile
            else "volatility calmed",
        )
        moved = moved_too_far(feed, domain.move_limit)
        if moved:
            sync_breaker(
                market, "move", True, events, f"index moved more than {domain.move_limit} in the window"
            )
        elif feed.move_anchor_time == state.time:
            sync_breaker(market, "move", False, events, "a new window started within the limit")


def sync_divergence(state: State, market: Market, events: list[Event]) -> None:
    """Re-evaluate the mark-index divergence breaker from the unclamped premium EMA."""
    limit = state.domains[market.domain].divergence_limit
    diverged = limit > 0 and abs(market.premium_ema) > limit
    sync_breaker(
        market,
        "divergence",
        diverged,
        events,
        f"book premium {market.premium_ema} beyond {limit}" if diverged else "book back near the index",
    )


def sync_stale_breakers(state: State, events: list[Event]) -> None:
    """On a clock change: trip ``stale`` on markets whose index has just gone stale."""
    for asset in sorted(state.feeds):
        feed = state.feeds[asset]
        stale = is_stale(state, feed)
        for market_id in sorted(state.markets):
            market = state.markets[market_id]
            if market.asset == asset and stale != ("stale" in market.breakers):
                sync_breaker(market, "stale", stale, events, "no fresh quorum of reports")
    sync_vol_breakers(state, None, events)


def sync_vol_breakers(state: State, feed_id: str | None, events: list[Event]) -> None:
    """Trip or clear ``vol_stale`` on the live options of ``feed_id`` (None: of every feed)."""
    for market_id in sorted(state.markets):
        market = state.markets[market_id]
        expiry = market.expiry
        if expiry is None or not expiry.vol_feed or expiry.settled:
            continue
        if feed_id is not None and expiry.vol_feed != feed_id:
            continue
        stale = is_vol_stale(state, state.vol_feeds[expiry.vol_feed])
        if stale != ("vol_stale" in market.breakers):
            reason = "no fresh quorum of volatility reports" if stale else "fresh volatility quorum"
            sync_breaker(market, "vol_stale", stale, events, reason)
