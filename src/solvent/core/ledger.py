"""
Ledger: collateral balances and per-market account settings.

Introduction
------------
Deposits credit a subaccount (creating it); withdrawals and transfers debit
it. Trades move quote at once (a long's quote balance carries the price it
paid), so the quote balance is often negative; it may go (further) negative
by a withdrawal or transfer only while the cross bucket still meets its
initial requirement afterwards ("only while covered"). Other assets never go
below zero. Each asset has a cap on net deposits of all accounts.

Settings per (subaccount, market): a leverage cap (initial fraction at least
1/leverage) and cross or isolated mode; the mode switches only with no
position, order or trigger in that market. An isolated position is margined
only by the quote moved into it with ``MoveIsolatedMargin``.
"""

import re

from solvent.core.errors import (
    AmountTooLarge,
    BadAddress,
    DepositAlreadyCredited,
    DepositCapExceeded,
    DepositOnChainOnly,
    DepositOutOfOrder,
    ForcedOutOfOrder,
    InsufficientBalance,
    InsufficientMargin,
    InvalidAmount,
    LeverageTooHigh,
    Malformed,
    MarketExpired,
    OracleStale,
    PositionOpen,
    ProtocolError,
    SameAccount,
    UnknownAsset,
    UnknownDomain,
)
from solvent.core.events import Event, event
from solvent.core.funding import settle_position
from solvent.core.instruments import has_expired
from solvent.core.margin import cross_risk, isolated_risk
from solvent.core.oracle import is_stale
from solvent.core.orders import get_account, get_market
from solvent.core.state import Account, Asset, MarketSetting, Position, State
from solvent.core.tx import (
    ChainDeposit,
    Deposit,
    ForcedWithdrawal,
    FundInsurance,
    MoveIsolatedMargin,
    SetLeverage,
    SetMarginMode,
    SetPortfolioMargin,
    SettleFunding,
    Transfer,
    Withdraw,
)
from solvent.core.units import MAX_AMOUNT, AccountKey, format_account

_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_BLOCK_HASH = re.compile(r"0x[0-9a-f]{64}")
MAX_SUBACCOUNT = 2**32 - 1


def check_address(address: str) -> None:
    """Refuse anything but a lower-case 0x-prefixed 20-byte hex address."""
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        raise BadAddress(f"{address!r} is not an address: use 0x followed by 40 lower-case hex digits")


def check_amount(amount: int) -> None:
    if amount <= 0:
        raise InvalidAmount(f"amount must be positive, was {amount}")
    if amount > MAX_AMOUNT:
        raise AmountTooLarge(f"amount exceeds {MAX_AMOUNT} atoms")


def get_asset(state: State, symbol: str) -> Asset:
    asset = state.assets.get(symbol)
    if asset is None:
        raise UnknownAsset(f"{symbol!r} is not a listed collateral asset")
    return asset


def check_prices_fresh(state: State, account: Account) -> None:
    """Refuse to value an account on a stale index (its positions or non-quote collateral)."""
    for market_id in account.positions:
        feed = state.feeds[state.markets[market_id].asset]
        if is_stale(state, feed):
            raise OracleStale(f"{market_id}'s index is stale; withdrawals wait for a fresh quorum")
    for symbol, amount in account.balances.items():
        if symbol != state.quote and amount > 0 and is_stale(state, state.feeds[symbol]):
            raise OracleStale(f"the {symbol} index is stale; withdrawals wait for a fresh quorum")


def _check_debit(state: State, account: Account, key: AccountKey, symbol: str, amount: int) -> None:
    balance = account.balances.get(symbol, 0)
    if symbol != state.quote and balance < amount:
        raise InsufficientBalance(
            f"{format_account(key)} holds {max(balance, 0)} atoms of {symbol}, fewer than {amount}"
        )
    needs_check = (
        bool(account.positions)
        or balance < amount  # quote going negative: a debt that collateral must cover
        or any(v < 0 for v in account.balances.values())
    )
    if not needs_check:
        return
    check_prices_fresh(state, account)
    if symbol == state.quote:
        risk = cross_risk(state, account, quote_delta=-amount)
    else:
        risk = cross_risk(state, account, asset=symbol, asset_delta=-amount)
    if not risk.meets_initial:
        now = cross_risk(state, account)
        hint = (
            f"; at most {max(now.free_collateral, 0)} quote atoms can be withdrawn"
            if symbol == state.quote
            else "; withdraw less or add collateral"
        )
        raise InsufficientMargin(
            f"this would leave {format_account(key)} with value {risk.value_init} below its "
            f"initial requirement {risk.im}{hint}"
        )


