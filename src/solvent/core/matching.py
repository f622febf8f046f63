"""
Matching: plan a taker order against the book and the pool, then apply it.

Introduction
------------
Atomicity without copying the state: ``plan_match`` reads the state and
returns a ``Plan`` (fills and resting orders to cancel) without changing
anything; any refusal is raised before ``apply_plan`` mutates. ``apply_plan``
cannot fail.

Routing, for each unit: the taker gets the better of the best book level and
the pool's marginal quote. Before each book level the pool fills the units
it quotes strictly better than that level; after the book (or at the
taker's limit) the pool fills up to the limit. Within a level: time
priority.

Maker protection: every fill that adds to a maker's risk is margin-checked
with all earlier fills of the plan; a resting order whose owner can no
longer afford it is cancelled (``OrderCancelled`` reason ``margin``), never
filled into insolvency. Self-trade prevention (same owner, any subaccount)
cancels the resting order or the taker, by the market's ``stp_mode``. In a
halted market (stale oracle, held jump) maker fills that add risk are
skipped, and the taker's remainder never rests.

Fees: taker pays ``taker_fee`` (rounded up); a maker pays ``maker_fee``
(rounded up) or, if negative, receives the rebate (rounded down). On pool
fills the pool earns ``lp_fee_share`` of the taker fee (rounded down) and
the protocol the rest.
"""

from dataclasses import dataclass, field

from solvent.core.book import remove_order
from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.funding import accrue, settle_position
from solvent.core.margin import bucket_risk, increases_risk, is_isolated
from solvent.core.pool import (
    inventory_limit,
    pool_equity,
    pool_for_market,
    quote_notional,
    quote_size,
)
from solvent.core.state import Account, Market, Order, Pool, Position, State, StpMode
from solvent.core.units import SIZE_ONE, AccountKey, format_account


@dataclass(slots=True)
class Fill:
    maker_order: Order | None  # None: the pool
    maker: AccountKey
    size: int
    notional: int  # quote atoms from buyer to seller
    maker_fee: int  # signed: > 0 paid by the maker, < 0 rebate
    taker_fee: int
    pool_fee: int  # part of taker_fee paid to the pool


@dataclass(slots=True)
class Plan:
    fills: list[Fill] = field(default_factory=list)
    cancels: list[tuple[Order, str]] = field(default_factory=list)
    filled: int = 0
    notional: int = 0
    stp_taker: bool = False  # the taker was stopped by self-trade prevention


def order_cancelled(market_id: str, order_id: int, account: AccountKey, remaining: int, reason: str) -> Event:
    """Return the event of an order leaving the book (or a taker's rest) unfilled."""
    return event(
        "OrderCancelled",
        market=market_id,
        order_id=order_id,
        account=format_account(account),
        remaining=remaining,
        reason=reason,
    )


def fill_event(market_id: str, taker: AccountKey, taker_order_id: int, is_buy: bool, fill: Fill) -> Event:
    """Return the event of one fill; a pool fill shows the pool's fee share as a negative maker fee."""
    return event(
        "Fill",
        market=market_id,
        taker=format_account(taker),
        maker=format_account(fill.maker),
        taker_order=taker_order_id,
        maker_order=fill.maker_order.id if fill.maker_order is not None else None,
        taker_is_buy=is_buy,
        size=fill.size,
        notional=fill.notional,
        taker_fee=fill.taker_fee,
        maker_fee=fill.maker_fee if fill.maker_order is not None else -fill.pool_fee,
    )


