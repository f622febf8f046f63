"""
Chain congestion: blocks, an EIP-1559 base fee that spikes with volatility, and fee-too-low delays.

Introduction
------------
Keepers and users of a venue that settles on a public chain reach it
through that chain's blocks, and in a crash everyone wants block space at
once. On Black Thursday (12-13 March 2020) Ethereum was congested and gas
prices spiked while ETH fell by about half (the shipped Binance bars: a close
of 193.31 at midnight UTC on the 12th, a bar low of 86 at 02:00 on the 13th).
MakerDAO's collateral auctions ran through it; keepers whose bidding
transactions were priced for normal gas were reportedly left waiting, some
auctions were won with bids of zero DAI, and the protocol was left with bad
debt that it covered by minting and auctioning MKR; its price feed lagged
the market too. Sources: MakerDAO's "Black Thursday Response Thread"
(forum.makerdao.com/t/black-thursday-response-thread/1433) and Dragonfly
Research, "Daos Ex Machina: An In-Depth Timeline of Maker's Recent Crisis"
(March 2020); the figures reported there are not reproduced here. Ethereum
then priced gas by first-price auction; this model uses the EIP-1559 base
fee that replaced it (August 2021), which makes the same mechanism
explicit: a transaction whose maximum fee is below the block's base fee
waits, and is dropped when it has waited too long.

The model, per block (one every ``block_time_s``, anchored at the first time
the model is told):

1. our pending transactions submitted before the block whose ``max_fee`` is
   at least the base fee are included, highest ``max_fee`` first (then in
   submission order), while their gas fits the block's ``gas_limit``; those
   left behind that have waited ``drop_after_s`` are dropped;
2. the rest of the block is filled by other users' demand
       D = target * (fee_eq(vol) / base_fee) ** demand_elasticity * exp(noise * Z)
       fee_eq(vol) = calm_fee * max(1, vol / vol_ref) ** vol_exponent
   where ``vol`` is the annualised realised volatility the lab passes in
   (``paths.rolling_vol``) and Z ~ N(0, 1) is drawn once per block: demand
   rises with volatility, and falls as the base fee rises above what users
   will pay, so the fee climbs towards fee_eq(vol) and back;
3. the base fee moves by EIP-1559's rule, in integer wei, from how full the
   block was against its target (``gas_limit / elasticity``):
       used > target: fee' = fee + max(fee * (used - target) // target // 8, 1)
       used < target: fee' = fee - fee * (target - used) // target // 8
   so by at most 12.5% a block: a spike from 20 to 160 gwei takes about 18
   blocks, 3.5 minutes, and a keeper that priced its transaction for the
   fee before the spike waits until the fee comes back down or it is dropped.

The parameters are illustrative, not calibrated to any chain's history.
With ``enabled=False`` there is no congestion: every transaction submitted
is included in the next block, whatever its fee. The model draws from
``random.Random(seed)``, one draw per block, so the same seed and the same
calls give the same blocks and inclusions.

Glossary
--------
wei         10**-18 ETH; fees are integers in wei, ``gwei`` = 10**9 wei
base fee    the minimum fee per gas of a block (EIP-1559), burnt
max_fee     the most a transaction pays per gas; below the base fee it waits
target      gas_limit // elasticity: the gas per block the fee steers to
"""

import math
import random
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

GWEI = 10**9  # wei per gwei
BASE_FEE_CHANGE_DENOMINATOR = 8  # EIP-1559: at most 1/8 = 12.5% per block

K = TypeVar("K", bound=Hashable)


def gwei(amount: float) -> int:
    """Return ``amount`` gwei in wei."""
    return round(amount * GWEI)


@dataclass(frozen=True, slots=True)
class ChainParams:
    """The settlement chain's block and fee model (see the introduction)."""

    enabled: bool = True
    block_time_s: int = 12
    gas_limit: int = 30_000_000
    elasticity: int = 2  # target = gas_limit // elasticity
    start_fee_gwei: float = 20.0  # base fee of the first block
    calm_fee_gwei: float = 20.0  # fee_eq at or below vol_ref
    vol_ref: float = 0.6  # annualised volatility taken as calm
    vol_exponent: float = 1.0
    demand_elasticity: float = 1.0
    noise: float = 0.2  # sigma of log demand per block
    drop_after_s: int = 600  # a transaction waiting this long is dropped

    def __post_init__(self) -> None:
        if self.block_time_s <= 0 or self.gas_limit <= 0 or self.elasticity <= 0:
            raise ValueError("block_time_s, gas_limit and elasticity must be positive")
        if self.start_fee_gwei <= 0 or self.calm_fee_gwei <= 0 or self.vol_ref <= 0:
            raise ValueError("start_fee_gwei, calm_fee_gwei and vol_ref must be positive")
        if self.noise < 0 or self.drop_after_s < 0:
            raise ValueError("noise and drop_after_s must not be negative")

    @property
    def target(self) -> int:
        return self.gas_limit // self.elasticity


@dataclass(frozen=True, slots=True)
class Block:
    time: int
    base_fee: int  # wei per gas, the fee this block charged
    gas_used: int
    ours: int  # how many of the submitted transactions it included


