"""
Shared builders for the core unit tests.

``ready_state()`` returns Fixture F at ``T0`` with every feed reported by all
five of its reporters and a few named role accounts funded in USDC. Prices
at T0: BTC 100,000, ETH 2,000, ALT 2, USDT 1 (USDC per unit). So in
BTC-PERP: tick 0.1 USDC = 100_000 price units, lot 0.0001 BTC = 10_000 size
atoms, minimum notional 10 USDC, IMF 10%, MMF 5%, maker fee 0.02%, taker fee
0.05%, limit prices within mark * (1 ± 5%), mark within index * (1 ± 0.5%).

Role names stand for addresses through ``defaults.address_of``.
"""

from collections.abc import Iterable

import pytest

from solvent.core.engine import apply, genesis
from solvent.core.errors import ProtocolError
from solvent.core.events import Event, EventValue
from solvent.core.hashing import state_hash
from solvent.core.state import State, TimeInForce
from solvent.core.tx import Deposit, PlaceOrder, PriceReport, SetTime, Tx
from solvent.core.units import AccountKey, format_account, to_atoms
from solvent.defaults import GENESIS_TIME, GOVERNOR, address_of, fixture_f, reporters, usd

T0 = GENESIS_TIME
BTC_PERP = "BTC-PERP"
USDC = "USDC"

# USDC funded per role (as decimal strings) by ``ready_state`` unless a test asks otherwise.
DEFAULT_FUNDS: dict[str, str] = {
    "maker": "1000000",
    "maker2": "1000000",
    "taker": "100000",
    "liquidator": "100000",
    "lp": "1000000",
}
START_PRICES: dict[str, str] = {"BTC": "100000", "ETH": "2000", "ALT": "2", "USDT": "1"}


def addr(role: str) -> str:
    """Return the address a role name stands for."""
    return address_of(role)


def key(role: str, sub: int = 0) -> AccountKey:
    """Return the account key of a role's subaccount."""
    return (address_of(role), sub)


def acct(role: str, sub: int = 0) -> str:
    """Return the account as events print it (``owner/subaccount``)."""
    return format_account(key(role, sub))


def btc(text: str) -> int:
    """Return a base-unit amount such as ``"0.25"`` in size atoms (10**-8)."""
    return to_atoms(text, 8)


def report(state: State, asset: str, price: int, t: int | None = None) -> list[Event]:
    """Move the clock to ``t`` (if given) and have all five reporters of ``asset`` report ``price`` at it."""
    now = state.time if t is None else t
    if now != state.time:
        apply(state, SetTime(now))
    events: list[Event] = []
    for reporter in reporters(asset):
        events += apply(state, PriceReport(reporter, asset, price, now))
    return events


def listed_state() -> State:
    """Return Fixture F at T0: assets, feeds, markets and the pool listed; no reports, no accounts."""
    state = genesis(GOVERNOR)
    apply(state, SetTime(T0))
    for tx in fixture_f():
        apply(state, tx)
    return state


def ready_state(funds: dict[str, str] | None = None) -> State:
    """Return Fixture F at T0 with all feeds reported and the role accounts funded."""
    state = listed_state()
    for asset, price in START_PRICES.items():
        report(state, asset, usd(price))
    for role, amount in (DEFAULT_FUNDS if funds is None else funds).items():
        apply(state, Deposit(addr(role), 0, USDC, usd(amount)))
    return state


def place(
    state: State,
    role: str,
    is_buy: bool,
    size: int,
    price: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    market: str = BTC_PERP,
    sub: int = 0,
    reduce_only: bool = False,
    client_id: int | None = None,
    worst_price: str | None = None,
) -> list[Event]:
    """Place an order for a role; prices are USD strings."""
    tx = PlaceOrder(
        addr(role),
        sub,
        market,
        is_buy,
        size,
        usd(price) if price is not None else None,
        tif,
        reduce_only,
        client_id,
        usd(worst_price) if worst_price is not None else None,
    )
    return apply(state, tx)


def kinds(events: Iterable[Event]) -> list[str]:
    """Return the kinds of the events, in order."""
    return [e.kind for e in events]


def of_kind(events: Iterable[Event], kind: str) -> list[dict[str, EventValue]]:
    """Return the data of every event of one kind, in order."""
    return [e.data for e in events if e.kind == kind]


def balance(state: State, role: str, sub: int = 0, asset: str = USDC) -> int:
    """Return a role's balance of an asset in atoms."""
    return state.accounts[key(role, sub)].balances.get(asset, 0)


def position(state: State, role: str, market: str = BTC_PERP, sub: int = 0) -> int:
    """Return a role's signed position size in size atoms (0 when flat)."""
    pos = state.accounts[key(role, sub)].positions.get(market)
    return pos.size if pos is not None else 0


def refused(state: State, tx: Tx, error: type[ProtocolError]) -> ProtocolError:
    """Apply ``tx`` expecting exactly ``error``; check that the state hash did not change."""
    before = state_hash(state)
    with pytest.raises(ProtocolError) as info:
        apply(state, tx)
    assert type(info.value) is error, f"expected {error.name}, got {info.value.name}: {info.value}"
    assert state_hash(state) == before, f"{error.name} changed the state"
    return info.value
