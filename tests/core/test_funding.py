"""
Funding and mark price, with exact integers.

Fixture F, BTC-PERP: premium EMA time constant 300 s, impact notional
10,000 USDC, mark within index * (1 ± 0.5%), funding rate = EMA / 8 per hour
clamped to ±0.5%/h. Index 100,000 USDC = 10**11 price units, so a premium of
d USDC over the index is d * 10**6 * 10**18 // 10**11 = d * 10**13 as a ratio.
The feed's reports at T0 are stale 60 s later, so a batch of reports at a
later time is taken on its third report (quorum 3); the first report of the
batch accrues funding at the old rate and index.
"""

from fixtures import (
    BTC_PERP,
    T0,
    USDC,
    addr,
    balance,
    btc,
    key,
    kinds,
    of_kind,
    place,
    ready_state,
    refused,
    report,
)

from solvent.core.engine import apply
from solvent.core.errors import InsufficientMargin
from solvent.core.funding import compute_premium
from solvent.core.margin import cross_risk
from solvent.core.state import TimeInForce
from solvent.core.tx import CancelOrder, Deposit, ListMarket, PlaceOrder, SetTime, SettleFunding
from solvent.defaults import GOVERNOR, usd

IOC = TimeInForce.IOC
BTC_INDEX = 100_000_000_000


def _btc(state, t: int, price: str = "100000"):
    return report(state, "BTC", usd(price), t)


def test_premium_is_zero_on_an_empty_or_thin_book():
    state = ready_state()
    market = state.markets[BTC_PERP]
    assert compute_premium(market, BTC_INDEX) == 0
    place(state, "maker", True, btc("0.09"), "100100")  # 9,009 USDC: thinner than 10,000
    assert compute_premium(market, BTC_INDEX) == 0


def test_premium_from_the_impact_bid():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "100100")  # 10,010 USDC of depth
    # Impact bid: ceil(10**10 * 10**8 / 100_100_000_000) = 9_990_010 atoms at 100,100,
    # notional 9_990_010 * 1001 = 10_000_000_010, average exactly 100,100.
    # premium = (100,100 - 100,000) / 100,000 = 100 * 10**13 = 10**15 (0.1%)
    assert compute_premium(state.markets[BTC_PERP], BTC_INDEX) == 10**15


def test_premium_from_an_impact_ask_walking_two_levels():
    state = ready_state()
    place(state, "maker", False, btc("0.05"), "99800")  # 4,990 USDC
    place(state, "maker", False, btc("0.1"), "99900")
    # 0.05 BTC at 99,800 = 4_990_000_000; need 5_010_000_000 more at 99,900:
    # ceil(5_010_000_000 * 10**8 / 99_900_000_000) = ceil(5_015_015.015) = 5_015_016 atoms,
    # notional 5_015_016 * 999 = 5_010_000_984. In all 10_015_016 atoms for 10_000_000_984:
    # impact ask = 10_000_000_984 * 10**8 // 10_015_016 = 99_850_074_967.
    # premium = -(10**11 - 99_850_074_967) * 10**18 // 10**11 = -149_925_033 * 10**7
    assert compute_premium(state.markets[BTC_PERP], BTC_INDEX) == -1_499_250_330_000_000


def test_first_sample_after_a_full_time_constant_sets_ema_mark_and_rate():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "100100")
    events = _btc(state, T0 + 300)
    market = state.markets[BTC_PERP]
    # alpha = min(1, 300 / 300) = 1: ema = sample = 10**15
    assert market.premium_ema == 10**15
    # mark = 10**11 + 10**11 * 10**15 // 10**18 = 100_100_000_000
    assert market.mark_price == 100_100_000_000
    # rate = 10**15 // 8 = 125_000_000_000_000 (0.0125% per hour)
    assert of_kind(events, "FundingRate") == [{"market": BTC_PERP, "rate": 125_000_000_000_000}]
    assert market.funding_rate == 125_000_000_000_000


def test_ema_moves_a_fraction_dt_over_tau_toward_the_sample():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "100100")  # id 1
    _btc(state, T0 + 300)  # ema = 10**15
    apply(state, CancelOrder(addr("maker"), 0, BTC_PERP, order_id=1))
    _btc(state, T0 + 360)  # sample 0 after 60 s
    market = state.markets[BTC_PERP]
    # alpha = 60 * 10**18 // 300 = 2 * 10**17; ema = 10**15 + (0 - 10**15) * 0.2 = 8 * 10**14
    assert market.premium_ema == 800_000_000_000_000
    assert market.mark_price == 10**11 + 8 * 10**7 == 100_080_000_000
    assert market.funding_rate == 100_000_000_000_000  # 8 * 10**14 // 8