def _deposit_refusal(
    state: State, owner: str, subaccount: int, symbol: str, amount: int
) -> ProtocolError | None:
    """The error a deposit of these fields is refused with, or None if it may be credited."""
    try:
        check_address(owner)
        if not 0 <= subaccount <= MAX_SUBACCOUNT:
            raise Malformed(f"subaccount must be in [0, {MAX_SUBACCOUNT}]")
        asset = get_asset(state, symbol)
        check_amount(amount)
        if asset.total_deposits + amount > asset.deposit_cap:
            raise DepositCapExceeded(
                f"{symbol} deposits are capped at {asset.deposit_cap} atoms; "
                f"{asset.deposit_cap - asset.total_deposits} remain"
            )
    except ProtocolError as error:
        return error
    return None


def _credit(state: State, key: AccountKey, symbol: str, amount: int) -> None:
    account = state.accounts.get(key)
    if account is None:
        account = Account(key[0], key[1], {}, {})
        state.accounts[key] = account
    account.balances[symbol] = account.balances.get(symbol, 0) + amount
    state.assets[symbol].total_deposits += amount
    state.deposited[symbol] = state.deposited.get(symbol, 0) + amount


def withdrawn_event(state: State, key: AccountKey, symbol: str, amount: int) -> Event:
    """Number a withdrawal to be paid on chain (``State.next_withdrawal_id``) and return its event.

    The node appends one WITHDRAWAL leaf per ``Withdrawn`` event (``docs/settlement.md``);
    ``amount`` may be 0 (a forced withdrawal the margin rules refused).
    """
    withdrawal_id = state.next_withdrawal_id
    state.next_withdrawal_id += 1
    return event(
        "Withdrawn", account=format_account(key), asset=symbol, amount=amount, withdrawal_id=withdrawal_id
    )


def process_deposit(state: State, tx: Deposit) -> list[Event]:
    """Credit a plain deposit (development, tests, genesis); refused once the venue is settled
    on chain (``State.chain_settled``), where only the vault's deposits are money."""
    # VALIDATE
    if state.chain_settled:
        raise DepositOnChainOnly(
            "this venue is settled on chain: deposit in the vault on chain, and the operator "
            "credits it (ChainDeposit); a plain Deposit is not backed by the vault"
        )
    error = _deposit_refusal(state, tx.owner, tx.subaccount, tx.asset, tx.amount)
    if error is not None:
        raise error
    # APPLY
    key = (tx.owner, tx.subaccount)
    _credit(state, key, tx.asset, tx.amount)
    return [event("Deposited", account=format_account(key), asset=tx.asset, amount=tx.amount)]


def process_chain_deposit(state: State, tx: ChainDeposit) -> list[Event]:
    """Credit on-chain deposit ``deposit_id``, the next one; bounce one the core cannot credit.

    Ids are credited exactly once, in order (``State.deposits_credited``): a replayed id is
    refused ``DepositAlreadyCredited``, a later one ``DepositOutOfOrder``. A deposit the rules
    of ``Deposit`` refuse (asset not listed, cap exceeded, subaccount out of range, amount 0 or
    too large) is already in the vault, and refusing it would stop every later deposit: it is
    **bounced** instead, credited and at once withdrawn to its owner (a ``Withdrawn`` event the
    owner claims from the vault), and the cursor advances.
    """
    # VALIDATE: only what the chain cannot produce is refused.
    check_address(tx.owner)
    if _BLOCK_HASH.fullmatch(tx.block_hash) is None:
        raise Malformed("block_hash must be 0x and 64 lower-case hex digits: the chain block of the deposit")
    if tx.subaccount < 0 or tx.amount < 0:
        raise InvalidAmount("a chain deposit's subaccount and amount are unsigned")
    expected = state.deposits_credited
    if tx.deposit_id < expected:
        raise DepositAlreadyCredited(f"deposit {tx.deposit_id} is credited already (next: {expected})")
    if tx.deposit_id > expected:
        raise DepositOutOfOrder(
            f"deposit {tx.deposit_id} comes after deposit {expected}; credit that one first"
        )
    refusal = _deposit_refusal(state, tx.owner, tx.subaccount, tx.asset, tx.amount)
    # APPLY
    state.deposits_credited += 1
    key = (tx.owner, tx.subaccount)
    account = format_account(key)
    if refusal is None:
        _credit(state, key, tx.asset, tx.amount)
        return [
            event("Deposited", account=account, asset=tx.asset, amount=tx.amount, deposit_id=tx.deposit_id)
        ]
    events = [
        event(
            "DepositBounced",
            account=account,
            asset=tx.asset,
            amount=tx.amount,
            deposit_id=tx.deposit_id,
            code=refusal.code,
            error=refusal.name,
            message=refusal.message,
        )
    ]
    if tx.amount > 0:
        if tx.asset in state.assets:  # an unlisted token passes through the vault only
            state.deposited[tx.asset] = state.deposited.get(tx.asset, 0) + tx.amount
            state.withdrawn[tx.asset] = state.withdrawn.get(tx.asset, 0) + tx.amount
        events.append(withdrawn_event(state, key, tx.asset, tx.amount))
    return events


