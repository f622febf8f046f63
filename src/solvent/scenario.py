"""
Scenario files: stories of transactions and expectations, replayed through ``apply``.

Introduction
------------
A scenario is JSON Lines (see ``docs/scenarios.md``). Each line is one of

- ``{"genesis": "fixture_f"}`` (optional, first): the deployment to start from;
- ``{"tx": "<Type>", ...fields}``: a transaction, numbers in human units
  ("1.5" BTC, "100000" USDC, "10%" or "0.1" for ratios), names for addresses;
- ``{"tx": "Prices", "asset": "BTC", "price": "100000"}``: every reporter of the
  asset reports (``"prices": [...]`` gives one per reporter, ``null`` = silent);
- ``{"tx": "Vols", "feed": "BTC-30D", "atm_vol": "60%", "skew": "-10%"}``: every
  reporter of a volatility feed reports that smile (``"silent": 2``: the last two don't);
- ``{"tx": "Keeper", "keeper": "k"}``: the reference keeper (``solvent.keeper``)
  scans every account once and liquidates what it finds, most underwater first;
- ``{"tx": "Advance", "seconds": 3600, "every": 30}``: the clock moves in steps
  and every reporter still fresh re-reports its last price after each step;
- ``{"expect": {...}}``: assertions on the state, or on the previous
  transaction (``"error"``, ``"events"``);
- ``{"comment": "..."}``: narration, printed as it is.

Lines starting with ``#`` and blank lines are skipped. ``run_scenario``
returns a ``Replay``; the CLI prints it. A transaction that fails without an
``{"expect": {"error": ...}}`` line right after it, or an expectation that
does not hold, stops the replay with a ``ScenarioFailure`` naming the line.
With ``check_refusals=True`` the replay also checks, for every transaction
it applies, that a refusal left ``state_hash`` unchanged (promise P3).
"""

import json
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from solvent.core.codec import decode_tx
from solvent.core.engine import apply, genesis
from solvent.core.errors import ProtocolError
from solvent.core.events import Event, EventValue
from solvent.core.hashing import state_hash
from solvent.core.instruments import account_greeks
from solvent.core.margin import compute_fractions, cross_risk, position_notional
from solvent.core.pool import pool_equity
from solvent.core.state import POOL_OWNER_PREFIX, State
from solvent.core.tx import TX_TYPES, PriceReport, SetTime, VolReport
from solvent.core.units import QUOTE_DECIMALS, SIZE_ONE, AccountKey, format_account, from_atoms, to_atoms
from solvent.core.vol_oracle import is_vol_stale
from solvent.defaults import GENESIS, GENESIS_TIME, GOVERNOR, address_of, name_of

SIZE_DECIMALS = 8
RATIO_DECIMALS = 18

_SIZE_FIELDS = {"size", "lot", "oi_cap", "contract_size"}
_PRICE_FIELDS = {"price", "worst_price", "trigger_price", "limit_price", "tick", "strike"}
_QUOTE_FIELDS = {
    "min_notional",
    "impact_notional",
    "size_step",
    "shares",
    "liq_cap_notional",
    "oi_cap_notional",
}
_RATIO_FIELDS = {
    "init_weight",
    "maint_weight",
    "max_deviation",
    "band",
    "vol_lambda",
    "base_imf",
    "base_mmf",
    "imf_size_factor",
    "mmf_size_factor",
    "vol_ref",
    "imf_vol_factor",
    "mmf_vol_factor",
    "maker_fee",
    "taker_fee",
    "price_band",
    "mark_band",
    "funding_cap",
    "funding_interest",
    "half_spread",
    "skew_factor",
    "max_skew",
    "lp_fee_share",
    "keeper_fee",
    "insurance_fee",
    "close_buffer",
    "liq_band",
    "collateral_discount",
    "divergence_limit",
    "vol_halt",
    "move_limit",
    "backstop_max_skew",
    "mmf_vol_step",
    "option_floor",
    "min_vol",
    "max_vol",
    "atm_vol",
    "skew",
    "curvature",
    "move",
    "vol_up",
    "vol_down",
    "move_vol_factor",
    "max_move",
    "short_option_min",
    "im_factor",
}
_ADDRESS_FIELDS = {"owner", "reporter", "sender", "keeper"}


class ScenarioFailure(Exception):
    """A scenario did not go as written; the message names the line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(slots=True)
class Step:
    line: int
    kind: str  # "tx", "expect", "comment"
    text: str
    tx: dict[str, object] | None = None
    events: list[Event] = field(default_factory=list)
    error: ProtocolError | None = None


@dataclass(slots=True)
class Replay:
    path: str
    state: State
    steps: list[Step]
    failure: ScenarioFailure | None = None


# --- units -----------------------------------------------------------------------


def human_to_atoms(value: object, decimals: int, name: str) -> int:
    """Convert a human number (JSON int or decimal string) to atoms, exactly."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name}: write numbers as integers or decimal strings, not {value!r}")
    return to_atoms(str(value), decimals)


