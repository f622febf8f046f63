"""
EIP-712 signatures of transactions: the typed data a wallet signs, its digest, the signer.

Introduction
------------
Every user transaction reaches the node as EIP-712 typed data signed with an
Ethereum key (``eth_signTypedData_v4``). The signed message is the
transaction record itself (``core.tx``) followed by an envelope of two
fields, ``nonce`` and ``deadline``; the node recovers the signer from the
signature and hands the core ``Signed(signer, nonce, expires=deadline,
payload)``, which checks that the signer may act for the transaction's
actor (``core.auth``), the nonce and the deadline.

The domain (``Domain``) is ``{name, version, chainId, verifyingContract}``:
"Solvent", "1", the settlement chain and the venue's contract. The node
always recovers with its own domain, so a signature made for another chain
or another venue recovers to some other address and is refused as not the
owner's; ``check_domain`` turns a domain that a client states alongside its
signature into a clear ``WrongDomain`` before that.

Schema
------
The typed-data schema is derived from the dataclasses of ``TX_TYPES`` (a
class added there later gets its schema without a change here): the primary
type is the class name, its members are the dataclass fields in declaration
order, then the envelope ``uint64 nonce`` and ``uint64 deadline`` (a block
time in unix seconds, 0 = none: ``Signed.expires`` in the core and the
``expires`` argument here). The deadline is not called ``expires`` in the
typed data because ``AuthoriseAgent`` has a field of that name, the end of
the grant: one struct cannot hold two members of one name, and a wallet
showing two ``expires`` of different meanings would mislead. Member names
are the Python field names as they are (``client_id``, not ``clientId``):
EIP-712 only asks for identifiers, and a second, camel-case spelling of
every field would be one more thing to keep in sync with the core and the
JSON codec. Field annotations map as follows:

=============================  ==========================================
Python annotation              EIP-712 type
=============================  ==========================================
``str`` in ``ADDRESS_FIELDS``  ``address``
other ``str``                  ``string``
``int``                        ``int256`` (two's complement)
``bool``                       ``bool``
a ``StrEnum``                  ``string``: the member's value
``tuple[X, ...]``              ``X[]`` (``address[]`` for ``reporters``)
``X | None``                   ``X[]`` with 0 elements (None) or 1 (the value)
=============================  ==========================================

EIP-712 has no optional type. A sentinel (0, "") would make a limit order
at price 0 and a market order (``price=None``) sign alike; an array of at
most one element keeps None apart from every value and is shown by a
wallet as ``[]`` or ``[value]``. Any other annotation (a float, a nested
tuple, an optional tuple, ...), or a field named like an envelope member,
raises ``SchemaError`` naming the class and the field when that class is
first signed; ``check_schemas`` (run by the tests) builds every class.

An address member hashes the 20 bytes of the address, so two spellings of
one address (upper and lower case) would sign alike while the core tells
them apart; an address field must therefore hold what the core accepts,
``0x`` and 40 lower-case hex digits (``ledger.check_address``), else
``BadAddress``. ``ADDRESS_FIELDS`` names these fields; it is read off the
core: ``owner`` (``Deposit`` checks it; other transactions name an account
that a deposit created), ``sender`` (compared with the governor, itself
checked at genesis; ``Settle`` checks it), ``keeper`` (checked by
liquidations), ``agent`` (checked when a grant is made), ``reporters``
(each checked when a feed is listed) and ``reporter`` (must be one of
those).

Values in the JSON message
--------------------------
``typed_data`` writes ``int256`` and ``uint64`` values as decimal strings:
a wallet parses the JSON in JavaScript, whose numbers are exact only below
2**53, and amounts in atoms (10**18 per unit of a ratio) pass that. EIP-712
libraries (eth-sig-util, ethers, eth-account) accept decimal strings for
integer types. ``chainId`` stays a number: wallets compare it with their
chain.

Fast path
---------
``signing_hash`` never builds the JSON. Per transaction class the type hash
and one encoder per member are built once; an encoder checks the value's
type and range and returns its 32-byte word. Hashes of strings (market,
asset and domain names) and address words are memoised, since the same few
recur in every transaction; enum values are hashed once per member and the
domain separator once per domain. keccak-256 is the node's
(``node.keccak``, a C implementation). The tests compare the digest of
every transaction type with eth-account's.

Signatures
----------
A signature is 65 bytes ``r || s || v`` with ``v`` in {27, 28}. ``recover``
refuses a wrong length, another ``v``, ``r`` or ``s`` out of range and an
``s`` above half the curve order (EIP-2): for every signature ``(r, s, v)``
the triple ``(r, n - s, the other v)`` is valid too, and accepting both would
give one signed transaction two distinct signatures (a replay filter keyed
on the signature would let the copy through). ``sign`` uses libsecp256k1
through coincurve, whose signatures always have the low ``s``.
"""

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import Enum
from functools import lru_cache
from typing import Any

