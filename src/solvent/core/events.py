"""
Events: what a transaction did.

Introduction
------------
``apply`` returns the list of events a transaction emitted, in order. An
event is a kind (a stable CamelCase name) and flat fields of ints, strings
and booleans, so that it serialises to JSON as it is.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from solvent.core.state import State
from solvent.core.units import AccountKey, parse_account

EventValue = int | str | bool | None


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, e.g. ``Fill`` or ``ReportDiscarded``."""

    kind: str
    data: dict[str, EventValue]

    def to_json(self) -> dict[str, EventValue]:
        """Return the event as one flat JSON object with its kind under ``"event"``."""
        return {"event": self.kind, **self.data}


def event(kind: str, /, **data: EventValue) -> Event:
    """Build an event."""
    return Event(kind, data)


def accounts_named(state: State, events: Iterable[Event]) -> set[AccountKey]:
    """Return every existing account an event names (pools: their own account).

    Every string field of the form ``owner/subaccount`` that is an account of the state
    counts, whatever its name (``account``, ``taker``, ``maker``, ``keeper``, ``source``,
    ``destination``, ``liquidated`` today), so that a new event kind is covered too.
    """
    keys: set[AccountKey] = set()
    accounts = state.accounts
    for ev in events:
        for name, value in ev.data.items():
            if not isinstance(value, str):
                continue
            if name == "pool" and value in state.pools:
                keys.add(state.pools[value].account)
            elif "/" in value:
                key = parse_account(value)
                if key is not None and key in accounts:
                    keys.add(key)
    return keys
