"""
Dated futures and options: listing, expiry, the settlement average, Settle, option marks.

The derivatives deployment (``src/solvent/deployments/derivatives.toml``) is
Fixture F plus BTC-FUT-30D, the BTC-30D volatility feed and four BTC options,
all expiring at T0 + 30 days with a 1,800 s settlement window (900 fresh
seconds needed). The BTC feed is stale 60 s after its last quorum.
"""

from tests.core.fixtures import addr, balance, kinds, of_kind, position, refused, report

from solvent.core.engine import apply
from solvent.core.errors import (
    BadAddress,
    InvalidAmount,
    Malformed,
    MarketExpired,
    NoExpiry,
    OracleStale,
    PriceBand,
    ReportReplayed,
    SettlementPending,
    Unauthorized,
    UnknownAsset,
    UnknownMarket,
)
from solvent.core.fixed import ONE
from solvent.core.instruments import account_greeks, option_mark
from solvent.core.margin import cross_risk
from solvent.core.state import InstrumentKind, State, TimeInForce, TriggerKind
from solvent.core.tx import (
    CancelOrder,
    Deposit,
    ListMarket,
    ListVolOracle,
    MoveIsolatedMargin,
    PlaceOrder,
    PlaceTrigger,
    SetMarginMode,
    SetTime,
    Settle,
    VolReport,
)
from solvent.core.units import SIZE_ONE
from solvent.defaults import GENESIS_TIME, GOVERNOR, address_of, usd
from solvent.scenario import start_state

T0 = GENESIS_TIME
EXPIRY = T0 + 30 * 86_400
WINDOW_START = EXPIRY - 1_800
FUT = "BTC-FUT-30D"
CALL = "BTC-30D-C-100000"
PUT = "BTC-30D-P-100000"
VOL = "BTC-30D"
VOL_REPORTERS = [address_of(f"btc-vol-{i}") for i in range(1, 6)]
IOC = TimeInForce.IOC


def vols(state: State, atm: int, skew: int = 0, curvature: int = 0, count: int = 5) -> list[object]:
    events = []
    for reporter in VOL_REPORTERS[:count]:
        events += apply(state, VolReport(reporter, VOL, atm, skew, curvature, state.time))
    return events


