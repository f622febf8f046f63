"""
Streams: what each committed block means for WebSocket subscribers.

Introduction
------------
The sequencer hands every durable block to ``StreamHub.publish``, which turns
it into messages on named streams:

==========================  ===============================================
stream                      messages
==========================  ===============================================
``blocks``                  one per block: height, time, root, tx count
``trades:<market>``         one per fill in the market
``book:<market>``           the changed levels after each block that moved
                            the book: ``[[side, price, size, orders]]``,
                            size 0 = level gone
``account:<owner>/<sub>``   every event naming the account (fills, funding,
                            liquidations, refusals of its transactions ...)
``fills:<owner>/<sub>``     the account's fills (as taker or maker)
==========================  ===============================================

Every message is ``{"stream", "seq", "type", "height", "data"}``. ``seq``
counts the stream's messages from 1, without gaps. A subscriber first gets
a ``snapshot`` (the book's levels or the account's view, or, for event
streams, nothing) carrying the seq it is consistent with, then every later
message. A subscriber that reconnects with ``from`` = the last seq it saw
+ 1 gets every message since, from the stream's buffer (the last
``BUFFER`` messages), then the live ones: no gap, no duplicate. If the
buffer no longer reaches back that far it gets a fresh snapshot
(``type: "reset"``) instead. Sequence numbers restart when the node does.
"""

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solvent.core.events import Event
from solvent.core.units import parse_account
from solvent.node.node import BlockInfo, Node
from solvent.node.views import account_view, book_levels

BUFFER = 10_000
BOOK_DEPTH = 50

Message = dict[str, Any]


@dataclass(slots=True)
class _Stream:
    seq: int = 0
    buffer: deque[Message] = field(default_factory=lambda: deque(maxlen=BUFFER))
    subscribers: list[Callable[[Message], None]] = field(default_factory=list)


def _event_json(ev: Event) -> dict[str, Any]:
    return {"kind": ev.kind, **ev.data}


def _accounts_named(ev: Event) -> list[str]:
    """The user accounts (``0x…/sub``) an event names, as it names them."""
    names = []
    for value in ev.data.values():
        if isinstance(value, str) and (key := parse_account(value)) and key[0].startswith("0x"):
            names.append(value)
    return names


class StreamHub:
    """Per-stream sequence numbers, buffers and subscribers; fed by the node's blocks."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.lock = threading.Lock()
        self.streams: dict[str, _Stream] = {}
        self.books: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}  # last published levels
        node.listeners.append(self.publish)

    def _stream(self, name: str) -> _Stream:
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = _Stream()
        return stream

    def _emit(self, name: str, kind: str, height: int, data: Any) -> None:
        stream = self._stream(name)
        stream.seq += 1
        message = {"stream": name, "seq": stream.seq, "type": kind, "height": height, "data": data}
        stream.buffer.append(message)
        for deliver in list(stream.subscribers):
            deliver(message)

    def publish(self, info: BlockInfo) -> None:
        """Turn one committed block into stream messages (called by the sequencer)."""
        with self.lock:
            self._emit(
                "blocks",
                "block",
                info.height,
                {
                    "height": info.height,
                    "time": info.time,
                    "root": "0x" + info.root.hex(),
                    "txs": len(info.txs),
                },
            )
            markets: set[str] = set()
            for ev in info.events:
                market = ev.data.get("market")
                if isinstance(market, str):
                    markets.add(market)
                if ev.kind == "Fill" and isinstance(market, str):
                    self._emit(f"trades:{market}", "trade", info.height, _event_json(ev))
                for account in _accounts_named(ev):
                    self._emit(f"account:{account}", "event", info.height, _event_json(ev))
                    if ev.kind == "Fill":
                        self._emit(f"fills:{account}", "fill", info.height, _event_json(ev))
            for market in sorted(markets):
                self._publish_book(market, info.height)

    def _levels(self, market_id: str) -> dict[tuple[str, int], tuple[int, int]]:
        market = self.node.state.markets.get(market_id)
        if market is None:
            return {}
        levels = book_levels(market, BOOK_DEPTH)
        return {(side, p): (size, n) for side in ("bids", "asks") for p, size, n in levels[side]}

    def _publish_book(self, market_id: str, height: int) -> None:
        with self.node.lock:
            now = self._levels(market_id)
        before = self.books.get(market_id, {})
        changes: list[list[object]] = []
        for side, price in sorted(set(before) | set(now)):
            level = now.get((side, price))
            if level != before.get((side, price)):
                changes.append([side, price, *(level or (0, 0))])
        self.books[market_id] = now
        if changes:
            self._emit(f"book:{market_id}", "delta", height, changes)

    def snapshot(self, name: str) -> Any:
        """The state a stream's messages apply to (None for event streams)."""
        kind, _, arg = name.partition(":")
        if kind == "book":
            market = self.node.state.markets.get(arg)
            return None if market is None else book_levels(market, BOOK_DEPTH)
        if kind == "account":
            owner, _, sub = arg.rpartition("/")
            return account_view(self.node.state, (owner, int(sub))) if sub.isdigit() else None
        return None

    def subscribe(self, name: str, deliver: Callable[[Message], None], start: int | None = None) -> None:
        """Deliver a snapshot (or the buffered messages from ``start``), then every new message."""
        if not valid_stream(name):
            raise ValueError(f"unknown stream {name!r}: blocks, trades:M, book:M, account:O/S or fills:O/S")
        with self.lock:
            stream = self._stream(name)
            buffered = list(stream.buffer)
            if start is not None and start > stream.seq:
                pass  # nothing published since: the live messages follow
            elif start is not None and buffered and buffered[0]["seq"] <= start:
                for message in buffered:
                    if message["seq"] >= start:
                        deliver(message)
            else:
                with self.node.lock:
                    data = self.snapshot(name)
                    if name.startswith("book:"):
                        self.books.setdefault(name[5:], self._levels(name[5:]))
                kind = "reset" if start is not None else "snapshot"
                deliver(
                    {
                        "stream": name,
                        "seq": stream.seq,
                        "type": kind,
                        "height": self.node.height,
                        "data": data,
                    }
                )
            stream.subscribers.append(deliver)

    def unsubscribe(self, name: str, deliver: Callable[[Message], None]) -> None:
        with self.lock:
            stream = self.streams.get(name)
            if stream is not None and deliver in stream.subscribers:
                stream.subscribers.remove(deliver)


def valid_stream(name: str) -> bool:
    kind, sep, arg = name.partition(":")
    if name == "blocks":
        return True
    if not sep or not arg:
        return False
    if kind in ("trades", "book"):
        return True
    if kind in ("account", "fills"):
        owner, _, sub = arg.rpartition("/")
        return owner.startswith("0x") and sub.isdigit()
    return False


def asyncio_deliverer(
    loop: asyncio.AbstractEventLoop, queue: "asyncio.Queue[Message]"
) -> Callable[[Message], None]:
    """A deliver function that hands messages from the sequencer thread to an event loop."""

    def deliver(message: Message) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    return deliver