def test_mark_is_clamped_to_the_mark_band():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "102000")  # 10,200 USDC at +2%
    _btc(state, T0 + 300)
    market = state.markets[BTC_PERP]
    assert market.premium_ema == 2 * 10**16  # 2,000 * 10**13
    # mark = index * (1 + min(2%, 0.5%)) = 100,500; rate = 2% / 8 = 0.25% (inside the cap)
    assert market.mark_price == 100_500_000_000
    assert market.funding_rate == 2_500_000_000_000_000


def test_mark_is_clamped_below_as_well():
    state = ready_state()
    place(state, "maker", False, btc("0.2"), "98000")  # 19,600 USDC at -2%
    _btc(state, T0 + 300)
    market = state.markets[BTC_PERP]
    assert market.premium_ema == -2 * 10**16
    assert market.mark_price == 99_500_000_000
    assert market.funding_rate == -2_500_000_000_000_000


def test_funding_rate_is_clamped_to_the_cap():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "104500")  # +4.5%
    _btc(state, T0 + 300)
    market = state.markets[BTC_PERP]
    # 4.5% / 8 = 0.5625%/h > 0.5%/h cap
    assert market.premium_ema == 45 * 10**15
    assert market.funding_rate == 5 * 10**15
    apply(state, CancelOrder(addr("maker"), 0, BTC_PERP, order_id=1))
    place(state, "maker", False, btc("0.2"), "95500")  # -4.5%
    _btc(state, T0 + 600)
    assert market.premium_ema == -45 * 10**15
    assert market.funding_rate == -5 * 10**15


def _long_and_short_one_btc(state) -> None:
    """'short' sells 1 BTC to 'taker' at 100,200, above the maker's premium bid."""
    place(state, "short", False, btc("1"), "100200")
    place(state, "taker", True, btc("1"), "100200", IOC)


def test_long_pays_short_exact_funding_over_one_hour():
    state = ready_state()
    apply(state, Deposit(addr("short"), 0, USDC, usd("100000")))
    place(state, "maker", True, btc("0.1"), "100100")  # premium 0.1%: rate 1.25 * 10**14 / h
    _btc(state, T0 + 300)
    _long_and_short_one_btc(state)
    long_before, short_before = balance(state, "taker"), balance(state, "short")
    _btc(state, T0 + 3900)  # the first report accrues the hour at the old rate and index
    market = state.markets[BTC_PERP]
    # cum = 125_000_000_000_000 * 10**11 * 3600 // 3600 = 1.25 * 10**25
    assert market.cum_funding == 12_500_000_000_000_000_000_000_000
    assert market.funding_rate == 125_000_000_000_000  # the same book: the same rate
    paid = apply(state, SettleFunding(addr("taker"), 0))
    received = apply(state, SettleFunding(addr("short"), 0))
    # owed = ceil(10**8 * 1.25 * 10**25 / (10**8 * 10**18)) = 12_500_000 (12.5 USDC on 100,000)
    assert [e["amount"] for e in of_kind(paid, "FundingPaid")] == [12_500_000]
    assert [e["amount"] for e in of_kind(received, "FundingPaid")] == [-12_500_000]
    assert balance(state, "taker") == long_before - 12_500_000
    assert balance(state, "short") == short_before + 12_500_000
    assert market.funding_balance == 0
    assert apply(state, SettleFunding(addr("taker"), 0)) == []  # nothing more is owed


def test_new_position_owes_funding_only_from_when_it_opened():
    state = ready_state()
    apply(state, Deposit(addr("short"), 0, USDC, usd("100000")))
    place(state, "maker", True, btc("0.1"), "100100")
    _btc(state, T0 + 300)  # last accrual at T0 + 300, rate 1.25 * 10**14
    apply(state, SetTime(T0 + 330))  # 30 s later, no report: funding is not yet accrued
    _long_and_short_one_btc(state)
    apply(state, SetTime(T0 + 330 + 3600))
    paid = apply(state, SettleFunding(addr("taker"), 0))
    # Exactly one hour held: 12.5 USDC, not the 3,630 s that the last accrual would imply.
    assert [e["amount"] for e in of_kind(paid, "FundingPaid")] == [12_500_000]


