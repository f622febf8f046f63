"""
Settlement of expired futures and options.

Introduction
------------
``Settle(market)`` may be sent by anyone once the market has expired and its
settlement average is complete (``core.instruments``). It cancels the book
and the triggers, then closes every position at the settlement price S:

    future:  quote += floor(size * S / SIZE_ONE)
    option:  quote += floor(size * intrinsic(S, K) * contract_size / SIZE_ONE**2)

Payments round in the protocol's favour: the rounding dust goes to
``fee_balance``. A payer left with quote debt and nothing to sell is made
whole by the market's domain fund, then by a socialised loss
(``liquidation.settle_residual``); an isolated position's loss beyond its
margin likewise. A payer that still holds other positions or collateral
keeps its debt against them and stays with the ordinary liquidation path.
Settling scans every account for holders (O(accounts)), once per series.
"""

from solvent.core.book import remove_order
from solvent.core.errors import MarketExpired, NoExpiry, SettlementPending
from solvent.core.events import Event, event
from solvent.core.instruments import is_option, payoff_flow
from solvent.core.ledger import check_address
from solvent.core.liquidation import cover_deficit, settle_residual
from solvent.core.matching import apply_trade, order_cancelled
from solvent.core.orders import get_market, remove_all_triggers
from solvent.core.state import Account, State
from solvent.core.tx import Settle
from solvent.core.units import SIZE_ONE, AccountKey, format_account


def holders(state: State, market_id: str) -> list[AccountKey]:
    """Return the accounts holding a position in the market, in key order (scans every account)."""
    return sorted(key for key, account in state.accounts.items() if market_id in account.positions)


def process_settle(state: State, tx: Settle) -> list[Event]:
    """Settle an expired dated market (see the module docstring)."""
    # VALIDATE
    check_address(tx.sender)
    market_id = tx.market
    market = get_market(state, market_id)
    expiry = market.expiry
    if expiry is None:
        raise NoExpiry(f"{market_id} is a perpetual; it never settles")
    if expiry.settled:
        raise MarketExpired(f"{market_id} already settled at {expiry.settlement_price}")
    if state.time < expiry.time:
        raise SettlementPending(
            f"{market_id} expires at {expiry.time} (now {state.time}); settle after expiry"
        )
    if expiry.twap_seconds < expiry.min_fresh_s:
        raise SettlementPending(
            f"{market_id} has {expiry.twap_seconds} fresh seconds of index in its settlement "
            f"average and needs {expiry.min_fresh_s}; it settles once the index has been fresh that long"
        )
    # APPLY
    events: list[Event] = []
    price = expiry.twap_sum // expiry.twap_seconds
    expiry.settlement_price = price
    expiry.settled = True
    book = market.book
    for order_id in sorted(book.orders):
        order = book.orders[order_id]
        remove_order(book, order)
        events.append(order_cancelled(market_id, order.id, order.account, order.size, "expired"))
    remove_all_triggers(market, events)
    events.append(
        event(
            "MarketSettled",
            market=market_id,
            price=price,
            fresh_seconds=expiry.twap_seconds,
            open_interest=market.open_interest,
        )
    )
    dust = 0
    payers: list[tuple[AccountKey, Account, int]] = []
    for key in holders(state, market_id):
        account = state.accounts[key]
        pos = account.positions[market_id]
        if pos.size == 0:
            # Margin parked in an isolated bucket without a position goes back to the cross balance.
            released = pos.isolated_margin
            account.balances[state.quote] = account.balances.get(state.quote, 0) + released
            del account.positions[market_id]
            events.append(
                event("IsolatedMarginMoved", account=format_account(key), market=market_id, amount=-released)
            )
            continue
        flow = payoff_flow(market, expiry, pos.size, price)
        isolated_margin = pos.isolated_margin if pos.isolated else None
        size = pos.size
        apply_trade(state, account, market, -size, flow, events)
        dust -= flow
        events.append(
            event(
                "PositionSettled",
                market=market_id,
                account=format_account(key),
                size=size,
                price=price,
                amount=flow,
            )
        )
        if isolated_margin is not None and isolated_margin + flow < 0:
            # The isolated bucket's debt was released into the cross balance with its margin;
            # the loss stays with the bucket: the fund (then the domain) makes it whole.
            cover_deficit(state, account, key, market.domain, -(isolated_margin + flow), events)
        elif flow < 0:
            payers.append((key, account, flow))
    state.fee_balance += dust
    # The last mark is the settlement value of one unit (one contract for an option).
    market.mark_price = max(1, payoff_flow(market, expiry, SIZE_ONE, price)) if is_option(market) else price
    for key, account, _ in payers:
        settle_residual(state, account, key, market.domain, events)
    return events