def ratio_to_atoms(value: object, name: str) -> int:
    """Convert "0.1" or "10%" to a ratio scaled by ONE."""
    if isinstance(value, str) and value.endswith("%"):
        return to_atoms(value[:-1], RATIO_DECIMALS - 2)  # 1% = 10**16
    return human_to_atoms(value, RATIO_DECIMALS, name)


def account_key(text: str) -> AccountKey:
    """Return the key of ``"name"`` or ``"name/3"`` (names stand for addresses)."""
    name, _, sub = text.partition("/")
    if name.startswith(POOL_OWNER_PREFIX):
        return (name, 0)  # a pool's own account
    return (address_of(name), int(sub) if sub else 0)


def _asset_decimals(state: State, symbol: object) -> int:
    if isinstance(symbol, str) and symbol in state.assets:
        return state.assets[symbol].decimals
    return QUOTE_DECIMALS


def convert_tx(state: State, obj: dict[str, Any]) -> dict[str, Any]:
    """Turn a scenario transaction (human units, names) into the wire form (atoms, addresses)."""
    kind = obj["tx"]
    cls = TX_TYPES.get(kind)
    names = {f.name for f in fields(cls)} if cls is not None else set()
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "side":
            if value not in ("buy", "sell"):
                raise ValueError('side must be "buy" or "sell"')
            out["is_buy"] = value == "buy"
        elif key == "account" and "owner" in names:
            owner, sub = account_key(str(value))
            out["owner"] = owner
            out["subaccount" if "subaccount" in names else "from_subaccount"] = sub
        elif value is None or key == "tx":
            out[key] = value
        elif key in _ADDRESS_FIELDS:
            out[key] = address_of(value) if isinstance(value, str) else value  # else: Malformed
        elif key == "reporters" and isinstance(value, list):
            out[key] = [address_of(v) if isinstance(v, str) else v for v in value]
        elif key in _SIZE_FIELDS:
            out[key] = human_to_atoms(value, SIZE_DECIMALS, key)
        elif key in _PRICE_FIELDS or key in _QUOTE_FIELDS:
            out[key] = human_to_atoms(value, QUOTE_DECIMALS, key)
        elif key == "amount":
            decimals = _asset_decimals(state, obj.get("asset"))
            out[key] = human_to_atoms(value, decimals, key)
        elif key == "deposit_cap":
            out[key] = human_to_atoms(value, int(obj.get("decimals", QUOTE_DECIMALS)), key)
        elif key in _RATIO_FIELDS:
            out[key] = ratio_to_atoms(value, key)
        elif key == "expiry" and isinstance(value, str) and value.startswith("+"):
            out[key] = state.time + int(value[1:])  # "+3600": an hour after the current time
        else:
            out[key] = value
    if "sender" in names and "sender" not in out:
        out["sender"] = GOVERNOR
    if "subaccount" in names and "subaccount" not in out:
        out["subaccount"] = 0
    if "keeper_subaccount" in names and "keeper_subaccount" not in out:
        out["keeper_subaccount"] = 0
    if cls in (PriceReport, VolReport) and "timestamp" not in out:
        out["timestamp"] = state.time
    return out


# --- expectations ----------------------------------------------------------------


def _compare(actual: int, spec: dict[str, Any], decimals: int, what: str) -> None:
    checks: dict[str, Callable[[int, int], bool]] = {
        "is": lambda a, b: a == b,
        "at_least": lambda a, b: a >= b,
        "at_most": lambda a, b: a <= b,
        "above": lambda a, b: a > b,
        "below": lambda a, b: a < b,
    }
    matched = False
    for op, test in checks.items():
        if op not in spec:
            continue
        matched = True
        raw = spec[op]
        expected = (
            ratio_to_atoms(raw, what) if decimals == RATIO_DECIMALS else human_to_atoms(raw, decimals, what)
        )
        if not test(actual, expected):
            raise AssertionError(
                f"{what} is {from_atoms(actual, decimals)}, expected {op.replace('_', ' ')} {raw}"
            )
    if not matched:
        raise ValueError(f"{what}: give one of {', '.join(checks)}")


def _account(state: State, spec: dict[str, Any]) -> tuple[AccountKey, Any]:
    key = account_key(str(spec["account"]))
    account = state.accounts.get(key)
    if account is None:
        raise AssertionError(f"no account {spec['account']}")
    return key, account


def _expect_balance(state: State, spec: dict[str, Any]) -> None:
    _, account = _account(state, spec)
    asset = spec.get("asset", state.quote)
    decimals = _asset_decimals(state, asset)
    _compare(account.balances.get(asset, 0), spec, decimals, f"{spec['account']} {asset} balance")