def fee_up(notional: int, rate: int) -> int:
    """Return a fee rounded against its payer: up when paid, down when a rebate."""
    return -((-notional * rate) // ONE) if rate >= 0 else -((notional * -rate) // ONE)


def _pool_may_fill(pool: Pool, mark: int, is_buy: bool, limit: int) -> bool:
    """Return whether the pool's best possible quote, at full skew, is within ``limit``.

    ask >= mark*(1 + s - k) and bid <= mark*(1 - s + k) whatever the inventory.
    """
    if is_buy:
        return limit * ONE >= mark * (ONE + pool.half_spread - pool.skew_factor)
    return limit * ONE <= mark * (ONE - pool.half_spread + pool.skew_factor)


def plan_match(
    state: State,
    market: Market,
    taker: AccountKey,
    is_buy: bool,
    size: int,
    limit: int,
    halted: bool,
    exclude_order: int | None = None,
    use_pool: bool = True,
    fees: bool = True,
    skip_account: AccountKey | None = None,
) -> Plan:
    """Plan matching ``size`` atoms at prices no worse than ``limit``; mutate nothing.

    ``use_pool=False`` keeps the pool out (a liquidation meets it at the band
    edge instead); ``fees=False`` (liquidations) charges the taker nothing and
    pays makers no rebate, since the liquidated account pays its penalty instead;
    ``skip_account``'s own orders are passed over (a liquidation cancels them).
    """
    remaining = size
    levels = market.book.asks if is_buy else market.book.bids
    sign = 1 if is_buy else -1  # taker's size sign
    taker_rate = market.taker_fee if fees else 0
    maker_rate = market.maker_fee if fees else max(0, market.maker_fee)
    pool = None if halted or not use_pool else pool_for_market(state, market)
    if pool is not None and not _pool_may_fill(pool, market.mark_price, is_buy, limit):
        pool = None
    pool_equity_now = pool_equity(state, pool) if pool is not None else 0
    if pool_equity_now <= 0:
        pool = None
    if pool is None:
        # Fast path for the common resting order: nothing on the other side crosses.
        if not levels:
            return Plan()
        best_key: int = levels.peekitem(0)[0]
        if (best_key > limit) if is_buy else (-best_key < limit):
            return Plan()
    plan = Plan()
    owner = taker[0]
    lot = market.lot
    # Per maker account: (planned size, planned quote delta) in this market.
    makers: dict[AccountKey, list[int]] = {}
    pool_x = 0
    pool_limit = 0
    if pool is not None:
        pool_account = state.accounts[pool.account]
        ppos = pool_account.positions.get(market.id)
        pool_x = ppos.size if ppos is not None else 0
        pool_limit = inventory_limit(pool, pool_equity_now, market.mark_price)
        if pool_limit == 0:
            pool = None

    def pool_fill(pool: Pool, up_to: int, inclusive: bool) -> None:
        nonlocal remaining, pool_x
        price = up_to if inclusive else up_to - sign
        q = quote_size(pool, market.mark_price, pool_x, pool_limit, is_buy, price)
        q = min(q, remaining)
        q -= q % lot
        if q <= 0:
            return
        notional = quote_notional(pool, market.mark_price, pool_x, pool_limit, is_buy, q)
        taker_fee = fee_up(notional, market.taker_fee)
        pool_fee = (taker_fee * pool.lp_fee_share) // ONE if taker_fee > 0 else 0
        plan.fills.append(Fill(None, pool.account, q, notional, 0, taker_fee, pool_fee))
        plan.filled += q
        plan.notional += notional
        remaining -= q
        pool_x -= sign * q

    for key, level in levels.items():
        price = key if is_buy else -key
        if (price > limit) if is_buy else (price < limit):
            break
        if pool is not None:
            pool_fill(pool, price, inclusive=False)
            if remaining == 0:
                break
        for order in level.values():
            if order.id == exclude_order or order.account == skip_account:
                continue
            maker = order.account
            if maker[0] == owner:
                if market.stp_mode is StpMode.CANCEL_TAKER:
                    plan.stp_taker = True
                    return plan
                plan.cancels.append((order, "self_trade"))
                continue
            account = state.accounts[maker]
            planned = makers.get(maker)
            if planned is None:
                pos = account.positions.get(market.id)
                planned = [pos.size if pos is not None else 0, 0]
            qty = min(remaining, order.size)
            cancel_rest = False
            if order.reduce_only:
                closable = planned[0] if is_buy else -planned[0]  # maker sells when taker buys
                if closable <= 0:
                    plan.cancels.append((order, "reduce_only"))
                    continue
                if closable < qty:
                    qty = closable - closable % lot
                    cancel_rest = True
                    if qty == 0:
                        plan.cancels.append((order, "reduce_only"))
                        continue
            notional = (qty * price) // SIZE_ONE
            maker_fee = fee_up(notional, maker_rate)
            new_size = planned[0] - sign * qty
            new_quote = planned[1] + sign * notional - maker_fee
            if increases_risk(planned[0], new_size):
                if halted:
                    continue
                risk = bucket_risk(state, account, market.id, new_size, new_quote)
                if not risk.meets_initial:
                    plan.cancels.append((order, "margin"))
                    continue
            planned[0] = new_size
            planned[1] = new_quote
            makers[maker] = planned
            plan.fills.append(Fill(order, maker, qty, notional, maker_fee, fee_up(notional, taker_rate), 0))
            plan.filled += qty
            plan.notional += notional
            remaining -= qty
            if cancel_rest:
                plan.cancels.append((order, "reduce_only"))
            if remaining == 0:
                return plan
        if remaining == 0:
            return plan
    if pool is not None and remaining > 0:
        pool_fill(pool, limit, inclusive=True)
    return plan


def apply_trade(
    state: State,
    account: Account,
    market: Market,
    size_delta: int,
    quote_flow: int,
    events: list[Event],
) -> Position | None:
    """Change a position by ``size_delta`` and its bucket's quote by ``quote_flow``.

    Settles funding first; keeps the cost basis and realised PnL for
    reporting; updates open interest; releases an isolated position's
    margin to the cross balance when it closes.
    """
    pos = account.positions.get(market.id)
    if pos is None:
        # Accrue first: a new position owes funding only from now, not since the last accrual.
        accrue(market, state.feeds[market.asset].index_price, state.time)
        pos = Position(0, 0, market.cum_funding, is_isolated(account, market.id))
        account.positions[market.id] = pos
    else:
        settle_position(state, account, market, pos, events)
    old = pos.size
    new = old + size_delta
    # Cost basis (reporting only): the closing part realises PnL pro rata.
    if old != 0 and (old > 0) != (size_delta > 0):
        closed = min(abs(size_delta), abs(old))
        flow_closed = (quote_flow * closed) // abs(size_delta)
        cost_closed = (pos.cost * closed) // abs(old)
        pos.realised_pnl += flow_closed - cost_closed
        pos.cost -= cost_closed
        pos.cost -= quote_flow - flow_closed
    else:
        pos.cost -= quote_flow
    pos.size = new
    if pos.isolated:
        pos.isolated_margin += quote_flow
    else:
        account.balances[state.quote] = account.balances.get(state.quote, 0) + quote_flow
    market.open_interest += max(new, 0) - max(old, 0)
    if new == 0:
        pos.cost = 0
        if pos.isolated:
            account.balances[state.quote] = account.balances.get(state.quote, 0) + pos.isolated_margin
        del account.positions[market.id]
        return None
    return pos


def charge(state: State, account: Account, market: Market, amount: int) -> None:
    """Take ``amount`` quote atoms (a fee; < 0 pays a rebate) from the bucket of a market."""
    pos = account.positions.get(market.id)
    if pos is not None and pos.isolated:
        pos.isolated_margin -= amount
    else:
        account.balances[state.quote] = account.balances.get(state.quote, 0) - amount


def apply_plan(
    state: State,
    market: Market,
    taker: AccountKey,
    taker_order_id: int,
    is_buy: bool,
    plan: Plan,
    events: list[Event],
) -> None:
    """Apply a plan from ``plan_match``; never raises a ProtocolError."""
    book = market.book
    for order, reason in plan.cancels:
        if order.id in book.orders:
            remove_order(book, order)
            events.append(order_cancelled(market.id, order.id, order.account, order.size, reason))
            if reason == "self_trade":
                events.append(
                    event(
                        "SelfTradePrevented",
                        market=market.id,
                        resting=order.id,
                        taker=taker_order_id,
                    )
                )
    taker_account = state.accounts[taker]
    sign = 1 if is_buy else -1
    for fill in plan.fills:
        maker_account = state.accounts[fill.maker]
        # Trade first, then fees, so that a flat position's fee lands in the cross balance.
        apply_trade(state, taker_account, market, sign * fill.size, -sign * fill.notional, events)
        apply_trade(state, maker_account, market, -sign * fill.size, sign * fill.notional, events)
        charge(state, taker_account, market, fill.taker_fee)
        if fill.maker_order is None:
            charge(state, maker_account, market, -fill.pool_fee)
            state.fee_balance += fill.taker_fee - fill.pool_fee
        else:
            charge(state, maker_account, market, fill.maker_fee)
            state.fee_balance += fill.taker_fee + fill.maker_fee
            order = fill.maker_order
            order.size -= fill.size
            if order.size == 0:
                remove_order(book, order)
        events.append(fill_event(market.id, taker, taker_order_id, is_buy, fill))
