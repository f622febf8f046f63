"""
Governance: listing assets, feeds, markets and pools, and changing their parameters.

Introduction
------------
Only the state's ``governor`` may send these transactions. Every parameter
is checked for range here, so that the handlers elsewhere can rely on it
(e.g. taker fee >= |maker fee|, so that a fill never pays out more in
rebate than it collects).
"""

from solvent.core.breakers import sync_breaker
from solvent.core.errors import (
    AlreadyExists,
    InvalidAmount,
    Malformed,
    Unauthorized,
    UnknownAsset,
    UnknownDomain,
    UnknownMarket,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.instruments import is_option, refresh_option_mark
from solvent.core.ledger import check_address, get_asset
from solvent.core.oracle import is_stale
from solvent.core.pool import _get_pool
from solvent.core.state import (
    Account,
    Asset,
    Domain,
    Expiry,
    InstrumentKind,
    MarginParams,
    Market,
    OracleFeed,
    Pool,
    PortfolioParams,
    Reporter,
    State,
    VolFeed,
    VolReporter,
    pool_account_key,
)
from solvent.core.tx import (
    CreatePool,
    ListAsset,
    ListDomain,
    ListMarket,
    ListOracle,
    ListVolOracle,
    SetAssetWeights,
    SetDomain,
    SetMarketLimits,
    SetPortfolioParams,
    SetReporters,
    SettleOnChain,
)
from solvent.core.units import MAX_AMOUNT
from solvent.core.vol_oracle import MAX_VOL_PARAM, is_vol_stale


def _check_governor(state: State, sender: str) -> None:
    if sender != state.governor:
        raise Unauthorized(f"{sender} is not the governor; governance actions need its key")


def _check_ratio(name: str, value: int, lo: int = 0, hi: int = ONE) -> None:
    if not lo <= value <= hi:
        raise InvalidAmount(f"{name} must be in [{lo}, {hi}] (1.0 = {ONE}), was {value}")


def _check_positive(name: str, value: int) -> None:
    if not 0 < value <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be positive and at most {MAX_AMOUNT}, was {value}")


def _check_weights(init_weight: int, maint_weight: int) -> None:
    _check_ratio("init_weight", init_weight)
    _check_ratio("maint_weight", maint_weight)
    if maint_weight < init_weight:
        raise InvalidAmount("maint_weight must be at least init_weight")


def _new_feed(state: State, asset: str, tx: ListAsset | ListOracle) -> OracleFeed:
    if asset in state.feeds:
        raise AlreadyExists(f"{asset} already has an oracle feed")
    _check_reporters(tx.reporters, tx.quorum)
    _check_positive("staleness_s", tx.staleness_s)
    _check_ratio("max_deviation", tx.max_deviation)
    _check_ratio("band", tx.band)
    _check_positive("band_confirmations", tx.band_confirmations)
    _check_ratio("vol_lambda", tx.vol_lambda)
    _check_positive("vol_interval_s", tx.vol_interval_s)
    return OracleFeed(
        asset=asset,
        reporters={r: Reporter() for r in tx.reporters},
        quorum=tx.quorum,
        staleness_s=tx.staleness_s,
        max_deviation=tx.max_deviation,
        band=tx.band,
        band_confirmations=tx.band_confirmations,
        vol_lambda=tx.vol_lambda,
        vol_interval_s=tx.vol_interval_s,
    )


def _check_reporters(reporters: tuple[str, ...], quorum: int) -> None:
    for reporter in reporters:
        check_address(reporter)
    if len(set(reporters)) != len(reporters):
        raise Malformed("reporters must be distinct")
    if not 1 <= quorum <= len(reporters):
        raise InvalidAmount("quorum must be between 1 and the number of reporters")


def process_list_asset(state: State, tx: ListAsset) -> list[Event]:
    _check_governor(state, tx.sender)
    if tx.symbol in state.assets:
        raise AlreadyExists(f"{tx.symbol} is already listed")
    if not 0 <= tx.decimals <= 36:
        raise InvalidAmount("decimals must be in [0, 36]")
    _check_weights(tx.init_weight, tx.maint_weight)
    _check_positive("deposit_cap", tx.deposit_cap)
    is_quote = tx.symbol == state.quote
    feed = None
    if is_quote:
        if tx.init_weight != ONE or tx.maint_weight != ONE:
            raise InvalidAmount("the quote asset has weight 1")
    else:
        get_domain(state, tx.domain)
        feed = _new_feed(state, tx.symbol, tx)
    state.assets[tx.symbol] = Asset(
        tx.symbol,
        tx.decimals,
        tx.init_weight,
        tx.maint_weight,
        tx.deposit_cap,
        is_quote,
        domain="" if is_quote else tx.domain,
    )
    if feed is not None:
        state.feeds[tx.symbol] = feed
    return [event("AssetListed", asset=tx.symbol, decimals=tx.decimals)]


def process_list_oracle(state: State, tx: ListOracle) -> list[Event]:
    _check_governor(state, tx.sender)
    if tx.asset == state.quote:
        raise Malformed("the quote asset has no oracle")
    state.feeds[tx.asset] = _new_feed(state, tx.asset, tx)
    return [event("OracleListed", asset=tx.asset)]


def process_list_market(state: State, tx: ListMarket) -> list[Event]:
    _check_governor(state, tx.sender)
    if tx.market in state.markets:
        raise AlreadyExists(f"{tx.market} is already listed")
    if tx.asset not in state.feeds:
        raise UnknownAsset(f"no oracle feed for {tx.asset}; list it first")
    get_domain(state, tx.domain)
    if not 0 <= tx.oi_cap <= MAX_AMOUNT:
        raise InvalidAmount("oi_cap must be in [0, 2**127 - 1] size atoms (0 = no cap)")
    if tx.pool is not None:
        _get_pool(state, tx.pool)
    expiry = _check_series(state, tx)
    for name, value in (("tick", tx.tick), ("lot", tx.lot), ("size_step", tx.size_step)):
        _check_positive(name, value)
    if tx.min_notional < 0:
        raise InvalidAmount("min_notional must not be negative")
    _check_ratio("base_imf", tx.base_imf, 1)
    _check_ratio("base_mmf", tx.base_mmf, 1, tx.base_imf)
    for name, value in (
        ("imf_size_factor", tx.imf_size_factor),
        ("mmf_size_factor", tx.mmf_size_factor),
        ("vol_ref", tx.vol_ref),
        ("price_band", tx.price_band),
        ("mark_band", tx.mark_band),
        ("funding_cap", tx.funding_cap),
    ):
        _check_ratio(name, value)
    if tx.imf_vol_factor < 0 or tx.mmf_vol_factor < 0 or tx.imf_vol_factor > 100 * ONE:
        raise InvalidAmount("volatility factors must be in [0, 100]")
    if not 1 <= tx.max_leverage <= 1000:
        raise InvalidAmount("max_leverage must be in [1, 1000]")
    if not -ONE // 10 <= tx.maker_fee <= ONE // 10 or not 0 <= tx.taker_fee <= ONE // 10:
        raise InvalidAmount("fees must be within ±10%")
    if tx.taker_fee < -tx.maker_fee:
        raise InvalidAmount("the taker fee must cover the maker rebate")
    if abs(tx.funding_interest) > tx.funding_cap:
        raise InvalidAmount("funding_interest must be within the funding cap")
    for name, value in (
        ("premium_tau_s", tx.premium_tau_s),
        ("impact_notional", tx.impact_notional),
        ("funding_premium_hours", tx.funding_premium_hours),
        ("max_orders_per_account", tx.max_orders_per_account),
    ):
        _check_positive(name, value)
    margin = MarginParams(
        base_imf=tx.base_imf,
        base_mmf=tx.base_mmf,
        size_step=tx.size_step,
        imf_size_factor=tx.imf_size_factor,
        mmf_size_factor=tx.mmf_size_factor,
        vol_ref=tx.vol_ref,
        imf_vol_factor=tx.imf_vol_factor,
        mmf_vol_factor=tx.mmf_vol_factor,
        max_leverage=tx.max_leverage,
        option_floor=tx.option_floor,
    )
    feed = state.feeds[tx.asset]
    market = Market(
        id=tx.market,
        asset=tx.asset,
        domain=tx.domain,
        tick=tx.tick,
        lot=tx.lot,
        min_notional=tx.min_notional,
        margin=margin,
        maker_fee=tx.maker_fee,
        taker_fee=tx.taker_fee,
        price_band=tx.price_band,
        mark_band=tx.mark_band,
        premium_tau_s=tx.premium_tau_s,
        impact_notional=tx.impact_notional,
        funding_cap=tx.funding_cap,
        funding_interest=tx.funding_interest,
        funding_premium_hours=tx.funding_premium_hours,
        max_orders_per_account=tx.max_orders_per_account,
        stp_mode=tx.stp_mode,
        pool=tx.pool,
        oi_cap=tx.oi_cap,
        kind=tx.kind,
        expiry=expiry,
    )
    market.mark_price = feed.index_price
    market.premium_time = state.time
    market.funding_time = state.time
    market.mm_sigma = feed.vol_sigma
    market.mm_sigma_time = state.time
    if is_stale(state, feed):
        market.breakers["stale"] = "frozen"  # cleared, with an event, by the first fresh quorum
    if is_option(market):
        refresh_option_mark(state, market)
        if expiry is not None and is_vol_stale(state, state.vol_feeds[expiry.vol_feed]):
            market.breakers["vol_stale"] = "frozen"
    state.markets[tx.market] = market
    return [
        event(
            "MarketListed",
            market=tx.market,
            asset=tx.asset,
            domain=tx.domain,
            kind=tx.kind.value,
            expiry=tx.expiry,
            strike=tx.strike,
        )
    ]


def _check_series(state: State, tx: ListMarket) -> Expiry | None:
    """Validate the dated part of a listing; return the market's ``Expiry`` (None: perpetual)."""
    _check_ratio("option_floor", tx.option_floor)
    if tx.kind is InstrumentKind.PERPETUAL:
        if tx.expiry or tx.settle_window_s or tx.strike or tx.contract_size or tx.vol_feed:
            raise Malformed("a perpetual has no expiry, settlement window, strike, contract size or vol feed")
        return None
    if not state.time < tx.expiry <= MAX_AMOUNT:
        raise InvalidAmount(f"expiry must be after the current time {state.time}, was {tx.expiry}")
    if not 0 < tx.settle_window_s <= tx.expiry - state.time:
        raise InvalidAmount("settle_window_s must be positive and fit between now and expiry")
    min_fresh = tx.min_fresh_s or (tx.settle_window_s + 1) // 2
    if not 0 < min_fresh <= tx.settle_window_s:
        raise InvalidAmount("min_fresh_s must be in [1, settle_window_s] (0: half the window)")
    if tx.kind is InstrumentKind.FUTURE:
        if tx.strike or tx.contract_size or tx.vol_feed:
            raise Malformed("a future has no strike, contract size or vol feed")
        return Expiry(time=tx.expiry, window_s=tx.settle_window_s, min_fresh_s=min_fresh)
    _check_positive("strike", tx.strike)
    _check_positive("contract_size", tx.contract_size)
    feed = state.vol_feeds.get(tx.vol_feed)
    if feed is None:
        raise UnknownAsset(f"no volatility feed {tx.vol_feed!r}; list it with ListVolOracle first")
    if feed.asset != tx.asset or feed.expiry != tx.expiry:
        raise InvalidAmount(
            f"volatility feed {tx.vol_feed} covers {feed.asset} at {feed.expiry}, "
            f"not {tx.asset} at {tx.expiry}"
        )
    return Expiry(
        time=tx.expiry,
        window_s=tx.settle_window_s,
        min_fresh_s=min_fresh,
        strike=tx.strike,
        contract_size=tx.contract_size,
        vol_feed=tx.vol_feed,
    )


def process_list_vol_oracle(state: State, tx: ListVolOracle) -> list[Event]:
    _check_governor(state, tx.sender)
    if not tx.feed or tx.feed in state.vol_feeds:
        raise AlreadyExists(f"volatility feed {tx.feed!r} exists (or has no name)")
    if tx.asset not in state.feeds:
        raise UnknownAsset(f"no oracle feed for {tx.asset}; list it first")
    if not state.time < tx.expiry <= MAX_AMOUNT:
        raise InvalidAmount(f"expiry must be after the current time {state.time}, was {tx.expiry}")
    _check_reporters(tx.reporters, tx.quorum)
    _check_positive("staleness_s", tx.staleness_s)
    _check_ratio("max_deviation", tx.max_deviation, 0, MAX_VOL_PARAM)
    _check_ratio("min_vol", tx.min_vol, 1, MAX_VOL_PARAM)
    _check_ratio("max_vol", tx.max_vol, tx.min_vol, MAX_VOL_PARAM)
    state.vol_feeds[tx.feed] = VolFeed(
        id=tx.feed,
        asset=tx.asset,
        expiry=tx.expiry,
        reporters={r: VolReporter() for r in tx.reporters},
        quorum=tx.quorum,
        staleness_s=tx.staleness_s,
        max_deviation=tx.max_deviation,
        min_vol=tx.min_vol,
        max_vol=tx.max_vol,
    )
    return [event("VolOracleListed", feed=tx.feed, asset=tx.asset, expiry=tx.expiry)]


def process_set_portfolio_params(state: State, tx: SetPortfolioParams) -> list[Event]:
    _check_governor(state, tx.sender)
    if tx.asset not in state.feeds:
        raise UnknownAsset(f"no oracle feed for {tx.asset}; list it first")
    _check_ratio("move", tx.move, 1, ONE - 1)
    _check_ratio("max_move", tx.max_move, tx.move, ONE - 1)
    if not 1 <= tx.steps <= 20:
        raise InvalidAmount(f"steps must be in [1, 20], was {tx.steps}")
    _check_ratio("vol_up", tx.vol_up, 0, 10 * ONE)
    _check_ratio("vol_down", tx.vol_down, 0, ONE)
    _check_ratio("vol_ref", tx.vol_ref)
    _check_ratio("move_vol_factor", tx.move_vol_factor, 0, 100 * ONE)
    _check_ratio("short_option_min", tx.short_option_min)
    _check_ratio("im_factor", tx.im_factor, ONE, 10 * ONE)
    state.portfolio[tx.asset] = PortfolioParams(
        move=tx.move,
        steps=tx.steps,
        vol_up=tx.vol_up,
        vol_down=tx.vol_down,
        vol_ref=tx.vol_ref,
        move_vol_factor=tx.move_vol_factor,
        max_move=tx.max_move,
        short_option_min=tx.short_option_min,
        im_factor=tx.im_factor,
    )
    return [event("PortfolioParamsSet", asset=tx.asset)]


def process_create_pool(state: State, tx: CreatePool) -> list[Event]:
    _check_governor(state, tx.sender)
    if tx.pool in state.pools:
        raise AlreadyExists(f"pool {tx.pool} exists")
    _check_ratio("half_spread", tx.half_spread)
    _check_ratio("skew_factor", tx.skew_factor)
    if tx.half_spread + tx.skew_factor >= ONE:
        raise InvalidAmount("half_spread + skew_factor must be below 1 so the bid stays positive")
    _check_ratio("max_skew", tx.max_skew)
    _check_ratio("lp_fee_share", tx.lp_fee_share)
    if not 0 <= tx.cooldown_s <= MAX_AMOUNT:
        raise InvalidAmount("cooldown_s must not be negative")
    key = pool_account_key(tx.pool)
    state.accounts[key] = Account(key[0], key[1], {state.quote: 0}, {})
    state.pools[tx.pool] = Pool(
        id=tx.pool,
        account=key,
        half_spread=tx.half_spread,
        skew_factor=tx.skew_factor,
        max_skew=tx.max_skew,
        lp_fee_share=tx.lp_fee_share,
        cooldown_s=tx.cooldown_s,
    )
    return [event("PoolCreated", pool=tx.pool)]


def process_set_asset_weights(state: State, tx: SetAssetWeights) -> list[Event]:
    _check_governor(state, tx.sender)
    asset = get_asset(state, tx.symbol)
    if asset.is_quote:
        raise InvalidAmount("the quote asset has weight 1")
    _check_weights(tx.init_weight, tx.maint_weight)
    asset.init_weight = tx.init_weight
    asset.maint_weight = tx.maint_weight
    return [
        event(
            "AssetWeightsSet",
            asset=tx.symbol,
            init_weight=tx.init_weight,
            maint_weight=tx.maint_weight,
        )
    ]


def process_set_reporters(state: State, tx: SetReporters) -> list[Event]:
    _check_governor(state, tx.sender)
    feed = state.feeds.get(tx.asset)
    if feed is None:
        raise UnknownAsset(f"no oracle feed for {tx.asset}")
    _check_reporters(tx.reporters, tx.quorum)
    feed.reporters = {r: feed.reporters.get(r, Reporter()) for r in tx.reporters}
    feed.quorum = tx.quorum
    return [event("ReportersSet", asset=tx.asset, count=len(tx.reporters), quorum=tx.quorum)]


# --- risk domains ----------------------------------------------------------------

_DOMAIN_FIELDS = (
    "keeper_fee",
    "insurance_fee",
    "close_buffer",
    "liq_band",
    "collateral_discount",
    "liq_cap_notional",
    "liq_window_s",
    "oi_cap_notional",
    "divergence_limit",
    "vol_halt",
    "move_limit",
    "move_window_s",
    "backstop_max_skew",
    "mmf_vol_step",
)


def get_domain(state: State, domain_id: str) -> Domain:
    domain = state.domains.get(domain_id)
    if domain is None:
        raise UnknownDomain(f"no risk domain {domain_id!r}; list it with ListDomain first")
    return domain


def _check_domain(domain: Domain) -> None:
    for name in ("keeper_fee", "insurance_fee", "liq_band", "collateral_discount"):
        _check_ratio(name, getattr(domain, name), 0, ONE // 5)
    for name in ("divergence_limit", "vol_halt", "move_limit", "backstop_max_skew", "mmf_vol_step"):
        _check_ratio(name, getattr(domain, name))
    _check_ratio("close_buffer", domain.close_buffer, ONE, 10 * ONE)
    for name in ("liq_cap_notional", "liq_window_s", "move_window_s"):
        _check_positive(name, getattr(domain, name))
    if not 0 <= domain.oi_cap_notional <= MAX_AMOUNT:
        raise InvalidAmount("oi_cap_notional must be in [0, 2**127 - 1] quote atoms (0 = no cap)")


def process_list_domain(state: State, tx: ListDomain) -> list[Event]:
    _check_governor(state, tx.sender)
    if not tx.domain or tx.domain in state.domains:
        raise AlreadyExists(f"risk domain {tx.domain!r} exists (or has no name)")
    domain = Domain(tx.domain, *(getattr(tx, name) for name in _DOMAIN_FIELDS))
    _check_domain(domain)
    state.domains[tx.domain] = domain
    state.insurance[tx.domain] = 0
    return [event("DomainListed", domain=tx.domain)]


def process_set_domain(state: State, tx: SetDomain) -> list[Event]:
    _check_governor(state, tx.sender)
    current = get_domain(state, tx.domain)
    updated = Domain(
        tx.domain,
        *(getattr(current, n) if getattr(tx, n) is None else getattr(tx, n) for n in _DOMAIN_FIELDS),
    )
    _check_domain(updated)
    changed = [n for n in _DOMAIN_FIELDS if getattr(tx, n) is not None]
    state.domains[tx.domain] = updated
    return [event("DomainSet", domain=tx.domain, changed=",".join(changed))]


def process_set_market_limits(state: State, tx: SetMarketLimits) -> list[Event]:
    _check_governor(state, tx.sender)
    market = state.markets.get(tx.market)
    if market is None:
        raise UnknownMarket(f"no market {tx.market!r}")
    if tx.oi_cap is not None and not 0 <= tx.oi_cap <= MAX_AMOUNT:
        raise InvalidAmount("oi_cap must be in [0, 2**127 - 1] size atoms (0 = no cap)")
    events: list[Event] = []
    if tx.oi_cap is not None:
        market.oi_cap = tx.oi_cap
        events.append(event("OICapSet", market=market.id, oi_cap=tx.oi_cap))
    if tx.reduce_only is not None:
        sync_breaker(market, "governance", tx.reduce_only, events, "set by governance")
    return events


def process_settle_on_chain(state: State, tx: SettleOnChain) -> list[Event]:
    """Turn on ``State.chain_settled`` for good: from now on ``Deposit`` is refused
    (``DepositOnChainOnly``) and money enters only as a ``ChainDeposit``. A second one is refused:
    nothing turns the switch off, and a venue settled on chain says so once."""
    _check_governor(state, tx.sender)
    if state.chain_settled:
        raise AlreadyExists("the venue is settled on chain already; the switch is one-way")
    state.chain_settled = True
    return [event("SettledOnChain")]
