"""
The shipped crash episodes: bytes as documented, and the report rounds the reporters play.
"""

import hashlib
import itertools
import re
from importlib import resources

import pytest

from solvent.bots.episodes import EPISODES, episode, linear, load_bars, parse_time, rounds, steps_needed
from solvent.bots.keeper import accounts_named
from solvent.core.fixed import ONE
from solvent.defaults import usd

NINE_PERCENT = 9 * ONE // 100


def test_every_shipped_file_is_the_documented_one() -> None:
    data = resources.files("solvent").joinpath("data")
    readme = data.joinpath("README.md").read_text()
    documented = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+\.csv)$", readme, re.M)
    )
    used = {name for ep in EPISODES.values() for name in ep.files.values()}
    assert used <= set(documented)
    for name, digest in documented.items():
        assert hashlib.sha256(data.joinpath(name).read_bytes()).hexdigest() == digest, name


def test_black_thursday_bars_are_the_file_closes_at_their_close_times() -> None:
    bars = load_bars(episode("black-thursday"), "2020-03-12T10:00", 2)
    assert [b.time for b in bars] == [parse_time("2020-03-12T11:00"), parse_time("2020-03-12T12:00")]
    assert bars[0].closes == {"BTC": usd("6014.9"), "ETH": usd("132.91")}


def test_a_big_bar_is_reached_in_steps_within_the_band() -> None:
    bars = load_bars(episode("black-thursday"), "2020-03-12T09:00", 2)  # then 10:00: -18% / -21%
    plan = rounds(bars, NINE_PERCENT)
    assert [r.bar for r in plan] == [0, 1, 1, 1]
    assert [r.close for r in plan] == [True, False, False, True]
    assert [r.time for r in plan] == [bars[0].time, bars[1].time, bars[1].time + 1, bars[1].time + 2]
    assert plan[-1].prices == bars[1].closes
    for before, after in itertools.pairwise(plan):
        for asset, price in after.prices.items():
            old = before.prices[asset]
            assert abs(price - old) * ONE <= NINE_PERCENT * old


def test_every_episode_plays_within_the_band_with_increasing_times() -> None:
    for ep in EPISODES.values():
        plan = rounds(load_bars(ep), NINE_PERCENT)
        assert all(a.time < b.time for a, b in itertools.pairwise(plan))
        assert sum(r.close for r in plan) == ep.steps


def test_steps() -> None:
    assert linear(100, 80, 4) == [95, 90, 85, 80]
    assert steps_needed(100, 91, NINE_PERCENT) == 1
    assert steps_needed(100, 90, NINE_PERCENT) == 2
    assert steps_needed(100, 130, NINE_PERCENT) == 4  # 107, 115, 122, 130: the first step is the largest


def test_unknown_episodes_and_short_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown episode"):
        episode("ftx")
    with pytest.raises(ValueError, match="fewer than"):
        load_bars(episode("black-thursday"), "2020-03-15T20:00", 10)


def test_the_keeper_learns_accounts_from_payloads() -> None:
    owner, keeper = "0x" + "a" * 40, "0x" + "b" * 40
    assert accounts_named({"tx": "Deposit", "owner": owner, "subaccount": 2}) == {(owner, 2)}
    transfer = {"tx": "Transfer", "owner": owner, "from_subaccount": 0, "to_subaccount": 1}
    assert accounts_named(transfer) == {(owner, 0), (owner, 1)}
    liquidate = {"tx": "Liquidate", "keeper": keeper, "keeper_subaccount": 0, "owner": owner, "subaccount": 0}
    assert accounts_named(liquidate) == {(owner, 0), (keeper, 0)}
    assert accounts_named({"tx": "PriceReport", "reporter": owner}) == set()
