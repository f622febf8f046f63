"""
What the bots' transactions did, counted from their receipts; and the one way they send.

Introduction
------------
Every bot writes through ``send`` (``POST /txs``, waiting for the block):
one request carries a bot's whole action of a round (a market maker's
cancel and quotes, a keeper's pass of liquidations, every reporter's
report), and each receipt holds the events of its transaction. ``Tally``
adds them up: fills, liquidations and their penalties, insurance payments,
socialised loss, uncovered deficits, ADL, breakers, refusals. Since every
transaction of the demo is a bot's, the tally is what the log holds, except
for the events of the block clock itself (``SetTime``: stale-feed breakers),
which no receipt carries; ``tests/node/test_demo_node.py`` checks the tally
against a replay of the log.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from solvent.core.tx import Tx
from solvent.sdk import Client, NodeError


@dataclass(slots=True)
class Tally:
    txs: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # error name -> count
    kinds: Counter[str] = field(default_factory=Counter)  # event kind -> count
    fill_notional: int = 0
    liquidated_notional: int = 0
    keeper_rewards: int = 0
    insurance_fees: int = 0  # the funds' part of liquidation penalties
    insurance_paid: int = 0  # deficits the funds covered
    socialised_loss: int = 0
    uncovered_deficit: int = 0
    breakers: Counter[str] = field(default_factory=Counter)  # "MARKET breaker" -> trips
    liquidated: Counter[str] = field(default_factory=Counter)  # account -> Liquidated events

    def record(self, receipt: dict[str, Any]) -> None:
        self.txs += 1
        if receipt["status"] != "applied":
            self.refused[str(receipt.get("error", {}).get("error", "Refused"))] += 1
        for ev in receipt.get("events", ()):
            kind = ev["kind"]
            self.kinds[kind] += 1
            if kind == "Fill":
                self.fill_notional += ev["notional"]
            elif kind == "Liquidated":
                self.liquidated_notional += ev["notional"]
                self.keeper_rewards += ev["keeper_reward"]
                self.insurance_fees += ev["insurance_fee"]
                self.liquidated[ev["account"]] += 1
            elif kind == "InsurancePaid":
                self.insurance_paid += ev["amount"]
            elif kind == "SocialisedLoss":
                self.socialised_loss += ev["amount"]
            elif kind == "UncoveredDeficit":
                self.uncovered_deficit += ev["amount"]
            elif kind == "BreakerTripped":
                self.breakers[f"{ev['market']} {ev['breaker']}"] += 1

    @property
    def fills(self) -> int:
        return self.kinds["Fill"]

    @property
    def liquidations(self) -> int:
        return self.kinds["Liquidated"]

    @property
    def adl_events(self) -> int:
        return self.kinds["Deleveraged"]


def post(client: Client, bodies: list[dict[str, Any]], tally: Tally) -> list[dict[str, Any]]:
    """Submit signed bodies (of any signers) in one request; wait for the block; tally them."""
    if not bodies:
        return []
    response = client.http.post("/txs", params={"wait": True}, json=bodies)
    result = response.json()
    if response.status_code >= 400:
        raise NodeError(int(result.get("code", response.status_code)), result["error"], result["message"])
    for receipt in result:
        tally.record(receipt)
    receipts: list[dict[str, Any]] = result
    return receipts


def send(client: Client, txs: Sequence[Tx], tally: Tally) -> list[dict[str, Any]]:
    """Sign ``txs`` with the client's key and submit them in one request."""
    return post(client, [client.sign(tx) for tx in txs], tally)


def applied(receipt: dict[str, Any]) -> bool:
    return bool(receipt["status"] == "applied")


def error_name(receipt: dict[str, Any]) -> str:
    return str(receipt.get("error", {}).get("error", ""))