def _expect_position(state: State, spec: dict[str, Any]) -> None:
    _, account = _account(state, spec)
    pos = account.positions.get(spec["market"])
    size = pos.size if pos is not None else 0
    _compare(size, {"is": spec["size"]}, SIZE_DECIMALS, f"{spec['account']} {spec['market']} position")


def _expect_health(state: State, spec: dict[str, Any]) -> None:
    _, account = _account(state, spec)
    risk = cross_risk(state, account)
    if "liquidatable" in spec and risk.is_liquidatable != spec["liquidatable"]:
        raise AssertionError(f"{spec['account']} liquidatable is {risk.is_liquidatable}")
    if "meets_initial" in spec and risk.meets_initial != spec["meets_initial"]:
        raise AssertionError(f"{spec['account']} meets initial margin is {risk.meets_initial}")
    for name, value in (
        ("free_collateral", risk.free_collateral),
        ("health", risk.health),
        ("initial_requirement", risk.im),
        ("maintenance_requirement", risk.mm),
        ("value", risk.value_maint),
    ):
        if name in spec:
            _compare(value, spec[name], QUOTE_DECIMALS, f"{spec['account']} {name}")


def _expect_index(state: State, spec: dict[str, Any]) -> None:
    _compare(state.feeds[spec["asset"]].index_price, spec, QUOTE_DECIMALS, f"{spec['asset']} index")


def _expect_mark(state: State, spec: dict[str, Any]) -> None:
    _compare(state.markets[spec["market"]].mark_price, spec, QUOTE_DECIMALS, f"{spec['market']} mark")


def _expect_imf(state: State, spec: dict[str, Any]) -> None:
    market = state.markets[spec["market"]]
    notional = 0
    if "account" in spec:
        _, account = _account(state, spec)
        pos = account.positions.get(market.id)
        notional = position_notional(pos.size, market.mark_price) if pos is not None else 0
    imf, _ = compute_fractions(market, state.feeds[market.asset].vol_sigma, notional, 0)
    _compare(imf, spec, RATIO_DECIMALS, f"{market.id} imf")


def _expect_funding_rate(state: State, spec: dict[str, Any]) -> None:
    market = state.markets[spec["market"]]
    _compare(market.funding_rate, spec, RATIO_DECIMALS, f"{market.id} funding rate")


def _expect_open_interest(state: State, spec: dict[str, Any]) -> None:
    market = state.markets[spec["market"]]
    _compare(market.open_interest, spec, SIZE_DECIMALS, f"{market.id} open interest")


def _expect_pool(state: State, spec: dict[str, Any]) -> None:
    pool = state.pools[spec["pool"]]
    if "shares_of" in spec:
        key = account_key(str(spec["shares_of"]))
        _compare(pool.shares.get(key, 0), spec, QUOTE_DECIMALS, f"{spec['shares_of']} shares")
    elif "position" in spec:
        pos = state.accounts[pool.account].positions.get(spec["position"])
        _compare(pos.size if pos else 0, spec, SIZE_DECIMALS, f"pool {spec['position']} position")
    else:
        _compare(pool_equity(state, pool), spec, QUOTE_DECIMALS, f"pool {pool.id} equity")


def _expect_fee_balance(state: State, spec: dict[str, Any]) -> None:
    _compare(state.fee_balance, spec, QUOTE_DECIMALS, "protocol fee balance")


def _expect_orders(state: State, spec: dict[str, Any]) -> None:
    key, _ = _account(state, spec)
    market = state.markets[spec["market"]]
    count = len(market.book.by_account.get(key, ()))
    if count != spec["count"]:
        raise AssertionError(f"{spec['account']} has {count} open orders, expected {spec['count']}")


def _expect_insurance(state: State, spec: dict[str, Any]) -> None:
    domain = str(spec["domain"])
    _compare(state.insurance.get(domain, 0), spec, QUOTE_DECIMALS, f"insurance fund {domain}")


def _expect_settlement(state: State, spec: dict[str, Any]) -> None:
    market = state.markets[spec["market"]]
    expiry = market.expiry
    if expiry is None:
        raise AssertionError(f"{market.id} is a perpetual: it never settles")
    if "settled" in spec and expiry.settled != spec["settled"]:
        raise AssertionError(f"{market.id} settled is {expiry.settled}")
    if "fresh_seconds" in spec:
        wanted = spec["fresh_seconds"]
        _compare(
            expiry.twap_seconds,
            wanted if isinstance(wanted, dict) else {"is": wanted},
            0,
            f"{market.id} fresh seconds",
        )
    if "average" in spec:
        if expiry.twap_seconds == 0:
            raise AssertionError(f"{market.id} has no fresh second in its settlement average yet")
        average = expiry.twap_sum // expiry.twap_seconds
        _compare(average, spec["average"], QUOTE_DECIMALS, f"{market.id} settlement average")
    if "price" in spec:
        if not expiry.settled:
            raise AssertionError(f"{market.id} has not settled")
        _compare(expiry.settlement_price, spec["price"], QUOTE_DECIMALS, f"{market.id} settlement price")


