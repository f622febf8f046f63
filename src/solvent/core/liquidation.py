"""
Liquidation: keepers close accounts below maintenance; funds, ADL and socialised loss absorb deficits.

Introduction
------------
``docs/liquidation.md`` states the rules with a worked example that a test
checks number for number. In short, for ``Liquidate(keeper, account, market, size?)``:

1. **Accepted** only when the bucket holding the position (cross or isolated)
   has ``value_maint < MM``, its prices are fresh (``OracleStale``) and not
   held for confirmation (``MarketPaused``); in a cross bucket only the
   position with the largest maintenance requirement may be chosen
   (``WrongLiquidationOrder``). A keeper may not liquidate its own owner.
2. **Size**: the least number of lots after which, valued as if they
   closed at the band edge and paid the full penalty, the bucket holds
   ``value_maint >= close_buffer * MM``; all of it when no size does. Capped
   by ``size`` and by the market's ``liq_cap_notional`` per ``liq_window_s``
   (at the mark), so no single liquidation dumps the whole book.
3. **Execution**: against the book within ``mark * (1 ± liq_band)``, no taker
   fee and no maker rebate; the remainder against the market's pool at
   exactly the band edge, while the pool's position stays within
   ``backstop_max_skew`` of its equity.
4. **Bankruptcy** (after dYdX v4): the bucket's equity ``E = value_maint``
   before the liquidation is shared among its positions by maintenance
   requirement. Closing q of a position of size S in a bucket with
   requirement MM, the position's requirement being mm, should return at
   least the break-even flow

       B(q) = sign(S) * q * mark - E * (mm / MM) * (q / |S|)      (rounded up)

   A flow below B is a deficit, paid by the domain's insurance fund; book and
   pool fills are taken only as far as the fund can pay their deficit. A
   flow above B is surplus, from which the penalty is taken.
5. **Penalty** = min((keeper_fee + insurance_fee) * notional filled, surplus):
   the keeper's part (``keeper_fee * notional``) first, the rest to the fund.
   When the surplus cannot pay the keeper, the fund tops the keeper up as far
   as it can after paying deficits, so bankrupt accounts still get closed.
6. **ADL**: when a remainder is left and closing it at the band edge would
   need more than the fund holds, the remainder is closed against opposite
   positions at the break-even flow (the bankruptcy price: never worse for
   them than that), highest ``adl.score`` first, each only as far as its own
   bucket stays at or above zero value; what they cannot take there is
   closed against them at the mark, leaving a shortfall.
7. **Socialised loss**: a shortfall, or a bucket left with no positions and
   no collateral but a negative quote balance, is made whole by the fund,
   then by charges pro rata to open notional on every other account with
   positions in the domain (``SocialisedLoss``), each at most its own value.
   Accounts without positions never pay (P5); what nobody can bear stays
   owed by the bankrupt account (``UncoveredDeficit``).

``LiquidateCollateral`` sells a position-free account's collateral to the
keeper at ``index * (1 - collateral_discount)``, enough to repay its quote
debt; what the sale cannot repay is a deficit of the asset's domain (7).
"""

from dataclasses import dataclass

from solvent.core.adl import deleverage_plan
from solvent.core.book import remove_order
from solvent.core.errors import (
    InsufficientBalance,
    InsufficientMargin,
    InvariantViolation,
    LiquidationCapReached,
    Malformed,
    MarketExpired,
    MarketPaused,
    NoLiquidityInBand,
    NotLiquidatable,
    OracleStale,
    SelfLiquidation,
    UnknownAccount,
    WrongLiquidationOrder,
)
from solvent.core.events import Event, event
from solvent.core.fixed import ONE
from solvent.core.instruments import has_expired
from solvent.core.ledger import MAX_SUBACCOUNT, check_address, check_amount, get_asset
from solvent.core.margin import Risk, _position_terms, bucket_risk, cross_risk
from solvent.core.matching import (
    Fill,
    Plan,
    apply_plan,
    apply_trade,
    charge,
    fill_event,
    order_cancelled,
    plan_match,
)
from solvent.core.oracle import is_stale
from solvent.core.orders import check_size, get_account, get_market
from solvent.core.pool import pool_equity, pool_for_market
from solvent.core.state import Account, Domain, Market, Position, State
from solvent.core.tx import Liquidate, LiquidateCollateral
from solvent.core.units import SIZE_ONE, AccountKey, format_account
from solvent.core.vol_oracle import is_vol_stale


