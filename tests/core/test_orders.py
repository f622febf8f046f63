"""
Book, matching and order handlers, with exact integers.

Numbers used throughout (Fixture F, BTC-PERP, index = mark = 100,000 USDC):
price 100,000 USDC = 100_000_000_000 price units; 1 BTC = 100_000_000 size
atoms; notional = size * price // 10**8 quote atoms; maker fee 0.02% and
taker fee 0.05%, both rounded up; band = mark * (1 ± 5%) = [95,000, 105,000].
Order ids come from one counter starting at 1 (triggers share it).
"""

from fixtures import (
    BTC_PERP,
    T0,
    acct,
    addr,
    balance,
    btc,
    kinds,
    of_kind,
    place,
    position,
    ready_state,
    refused,
    report,
)

from solvent.core.engine import apply
from solvent.core.errors import (
    AmountTooLarge,
    BelowMinSize,
    DuplicateClientId,
    FillOrKillNotFilled,
    InvalidAmount,
    InvalidTrigger,
    Malformed,
    OffLot,
    OffTick,
    PostOnlyWouldCross,
    PriceBand,
    ReduceOnlyWouldIncrease,
    UnknownOrder,
)
from solvent.core.state import TimeInForce, TriggerKind
from solvent.core.tx import (
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    ModifyOrder,
    PlaceOrder,
    PlaceTrigger,
    Withdraw,
)
from solvent.defaults import usd

IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
POST = TimeInForce.POST_ONLY


def _level(state, price: str, is_buy: bool) -> list[int]:
    """Return the order ids resting at one price level, in time priority."""
    book = state.markets[BTC_PERP].book
    levels = book.bids if is_buy else book.asks
    level = levels.get(-usd(price) if is_buy else usd(price), {})
    return list(level)


# --- book and time in force ------------------------------------------------------


def test_gtc_order_rests_at_its_price_level():
    state = ready_state()
    events = place(state, "maker", False, btc("1"), "100100")
    assert [e.to_json() for e in events] == [
        {
            "event": "OrderPlaced",
            "market": BTC_PERP,
            "order_id": 1,
            "account": acct("maker"),
            "is_buy": False,
            "price": 100_100_000_000,
            "size": 100_000_000,
            "client_id": None,
        }
    ]
    assert _level(state, "100100", False) == [1]
    assert state.markets[BTC_PERP].book.orders[1].size == 100_000_000
    assert state.next_order_id == 2


def test_ioc_remainder_is_cancelled_as_unfilled():
    state = ready_state()
    place(state, "maker", False, btc("0.5"), "100100")  # id 1
    events = place(state, "taker", True, btc("1"), "100200", IOC)  # id 2
    assert kinds(events) == ["Fill", "OrderCancelled"]
    # notional = 50_000_000 * 100_100_000_000 // 10**8 = 50_050_000_000
    # taker fee = ceil(50_050_000_000 * 0.0005) = 25_025_000; maker fee = ceil(* 0.0002) = 10_010_000
    assert of_kind(events, "Fill")[0] == {
        "market": BTC_PERP,
        "taker": acct("taker"),
        "maker": acct("maker"),
        "taker_order": 2,
        "maker_order": 1,
        "taker_is_buy": True,
        "size": 50_000_000,
        "notional": 50_050_000_000,
        "taker_fee": 25_025_000,
        "maker_fee": 10_010_000,
    }
    assert of_kind(events, "OrderCancelled") == [
        {
            "market": BTC_PERP,
            "order_id": 2,
            "account": acct("taker"),
            "remaining": 50_000_000,
            "reason": "unfilled",
        }
    ]
    book = state.markets[BTC_PERP].book
    assert not book.orders and not book.asks and not book.bids


def test_fok_refused_when_the_book_is_too_thin():
    state = ready_state()
    place(state, "maker", False, btc("0.5"), "100100")
    tx = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("1"), usd("100100"), FOK)
    refused(state, tx, FillOrKillNotFilled)


def test_fok_fills_completely_when_the_book_is_deep_enough():
    state = ready_state()
    place(state, "maker", False, btc("0.5"), "100100")
    place(state, "maker2", False, btc("0.5"), "100200")
    events = place(state, "taker", True, btc("1"), "100200", FOK)
    assert [f["size"] for f in of_kind(events, "Fill")] == [50_000_000, 50_000_000]
    assert position(state, "taker") == 100_000_000