def derivatives_state(funds: dict[str, str] | None = None) -> State:
    """The derivatives deployment at T0: BTC at 100,000, a flat 60% smile, roles funded."""
    state = start_state("derivatives")
    report(state, "BTC", usd("100000"))
    vols(state, 6 * ONE // 10)
    for role, amount in (funds or {"long": "200000", "short": "200000"}).items():
        apply(state, Deposit(addr(role), 0, "USDC", usd(amount)))
    return state


def trade(state: State, market: str, buyer: str, seller: str, size: int, price: str) -> None:
    apply(state, PlaceOrder(addr(seller), 0, market, False, size, usd(price)))
    events = apply(state, PlaceOrder(addr(buyer), 0, market, True, size, usd(price), IOC))
    assert of_kind(events, "Fill"), events


def total_money(state: State) -> int:
    """Quote held anywhere: balances, isolated margin, fees, funds, funding in transit."""
    total = state.fee_balance + sum(state.insurance.values())
    total += sum(m.funding_balance for m in state.markets.values())
    for account in state.accounts.values():
        total += account.balances.get("USDC", 0)
        total += sum(p.isolated_margin for p in account.positions.values())
    return total


# --- the settlement average ----------------------------------------------------------


def test_twap_counts_only_fresh_seconds_and_runs_on_past_expiry():
    state = derivatives_state()
    expiry = state.markets[FUT].expiry
    assert expiry is not None and expiry.min_fresh_s == 900
    report(state, "BTC", usd("100000"), WINDOW_START - 10)
    report(state, "BTC", usd("101000"), WINDOW_START + 30)  # [W, W+30): 30 s at 100,000
    # The 101,000 quorum is fresh through W+91: 61 s counted, then 9 stale seconds are not.
    report(state, "BTC", usd("102000"), WINDOW_START + 100)
    apply(state, SetTime(EXPIRY))  # 61 fresh seconds at 102,000, then stale until expiry
    assert (expiry.twap_seconds, expiry.twap_sum) == (
        152,
        usd("100000") * 30 + usd("101000") * 61 + usd("102000") * 61,
    )
    error = refused(state, Settle(addr("anyone"), FUT), SettlementPending)
    assert "152 fresh seconds" in error.message and "needs 900" in error.message
    # Past expiry the window runs on over fresh seconds only, until it has 900.
    t = EXPIRY + 1_000
    report(state, "BTC", usd("104000"), t)
    for _ in range(30):
        t += 30
        report(state, "BTC", usd("104000"), t)
    expected = usd("100000") * 30 + usd("101000") * 61 + usd("102000") * 61 + usd("104000") * 748
    assert (expiry.twap_seconds, expiry.twap_sum) == (900, expected)
    events = apply(state, Settle(addr("anyone"), FUT))
    assert of_kind(events, "MarketSettled")[0]["price"] == expected // 900


def test_one_late_spike_moves_the_settlement_little():
    state = derivatives_state()
    expiry = state.markets[FUT].expiry
    assert expiry is not None
    t = WINDOW_START - 30
    while t < EXPIRY:
        # One report block at +8% (inside the 10% band, so taken at once), 30 s before expiry.
        price = "108000" if t == EXPIRY - 30 else "100000"
        report(state, "BTC", usd(price), t)
        t += 30
    apply(state, SetTime(EXPIRY))
    assert expiry.twap_seconds == 1_800
    settle = expiry.twap_sum // expiry.twap_seconds
    # 30 of 1,800 seconds at +8%: +0.1333%.
    assert settle == (usd("100000") * 1_770 + usd("108000") * 30) // 1_800 == usd("100133.333333")


# --- trading stops, Settle ------------------------------------------------------------


def test_trading_stops_at_expiry_but_cancels_are_accepted():
    state = derivatives_state()
    apply(state, PlaceOrder(addr("short"), 0, FUT, False, SIZE_ONE, usd("100000")))
    report(state, "BTC", usd("100000"), EXPIRY)
    error = refused(
        state, PlaceOrder(addr("long"), 0, FUT, True, SIZE_ONE, usd("100000"), IOC), MarketExpired
    )
    assert "Settle" in error.message
    assert kinds(apply(state, CancelOrder(addr("short"), 0, FUT, 1, None))) == ["OrderCancelled"]


def test_isolated_margin_without_a_position_comes_back_at_settlement():
    """Found by the derivatives state machine: margin parked in an isolated bucket with no
    position stayed in a settled market; and margin mode could be set after expiry."""
    state = derivatives_state()
    owner = addr("long")
    apply(state, SetMarginMode(owner, 0, PUT, True))
    apply(state, MoveIsolatedMargin(owner, 0, PUT, usd("500")))
    before = balance(state, "long")
    t = WINDOW_START
    while t <= EXPIRY:
        report(state, "BTC", usd("100000"), t)
        t += 60
    refused(state, SetMarginMode(owner, 0, CALL, True), MarketExpired)
    refused(state, MoveIsolatedMargin(owner, 0, PUT, usd("1")), MarketExpired)
    events = apply(state, Settle(addr("keeper"), PUT))
    assert of_kind(events, "IsolatedMarginMoved") == [
        {"account": f"{owner}/0", "market": PUT, "amount": -usd("500")}
    ]
    assert PUT not in state.accounts[(owner, 0)].positions
    assert balance(state, "long") == before + usd("500")


def test_settle_refusals_leave_the_state_untouched():
    state = derivatives_state()
    refused(state, Settle(addr("anyone"), "BTC-PERP"), NoExpiry)
    refused(state, Settle(addr("anyone"), FUT), SettlementPending)
    refused(state, Settle("not-an-address", FUT), BadAddress)
    refused(state, Settle(addr("anyone"), "NOPE"), UnknownMarket)


def test_future_settles_at_the_twap_with_rounding_dust_to_fees():
    state = derivatives_state()
    trade(state, FUT, "long", "short", 30_000, "100000")  # 0.0003 BTC
    t = WINDOW_START
    while t <= EXPIRY:
        report(state, "BTC", usd("100000") + (t - WINDOW_START) * 1_234_567, t)
        t += 30
    expiry = state.markets[FUT].expiry
    assert expiry is not None
    price = expiry.twap_sum // expiry.twap_seconds
    before = (balance(state, "long"), balance(state, "short"), state.fee_balance, total_money(state))
    events = apply(state, Settle(addr("keeper"), FUT))
    paid = 30_000 * price // SIZE_ONE
    owed = -((-30_000 * price) // SIZE_ONE)
    assert owed - paid == 1  # the unit of rounding
    settled = {e["account"]: (e["size"], e["price"], e["amount"]) for e in of_kind(events, "PositionSettled")}
    assert settled == {
        f"{addr('long')}/0": (30_000, price, paid),
        f"{addr('short')}/0": (-30_000, price, -owed),
    }
    assert balance(state, "long") == before[0] + paid
    assert balance(state, "short") == before[1] - owed
    assert state.fee_balance == before[2] + 1
    assert total_money(state) == before[3]
    market = state.markets[FUT]
    assert (
        market.open_interest == 0 and position(state, "long", FUT) == 0 and position(state, "short", FUT) == 0
    )
    assert market.expiry is not None and market.expiry.settled and market.expiry.settlement_price == price
    refused(state, Settle(addr("keeper"), FUT), MarketExpired)
    assert market.mark_price == price
    report(state, "BTC", usd("50000"), EXPIRY + 60)  # later reports leave a settled future alone
    assert market.mark_price == price


def test_a_future_pays_no_funding():
    state = derivatives_state()
    apply(
        state, PlaceOrder(addr("short"), 0, FUT, False, SIZE_ONE, usd("100500"))
    )  # the book bids above index
    apply(state, PlaceOrder(addr("long"), 0, FUT, True, SIZE_ONE, usd("100400")))
    for i in range(1, 20):
        report(state, "BTC", usd("100000"), T0 + 60 * i)
    market = state.markets[FUT]
    assert market.premium_ema != 0 and market.funding_rate == 0 and market.cum_funding == 0


def test_option_expiring_in_the_money_pays_intrinsic_from_writer_to_holder():
    state = derivatives_state()
    trade(state, CALL, "long", "short", SIZE_ONE // 2, "5000")  # half a contract
    trade(state, PUT, "long", "short", SIZE_ONE // 2, "5000")
    t = WINDOW_START
    while t <= EXPIRY:
        report(state, "BTC", usd("104000"), t)
        t += 30
    money = total_money(state)
    long_before, short_before = balance(state, "long"), balance(state, "short")
    events = apply(state, Settle(addr("keeper"), CALL)) + apply(state, Settle(addr("keeper"), PUT))
    settled = {(e["market"], e["account"]): e["amount"] for e in of_kind(events, "PositionSettled")}
    # Call: half a contract of 1 BTC, 4,000 in the money; the put expires worthless.
    assert settled == {
        (CALL, f"{addr('long')}/0"): usd("2000"),
        (CALL, f"{addr('short')}/0"): -usd("2000"),
        (PUT, f"{addr('long')}/0"): 0,
        (PUT, f"{addr('short')}/0"): 0,
    }
    assert balance(state, "long") == long_before + usd("2000")
    assert balance(state, "short") == short_before - usd("2000")
    assert total_money(state) == money


def test_a_writer_who_cannot_pay_at_expiry_is_made_whole_by_the_options_fund():
    state = derivatives_state({"long": "100000", "short": "17000"})
    trade(state, CALL, "long", "short", SIZE_ONE, "7000")  # the short now holds 24,000 less fees
    short_cash = balance(state, "short")
    # The index walks up to 130,000 in steps inside the 10% band, then holds through the window;
    # nobody liquidates the writer on the way.
    for i, price in enumerate(("108000", "116000", "125000", "130000")):
        report(state, "BTC", usd(price), WINDOW_START - 600 + 60 * i)
    t = WINDOW_START
    while t <= EXPIRY:
        report(state, "BTC", usd("130000"), t)
        t += 30
    fund = state.insurance["OPT"]
    events = apply(state, Settle(addr("keeper"), CALL))
    # The writer owes 30,000 with short_cash on hand: the fund pays the rest.
    deficit = usd("30000") - short_cash
    assert of_kind(events, "InsurancePaid") == [
        {"domain": "OPT", "account": f"{addr('short')}/0", "amount": deficit, "balance": fund - deficit}
    ]
    assert balance(state, "short") == 0
    assert balance(state, "long") > 0


# --- listing ------------------------------------------------------------------------


def _series(**changes: object) -> ListMarket:
    fields: dict[str, object] = {
        "sender": GOVERNOR,
        "market": "BTC-60D-C-100000",
        "asset": "BTC",
        "domain": "OPT",
        "tick": usd("0.1"),
        "lot": SIZE_ONE // 100,
        "min_notional": usd("1"),
        "base_imf": 15 * ONE // 100,
        "base_mmf": 75 * ONE // 1000,
        "max_leverage": 20,
        "kind": InstrumentKind.CALL,
        "expiry": T0 + 60 * 86_400,
        "settle_window_s": 1_800,
        "strike": usd("100000"),
        "contract_size": SIZE_ONE,
        "vol_feed": "BTC-60D",
    }
    fields.update(changes)
    return ListMarket(**fields)  # type: ignore[arg-type]


def test_a_new_series_is_listed_by_governance_and_bad_listings_are_refused():
    state = derivatives_state()
    refused(state, _series(), UnknownAsset)  # no vol feed yet
    apply(state, ListVolOracle(GOVERNOR, "BTC-60D", "BTC", T0 + 60 * 86_400, tuple(VOL_REPORTERS), 3))
    refused(state, _series(expiry=T0 - 1), InvalidAmount)
    refused(state, _series(settle_window_s=0), InvalidAmount)
    refused(state, _series(min_fresh_s=1_801), InvalidAmount)
    refused(state, _series(strike=0), InvalidAmount)
    refused(state, _series(expiry=T0 + 61 * 86_400), InvalidAmount)  # the feed covers another expiry
    refused(state, _series(kind=InstrumentKind.PERPETUAL), Malformed)
    refused(state, _series(kind=InstrumentKind.FUTURE), Malformed)  # a future has no strike
    events = apply(state, _series())
    assert of_kind(events, "MarketListed")[0]["kind"] == "CALL"
    market = state.markets["BTC-60D-C-100000"]
    assert market.breakers == {"vol_stale": "frozen"}  # no smile reported for 60D yet
    error = refused(state, PlaceOrder(addr("long"), 0, market.id, True, SIZE_ONE, usd("5000")), OracleStale)
    assert "BTC-60D" in error.message


# --- option marks, bands, greeks -------------------------------------------------------


def test_an_option_trigger_fires_on_time_decay_alone():
    """Found by the derivatives state machine: SetTime moved option marks but fired nothing."""
    state = derivatives_state()
    call = state.markets[CALL]
    stop = (call.mark_price * 99 // 100) // call.tick * call.tick
    apply(state, PlaceTrigger(addr("long"), 0, CALL, TriggerKind.STOP_MARKET, stop, False, SIZE_ONE))
    events = apply(state, SetTime(T0 + 5 * 86_400))  # five days of decay, no report
    assert call.mark_price < stop
    assert of_kind(events, "TriggerFired") or of_kind(events, "TriggerFailed")
    assert not call.triggers


def test_option_marks_follow_index_smile_and_time():
    state = derivatives_state()
    call = state.markets[CALL]
    first = call.mark_price
    assert first == option_mark(state, call) and usd("6000") < first < usd("8000")
    report(state, "BTC", usd("103000"), T0 + 10)
    assert call.mark_price > first
    higher_index = call.mark_price
    vols(state, 8 * ONE // 10)
    assert call.mark_price > higher_index
    before = call.mark_price
    apply(state, SetTime(T0 + 20 * 86_400))
    assert call.mark_price < before  # time decay on the clock alone
    # Put-call parity on the marks, to the unit of each floor.
    put = state.markets[PUT]
    parity = call.mark_price - put.mark_price - (state.feeds["BTC"].index_price - usd("100000"))
    assert abs(parity) <= 1


def test_option_price_band_is_measured_on_the_underlying():
    state = derivatives_state()
    call = state.markets[CALL]
    assert call.underlying_price == usd("100000")
    # mark ± 5% of 100,000: an order 4,000 away from the mark is inside, 6,000 is not.
    apply(
        state,
        PlaceOrder(
            addr("short"),
            0,
            CALL,
            False,
            SIZE_ONE,
            (call.mark_price + usd("4000")) // usd("0.1") * usd("0.1"),
        ),
    )
    refused(
        state,
        PlaceOrder(
            addr("short"),
            0,
            CALL,
            False,
            SIZE_ONE,
            (call.mark_price + usd("6000")) // usd("0.1") * usd("0.1"),
        ),
        PriceBand,
    )


def test_account_greeks_sum_options_and_futures_per_underlying():
    state = derivatives_state()
    trade(state, CALL, "long", "short", SIZE_ONE, "7000")
    trade(state, FUT, "short", "long", SIZE_ONE // 2, "100000")  # long sells half a BTC forward
    greeks = account_greeks(state, state.accounts[(addr("long"), 0)])["BTC"]
    call_alone = account_greeks(state, state.accounts[(addr("short"), 0)])["BTC"]
    # The short is short the call and long half a BTC: its delta is 0.5 - delta(call).
    assert greeks.delta + call_alone.delta == 0
    assert 0 < greeks.delta + ONE // 2 < ONE
    assert greeks.gamma > 0 and greeks.vega > 0 and greeks.theta < 0
    assert call_alone.gamma == -greeks.gamma


def test_vol_reports_are_aggregated_by_median_with_outliers_dropped():
    state = derivatives_state()
    feed = state.vol_feeds[VOL]
    apply(state, SetTime(T0 + 10))
    events = []
    for reporter, atm in zip(VOL_REPORTERS, (50, 52, 51, 90, 53), strict=True):
        events += apply(state, VolReport(reporter, VOL, atm * ONE // 100, -ONE // 10, ONE // 20, T0 + 10))
    assert of_kind(events, "VolReportDiscarded") == [
        {"feed": VOL, "reporter": VOL_REPORTERS[3], "atm_vol": 9 * ONE // 10, "median": 52 * ONE // 100}
    ]
    assert (feed.atm_vol, feed.skew, feed.curvature) == (515 * ONE // 1000, -ONE // 10, ONE // 20)
    refused(state, VolReport(VOL_REPORTERS[0], VOL, ONE // 2, 0, 0, T0 + 10), ReportReplayed)
    refused(state, VolReport(VOL_REPORTERS[0], VOL, 0, 0, 0, T0 + 11), InvalidAmount)
    refused(state, VolReport(addr("stranger"), VOL, ONE // 2, 0, 0, T0 + 11), Unauthorized)


def test_a_stale_smile_freezes_option_orders():
    state = derivatives_state()
    apply(state, SetTime(T0 + 301))  # the smile's staleness limit is 300 s
    report(state, "BTC", usd("100000"))
    assert state.markets[CALL].breakers == {"vol_stale": "frozen"}
    refused(state, PlaceOrder(addr("long"), 0, CALL, True, SIZE_ONE, usd("7000")), OracleStale)
    events = vols(state, 6 * ONE // 10)
    assert {"market": CALL, "breaker": "vol_stale", "reason": "fresh volatility quorum"} in of_kind(
        events, "BreakerCleared"
    )


def test_simple_margin_of_options_as_documented():
    """docs/options.md: an ATM short call needs 15,000 / 7,500 above its mark, the 110,000
    call max(15,000 - 10,000, 50% x 15,000) = 7,500 initial; a long needs its value, MM 0."""
    state = derivatives_state({"long": "100000", "short": "100000", "otm": "100000"})
    trade(state, CALL, "long", "short", SIZE_ONE, "7000")
    trade(state, "BTC-30D-C-110000", "long", "otm", SIZE_ONE, "3000")
    short = cross_risk(state, state.accounts[(addr("short"), 0)])
    assert (short.im, short.mm) == (usd("15000"), usd("7500"))
    otm = cross_risk(state, state.accounts[(addr("otm"), 0)])
    assert (otm.im, otm.mm) == (usd("7500"), usd("3750"))
    long = cross_risk(state, state.accounts[(addr("long"), 0)])
    marks = state.markets[CALL].mark_price + state.markets["BTC-30D-C-110000"].mark_price
    assert (long.im, long.mm) == (marks, 0)