def _expect_greeks(state: State, spec: dict[str, Any]) -> None:
    """Greeks summed over the account's positions on ``asset`` (``instruments.account_greeks``),
    in human units: delta in base units, gamma in base units per quote unit of price,
    vega in quote per 1.00 of volatility, theta in quote per year.
    """
    _, account = _account(state, spec)
    asset = str(spec["asset"])
    totals = account_greeks(state, account).get(asset)
    quote = _asset_decimals(state, state.quote)
    units = {"delta": 0, "gamma": -quote, "vega": quote, "theta": quote}
    for name, shift in units.items():
        if name in spec:
            value = getattr(totals, name) if totals is not None else 0
            _compare(value, spec[name], RATIO_DECIMALS + shift, f"{spec['account']} {asset} {name}")


def _expect_smile(state: State, spec: dict[str, Any]) -> None:
    feed = state.vol_feeds[spec["feed"]]
    if "stale" in spec and is_vol_stale(state, feed) != spec["stale"]:
        raise AssertionError(f"{feed.id} stale is {is_vol_stale(state, feed)}")
    for name in ("atm_vol", "skew", "curvature"):
        if name in spec:
            _compare(getattr(feed, name), spec[name], RATIO_DECIMALS, f"{feed.id} {name}")


_STATE_EXPECTATIONS: dict[str, Callable[[State, dict[str, Any]], None]] = {
    "balance": _expect_balance,
    "position": _expect_position,
    "health": _expect_health,
    "index": _expect_index,
    "mark": _expect_mark,
    "imf": _expect_imf,
    "funding_rate": _expect_funding_rate,
    "open_interest": _expect_open_interest,
    "pool": _expect_pool,
    "fee_balance": _expect_fee_balance,
    "orders": _expect_orders,
    "insurance": _expect_insurance,
    "settlement": _expect_settlement,
    "greeks": _expect_greeks,
    "smile": _expect_smile,
}


def _as_text(value: object) -> str:
    """Return a value as the text it is compared by: JSON spelling for booleans and null."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _same_value(expected: object, human: object, raw: object) -> bool:
    """Return whether an expected event field equals the humanised or the raw value.

    Compared as text; two decimal numbers also match when they are numerically equal
    (``"1.0000"`` matches ``"1"``).
    """
    want = _as_text(expected)
    candidates = (_as_text(human), _as_text(raw))
    if want in candidates:
        return True
    if isinstance(expected, bool) or not isinstance(expected, int | str):
        return False
    try:
        number = Decimal(want)
    except InvalidOperation:
        return False
    for text in candidates:
        try:
            if number.is_finite() and Decimal(text) == number:
                return True
        except InvalidOperation:
            continue
    return False


def event_matches(state: State, ev: Event, spec: dict[str, Any]) -> bool:
    """Return whether an event has the spec's ``kind`` and every other field the spec gives."""
    if "kind" not in spec:
        raise ValueError('an event expectation needs "kind"')
    if ev.kind != spec["kind"]:
        return False
    human = humanise_event(state, ev)
    for key, expected in spec.items():
        if key == "kind":
            continue
        if key not in ev.data or not _same_value(expected, human[key], ev.data[key]):
            return False
    return True


def _describe_events(state: State, events: list[Event]) -> str:
    return "; ".join(
        " ".join(f"{k}={_as_text(v)}" for k, v in humanise_event(state, e).items()) for e in events
    )


def _expect_event(state: State, key: str, value: Any, previous: Step | None) -> None:
    events = previous.events if previous is not None else []
    for spec in value if isinstance(value, list) else [value]:
        if not isinstance(spec, dict):
            raise ValueError(f"{key}: give an object with a kind and fields, or a list of them")
        found = [e for e in events if event_matches(state, e, spec)]
        if key == "event" and not found:
            raise AssertionError(
                f"no event of the previous transaction matches {json.dumps(spec)}; "
                f"it emitted: {_describe_events(state, events) or 'nothing'}"
            )
        if key == "no_event" and found:
            raise AssertionError(
                f"the previous transaction emitted {_describe_events(state, found)}, "
                f"which matches {json.dumps(spec)}"
            )


def open_interest_gaps(state: State) -> dict[str, tuple[int, int, int]]:
    """Return, per market where they differ, (Σ long sizes, Σ |short sizes|, open interest)."""
    longs = dict.fromkeys(state.markets, 0)
    shorts = dict.fromkeys(state.markets, 0)
    for account in state.accounts.values():
        for market_id, pos in account.positions.items():
            if pos.size > 0:
                longs[market_id] += pos.size
            else:
                shorts[market_id] -= pos.size
    out = {}
    for market_id, market in state.markets.items():
        triple = (longs[market_id], shorts[market_id], market.open_interest)
        if not triple[0] == triple[1] == triple[2]:
            out[market_id] = triple
    return out


