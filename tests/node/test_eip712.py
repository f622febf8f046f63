"""
EIP-712 signing of transactions (``node.eip712``), checked against eth-account.

eth-account is the reference implementation: for generated transactions of every type in
``TX_TYPES`` (negative and extreme integers, empty and filled optionals and tuples, every enum
member, unicode strings) the fast ``signing_hash`` must equal the digest eth-account computes
from ``typed_data``, and signatures must cross over both ways. Then the attacks the node relies
on the signature to stop: another chain, another venue, another type, any tampered field, a
malleable (high-s) signature and malformed signatures and envelopes.
"""

import ast
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from solvent.core.engine import apply, genesis
from solvent.core.errors import BadAddress, BadSignature, Malformed, ProtocolError, Unauthorized, WrongDomain
from solvent.core.state import TimeInForce
from solvent.core.tx import (
    TX_TYPES,
    Deposit,
    Liquidate,
    ListDomain,
    ListOracle,
    PlaceOrder,
    PriceReport,
    SetDomain,
    SetTime,
    Settle,
    Withdraw,
)
from solvent.defaults import GENESIS_TIME, GOVERNOR, fixture_f, reporters
from solvent.node import eip712
from solvent.node.eip712 import (
    ADDRESS_FIELDS,
    SECP256K1_N,
    Domain,
    SchemaError,
    address_of_key,
    check_domain,
    domain_separator,
    encode_type,
    recover,
    sign,
    signing_hash,
    struct_hash,
    typed_data,
)

CORE = Path(eip712.__file__).resolve().parents[1] / "core"
VENUE = "0x" + "5e" * 20
DOMAIN = Domain(chain_id=42161, verifying_contract=VENUE)
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OWNER = address_of_key(KEY)
# Per type, scaled with the Hypothesis profile (dev 60, thorough 1000): eth-account is the slow
# part, and 37 types x 30 examples keep the file within a few seconds.
DIGEST_EXAMPLES = max(10, settings.default.max_examples // 2)
SIGNATURE_EXAMPLES = max(5, settings.default.max_examples // 6)


# --- strategies: any valid value of every field, read off the annotations -------------------

ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
INT256 = st.one_of(
    st.integers(min_value=-(2**255), max_value=2**255 - 1),
    st.integers(min_value=-1000, max_value=1000),
    st.sampled_from([0, -1, 2**255 - 1, -(2**255), 2**63, 2**64, -(2**64)]),
)
TEXT = st.one_of(st.text(max_size=12), st.text(min_size=140, max_size=300), st.sampled_from(["", "BTC-PERP"]))
KEYS = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
UINT64 = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.sampled_from([0, 1, 2**64 - 1]))
DOMAINS = st.builds(
    Domain,
    chain_id=st.one_of(st.integers(min_value=0, max_value=2**256 - 1), st.sampled_from([1, 42161])),
    verifying_contract=ADDRESSES,
    name=st.sampled_from(["Solvent", "Solvent testnet", ""]),
    version=st.sampled_from(["1", "2"]),
)


def _atom(hint: Any, address: bool) -> st.SearchStrategy[Any]:
    if hint is str:
        return ADDRESSES if address else TEXT
    if hint is int:
        return INT256
    if hint is bool:
        return st.booleans()
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    raise AssertionError(f"no strategy for {hint!r}")


def _field_values(name: str, hint: Any) -> st.SearchStrategy[Any]:
    address = name in ADDRESS_FIELDS
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not types.NoneType]
        return st.none() | _atom(inner, address)
    if origin is tuple:
        return st.lists(_atom(args[0], address), max_size=4).map(tuple)
    return _atom(hint, address)


def transactions(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _field_values(f.name, hints[f.name]) for f in fields(cls)})


def eth_account_digest(message: SignableMessage) -> bytes:
    """EIP-191: keccak256(0x19 ‖ version ‖ header ‖ body); version 0x01 is EIP-712."""
    return bytes(keccak(b"\x19" + message.version + message.header + message.body))


TYPE_NAMES = sorted(TX_TYPES)


# --- against eth-account --------------------------------------------------------------------