def process_withdraw(state: State, tx: Withdraw) -> list[Event]:
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    get_asset(state, tx.asset)
    check_amount(tx.amount)
    _check_debit(state, account, key, tx.asset, tx.amount)
    # APPLY (an account may hold no quote entry yet: a covered withdrawal creates the debt)
    _debit(state, account, tx.asset, tx.amount)
    return [withdrawn_event(state, key, tx.asset, tx.amount)]


def _debit(state: State, account: Account, symbol: str, amount: int) -> None:
    account.balances[symbol] = account.balances.get(symbol, 0) - amount
    if account.balances[symbol] == 0 and symbol != state.quote:
        del account.balances[symbol]
    state.assets[symbol].total_deposits -= amount
    state.withdrawn[symbol] = state.withdrawn.get(symbol, 0) + amount


def _debit_allowed(state: State, account: Account, key: AccountKey, symbol: str, amount: int) -> bool:
    if amount == 0:
        return True
    try:
        _check_debit(state, account, key, symbol, amount)
    except ProtocolError:
        return False
    return True


def forced_amount(state: State, tx: ForcedWithdrawal) -> tuple[int, str]:
    """What a forced withdrawal pays, and why not all of it (``""``: all of it).

    The rule: the largest amount, at most the one requested, that a ``Withdraw`` of it by the
    owner would be allowed now (same balance, margin and fresh-index rules); 0 if the
    subaccount or asset does not exist, the amount is 0, or not even one atom may leave.
    Withdrawing less never leaves an account worse off, so the largest allowed amount is
    found by bisection over ``[0, requested]``.
    """
    key = (tx.owner, tx.subaccount)
    account = state.accounts.get(key)
    if account is None:
        return 0, f"no account {format_account(key)}"
    if tx.asset not in state.assets:
        return 0, f"{tx.asset!r} is not a listed collateral asset"
    if tx.amount <= 0:
        return 0, "the amount requested is 0"
    cap = min(tx.amount, MAX_AMOUNT)
    if tx.asset != state.quote:
        cap = min(cap, max(account.balances.get(tx.asset, 0), 0))
    if _debit_allowed(state, account, key, tx.asset, cap):
        return cap, "" if cap == tx.amount else f"the account holds {cap} atoms"
    low, high = 0, cap  # allowed(low), not allowed(high)
    while high - low > 1:
        middle = (low + high) // 2
        if _debit_allowed(state, account, key, tx.asset, middle):
            low = middle
        else:
            high = middle
    return low, f"margin allows {low} atoms of {tx.asset} to leave"


def process_forced_withdrawal(state: State, tx: ForcedWithdrawal) -> list[Event]:
    """Serve forced-withdrawal request ``request_id``, the next one: pay ``forced_amount``."""
    # VALIDATE: only what the chain cannot produce is refused.
    check_address(tx.owner)
    if tx.subaccount < 0 or tx.amount < 0:
        raise InvalidAmount("a forced withdrawal's subaccount and amount are unsigned")
    expected = state.forced_served
    if tx.request_id != expected:
        when = "was served already" if tx.request_id < expected else f"comes after request {expected}"
        raise ForcedOutOfOrder(f"forced withdrawal {tx.request_id} {when}; serve request {expected}")
    amount, reason = forced_amount(state, tx)
    # APPLY
    state.forced_served += 1
    key = (tx.owner, tx.subaccount)
    if amount > 0:
        _debit(state, state.accounts[key], tx.asset, amount)
    served = event(
        "ForcedWithdrawalServed",
        account=format_account(key),
        asset=tx.asset,
        request_id=tx.request_id,
        requested=tx.amount,
        amount=amount,
        reason=reason,
    )
    return [served, withdrawn_event(state, key, tx.asset, amount)]