def test_post_only_refused_when_it_would_cross():
    state = ready_state()
    place(state, "maker", False, btc("1"), "100100")
    tx = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("100100"), POST)
    refused(state, tx, PostOnlyWouldCross)


def test_post_only_rests_when_it_does_not_cross():
    state = ready_state()
    place(state, "maker", False, btc("1"), "100100")  # id 1
    events = place(state, "taker", True, btc("0.1"), "100000", POST)  # id 2
    assert kinds(events) == ["OrderPlaced"]
    assert _level(state, "100000", True) == [2]


def test_market_order_stops_at_its_worst_price():
    state = ready_state()
    place(state, "maker", False, btc("0.5"), "100100")  # id 1
    place(state, "maker2", False, btc("0.5"), "100300")  # id 2
    events = place(state, "taker", True, btc("1"), None, IOC, worst_price="100200")  # id 3
    assert [(f["maker_order"], f["size"]) for f in of_kind(events, "Fill")] == [(1, 50_000_000)]
    assert of_kind(events, "OrderCancelled")[0]["remaining"] == 50_000_000
    assert of_kind(events, "OrderCancelled")[0]["reason"] == "unfilled"
    assert _level(state, "100300", False) == [2]


def test_market_order_without_worst_price_stops_at_the_band_edge():
    state = ready_state()
    place(state, "maker", False, btc("0.5"), "100100")  # id 1
    place(state, "maker2", False, btc("0.5"), "105000")  # id 2: exactly mark * 1.05
    events = place(state, "taker", True, btc("2"), None, IOC)  # id 3
    # Both levels are within the band edge 105,000: 0.5 * 100,100 + 0.5 * 105,000
    assert [f["notional"] for f in of_kind(events, "Fill")] == [50_050_000_000, 52_500_000_000]
    cancelled = of_kind(events, "OrderCancelled")[0]
    assert (cancelled["remaining"], cancelled["reason"]) == (100_000_000, "price_band")


def test_market_order_refused_as_gtc():
    state = ready_state()
    tx = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("1"), None, TimeInForce.GTC)
    refused(state, tx, Malformed)


# --- reduce-only ---------------------------------------------------------------


def _taker_long(state, size: str = "0.3") -> None:
    """Give the taker a long of ``size`` BTC bought from the maker at 100,000."""
    place(state, "maker", False, btc(size), "100000")
    place(state, "taker", True, btc(size), "100000", IOC)


def test_reduce_only_order_is_clipped_to_the_position():
    state = ready_state()
    _taker_long(state)  # ids 1, 2
    events = place(state, "taker", False, btc("1"), "100500", reduce_only=True)  # id 3
    assert of_kind(events, "OrderPlaced")[0]["size"] == 30_000_000  # 1 BTC clipped to 0.3
    assert state.markets[BTC_PERP].book.orders[3].reduce_only is True


def test_reduce_only_refused_when_it_would_increase():
    state = ready_state()
    _taker_long(state)
    same_side = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("100000"), reduce_only=True)
    refused(state, same_side, ReduceOnlyWouldIncrease)
    flat = PlaceOrder(addr("maker2"), 0, BTC_PERP, False, btc("0.1"), usd("100000"), reduce_only=True)
    refused(state, flat, ReduceOnlyWouldIncrease)


def test_reduce_only_closing_the_whole_position_may_be_below_min_size():
    state = ready_state()
    _taker_long(state, "0.0001")  # 0.0001 BTC at 100,000 = 10 USDC, exactly the minimum
    place(state, "maker2", True, btc("0.0002"), "99000")  # id 3: 19.8 USDC
    # 0.0001 * 99,000 = 9.9 USDC < 10 USDC: refused unless it closes the whole position.
    plain = PlaceOrder(addr("taker"), 0, BTC_PERP, False, btc("0.0001"), usd("99000"), IOC)
    refused(state, plain, BelowMinSize)
    events = place(state, "taker", False, btc("0.0001"), "99000", IOC, reduce_only=True)
    assert of_kind(events, "Fill")[0]["notional"] == 9_900_000
    assert position(state, "taker") == 0