import coincurve

from solvent.core.errors import BadAddress, BadSignature, Malformed, WrongDomain
from solvent.core.ledger import check_address
from solvent.core.tx import TX_TYPES
from solvent.node.keccak import keccak256

# Fields whose ``str`` (or tuple of ``str``) values are addresses in the core's sense (see the
# module docstring); they sign as ``address`` / ``address[]``.
ADDRESS_FIELDS: frozenset[str] = frozenset({"owner", "sender", "keeper", "reporter", "reporters", "agent"})

# The envelope members that follow a transaction's fields (see "Schema" for the name "deadline").
ENVELOPE: tuple[tuple[str, str], ...] = (("nonce", "uint64"), ("deadline", "uint64"))
MAX_UINT64 = 2**64 - 1

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2
SIGNATURE_BYTES = 65

_MAX_UINT256 = 2**256 - 1
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class SchemaError(TypeError):
    """A transaction class has a field with no EIP-712 mapping: a defect, never the user's fault."""


_EMPTY_ARRAY_HASH = keccak256(b"")
_TRUE_WORD = (1).to_bytes(32, "big")
_FALSE_WORD = bytes(32)

# --- encoders: one Python value to its 32-byte EIP-712 word ----------------------------------

# An encoder takes the value and ``Class.field`` (for the error message) and returns the word of
# ``encodeData``: the value itself for atomic types, a keccak hash for strings and arrays.
Encoder = Callable[[Any, str], bytes]
ToJson = Callable[[Any], object]


@lru_cache(maxsize=4096)
def _address_bytes(address: str) -> bytes:
    check_address(address)
    return bytes(12) + bytes.fromhex(address[2:])