def _expect_conserved(state: State, wanted: Any) -> None:
    if not isinstance(wanted, bool):
        raise ValueError("conserved: write true or false")
    gaps = {s: g for s, g in check_conservation(state).items() if g != 0}
    if wanted and gaps:
        shown = ", ".join(f"{s} {from_atoms(g, _asset_decimals(state, s))}" for s, g in sorted(gaps.items()))
        raise AssertionError(f"money is not conserved: (deposits - withdrawals) - holdings = {shown}")
    if not wanted and not gaps:
        raise AssertionError("money is conserved, expected a gap")


def _expect_longs_equal_shorts(state: State, wanted: Any) -> None:
    if not isinstance(wanted, bool):
        raise ValueError("longs_equal_shorts: write true or false")
    gaps = open_interest_gaps(state)
    if wanted and gaps:
        shown = ", ".join(
            f"{m}: longs {from_atoms(a, SIZE_DECIMALS)}, shorts {from_atoms(b, SIZE_DECIMALS)}, "
            f"open interest {from_atoms(c, SIZE_DECIMALS)}"
            for m, (a, b, c) in sorted(gaps.items())
        )
        raise AssertionError(f"longs differ from shorts: {shown}")
    if not wanted and not gaps:
        raise AssertionError("longs equal shorts in every market, expected a difference")


def check_expectation(state: State, spec: dict[str, Any], previous: Step | None) -> None:
    """Raise AssertionError when an ``expect`` object does not hold."""
    for key, value in spec.items():
        if key == "error":
            if previous is None or previous.error is None:
                raise AssertionError(f"expected the previous transaction to fail with {value}")
            if previous.error.name != value:
                raise AssertionError(f"previous transaction failed with {previous.error.name}, not {value}")
        elif key in ("events", "no_events"):
            kinds = [e.kind for e in previous.events] if previous is not None else []
            for wanted in [value] if isinstance(value, str) else value:
                if key == "events" and wanted not in kinds:
                    raise AssertionError(f"previous transaction emitted {kinds}, not {wanted}")
                if key == "no_events" and wanted in kinds:
                    raise AssertionError(f"previous transaction emitted {wanted}")
        elif key in ("event", "no_event"):
            _expect_event(state, key, value, previous)
        elif key == "conserved":
            _expect_conserved(state, value)
        elif key == "longs_equal_shorts":
            _expect_longs_equal_shorts(state, value)
        elif key in _STATE_EXPECTATIONS:
            for item in value if isinstance(value, list) else [value]:
                _STATE_EXPECTATIONS[key](state, item)
        else:
            raise ValueError(
                f"unknown expectation {key!r}; one of error, events, no_events, event, no_event, "
                f"conserved, longs_equal_shorts, {', '.join(_STATE_EXPECTATIONS)}"
            )


# --- replay ----------------------------------------------------------------------


def _prices_txs(state: State, obj: dict[str, Any]) -> list[dict[str, Any]]:
    feed = state.feeds[obj["asset"]]
    addresses = list(feed.reporters)
    prices = obj.get("prices")
    if prices is None:
        prices = [obj["price"]] * len(addresses)
    if len(prices) > len(addresses):
        raise ValueError(f"{obj['asset']} has {len(addresses)} reporters, {len(prices)} prices given")
    return [
        {
            "tx": "PriceReport",
            "reporter": address,
            "asset": obj["asset"],
            "price": human_to_atoms(price, QUOTE_DECIMALS, "price"),
            "timestamp": state.time,
        }
        for address, price in zip(addresses, prices, strict=False)
        if price is not None
    ]


