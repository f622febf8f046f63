"""
A keeper that works only through the API: finds accounts below maintenance and liquidates them.

Introduction
------------
``solvent.keeper.Keeper`` scans a ``State`` it holds; a keeper on a node
holds no state, so ``KeeperBot`` keeps its own picture from the API:

* **Accounts**: it reads every new block (``/blocks/{height}``) and notes the
  accounts its transactions name (owner and subaccount, a keeper's account).
  A position only arises from an account's own order, or from a liquidation
  handing it to an ADL counterparty that already holds one, so an account
  found flat is read again only once a new block names it. (A pool's own
  account, which no transaction names, is not followed: the deployment's
  pool is empty.)
* **Risk**: ``/accounts/{owner}/{sub}`` carries the core's exact risk of the
  cross bucket and of each isolated bucket (``liquidatable``: value below
  maintenance), so no estimate decides anything. Candidates are taken most
  underwater first (health / maintenance requirement), ties by account, as
  ``keeper.Underwater`` orders them.
* **Which market**: in a cross bucket the core takes the position with the
  largest maintenance requirement first (``WrongLiquidationOrder``
  otherwise). The API does not show each position's requirement, so the
  keeper tries them largest notional first and moves to the next on that
  refusal.

Each pass sends one request with a ``Liquidate`` per candidate, signed with
the keeper's key (rewards go to its account, which must exist: the demo
funds it), then reads the candidates again, for at most ``max_passes``
while some liquidation is applied: a partial close that met the book's
depth leaves the account liquidatable for the next pass. Refusals that hold
for a market until time passes (``LiquidationCapReached``, ``OracleStale``,
``MarketPaused``, ``NoLiquidityInBand``) stop that market for the round.
"""

from typing import Any

from solvent.bots.tally import Tally, applied, error_name, send
from solvent.core.margin import Risk
from solvent.core.tx import Liquidate
from solvent.core.units import SIZE_ONE, AccountKey
from solvent.keeper.keeper import Underwater
from solvent.keeper.risk_index import CROSS
from solvent.sdk import Client, NodeError

BLOCKING = frozenset({"LiquidationCapReached", "OracleStale", "MarketPaused", "NoLiquidityInBand"})
WRONG_ORDER = "WrongLiquidationOrder"


def accounts_named(payload: dict[str, Any]) -> set[AccountKey]:
    """The accounts a transaction payload names (JSON of ``core.codec``)."""
    found: set[AccountKey] = set()
    owner = payload.get("owner")
    if isinstance(owner, str):
        for field in ("subaccount", "from_subaccount", "to_subaccount"):
            sub = payload.get(field)
            if isinstance(sub, int):
                found.add((owner.lower(), sub))
    keeper, sub = payload.get("keeper"), payload.get("keeper_subaccount")
    if isinstance(keeper, str) and isinstance(sub, int):
        found.add((keeper.lower(), sub))
    return found


def risk_of(view: dict[str, Any]) -> Risk:
    return Risk(view["value_init"], view["value_maint"], view["im"], view["mm"])


class KeeperBot:
    """Liquidates, through signed ``Liquidate`` transactions, every account the core finds below
    maintenance."""

    def __init__(self, url: str, key: bytes, tally: Tally, max_passes: int = 5) -> None:
        self.client = Client(url, key)
        self.tally = tally
        self.max_passes = max_passes
        self.height = 0  # the last block read
        self.known: set[AccountKey] = set()
        self.flat: set[AccountKey] = set()  # no position when last read, not named since
        self.liquidations = 0  # applied, all rounds
        self.refusals = 0

    @property
    def address(self) -> str:
        return self.client.address

    def discover(self) -> None:
        """Read the blocks since the last call; note the accounts they name."""
        top = int(self.client.get("/health")["height"])
        for height in range(self.height + 1, top + 1):
            block = self.client.get(f"/blocks/{height}")
            for submission in block["txs"]:
                for key in accounts_named(submission["tx"]):
                    self.known.add(key)
                    self.flat.discard(key)
        self.height = top

    def underwater(self) -> list[tuple[Underwater, dict[str, Any]]]:
        """Every liquidatable bucket of the known accounts, deepest first, with its account view."""
        found: list[tuple[Underwater, dict[str, Any]]] = []
        for key in sorted(self.known - self.flat):
            if key[0] == self.address:
                continue  # the core refuses a keeper liquidating its own owner
            try:
                view = self.client.account(key[0], key[1])
            except NodeError:
                continue  # named by a refused transaction, never created
            if not view["positions"]:
                self.flat.add(key)
                continue
            if view["risk"]["liquidatable"]:
                found.append((Underwater(key, CROSS, risk_of(view["risk"])), view))
            for market_id, risk in sorted(view["isolated"].items()):
                if risk["liquidatable"]:
                    found.append((Underwater(key, market_id, risk_of(risk)), view))
        found.sort(key=lambda item: (item[0].ratio, item[0].row))
        return found

    def step(self) -> int:
        """Liquidate until nothing more can be done this round; return how many were applied."""
        self.discover()
        blocked: set[str] = set()
        wrong: set[tuple[AccountKey, str]] = set()
        done = 0
        for _ in range(self.max_passes):
            txs: list[Liquidate] = []
            for under, view in self.underwater():
                market = self._market(under, view, blocked, wrong)
                if market is not None:
                    txs.append(Liquidate(self.address, 0, under.key[0], under.key[1], market))
            if not txs:
                break
            before, retry = done, False
            for tx, receipt in zip(txs, send(self.client, txs, self.tally), strict=True):
                if applied(receipt):
                    done += 1
                    continue
                self.refusals += 1
                name = error_name(receipt)
                if name in BLOCKING:
                    blocked.add(tx.market)
                elif name == WRONG_ORDER:
                    wrong.add(((tx.owner, tx.subaccount), tx.market))
                    retry = True
            if done == before and not retry:
                break
        self.liquidations += done
        return done

    @staticmethod
    def _market(
        under: Underwater, view: dict[str, Any], blocked: set[str], wrong: set[tuple[AccountKey, str]]
    ) -> str | None:
        """The market to liquidate in this bucket: the isolated position, or the cross position of
        largest notional not yet refused as out of order."""
        if under.bucket != CROSS:
            return None if under.bucket in blocked else under.bucket
        cross = [p for p in view["positions"] if not p["isolated"] and p["size"]]
        cross.sort(key=lambda p: (-abs(p["size"]) * p["mark"] // SIZE_ONE, p["market"]))
        for position in cross:
            market: str = position["market"]
            if market in blocked:
                return None  # the one the core wants may be this one: wait for the next round
            if (under.key, market) not in wrong:
                return market
        return None

    def close(self) -> None:
        self.client.close()