@dataclass(slots=True)
class TxStatus:
    """What became of one submitted transaction."""

    max_fee: int  # wei per gas
    gas: int
    submitted: int
    seq: int
    included_at: int | None = None  # block time
    dropped_at: int | None = None


class ChainModel(Generic[K]):
    """A seeded settlement chain: call ``advance`` as time passes, ``submit`` and read ``included``."""

    def __init__(self, seed: int, params: ChainParams | None = None, start: int | None = None) -> None:
        self.params = ChainParams() if params is None else params
        self.base_fee = gwei(self.params.start_fee_gwei)
        self.blocks: list[Block] = []
        self.status: dict[K, TxStatus] = {}
        self.vol = 0.0
        self._rng = random.Random(seed)
        self._next_block: int | None = None if start is None else start + self.params.block_time_s
        self._pending: list[K] = []  # submitted, neither included nor dropped, in submission order
        self._included: list[K] = []  # included, not yet handed out by included()
        self._dropped: list[K] = []  # dropped, not yet handed out by dropped()
        self._seq = 0

    @property
    def next_block_time(self) -> int | None:
        """Return the time of the next block (None before the model has been told any time)."""
        return self._next_block

    def advance(self, t: int, vol: float) -> None:
        """Produce every block up to time ``t``, with demand driven by annualised volatility ``vol``."""
        if not math.isfinite(vol) or vol < 0:
            raise ValueError(f"vol must be a finite non-negative number, was {vol}")
        self.vol = vol
        if self._next_block is None:
            self._next_block = t + self.params.block_time_s
        while self._next_block <= t:
            self._produce(self._next_block)
            self._next_block += self.params.block_time_s

    def submit(self, tx_id: K, max_fee: int, gas: int, t: int) -> None:
        """Queue a transaction at time ``t`` paying at most ``max_fee`` wei per gas.

        It can be included in any block after ``t``.
        """
        if tx_id in self.status:
            raise ValueError(f"transaction {tx_id!r} was already submitted")
        if not 0 < gas <= self.params.gas_limit:
            raise ValueError(f"gas must be in (0, {self.params.gas_limit}], was {gas}")
        if max_fee < 0:
            raise ValueError(f"max_fee must not be negative, was {max_fee}")
        if self._next_block is None:
            self._next_block = t + self.params.block_time_s
        elif t < self._next_block - self.params.block_time_s:
            raise ValueError(f"submitted at {t}, before the last block produced")
        self.status[tx_id] = TxStatus(max_fee, gas, t, self._seq)
        self._seq += 1
        self._pending.append(tx_id)

    def included(self, t: int) -> list[K]:
        """Return the transactions included in blocks up to ``t`` not returned before, in order.

        Blocks not yet produced up to ``t`` are produced at the last volatility given.
        """
        self.advance(t, self.vol)
        out, self._included = self._included, []
        return out

    def dropped(self, t: int) -> list[K]:
        """Return the transactions dropped in blocks up to ``t`` not returned before, in order."""
        self.advance(t, self.vol)
        out, self._dropped = self._dropped, []
        return out

    def _produce(self, time: int) -> None:
        p = self.params
        eligible = [k for k in self._pending if self.status[k].submitted < time]
        if not p.enabled:
            chosen = eligible
            gone: list[K] = []
        else:
            chosen, room = [], p.gas_limit
            payers = [k for k in eligible if self.status[k].max_fee >= self.base_fee]
            for k in sorted(payers, key=lambda k: (-self.status[k].max_fee, self.status[k].seq)):
                if self.status[k].gas <= room:
                    chosen.append(k)
                    room -= self.status[k].gas
            taken = set(chosen)
            gone = [
                k for k in eligible if k not in taken and time - self.status[k].submitted >= p.drop_after_s
            ]
        ours = sum(self.status[k].gas for k in chosen)
        for k in chosen:
            self.status[k].included_at = time
        for k in gone:
            self.status[k].dropped_at = time
        done = set(chosen) | set(gone)
        self._pending = [k for k in self._pending if k not in done]
        self._included += chosen
        self._dropped += gone
        if not p.enabled:
            self.blocks.append(Block(time, self.base_fee, ours, len(chosen)))
            return
        z = self._rng.gauss(0.0, 1.0)
        fee_eq = gwei(p.calm_fee_gwei) * max(1.0, self.vol / p.vol_ref) ** p.vol_exponent
        demand = p.target * (fee_eq / self.base_fee) ** p.demand_elasticity * math.exp(p.noise * z)
        used = ours + min(p.gas_limit - ours, int(demand))
        self.blocks.append(Block(time, self.base_fee, used, len(chosen)))
        self.base_fee = next_base_fee(self.base_fee, used, p.target)


def next_base_fee(base_fee: int, gas_used: int, target: int) -> int:
    """Return the next block's base fee by EIP-1559's rule (integers, as the specification)."""
    if gas_used == target:
        return base_fee
    if gas_used > target:
        return base_fee + max(base_fee * (gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR, 1)
    return base_fee - base_fee * (target - gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR
