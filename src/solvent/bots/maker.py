"""
A market maker: layered quotes around the index, skewed against its inventory.

Introduction
------------
Each ``step`` reads its own account and, given ``/markets``, sends in one
request ``CancelAll`` followed by fresh ``PlaceOrder``s (GTC) on every
market that has an index and no breaker: one bid and one ask per level, at
``offsets`` basis points from a centre that is the index moved against the
inventory (long: lower, to sell more than buy), each of ``level_notional``.
Past ``max_inventory`` notional it stops quoting the side that would add to
its position. Cancel-all-then-place in one request keeps the book from ever
holding stale quotes across a round: the sequencer applies a request's
transactions in order, usually in one block. ``pull`` cancels everything
before the oracle's next round: a report samples the book's premium over
the index (``core.funding``), and an hour-old quote against a price that
just fell 9% would read as a 9% premium, trip the divergence breaker and
set funding from a book nobody would leave standing.

In a halted market (stale feed, held jump, reduce-only breaker) nothing
rests (``core.orders``), so the maker skips it until the breaker clears.
Its quotes are also where the keeper's liquidations fill: the core closes a
liquidated position against the book within ``liq_band`` of the mark.
"""

from dataclasses import dataclass
from typing import Any

from solvent.bots.tally import Tally, send
from solvent.core.tx import CancelAll, PlaceOrder, Tx
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.sdk import Client

BPS = 10_000


@dataclass(frozen=True, slots=True)
class MakerParams:
    offsets: tuple[int, ...] = (10, 25, 50, 90, 150)  # basis points from the centre, per level
    level_notional: int = usd("60000")  # quote atoms per level and side
    max_inventory: int = usd("1500000")  # |position notional| past which the adding side stops
    skew_bps: int = 30  # the centre moves against the inventory by this much at max_inventory


class MarketMaker:
    """Quotes every live market from one account."""

    def __init__(self, url: str, key: bytes, tally: Tally, params: MakerParams | None = None) -> None:
        self.client = Client(url, key)
        self.tally = tally
        self.params = params or MakerParams()
        self.quotes_sent = 0
        self.quoting = False

    @property
    def address(self) -> str:
        return self.client.address

    def pull(self) -> None:
        """Cancel every quote: before the next oracle round, so that no report samples the
        premium against quotes made at the last price."""
        if self.quoting:
            send(self.client, [CancelAll(self.address, 0, None)], self.tally)
            self.quoting = False

    def step(self, markets: list[dict[str, Any]]) -> None:
        view = self.client.account()
        held = {p["market"]: p["size"] for p in view["positions"]}
        txs: list[Tx] = [CancelAll(self.address, 0, None)]
        for market in markets:
            if market["index"] and not market["breakers"] and market["kind"] == "PERPETUAL":
                txs += self.quotes(market, held.get(market["id"], 0))
        send(self.client, txs, self.tally)
        self.quotes_sent += len(txs) - 1
        self.quoting = len(txs) > 1

    def quotes(self, market: dict[str, Any], size: int) -> list[Tx]:
        p = self.params
        index, tick, lot = market["index"], market["tick"], market["lot"]
        inventory = size * index // SIZE_ONE
        skew = max(-p.skew_bps, min(p.skew_bps, p.skew_bps * inventory // p.max_inventory))
        centre = index * (BPS - skew) // BPS
        orders: list[Tx] = []
        for offset in p.offsets:
            bid = centre * (BPS - offset) // BPS // tick * tick
            ask = -(-centre * (BPS + offset) // BPS // tick) * tick
            if inventory < p.max_inventory:
                orders.append(self._order(market, True, bid, lot))
            if inventory > -p.max_inventory:
                orders.append(self._order(market, False, ask, lot))
        return orders

    def _order(self, market: dict[str, Any], is_buy: bool, price: int, lot: int) -> PlaceOrder:
        size = max(lot, self.params.level_notional * SIZE_ONE // price // lot * lot)
        return PlaceOrder(self.address, 0, market["id"], is_buy, size, price)

    def close(self) -> None:
        self.client.close()
