"""
Canonical encoding and hash of the whole state.

Introduction
------------
``encode_state`` turns the state into canonical JSON: every record as a
list of its fields in declaration order, dicts as lists of ``[key, value]``
sorted by key, except order-book levels, which keep time priority. The
encoding depends on nothing but the state, so two replays of the same
transactions on any machine give the same bytes and ``state_hash``.
"""

import hashlib
import json
from dataclasses import fields, is_dataclass
from enum import Enum

from sortedcontainers import SortedDict, SortedList

from solvent.core.state import State


def canonical(value: object) -> object:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, SortedDict):
        # Book side: levels sorted by price, each level's orders in time priority.
        return [[k, [[i, canonical(o)] for i, o in level.items()]] for k, level in value.items()]
    if isinstance(value, dict):
        return [[canonical(k), canonical(value[k])] for k in sorted(value)]
    if isinstance(value, set | frozenset):
        return sorted(canonical(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, list | tuple | SortedList):
        return [canonical(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return [canonical(getattr(value, f.name)) for f in fields(value)]
    raise TypeError(f"Invariant: cannot encode {type(value).__name__}")


def encode_record(value: object) -> bytes:
    """Return the canonical encoding of any part of the state (a record, a dict, a list)."""
    return json.dumps(canonical(value), separators=(",", ":")).encode()


def encode_state(state: State) -> bytes:
    """Return the canonical encoding of the state."""
    return encode_record(state)


def state_hash(state: State) -> str:
    """Return the SHA-256 of the canonical encoding, as hex."""
    return hashlib.sha256(encode_state(state)).hexdigest()
