"""The worked example of docs/margin.md, checked number for number.

The test reads every ``name = integer`` line of the page's code blocks and
compares it with what the engine computes for the same account.
"""

import copy
import re
from pathlib import Path

from solvent.core.fixed import ONE, isqrt_up
from solvent.core.margin import compute_fractions, cross_risk, estimate_liquidation_price, position_notional
from solvent.core.oracle import sample_volatility
from solvent.defaults import address_of, pct, usd
from solvent.scenario import run_lines

DOC = Path(__file__).resolve().parents[1] / "docs" / "margin.md"

SCENARIO = """
{"tx": "Prices", "asset": "BTC", "price": "100000"}
{"tx": "Prices", "asset": "ETH", "price": "4000"}
{"tx": "Deposit", "account": "maker", "asset": "USDC", "amount": "10000000"}
{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "60000"}
{"tx": "Deposit", "account": "trader", "asset": "ETH", "amount": "2"}
{"tx": "PlaceOrder", "account": "maker", "market": "BTC-PERP", "side": "sell", "size": "4", "price": "100000"}
{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", "size": "4", "tif": "IOC"}
"""


def documented_numbers() -> dict[str, int]:
    numbers = {}
    for match in re.finditer(r"^(\w+)\s*=\s*(-?\d+)\b", DOC.read_text(), re.MULTILINE):
        numbers[match.group(1)] = int(match.group(2))
    return numbers


def computed_numbers() -> dict[str, int]:
    replay = run_lines(SCENARIO, setup=_with_size_addon)
    assert replay.failure is None, replay.failure
    state = replay.state
    state.feeds["BTC"].vol_sigma = pct("5")  # as if the EWMA had reached 5% per hour
    state.markets["BTC-PERP"].mm_sigma = pct("5")  # ... and maintenance had caught up with it
    account = state.accounts[(address_of("trader"), 0)]
    market = state.markets["BTC-PERP"]
    notional = position_notional(account.positions["BTC-PERP"].size, market.mark_price)
    imf, mmf = compute_fractions(market, state.feeds["BTC"].vol_sigma, notional, 0)
    risk = cross_risk(state, account)
    eth = state.assets["ETH"]
    eth_raw = account.balances["ETH"] * state.feeds["ETH"].index_price
    liquidation_price = estimate_liquidation_price(state, account, "BTC-PERP")
    assert liquidation_price is not None
    feed = copy.deepcopy(state.feeds["BTC"])
    feed.vol_variance, feed.vol_last_price, feed.vol_last_time = 0, usd("100000"), 1000
    sample_volatility(feed, usd("101000"), 1060)
    return {
        "quote_balance": account.balances["USDC"],
        "eth_value_init": eth_raw * eth.init_weight // (eth.atoms_per_unit * ONE),
        "eth_value_maint": eth_raw * eth.maint_weight // (eth.atoms_per_unit * ONE),
        "notional": notional,
        "root": isqrt_up(-(-notional * ONE * ONE // market.margin.size_step)),
        "imf": imf,
        "mmf": mmf,
        "value_init": risk.value_init,
        "value_maint": risk.value_maint,
        "initial_requirement": risk.im,
        "maintenance_requirement": risk.mm,
        "health": risk.health,
        "free_collateral": risk.free_collateral,
        "liquidation_price": liquidation_price,
        "vol_variance": feed.vol_variance,
        "vol_sigma": feed.vol_sigma,
    }


def _with_size_addon(state: object) -> None:
    margin = state.markets["BTC-PERP"].margin  # type: ignore[attr-defined]
    margin.size_step = usd("1000000")
    margin.imf_size_factor = pct("2")
    margin.mmf_size_factor = pct("1")


def test_margin_doc_lists_every_number() -> None:
    assert set(documented_numbers()) == set(computed_numbers())


def test_margin_doc_worked_example_matches_engine() -> None:
    documented = documented_numbers()
    computed = computed_numbers()
    for name, value in computed.items():
        assert documented[name] == value, f"docs/margin.md says {name} = {documented[name]}, engine {value}"