def test_every_transaction_type_has_a_schema() -> None:
    eip712.check_schemas()


@pytest.mark.parametrize("name", TYPE_NAMES)
@settings(max_examples=DIGEST_EXAMPLES)
@given(data=st.data())
def test_digest_matches_eth_account(name: str, data: st.DataObject) -> None:
    cls = TX_TYPES[name]
    tx = data.draw(transactions(cls))
    domain, nonce, expires = data.draw(DOMAINS), data.draw(UINT64), data.draw(UINT64)
    full = typed_data(domain, tx, nonce, expires)
    message = encode_typed_data(full_message=json.loads(json.dumps(full)))  # as sent over the wire
    assert message.header == domain_separator(domain)
    assert message.body == struct_hash(tx, nonce, expires)
    assert signing_hash(domain, tx, nonce, expires) == eth_account_digest(message)


@pytest.mark.parametrize("name", TYPE_NAMES)
@settings(max_examples=SIGNATURE_EXAMPLES)
@given(data=st.data())
def test_signatures_cross_over_with_eth_account(name: str, data: st.DataObject) -> None:
    cls = TX_TYPES[name]
    tx, key = data.draw(transactions(cls)), data.draw(KEYS)
    nonce, expires = data.draw(UINT64), data.draw(UINT64)
    signer = address_of_key(key)
    assert signer == Account.from_key(key).address.lower()
    message = encode_typed_data(full_message=typed_data(DOMAIN, tx, nonce, expires))
    theirs = Account.sign_message(message, private_key=key)
    assert bytes(theirs.message_hash) == signing_hash(DOMAIN, tx, nonce, expires)
    assert recover(DOMAIN, tx, nonce, expires, bytes(theirs.signature)) == signer
    ours = sign(key, DOMAIN, tx, nonce, expires)
    assert Account.recover_message(message, signature=ours).lower() == signer
    assert ours == bytes(theirs.signature)  # both RFC 6979: the same deterministic signature


def test_extreme_values_match_eth_account() -> None:
    order = PlaceOrder(
        owner=OWNER,
        subaccount=-(2**255),
        market="ünïcødé 🚀 " * 30,  # several keccak blocks
        is_buy=False,
        size=2**255 - 1,
        price=-1,
        tif=TimeInForce.POST_ONLY,
        reduce_only=True,
        client_id=0,
        worst_price=None,
    )
    update = SetDomain(sender=OWNER, domain="", keeper_fee=0, vol_halt=-(2**255), mmf_vol_step=2**255 - 1)
    for tx in (order, update):
        for nonce, expires in ((0, 0), (2**64 - 1, 2**64 - 1)):
            message = encode_typed_data(full_message=typed_data(DOMAIN, tx, nonce, expires))
            assert signing_hash(DOMAIN, tx, nonce, expires) == eth_account_digest(message)


def test_typed_data_is_what_a_wallet_takes() -> None:
    order = PlaceOrder(owner=OWNER, subaccount=1, market="BTC-PERP", is_buy=True, size=10**18, price=None)
    full = typed_data(DOMAIN, order, 7, 1_700_000_600)
    assert full["primaryType"] == "PlaceOrder"
    assert full["domain"] == {
        "name": "Solvent",
        "version": "1",
        "chainId": 42161,
        "verifyingContract": VENUE,
    }
    assert [m["name"] for m in full["types"]["EIP712Domain"]] == [
        "name",
        "version",
        "chainId",
        "verifyingContract",
    ]
    # Integers as decimal strings (exact in JavaScript), None as [], enums as their value.
    assert full["message"] == {
        "owner": OWNER,
        "subaccount": "1",
        "market": "BTC-PERP",
        "is_buy": True,
        "size": str(10**18),
        "price": [],
        "tif": "GTC",
        "reduce_only": False,
        "client_id": [],
        "worst_price": [],
        "nonce": "7",
        "deadline": "1700000600",
    }
    assert json.loads(json.dumps(full)) == full


