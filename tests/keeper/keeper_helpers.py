"""
Builders and checks shared by the keeper tests.

``Market`` wraps a Fixture F state, a keeper and ``apply``: every transaction
it applies is observed by the keeper's index, as a node would do. Prices at
the start: BTC 100,000, ETH 2,000, ALT 1 (USDC per unit). In BTC-PERP the
lot is 0.0001 BTC, IMF 10%, MMF 5%.

``derivatives_market()`` is the same on the derivatives deployment (the BTC
future, calls and puts at 90,000 / 100,000 / 110,000 expiring at
``EXPIRY``, one BTC per contract, option lot 0.01 contract, 15% / 7.5%),
with a flat 60% smile reported by all five reporters of ``BTC-30D``.
"""

from dataclasses import dataclass, field

from solvent.core.engine import apply
from solvent.core.events import Event
from solvent.core.fixed import ONE
from solvent.core.state import State, TimeInForce
from solvent.core.tx import Deposit, PlaceOrder, PoolDeposit, PriceReport, SetTime, Tx, VolReport
from solvent.core.units import AccountKey, to_atoms
from solvent.defaults import GENESIS_TIME, address_of, reporters, usd
from solvent.keeper import Keeper, RiskIndex, exact_risk
from solvent.keeper.risk_index import CROSS, RowKey
from solvent.scenario import start_state

START = {"BTC": "100000", "ETH": "2000", "ALT": "1", "USDT": "1"}
QUOTE = 10**6
EXPIRY = GENESIS_TIME + 30 * 86_400  # every dated series of the derivatives deployment
VOL_FEED = "BTC-30D"
VOL_REPORTERS = tuple(address_of(f"btc-vol-{i}") for i in range(1, 6))
OPTIONS = ("BTC-30D-C-100000", "BTC-30D-P-100000", "BTC-30D-C-110000", "BTC-30D-P-90000")


def size(text: str) -> int:
    """Base units (``"0.5"``) in size atoms."""
    return to_atoms(text, 8)


def key(name: str, sub: int = 0) -> AccountKey:
    return (address_of(name), sub)


def prices_txs(state: State, asset: str, price: str) -> list[Tx]:
    return [PriceReport(r, asset, usd(price), state.time) for r in reporters(asset)]


@dataclass
class Market:
    """A Fixture F state whose every transaction the keeper observes."""

    state: State = field(default_factory=lambda: start_state("fixture_f"))
    keeper: Keeper = field(default_factory=lambda: Keeper(address_of("keeper")))
    log: list[tuple[Tx, list[Event]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keeper.index = RiskIndex.from_state(self.state)

    @property
    def index(self) -> RiskIndex:
        assert self.keeper.index is not None
        return self.keeper.index

    def apply(self, tx: Tx) -> list[Event]:
        events = apply(self.state, tx)
        self.keeper.observe(self.state, events)
        self.log.append((tx, events))
        return events

    def prices(self, **prices: str) -> None:
        for asset, price in prices.items():
            for tx in prices_txs(self.state, asset, price):
                self.apply(tx)

    def start(self) -> "Market":
        self.prices(**START)
        return self

    def vols(self, atm: float, skew: float = 0.0, curvature: float = 0.0) -> None:
        """Every reporter of BTC-30D reports this smile (ratios: 0.6 = 60%)."""
        params = [round(x * 10**6) * (ONE // 10**6) for x in (atm, skew, curvature)]
        for reporter in VOL_REPORTERS:
            self.apply(VolReport(reporter, VOL_FEED, *params, self.state.time))

    def advance(self, seconds: int) -> None:
        self.apply(SetTime(self.state.time + seconds))

    def deposit(self, name: str, amount: str, asset: str = "USDC", sub: int = 0) -> None:
        decimals = self.state.assets[asset].decimals
        self.apply(Deposit(address_of(name), sub, asset, to_atoms(amount, decimals)))

    def fund_pool(self, amount: str, lp: str = "lp") -> None:
        self.deposit(lp, amount)
        self.apply(PoolDeposit(address_of(lp), 0, "LP", usd(amount)))

    def trade(
        self,
        taker: str,
        market: str,
        side: str,
        amount: str,
        price: str | None = None,
        maker: str = "maker",
        sub: int = 0,
        reduce_only: bool = False,
    ) -> None:
        """``maker`` rests the opposite side at ``price`` (default: the mark on the tick),
        ``taker`` takes it (IOC).
        """
        is_buy = side == "buy"
        m = self.state.markets[market]
        limit = usd(price) if price is not None else m.mark_price // m.tick * m.tick
        qty = size(amount)
        self.apply(PlaceOrder(address_of(maker), 0, market, not is_buy, qty, limit))
        self.apply(
            PlaceOrder(address_of(taker), sub, market, is_buy, qty, limit, TimeInForce.IOC, reduce_only)
        )

    def bid(self, name: str, market: str, amount: str, price: str, is_buy: bool = True) -> None:
        self.apply(PlaceOrder(address_of(name), 0, market, is_buy, size(amount), usd(price)))


def derivatives_market() -> Market:
    """The derivatives deployment at its genesis, every feed reported, a flat 60% smile."""
    m = Market(state=start_state("derivatives"))
    m.start()
    m.vols(0.6)
    return m


def all_rows(state: State) -> list[RowKey]:
    """Every bucket of the state: each cross bucket and each isolated position."""
    rows: list[RowKey] = []
    for (owner, sub), account in state.accounts.items():
        rows.append((owner, sub, CROSS))
        rows.extend((owner, sub, m) for m, p in account.positions.items() if p.isolated and p.size)
    return rows


def exact_liquidatable(state: State) -> set[RowKey]:
    found = set()
    for row in all_rows(state):
        risk = exact_risk(state, row)
        if risk is not None and risk.is_liquidatable:
            found.add(row)
    return found


def check_index(state: State, index: RiskIndex) -> None:
    """The screen holds every liquidatable bucket, and the incremental index equals a
    full recompute from the state within the screening tolerance.
    """
    screen = index.screen(state)
    missed = exact_liquidatable(state) - set(screen.keys)
    assert not missed, f"the screen missed {missed}"
    full = RiskIndex.from_state(state)
    tol = index.tolerance(state)
    for row_key, row in full.row_of.items():
        mine = index.row_of.get(row_key)
        assert mine is not None, f"{row_key} is not indexed"
        assert index.alive[mine]
        assert index.nhold[mine] == full.nhold[row]
        gross = float(full.gross[row])
        assert abs(float(index.gross[mine]) - gross) <= 1e-9 * gross + 1.0
        assert abs(float(index.h[mine]) - float(full.h[row])) <= tol * gross + 1.0, row_key
    alive = {k for k, r in index.row_of.items() if index.alive[r]}
    assert alive == set(full.row_of), alive ^ set(full.row_of)


def check_model(state: State, index: RiskIndex, atoms_per_holding: float = 4.0) -> None:
    """Each row's estimate is within a few atoms per holding (plus float error and unbooked
    funding) of the exact health.
    """
    tol = index.tolerance(state) - 1e-6 + 1e-12
    for row in all_rows(state):
        risk = exact_risk(state, row)
        assert risk is not None
        estimate, gross = index.estimate(row)
        n = int(index.nhold[index.row_of[row]])
        assert abs(estimate - risk.health) <= atoms_per_holding * n + tol * gross + 1e-6, (
            row,
            estimate,
            risk.health,
        )