def test_funding_accrues_at_the_old_rate_and_index_when_the_index_moves():
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "100100")
    _btc(state, T0 + 300)  # rate 1.25 * 10**14
    events = _btc(state, T0 + 1200, "101000")
    market = state.markets[BTC_PERP]
    # 900 s at the old rate and index: 1.25 * 10**14 * 10**11 * 900 // 3600 = 3.125 * 10**24
    assert market.cum_funding == 3_125_000_000_000_000_000_000_000
    # Then the index 101,000 is taken: the bid at 100,100 is below it, premium 0, alpha 1, rate 0.
    assert of_kind(events, "FundingRate") == [{"market": BTC_PERP, "rate": 0}]
    assert market.mark_price == 101_000_000_000
    _btc(state, T0 + 2100, "101000")
    assert market.cum_funding == 3_125_000_000_000_000_000_000_000  # rate 0: nothing more


def _list_fund_perp(state, interest: int) -> None:
    """List FUND-PERP on the BTC feed: no fees, IMF 10%, a constant funding interest."""
    apply(
        state,
        ListMarket(
            GOVERNOR,
            "FUND-PERP",
            "BTC",
            "MAJ",
            tick=usd("0.1"),
            lot=10_000,
            min_notional=usd("10"),
            base_imf=10**17,
            base_mmf=5 * 10**16,
            max_leverage=10,
            funding_interest=interest,
        ),
    )


def test_funding_never_creates_money():
    state = ready_state()
    interest = 123_456_789_012_345  # ratio per hour, about 0.0123%/h
    _list_fund_perp(state, interest)
    events = _btc(state, T0 + 60)  # empty book: premium 0, rate = funding_interest
    assert of_kind(events, "FundingRate") == [{"market": "FUND-PERP", "rate": interest}]
    place(state, "maker", False, btc("0.0001"), "100000", market="FUND-PERP")
    place(state, "maker2", False, btc("0.0002"), "100000", market="FUND-PERP")
    place(state, "taker", True, btc("0.0003"), "100000", IOC, market="FUND-PERP")
    _btc(state, T0 + 3660)
    market = state.markets["FUND-PERP"]
    # cum = 123_456_789_012_345 * 10**11 * 3600 // 3600
    assert market.cum_funding == 12_345_678_901_234_500_000_000_000
    # Receivers settle first: the market's balance goes negative in transit.
    short1 = apply(state, SettleFunding(addr("maker"), 0))
    short2 = apply(state, SettleFunding(addr("maker2"), 0))
    assert market.funding_balance == -(1_234 + 2_469)
    long = apply(state, SettleFunding(addr("taker"), 0))
    # long:   ceil(30_000 * cum / 10**26) = ceil(3_703.70367...) = 3_704
    # shorts: floor(10_000 * cum / 10**26) = floor(1_234.5678...) = 1_234,
    #         floor(20_000 * cum / 10**26) = floor(2_469.1357...) = 2_469
    assert [e["amount"] for e in of_kind(long, "FundingPaid")] == [3_704]
    assert [e["amount"] for e in of_kind(short1, "FundingPaid")] == [-1_234]
    assert [e["amount"] for e in of_kind(short2, "FundingPaid")] == [-2_469]
    # Σ paid 3,704 >= Σ received 3,703: the atom of rounding stays in the market.
    assert market.funding_balance == 1
    assert "FundingPaid" in kinds(long)


def test_order_margin_check_counts_pending_funding_on_the_size_held():
    state = ready_state({"maker2": "1000000", "short": "20000"})
    _list_fund_perp(state, 5 * 10**15)  # 0.5%/h, the cap: longs pay shorts 500 USDC per BTC-hour
    _btc(state, T0 + 60)
    place(state, "maker2", True, btc("3"), "100000", market="FUND-PERP")
    place(state, "short", False, btc("1"), "100000", IOC, market="FUND-PERP")  # no fees here
    for hour in range(1, 11):
        _btc(state, T0 + 60 + 3600 * hour)
    # cash 120,000 - 1 BTC * 100,000 + 10 h * 500 USDC pending = 25,000 USDC of value
    account = state.accounts[key("short")]
    risk = cross_risk(state, account)
    assert (risk.value_init, risk.im) == (25_000_000_000, 10_000_000_000)
    # Selling 1.6 BTC more: IM for 2.6 BTC = 26,000 > 25,000. The 5,000 USDC pending is owed
    # to the 1 BTC held, not to 2.6 BTC (which would count 13,000 and let it through).
    sell = PlaceOrder(addr("short"), 0, "FUND-PERP", False, btc("1.6"), usd("100000"), IOC)
    refused(state, sell, InsufficientMargin)
    place(state, "short", False, btc("1.5"), "100000", IOC, market="FUND-PERP")  # IM 25,000: exactly
    risk = cross_risk(state, account)
    assert (risk.value_init, risk.im) == (25_000_000_000, 25_000_000_000)
