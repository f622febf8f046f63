"""
The settlement chain model: EIP-1559 base fee, volatility-driven demand, delays and drops.
"""

from itertools import pairwise

import pytest

from solvent.stress.congestion import ChainModel, ChainParams, gwei, next_base_fee
from solvent.stress.paths import episode_paths, rolling_vol

CALM, CRASH = 0.3, 4.0  # annualised volatility
T = 1_000_000


def test_next_base_fee_is_eip_1559s_rule() -> None:
    target = 15_000_000
    assert next_base_fee(gwei(20), 2 * target, target) == gwei(22.5)  # full: +12.5%
    assert next_base_fee(gwei(20), 0, target) == gwei(17.5)  # empty: -12.5%
    assert next_base_fee(gwei(20), target, target) == gwei(20)
    assert next_base_fee(gwei(20), target + target // 2, target) == gwei(21.25)
    assert next_base_fee(7, 0, target) == 7  # 7 * 1 // 8 = 0: the fee cannot fall below 7 wei
    assert next_base_fee(1, target + 1, target) == 2  # a rise is at least one wei


def run(seed: int, params: ChainParams | None = None) -> tuple[list[object], list[str], list[str]]:
    chain: ChainModel[str] = ChainModel(seed, params, start=T)
    included, dropped = [], []
    for minute in range(60):
        t = T + 60 * minute
        chain.advance(t, CRASH if 10 <= minute < 30 else CALM)
        chain.submit(f"keeper-{minute}", gwei(40), 300_000, t)
        included += chain.included(t)
        dropped += chain.dropped(t)
    return list(chain.blocks), included, dropped


def test_the_same_seed_gives_the_same_chain() -> None:
    assert run(1) == run(1)
    assert run(1)[0] != run(2)[0]


def test_the_base_fee_rises_under_sustained_full_blocks() -> None:
    spike = 12.0  # the 15-minute realised volatility of BTC's 1m bars on 10 October 2025 reached this
    chain: ChainModel[str] = ChainModel(3, ChainParams(noise=0.0), start=T)
    chain.advance(T + 12 * 20, spike)
    fees = [b.base_fee for b in chain.blocks]
    assert all(b.gas_used == chain.params.gas_limit for b in chain.blocks[:15])
    assert all(later > earlier for earlier, later in pairwise(fees[:16]))
    assert fees[15] >= fees[0] * 1.124**15  # 12.5% a block, less integer rounding
    # Demand falls as the fee passes what users pay at this volatility: the fee levels off there.
    chain.advance(T + 12 * 400, spike)
    settled = [b.base_fee for b in chain.blocks[-100:]]
    fee_eq = gwei(20) * spike / 0.6
    assert min(settled) > 0.8 * fee_eq and max(settled) < 1.25 * fee_eq


def test_calm_demand_keeps_the_fee_near_the_calm_level() -> None:
    chain: ChainModel[str] = ChainModel(4, start=T)
    chain.advance(T + 3600, CALM)
    fees = [b.base_fee for b in chain.blocks]
    assert len(fees) == 300
    assert gwei(10) < sum(fees) / len(fees) < gwei(40)


def test_a_low_fee_transaction_waits_in_a_spike_and_is_included_when_the_fee_falls() -> None:
    chain: ChainModel[str] = ChainModel(5, start=T)
    chain.advance(T + 120, CRASH)  # ten full blocks: the fee is about three times its start
    assert chain.base_fee > gwei(50)
    chain.submit("keeper", gwei(45), 300_000, T + 120)
    chain.submit("rich keeper", gwei(10_000), 300_000, T + 120)
    chain.advance(T + 300, CRASH)
    assert chain.included(T + 300) == ["rich keeper"]
    assert chain.status["keeper"].included_at is None
    chain.advance(T + 540, CALM)  # the crash is over: demand falls, and the fee with it
    assert chain.included(T + 540) == ["keeper"]
    waited = chain.status["keeper"].included_at
    assert waited is not None and waited - (T + 120) > 180


def test_a_low_fee_transaction_is_dropped_when_the_spike_outlasts_its_patience() -> None:
    chain: ChainModel[str] = ChainModel(6, ChainParams(drop_after_s=300), start=T)
    chain.advance(T + 120, CRASH)
    chain.submit("keeper", gwei(45), 300_000, T + 120)
    chain.advance(T + 1200, CRASH)
    assert chain.included(T + 1200) == []
    assert chain.dropped(T + 1200) == ["keeper"]
    dropped_at = chain.status["keeper"].dropped_at
    assert dropped_at is not None and 300 <= dropped_at - (T + 120) < 312


def test_without_congestion_everything_is_included_in_the_next_block() -> None:
    chain: ChainModel[str] = ChainModel(7, ChainParams(enabled=False), start=T)
    chain.advance(T + 120, CRASH)
    chain.submit("keeper", 1, 300_000, T + 125)
    chain.submit("big", 1, 30_000_000, T + 125)
    chain.advance(T + 1200, CRASH)
    assert chain.included(T + 1200) == ["keeper", "big"]
    assert chain.status["keeper"].included_at == T + 132
    assert chain.base_fee == gwei(20)


def test_the_highest_fee_goes_first_and_a_block_holds_its_gas_limit() -> None:
    chain: ChainModel[str] = ChainModel(8, start=T)
    chain.advance(T, CALM)
    for i in range(4):
        chain.submit(f"tx{i}", gwei(1000 + i), 10_000_000, T)
    chain.advance(T + 24, CALM)
    first, second = chain.blocks[-2], chain.blocks[-1]
    assert (first.ours, second.ours) == (3, 1)
    assert [chain.status[f"tx{i}"].included_at for i in range(4)] == [T + 24, T + 12, T + 12, T + 12]


def test_refused_inputs() -> None:
    chain: ChainModel[str] = ChainModel(9, start=T)
    chain.submit("a", gwei(1), 21_000, T)
    with pytest.raises(ValueError, match="already"):
        chain.submit("a", gwei(1), 21_000, T)
    with pytest.raises(ValueError, match="gas"):
        chain.submit("b", gwei(1), 40_000_000, T)
    chain.advance(T + 120, CALM)
    with pytest.raises(ValueError, match="before the last block"):
        chain.submit("c", gwei(1), 21_000, T)
    with pytest.raises(ValueError, match="vol"):
        chain.advance(T + 200, float("nan"))


def test_gas_spikes_in_a_real_crash() -> None:
    # 10 October 2025: BTC fell from about 117,000 to a bar low of 101,516.5 within 45 minutes.
    btc = episode_paths("2025-10-10")["BTC"]
    vols = rolling_vol(btc, 15)
    chain: ChainModel[int] = ChainModel(10, start=btc.start)
    for t, vol in zip(btc.times(), vols, strict=True):
        chain.advance(t, vol)
    fees = {b.time: b.base_fee for b in chain.blocks}
    before = [f for t, f in fees.items() if t < btc.start + 30 * 60]
    crash = [f for t, f in fees.items() if btc.start + 40 * 60 <= t < btc.start + 70 * 60]
    assert max(crash) > 3 * max(before)
