"""
Order handlers: place, cancel, modify, cancel-all and trigger orders.

Introduction
------------
``execute_order`` is the one path by which any order (user, modified or
fired trigger) reaches the book. It validates everything first (# VALIDATE),
plans the match without mutating (``matching.plan_match``) and only then
applies (# APPLY), so a refusal leaves the state untouched.

Rules a trader sees:

- limit prices must be multiples of the tick and within ``price_band`` of the
  mark (``PriceBand``); a market order fills no further than its
  ``worst_price`` and never past the band edge;
- sizes are multiples of the lot; notional >= ``min_notional`` except for a
  reduce-only order closing the whole position;
- an order that adds risk must leave the account at or above its initial
  requirement if it filled completely at its limit price, taker fee included
  (``InsufficientMargin``); open orders do not reserve margin, but every
  fill re-checks the maker (see ``matching``);
- in a halted market (stale oracle: ``OracleStale``; held index jump:
  ``MarketPaused``; a reduce-only breaker: ``MarketReduceOnly``) only orders
  that reduce the position are accepted, and nothing rests;
- an order that opens new size is refused (``OICapExceeded``) when the
  market's open interest plus that size would pass ``oi_cap``, or the
  domain's open notional would pass ``oi_cap_notional``;
- reduce-only orders are clipped to the position;
- GTC and post-only remainders rest; IOC and market remainders are cancelled;
  FOK fills completely or is refused;
- modify keeps time priority only when the price is unchanged and the size
  shrinks; otherwise the order is replaced (same id) at the back of its level.

Trigger orders fire on the mark price after each index update, in this order:
when the mark rose, triggers that fire above in ascending trigger price;
when it fell, triggers that fire below in descending trigger price (the
order in which a continuous path would have crossed them); ties by id.
A fired trigger that cannot execute is dropped with ``TriggerFailed``.
"""

from solvent.core.book import best_price, insert_order, open_order_count, remove_order
from solvent.core.breakers import reduce_only_reason
from solvent.core.errors import (
    AmountTooLarge,
    BelowMinSize,
    DuplicateClientId,
    FillOrKillNotFilled,
    InsufficientMargin,
    InvalidAmount,
    InvalidTrigger,
    Malformed,
    MarketPaused,
    MarketReduceOnly,
    NoIndexPrice,
    OffLot,
    OffTick,
    OICapExceeded,
    OracleStale,
    PostOnlyWouldCross,
    PriceBand,
    ProtocolError,
    ReduceOnlyWouldIncrease,
    TooManyOrders,
    UnknownAccount,
    UnknownMarket,
    UnknownOrder,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.instruments import check_tradable, has_expired
from solvent.core.margin import bucket_risk, increases_risk
from solvent.core.matching import apply_plan, fee_up, order_cancelled, plan_match
from solvent.core.oracle import is_stale
from solvent.core.state import Account, Market, Order, State, TimeInForce, Trigger, TriggerKind
from solvent.core.tx import (
    CancelAll,
    CancelOrder,
    CancelTrigger,
    ModifyOrder,
    PlaceOrder,
    PlaceTrigger,
    ReplaceOrder,
    ScheduleCancel,
)
from solvent.core.units import MAX_AMOUNT, SIZE_ONE, AccountKey, format_account
from solvent.core.vol_oracle import is_vol_stale

_RESTING = (TimeInForce.GTC, TimeInForce.POST_ONLY)


def get_market(state: State, market_id: str) -> Market:
    market = state.markets.get(market_id)
    if market is None:
        raise UnknownMarket(f"no market {market_id!r}; list markets with the API or the docs")
    return market


def get_account(state: State, key: AccountKey) -> Account:
    account = state.accounts.get(key)
    if account is None:
        raise UnknownAccount(f"no subaccount {format_account(key)}; deposit collateral first")
    return account


def check_size(market: Market, size: int) -> None:
    if size <= 0:
        raise InvalidAmount(f"size must be positive, was {size}")
    if size > MAX_AMOUNT:
        raise AmountTooLarge(f"size exceeds {MAX_AMOUNT} atoms")
    if size % market.lot:
        raise OffLot(f"size {size} is not a multiple of the lot {market.lot} in {market.id}")


def check_price(market: Market, price: int) -> None:
    if price <= 0:
        raise InvalidAmount(f"price must be positive, was {price}")
    if price > MAX_AMOUNT:
        raise AmountTooLarge(f"price exceeds {MAX_AMOUNT}")
    if price % market.tick:
        raise OffTick(f"price {price} is not a multiple of the tick {market.tick} in {market.id}")


def check_client_id(client_id: int | None) -> None:
    if client_id is None:
        return
    if client_id < 0:
        raise InvalidAmount(f"client_id must not be negative, was {client_id}")
    if client_id > MAX_AMOUNT:
        raise AmountTooLarge(f"client_id exceeds {MAX_AMOUNT}")


def band_edges(market: Market) -> tuple[int, int]:
    """Return the lowest and highest price an order may carry: mark * (1 ± price_band).

    An option's band is measured on its underlying instead, mark ± price_band *
    underlying_price (never below 1), since a premium far out of the money is a
    tiny fraction of the risk it carries.
    """
    mark = market.mark_price
    if market.underlying_price:
        width = (market.underlying_price * market.price_band) // ONE
        return max(1, mark - width), mark + width
    lo = -((-mark * (ONE - market.price_band)) // ONE)
    hi = (mark * (ONE + market.price_band)) // ONE
    return lo, hi


def check_halt(state: State, market: Market) -> ProtocolError | None:
    """Return the error that refuses new risk in this market now, or None."""
    feed = state.feeds[market.asset]
    if is_stale(state, feed):
        return OracleStale(
            f"{market.id}: the {market.asset} index has no fresh quorum; "
            "only orders that reduce your position are accepted until it returns"
        )
    expiry = market.expiry
    if expiry is not None and expiry.vol_feed and is_vol_stale(state, state.vol_feeds[expiry.vol_feed]):
        return OracleStale(
            f"{market.id}: the volatility feed {expiry.vol_feed} has no fresh quorum; "
            "only orders that reduce your position are accepted until it returns"
        )
    if feed.band_tripped:
        return MarketPaused(
            f"{market.id}: an index jump is awaiting confirmation; "
            "only orders that reduce your position are accepted"
        )
    breaker = reduce_only_reason(market)
    if breaker is not None:
        return MarketReduceOnly(
            f"{market.id} is reduce-only ({breaker} breaker); only orders that reduce your position "
            "are accepted until it clears"
        )
    return None


def check_open_interest(state: State, market: Market, opening: int) -> None:
    """Refuse an order that would open ``opening`` size atoms past the market's or domain's cap.

    Counted as if every unit opened on both sides (conservative): the taker's
    opening size is added to the open interest of each side.
    """
    if opening <= 0:
        return
    if market.oi_cap and market.open_interest + opening > market.oi_cap:
        raise OICapExceeded(
            f"{market.id} open interest {market.open_interest} + {opening} would pass the cap "
            f"{market.oi_cap} size atoms per side; reduce the size"
        )
    domain = state.domains[market.domain]
    if domain.oi_cap_notional:
        total = sum(
            (m.open_interest * m.mark_price) // SIZE_ONE
            for m in state.markets.values()
            if m.domain == market.domain
        )
        added = (opening * market.mark_price) // SIZE_ONE
        if total + added > domain.oi_cap_notional:
            raise OICapExceeded(
                f"domain {market.domain} open interest {total} + {added} would pass its cap "
                f"{domain.oi_cap_notional} quote atoms; reduce the size"
            )


def execute_order(
    state: State,
    market: Market,
    key: AccountKey,
    is_buy: bool,
    size: int,
    price: int | None,
    tif: TimeInForce,
    reduce_only: bool,
    client_id: int | None,
    worst_price: int | None,
    events: list[Event],
    replace: Order | None = None,
) -> int:
    """Validate, match and rest one order; return its id. Raises before any change."""
    # VALIDATE
    account = get_account(state, key)
    check_tradable(state, market)
    check_size(market, size)
    check_client_id(client_id)
    if market.mark_price == 0:
        raise NoIndexPrice(f"{market.id} has no index price yet; wait for the first reports")
    lo, hi = band_edges(market)
    band_limited = False
    if price is not None:
        check_price(market, price)
        if not lo <= price <= hi:
            raise PriceBand(
                f"price {price} is outside the band [{lo}, {hi}] around the mark "
                f"{market.mark_price}; use a price nearer the mark"
            )
        limit = price
    else:
        if tif in _RESTING:
            raise Malformed("a market order cannot rest: use IOC or FOK, or give a price")
        if worst_price is not None:
            check_price(market, worst_price)
        limit = hi if is_buy else lo
        band_limited = True
        if worst_price is not None and (worst_price < hi if is_buy else worst_price > lo):
            limit = worst_price
            band_limited = False
    pos = account.positions.get(market.id)
    old = pos.size if pos is not None else 0
    sign = 1 if is_buy else -1
    if reduce_only:
        if old == 0 or (old > 0) == is_buy:
            raise ReduceOnlyWouldIncrease(
                f"{market.id}: a reduce-only {'buy' if is_buy else 'sell'} needs an open "
                f"{'short' if is_buy else 'long'} position"
            )
        size = min(size, abs(old))
    notional_at_limit = (size * limit) // SIZE_ONE
    closes_all = reduce_only and size == abs(old)
    if notional_at_limit < market.min_notional and not closes_all:
        raise BelowMinSize(f"order notional {notional_at_limit} is below the minimum {market.min_notional}")
    new_full = old + sign * size
    adds_risk = increases_risk(old, new_full)
    halted = check_halt(state, market)
    if adds_risk and halted is not None:
        raise halted
    if adds_risk:
        fee = fee_up(notional_at_limit, max(market.taker_fee, market.maker_fee))
        risk = bucket_risk(state, account, market.id, new_full, -sign * notional_at_limit - fee)
        if not risk.meets_initial:
            raise InsufficientMargin(
                f"filling this order would need initial margin {risk.im} but the account "
                f"would have {risk.value_init}; reduce the size or add collateral"
            )
        opening = abs(new_full) if (old > 0) != (new_full > 0) else abs(new_full) - abs(old)
        check_open_interest(state, market, opening)
    book = market.book
    may_rest = tif in _RESTING and halted is None
    if may_rest:
        if (
            client_id is not None
            and (key, client_id) in book.by_client_id
            and (replace is None or replace.client_id != client_id)
        ):
            raise DuplicateClientId(f"an open order already has client id {client_id}")
        if replace is None and open_order_count(book, key) >= market.max_orders_per_account:
            raise TooManyOrders(
                f"{market.max_orders_per_account} open orders in {market.id} is the limit; cancel some first"
            )
    if tif is TimeInForce.POST_ONLY:
        best = best_price(book, not is_buy)
        if best is not None and (best <= limit if is_buy else best >= limit):
            raise PostOnlyWouldCross(
                f"a post-only order at {limit} would trade against the best price {best}"
            )
        plan = None
    else:
        plan = plan_match(
            state,
            market,
            key,
            is_buy,
            size,
            limit,
            halted is not None,
            replace.id if replace is not None else None,
        )
        if tif is TimeInForce.FOK and plan.filled < size:
            raise FillOrKillNotFilled(
                f"only {plan.filled} of {size} could be filled within the limit; nothing was traded"
            )
    # APPLY
    if replace is not None:
        remove_order(book, replace)
        order_id = replace.id
    else:
        order_id = state.next_order_id
        state.next_order_id += 1
    filled = 0
    stp = False
    if plan is not None and (plan.fills or plan.cancels):
        apply_plan(state, market, key, order_id, is_buy, plan, events)
        filled = plan.filled
        stp = plan.stp_taker
    remaining = size - filled
    if remaining == 0:
        return order_id
    if may_rest and not stp and price is not None:
        order = Order(order_id, key, market.id, is_buy, price, remaining, reduce_only, client_id)
        insert_order(book, order)
        events.append(
            event(
                "OrderPlaced",
                market=market.id,
                order_id=order_id,
                account=format_account(key),
                is_buy=is_buy,
                price=price,
                size=remaining,
                client_id=client_id,
            )
        )
        return order_id
    if stp:
        reason = "self_trade"
        events.append(event("SelfTradePrevented", market=market.id, resting=None, taker=order_id))
    elif halted is not None:
        reason = "halted"
    elif band_limited:
        reason = "price_band"
    else:
        reason = "unfilled"
    events.append(order_cancelled(market.id, order_id, key, remaining, reason))
    return order_id


def process_place_order(state: State, tx: PlaceOrder) -> list[Event]:
    market = get_market(state, tx.market)
    events: list[Event] = []
    execute_order(
        state,
        market,
        (tx.owner, tx.subaccount),
        tx.is_buy,
        tx.size,
        tx.price,
        tx.tif,
        tx.reduce_only,
        tx.client_id,
        tx.worst_price,
        events,
    )
    return events


def _find_order(market: Market, key: AccountKey, order_id: int | None, client_id: int | None) -> Order:
    book = market.book
    if order_id is None and client_id is not None:
        order_id = book.by_client_id.get((key, client_id))
    if order_id is None and client_id is None:
        raise Malformed("give order_id or client_id")
    order = book.orders.get(order_id) if order_id is not None else None
    if order is None or order.account != key:
        raise UnknownOrder(
            f"{format_account(key)} has no open order {order_id if order_id else client_id} "
            f"in {market.id}; it may have filled or been cancelled"
        )
    return order


def _cancelled(order: Order, reason: str) -> Event:
    return order_cancelled(order.market, order.id, order.account, order.size, reason)


def process_cancel_order(state: State, tx: CancelOrder) -> list[Event]:
    market = get_market(state, tx.market)
    order = _find_order(market, (tx.owner, tx.subaccount), tx.order_id, tx.client_id)
    remove_order(market.book, order)
    return [_cancelled(order, "user")]


def process_cancel_all(state: State, tx: CancelAll) -> list[Event]:
    key = (tx.owner, tx.subaccount)
    get_account(state, key)
    if tx.market is not None:
        markets = [get_market(state, tx.market)]
    else:
        markets = [state.markets[m] for m in sorted(state.markets)]
    events: list[Event] = []
    for market in markets:
        _cancel_everything(market, key, "user", events)
    return events


MAX_DEAD_MAN_S = 86_400  # a dead-man's switch is armed for at most a day ahead


def process_schedule_cancel(state: State, tx: ScheduleCancel) -> list[Event]:
    """Arm, re-arm (a later time) or disarm (``at = 0``) the subaccount's dead-man's switch."""
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    get_account(state, key)
    if tx.at != 0 and not state.time < tx.at <= state.time + MAX_DEAD_MAN_S:
        raise InvalidAmount(
            f"at must be after the block time {state.time} and at most {MAX_DEAD_MAN_S} s later, "
            f"or 0 to disarm; was {tx.at}"
        )
    # APPLY
    if tx.at == 0:
        state.scheduled_cancels.pop(key, None)
    else:
        state.scheduled_cancels[key] = tx.at
    return [event("CancelScheduled", account=format_account(key), at=tx.at)]


def fire_scheduled_cancels(state: State, events: list[Event]) -> list[AccountKey]:
    """Cancel the orders and triggers of every subaccount whose switch time has come; return
    those subaccounts (the engine stops their TWAPs too)."""
    due = sorted(key for key, at in state.scheduled_cancels.items() if at <= state.time)
    for key in due:
        del state.scheduled_cancels[key]
        events.append(event("DeadManFired", account=format_account(key), at=state.time))
        for market_id in sorted(state.markets):
            _cancel_everything(state.markets[market_id], key, "dead-man", events)
    return due


def _cancel_everything(market: Market, key: AccountKey, reason: str, events: list[Event]) -> None:
    book = market.book
    for order_id in sorted(book.by_account.get(key, ())):
        order = book.orders[order_id]
        remove_order(book, order)
        events.append(_cancelled(order, reason))
    for trigger_id in sorted(t.id for t in market.triggers.values() if t.account == key):
        _remove_trigger(market, market.triggers[trigger_id])
        events.append(event("TriggerCancelled", market=market.id, trigger_id=trigger_id, reason=reason))


def process_replace_order(state: State, tx: ReplaceOrder) -> list[Event]:
    """``ModifyOrder`` of the open order with this client id (atomic: all or nothing)."""
    market = get_market(state, tx.market)
    order = _find_order(market, (tx.owner, tx.subaccount), None, tx.client_id)
    return process_modify_order(
        state, ModifyOrder(tx.owner, tx.subaccount, tx.market, order.id, tx.price, tx.size)
    )


def process_modify_order(state: State, tx: ModifyOrder) -> list[Event]:
    market = get_market(state, tx.market)
    key = (tx.owner, tx.subaccount)
    order = _find_order(market, key, tx.order_id, None)
    check_tradable(state, market)
    check_size(market, tx.size)
    check_price(market, tx.price)
    if tx.price == order.price and tx.size <= order.size:
        if (tx.size * tx.price) // SIZE_ONE < market.min_notional and not order.reduce_only:
            raise BelowMinSize(f"order notional would be below the minimum {market.min_notional}")
        order.size = tx.size
        return [
            event(
                "OrderModified",
                market=market.id,
                order_id=order.id,
                price=tx.price,
                size=tx.size,
                kept_priority=True,
            )
        ]
    events: list[Event] = [
        event(
            "OrderModified",
            market=market.id,
            order_id=order.id,
            price=tx.price,
            size=tx.size,
            kept_priority=False,
        )
    ]
    execute_order(
        state,
        market,
        key,
        order.is_buy,
        tx.size,
        tx.price,
        TimeInForce.GTC,
        order.reduce_only,
        order.client_id,
        None,
        events,
        replace=order,
    )
    return events


# --- triggers --------------------------------------------------------------------


def remove_all_triggers(market: Market, events: list[Event]) -> None:
    """Cancel every trigger of a market that has expired."""
    for trigger_id in sorted(market.triggers):
        _remove_trigger(market, market.triggers[trigger_id])
        events.append(event("TriggerCancelled", market=market.id, trigger_id=trigger_id, reason="expired"))


def _remove_trigger(market: Market, trigger: Trigger) -> None:
    del market.triggers[trigger.id]
    if trigger.fires_above:
        market.triggers_above.remove((trigger.trigger_price, trigger.id))
    else:
        market.triggers_below.remove((-trigger.trigger_price, trigger.id))


def process_place_trigger(state: State, tx: PlaceTrigger) -> list[Event]:
    # VALIDATE
    market = get_market(state, tx.market)
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    check_tradable(state, market)
    check_price(market, tx.trigger_price)
    check_client_id(tx.client_id)
    mark = market.mark_price
    if mark == 0:
        raise NoIndexPrice(f"{market.id} has no mark price yet")
    kind = tx.kind
    limit_price = 0
    if kind in (TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT):
        if tx.is_buy is None:
            raise Malformed("a stop order needs is_buy")
        is_buy = tx.is_buy
        check_size(market, tx.size)
        fires_above = is_buy  # a buy stop fires on a rise, a sell stop on a fall
        reduce_only = tx.reduce_only
        if kind is TriggerKind.STOP_LIMIT:
            if tx.limit_price is None:
                raise Malformed("a stop-limit order needs limit_price")
            check_price(market, tx.limit_price)
            limit_price = tx.limit_price
        elif tx.limit_price is not None:
            raise Malformed("only a stop-limit order takes limit_price")
    else:
        pos = account.positions.get(market.id)
        if pos is None or pos.size == 0:
            raise InvalidTrigger(f"no position in {market.id} to attach a take-profit or stop-loss to")
        is_buy = pos.size < 0
        if tx.is_buy is not None and tx.is_buy != is_buy:
            raise InvalidTrigger("a take-profit or stop-loss must close the position")
        if tx.size:
            check_size(market, tx.size)
        if tx.limit_price is not None:
            raise Malformed("only a stop-limit order takes limit_price")
        long = pos.size > 0
        fires_above = long if kind is TriggerKind.TAKE_PROFIT else not long
        reduce_only = True
    if fires_above and tx.trigger_price <= mark:
        raise InvalidTrigger(f"trigger {tx.trigger_price} must be above the mark {mark}")
    if not fires_above and tx.trigger_price >= mark:
        raise InvalidTrigger(f"trigger {tx.trigger_price} must be below the mark {mark}")
    count = open_order_count(market.book, key) + sum(1 for t in market.triggers.values() if t.account == key)
    if count >= market.max_orders_per_account:
        raise TooManyOrders(f"{market.max_orders_per_account} orders in {market.id} is the limit")
    # APPLY
    trigger_id = state.next_order_id
    state.next_order_id += 1
    trigger = Trigger(
        trigger_id,
        key,
        market.id,
        kind,
        is_buy,
        tx.trigger_price,
        fires_above,
        tx.size,
        limit_price,
        reduce_only,
        tx.client_id,
    )
    market.triggers[trigger_id] = trigger
    if fires_above:
        market.triggers_above.add((tx.trigger_price, trigger_id))
    else:
        market.triggers_below.add((-tx.trigger_price, trigger_id))
    return [
        event(
            "TriggerPlaced",
            market=market.id,
            trigger_id=trigger_id,
            account=format_account(key),
            trigger_kind=kind.value,
            is_buy=is_buy,
            trigger_price=tx.trigger_price,
            size=tx.size,
        )
    ]


def process_cancel_trigger(state: State, tx: CancelTrigger) -> list[Event]:
    market = get_market(state, tx.market)
    trigger = market.triggers.get(tx.trigger_id)
    if trigger is None or trigger.account != (tx.owner, tx.subaccount):
        raise UnknownOrder(f"no trigger {tx.trigger_id} of this subaccount in {market.id}")
    _remove_trigger(market, trigger)
    return [event("TriggerCancelled", market=market.id, trigger_id=trigger.id, reason="user")]


def fire_triggers(state: State, market: Market, events: list[Event]) -> None:
    """Fire every trigger the current mark has crossed, in the documented order."""
    if has_expired(state, market):
        return  # trading has stopped; Settle cancels the triggers
    mark = market.mark_price
    fired: list[Trigger] = []
    above = market.triggers_above
    if above and above[0][0] <= mark:
        fired += [market.triggers[tid] for _, tid in above.irange(maximum=(mark, 2**256))]
    below = market.triggers_below
    if below and -below[0][0] >= mark:
        fired += [market.triggers[tid] for _, tid in below.irange(maximum=(-mark, 2**256))]
    for trigger in fired:
        _remove_trigger(market, trigger)
        _execute_trigger(state, market, trigger, events)


def _execute_trigger(state: State, market: Market, trigger: Trigger, events: list[Event]) -> None:
    size = trigger.size
    account = state.accounts.get(trigger.account)
    if trigger.kind in (TriggerKind.TAKE_PROFIT, TriggerKind.STOP_LOSS):
        pos = account.positions.get(market.id) if account is not None else None
        if pos is None or pos.size == 0 or (pos.size < 0) != trigger.is_buy:
            events.append(
                event("TriggerFailed", market=market.id, trigger_id=trigger.id, reason="NoPosition")
            )
            return
        size = abs(pos.size) if size == 0 else min(size, abs(pos.size))
    attempt: list[Event] = [
        event(
            "TriggerFired",
            market=market.id,
            trigger_id=trigger.id,
            account=format_account(trigger.account),
            mark=market.mark_price,
        )
    ]
    try:
        if trigger.kind is TriggerKind.STOP_LIMIT:
            price: int | None = trigger.limit_price
            tif = TimeInForce.GTC
        else:
            price = None
            tif = TimeInForce.IOC
        execute_order(
            state,
            market,
            trigger.account,
            trigger.is_buy,
            size,
            price,
            tif,
            trigger.reduce_only,
            trigger.client_id,
            None,
            attempt,
        )
    except ProtocolError as error:
        # execute_order refuses before changing anything, so dropping the attempt is clean.
        events.append(event("TriggerFailed", market=market.id, trigger_id=trigger.id, reason=error.name))
        return
    events.extend(attempt)