def test_resting_reduce_only_maker_is_cancelled_once_flat():
    state = ready_state()
    place(state, "maker", False, btc("0.2"), "100000")  # id 1
    place(state, "maker2", True, btc("0.2"), "100000", IOC)  # id 2: maker2 long 0.2
    place(state, "maker2", False, btc("0.2"), "100500", reduce_only=True)  # id 3 rests
    place(state, "maker", True, btc("0.2"), "99900")  # id 4
    place(state, "maker2", False, btc("0.2"), "99900", IOC)  # id 5: maker2 flat again
    place(state, "maker", False, btc("0.1"), "100600")  # id 6
    events = place(state, "taker", True, btc("0.1"), "100600", IOC)  # id 7
    assert of_kind(events, "OrderCancelled")[0] == {
        "market": BTC_PERP,
        "order_id": 3,
        "account": acct("maker2"),
        "remaining": 20_000_000,
        "reason": "reduce_only",
    }
    assert [f["maker_order"] for f in of_kind(events, "Fill")] == [6]


# --- cancel, cancel-all, modify, client ids --------------------------------------------


def test_cancel_by_order_id_and_by_client_id():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    place(state, "maker", False, btc("0.1"), "100200", client_id=42)  # id 2
    events = apply(state, CancelOrder(addr("maker"), 0, BTC_PERP, order_id=1))
    assert [e.to_json() for e in events] == [
        {
            "event": "OrderCancelled",
            "market": BTC_PERP,
            "order_id": 1,
            "account": acct("maker"),
            "remaining": 10_000_000,
            "reason": "user",
        }
    ]
    events = apply(state, CancelOrder(addr("maker"), 0, BTC_PERP, client_id=42))
    assert of_kind(events, "OrderCancelled")[0]["order_id"] == 2
    assert not state.markets[BTC_PERP].book.orders
    assert not state.markets[BTC_PERP].book.by_client_id


def test_cancel_refused_for_unknown_or_foreign_order():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    refused(state, CancelOrder(addr("taker"), 0, BTC_PERP, order_id=1), UnknownOrder)
    refused(state, CancelOrder(addr("maker"), 0, BTC_PERP, order_id=99), UnknownOrder)
    refused(state, CancelOrder(addr("maker"), 0, BTC_PERP, client_id=5), UnknownOrder)
    refused(state, CancelOrder(addr("maker"), 0, BTC_PERP), Malformed)


def test_cancel_all_cancels_orders_and_triggers_in_every_market():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    place(state, "maker", True, btc("5"), "2000", market="ETH-PERP")  # id 2
    apply(
        state,
        PlaceTrigger(addr("maker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("101000"), True, btc("0.1")),
    )  # id 3
    place(state, "taker", False, btc("0.1"), "100200")  # id 4: another account, untouched
    scoped = apply(state, CancelAll(addr("maker"), 0, "ETH-PERP"))
    assert [(e.kind, e.data.get("order_id")) for e in scoped] == [("OrderCancelled", 2)]
    events = apply(state, CancelAll(addr("maker"), 0))
    assert [e.to_json() for e in events] == [
        {
            "event": "OrderCancelled",
            "market": BTC_PERP,
            "order_id": 1,
            "account": acct("maker"),
            "remaining": 10_000_000,
            "reason": "user",
        },
        {"event": "TriggerCancelled", "market": BTC_PERP, "trigger_id": 3, "reason": "user"},
    ]
    assert list(state.markets[BTC_PERP].book.orders) == [4]
    assert not state.markets[BTC_PERP].triggers


def test_modify_shrinking_at_same_price_keeps_priority():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    place(state, "maker2", False, btc("0.1"), "100100")  # id 2
    events = apply(state, ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("100100"), btc("0.05")))
    assert [e.to_json() for e in events] == [
        {
            "event": "OrderModified",
            "market": BTC_PERP,
            "order_id": 1,
            "price": 100_100_000_000,
            "size": 5_000_000,
            "kept_priority": True,
        }
    ]
    assert _level(state, "100100", False) == [1, 2]
    fills = of_kind(place(state, "taker", True, btc("0.05"), "100100", IOC), "Fill")
    assert [(f["maker_order"], f["size"]) for f in fills] == [(1, 5_000_000)]


def test_modify_growing_loses_priority_and_keeps_its_id():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    place(state, "maker2", False, btc("0.1"), "100100")  # id 2
    events = apply(state, ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("100100"), btc("0.2")))
    assert kinds(events) == ["OrderModified", "OrderPlaced"]
    assert of_kind(events, "OrderModified")[0]["kept_priority"] is False
    assert of_kind(events, "OrderPlaced")[0]["order_id"] == 1
    assert _level(state, "100100", False) == [2, 1]
    fills = of_kind(place(state, "taker", True, btc("0.1"), "100100", IOC), "Fill")
    assert [f["maker_order"] for f in fills] == [2]