def _vols_txs(state: State, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every reporter of a volatility feed reports the same smile (``"silent": n`` leaves the last n out)."""
    feed = state.vol_feeds[obj["feed"]]
    addresses = list(feed.reporters)
    silent = int(obj.get("silent", 0))
    smile = {k: ratio_to_atoms(obj.get(k, "0"), k) for k in ("atm_vol", "skew", "curvature")}
    return [
        {"tx": "VolReport", "reporter": address, "feed": obj["feed"], **smile, "timestamp": state.time}
        for address in addresses[: len(addresses) - silent]
    ]


def start_state(name: str = "fixture_f", time: int = GENESIS_TIME) -> State:
    """Return the state of a named genesis at ``time``."""
    if name not in GENESIS:
        raise ValueError(f"unknown genesis {name!r}; one of {', '.join(GENESIS)}")
    state = genesis(GOVERNOR)
    apply(state, SetTime(time))
    for tx in GENESIS[name]():
        apply(state, tx)
    return state


def parse_lines(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Return (line number, object) for each non-blank, non-comment line."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ScenarioFailure(number, f"not JSON: {error}") from None
        if not isinstance(obj, dict):
            raise ScenarioFailure(number, "each line must be a JSON object")
        out.append((number, obj))
    return out


def run_scenario(
    path: str | Path,
    on_step: Callable[[Step], None] | None = None,
    *,
    check_refusals: bool = False,
) -> Replay:
    """Replay a scenario file; stop at the first failure (recorded in ``Replay.failure``).

    With ``check_refusals`` every refused transaction must leave ``state_hash`` unchanged.
    """
    return run_lines(Path(path).read_text(), str(path), on_step, check_refusals=check_refusals)


def run_lines(
    text: str,
    name: str = "<scenario>",
    on_step: Callable[[Step], None] | None = None,
    setup: Callable[[State], None] | None = None,
    *,
    check_refusals: bool = False,
) -> Replay:
    """Replay scenario text; ``setup`` may adjust the genesis state before the first line runs.

    With ``check_refusals`` the state hash is taken before every transaction the replay
    applies, and a refused one that changed it fails the replay on its line.
    """
    lines = parse_lines(text)
    state: State | None = None
    steps: list[Step] = []
    replay = Replay(name, genesis(GOVERNOR), steps)
    previous: Step | None = None
    pending_error: Step | None = None
    try:
        for index, (number, obj) in enumerate(lines):
            if "genesis" in obj:
                if state is not None:
                    raise ScenarioFailure(number, "genesis must be the first line")
                state = start_state(obj["genesis"], int(obj.get("time", GENESIS_TIME)))
                if setup is not None:
                    setup(state)
                replay.state = state
                continue
            if "comment" in obj:
                step = Step(number, "comment", str(obj["comment"]))
                steps.append(step)
                continue
            if state is None:
                state = start_state()
                if setup is not None:
                    setup(state)
                replay.state = state
            if "expect" in obj:
                step = Step(number, "expect", json.dumps(obj["expect"]))
                try:
                    check_expectation(state, obj["expect"], previous)
                except (AssertionError, ValueError, KeyError) as error:
                    raise ScenarioFailure(number, f"expectation failed: {error}") from None
                if "error" in obj["expect"]:
                    pending_error = None
            elif "tx" in obj:
                if pending_error is not None:
                    raise _unexpected(pending_error)
                step = _run_tx(state, number, obj, check_refusals)
                previous = step
                if step.error is not None:
                    following = lines[index + 1][1] if index + 1 < len(lines) else {}
                    expected = following.get("expect", {})
                    if not isinstance(expected, dict) or "error" not in expected:
                        raise _unexpected(step)
                    pending_error = step
            else:
                raise ScenarioFailure(number, "a line needs one of: tx, expect, comment, genesis")
            steps.append(step)
            if on_step is not None:
                on_step(step)
        if pending_error is not None:
            raise _unexpected(pending_error)
    except ScenarioFailure as failure:
        replay.failure = failure
    if state is not None:
        replay.state = state
    return replay


def _unexpected(step: Step) -> ScenarioFailure:
    error = step.error
    name = error.name if error is not None else "?"
    message = error.message if error is not None else ""
    return ScenarioFailure(step.line, f"{step.text} failed unexpectedly with {name}: {message}")


def _advance_txs(state: State, obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the transactions of an ``Advance`` line, each computed on the state as it is then.

    The clock moves ``seconds`` in steps of ``every`` (the last may be shorter). After each
    step, unless ``"report": false``, every reporter of every feed (feeds by asset name,
    reporters in their registered order) whose last report is still fresh at the new time
    re-reports its last price stamped with the new time.
    """
    seconds = obj.get("seconds")
    every = obj.get("every", 30)
    report = obj.get("report", True)
    for label, value in (("seconds", seconds), ("every", every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"Advance: {label} must be a whole number of seconds, not {value!r}")
    assert isinstance(seconds, int) and isinstance(every, int)
    if every == 0:
        raise ValueError("Advance: every must be at least 1 second")
    if not isinstance(report, bool):
        raise ValueError("Advance: report must be true or false")
    extra = sorted(set(obj) - {"tx", "seconds", "every", "report"})
    if extra:
        raise ValueError(f"Advance has no field {extra[0]!r}")
    end = state.time + seconds
    while state.time < end:
        yield {"tx": "SetTime", "time": min(state.time + every, end)}
        if not report:
            continue
        now = state.time
        for asset in sorted(state.feeds):
            feed = state.feeds[asset]
            fresh = [
                (address, r.price)
                for address, r in feed.reporters.items()
                if r.timestamp > 0 and now - r.timestamp <= feed.staleness_s
            ]
            for address, price in fresh:
                yield {
                    "tx": "PriceReport",
                    "reporter": address,
                    "asset": asset,
                    "price": price,
                    "timestamp": now,
                }


def _snapshot(state: State) -> bytes:
    """Return the state's pickle: four times cheaper than ``state_hash``, taken before every tx."""
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def _changed_since(state: State, snapshot: bytes) -> bool:
    """Return whether ``state_hash`` differs from that of the snapshotted state.

    Identical pickles mean an identical state; otherwise (a dict refilled in another order
    pickles differently) the snapshot is restored and the canonical hashes decide.
    """
    if _snapshot(state) == snapshot:
        return False
    restored: State = pickle.loads(snapshot)  # our own bytes, taken a moment ago
    return state_hash(restored) != state_hash(state)


def _run_keeper(state: State, number: int, obj: dict[str, Any]) -> Step:
    """Run the reference keeper once (``solvent.keeper.Keeper.run``): its liquidations' events
    are the step's; its refusals (no liquidity, cap reached, stale price) are listed in the text.
    """
    from solvent.keeper import Keeper  # noqa: PLC0415 (numpy is loaded only by scenarios that use it)

    owner, sub = account_key(str(obj.get("keeper", "keeper")))
    step = Step(number, "tx", "Keeper", tx=obj)
    refusals = []
    for tx, outcome in Keeper(owner, sub).run(state):
        if isinstance(outcome, ProtocolError):
            refusals.append(f"{type(tx).__name__} {name_of(getattr(tx, 'owner', ''))}: {outcome.name}")
        else:
            step.events.extend(outcome)
    if refusals:
        step.text = f"Keeper (refused: {'; '.join(refusals)})"
    return step


def _run_tx(state: State, number: int, obj: dict[str, Any], check_refusals: bool = False) -> Step:
    wires: Iterator[dict[str, Any]]
    if obj["tx"] == "Keeper":
        return _run_keeper(state, number, obj)
    try:
        if obj["tx"] == "Prices":
            wires = iter(_prices_txs(state, obj))
        elif obj["tx"] == "Vols":
            wires = iter(_vols_txs(state, obj))
        elif obj["tx"] == "Advance":
            wires = _advance_txs(state, obj)
        elif obj["tx"] == "SetTime" and "advance" in obj:
            wires = iter([{"tx": "SetTime", "time": state.time + int(obj["advance"])}])
        else:
            wires = iter([convert_tx(state, obj)])
    except (ValueError, KeyError, TypeError) as error:
        raise ScenarioFailure(number, f"cannot read transaction: {error}") from None
    step = Step(number, "tx", str(obj["tx"]), tx=obj)
    while True:
        try:
            wire = next(wires)
        except StopIteration:
            break
        except (ValueError, KeyError, TypeError) as error:
            raise ScenarioFailure(number, f"cannot read transaction: {error}") from None
        before = _snapshot(state) if check_refusals else None
        try:
            tx = decode_tx(wire)
            step.events.extend(apply(state, tx))
        except ProtocolError as error:
            if before is not None and _changed_since(state, before):
                raise ScenarioFailure(
                    number, f"refused transaction changed the state: {wire['tx']} {error.name}"
                ) from None
            step.error = error
            break
    return step


# --- summary ---------------------------------------------------------------------


def humanise_event(state: State, ev: Event) -> dict[str, EventValue]:
    """Return an event's fields with amounts, sizes and prices as decimal strings."""
    out: dict[str, EventValue] = {"event": ev.kind}
    asset = ev.data.get("asset")
    for key, value in ev.data.items():
        if isinstance(value, str) and value.startswith("0x"):
            out[key] = name_of(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            out[key] = value
        elif key in ("size", "remaining", "filled", "deleveraged"):
            out[key] = from_atoms(value, SIZE_DECIMALS)
        elif key in ("price", "index", "previous", "median", "proposed", "mark", "trigger_price"):
            out[key] = from_atoms(value, QUOTE_DECIMALS)
        elif key == "amount" and isinstance(asset, str) and asset in state.assets:
            out[key] = from_atoms(value, state.assets[asset].decimals)
        elif key in (
            "notional",
            "taker_fee",
            "maker_fee",
            "amount",
            "shares",
            "penalty",
            "keeper_reward",
            "insurance_fee",
            "deficit",
            "shortfall",
            "balance",
            "proceeds",
        ):
            out[key] = from_atoms(value, QUOTE_DECIMALS)
        elif key == "rate":
            out[key] = from_atoms(value * 100, RATIO_DECIMALS) + "%/h"
        else:
            out[key] = value
    return out


def check_conservation(state: State) -> dict[str, int]:
    """Return, per asset, (deposited - withdrawn) - (all holdings); all zeros when money is conserved."""
    gaps: dict[str, int] = {}
    for symbol in state.assets:
        held = sum(a.balances.get(symbol, 0) for a in state.accounts.values())
        if symbol == state.quote:
            held += state.fee_balance + sum(state.insurance.values())
            held += sum(m.funding_balance for m in state.markets.values())
            held += sum(p.isolated_margin for a in state.accounts.values() for p in a.positions.values())
        net = state.deposited.get(symbol, 0) - state.withdrawn.get(symbol, 0)
        gaps[symbol] = net - held
    return gaps


def summarise(state: State) -> dict[str, Any]:
    """Return the final state in human units: accounts, markets, pools, hash."""
    accounts = {}
    for key in sorted(state.accounts):
        account = state.accounts[key]
        risk = cross_risk(state, account)
        accounts[name_of(format_account(key))] = {
            "balances": {
                s: from_atoms(v, _asset_decimals(state, s)) for s, v in sorted(account.balances.items())
            },
            "positions": {
                m: {
                    "size": from_atoms(p.size, SIZE_DECIMALS),
                    "entry_price": from_atoms(abs(p.cost) * SIZE_ONE // abs(p.size), QUOTE_DECIMALS)
                    if p.size
                    else None,
                    "realised_pnl": from_atoms(p.realised_pnl, QUOTE_DECIMALS),
                    "isolated_margin": from_atoms(p.isolated_margin, QUOTE_DECIMALS),
                }
                for m, p in sorted(account.positions.items())
            },
            "value": from_atoms(risk.value_maint, QUOTE_DECIMALS),
            "health": from_atoms(risk.health, QUOTE_DECIMALS),
            "free_collateral": from_atoms(risk.free_collateral, QUOTE_DECIMALS),
        }
    markets = {
        m.id: {
            "index": from_atoms(state.feeds[m.asset].index_price, QUOTE_DECIMALS),
            "mark": from_atoms(m.mark_price, QUOTE_DECIMALS),
            "open_interest": from_atoms(m.open_interest, SIZE_DECIMALS),
            "funding_rate_per_hour": from_atoms(m.funding_rate * 100, RATIO_DECIMALS) + "%",
            "open_orders": len(m.book.orders),
        }
        for m in state.markets.values()
    }
    gaps = check_conservation(state)
    return {
        "time": state.time,
        "accounts": accounts,
        "markets": markets,
        "fee_balance": from_atoms(state.fee_balance, QUOTE_DECIMALS),
        "conserved": all(v == 0 for v in gaps.values()),
        "state_hash": state_hash(state),
    }


def risk_report(state: State, steps: list[Step]) -> dict[str, Any]:
    """Return what liquidation did in a replay: liquidations, keeper rewards, insurance
    funds (now and paid out), ADL and socialised loss, in human units.
    """
    totals = {
        "liquidations": 0,
        "collateral_liquidations": 0,
        "keeper_rewards": 0,
        "penalties": 0,
        "insurance_paid": 0,
        "deleveraged_positions": 0,
        "socialised_loss": 0,
    }
    for step in steps:
        for ev in step.events:
            data = ev.data
            if ev.kind == "Liquidated":
                totals["liquidations"] += 1
                totals["keeper_rewards"] += int(data["keeper_reward"])  # type: ignore[arg-type]
                totals["penalties"] += int(data["penalty"])  # type: ignore[arg-type]
            elif ev.kind == "CollateralLiquidated":
                totals["collateral_liquidations"] += 1
            elif ev.kind == "InsurancePaid":
                totals["insurance_paid"] += int(data["amount"])  # type: ignore[arg-type]
            elif ev.kind == "Deleveraged":
                totals["deleveraged_positions"] += 1
            elif ev.kind == "SocialisedLoss":
                totals["socialised_loss"] += int(data["amount"])  # type: ignore[arg-type]
    money = ("keeper_rewards", "penalties", "insurance_paid", "socialised_loss")
    report: dict[str, Any] = {
        k: from_atoms(v, QUOTE_DECIMALS) if k in money else v for k, v in totals.items()
    }
    report["insurance_funds"] = {d: from_atoms(v, QUOTE_DECIMALS) for d, v in sorted(state.insurance.items())}
    report["breakers"] = {m.id: dict(m.breakers) for m in state.markets.values() if m.breakers}
    return report


def replay_to_json(replay: Replay) -> dict[str, Any]:
    """Return one JSON document describing a replay."""
    state = replay.state
    return {
        "file": replay.path,
        "ok": replay.failure is None,
        "failure": str(replay.failure) if replay.failure else None,
        "steps": [
            {
                "line": s.line,
                "kind": s.kind,
                "text": s.text,
                "tx": s.tx,
                "events": [humanise_event(state, e) for e in s.events],
                "error": s.error.to_json() if s.error else None,
            }
            for s in replay.steps
        ],
        "summary": summarise(state),
        "risk": risk_report(state, replay.steps),
    }


def ratio_text(value: int) -> str:
    """Return a ratio as a percentage string."""
    return from_atoms(value * 100, RATIO_DECIMALS) + "%"
