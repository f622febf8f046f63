"""
The engine: atomic refusals, preview, halts on the oracle, and the JSON codec.

Every refused transaction must leave ``state_hash`` exactly as it was; the
fuzz test at the end feeds random JSON through ``decode_tx`` and ``apply``
and accepts nothing but ``ProtocolError`` subclasses (with the state
unchanged when one is raised).
"""

import copy
import dataclasses
import json
import random
import typing
from collections.abc import Callable
from typing import Any

import pytest
from fixtures import (
    BTC_PERP,
    T0,
    USDC,
    addr,
    btc,
    key,
    kinds,
    of_kind,
    place,
    position,
    ready_state,
    refused,
    report,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from solvent.core.codec import decode_tx, encode_tx
from solvent.core.engine import apply, preview
from solvent.core.errors import (
    AlreadyExists,
    BadAddress,
    DuplicateClientId,
    FillOrKillNotFilled,
    InsufficientBalance,
    InsufficientMargin,
    InsufficientShares,
    InvalidAmount,
    InvalidTrigger,
    Malformed,
    MarketPaused,
    OracleStale,
    PositionOpen,
    PostOnlyWouldCross,
    PriceBand,
    ProtocolError,
    ReduceOnlyWouldIncrease,
    ReportFromFuture,
    ReportReplayed,
    SameAccount,
    TimeWentBackwards,
    Unauthorized,
    UnknownAccount,
    UnknownOrder,
)
from solvent.core.fixed import ONE
from solvent.core.hashing import state_hash
from solvent.core.margin import cross_risk
from solvent.core.state import InstrumentKind, State, TimeInForce, TriggerKind
from solvent.core.tx import (
    TX_TYPES,
    AuthoriseAgent,
    CancelAll,
    CancelOrder,
    CancelTrigger,
    CancelTwap,
    ChainDeposit,
    CreatePool,
    Deposit,
    ForcedWithdrawal,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    ListAsset,
    ListDomain,
    ListMarket,
    ListOracle,
    ListVolOracle,
    ModifyOrder,
    MoveIsolatedMargin,
    PlaceOrder,
    PlaceScale,
    PlaceTrigger,
    PlaceTwap,
    PoolDeposit,
    PoolRequestWithdrawal,
    PoolWithdraw,
    PriceReport,
    ReplaceOrder,
    RevokeAgent,
    ScheduleCancel,
    SetAssetWeights,
    SetDomain,
    SetLeverage,
    SetMarginMode,
    SetMarketLimits,
    SetPortfolioMargin,
    SetPortfolioParams,
    SetReporters,
    SetTime,
    Settle,
    SettleFunding,
    SettleOnChain,
    Transfer,
    Tx,
    VolReport,
    Withdraw,
)
from solvent.defaults import GOVERNOR, address_of, reporters, usd

IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
R = reporters("BTC")


def _busy_state() -> State:
    """A state with a pool, resting orders both sides, a position, a trigger and an isolated setting.

    Order ids: 1 maker ask 1 BTC at 100,100 (client id 5), 2 maker bid 1 BTC at 99,900,
    3 the taker's IOC buy of 0.5 BTC (long 0.5 from the maker), 4 the taker's stop at 99,000.
    The taker then moves 60,000 USDC to subaccount 1: its subaccount 0 keeps value
    100,000 - 50,050 - fee 25.025 - 60,000 + 50,000 = 39,924.975 USDC.
    """
    state = ready_state()
    apply(state, PoolDeposit(addr("lp"), 0, "LP", usd("500000")))
    place(state, "maker", False, btc("1"), "100100", client_id=5)
    place(state, "maker", True, btc("1"), "99900")
    place(state, "taker", True, btc("0.5"), "100100", IOC)
    apply(
        state,
        PlaceTrigger(addr("taker"), 0, BTC_PERP, TriggerKind.STOP_MARKET, usd("99000"), False, btc("0.5")),
    )
    apply(state, SetMarginMode(addr("maker2"), 0, "ETH-PERP", True))
    apply(state, MoveIsolatedMargin(addr("maker2"), 0, "ETH-PERP", usd("1000")))
    apply(state, Transfer(addr("taker"), 0, 1, USDC, usd("60000")))
    return state


def _order(
    role: str, is_buy: bool, size: str, price: str | None, tif=TimeInForce.GTC, **kw: Any
) -> PlaceOrder:
    return PlaceOrder(addr(role), 0, BTC_PERP, is_buy, btc(size), usd(price) if price else None, tif, **kw)


REFUSALS: list[tuple[str, Tx, type[ProtocolError]]] = [
    ("list by a stranger", ListAsset(addr("taker"), "DOGE", 6, ONE, ONE, 10**9), Unauthorized),
    (
        "market listed twice",
        ListMarket(GOVERNOR, BTC_PERP, "BTC", "MAJ", 1, 1, 0, ONE // 10, ONE // 20, 10),
        AlreadyExists,
    ),
    ("pool created twice", CreatePool(GOVERNOR, "LP", 0, 0, ONE // 5, ONE // 2, 0), AlreadyExists),
    ("oracle listed twice", ListOracle(GOVERNOR, "BTC", R, 3), AlreadyExists),
    ("quote weights", SetAssetWeights(GOVERNOR, USDC, ONE // 2, ONE), InvalidAmount),
    ("no reporters", SetReporters(GOVERNOR, "BTC", (), 1), InvalidAmount),
    ("time backwards", SetTime(T0 - 1), TimeWentBackwards),
    ("report from the future", PriceReport(R[0], "BTC", usd("100000"), T0 + 1), ReportFromFuture),
    ("report replayed", PriceReport(R[0], "BTC", usd("100000"), T0), ReportReplayed),
    ("report by a stranger", PriceReport(address_of("stranger"), "BTC", usd("100000"), T0), Unauthorized),
    ("deposit to a bad address", Deposit("0xnot-an-address", 0, USDC, 1), BadAddress),
    ("withdraw below initial", Withdraw(addr("taker"), 0, USDC, usd("100000")), InsufficientMargin),
    ("transfer to itself", Transfer(addr("taker"), 0, 0, USDC, 1), SameAccount),
    # 1x: IM = 50,000 USDC > value 39,924.975
    ("leverage 1x with a position", SetLeverage(addr("taker"), 0, BTC_PERP, 1), InsufficientMargin),
    ("mode switch with a position", SetMarginMode(addr("taker"), 0, BTC_PERP, True), PositionOpen),
    (
        "isolated margin over what is held",
        MoveIsolatedMargin(addr("maker2"), 0, "ETH-PERP", -usd("1000.000001")),
        InsufficientBalance,
    ),
    ("settle an unknown account", SettleFunding(addr("nobody"), 0), UnknownAccount),
    # book 0.5 BTC at 100,100 + pool 0.1 BTC up to 100,200 < 20 BTC
    ("FOK too large for book and pool", _order("maker2", True, "20", "100200", FOK), FillOrKillNotFilled),
    ("post-only crossing", _order("taker", True, "0.1", "100100", TimeInForce.POST_ONLY), PostOnlyWouldCross),
    ("duplicate client id", _order("maker", False, "0.1", "100300", client_id=5), DuplicateClientId),
    ("price outside the band", _order("taker", True, "0.1", "105000.1"), PriceBand),
    ("order too large for margin", _order("taker", True, "5", "100100"), InsufficientMargin),
    (
        "reduce-only the wrong way",
        _order("taker", True, "0.1", "100000", reduce_only=True),
        ReduceOnlyWouldIncrease,
    ),
    ("market order that rests", _order("taker", True, "0.1", None), Malformed),
    (
        "modify out of the band",
        ModifyOrder(addr("maker"), 0, BTC_PERP, 1, usd("106000"), btc("1")),
        PriceBand,
    ),
    (
        "modify crossing short of margin",
        ModifyOrder(addr("maker"), 0, BTC_PERP, 2, usd("100100"), btc("200")),
        InsufficientMargin,
    ),
    (
        "modify another's order",
        ModifyOrder(addr("taker"), 0, BTC_PERP, 1, usd("100100"), btc("0.5")),
        UnknownOrder,
    ),
    ("cancel an unknown order", CancelOrder(addr("maker"), 0, BTC_PERP, order_id=3), UnknownOrder),
    ("cancel all of nobody", CancelAll(addr("nobody"), 0), UnknownAccount),
    (
        "take-profit without a position",
        PlaceTrigger(addr("maker2"), 0, BTC_PERP, TriggerKind.TAKE_PROFIT, usd("101000")),
        InvalidTrigger,
    ),
    ("cancel another's trigger", CancelTrigger(addr("maker"), 0, BTC_PERP, 4), UnknownOrder),
    (
        "pool deposit over the balance",
        PoolDeposit(addr("lp"), 0, "LP", usd("500000.000001")),
        InsufficientBalance,
    ),
    ("pool request over the shares", PoolRequestWithdrawal(addr("lp"), 0, "LP", 10**12), InsufficientShares),
    ("pool withdraw without request", PoolWithdraw(addr("lp"), 0, "LP"), InsufficientShares),
]


@pytest.mark.parametrize(("tx", "error"), [(tx, e) for _, tx, e in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_refused_transaction_leaves_state_hash_unchanged(tx, error):
    state = _busy_state()
    refused(state, tx, error)  # checks the error type and the state hash


def test_refused_fok_does_not_apply_its_planned_cancels():
    state = ready_state()
    place(state, "maker2", False, btc("0.1"), "100000")  # id 1
    apply(state, Withdraw(addr("maker2"), 0, USDC, usd("999000")))  # now unaffordable
    apply(state, Deposit(addr("taker"), 1, USDC, usd("2000")))
    place(state, "taker", False, btc("0.1"), "100050", sub=1)  # id 2: the taker's own ask
    # The plan would cancel id 1 (margin) and id 2 (self-trade) and still not fill: refused whole.
    refused(state, _order("taker", True, "0.1", "100100", FOK), FillOrKillNotFilled)
    assert sorted(state.markets[BTC_PERP].book.orders) == [1, 2]


# --- preview -----------------------------------------------------------------------


def test_preview_returns_apply_events_and_changes_nothing():
    state = ready_state({"maker": "1000000", "taker": "20000"})
    place(state, "maker", False, btc("1"), "100100")
    tx = _order("taker", True, "0.5", None, IOC)
    before = state_hash(state)
    seen = preview(state, tx)
    assert state_hash(state) == before
    # taker after: cash 20,000 - 50,050 - fee 25.025 = -30,075.025 USDC; 0.5 BTC worth 50,000
    # value 19,924.975; IM 5,000; MM 2,500; health 17,424.975; free 14,924.975 USDC
    assert seen.account == key("taker")
    assert (seen.risk.value_init, seen.risk.im, seen.risk.mm) == (
        19_924_975_000,
        5_000_000_000,
        2_500_000_000,
    )
    assert (seen.risk.health, seen.risk.free_collateral) == (17_424_975_000, 14_924_975_000)
    assert seen.market_risk == seen.risk  # cross mode: the market's bucket is the cross bucket
    # liquidation: -30,075.025 + 0.5 p = 0.025 p  =>  p = 63,315.842105...; in integers
    # 10**11 - 17_424_975_000 * 10**26 // (5 * 10**7 * (10**18 - 5 * 10**16)) = 63_315_842_106
    assert seen.liquidation_price == 63_315_842_106
    events = apply(state, tx)
    assert events == seen.events
    assert cross_risk(state, state.accounts[key("taker")]) == seen.risk


def test_preview_of_a_new_account_does_not_create_it():
    state = ready_state()
    before = state_hash(state)
    seen = preview(state, Deposit(addr("newcomer"), 0, USDC, usd("10")))
    assert kinds(seen.events) == ["Deposited"]
    assert seen.risk is not None and seen.risk.value_init == 10_000_000
    assert key("newcomer") not in state.accounts
    assert state_hash(state) == before


def test_preview_raises_what_apply_raises():
    state = ready_state()
    before = state_hash(state)
    with pytest.raises(PriceBand):
        preview(state, _order("taker", True, "0.1", "106000"))
    assert state_hash(state) == before


# --- halts on the oracle -----------------------------------------------------------


def _taker_long_half_and_bids(state: State) -> None:
    """Taker long 0.5 from the maker (maker short 0.5); the maker bids 0.5 at 99,500 (id 3),
    maker2 (flat) bids 0.3 at 99,600 (id 4)."""
    place(state, "maker", False, btc("0.5"), "100000")
    place(state, "taker", True, btc("0.5"), "100000", IOC)
    place(state, "maker", True, btc("0.5"), "99500")
    place(state, "maker2", True, btc("0.3"), "99600")


def test_stale_oracle_refuses_new_risk_and_accepts_reductions_and_deposits():
    state = ready_state()
    _taker_long_half_and_bids(state)
    apply(state, SetTime(T0 + 61))  # index older than 60 s
    refused(state, _order("taker", True, "0.1", "100000"), OracleStale)
    refused(state, _order("taker", False, "0.7", "99000", IOC), OracleStale)  # flips to short
    assert kinds(apply(state, Deposit(addr("taker"), 0, USDC, usd("1000")))) == ["Deposited"]
    events = place(state, "taker", False, btc("0.5"), "99500", IOC, reduce_only=True)
    # maker2's bid at 99,600 would add risk to maker2: skipped, not cancelled; the maker's bid
    # reduces the maker's short: filled.
    assert [(f["maker_order"], f["size"]) for f in of_kind(events, "Fill")] == [(3, 50_000_000)]
    assert "OrderCancelled" not in kinds(events)
    assert position(state, "taker") == 0 and position(state, "maker") == 0
    assert 4 in state.markets[BTC_PERP].book.orders


def test_band_breach_pauses_new_risk_until_confirmed():
    state = ready_state()
    _taker_long_half_and_bids(state)
    events = report(state, "BTC", usd("112000"), T0 + 10)  # +12%: held
    assert "IndexMoveHeld" in kinds(events)
    refused(state, _order("taker", True, "0.1", "100000"), MarketPaused)
    events = place(state, "taker", False, btc("0.2"), "99500", IOC, reduce_only=True)
    assert [(f["maker_order"], f["size"]) for f in of_kind(events, "Fill")] == [(3, 20_000_000)]
    assert "IndexJumpConfirmed" not in kinds(report(state, "BTC", usd("112000"), T0 + 11))
    refused(state, _order("taker", True, "0.1", "100000"), MarketPaused)
    events = report(state, "BTC", usd("112000"), T0 + 12)  # third distinct time
    assert of_kind(events, "IndexJumpConfirmed") == [{"asset": "BTC", "index": 112_000_000_000}]
    assert state.markets[BTC_PERP].mark_price == 112_000_000_000
    # Open again, with the band now around 112,000: [106,400, 117,600].
    refused(state, _order("taker", True, "0.1", "100000"), PriceBand)
    assert kinds(place(state, "taker", True, btc("0.1"), "112000")) == ["OrderPlaced"]


# --- codec -------------------------------------------------------------------------

ALL_TX_SAMPLES: list[Tx] = [
    SetTime(T0),
    ListAsset(GOVERNOR, "WBTC", 8, ONE // 2, ONE // 2, 10**12, (R[0],), 1),
    ListOracle(GOVERNOR, "SOL", (R[0], R[1]), 2),
    ListMarket(GOVERNOR, "X-PERP", "BTC", "MAJ", 1, 1, 0, ONE // 10, ONE // 20, 10, pool="LP"),
    CreatePool(GOVERNOR, "P2", 10**15, 10**16, ONE // 5, ONE // 2, 60),
    SetAssetWeights(GOVERNOR, "ETH", ONE // 2, ONE // 2),
    SetReporters(GOVERNOR, "BTC", R, 3),
    SettleOnChain(GOVERNOR),
    PriceReport(R[0], "BTC", 1, T0),
    Deposit(addr("maker"), 0, USDC, 1),
    Withdraw(addr("maker"), 0, USDC, 1),
    ChainDeposit(0, "0x" + "ab" * 32, addr("maker"), 0, USDC, 1),
    ForcedWithdrawal(0, addr("maker"), 0, USDC, 1),
    Transfer(addr("maker"), 0, 1, USDC, 1),
    PlaceOrder(addr("maker"), 0, BTC_PERP, True, 1, None, IOC, True, 9, 5),
    CancelOrder(addr("maker"), 0, BTC_PERP, None, 9),
    CancelAll(addr("maker"), 0, None),
    ModifyOrder(addr("maker"), 0, BTC_PERP, 1, 2, 3),
    PlaceTrigger(addr("maker"), 0, BTC_PERP, TriggerKind.STOP_LIMIT, 1, False, 2, 3, True, 4),
    CancelTrigger(addr("maker"), 0, BTC_PERP, 1),
    SetLeverage(addr("maker"), 0, BTC_PERP, 3),
    SetMarginMode(addr("maker"), 0, BTC_PERP, True),
    MoveIsolatedMargin(addr("maker"), 0, BTC_PERP, -1),
    SettleFunding(addr("maker"), 0),
    PoolDeposit(addr("maker"), 0, "LP", 1),
    PoolRequestWithdrawal(addr("maker"), 0, "LP", 1),
    PoolWithdraw(addr("maker"), 0, "LP"),
    ListDomain(GOVERNOR, "OPT", keeper_fee=1, backstop_max_skew=0),
    SetDomain(GOVERNOR, "MAJ", liq_band=ONE // 50, vol_halt=None),
    SetMarketLimits(GOVERNOR, BTC_PERP, 10, True),
    FundInsurance(addr("maker"), 0, "MAJ", 1),
    Liquidate(addr("keeper"), 1, addr("maker"), 0, BTC_PERP, None),
    LiquidateCollateral(addr("keeper"), 0, addr("maker"), 0, "ETH", 5),
    ListMarket(
        GOVERNOR,
        "X-C",
        "BTC",
        "OPT",
        1,
        1,
        0,
        ONE // 10,
        ONE // 20,
        10,
        kind=InstrumentKind.CALL,
        expiry=T0 + 86_400,
        settle_window_s=600,
        strike=10**11,
        contract_size=10**8,
        vol_feed="V",
    ),
    ListVolOracle(GOVERNOR, "V", "BTC", T0 + 86_400, (R[0], R[1]), 2),
    SetPortfolioParams(GOVERNOR, "BTC", ONE // 10, 3, ONE // 4, ONE // 4, 0, ONE, ONE // 2, 0, ONE),
    VolReport(R[0], "V", ONE // 2, -(ONE // 10), ONE // 20, T0),
    Settle(addr("keeper"), "X-C"),
    SetPortfolioMargin(addr("maker"), 0, True),
    AuthoriseAgent(addr("maker"), addr("maker-bot"), (0, 3), ("BTC-PERP",), T0 + 60),
    RevokeAgent(addr("maker"), addr("maker-bot")),
    ScheduleCancel(addr("maker"), 0, T0 + 30),
    ReplaceOrder(addr("maker"), 0, "BTC-PERP", 7, usd("99000"), 10**6),
    PlaceTwap(addr("maker"), 0, "BTC-PERP", True, 10**7, 60, 3, usd("101000"), True),
    CancelTwap(addr("maker"), 0, 4),
    PlaceScale(addr("maker"), 0, "BTC-PERP", False, 10**7, usd("101000"), usd("102000"), 4),
]


def test_codec_round_trips_every_transaction_type():
    assert {type(tx) for tx in ALL_TX_SAMPLES} == set(TX_TYPES.values())
    for tx in ALL_TX_SAMPLES:
        wire = json.loads(json.dumps(encode_tx(tx)))
        assert decode_tx(wire) == tx


_DROP = object()


def _deposit_json(**change: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "tx": "Deposit",
        "owner": addr("maker"),
        "subaccount": 0,
        "asset": USDC,
        "amount": 5,
    }
    obj.update(change)
    return {k: v for k, v in obj.items() if v is not _DROP}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_deposit_json(amount="5"), "amount"),
        (_deposit_json(amount=5.0), "amount"),
        (_deposit_json(amount=True), "amount"),
        (_deposit_json(amount=None), "amount"),
        (_deposit_json(subaccount=[0]), "subaccount"),
        (_deposit_json(owner=7), "owner"),
        (_deposit_json(amount=_DROP), "amount"),
        (_deposit_json(memo="hi"), "memo"),
        ({"tx": "SetMarginMode", "owner": "0x", "subaccount": 0, "market": "M", "isolated": 1}, "isolated"),
        (
            {
                "tx": "PlaceOrder",
                "owner": "0x",
                "subaccount": 0,
                "market": "M",
                "is_buy": True,
                "size": 1,
                "tif": "GTD",
            },
            "tif",
        ),
        (
            {"tx": "SetReporters", "sender": "0x", "asset": "BTC", "reporters": "0xabc", "quorum": 1},
            "reporters",
        ),
        ({"tx": "SetReporters", "sender": "0x", "asset": "BTC", "reporters": [1], "quorum": 1}, "reporters"),
    ],
)
def test_decode_tx_refuses_wrong_missing_and_extra_fields(payload, field):
    with pytest.raises(Malformed) as info:
        decode_tx(payload)
    assert repr(field) in info.value.message


@pytest.mark.parametrize(
    "payload", [None, [], "Deposit", 5, {}, {"tx": "Teleport"}, {"tx": 5}, {"kind": "SetTime"}]
)
def test_decode_tx_refuses_unknown_types_and_non_objects(payload):
    with pytest.raises(Malformed):
        decode_tx(payload)


def test_apply_refuses_a_non_transaction():
    with pytest.raises(Malformed):
        apply(ready_state(), {"tx": "SetTime", "time": T0})  # type: ignore[arg-type]


# --- fuzz --------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
_FUNDED = ["maker", "maker2", "taker", "lp", "liquidator"]
_ADDRESSES = [addr(r) for r in [*_FUNDED, "nobody"]] + [GOVERNOR, *R, "0xABC", ""]
_NUMBERS = [
    *(0, 1, -1, 2, 5_000, 10_000, 100_000, btc("0.1"), btc("1"), usd("1000"), usd("100000")),
    *(usd("100100"), usd("99900"), T0, T0 + 1, T0 + 61, 10**15, 10**16, ONE, 2**32),
    *(2**127 - 1, 2**127, -(2**127), 10**40),
]
_PRICES = [usd(p) for p in ("100000", "100100", "99900", "101000", "99000", "100000.05", "106000", "2000")]
# Plausible values per field name; 9 draws in 10 come from here when the name is listed.
_PLAUSIBLE: dict[str, list[object]] = {
    "owner": [addr(r) for r in _FUNDED] * 8 + _ADDRESSES,
    "sender": [GOVERNOR] * 8 + _ADDRESSES,
    "reporter": [*R, *R, *_ADDRESSES],
    "market": [BTC_PERP] * 6 + ["ETH-PERP", "ALT-PERP", "NOPE-PERP"],
    "asset": [USDC] * 4 + ["BTC", "ETH", "USDT", "ALT", "DOGE"],
    "symbol": [USDC, "ETH", "WBTC", "DOGE"],
    "pool": ["LP", "LP", "LP", "NOPE"],
    "domain": ["MAJ", "ALT", "NEW"],
    "subaccount": [0] * 20 + [1, -1, 2**32],
    "from_subaccount": [0, 0, 1, 7],
    "to_subaccount": [0, 1, 1, 2**32],
    "order_id": list(range(-1, 9)),
    "trigger_id": list(range(-1, 9)),
    "client_id": list(range(-1, 9)),
    "time": [T0, T0 + 1, T0 + 30, T0 + 61, T0 + 86_400, T0 - 1],
    "timestamp": [T0 - 1, T0, T0 + 1],
    "size": [
        btc("0.1"),
        btc("0.5"),
        btc("1"),
        btc("0.3"),
        btc("0.2"),
        btc("20"),
        btc("0.0001"),
        5_000,
        2**127,
    ],
    "price": [*_PRICES, 0, -1],
    "worst_price": [*_PRICES, 0],
    "limit_price": [*_PRICES, 0],
    "trigger_price": [*_PRICES, -1],
    "amount": [usd("1"), usd("1000"), usd("50000"), usd("2000000"), -usd("500"), 0, 2**127],
    "shares": [1, 10**9, 10**11, 10**12, 0, -1],
    "leverage": list(range(-1, 13)),
}
_HINTS = {cls: typing.get_type_hints(cls) for cls in TX_TYPES.values()}
# Every type, with the order paths (the deepest handlers) drawn more often.
_NAMES = sorted(TX_TYPES) + ["PlaceOrder"] * 8 + ["ModifyOrder", "PlaceTrigger", "PriceReport"] * 3


def _value(rng: random.Random, name: str, hint: Any) -> object:
    """A value of the field's own JSON type, mostly a plausible one."""
    args = typing.get_args(hint)
    if type(None) in args:
        if rng.random() < 0.3:
            return None
        (hint,) = [a for a in args if a is not type(None)]
    if name in _PLAUSIBLE and rng.random() < 0.9:
        return rng.choice(_PLAUSIBLE[name])
    if typing.get_origin(hint) is tuple:
        return rng.choice([[], list(R), [R[0], R[0]], ["0xABC"]])
    if hint is bool:
        return rng.random() < 0.5
    if hint is int:
        return rng.choice(_NUMBERS) if rng.random() < 0.8 else rng.randint(-(2**130), 2**130)
    if hint is str:
        return rng.choice(["x", "", "BTC-PERP"])
    return rng.choice([m.value for m in hint] + ["NONE"])  # an enum


@st.composite
def _payloads(draw: Callable[[st.SearchStrategy[Any]], Any]) -> object:
    """One JSON payload in ten is anything at all; the rest are transactions with plausible
    fields, now and then one missing, of a JSON type the codec refuses, or an extra one."""
    rng = random.Random(draw(st.integers(0, 2**64 - 1)))
    if rng.random() < 0.1:
        return draw(_JSON)
    name = rng.choice(_NAMES) if rng.random() < 0.95 else draw(st.text(max_size=6))
    cls = TX_TYPES.get(name)
    obj: dict[str, object] = {"tx": name}
    for field in dataclasses.fields(cls) if cls is not None else ():
        roll = rng.random()
        if roll < 0.01:
            continue
        obj[field.name] = draw(_JSON) if roll < 0.03 else _value(rng, field.name, _HINTS[cls][field.name])
    if rng.random() < 0.05:
        obj[draw(st.text(max_size=6))] = draw(_JSON)
    return obj


_BASE = _busy_state()


@settings(max_examples=2000, deadline=None)
@given(_payloads())
def test_fuzzed_payloads_raise_only_protocol_errors(payload):
    state = copy.deepcopy(_BASE)
    try:
        tx = decode_tx(payload)
    except ProtocolError:
        return
    before = state_hash(state)
    try:
        apply(state, tx)
    except ProtocolError:
        assert state_hash(state) == before, f"{tx} was refused but changed the state"