def process_transfer(state: State, tx: Transfer) -> list[Event]:
    # VALIDATE
    source_key = (tx.owner, tx.from_subaccount)
    source = get_account(state, source_key)
    if not 0 <= tx.to_subaccount <= MAX_SUBACCOUNT:
        raise Malformed(f"subaccount must be in [0, {MAX_SUBACCOUNT}]")
    if tx.from_subaccount == tx.to_subaccount:
        raise SameAccount("source and destination are the same subaccount")
    get_asset(state, tx.asset)
    check_amount(tx.amount)
    _check_debit(state, source, source_key, tx.asset, tx.amount)
    # APPLY
    dest_key = (tx.owner, tx.to_subaccount)
    dest = state.accounts.get(dest_key)
    if dest is None:
        dest = Account(tx.owner, tx.to_subaccount, {}, {})
        state.accounts[dest_key] = dest
    source.balances[tx.asset] = source.balances.get(tx.asset, 0) - tx.amount
    if source.balances[tx.asset] == 0 and tx.asset != state.quote:
        del source.balances[tx.asset]
    dest.balances[tx.asset] = dest.balances.get(tx.asset, 0) + tx.amount
    return [
        event(
            "Transferred",
            source=format_account(source_key),
            destination=format_account(dest_key),
            asset=tx.asset,
            amount=tx.amount,
        )
    ]


def _setting(account: Account, market_id: str) -> MarketSetting:
    if account.settings is None:
        account.settings = {}
    setting = account.settings.get(market_id)
    if setting is None:
        setting = MarketSetting()
        account.settings[market_id] = setting
    return setting


def process_set_leverage(state: State, tx: SetLeverage) -> list[Event]:
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    market = get_market(state, tx.market)
    if not 1 <= tx.leverage <= market.margin.max_leverage:
        raise LeverageTooHigh(f"leverage must be between 1 and {market.margin.max_leverage} in {market.id}")
    old = account.settings.get(tx.market) if account.settings is not None else None
    old_leverage = old.leverage if old is not None else 0
    # Only a lower cap raises the requirement (0 = the market's maximum), so only then is
    # the position re-checked.
    tighter = old_leverage == 0 or tx.leverage < old_leverage
    # APPLY (tentatively; undone below if the position no longer meets initial margin)
    setting = _setting(account, tx.market)
    setting.leverage = tx.leverage
    pos = account.positions.get(tx.market)
    if tighter and pos is not None and pos.size != 0:
        risk = isolated_risk(state, account, tx.market) if pos.isolated else cross_risk(state, account)
        if not risk.meets_initial:
            setting.leverage = old_leverage
            if old is None and account.settings is not None:
                del account.settings[tx.market]
                if not account.settings:
                    account.settings = None
            raise InsufficientMargin(
                f"at {tx.leverage}x the position would need {risk.im} initial margin, "
                f"the account has {risk.value_init}; add collateral or choose higher leverage"
            )
    return [event("LeverageSet", account=format_account(key), market=tx.market, leverage=tx.leverage)]


def process_set_margin_mode(state: State, tx: SetMarginMode) -> list[Event]:
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    market = get_market(state, tx.market)
    if has_expired(state, market):
        raise MarketExpired(f"{tx.market} has expired: its positions wait for Settle; nothing to set")
    if tx.market in account.positions:
        raise PositionOpen(
            f"close the {tx.market} position (and withdraw its isolated margin) before switching mode"
        )
    has_orders = key in market.book.by_account or any(t.account == key for t in market.triggers.values())
    if has_orders:
        raise PositionOpen(f"cancel your {tx.market} orders before switching mode")
    _setting(account, tx.market).isolated = tx.isolated
    return [event("MarginModeSet", account=format_account(key), market=tx.market, isolated=tx.isolated)]