def test_modify_price_moves_the_order_to_the_back_of_its_new_level():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    place(state, "maker2", False, btc("0.1"), "100200")  # id 2
    apply(state, ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("100200"), btc("0.1")))
    assert _level(state, "100100", False) == []
    assert _level(state, "100200", False) == [2, 1]


def test_modify_refused_off_tick_or_for_another_account():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100")  # id 1
    refused(state, ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("100100.05"), btc("0.1")), OffTick)
    refused(state, ModifyOrder(addr("taker"), 0, BTC_PERP, 1, usd("100100"), btc("0.05")), UnknownOrder)


def test_client_id_must_be_unique_among_open_orders_of_an_account():
    state = ready_state()
    place(state, "maker", False, btc("0.1"), "100100", client_id=7)  # id 1
    dup = PlaceOrder(addr("maker"), 0, BTC_PERP, False, btc("0.1"), usd("100200"), client_id=7)
    refused(state, dup, DuplicateClientId)
    place(state, "maker2", False, btc("0.1"), "100200", client_id=7)  # another account: fine
    # A modify that loses priority keeps its own client id without a clash.
    apply(state, ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("100300"), btc("0.1")))
    assert state.markets[BTC_PERP].book.by_client_id[(addr("maker"), 0), 7] == 1
    apply(state, CancelOrder(addr("maker"), 0, BTC_PERP, client_id=7))
    events = place(state, "maker", False, btc("0.1"), "100200", client_id=7)  # free again
    assert of_kind(events, "OrderPlaced")[0]["client_id"] == 7


# --- validation --------------------------------------------------------------------


def test_price_off_tick_refused():
    state = ready_state()
    # tick 0.1 USDC = 100_000; 100,000.05 USDC = 100_000_050_000 is not a multiple.
    tx = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("100000.05"))
    refused(state, tx, OffTick)


def test_size_off_lot_refused():
    state = ready_state()
    # lot 0.0001 BTC = 10_000 size atoms; 5_000 is half a lot.
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, 5_000, usd("100000")), OffLot)


def test_order_below_min_notional_refused_and_exact_minimum_accepted():
    state = ready_state()
    # 10_000 * 99_999_900_000 // 10**8 = 9_999_990 < 10_000_000 (10 USDC)
    small = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.0001"), usd("99999.9"))
    refused(state, small, BelowMinSize)
    # 10_000 * 100_000_000_000 // 10**8 = 10_000_000: exactly the minimum
    assert kinds(place(state, "taker", True, btc("0.0001"), "100000")) == ["OrderPlaced"]


def test_zero_or_huge_sizes_and_prices_refused():
    state = ready_state()
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, 0, usd("100000")), InvalidAmount)
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), 0), InvalidAmount)
    refused(state, PlaceOrder(addr("taker"), 0, BTC_PERP, True, 2**127, usd("100000")), AmountTooLarge)


def test_limit_price_outside_band_refused_and_edges_accepted():
    state = ready_state()
    # band = [ceil(10**11 * 0.95), floor(10**11 * 1.05)] = [95_000_000_000, 105_000_000_000]
    high = PlaceOrder(addr("taker"), 0, BTC_PERP, True, btc("0.1"), usd("105000.1"))
    low = PlaceOrder(addr("taker"), 0, BTC_PERP, False, btc("0.1"), usd("94999.9"))
    refused(state, high, PriceBand)
    refused(state, low, PriceBand)
    assert kinds(place(state, "taker", True, btc("0.1"), "105000")) == ["OrderPlaced"]
    # A sell at the lower edge is accepted too; it crosses the bid above and fills at 105,000.
    fill = of_kind(place(state, "maker", False, btc("0.1"), "95000"), "Fill")[0]
    assert fill["notional"] == 10_500_000_000


