"""
Orders the state machine runs for a trader: the dead-man's switch (``ScheduleCancel``),
cancel-and-replace by client id (``ReplaceOrder``), TWAP orders executed slice by slice
by the clock (``PlaceTwap``) and scale orders placed all or nothing (``PlaceScale``).
"""

from tests.core.fixtures import T0, acct, addr, btc, kinds, of_kind, place, ready_state, refused

from solvent.core.engine import apply
from solvent.core.errors import InvalidAmount, PriceBand, UnknownAccount, UnknownOrder
from solvent.core.state import TriggerKind
from solvent.core.tx import (
    CancelTwap,
    PlaceScale,
    PlaceTrigger,
    PlaceTwap,
    ReplaceOrder,
    ScheduleCancel,
    SetTime,
)
from solvent.defaults import usd

MAKER = addr("maker")


def test_the_switch_cancels_everything_at_its_time_unless_renewed() -> None:
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "99000")
    place(state, "maker", False, btc("0.1"), "101000")
    apply(state, PlaceTrigger(MAKER, 0, "BTC-PERP", TriggerKind.STOP_MARKET, usd("98000"), False, btc("0.1")))
    assert kinds(apply(state, ScheduleCancel(MAKER, 0, T0 + 10))) == ["CancelScheduled"]
    apply(state, SetTime(T0 + 9))
    apply(state, ScheduleCancel(MAKER, 0, T0 + 20))  # renewed in time
    assert kinds(apply(state, SetTime(T0 + 15))) == []
    events = apply(state, SetTime(T0 + 20))
    assert kinds(events) == ["DeadManFired", "OrderCancelled", "OrderCancelled", "TriggerCancelled"]
    assert {e["reason"] for e in of_kind(events, "OrderCancelled")} == {"dead-man"}
    assert of_kind(events, "DeadManFired") == [{"account": acct("maker"), "at": T0 + 20}]
    assert not state.markets["BTC-PERP"].book.orders and not state.markets["BTC-PERP"].triggers
    assert state.scheduled_cancels == {}
    assert kinds(apply(state, SetTime(T0 + 40))) == []  # fired once


def test_the_switch_can_be_disarmed_and_bad_times_are_refused() -> None:
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "99000")
    apply(state, ScheduleCancel(MAKER, 0, T0 + 10))
    apply(state, ScheduleCancel(MAKER, 0, 0))
    apply(state, SetTime(T0 + 100))
    assert len(state.markets["BTC-PERP"].book.orders) == 1
    refused(state, ScheduleCancel(MAKER, 0, T0 + 100), InvalidAmount)  # not in the future
    refused(state, ScheduleCancel(MAKER, 0, T0 + 100 + 86_401), InvalidAmount)  # over a day ahead
    refused(state, ScheduleCancel(addr("nobody"), 0, T0 + 200), UnknownAccount)


def test_replace_by_client_id_is_atomic() -> None:
    state = ready_state()
    place(state, "maker", True, btc("0.1"), "99000", client_id=7)
    events = apply(state, ReplaceOrder(MAKER, 0, "BTC-PERP", 7, usd("99100"), btc("0.2")))
    assert kinds(events)[0] == "OrderModified"
    (order,) = state.markets["BTC-PERP"].book.orders.values()
    assert (order.price, order.size, order.client_id) == (usd("99100"), btc("0.2"), 7)
    refused(state, ReplaceOrder(MAKER, 0, "BTC-PERP", 8, usd("99100"), btc("0.2")), UnknownOrder)
    refused(state, ReplaceOrder(MAKER, 0, "BTC-PERP", 7, usd("90000"), btc("0.2")), PriceBand)
    assert state.markets["BTC-PERP"].book.orders[order.id].price == usd("99100")  # the old one stands


# --- TWAP -----------------------------------------------------------------------------