def _encode_address(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        try:
            return _address_bytes(value)
        except BadAddress:
            pass
    raise BadAddress(f"{where} must be an address (0x and 40 lower-case hex digits), was {value!r}")


@lru_cache(maxsize=4096)
def _string_hash(text: str) -> bytes:
    return keccak256(text.encode("utf-8"))


def _encode_string(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise Malformed(f"{where} must be a string, was {type(value).__name__}")
    try:
        return _string_hash(value)
    except UnicodeEncodeError:
        raise Malformed(f"{where} is not valid text (a lone surrogate)") from None


def _encode_int(value: Any, where: str) -> bytes:
    if type(value) is not int:  # bool is an int subclass: refused, as the codec does
        if isinstance(value, bool) or not isinstance(value, int):
            raise Malformed(f"{where} must be an integer, was {type(value).__name__}")
        value = int(value)
    try:
        word: bytes = value.to_bytes(32, "big", signed=True)  # two's complement, range checked
    except OverflowError:
        raise Malformed(f"{where} does not fit in int256") from None
    return word


def _encode_bool(value: Any, where: str) -> bytes:
    if value is True:
        return _TRUE_WORD
    if value is False:
        return _FALSE_WORD
    raise Malformed(f"{where} must be true or false, was {value!r}")


def _uint64_word(value: Any, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT64:
        raise Malformed(f"{name} must be an integer in [0, 2**64), was {value!r}")
    return value.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class _Scalar:
    """An EIP-712 type for one Python value: its name, encoder and JSON value."""

    type: str
    encode: Encoder
    to_json: ToJson


def _enum_scalar(enum: type[Enum]) -> _Scalar:
    """A string-valued enum signs as the string of its value; a plain str of a value is accepted."""
    hashes = {member.value: keccak256(member.value.encode()) for member in enum}

    def value_of(value: Any, where: str) -> str:
        if isinstance(value, enum):
            value = value.value
        if isinstance(value, str) and value in hashes:
            return str.__str__(value)
        raise Malformed(f"{where} must be one of {', '.join(sorted(hashes))}, was {value!r}")

    def encode(value: Any, where: str) -> bytes:
        # A StrEnum member is a str equal to its value: found in the dict at once.
        word = hashes.get(value) if isinstance(value, str) else None
        return word if word is not None else hashes[value_of(value, where)]

    def to_json(value: Any) -> object:
        return value_of(value, "")

    return _Scalar("string", encode, to_json)


_ADDRESS = _Scalar("address", _encode_address, str)
_STRING = _Scalar("string", _encode_string, str)
_INT = _Scalar("int256", _encode_int, str)  # a decimal string in the JSON (see the docstring)
_BOOL = _Scalar("bool", _encode_bool, bool)


def _tuple_of(item: _Scalar) -> _Scalar:
    """``tuple[X, ...]`` → ``X[]``: keccak of the items' words, one after the other."""

    encode_item = item.encode

    def encode(value: Any, where: str) -> bytes:
        if not isinstance(value, tuple | list):
            raise Malformed(f"{where} must be a list, was {type(value).__name__}")
        if not value:
            return _EMPTY_ARRAY_HASH
        return keccak256(b"".join([encode_item(element, where) for element in value]))

    def to_json(value: Any) -> object:
        return [item.to_json(element) for element in value]

    return _Scalar(f"{item.type}[]", encode, to_json)


def _optional(item: _Scalar) -> _Scalar:
    """``X | None`` → ``X[]`` of length 0 (None) or 1 (the value)."""

    encode_item = item.encode

    def encode(value: Any, where: str) -> bytes:
        if value is None:
            return _EMPTY_ARRAY_HASH
        return keccak256(encode_item(value, where))

    def to_json(value: Any) -> object:
        return [] if value is None else [item.to_json(value)]

    return _Scalar(f"{item.type}[]", encode, to_json)


# --- schema: derived from the transaction dataclasses ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    where: str  # "Class.field", for error messages
    scalar: _Scalar


@dataclass(frozen=True, slots=True)
class _Schema:
    name: str
    members: tuple[_Member, ...]
    type_string: str
    type_hash: bytes
    # (field, encoder, "Class.field") per member: what the hot loop reads, without attribute hops.
    encoders: tuple[tuple[str, Encoder, str], ...]


def _atomic(hint: Any, address: bool) -> _Scalar | None:
    """The scalar of a non-container annotation, or None if it has none."""
    if hint is str:
        return _ADDRESS if address else _STRING
    if address:
        return None
    if hint is bool:
        return _BOOL
    if hint is int:
        return _INT
    if isinstance(hint, type) and issubclass(hint, Enum) and all(isinstance(m.value, str) for m in hint):
        return _enum_scalar(hint)
    return None


def _scalar_of(hint: Any, address: bool) -> _Scalar | None:
    """The scalar of a field annotation (see the table in the module docstring), or None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not types.NoneType]
        if len(args) != 2 or len(inner) != 1:
            return None
        item = _atomic(inner[0], address)
        return None if item is None else _optional(item)
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            return None
        item = _atomic(args[0], address)
        return None if item is None else _tuple_of(item)
    return _atomic(hint, address)


def _build_schema(cls: type) -> _Schema:
    """Derive the primary type of a transaction dataclass; raise SchemaError if it has none."""
    name = cls.__name__
    if _IDENTIFIER.fullmatch(name) is None or name == "EIP712Domain":
        raise SchemaError(f"{name!r} cannot be an EIP-712 type name")
    hints = typing.get_type_hints(cls)
    members: list[_Member] = []
    for field in fields(cls):
        where = f"{name}.{field.name}"
        if field.name in dict(ENVELOPE):
            raise SchemaError(
                f"{where} has the name of the envelope member {field.name!r} that every signed "
                "transaction carries; the two cannot share one EIP-712 struct: rename the field"
            )
        if _IDENTIFIER.fullmatch(field.name) is None:
            raise SchemaError(f"{where}: an EIP-712 member name must be an ASCII identifier")
        scalar = _scalar_of(hints[field.name], field.name in ADDRESS_FIELDS)
        if scalar is None:
            raise SchemaError(
                f"{where}: {hints[field.name]!r} has no EIP-712 type; supported are str, int, bool, a "
                "StrEnum, tuple[X, ...] and X | None of these (an address field: str forms only)"
            )
        members.append(_Member(field.name, where, scalar))
    parts = [f"{m.scalar.type} {m.name}" for m in members] + [f"{t} {n}" for n, t in ENVELOPE]
    type_string = f"{name}({','.join(parts)})"
    encoders = tuple((m.name, m.scalar.encode, m.where) for m in members)
    return _Schema(name, tuple(members), type_string, keccak256(type_string.encode()), encoders)


# Built on first use per class: a class with a field that cannot be signed fails when it is
# signed (SchemaError, naming the field) without taking down the other types; ``check_schemas``
# builds them all, and the tests call it.
_SCHEMAS: dict[type, _Schema] = {}


def _schema_of(cls: type) -> _Schema:
    schema = _SCHEMAS.get(cls)
    if schema is None:
        if TX_TYPES.get(cls.__name__) is not cls:
            raise Malformed(f"{cls.__name__} is not a transaction type")
        schema = _SCHEMAS[cls] = _build_schema(cls)
    return schema


def check_schemas() -> None:
    """Build the schema of every class in ``TX_TYPES``; raise SchemaError naming each that fails."""
    problems: list[str] = []
    for cls in TX_TYPES.values():
        try:
            _schema_of(cls)
        except SchemaError as error:
            problems.append(str(error))
    if problems:
        raise SchemaError("; ".join(problems))


def encode_type(tx_type: type) -> str:
    """Return the EIP-712 type string of a transaction class, e.g. ``PlaceOrder(address owner,...)``."""
    return _schema_of(tx_type).type_string


# --- domain --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one venue: ``{name, version, chainId, verifyingContract}``."""

    chain_id: int
    verifying_contract: str  # lower-case, as every address in Solvent
    name: str = "Solvent"
    version: str = "1"

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise Malformed(f"chain id must be an integer, was {self.chain_id!r}")
        if not 0 <= self.chain_id <= _MAX_UINT256:
            raise Malformed("chain id must fit in uint256")
        check_address(self.verifying_contract)
        if not isinstance(self.name, str) or not isinstance(self.version, str):
            raise Malformed("the domain's name and version must be strings")


_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_DOMAIN_TYPE_HASH = keccak256(_DOMAIN_TYPE.encode())
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@lru_cache(maxsize=64)
def domain_separator(domain: Domain) -> bytes:
    """Return hashStruct(domain), the 32 bytes that bind a signature to one chain and venue."""
    return keccak256(
        _DOMAIN_TYPE_HASH
        + keccak256(domain.name.encode())
        + keccak256(domain.version.encode())
        + domain.chain_id.to_bytes(32, "big")
        + _address_bytes(domain.verifying_contract)
    )


def check_domain(expected: Domain, chain_id: int, verifying_contract: str) -> None:
    """Raise WrongDomain unless a client's stated chain id and venue contract are the node's.

    The contract may be written in any case (a checksummed address is the same address).
    """
    if not isinstance(verifying_contract, str) or _HEX_ADDRESS.fullmatch(verifying_contract) is None:
        raise BadAddress(f"verifying contract {verifying_contract!r} is not an address")
    wrong: list[str] = []
    if chain_id != expected.chain_id or isinstance(chain_id, bool):
        wrong.append(f"chain id {chain_id!r} (this venue is on chain id {expected.chain_id})")
    if verifying_contract.lower() != expected.verifying_contract:
        wrong.append(
            f"venue {verifying_contract} (this venue's verifying contract is {expected.verifying_contract})"
        )
    if wrong:
        raise WrongDomain(f"signed for another domain: {' and '.join(wrong)}; sign for this venue's domain")


# --- hashing -------------------------------------------------------------------------------


def _encode_data(tx: object, nonce: int, expires: int) -> bytes:
    """Return encodeData(message): the type hash and one 32-byte word per member."""
    schema = _schema_of(type(tx))
    words = [encode(getattr(tx, name), where) for name, encode, where in schema.encoders]
    return b"".join(
        [
            schema.type_hash,
            *words,
            _uint64_word(nonce, "nonce"),
            _uint64_word(expires, "expires (the deadline)"),
        ]
    )


def struct_hash(tx: object, nonce: int, expires: int) -> bytes:
    """Return hashStruct(message) of a transaction and its envelope."""
    return keccak256(_encode_data(tx, nonce, expires))


def signing_hash(domain: Domain, tx: object, nonce: int, expires: int) -> bytes:
    """Return the 32-byte EIP-712 digest that is signed: keccak256(0x19 0x01 ‖ domain ‖ message)."""
    return keccak256(b"\x19\x01" + domain_separator(domain) + keccak256(_encode_data(tx, nonce, expires)))


def typed_data(domain: Domain, tx: object, nonce: int, expires: int) -> dict[str, Any]:
    """Return the full EIP-712 JSON of a transaction, as ``eth_signTypedData_v4`` takes it.

    Raises what ``signing_hash`` raises for a value that cannot be signed.
    """
    _encode_data(tx, nonce, expires)  # validates every value
    schema = _schema_of(type(tx))
    message: dict[str, object] = {m.name: m.scalar.to_json(getattr(tx, m.name)) for m in schema.members}
    (nonce_member, _), (deadline_member, _) = ENVELOPE
    message[nonce_member] = str(nonce)
    message[deadline_member] = str(expires)
    members = [{"name": m.name, "type": m.scalar.type} for m in schema.members]
    members += [{"name": name, "type": type_} for name, type_ in ENVELOPE]
    return {
        "types": {"EIP712Domain": [dict(f) for f in _DOMAIN_FIELDS], schema.name: members},
        "primaryType": schema.name,
        "domain": {
            "name": domain.name,
            "version": domain.version,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": message,
    }


# --- keys and signatures -------------------------------------------------------------------


def _private_key(private_key: bytes) -> coincurve.PrivateKey:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ValueError("a private key is 32 bytes")
    if not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
        raise ValueError("a private key must be in [1, n) of secp256k1")
    return coincurve.PrivateKey(private_key)


def _address_of_public_key(public_key: coincurve.PublicKey) -> str:
    """The Ethereum address: the last 20 bytes of keccak256 of the 64-byte public point."""
    return "0x" + keccak256(public_key.format(compressed=False)[1:])[12:].hex()


def address_of_key(private_key: bytes) -> str:
    """Return the lower-case address of a 32-byte private key."""
    return _address_of_public_key(_private_key(private_key).public_key)


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """Return the 65-byte signature ``r || s || v`` (v in {27, 28}, low s) of a 32-byte digest."""
    if len(digest) != 32:
        raise ValueError("a digest is 32 bytes")
    signature = _private_key(private_key).sign_recoverable(digest, hasher=None)
    recovery_id = signature[64]
    # 2 and 3 need r >= n, which happens with probability about 2**-127; v cannot carry them.
    if recovery_id > 1:
        raise RuntimeError("a signature with recovery id above 1: sign again")
    return signature[:64] + bytes((27 + recovery_id,))


def sign(private_key: bytes, domain: Domain, tx: object, nonce: int, expires: int) -> bytes:
    """Sign a transaction and its envelope; return ``r || s || v`` (65 bytes)."""
    return sign_digest(private_key, signing_hash(domain, tx, nonce, expires))


def recover_digest(digest: bytes, signature: bytes) -> str:
    """Return the lower-case address that signed ``digest``, or raise BadSignature."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_BYTES:
        length = len(signature) if isinstance(signature, bytes | bytearray) else type(signature).__name__
        raise BadSignature(f"a signature is 65 bytes (r, s, v), got {length}")
    v = signature[64]
    if v not in (27, 28):
        raise BadSignature(f"v must be 27 or 28, was {v}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise BadSignature("r is out of range")
    if not 0 < s <= SECP256K1_HALF_N:
        raise BadSignature("s is zero or above half the curve order (EIP-2); use the low-s form")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes((v - 27,)), digest, hasher=None
        )
    except ValueError:
        raise BadSignature("no public key recovers from this signature") from None
    return _address_of_public_key(public_key)


def recover(domain: Domain, tx: object, nonce: int, expires: int, signature: bytes) -> str:
    """Return the lower-case address that signed the transaction and envelope in this domain.

    Raises BadSignature for a malformed or unrecoverable signature. A valid signature made over
    other fields, another domain or another type recovers to another address: the caller
    compares the result with the transaction's owner.
    """
    return recover_digest(signing_hash(domain, tx, nonce, expires), signature)