# --- matching ----------------------------------------------------------------------


def test_self_trade_cancels_the_resting_order():
    state = ready_state()
    apply(state, Deposit(addr("maker"), 1, "USDC", usd("100000")))
    place(state, "maker", False, btc("0.5"), "100100")  # id 1, subaccount 0
    place(state, "maker2", False, btc("0.5"), "100200")  # id 2
    events = place(state, "maker", True, btc("1"), "100200", sub=1)  # id 3: same owner
    assert kinds(events) == ["OrderCancelled", "SelfTradePrevented", "Fill", "OrderPlaced"]
    assert of_kind(events, "OrderCancelled")[0]["reason"] == "self_trade"
    assert of_kind(events, "OrderCancelled")[0]["order_id"] == 1
    assert of_kind(events, "SelfTradePrevented") == [{"market": BTC_PERP, "resting": 1, "taker": 3}]
    assert of_kind(events, "Fill")[0]["maker_order"] == 2
    assert of_kind(events, "OrderPlaced")[0]["size"] == 50_000_000
    assert _level(state, "100200", True) == [3]
    assert position(state, "maker") == 0


def test_fees_are_exact_and_rounded_up():
    state = ready_state()
    place(state, "maker", False, btc("0.0001"), "100000.1")
    events = place(state, "taker", True, btc("0.0001"), "100000.1", IOC)
    # notional = 10_000 * 100_000_100_000 // 10**8 = 10_000_010
    # taker fee = ceil(10_000_010 * 5e14 / 1e18) = ceil(5_000.005) = 5_001
    # maker fee = ceil(10_000_010 * 2e14 / 1e18) = ceil(2_000.002) = 2_001
    fill = of_kind(events, "Fill")[0]
    assert (fill["notional"], fill["taker_fee"], fill["maker_fee"]) == (10_000_010, 5_001, 2_001)
    assert balance(state, "taker") == 100_000_000_000 - 10_000_010 - 5_001 == 99_989_994_989
    assert balance(state, "maker") == 1_000_000_000_000 + 10_000_010 - 2_001 == 1_000_009_998_009
    assert state.fee_balance == 7_002


def test_price_time_priority_across_and_within_levels():
    state = ready_state()
    place(state, "maker", False, btc("1"), "100200")  # id 1: worse price
    place(state, "maker2", False, btc("0.5"), "100100")  # id 2: best price, first
    place(state, "maker", False, btc("0.5"), "100100")  # id 3: best price, second
    events = place(state, "taker", True, btc("1.2"), "100200", IOC)  # id 4
    # 0.5 * 100,100 = 50,050; 0.5 * 100,100 = 50,050; 0.2 * 100,200 = 20,040 USDC
    assert [(f["maker_order"], f["size"], f["notional"]) for f in of_kind(events, "Fill")] == [
        (2, 50_000_000, 50_050_000_000),
        (3, 50_000_000, 50_050_000_000),
        (1, 20_000_000, 20_040_000_000),
    ]
    assert state.markets[BTC_PERP].book.orders[1].size == 80_000_000
    assert position(state, "taker") == 120_000_000


def test_maker_that_can_no_longer_afford_its_order_is_cancelled_for_margin():
    state = ready_state()
    place(state, "maker2", False, btc("0.1"), "100000")  # id 1: affordable when placed
    apply(state, Withdraw(addr("maker2"), 0, "USDC", usd("999000")))  # no position: no check
    place(state, "maker", False, btc("0.1"), "100100")  # id 2
    events = place(state, "taker", True, btc("0.1"), "100100", IOC)  # id 3
    # maker2 after the fill: 1,000 + 10,000 - fee 2 = 10,998 USDC cash, short 0.1 worth -10,000,
    # value 998 USDC < IM ceil(10,000 * 10%) = 1,000 USDC: cancelled, not filled.
    assert kinds(events) == ["OrderCancelled", "Fill"]
    assert of_kind(events, "OrderCancelled")[0] == {
        "market": BTC_PERP,
        "order_id": 1,
        "account": acct("maker2"),
        "remaining": 10_000_000,
        "reason": "margin",
    }
    assert of_kind(events, "Fill")[0]["maker_order"] == 2
    assert position(state, "maker2") == 0
    assert balance(state, "maker2") == 1_000_000_000


