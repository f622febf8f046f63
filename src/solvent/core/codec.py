"""
JSON codec of transactions.

Introduction
------------
A transaction on the wire is a JSON object ``{"tx": "<Type>", ...fields}``
with every number an integer in atoms (see ``core.units``). ``decode_tx``
checks the type name, that every required field is present, that no unknown
field is, and each field's JSON type (an ``int`` field refuses ``true`` and
``1.5``), raising ``Malformed`` with the field's name otherwise. Range checks
(positive, bounded) belong to the handlers, which raise ``InvalidAmount``
or ``AmountTooLarge``.
"""

import types
import typing
from dataclasses import MISSING, fields
from enum import Enum
from typing import Any

from solvent.core.errors import Malformed
from solvent.core.tx import TX_TYPES, Tx

_HINTS: dict[type, dict[str, Any]] = {cls: typing.get_type_hints(cls) for cls in TX_TYPES.values()}


def _decode_value(name: str, hint: Any, value: object) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode_value(name, inner, value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise Malformed(f"field {name!r} must be a list")
        (item, _) = typing.get_args(hint)
        return tuple(_decode_value(name, item, v) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise Malformed(f"field {name!r} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Malformed(f"field {name!r} must be an integer (atoms), not {type(value).__name__}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise Malformed(f"field {name!r} must be a string")
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise Malformed(f"field {name!r} must be one of {allowed}") from None
    raise Malformed(f"Invariant: no decoder for field {name!r}")


def decode_tx(obj: object) -> Tx:
    """Build a transaction record from a JSON object, or raise ``Malformed``."""
    if not isinstance(obj, dict):
        raise Malformed("a transaction must be a JSON object")
    kind = obj.get("tx")
    if not isinstance(kind, str) or kind not in TX_TYPES:
        raise Malformed(f"unknown transaction type {kind!r}; one of: {', '.join(sorted(TX_TYPES))}")
    cls = TX_TYPES[kind]
    hints = _HINTS[cls]
    known = {f.name for f in fields(cls)}
    extra = sorted(set(obj) - known - {"tx"})
    if extra:
        raise Malformed(f"{kind} has no field {extra[0]!r}")
    values: dict[str, object] = {}
    for f in fields(cls):
        if f.name in obj:
            values[f.name] = _decode_value(f.name, hints[f.name], obj[f.name])
        elif f.default is MISSING:
            raise Malformed(f"{kind} needs field {f.name!r}")
    tx: Tx = cls(**values)
    return tx


def encode_tx(tx: Tx) -> dict[str, object]:
    """Return the JSON object of a transaction (the inverse of ``decode_tx``)."""
    out: dict[str, object] = {"tx": type(tx).__name__}
    for f in fields(tx):
        value = getattr(tx, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out
