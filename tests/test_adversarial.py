"""
Adversarial catalogue (``../shared/ADVERSARIAL.md``): the cases that need no liquidation code.

Each ``tests/scenarios/adversarial/ADV-*.jsonl`` file tells one case against Fixture F and
asserts its exact outcome and error codes. Every file is replayed with
``check_refusals=True`` and must hold the promises:

- P1 conservation: per asset, deposits - withdrawals = everything held, to the atom;
- P2 Σ long = Σ |short| = open interest in every market;
- P3 a refused transaction leaves ``state_hash`` unchanged (the refusal check).

Cases too long for a file are generated here: ADV-16's 10,000 round trips and ADV-19's
fuzz of 10,000 payloads (``SOLVENT_FUZZ_EXAMPLES`` overrides the count).
"""

import copy
import json
import os
import re
import types
import typing
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvent.core.codec import decode_tx
from solvent.core.engine import apply
from solvent.core.errors import ProtocolError
from solvent.core.hashing import state_hash
from solvent.core.state import State, TimeInForce, TriggerKind
from solvent.core.tx import (
    TX_TYPES,
    Deposit,
    PlaceOrder,
    PlaceTrigger,
    PoolDeposit,
    PriceReport,
    SetMarginMode,
    SetTime,
    Withdraw,
)
from solvent.core.units import MAX_AMOUNT, SIZE_ONE
from solvent.defaults import GOVERNOR, address_of, reporters, usd
from solvent.scenario import check_conservation, open_interest_gaps, parse_lines, run_scenario, start_state

FOLDER = Path(__file__).resolve().parent / "scenarios" / "adversarial"
CASES = sorted(FOLDER.glob("ADV-*.jsonl"))

# Cases whose file asserts the catalogue's rule where the engine does not follow it yet.
KNOWN_GAPS: dict[str, str] = {}


def _case_params() -> list[Any]:
    params = []
    for path in CASES:
        marks = []
        if path.stem in KNOWN_GAPS:
            marks.append(pytest.mark.xfail(reason=KNOWN_GAPS[path.stem], strict=True))
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def _case_id(path: Path) -> str:
    found = re.match(r"ADV-\d+", path.stem)
    assert found is not None, f"{path.name}: name a case file ADV-<number>-<title>.jsonl"
    return found.group()


def test_catalogue_cases_are_present() -> None:
    ids = {_case_id(path) for path in CASES}
    assert {"ADV-03", "ADV-07", "ADV-15", "ADV-16", "ADV-18", "ADV-19", "ADV-27", "ADV-30"} <= ids


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_file_shape(path: Path) -> None:
    lines = [obj for _, obj in parse_lines(path.read_text())]
    assert lines[0] == {"genesis": "fixture_f"}
    assert "comment" in lines[1] and lines[1]["comment"].startswith(_case_id(path) + " ")
    assert lines[-1] == {"expect": {"conserved": True, "longs_equal_shorts": True}}
    assert sum(1 for obj in lines if "expect" in obj) >= 3


@pytest.mark.parametrize("path", _case_params())
def test_case_replays_and_keeps_the_promises(path: Path) -> None:
    replay = run_scenario(path, check_refusals=True)  # P3 on every refused transaction
    assert replay.failure is None, str(replay.failure)
    assert all(gap == 0 for gap in check_conservation(replay.state).values())  # P1
    assert open_interest_gaps(replay.state) == {}  # P2


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_replay_is_deterministic(path: Path) -> None:
    first, second = run_scenario(path), run_scenario(path)
    assert state_hash(first.state) == state_hash(second.state)


# --- ADV-16: 10,000 round trips of 0.001 BTC at an unchanged price ----------------------------


def _fresh(state: State, assets: tuple[str, ...] = ("BTC", "ETH", "USDT", "ALT")) -> None:
    start = {"BTC": "100000", "ETH": "4000", "USDT": "1", "ALT": "1"}
    for asset in assets:
        for reporter in reporters(asset):
            apply(state, PriceReport(reporter, asset, usd(start[asset]), state.time))