def test_maker_left_exactly_at_initial_margin_is_filled():
    state = ready_state()
    place(state, "maker2", False, btc("0.1"), "100000")  # id 1
    apply(state, Withdraw(addr("maker2"), 0, "USDC", usd("998998")))  # 1,002 USDC left
    events = place(state, "taker", True, btc("0.1"), "100000", IOC)
    # value after = 1,002 + 10,000 - 2 - 10,000 = 1,000 USDC = IM: filled.
    assert kinds(events) == ["Fill"]
    assert balance(state, "maker2") == 1_002_000_000 + 10_000_000_000 - 2_000_000 == 11_000_000_000


# --- triggers ----------------------------------------------------------------------


def _trigger(state, role, kind, trigger, is_buy=None, size="0", limit=None):
    tx = PlaceTrigger(
        addr(role),
        0,
        BTC_PERP,
        kind,
        usd(trigger),
        is_buy,
        btc(size),
        usd(limit) if limit is not None else None,
    )
    return apply(state, tx)


def test_stop_market_buy_fires_when_mark_rises_through_it():
    state = ready_state()
    events = _trigger(state, "taker", TriggerKind.STOP_MARKET, "101000", True, "0.1")  # id 1
    assert of_kind(events, "TriggerPlaced")[0]["trigger_id"] == 1
    place(state, "maker", False, btc("0.1"), "101500")  # id 2
    events = report(state, "BTC", usd("101000"), T0 + 10)
    assert kinds(events)[-3:] == ["IndexUpdated", "TriggerFired", "Fill"]
    assert of_kind(events, "TriggerFired")[0] == {
        "market": BTC_PERP,
        "trigger_id": 1,
        "account": acct("taker"),
        "mark": 101_000_000_000,
    }
    fill = of_kind(events, "Fill")[0]
    # executes as market order id 3: 0.1 * 101,500 = 10,150 USDC
    assert (fill["taker_order"], fill["maker_order"], fill["notional"]) == (3, 2, 10_150_000_000)
    assert position(state, "taker") == 10_000_000
    assert not state.markets[BTC_PERP].triggers


def test_stop_limit_sell_fires_when_mark_falls_and_rests_its_limit():
    state = ready_state()
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "99000", False, "0.1", "98900")  # id 1
    events = report(state, "BTC", usd("99000"), T0 + 10)
    assert kinds(events)[-3:] == ["IndexUpdated", "TriggerFired", "OrderPlaced"]
    placed = of_kind(events, "OrderPlaced")[0]
    assert (placed["order_id"], placed["price"], placed["size"]) == (2, 98_900_000_000, 10_000_000)