def check_prices_usable(state: State, account: Account, market_ids: list[str]) -> None:
    """Refuse to liquidate on a stale or held index of any price the bucket is valued on."""
    assets = {state.markets[m].asset for m in market_ids}
    if not any(pos.isolated for m, pos in account.positions.items() if m in market_ids):
        assets |= {s for s, v in account.balances.items() if s != state.quote and v > 0}
    for asset in sorted(assets):
        feed = state.feeds[asset]
        if is_stale(state, feed):
            raise OracleStale(
                f"the {asset} index has no fresh quorum; liquidations wait for one, never a stale price"
            )
        if feed.band_tripped:
            raise MarketPaused(
                f"an {asset} index jump awaits confirmation; liquidations resume at the confirmed price"
            )
    for market_id in market_ids:
        expiry = state.markets[market_id].expiry
        if expiry is not None and expiry.vol_feed and is_vol_stale(state, state.vol_feeds[expiry.vol_feed]):
            raise OracleStale(
                f"the volatility feed {expiry.vol_feed} has no fresh quorum; liquidations wait for one"
            )


def bucket_markets(account: Account, market_id: str) -> list[str]:
    """Return the markets whose positions share the bucket of ``market_id``."""
    pos = account.positions.get(market_id)
    if pos is not None and pos.isolated:
        return [market_id]
    return sorted(m for m, p in account.positions.items() if not p.isolated)


def largest_risk_market(state: State, account: Account) -> str | None:
    """Return the cross position with the largest maintenance requirement (ties: market id)."""
    best: tuple[int, str] | None = None
    for market_id in sorted(account.positions):
        pos = account.positions[market_id]
        if pos.isolated or pos.size == 0 or has_expired(state, state.markets[market_id]):
            continue  # an expired position waits for Settle
        _, _, mm = _position_terms(state, account, market_id, pos.size, pos.funding_index)
        if best is None or mm > best[0]:
            best = (mm, market_id)
    return best[1] if best is not None else None