def process_set_portfolio_margin(state: State, tx: SetPortfolioMargin) -> list[Event]:
    """Switch the cross bucket between simple and portfolio margin; the result must meet initial."""
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    if account.portfolio == tx.enabled:
        return [event("PortfolioMarginSet", account=format_account(key), enabled=tx.enabled)]
    if any(not p.isolated and p.size for p in account.positions.values()):
        check_prices_fresh(state, account)
        # The requirement under the new mode, read with the flag switched and switched back
        # whatever happens, so that a refusal leaves the account as it was.
        account.portfolio = tx.enabled
        try:
            risk = cross_risk(state, account)
        finally:
            account.portfolio = not tx.enabled
        if not risk.meets_initial:
            raise InsufficientMargin(
                f"under {'portfolio' if tx.enabled else 'simple'} margin the positions need "
                f"{risk.im} initial margin, the account has {risk.value_init}; "
                "add collateral or reduce positions first"
            )
    # APPLY
    account.portfolio = tx.enabled
    return [event("PortfolioMarginSet", account=format_account(key), enabled=tx.enabled)]


def process_move_isolated_margin(state: State, tx: MoveIsolatedMargin) -> list[Event]:
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    market = get_market(state, tx.market)
    setting = account.settings.get(tx.market) if account.settings is not None else None
    if setting is None or not setting.isolated:
        raise PositionOpen(f"{tx.market} is in cross mode for this subaccount; set it isolated first")
    if tx.amount == 0:
        raise InvalidAmount("amount must be non-zero: > 0 moves margin in, < 0 takes it out")
    if abs(tx.amount) > MAX_AMOUNT:
        raise AmountTooLarge(f"amount exceeds {MAX_AMOUNT} atoms")
    pos = account.positions.get(tx.market)
    if tx.amount > 0:
        if has_expired(state, market):
            raise MarketExpired(f"{tx.market} has expired: no margin goes in; Settle closes it")
        balance = account.balances.get(state.quote, 0)
        if balance < tx.amount:
            raise InsufficientBalance(f"the cross balance holds {max(balance, 0)} quote atoms")
        if account.positions and not cross_risk(state, account, quote_delta=-tx.amount).meets_initial:
            raise InsufficientMargin("the cross bucket would fall below its initial requirement")
    else:
        held = pos.isolated_margin if pos is not None else 0
        # With an open position the margin carries the price paid (negative for a long),
        # so the initial requirement below is the limit; without one, only what is held.
        if (pos is None or pos.size == 0) and held < -tx.amount:
            raise InsufficientBalance(f"the isolated position holds {held} quote atoms")
        if pos is not None and pos.size != 0:
            if is_stale(state, state.feeds[market.asset]):
                raise OracleStale(f"{tx.market}'s index is stale; try again when it is fresh")
            if not isolated_risk(state, account, tx.market, margin_delta=tx.amount).meets_initial:
                raise InsufficientMargin("the isolated position would fall below initial margin")
    # APPLY
    if pos is None:
        pos = Position(0, 0, market.cum_funding, isolated=True)
        account.positions[tx.market] = pos
    pos.isolated_margin += tx.amount
    account.balances[state.quote] = account.balances.get(state.quote, 0) - tx.amount
    if pos.size == 0 and pos.isolated_margin == 0:
        del account.positions[tx.market]
    return [
        event(
            "IsolatedMarginMoved",
            account=format_account(key),
            market=tx.market,
            amount=tx.amount,
        )
    ]


def process_settle_funding(state: State, tx: SettleFunding) -> list[Event]:
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    events: list[Event] = []
    for market_id in sorted(account.positions):
        pos = account.positions[market_id]
        settle_position(state, account, state.markets[market_id], pos, events)
    return events


def process_fund_insurance(state: State, tx: FundInsurance) -> list[Event]:
    """Move quote from a subaccount into a domain's insurance fund; it never comes back."""
    # VALIDATE
    key = (tx.owner, tx.subaccount)
    account = get_account(state, key)
    if tx.domain not in state.domains:
        raise UnknownDomain(f"no risk domain {tx.domain!r}")
    check_amount(tx.amount)
    _check_debit(state, account, key, state.quote, tx.amount)
    # APPLY
    account.balances[state.quote] = account.balances.get(state.quote, 0) - tx.amount
    state.insurance[tx.domain] += tx.amount
    return [
        event(
            "InsuranceFunded",
            account=format_account(key),
            domain=tx.domain,
            amount=tx.amount,
            balance=state.insurance[tx.domain],
        )
    ]
