"""
Events: what a transaction did.

Introduction
------------
``apply`` returns the list of events a transaction emitted, in order. An
event is a kind (a stable CamelCase name) and flat fields of ints, strings
and booleans, so that it serialises to JSON as it is.
"""

from dataclasses import dataclass

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
