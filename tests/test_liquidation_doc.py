# ruff: noqa: E501  (scenario lines are kept whole, one transaction a line)
"""The worked examples of docs/liquidation.md, checked number for number.

The test reads every ``name = integer`` line of the page's code blocks and
compares it with what the engine computes in the same scenario.
"""

import re
from pathlib import Path
from typing import Any

from solvent.core.liquidation import breakeven, close_size, liquidation_band
from solvent.core.margin import cross_risk
from solvent.defaults import address_of
from solvent.scenario import run_lines

DOC = Path(__file__).resolve().parents[1] / "docs" / "liquidation.md"

SETUP = """
{"tx": "Prices", "asset": "BTC", "price": "100000"}
{"tx": "Deposit", "account": "maker", "asset": "USDC", "amount": "10000000"}
{"tx": "Deposit", "account": "bidder", "asset": "USDC", "amount": "10000000"}
{"tx": "Deposit", "account": "keeper", "asset": "USDC", "amount": "1000"}
{"tx": "Deposit", "account": "trader", "asset": "USDC", "amount": "10050"}
{"tx": "PlaceOrder", "account": "maker", "market": "BTC-PERP", "side": "sell", "size": "1", "price": "100000"}
{"tx": "PlaceOrder", "account": "trader", "market": "BTC-PERP", "side": "buy", "size": "1", "price": "100000", "tif": "IOC"}
{"tx": "SetTime", "advance": 30}
"""

PARTIAL = (
    SETUP
    + """
{"tx": "Prices", "asset": "BTC", "price": "94000"}
{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", "size": "0.5", "price": "93500"}
{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", "size": "1", "price": "93000"}
"""
)

BANKRUPT = (
    SETUP
    + """
{"tx": "Prices", "asset": "BTC", "price": "95000"}
{"tx": "SetTime", "advance": 30}
{"tx": "Prices", "asset": "BTC", "price": "88000"}
{"tx": "PlaceOrder", "account": "bidder", "market": "BTC-PERP", "side": "buy", "size": "1", "price": "88000"}
"""
)

LIQUIDATE = '{"tx": "Liquidate", "keeper": "keeper", "owner": "trader", "market": "BTC-PERP"}\n'


def documented_numbers() -> dict[str, int]:
    numbers = {}
    for match in re.finditer(r"^(\w+)\s*=\s*(-?\d+)\b", DOC.read_text(), re.MULTILINE):
        numbers[match.group(1)] = int(match.group(2))
    return numbers


def _liquidate(text: str, prefix: str) -> dict[str, int]:
    before = run_lines(text)
    assert before.failure is None, before.failure
    state = before.state
    key = (address_of("trader"), 0)
    account = state.accounts[key]
    market = state.markets["BTC-PERP"]
    domain = state.domains[market.domain]
    risk = cross_risk(state, account)
    even = breakeven(state, account, market, account.positions["BTC-PERP"])
    low, _ = liquidation_band(market, domain)
    size = close_size(state, account, market, domain, low)
    after = run_lines(text + LIQUIDATE)
    assert after.failure is None, after.failure
    liquidated: dict[str, Any] = next(e.data for e in after.steps[-1].events if e.kind == "Liquidated")
    end = after.state
    account_after = end.accounts[key]
    risk_after = cross_risk(end, account_after)
    numbers = {
        "quote_balance": account.balances["USDC"],
        "mark": market.mark_price,
        "value_maint": risk.value_maint,
        "maintenance_requirement": risk.mm,
        "health": risk.health,
        "band_low": low,
        "close_size": size,
        "breakeven_flow": even.flow(liquidated["filled"]),
        "filled_notional": liquidated["notional"],
        "penalty": liquidated["penalty"],
        "keeper_reward": liquidated["keeper_reward"],
        "insurance_fee": liquidated["insurance_fee"],
        "deficit": liquidated["deficit"],
        "insurance_after": end.insurance["MAJ"],
        "quote_after": account_after.balances["USDC"],
        "value_after": risk_after.value_maint,
        "maintenance_after": risk_after.mm,
    }
    return {f"{prefix}_{name}": value for name, value in numbers.items()}


def computed_numbers() -> dict[str, int]:
    return _liquidate(PARTIAL, "partial") | _liquidate(BANKRUPT, "bankrupt")


def test_liquidation_doc_lists_every_number() -> None:
    assert set(documented_numbers()) == set(computed_numbers())


def test_liquidation_doc_worked_examples_match_engine() -> None:
    documented = documented_numbers()
    for name, value in computed_numbers().items():
        assert documented[name] == value, (
            f"docs/liquidation.md says {name} = {documented[name]}, engine {value}"
        )