def test_a_twap_sends_equal_slices_on_the_clock() -> None:
    state = ready_state()
    place(state, "maker", False, btc("1"), "100100")  # liquidity for the slices
    taker = addr("taker")
    events = apply(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.3"), 30, 3, usd("100500")))
    (placed,) = of_kind(events, "TwapPlaced")
    assert (placed["slices"], placed["interval_s"]) == (3, 10)
    sent = []
    for t in (T0, T0 + 5, T0 + 10, T0 + 20, T0 + 30):
        events = apply(state, SetTime(t))
        sent.append(sum(int(f["size"]) for f in of_kind(events, "Fill")))  # type: ignore[call-overload]
    assert sent == [btc("0.1"), 0, btc("0.1"), btc("0.1"), 0]
    assert state.twaps == {}
    assert state.accounts[(taker, 0)].positions["BTC-PERP"].size == btc("0.3")


def test_an_unfilled_slice_is_reported_and_the_twap_goes_on() -> None:
    state = ready_state()
    taker = addr("taker")
    apply(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.2"), 30, 3))
    events = apply(state, SetTime(T0))  # an empty book: the slice's IOC finds nothing
    (unfilled,) = of_kind(events, "OrderCancelled")
    assert (unfilled["account"], unfilled["remaining"]) == (acct("taker"), btc("0.0666"))
    assert state.twaps[1].slices_left == 2 and state.twaps[1].remaining == btc("0.2") - btc("0.0666")


def test_a_refused_slice_is_reported_and_the_twap_goes_on() -> None:
    state = ready_state({"maker": "1000000", "poor": "10"})
    place(state, "maker", False, btc("1"), "100100")
    poor = addr("poor")
    apply(state, PlaceTwap(poor, 0, "BTC-PERP", True, btc("0.2"), 20, 2))
    events = apply(state, SetTime(T0))  # 10 USDC cannot margin 0.1 BTC
    (failed,) = of_kind(events, "TwapSliceFailed")
    assert (failed["account"], failed["error"], failed["code"]) == (acct("poor"), "InsufficientMargin", 3001)
    assert state.twaps[1].slices_left == 1


def test_twaps_are_cancelled_by_their_owner_or_the_dead_man() -> None:
    state = ready_state()
    taker = addr("taker")
    apply(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.2"), 20, 2))
    apply(state, PlaceTwap(taker, 0, "BTC-PERP", False, btc("0.2"), 20, 2))
    refused(state, CancelTwap(MAKER, 0, 1), UnknownOrder)
    assert kinds(apply(state, CancelTwap(taker, 0, 1))) == ["TwapCancelled"]
    apply(state, ScheduleCancel(taker, 0, T0 + 1))
    events = apply(state, SetTime(T0 + 1))
    assert "TwapCancelled" in kinds(events) and not state.twaps


def test_bad_twaps_are_refused() -> None:
    state = ready_state()
    taker = addr("taker")
    refused(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.2"), 20, 0), InvalidAmount)
    refused(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.2"), 1, 2), InvalidAmount)  # < 1 s a slice
    refused(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.2"), 8 * 86_400, 2), InvalidAmount)
    refused(state, PlaceTwap(taker, 0, "BTC-PERP", True, btc("0.0001"), 20, 2), InvalidAmount)  # under a lot
    refused(state, PlaceTwap(addr("nobody"), 0, "BTC-PERP", True, btc("0.2"), 20, 2), UnknownAccount)


# --- scale orders ---------------------------------------------------------------------------


def test_a_scale_order_spreads_equal_orders_over_its_range() -> None:
    state = ready_state()
    events = apply(state, PlaceScale(MAKER, 0, "BTC-PERP", True, btc("1"), usd("99000"), usd("99400"), 5))
    assert kinds(events) == ["ScalePlaced"] + ["OrderPlaced"] * 5
    orders = sorted(state.markets["BTC-PERP"].book.orders.values(), key=lambda o: o.price)
    assert [o.price for o in orders] == [usd(p) for p in ("99000", "99100", "99200", "99300", "99400")]
    assert {o.size for o in orders} == {btc("0.2")}


def test_a_scale_order_is_all_or_nothing() -> None:
    state = ready_state()
    refused(
        state, PlaceScale(MAKER, 0, "BTC-PERP", True, btc("1"), usd("99000"), usd("106000"), 5), PriceBand
    )
    refused(
        state, PlaceScale(MAKER, 0, "BTC-PERP", True, btc("1"), usd("99400"), usd("99000"), 5), InvalidAmount
    )
    refused(
        state, PlaceScale(MAKER, 0, "BTC-PERP", True, btc("1"), usd("99000"), usd("99400"), 1), InvalidAmount
    )