def test_adv16_ten_thousand_round_trips_cost_exactly_the_rounded_up_fees() -> None:
    """A buys and sells 0.001 BTC 10,000 times at 100,000.1; every fee rounds up against its payer.

    Notional 100.0001 USDC: taker fee 0.05% = 0.05000005 -> 0.050001, maker fee 0.02% =
    0.02000002 -> 0.020001. A's balance falls by exactly the sum of its fees, never rises
    above where it started, and the protocol (fees + insurance) receives exactly what A
    and M paid.
    """
    state = start_state("fixture_f")
    _fresh(state, ("BTC",))
    a, m = address_of("A"), address_of("M")
    apply(state, Deposit(a, 0, "USDC", usd("10000")))
    apply(state, Deposit(m, 0, "USDC", usd("10000")))
    price, size = usd("100000.1"), SIZE_ONE // 1000

    def protocol() -> int:
        return state.fee_balance + sum(state.insurance.values())

    start_a, start_m, start_protocol = (
        state.accounts[(a, 0)].balances["USDC"],
        state.accounts[(m, 0)].balances["USDC"],
        protocol(),
    )
    paid_by_a = paid_by_m = 0
    for _ in range(10_000):
        for is_buy in (True, False):
            apply(state, PlaceOrder(m, 0, "BTC-PERP", not is_buy, size, price))
            events = apply(state, PlaceOrder(a, 0, "BTC-PERP", is_buy, size, price, TimeInForce.IOC))
            (fill,) = [e for e in events if e.kind == "Fill"]
            assert fill.data["notional"] == 100_000_100
            assert (fill.data["taker_fee"], fill.data["maker_fee"]) == (50_001, 20_001)
            paid_by_a += 50_001
            paid_by_m += 20_001
        balance_a = state.accounts[(a, 0)].balances["USDC"]
        assert balance_a <= start_a
        assert not state.accounts[(a, 0)].positions or state.accounts[(a, 0)].positions["BTC-PERP"].size == 0
    assert paid_by_a == 10_000 * 2 * 50_001  # 1,000.02 USDC
    assert start_a - state.accounts[(a, 0)].balances["USDC"] == paid_by_a
    assert start_m - state.accounts[(m, 0)].balances["USDC"] == paid_by_m
    assert protocol() - start_protocol == paid_by_a + paid_by_m
    assert all(gap == 0 for gap in check_conservation(state).values())
    assert open_interest_gaps(state) == {}
    assert state.markets["BTC-PERP"].open_interest == 0


# --- ADV-19: a fuzz of 10,000 payloads --------------------------------------------------------

T0 = 1_700_000_000
A, B, LP = address_of("fuzz-a"), address_of("fuzz-b"), address_of("fuzz-lp")
C, D = address_of("fuzz-c"), address_of("fuzz-d")  # liquidatable
STRANGER = address_of("fuzz-stranger")
BAD_ADDRESSES = ("0xZZ", "0x" + "AB" * 20, "0x" + "ab" * 19, "", "governor", "0x" + "ab" * 21)


