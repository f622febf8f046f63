"""ADV-09 at full size: a cascade of 100 accounts with the reference keeper acting every block.

The scenario file ADV-09 replays 10 accounts line by line; this drives the
catalogue's 100 accounts x 10,000 USDC long 0.95 BTC at 100,000 through
``apply`` with ``solvent.keeper.Keeper`` running after every price block,
while the index falls 100,000 -> 92,000 in four steps of 2,000.
"""

from solvent.core.engine import apply
from solvent.core.events import Event
from solvent.core.margin import cross_risk
from solvent.core.state import State, TimeInForce
from solvent.core.tx import Deposit, PlaceOrder, PoolDeposit, PriceReport, SetTime
from solvent.core.units import SIZE_ONE
from solvent.defaults import address_of, reporters, usd
from solvent.keeper import Keeper
from solvent.scenario import check_conservation, open_interest_gaps, start_state

TRADERS = [address_of(f"cascade-{i}") for i in range(100)]
MAKER = address_of("cascade-maker")
BIDDER = address_of("cascade-bidder")
LP = address_of("cascade-lp")


def report(state: State, price: int) -> list[Event]:
    events = apply(state, SetTime(state.time + 30))
    for reporter in reporters("BTC"):
        events += apply(state, PriceReport(reporter, "BTC", price, state.time))
    return events


def setup() -> State:
    state = start_state()
    report(state, usd("100000"))
    for owner, amount in ((MAKER, "50000000"), (BIDDER, "50000000"), (LP, "20000000")):
        apply(state, Deposit(owner, 0, "USDC", usd(amount)))
    apply(state, PoolDeposit(LP, 0, "LP", usd("20000000")))
    size = SIZE_ONE * 95 // 100
    apply(state, PlaceOrder(MAKER, 0, "BTC-PERP", False, size * 100, usd("100000")))
    for trader in TRADERS:
        # The order check charges the taker fee at the limit (47.5): deposit it, then take it back.
        apply(state, Deposit(trader, 0, "USDC", usd("10047.5")))
        apply(state, PlaceOrder(trader, 0, "BTC-PERP", True, size, usd("100000"), TimeInForce.IOC))
    return state


def test_cascade_of_100_accounts_with_a_keeper_every_block() -> None:
    state = setup()
    keeper = Keeper(address_of("cascade-keeper"))
    fund = [state.insurance["MAJ"]]
    liquidated_at: dict[str, int] = {}
    for price in ("98000", "96000", "94000", "92000"):
        report(state, usd(price))
        # Deep bids inside the band after each move: the short maker buys back (no new open interest).
        apply(state, PlaceOrder(MAKER, 0, "BTC-PERP", True, 25 * SIZE_ONE, usd(price) - usd("200")))
        crossed = [t for t in TRADERS if cross_risk(state, state.accounts[(t, 0)]).is_liquidatable]
        outcomes = keeper.run(state)
        for tx, result in outcomes:
            assert isinstance(result, list), f"{tx} refused: {result}"
            assert not any(e.kind in ("InsurancePaid", "Deleveraged", "SocialisedLoss") for e in result)
            liquidated_at.setdefault(tx.owner, usd(price))  # type: ignore[union-attr]
        # Every account that crossed maintenance was liquidated in this block, partially.
        assert sorted(tx.owner for tx, _ in outcomes) == sorted(crossed)  # type: ignore[union-attr]
        for trader in TRADERS:
            account = state.accounts[(trader, 0)]
            assert not cross_risk(state, account).is_liquidatable
            assert cross_risk(state, account).value_maint > 0  # bad debt 0
        fund.append(state.insurance["MAJ"])
        assert all(gap == 0 for gap in check_conservation(state).values())
        assert open_interest_gaps(state) == {}
    assert set(liquidated_at) == set(TRADERS)
    assert min(liquidated_at.values()) == usd("94000")  # the first crossing, as the catalogue says
    assert fund == sorted(fund) and fund[-1] > fund[0]  # the fund only grows
    positions = [state.accounts[(t, 0)].positions.get("BTC-PERP") for t in TRADERS]
    assert all(p is not None and 0 < p.size < SIZE_ONE * 95 // 100 for p in positions)  # partial
