"""
Orders the state machine executes over time or in bulk: TWAP and scale orders.

Introduction
------------
A **TWAP** (``PlaceTwap``) is kept in the state and executed by the clock:
at each block time at or after its ``next_time`` the engine sends one slice,
an IOC market order of ``remaining / slices_left`` (rounded down to the lot;
the last slice takes the rest) bounded by the TWAP's ``worst_price``. A slice
the core refuses (margin, no liquidity, a stale oracle, a paused market) is
reported (``TwapSliceFailed`` with its error) and the TWAP goes on; its size
is not retried. Slices are sent in TWAP id order. ``CancelTwap`` stops one;
a dead-man's switch stops all of an account's. Because the slices are
executed by ``apply``, they are in the log, the state root and every replay
like any other order: nobody has to trust the node to have sent them.

A **scale** order (``PlaceScale``) places ``count`` limit orders of equal size
(the lot remainder on the first) at prices spread evenly from ``low_price``
to ``high_price`` and rounded to the tick (down for bids, up for asks, so no
child is more aggressive than asked). It is all or nothing: the engine
places the children on a shadow of the state first and only then on the
state itself (``engine.process_place_scale``).
"""

from solvent.core.errors import AmountTooLarge, InvalidAmount, Malformed, UnknownOrder
from solvent.core.events import Event, event
from solvent.core.instruments import check_tradable
from solvent.core.orders import check_size, get_account, get_market
from solvent.core.state import State, TimeInForce, Twap
from solvent.core.tx import CancelTwap, PlaceOrder, PlaceScale, PlaceTwap
from solvent.core.units import MAX_AMOUNT, AccountKey, format_account

MAX_SLICES = 1_000
MAX_TWAP_S = 7 * 86_400
MAX_SCALE_ORDERS = 50


def process_place_twap(state: State, tx: PlaceTwap) -> list[Event]:
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    get_account(state, key)
    market = get_market(state, tx.market)
    check_tradable(state, market)
    check_size(market, tx.size)
    if not 1 <= tx.slices <= MAX_SLICES:
        raise InvalidAmount(f"slices must be 1 to {MAX_SLICES}, was {tx.slices}")
    if not tx.slices <= tx.duration_s <= MAX_TWAP_S:
        raise InvalidAmount(
            f"duration_s must be at least one second per slice and at most {MAX_TWAP_S}, was {tx.duration_s}"
        )
    if tx.size // tx.slices < market.lot:
        raise InvalidAmount(f"each of {tx.slices} slices would be under one lot ({market.lot}); use fewer")
    if tx.worst_price is not None and not 0 < tx.worst_price <= MAX_AMOUNT:
        raise InvalidAmount("worst_price must be a positive price")
    # APPLY
    twap = Twap(
        state.next_twap_id,
        key,
        tx.market,
        tx.is_buy,
        tx.size,
        tx.slices,
        tx.duration_s // tx.slices,
        state.time,
        tx.worst_price,
        tx.reduce_only,
    )
    state.twaps[twap.id] = twap
    state.next_twap_id += 1
    return [
        event(
            "TwapPlaced",
            twap_id=twap.id,
            account=format_account(key),
            market=tx.market,
            size=tx.size,
            slices=tx.slices,
            interval_s=twap.interval_s,
        )
    ]


def process_cancel_twap(state: State, tx: CancelTwap) -> list[Event]:
    key = (tx.owner, tx.subaccount)
    twap = state.twaps.get(tx.twap_id)
    if twap is None or twap.account != key:
        raise UnknownOrder(f"{format_account(key)} has no TWAP {tx.twap_id}; it may have finished")
    del state.twaps[tx.twap_id]
    return [event("TwapCancelled", twap_id=tx.twap_id, account=format_account(key), reason="user")]


def cancel_twaps_of(state: State, key: AccountKey, reason: str, events: list[Event]) -> None:
    for twap_id in sorted(t.id for t in state.twaps.values() if t.account == key):
        del state.twaps[twap_id]
        events.append(event("TwapCancelled", twap_id=twap_id, account=format_account(key), reason=reason))


def due_slices(state: State) -> list[tuple[Twap, PlaceOrder]]:
    """Return the slice each due TWAP sends now, in TWAP id order (the state is not changed)."""
    out = []
    for twap_id in sorted(state.twaps):
        twap = state.twaps[twap_id]
        if twap.next_time > state.time:
            continue
        market = state.markets[twap.market]
        if twap.slices_left == 1:
            size = twap.remaining
        else:
            size = twap.remaining // twap.slices_left
            size -= size % market.lot
        owner, sub = twap.account
        order = PlaceOrder(
            owner,
            sub,
            twap.market,
            twap.is_buy,
            size,
            None,
            TimeInForce.IOC,
            twap.reduce_only,
            None,
            twap.worst_price,
        )
        out.append((twap, order))
    return out


def advance_twap(state: State, twap: Twap, sent: int, events: list[Event]) -> None:
    """Book a slice as sent (filled or not) and schedule the next, or finish the TWAP."""
    twap.remaining -= sent
    twap.slices_left -= 1
    twap.next_time = state.time + twap.interval_s
    if twap.slices_left == 0 or twap.remaining <= 0:
        del state.twaps[twap.id]
        events.append(event("TwapFinished", twap_id=twap.id, account=format_account(twap.account)))


def scale_children(state: State, tx: PlaceScale) -> list[PlaceOrder]:
    """Validate a scale order and return its child orders."""
    market = get_market(state, tx.market)
    if not 2 <= tx.count <= MAX_SCALE_ORDERS:
        raise InvalidAmount(f"count must be 2 to {MAX_SCALE_ORDERS}, was {tx.count}")
    if not 0 < tx.low_price < tx.high_price:
        raise InvalidAmount("give 0 < low_price < high_price")
    if max(tx.size, tx.high_price) > MAX_AMOUNT:
        raise AmountTooLarge(f"size and prices are at most {MAX_AMOUNT}")
    check_size(market, tx.size)
    each = tx.size // tx.count
    each -= each % market.lot
    if each <= 0:
        raise InvalidAmount(f"{tx.count} orders of {tx.size} would be under one lot ({market.lot}) each")
    first = tx.size - each * (tx.count - 1)
    tick = market.tick
    children = []
    for i in range(tx.count):
        raw = tx.low_price + (tx.high_price - tx.low_price) * i // (tx.count - 1)
        price = raw - raw % tick if tx.is_buy else -(-raw // tick) * tick
        if price <= 0:
            raise Malformed(f"child {i} would have no price after rounding to the tick {tick}")
        size = first if i == 0 else each
        children.append(
            PlaceOrder(
                tx.owner, tx.subaccount, tx.market, tx.is_buy, size, price, TimeInForce.GTC, tx.reduce_only
            )
        )
    return children