def _fuzz_state() -> State:
    """Fixture F with fresh prices, traders with orders, positions, a trigger, an LP, and two
    accounts a keeper may liquidate: C (a BTC long) and D (ETH collateral against a USDC debt)."""
    state = start_state("fixture_f", T0)
    _fresh(state)
    for owner in (A, B):
        apply(state, Deposit(owner, 0, "USDC", usd("1000000")))
        apply(state, Deposit(owner, 0, "ETH", 10 * 10**18))
        apply(state, Deposit(owner, 1, "USDT", usd("10000")))
    apply(state, Deposit(LP, 0, "USDC", usd("2000000")))
    apply(state, PoolDeposit(LP, 0, "LP", usd("1000000")))
    apply(state, PlaceOrder(A, 0, "BTC-PERP", False, 2 * SIZE_ONE, usd("100100")))
    apply(state, PlaceOrder(A, 0, "ALT-PERP", True, 50_000 * SIZE_ONE, usd("0.999"), client_id=7))
    apply(state, PlaceOrder(B, 0, "BTC-PERP", True, SIZE_ONE // 2, usd("100100"), TimeInForce.IOC))
    apply(state, PlaceOrder(B, 0, "BTC-PERP", True, SIZE_ONE, usd("95000")))
    apply(state, PlaceTrigger(B, 0, "BTC-PERP", TriggerKind.STOP_LOSS, usd("85000")))
    apply(state, SetMarginMode(B, 0, "ETH-PERP", True))
    apply(state, Deposit(C, 0, "USDC", usd("10000")))
    apply(state, PlaceOrder(C, 0, "BTC-PERP", True, 95 * SIZE_ONE // 100, usd("100100"), TimeInForce.IOC))
    apply(state, Deposit(D, 0, "ETH", 10 * 10**18))
    apply(state, Withdraw(D, 0, "USDC", usd("30000")))
    for step, eth in ((1, "3700"), (2, "3500")):
        apply(state, SetTime(T0 + 60 * step))
        for asset, price in (("BTC", "94000"), ("ETH", eth), ("USDT", "1"), ("ALT", "1")):
            for reporter in reporters(asset):
                apply(state, PriceReport(reporter, asset, usd(price), state.time))
    return state


# Values are mostly drawn from short lists (cheap to draw, and recognised by the handlers),
# sometimes from the whole type, sometimes of the wrong JSON type.
GARBAGE: list[Any] = [None, True, False, 0.5, float("nan"), "", "x", "1", [], [1], {}, {"a": 1}, -1, 2**256]
NESTED = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
EDGE_INTS = [0, 1, -1, 2, MAX_AMOUNT, MAX_AMOUNT + 1, -MAX_AMOUNT, 2**256, -(2**256), 2**32, 10**18]
RATIOS = [0, 10**16, 5 * 10**15, 2 * 10**17, 9 * 10**17, 10**18, 10**18 + 1, -(10**16)]
PRICES = [
    usd(p) for p in ("94000", "93900", "94500", "100000", "3500", "3490", "1", "0.99", "1.05", "0.0001")
]
SIZES = [10**4, 10**5, 10**6, 10**7, SIZE_ONE, 3 * SIZE_ONE, 10**12, 10**14, 123]
SUBACCOUNTS = [0] * 6 + [1, 1, 2, 2**32]
NAMED_INTS: dict[str, list[int]] = {
    "size": SIZES,
    "lot": SIZES,
    "size_step": SIZES,
    "deposit_cap": SIZES,
    "oi_cap": SIZES,
    "price": PRICES,
    "worst_price": PRICES,
    "trigger_price": PRICES,
    "limit_price": PRICES,
    "tick": PRICES,
    "min_notional": PRICES,
    "impact_notional": PRICES,
    "amount": [usd("1"), usd("1000"), usd("500000"), 10**18, 10**6, -(10**6)],
    "subaccount": SUBACCOUNTS,
    "keeper_subaccount": SUBACCOUNTS,
    "from_subaccount": SUBACCOUNTS,
    "to_subaccount": SUBACCOUNTS,
    "timestamp": [T0 + 120, T0 + 119, T0 + 121, T0, 0],
    "time": [T0 + 120, T0 + 121, T0 + 150, T0 + 181, T0 + 86_400, T0 + 119],
    "order_id": [1, 2, 3, 4, 5, 99],
    "trigger_id": [1, 2, 3],
    "leverage": list(range(-1, 13)),
    "client_id": [7, 8],
    "decimals": [0, 6, 18, 40, -1],
    "quorum": list(range(-1, 7)),
    "shares": [1, usd("1000"), usd("1000000"), 10**30],
}
ADDRESSES = [A, B, LP, STRANGER, GOVERNOR, *reporters("BTC")[:2], *reporters("ALT")[:2]]
OWNERS = [A] * 12 + [B] * 8 + [C] * 4 + [D] * 4 + [LP] * 2 + ADDRESSES + list(BAD_ADDRESSES)
NAMED_STRINGS: dict[str, list[str]] = {
    "market": ["BTC-PERP", "BTC-PERP", "ETH-PERP", "ALT-PERP", "ALT-PERP", "DOGE-PERP", ""],
    "asset": ["USDC", "ETH", "USDT", "BTC", "ALT", "DOGE"],
    "symbol": ["USDC", "ETH", "USDT", "BTC", "ALT", "DOGE"],
    "pool": ["LP", "LP", "LP", "XP"],
    "domain": ["MAJ", "ALT", "NEW"],
    "owner": OWNERS,
    "reporter": [*reporters("BTC"), *reporters("ALT"), *reporters("ETH"), *OWNERS],
    "sender": [GOVERNOR] * 30 + OWNERS,
    "keeper": OWNERS,
}
_RATIO_SUFFIXES = ("weight", "_imf", "_mmf", "_fee", "_factor", "band", "deviation", "lambda", "cap", "share")


def _choices(name: str, hint: Any) -> tuple[list[Any], st.SearchStrategy[Any]]:
    """Return the usual values of a field and a strategy over its whole JSON type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        usual, wide = _choices(name, inner)
        return [None, *usual], wide
    if origin is tuple:
        return [[], ADDRESSES[:3], [A, A], OWNERS[-3:]], st.lists(st.sampled_from(OWNERS), max_size=6)
    if hint is bool:
        return [True, False], st.booleans()
    if hint is int:
        usual = RATIOS if name.endswith(_RATIO_SUFFIXES) else NAMED_INTS.get(name, list(range(-1, 5)))
        return usual + EDGE_INTS, st.integers()
    if hint is str:
        return NAMED_STRINGS.get(name, ["", "x"]), st.text(max_size=8)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return [m.value for m in hint] + ["", "gtc"], st.text(max_size=6)
    raise AssertionError(f"no strategy for {name}: {hint}")


HINTS = {cls: typing.get_type_hints(cls) for cls in TX_TYPES.values()}
MISSING, WRONG, WIDE = object(), object(), object()  # markers: leave out, wrong JSON type, any value


def _field_strategies(usual: list[Any], wide: st.SearchStrategy[Any]) -> tuple[Any, Any]:
    """A usual value about 97% of the time, else a marker: missing, wrong JSON type or any value."""
    pool = usual * max(1, 97 // len(usual)) + [MISSING, WRONG, WIDE]
    return st.sampled_from(pool), wide | NESTED


# Hypothesis favours the first values of a list: put the ones that reach deep code first.
OVERRIDES: dict[tuple[str, str], list[Any]] = {
    ("Liquidate", "owner"): [C] * 8 + OWNERS,
    ("Liquidate", "keeper"): [B] * 8 + OWNERS,
    ("LiquidateCollateral", "owner"): [D] * 8 + OWNERS,
    ("LiquidateCollateral", "keeper"): [B] * 8 + OWNERS,
    ("LiquidateCollateral", "asset"): ["ETH"] * 4 + NAMED_STRINGS["asset"],
    ("LiquidateCollateral", "amount"): [None, 10**18, 5 * 10**18, 10 * 10**18, 11 * 10**18],
    ("Liquidate", "market"): ["BTC-PERP"] * 4 + NAMED_STRINGS["market"],
    ("Liquidate", "size"): [None] * 4 + SIZES,
}
for _kind in ("Liquidate", "LiquidateCollateral"):
    for _field in ("subaccount", "keeper_subaccount"):
        OVERRIDES[(_kind, _field)] = [0] * 12 + SUBACCOUNTS


def _usual_and_wide(cls: type, name: str) -> tuple[Any, Any]:
    usual, wide = _choices(name, HINTS[cls][name])
    return _field_strategies(OVERRIDES.get((cls.__name__, name), usual), wide)


FIELDS = {cls: {f.name: _usual_and_wide(cls, f.name) for f in fields(cls)} for cls in TX_TYPES.values()}
WRONG_VALUES = st.sampled_from(GARBAGE)


@st.composite
def payloads(draw: st.DrawFn) -> object:
    """A JSON-like payload: mostly well-typed transactions with some fields wrong, missing or extra."""
    shape = draw(st.integers(0, 49))
    if shape == 0:
        return draw(NESTED)  # not even an object
    kind = draw(st.sampled_from(sorted(TX_TYPES))) if shape > 1 else draw(st.text(max_size=10))
    cls = TX_TYPES.get(kind)
    obj: dict[str, Any] = {"tx": kind}
    for name, (usual, wide) in FIELDS[cls].items() if cls is not None else ():
        value = draw(usual)  # one draw per field in the common case
        if value is WRONG:
            value = draw(WRONG_VALUES)
        elif value is WIDE:
            value = draw(wide)
        if value is not MISSING:
            obj[name] = value
    if shape == 1:
        obj[draw(st.sampled_from(["extra", "", "TX", "owner2"]))] = draw(WRONG_VALUES)
    return obj


FUZZ_EXAMPLES = int(os.environ.get("SOLVENT_FUZZ_EXAMPLES", "10000"))


_PRISTINE = _fuzz_state()


def _time_priority(state: State) -> list[list[list[int]]]:
    return [
        [list(level) for side in (m.book.bids, m.book.asks) for level in side.values()]
        for m in state.markets.values()
    ]


_PRIORITY = _time_priority(_PRISTINE)


def _unchanged(state: State) -> bool:
    """Return whether the state equals the pristine one (as ``state_hash`` would, 40x faster).

    Record equality compares every field; dict equality ignores order, so the order of
    orders within each book level (time priority) is compared separately.
    """
    return state == _PRISTINE and _time_priority(state) == _PRIORITY


_LIVE = [copy.deepcopy(_PRISTINE)]  # replaced by a fresh copy after each accepted transaction


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much),
)
@given(payloads())
def test_adv19_fuzz_raises_only_protocol_errors(payload: object) -> None:
    """decode_tx then apply on a live Fixture F state: refusals are ProtocolErrors that change nothing.

    An accepted transaction must keep money conserved and longs equal to shorts; the state is
    then replaced by a fresh copy, so every payload meets the same state.
    """
    state = _LIVE[0]  # always equal to _PRISTINE here
    try:
        apply(state, decode_tx(payload))
    except ProtocolError:
        if not _unchanged(state):
            _LIVE[0] = copy.deepcopy(_PRISTINE)
            raise AssertionError(f"refused {json.dumps(payload, default=repr)} changed the state") from None
        return
    except Exception as error:  # a crash is the finding: name the payload
        _LIVE[0] = copy.deepcopy(_PRISTINE)
        raise AssertionError(f"{type(error).__name__}: {error} from {payload!r}") from error
    _LIVE[0] = copy.deepcopy(_PRISTINE)
    assert all(gap == 0 for gap in check_conservation(state).values())
    assert open_interest_gaps(state) == {}


def test_fuzz_change_detector_sees_what_the_hash_sees() -> None:
    state = copy.deepcopy(_PRISTINE)
    assert _unchanged(state) and state_hash(state) == state_hash(_PRISTINE)
    state.fee_balance += 1
    assert not _unchanged(state)
    # Two orders at one level; the same orders in the other time priority differ only in order.
    state = copy.deepcopy(_PRISTINE)
    apply(state, PlaceOrder(A, 0, "BTC-PERP", True, SIZE_ONE // 10, usd("95000"), TimeInForce.POST_ONLY))
    swapped = copy.deepcopy(state)
    level = swapped.markets["BTC-PERP"].book.bids[-usd("95000")]
    first = next(iter(level))
    level[first] = level.pop(first)
    assert len(level) == 2 and swapped == state
    assert _time_priority(swapped) != _time_priority(state)
    assert state_hash(swapped) != state_hash(state)