def test_the_type_string_of_an_order() -> None:
    assert encode_type(PlaceOrder) == (
        "PlaceOrder(address owner,int256 subaccount,string market,bool is_buy,int256 size,"
        "int256[] price,string tif,bool reduce_only,int256[] client_id,int256[] worst_price,"
        "uint64 nonce,uint64 deadline)"
    )


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_members_follow_the_mapping_rules(name: str) -> None:
    cls = TX_TYPES[name]
    hints = typing.get_type_hints(cls)
    type_string = encode_type(cls)
    assert type_string.startswith(f"{name}(") and type_string.endswith(",uint64 nonce,uint64 deadline)")
    members = [part.split(" ") for part in type_string[len(name) + 1 : -1].split(",")][:-2]
    assert [member for _, member in members] == [f.name for f in fields(cls)]
    for type_, member in members:
        assert type_ == _expected_type(member, hints[member]), member


def _expected_type(name: str, hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not types.NoneType]
        return _expected_type(name, inner) + "[]"
    if origin is tuple:
        return _expected_type(name, args[0]) + "[]"
    if hint is str:
        return "address" if name in ADDRESS_FIELDS else "string"
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "string"
    return {int: "int256", bool: "bool"}[hint]


# --- addresses ------------------------------------------------------------------------------


def test_address_fields_are_what_the_core_checks_as_addresses() -> None:
    """Every ``check_address(tx.<field>)`` in the core names a field of ADDRESS_FIELDS."""
    checked: set[str] = set()
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "check_address"
                and isinstance(node.args[0], ast.Attribute)
                and isinstance(node.args[0].value, ast.Name)
                and node.args[0].value.id == "tx"
            ):
                checked.add(node.args[0].attr)
    tx_fields = {f.name for cls in TX_TYPES.values() for f in fields(cls)}
    assert {"owner", "sender", "keeper"} <= checked & tx_fields
    assert checked & tx_fields <= ADDRESS_FIELDS  # (not ``Signed.signer``: no type of TX_TYPES)


def test_every_address_field_holds_strings() -> None:
    seen: set[str] = set()
    for cls in TX_TYPES.values():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in ADDRESS_FIELDS:
                seen.add(f.name)
                assert hints[f.name] in (str, tuple[str, ...], str | None), f"{cls.__name__}.{f.name}"
    assert seen == ADDRESS_FIELDS


def _upper(address: str) -> str:
    return "0x" + address[2:].upper()


def test_the_core_refuses_a_non_address_in_each_kind_of_address_field() -> None:
    """Each name of ADDRESS_FIELDS holds an address in the core's sense: anything else is refused."""
    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    for tx in fixture_f():
        apply(state, tx)
    reporter = reporters("BTC")[0]
    refusals: list[tuple[Any, type[ProtocolError]]] = [
        (Deposit(owner=_upper(OWNER), subaccount=0, asset="USDC", amount=1), BadAddress),
        (Settle(sender="governor", market="BTC-PERP"), BadAddress),
        (ListDomain(sender=_upper(GOVERNOR), domain="NEW"), Unauthorized),
        (ListOracle(sender=GOVERNOR, asset="NEW", reporters=(_upper(reporter),), quorum=1), BadAddress),
        (PriceReport(reporter=_upper(reporter), asset="BTC", price=1, timestamp=GENESIS_TIME), Unauthorized),
        (
            Liquidate(keeper="k", keeper_subaccount=0, owner=OWNER, subaccount=0, market="BTC-PERP"),
            BadAddress,
        ),
    ]
    for tx, error in refusals:
        with pytest.raises(error):
            apply(state, tx)


@pytest.mark.parametrize("bad", [_upper(OWNER), OWNER[2:], OWNER[:-1], "0x" + "g" * 40, 7, None])
def test_a_non_address_in_an_address_field_cannot_be_signed(bad: Any) -> None:
    order = PlaceOrder(owner=bad, subaccount=0, market="BTC-PERP", is_buy=True, size=1)
    with pytest.raises(BadAddress, match=r"PlaceOrder\.owner"):
        signing_hash(DOMAIN, order, 1, 0)
    with pytest.raises(BadAddress):
        typed_data(DOMAIN, order, 1, 0)
    listing = ListOracle(sender=GOVERNOR, asset="X", reporters=(OWNER, bad), quorum=1)
    with pytest.raises(BadAddress, match=r"ListOracle\.reporters"):
        signing_hash(DOMAIN, listing, 1, 0)


