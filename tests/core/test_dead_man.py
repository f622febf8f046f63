"""
The node's conveniences in the core: the dead-man's switch (``ScheduleCancel``) and
cancel-and-replace by client id (``ReplaceOrder``).
"""

from tests.core.fixtures import T0, acct, addr, btc, kinds, of_kind, place, ready_state, refused

from solvent.core.engine import apply
from solvent.core.errors import InvalidAmount, PriceBand, UnknownAccount, UnknownOrder
from solvent.core.state import TriggerKind
from solvent.core.tx import PlaceTrigger, ReplaceOrder, ScheduleCancel, SetTime
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