def test_trigger_on_the_wrong_side_of_the_mark_refused():
    state = ready_state()
    buy_below = PlaceTrigger(
        addr("taker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("99000"), True, btc("0.1")
    )
    refused(state, buy_below, InvalidTrigger)
    at_mark = PlaceTrigger(
        addr("taker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("100000"), False, btc("0.1")
    )
    refused(state, at_mark, InvalidTrigger)
    no_side = PlaceTrigger(
        addr("taker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("101000"), None, btc("0.1")
    )
    refused(state, no_side, Malformed)
    no_position = PlaceTrigger(addr("taker"), 0, BTC_PERP, TriggerKind.TAKE_PROFIT, usd("101000"))
    refused(state, no_position, InvalidTrigger)


def test_take_profit_and_stop_loss_close_the_position():
    state = ready_state()
    _taker_long(state, "0.1")  # ids 1, 2: long 0.1 BTC
    _trigger(state, "taker", TriggerKind.TAKE_PROFIT, "102000", size="0.05")  # id 3: fires above
    _trigger(state, "taker", TriggerKind.STOP_LOSS, "98000")  # id 4: fires below, whole position
    _trigger(state, "taker", TriggerKind.TAKE_PROFIT, "103000")  # id 5
    assert {t.id: (t.fires_above, t.is_buy) for t in state.markets[BTC_PERP].triggers.values()} == {
        3: (True, False),
        4: (False, False),
        5: (True, False),
    }
    place(state, "maker2", True, btc("0.05"), "101900")  # id 6
    events = report(state, "BTC", usd("102000"), T0 + 10)
    assert [e["trigger_id"] for e in of_kind(events, "TriggerFired")] == [3]
    assert [(f["maker_order"], f["size"]) for f in of_kind(events, "Fill")] == [(6, 5_000_000)]
    assert position(state, "taker") == 5_000_000
    place(state, "maker2", True, btc("0.05"), "98000")  # id 8 (id 7 was the take-profit's order)
    events = report(state, "BTC", usd("98000"), T0 + 20)
    assert [e["trigger_id"] for e in of_kind(events, "TriggerFired")] == [4]
    assert [(f["maker_order"], f["size"]) for f in of_kind(events, "Fill")] == [(8, 5_000_000)]
    assert position(state, "taker") == 0
    events = report(state, "BTC", usd("103000"), T0 + 30)
    assert of_kind(events, "TriggerFailed") == [{"market": BTC_PERP, "trigger_id": 5, "reason": "NoPosition"}]
    assert not state.markets[BTC_PERP].triggers


def test_triggers_firing_above_fire_in_ascending_price_then_id():
    state = ready_state()
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "100500", True, "0.1", "100000")  # id 1
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "100300", True, "0.1", "100000")  # id 2
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "100300", True, "0.1", "100000")  # id 3
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "101500", True, "0.1", "100000")  # id 4: not crossed
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "99000", False, "0.1", "99000")  # id 5: fires below
    events = report(state, "BTC", usd("101000"), T0 + 10)
    assert [e["trigger_id"] for e in of_kind(events, "TriggerFired")] == [2, 3, 1]
    assert [e["order_id"] for e in of_kind(events, "OrderPlaced")] == [6, 7, 8]
    assert sorted(state.markets[BTC_PERP].triggers) == [4, 5]


def test_triggers_firing_below_fire_in_descending_price_then_id():
    state = ready_state()
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "99500", False, "0.1", "99000")  # id 1
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "99700", False, "0.1", "99000")  # id 2
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "99500", False, "0.1", "99000")  # id 3
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "98000", False, "0.1", "99000")  # id 4: not crossed
    events = report(state, "BTC", usd("99000"), T0 + 10)
    assert [e["trigger_id"] for e in of_kind(events, "TriggerFired")] == [2, 1, 3]
    assert sorted(state.markets[BTC_PERP].triggers) == [4]


def test_fired_trigger_that_cannot_execute_is_dropped():
    state = ready_state()
    # A stop-limit whose limit is outside the band when it fires: mark 101,000, band [95,950, 106,050].
    _trigger(state, "taker", TriggerKind.STOP_LIMIT, "100500", True, "0.1", "95000")  # id 1
    events = report(state, "BTC", usd("101000"), T0 + 10)
    assert of_kind(events, "TriggerFailed") == [{"market": BTC_PERP, "trigger_id": 1, "reason": "PriceBand"}]
    assert "TriggerFired" not in kinds(events)
    assert not state.markets[BTC_PERP].triggers


def test_cancel_trigger_removes_it_and_refuses_foreign_ids():
    state = ready_state()
    _trigger(state, "taker", TriggerKind.STOP_MARKET, "101000", True, "0.1")  # id 1
    refused(state, CancelTrigger(addr("maker"), 0, BTC_PERP, 1), UnknownOrder)
    events = apply(state, CancelTrigger(addr("taker"), 0, BTC_PERP, 1))
    assert [e.to_json() for e in events] == [
        {"event": "TriggerCancelled", "market": BTC_PERP, "trigger_id": 1, "reason": "user"}
    ]
    market = state.markets[BTC_PERP]
    assert not market.triggers and not market.triggers_above
