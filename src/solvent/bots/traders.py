"""
Traders: leveraged directional accounts, and a background flow of small market orders.

Introduction
------------
A ``Trader`` holds one position in one market: when flat it opens a long or
a short of ``leverage`` times its equity (the account's initial-weighted
value from ``/accounts``) with a market order (IOC, no further than
``slippage`` from the index), and then holds it, whatever happens. Before
sending it asks ``POST /preview`` whether the core would accept the order
and shrinks it by a fifth until it would: the initial requirement rises
with volatility (``core.margin``), so "9x" at a calm open is less later.
A trader that was closed out (liquidated) opens again after ``cooldown``
rounds, ``reentries`` times: the dip buyers who keep a crash supplied with
accounts to liquidate.

``Flow`` sends, every round, one small market order per live market, of a
random side and size (a seeded ``random.Random``, so a run is repeatable),
leaning against its position beyond ``max_position``: the venue's ordinary
business, which keeps trades going between the crash's big moments.
"""

import random
from dataclasses import dataclass
from typing import Any

from solvent.bots.tally import Tally, applied, send
from solvent.core.state import TimeInForce
from solvent.core.tx import PlaceOrder
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.sdk import Client, NodeError

BPS = 10_000


@dataclass(frozen=True, slots=True)
class TraderSpec:
    name: str  # the dev key name of its account
    market: str
    is_long: bool
    leverage_x10: int  # leverage in tenths: 95 = 9.5x
    deposit: int  # quote atoms the operator credits
    reentries: int = 0  # times it opens again after being closed out
    cooldown: int = 0  # rounds it waits before opening again


def market_order(
    owner: str, market: dict[str, Any], is_buy: bool, size: int, slippage_bps: int
) -> PlaceOrder:
    """An IOC market order that fills no further than ``slippage_bps`` from the index."""
    index, tick = market["index"], market["tick"]
    if is_buy:
        worst = -(-index * (BPS + slippage_bps) // BPS // tick) * tick
    else:
        worst = index * (BPS - slippage_bps) // BPS // tick * tick
    return PlaceOrder(owner, 0, market["id"], is_buy, size, None, TimeInForce.IOC, worst_price=worst)


def live(market: dict[str, Any] | None) -> bool:
    """Whether a market takes new risk now: it has an index and no breaker."""
    return market is not None and bool(market["index"]) and not market["breakers"]


class Trader:
    """One leveraged position, opened again after a close-out while re-entries last."""

    def __init__(self, url: str, key: bytes, spec: TraderSpec, tally: Tally, slippage_bps: int = 150) -> None:
        self.client = Client(url, key)
        self.spec = spec
        self.tally = tally
        self.slippage_bps = slippage_bps
        self.opened = 0
        self.holding = False
        self.wait_until = 0

    @property
    def address(self) -> str:
        return self.client.address

    def step(self, round_no: int, markets: dict[str, dict[str, Any]]) -> None:
        spec = self.spec
        market = markets.get(spec.market)
        if market is None or not live(market):
            return
        view = self.client.account()
        size = next((p["size"] for p in view["positions"] if p["market"] == spec.market), 0)
        if size:
            self.holding = True
            return
        if self.holding:  # closed out since the last look
            self.holding = False
            self.wait_until = round_no + spec.cooldown
        if self.opened > spec.reentries or round_no < self.wait_until:
            return
        equity = view["risk"]["value_init"]
        if equity < usd("100"):
            return
        lot = market["lot"]
        size = equity * spec.leverage_x10 * SIZE_ONE // (10 * market["index"]) // lot * lot
        order = self._acceptable(market, size)
        if order is None:
            return
        (receipt,) = send(self.client, [order], self.tally)
        if applied(receipt) and any(ev["kind"] == "Fill" for ev in receipt["events"]):
            self.opened += 1
            self.holding = True

    def _acceptable(self, market: dict[str, Any], size: int) -> PlaceOrder | None:
        """The largest order, from ``size`` down by fifths, that the core would accept now."""
        lot = market["lot"]
        for _ in range(8):
            if size < lot:
                return None
            order = market_order(self.address, market, self.spec.is_long, size, self.slippage_bps)
            try:
                self.client.preview(order)
            except NodeError as error:
                if error.name not in ("InsufficientMargin", "OICapExceeded"):
                    return None
                size = size * 4 // 5 // lot * lot
                continue
            return order
        return None

    def close(self) -> None:
        self.client.close()


class Flow:
    """Small random market orders on every live market, each round."""

    def __init__(
        self,
        url: str,
        key: bytes,
        tally: Tally,
        seed: int = 20200312,
        notional: tuple[int, int] = (usd("2000"), usd("25000")),
        max_position: int = usd("250000"),
        slippage_bps: int = 150,
    ) -> None:
        self.client = Client(url, key)
        self.tally = tally
        self.random = random.Random(seed)
        self.notional = notional
        self.max_position = max_position
        self.slippage_bps = slippage_bps

    @property
    def address(self) -> str:
        return self.client.address

    def step(self, markets: dict[str, dict[str, Any]]) -> None:
        view = self.client.account()
        held = {p["market"]: p["size"] for p in view["positions"]}
        orders = []
        for market_id in sorted(markets):
            market = markets[market_id]
            if not live(market) or market["kind"] != "PERPETUAL":
                continue
            position = held.get(market_id, 0) * market["index"] // SIZE_ONE
            is_buy = self.random.random() < 0.5
            if abs(position) > self.max_position:
                is_buy = position < 0  # lean against the position
            notional = self.random.randint(*self.notional)
            lot = market["lot"]
            size = max(lot, notional * SIZE_ONE // market["index"] // lot * lot)
            orders.append(market_order(self.address, market, is_buy, size, self.slippage_bps))
        send(self.client, orders, self.tally)

    def close(self) -> None:
        self.client.close()