def liquidation_band(market: Market, domain: Domain) -> tuple[int, int]:
    """Return the lowest and highest liquidation fill price: mark * (1 ± liq_band), rounded inward.

    An option's band is measured on its underlying, as its order band is
    (``orders.band_edges``): mark ± liq_band * underlying_price, never below 1.
    """
    mark = market.mark_price
    if market.underlying_price:
        width = (market.underlying_price * domain.liq_band) // ONE
        return max(1, mark - width), mark + width
    return -((-mark * (ONE - domain.liq_band)) // ONE), (mark * (ONE + domain.liq_band)) // ONE


@dataclass(frozen=True, slots=True)
class Breakeven:
    """The bankruptcy terms of one liquidation, fixed before it fills anything."""

    sign: int  # sign of the position being closed
    mark: int
    equity: int  # bucket value_maint before the liquidation
    mm: int  # the position's maintenance requirement
    bucket_mm: int
    held: int  # |position size|

    def flow(self, q: int) -> int:
        """Return B(q), the break-even quote flow for closing q atoms (rounded up)."""
        numerator = self.sign * q * self.mark * self.bucket_mm * self.held - (
            self.equity * self.mm * q * SIZE_ONE
        )
        return -((-numerator) // (SIZE_ONE * self.bucket_mm * self.held))

    def deficit(self, q: int, flow: int) -> int:
        return max(0, self.flow(q) - flow)


def breakeven(
    state: State, account: Account, market: Market, pos: Position, risk: Risk | None = None
) -> Breakeven:
    """Return the bankruptcy terms of closing ``pos``; ``risk`` is its bucket's, if already known."""
    if risk is None:
        risk = bucket_risk(state, account, market.id)
    _, _, mm = _position_terms(state, account, market.id, pos.size, pos.funding_index)
    bucket_mm = risk.mm
    if account.portfolio and not pos.isolated:
        # Portfolio margin has no per-position requirement: equity is shared by the
        # positions' simple-mode requirements instead, which sum to the denominator.
        bucket_mm = sum(
            _position_terms(state, account, m, p.size, p.funding_index)[2]
            for m, p in account.positions.items()
            if not p.isolated
        )
    if mm <= 0 or bucket_mm <= 0:
        mm = bucket_mm = 1  # no requirement at all: the position carries the whole equity
    return Breakeven(
        1 if pos.size > 0 else -1, market.mark_price, risk.value_maint, mm, bucket_mm, abs(pos.size)
    )


def close_flow(sign: int, q: int, price: int) -> int:
    """Return the quote flow of closing q atoms of a position of ``sign`` at ``price``,
    rounded against the closing account: proceeds down, payments up.
    """
    return (q * price) // SIZE_ONE if sign > 0 else -((q * price + SIZE_ONE - 1) // SIZE_ONE)


def penalty_rate(domain: Domain) -> int:
    return domain.keeper_fee + domain.insurance_fee


def close_size(state: State, account: Account, market: Market, domain: Domain, edge: int) -> int:
    """Return the least lots (in size atoms) restoring value_maint >= close_buffer * MM, valued at
    the band edge with the full penalty paid; the whole position when no size does.
    """
    pos = account.positions[market.id]
    sign = 1 if pos.size > 0 else -1
    lots = abs(pos.size) // market.lot
    rate = penalty_rate(domain)

    def restores(n: int) -> bool:
        q = n * market.lot
        flow = close_flow(sign, q, edge)
        penalty = -((-abs(flow) * rate) // ONE)
        risk = bucket_risk(state, account, market.id, pos.size - sign * q, flow - penalty)
        return risk.value_maint * ONE >= domain.close_buffer * risk.mm

    if lots == 0 or not restores(lots):
        return abs(pos.size)
    lo, hi = 1, lots  # restores(hi) holds
    while lo < hi:
        mid = (lo + hi) // 2
        if restores(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo * market.lot


def _cap_fills(plan: Plan, market: Market, even: Breakeven, fund: int) -> tuple[list[Fill], int, int]:
    """Keep book fills while the fund can pay their deficit; return (fills, size, flow)."""
    kept: list[Fill] = []
    q_total = 0
    flow_total = 0
    for fill in plan.fills:
        order = fill.maker_order
        if order is None:
            raise InvariantViolation("a liquidation's book plan has no pool fills")
        flow = even.sign * fill.notional
        if even.deficit(q_total + fill.size, flow_total + flow) <= fund:
            kept.append(fill)
            q_total += fill.size
            flow_total += flow
            continue
        lo, hi = 0, fill.size // market.lot  # largest lots whose deficit the fund can pay
        while lo < hi:
            mid = (lo + hi + 1) // 2
            q = mid * market.lot
            if even.deficit(q_total + q, flow_total + even.sign * ((q * order.price) // SIZE_ONE)) <= fund:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            q = lo * market.lot
            notional = (q * order.price) // SIZE_ONE
            maker_fee = -((-notional * max(0, market.maker_fee)) // ONE)
            kept.append(Fill(order, fill.maker, q, notional, maker_fee, 0, 0))
            q_total += q
            flow_total += even.sign * notional
        break
    return kept, q_total, flow_total


def _pool_backstop(
    state: State,
    market: Market,
    domain: Domain,
    even: Breakeven,
    want: int,
    edge: int,
    q_done: int,
    flow_done: int,
    fund: int,
) -> int:
    """Return the size atoms the pool takes at the band edge (0 if none)."""
    pool = pool_for_market(state, market)
    if pool is None or domain.backstop_max_skew == 0 or want == 0:
        return 0
    equity = pool_equity(state, pool)
    if equity <= 0:
        return 0
    pool_account = state.accounts[pool.account]
    ppos = pool_account.positions.get(market.id)
    x = ppos.size if ppos is not None else 0
    limit = (equity * domain.backstop_max_skew * SIZE_ONE) // (ONE * market.mark_price)
    pool_sign = even.sign  # the pool takes the side the account closes: buys a long
    room = limit - pool_sign * x
    q = min(want, max(0, room))
    q -= q % market.lot
    while q > 0:
        flow = close_flow(even.sign, q, edge)
        fits = even.deficit(q_done + q, flow_done + flow) <= fund
        after = cross_risk(state, pool_account, market.id, x + pool_sign * q, -flow)
        if fits and after.value_maint >= after.mm:
            return q
        q = ((q // market.lot) // 2) * market.lot
    return 0


def _liquidated_account(state: State, tx: Liquidate | LiquidateCollateral) -> tuple[AccountKey, Account]:
    """Check the keeper's fields and return the account to be liquidated."""
    check_address(tx.keeper)
    if not 0 <= tx.keeper_subaccount <= MAX_SUBACCOUNT:
        raise Malformed(f"keeper_subaccount must be in [0, {MAX_SUBACCOUNT}]")
    if tx.keeper == tx.owner:
        raise SelfLiquidation("a keeper may not liquidate accounts of its own owner")
    key: AccountKey = (tx.owner, tx.subaccount)
    return key, get_account(state, key)


def process_liquidate(state: State, tx: Liquidate) -> list[Event]:
    # VALIDATE
    market = get_market(state, tx.market)
    domain = state.domains[market.domain]
    key, account = _liquidated_account(state, tx)
    pos = account.positions.get(market.id)
    if pos is None or pos.size == 0:
        raise NotLiquidatable(f"{format_account(key)} has no {market.id} position")
    if has_expired(state, market):
        raise MarketExpired(f"{market.id} has expired: submit Settle, which closes every position")
    check_prices_usable(state, account, bucket_markets(account, market.id))
    risk = bucket_risk(state, account, market.id)
    if not risk.is_liquidatable:
        raise NotLiquidatable(
            f"{format_account(key)} holds value {risk.value_maint} against maintenance {risk.mm}; "
            "it can be liquidated only below it"
        )
    if not pos.isolated:
        first = largest_risk_market(state, account)
        if first != market.id:
            raise WrongLiquidationOrder(f"liquidate {first} first: it carries the largest risk")
    if tx.size is not None:
        check_size(market, tx.size)
    now = state.time
    window_fresh = now - market.liq_window_start >= domain.liq_window_s
    used = 0 if window_fresh else market.liq_window_notional
    mark = market.mark_price
    cap_size = ((domain.liq_cap_notional - used) * SIZE_ONE // mark) if used < domain.liq_cap_notional else 0
    cap_size -= cap_size % market.lot
    if cap_size <= 0:
        raise LiquidationCapReached(
            f"{market.id} has liquidated its cap of {domain.liq_cap_notional} quote atoms in this "
            f"{domain.liq_window_s} s window; try again in the next one"
        )
    lo, hi = liquidation_band(market, domain)
    even = breakeven(state, account, market, pos, risk)
    closing_buy = even.sign < 0
    edge = hi if closing_buy else lo
    size = min(close_size(state, account, market, domain, edge), cap_size)
    if tx.size is not None:
        size = min(size, tx.size)
    fund = state.insurance[market.domain]
    plan = plan_match(
        state, market, key, closing_buy, size, edge, False, use_pool=False, fees=False, skip_account=key
    )
    fills, q_book, flow_book = _cap_fills(plan, market, even, fund)
    q_pool = _pool_backstop(state, market, domain, even, size - q_book, edge, q_book, flow_book, fund)
    flow_pool = close_flow(even.sign, q_pool, edge)
    q_fill = q_book + q_pool
    flow_fill = flow_book + flow_pool
    left = size - q_fill
    adl_takers: list[tuple[AccountKey, int, int]] = []
    if left > 0:
        at_edge = even.deficit(size, flow_fill + close_flow(even.sign, left, edge))
        if at_edge > fund:
            adl_flow = even.flow(size) - even.flow(q_fill)
            adl_takers = deleverage_plan(state, market, key, even.sign, left, adl_flow)
            rest = left - sum(q for _, q, _ in adl_takers)
            if rest:
                taken = {k: q for k, q, _ in adl_takers}
                adl_takers += deleverage_plan(state, market, key, even.sign, rest, None, taken)
    q_adl = sum(q for _, q, _ in adl_takers)
    if q_fill == 0 and q_adl == 0:
        raise NoLiquidityInBand(
            f"no bid or ask within the liquidation band [{lo}, {hi}] of {market.id} and no pool "
            "backstop; nothing is sold below the band, try again when liquidity returns"
        )
    flow_adl = sum(f for _, _, f in adl_takers)
    deficit = even.deficit(q_fill, flow_fill)
    # ADL at the mark leaves a shortfall against the break-even flow: covered below.
    shortfall = max(0, even.deficit(q_fill + q_adl, flow_fill + flow_adl) - deficit)
    surplus = max(0, flow_fill + flow_adl - even.flow(q_fill + q_adl))
    notional = abs(flow_fill)
    keeper_due = (notional * domain.keeper_fee) // ONE
    penalty = min(-((-notional * penalty_rate(domain)) // ONE), surplus)
    keeper_part = min(penalty, keeper_due)
    fund_part = penalty - keeper_part
    # APPLY
    events: list[Event] = []
    book = market.book
    for order_id in sorted(book.by_account.get(key, ())):
        order = book.orders[order_id]
        remove_order(book, order)
        events.append(order_cancelled(market.id, order.id, key, order.size, "liquidation"))
    keeper_key: AccountKey = (tx.keeper, tx.keeper_subaccount)
    keeper = state.accounts.get(keeper_key)
    if keeper is None:
        keeper = Account(tx.keeper, tx.keeper_subaccount, {}, {})
        state.accounts[keeper_key] = keeper
    state.insurance[market.domain] = fund - deficit + fund_part
    charge(state, account, market, penalty - deficit)
    if deficit:
        events.append(_insurance_paid(state, market.domain, key, deficit))
    keeper.balances[state.quote] = keeper.balances.get(state.quote, 0) + keeper_part
    order_id = state.next_order_id
    state.next_order_id += 1
    isolated = pos.isolated
    cross_before = account.balances.get(state.quote, 0)
    if fills:
        live = Plan(fills=fills, filled=q_book, notional=sum(f.notional for f in fills))
        live.cancels = plan.cancels
        apply_plan(state, market, key, order_id, closing_buy, live, events)
    pool = pool_for_market(state, market)
    if q_pool and pool is not None:
        _hand_over(
            state, market, account, state.accounts[pool.account], even.sign * q_pool, flow_pool, events
        )
        backstop = Fill(None, pool.account, q_pool, abs(flow_pool), 0, 0, 0)
        events.append(fill_event(market.id, key, order_id, closing_buy, backstop))
    for taker_key, q, flow in adl_takers:
        _hand_over(state, market, account, state.accounts[taker_key], even.sign * q, flow, events)
        events.append(
            event(
                "Deleveraged",
                market=market.id,
                account=format_account(taker_key),
                liquidated=format_account(key),
                size=q,
                notional=abs(flow),
            )
        )
    # What is still owed: ADL at the mark's shortfall, an isolated margin released below
    # zero, or a cross bucket left with debt and nothing to sell; then the keeper's top-up.
    if isolated and market.id not in account.positions:
        released = account.balances.get(state.quote, 0) - cross_before
        if released < 0:
            cover_deficit(state, account, key, market.domain, -released, events)
    elif not isolated and _nothing_to_sell(state, account):
        settle_residual(state, account, key, market.domain, events)
    elif shortfall:
        cover_deficit(state, account, key, market.domain, shortfall, events, market)
    top_up = min(keeper_due - keeper_part, state.insurance[market.domain])
    state.insurance[market.domain] -= top_up
    keeper.balances[state.quote] += top_up
    closed = q_fill + q_adl
    if window_fresh:
        market.liq_window_start = now
        market.liq_window_notional = 0
    market.liq_window_notional += (closed * mark) // SIZE_ONE
    events.append(
        event(
            "Liquidated",
            account=format_account(key),
            market=market.id,
            keeper=format_account(keeper_key),
            size=closed,
            filled=q_fill,
            deleveraged=q_adl,
            notional=notional,
            penalty=penalty,
            keeper_reward=keeper_part + top_up,
            insurance_fee=fund_part,
            deficit=deficit,
            shortfall=shortfall,
        )
    )
    return events


def _hand_over(
    state: State, market: Market, account: Account, other: Account, size: int, flow: int, events: list[Event]
) -> None:
    """Move ``size`` of the liquidated position to ``other`` for ``flow`` quote atoms."""
    apply_trade(state, account, market, -size, flow, events)
    apply_trade(state, other, market, size, -flow, events)


def _insurance_paid(state: State, domain: str, key: AccountKey, amount: int) -> Event:
    return event(
        "InsurancePaid",
        domain=domain,
        account=format_account(key),
        amount=amount,
        balance=state.insurance[domain],
    )


def _nothing_to_sell(state: State, account: Account) -> bool:
    """Return whether the cross bucket holds no position and no collateral."""
    holds_collateral = any(v > 0 for s, v in account.balances.items() if s != state.quote)
    return not holds_collateral and not any(not p.isolated for p in account.positions.values())


def settle_residual(
    state: State, account: Account, key: AccountKey, domain: str, events: list[Event]
) -> None:
    """Make whole a cross bucket left with debt and nothing to sell: no position, no collateral."""
    quote = account.balances.get(state.quote, 0)
    if quote < 0 and _nothing_to_sell(state, account):
        cover_deficit(state, account, key, domain, -quote, events)


def cover_deficit(
    state: State,
    account: Account,
    key: AccountKey,
    domain: str,
    amount: int,
    events: list[Event],
    market: Market | None = None,
) -> None:
    """Credit ``amount`` to the account (the bucket of ``market``, else its cross balance):
    the domain's fund first, then a socialised loss.
    """
    paid = min(amount, state.insurance[domain])
    if paid:
        state.insurance[domain] -= paid
        events.append(_insurance_paid(state, domain, key, paid))
    covered = paid + (socialise(state, domain, key, amount - paid, events) if amount > paid else 0)
    if market is not None:
        charge(state, account, market, -covered)
    else:
        account.balances[state.quote] = account.balances.get(state.quote, 0) + covered


def socialise(state: State, domain: str, key: AccountKey, loss: int, events: list[Event]) -> int:
    """Charge ``loss`` to every other account with positions in the domain, pro rata to
    their open notional at the mark (rounded down, the remainder one atom each in
    account order), each at most its own cross value, so that nobody is pushed below
    zero; return what was charged, for the caller to credit to the bankrupt account.
    What nobody can bear stays owed by the bankrupt account (``UncoveredDeficit``).
    """
    weights: list[tuple[AccountKey, int, int]] = []
    for other_key in sorted(state.accounts):
        if other_key == key:
            continue
        other = state.accounts[other_key]
        weight = 0
        for market_id, pos in other.positions.items():
            market = state.markets[market_id]
            if market.domain == domain and pos.size:
                weight += (abs(pos.size) * market.mark_price) // SIZE_ONE
        if weight:
            weights.append((other_key, weight, max(0, cross_risk(state, other).value_maint)))
    total = sum(w for _, w, _ in weights)
    shares = [(k, (loss * w) // total, cap) for k, w, cap in weights] if total else []
    short = loss - sum(c for _, c, _ in shares)
    charges = [(k, min(cap, c + (1 if i < short else 0))) for i, (k, c, cap) in enumerate(shares)]
    charged = sum(c for _, c in charges)
    if charged:
        events.append(
            event(
                "SocialisedLoss",
                domain=domain,
                account=format_account(key),
                amount=charged,
                accounts=sum(1 for _, c in charges if c),
            )
        )
    if charged < loss:
        events.append(
            event("UncoveredDeficit", domain=domain, account=format_account(key), amount=loss - charged)
        )
    for other_key, amount in charges:
        if amount == 0:
            continue
        other = state.accounts[other_key]
        other.balances[state.quote] = other.balances.get(state.quote, 0) - amount
        events.append(
            event("SocialisedLossCharged", domain=domain, account=format_account(other_key), amount=amount)
        )
    return charged


def process_liquidate_collateral(state: State, tx: LiquidateCollateral) -> list[Event]:
    # VALIDATE
    asset = get_asset(state, tx.asset)
    if asset.is_quote:
        raise Malformed("the quote asset is not sold; liquidate a collateral asset")
    key, account = _liquidated_account(state, tx)
    held = account.balances.get(tx.asset, 0)
    if held <= 0:
        raise NotLiquidatable(f"{format_account(key)} holds no {tx.asset}")
    first = largest_risk_market(state, account)
    if first is not None:
        raise WrongLiquidationOrder(f"liquidate the {first} position first; collateral goes last")
    check_prices_usable(state, account, [])
    risk = cross_risk(state, account)
    debt = -account.balances.get(state.quote, 0)
    if not risk.is_liquidatable or debt <= 0:
        raise NotLiquidatable(
            f"{format_account(key)} holds value {risk.value_maint} against maintenance {risk.mm}"
        )
    if tx.amount is not None:
        check_amount(tx.amount)
    domain = state.domains[asset.domain]
    unit = asset.atoms_per_unit
    price = (state.feeds[tx.asset].index_price * (ONE - domain.collateral_discount)) // ONE
    need = -((-debt * unit) // price) if price else held
    amount = min(need, held) if tx.amount is None else min(need, held, tx.amount)
    proceeds = (amount * price) // unit
    keeper_key: AccountKey = (tx.keeper, tx.keeper_subaccount)
    keeper = state.accounts.get(keeper_key)
    if keeper is None:
        raise UnknownAccount(f"keeper {format_account(keeper_key)} has no account; deposit quote first")
    after = cross_risk(state, keeper, quote_delta=-proceeds, asset=tx.asset, asset_delta=amount)
    if not after.meets_initial:
        if keeper.balances.get(state.quote, 0) < proceeds and not keeper.positions:
            raise InsufficientBalance(f"the keeper needs {proceeds} quote atoms to buy the collateral")
        raise InsufficientMargin("buying the collateral would leave the keeper below initial margin")
    # APPLY
    events: list[Event] = []
    account.balances[tx.asset] = held - amount
    if account.balances[tx.asset] == 0:
        del account.balances[tx.asset]
    account.balances[state.quote] = account.balances.get(state.quote, 0) + proceeds
    keeper.balances[tx.asset] = keeper.balances.get(tx.asset, 0) + amount
    keeper.balances[state.quote] = keeper.balances.get(state.quote, 0) - proceeds
    events.append(
        event(
            "CollateralLiquidated",
            account=format_account(key),
            keeper=format_account(keeper_key),
            asset=tx.asset,
            amount=amount,
            price=price,
            proceeds=proceeds,
        )
    )
    settle_residual(state, account, key, asset.domain, events)
    return events