# --- attacks --------------------------------------------------------------------------------

ORDER = PlaceOrder(
    owner=OWNER,
    subaccount=3,
    market="BTC-PERP",
    is_buy=True,
    size=25_000,
    price=100_000_000_000,
    tif=TimeInForce.IOC,
    reduce_only=False,
    client_id=77,
    worst_price=None,
)


def _tampered(value: Any) -> list[Any]:
    """Other valid values of a field of ORDER."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, TimeInForce):
        return [member for member in TimeInForce if member is not value]
    if isinstance(value, int):
        return [value + 1, -value, None]
    if value is None:
        return [0, 1]
    if value == OWNER:
        return ["0x" + "00" * 20, address_of_key(bytes(31) + b"\x02")]
    return [value + " ", "ETH-PERP", ""]


def test_each_tampered_field_of_an_order_recovers_another_address() -> None:
    signature = sign(KEY, DOMAIN, ORDER, 5, 1_700_000_600)
    assert recover(DOMAIN, ORDER, 5, 1_700_000_600, signature) == OWNER
    hints = typing.get_type_hints(PlaceOrder)
    tried = 0
    for f in fields(PlaceOrder):
        for value in _tampered(getattr(ORDER, f.name)):
            if value is None and type(None) not in typing.get_args(hints[f.name]):
                continue
            changed = dataclasses.replace(ORDER, **{f.name: value})
            assert recover(DOMAIN, changed, 5, 1_700_000_600, signature) != OWNER, (f.name, value)
            tried += 1
    for nonce, expires in ((6, 1_700_000_600), (5, 1_700_000_601), (5, 0), (1_700_000_600, 5)):
        assert recover(DOMAIN, ORDER, nonce, expires, signature) != OWNER
    assert tried >= 2 * len(fields(PlaceOrder))


def test_none_and_zero_sign_differently() -> None:
    market = dataclasses.replace(ORDER, price=None)
    at_zero = dataclasses.replace(ORDER, price=0)
    assert signing_hash(DOMAIN, market, 1, 0) != signing_hash(DOMAIN, at_zero, 1, 0)


def test_a_signature_is_bound_to_its_transaction_type() -> None:
    """Deposit and Withdraw have the same fields: the type name in the type hash tells them apart."""
    deposit = Deposit(owner=OWNER, subaccount=0, asset="USDC", amount=10**6)
    withdraw = Withdraw(owner=OWNER, subaccount=0, asset="USDC", amount=10**6)
    signature = sign(KEY, DOMAIN, deposit, 1, 0)
    assert recover(DOMAIN, deposit, 1, 0, signature) == OWNER
    assert recover(DOMAIN, withdraw, 1, 0, signature) != OWNER


@pytest.mark.parametrize(
    "other",
    [
        Domain(chain_id=1, verifying_contract=VENUE),
        Domain(chain_id=42161, verifying_contract="0x" + "5f" * 20),
        Domain(chain_id=42161, verifying_contract=VENUE, name="Solvent testnet"),
        Domain(chain_id=42161, verifying_contract=VENUE, version="2"),
    ],
    ids=["chain", "venue", "name", "version"],
)
def test_a_signature_for_another_domain_recovers_another_address(other: Domain) -> None:
    signature = sign(KEY, other, ORDER, 1, 0)
    assert recover(other, ORDER, 1, 0, signature) == OWNER
    assert recover(DOMAIN, ORDER, 1, 0, signature) != OWNER


def test_check_domain_says_what_differs() -> None:
    check_domain(DOMAIN, 42161, VENUE)
    check_domain(DOMAIN, 42161, "0x" + "5E" * 20)  # a checksummed spelling is the same address
    with pytest.raises(WrongDomain, match="chain id 1 ") as chain:
        check_domain(DOMAIN, 1, VENUE)
    assert "venue 0x" not in chain.value.message
    with pytest.raises(WrongDomain, match="venue 0x5f") as venue:
        check_domain(DOMAIN, 42161, "0x" + "5f" * 20)
    assert "chain id" not in venue.value.message
    with pytest.raises(WrongDomain, match=r"chain id .* and venue"):
        check_domain(DOMAIN, 10, "0x" + "5f" * 20)
    with pytest.raises(WrongDomain):
        check_domain(DOMAIN, True, VENUE)
    with pytest.raises(BadAddress):
        check_domain(DOMAIN, 42161, "venue")


def _with_s(signature: bytes, s: int, v: int) -> bytes:
    return signature[:32] + s.to_bytes(32, "big") + bytes((v,))


def test_a_malleable_high_s_signature_is_refused() -> None:
    signature = sign(KEY, DOMAIN, ORDER, 1, 0)
    s = int.from_bytes(signature[32:64], "big")
    assert s <= SECP256K1_N // 2  # sign makes the low form
    high = _with_s(signature, SECP256K1_N - s, 55 - signature[64])  # 27 <-> 28
    # The twin is a valid signature of the same key: libsecp256k1 recovers it.
    twin = high[:64] + bytes((high[64] - 27,))
    recovered = coincurve.PublicKey.from_signature_and_message(
        twin, signing_hash(DOMAIN, ORDER, 1, 0), hasher=None
    )
    assert recovered.format() == coincurve.PrivateKey(KEY).public_key.format()
    with pytest.raises(BadSignature, match="EIP-2"):
        recover(DOMAIN, ORDER, 1, 0, high)


def _not_on_curve_x() -> int:
    """The smallest x with no point on secp256k1 (x**3 + 7 is not a square mod p)."""
    p = 2**256 - 2**32 - 977
    x = 1
    while pow(x**3 + 7, (p - 1) // 2, p) == 1:
        x += 1
    return x


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda sig: sig[:64], "65 bytes"),
        (lambda sig: sig + b"\x00", "65 bytes"),
        (lambda sig: b"", "65 bytes"),
        (lambda sig: sig.hex(), "65 bytes"),
        (lambda sig: sig[:64] + bytes((sig[64] - 27,)), "v must be 27 or 28"),
        (lambda sig: sig[:64] + b"\x1d", "v must be 27 or 28"),
        (lambda sig: bytes(32) + sig[32:], "r is out of range"),
        (lambda sig: SECP256K1_N.to_bytes(32, "big") + sig[32:], "r is out of range"),
        (lambda sig: _with_s(sig, 0, sig[64]), "EIP-2"),
        (lambda sig: _not_on_curve_x().to_bytes(32, "big") + sig[32:], "no public key recovers"),
    ],
    ids=["short", "long", "empty", "hex text", "v 0/1", "v 29", "r 0", "r n", "s 0", "r off curve"],
)
def test_a_malformed_signature_is_refused(mangle: Any, reason: str) -> None:
    signature = sign(KEY, DOMAIN, ORDER, 1, 0)
    with pytest.raises(BadSignature, match=reason):
        recover(DOMAIN, ORDER, 1, 0, mangle(signature))


@pytest.mark.parametrize("bad", [-1, 2**64, True, "1", 1.0, None])
def test_nonce_and_expires_out_of_range_are_malformed(bad: Any) -> None:
    with pytest.raises(Malformed, match="nonce"):
        signing_hash(DOMAIN, ORDER, bad, 0)
    with pytest.raises(Malformed, match="expires"):
        signing_hash(DOMAIN, ORDER, 1, bad)
    with pytest.raises(Malformed):
        typed_data(DOMAIN, ORDER, bad, 0)
    signing_hash(DOMAIN, ORDER, 2**64 - 1, 0)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("size", True, "must be an integer"),
        ("size", "1", "must be an integer"),
        ("size", 1.0, "must be an integer"),
        ("size", 2**255, "does not fit in int256"),
        ("price", -(2**255) - 1, "does not fit in int256"),
        ("is_buy", 1, "true or false"),
        ("tif", "GOOD_TILL_CANCEL", "must be one of"),
        ("market", b"BTC-PERP", "must be a string"),
        ("market", "\ud800", "not valid text"),
    ],
)
def test_a_value_of_the_wrong_type_is_malformed(field: str, value: Any, error: str) -> None:
    bad = dataclasses.replace(ORDER, **{field: value})
    with pytest.raises(Malformed, match=error):
        signing_hash(DOMAIN, bad, 1, 0)
    with pytest.raises(Malformed, match=error):
        typed_data(DOMAIN, bad, 1, 0)


def test_an_enum_value_as_plain_text_signs_as_the_member() -> None:
    as_text = dataclasses.replace(ORDER, tif="IOC")
    assert signing_hash(DOMAIN, as_text, 1, 0) == signing_hash(DOMAIN, ORDER, 1, 0)


def test_a_non_transaction_is_malformed() -> None:
    @dataclass(frozen=True)
    class PlaceOrder:  # same name, not the core's class
        owner: str

    with pytest.raises(Malformed, match="not a transaction type"):
        signing_hash(DOMAIN, PlaceOrder(OWNER), 1, 0)
    with pytest.raises(Malformed):
        signing_hash(DOMAIN, {"tx": "PlaceOrder"}, 1, 0)


def test_domain_fields_are_checked() -> None:
    with pytest.raises(BadAddress):
        Domain(chain_id=1, verifying_contract=_upper(VENUE))
    for chain_id in (-1, 2**256, True, "1"):
        with pytest.raises(Malformed):
            Domain(chain_id=chain_id, verifying_contract=VENUE)


def test_keys_are_checked() -> None:
    for key in (b"", bytes(32), SECP256K1_N.to_bytes(32, "big"), KEY[:31], KEY.hex()):
        with pytest.raises(ValueError, match="private key"):
            sign(key, DOMAIN, ORDER, 1, 0)


# --- schema of classes added later ----------------------------------------------------------


class Colour(StrEnum):
    RED = "RED"
    BLUE = "BLUE"


@dataclass(frozen=True, slots=True)
class Paint:
    owner: str
    colours: tuple[Colour, ...]
    layers: tuple[int, ...] = ()
    shade: Colour | None = None
    note: str | None = None
    glossy: bool | None = None
    helpers: tuple[str, ...] = ()
    agent: str = "0x" + "11" * 20


def test_a_class_added_later_is_signed_like_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TX_TYPES, "Paint", Paint)
    paint = Paint(OWNER, (Colour.RED, Colour.BLUE), (-1, 2), Colour.BLUE, "matte", False, ("a", ""))
    message = encode_typed_data(full_message=typed_data(DOMAIN, paint, 1, 0))
    assert signing_hash(DOMAIN, paint, 1, 0) == eth_account_digest(message)
    assert encode_type(Paint) == (
        "Paint(address owner,string[] colours,int256[] layers,string[] shade,string[] note,"
        "bool[] glossy,string[] helpers,address agent,uint64 nonce,uint64 deadline)"
    )


@pytest.mark.parametrize(
    ("annotation", "name", "error"),
    [
        (float, "ratio", "has no EIP-712 type"),
        (tuple[str, ...] | None, "markets", "has no EIP-712 type"),
        (tuple[int, int], "pair", "has no EIP-712 type"),
        (dict[str, int], "table", "has no EIP-712 type"),
        (int | str, "either", "has no EIP-712 type"),
        (int, "owner", "has no EIP-712 type"),  # an address field must hold strings
        (int, "nonce", "envelope member 'nonce'"),
        (int, "deadline", "envelope member 'deadline'"),
    ],
)
def test_an_unsupported_field_is_a_clear_schema_error(
    monkeypatch: pytest.MonkeyPatch, annotation: Any, name: str, error: str
) -> None:
    cls = dataclasses.make_dataclass("Odd", [("sender", str), (name, annotation)], frozen=True)
    monkeypatch.setitem(TX_TYPES, "Odd", cls)
    with pytest.raises(SchemaError, match=rf"Odd\.{name}") as raised:
        signing_hash(DOMAIN, cls(OWNER, None), 1, 0)
    assert error in str(raised.value)
    with pytest.raises(SchemaError, match=rf"Odd\.{name}"):
        eip712.check_schemas()
