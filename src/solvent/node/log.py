"""
The durable log: blocks, their state roots and snapshots in SQLite.

Introduction
------------
``BlockLog`` keeps one SQLite database per node directory, in WAL mode with
``synchronous=FULL``: a block is durable (fsynced) when ``append`` returns,
and the node acknowledges no transaction before that (one fsync per block:
group commit).

Each block row holds the block's canonical JSON body, its state root, the
root of its withdrawals tree (``node.state_root.WithdrawalsTree``) and a
chained digest ``keccak256(previous digest ‖ height ‖ keccak256(body) ‖ root
‖ withdrawals root)``. Logs written before the withdrawals tree existed
(schema 1) get the column on opening (``ALTER TABLE``, NULL in their rows),
and a row without it keeps the digest without it; the state roots of such
logs predate the settlement leaves, so this build reports them as
``RootMismatch`` on replay rather than as a damaged file. On
opening, every row is checked against its digest: a changed byte in any
committed block (or a page SQLite itself finds damaged) stops the node with
``CorruptLog``, naming the first bad height. A write torn by a crash is a
different matter: SQLite's WAL checksums drop the incomplete frames of a
transaction that never committed, so that block was never acknowledged;
``open`` notices a WAL whose length is not a whole number of frames and
reports the bytes dropped (``torn_bytes``) before SQLite discards them.

Snapshots hold the pickled state, the tree's layout (``state_root.Layout``:
leaf numbering, EXIT amounts, withdrawals) and the root at a height;
restart = latest snapshot + replay of the later blocks.

Tables
------
meta(key, value)                       genesis parameters (JSON), schema version
blocks(height, body, root, digest, withdrawals_root)     height 0 is the genesis block
snapshots(height, state, leaf_index, root)
"""

import json
import os
import pickle
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solvent.node.keccak import keccak256

SCHEMA = 2  # 2: blocks.withdrawals_root
DB_NAME = "solvent.db"
_WAL_HEADER = 32
_FRAME_HEADER = 24


class CorruptLog(Exception):
    """The log does not match its own digests: the node refuses to start on it."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    body: bytes  # canonical JSON of the block
    root: bytes  # state root after the block
    digest: bytes  # chained digest
    withdrawals_root: bytes | None = None  # withdrawals root after the block (None: schema 1)

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


def chain_digest(
    previous: bytes, height: int, body: bytes, root: bytes, withdrawals_root: bytes | None = None
) -> bytes:
    tail = withdrawals_root if withdrawals_root is not None else b""
    return keccak256(previous + height.to_bytes(8, "big") + keccak256(body) + root + tail)


_COLUMNS = "height, body, root, digest, withdrawals_root"


def torn_wal_bytes(directory: Path) -> int:
    """Return how many bytes at the end of the WAL do not form a whole frame (0: none)."""
    wal = directory / (DB_NAME + "-wal")
    if not wal.exists():
        return 0
    size = wal.stat().st_size
    if size < _WAL_HEADER:
        return size
    with wal.open("rb") as f:
        header = f.read(_WAL_HEADER)
    page_size = int.from_bytes(header[8:12], "big")
    if page_size == 0:
        return 0
    frame = _FRAME_HEADER + page_size
    return (size - _WAL_HEADER) % frame


class BlockLog:
    """Append-only blocks and snapshots of one node, durable on ``append``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.torn_bytes = torn_wal_bytes(self.directory)
        try:
            self.db = sqlite3.connect(self.directory / DB_NAME, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS blocks (
                    height INTEGER PRIMARY KEY, body BLOB NOT NULL, root BLOB NOT NULL,
                    digest BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS snapshots (
                    height INTEGER PRIMARY KEY, state BLOB NOT NULL, leaf_index BLOB NOT NULL,
                    root BLOB NOT NULL);
                """
            )
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(blocks)")}
            if "withdrawals_root" not in columns:  # a schema-1 log: its rows keep NULL
                self.db.execute("ALTER TABLE blocks ADD COLUMN withdrawals_root BLOB")
        except sqlite3.DatabaseError as error:
            raise CorruptLog(f"{self.directory / DB_NAME}: SQLite cannot read it ({error})") from None
        self.last_digest = bytes(32)
        self.height = -1

    # --- meta -----------------------------------------------------------------------

    def meta(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
        return json.loads(row[0]) if row is not None else None

    def set_meta(self, genesis: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('genesis', ?), ('schema', ?)",
            (json.dumps(genesis, sort_keys=True), str(SCHEMA)),
        )

    # --- blocks ---------------------------------------------------------------------

    def check(self) -> int:
        """Check every block against its chained digest; return the last height (-1: none)."""
        previous = bytes(32)
        expected = 0
        try:
            rows = self.db.execute(f"SELECT {_COLUMNS} FROM blocks ORDER BY height")
            for height, body, root, digest, withdrawals_root in rows:
                if height != expected:
                    raise CorruptLog(f"block {expected} is missing (found {height} after {expected - 1})")
                if chain_digest(previous, height, body, root, withdrawals_root) != digest:
                    raise CorruptLog(
                        f"block {height} does not match its digest: the log was altered after it was "
                        "written; restore the directory from a copy or verify it against another node"
                    )
                previous = digest
                expected += 1
        except sqlite3.DatabaseError as error:
            raise CorruptLog(f"SQLite found the log damaged near block {expected}: {error}") from None
        self.last_digest = previous
        self.height = expected - 1
        return self.height

    def append(self, height: int, body: bytes, root: bytes, withdrawals_root: bytes) -> BlockRecord:
        """Write one block and fsync it (returns when it is durable)."""
        if height != self.height + 1:
            raise ValueError(f"Invariant: block {height} appended after {self.height}")
        digest = chain_digest(self.last_digest, height, body, root, withdrawals_root)
        self.db.execute(
            f"INSERT INTO blocks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (height, body, root, digest, withdrawals_root),
        )
        self.last_digest = digest
        self.height = height
        return BlockRecord(height, body, root, digest, withdrawals_root)

    def block(self, height: int) -> BlockRecord | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM blocks WHERE height = ?", (height,)).fetchone()
        return BlockRecord(*row) if row is not None else None

    def blocks(self, start: int = 0, end: int | None = None) -> list[BlockRecord]:
        """Return blocks start..end (inclusive; end None: the last)."""
        last = self.height if end is None else end
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height",
            (start, last),
        )
        return [BlockRecord(*row) for row in rows]

    # --- snapshots ------------------------------------------------------------------

    def save_snapshot(self, height: int, state: object, leaf_index: object, root: bytes) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO snapshots (height, state, leaf_index, root) VALUES (?, ?, ?, ?)",
            (height, pickle.dumps(state, protocol=5), pickle.dumps(leaf_index, protocol=5), root),
        )

    def latest_snapshot(self, at_most: int | None = None) -> tuple[int, Any, Any, bytes] | None:
        """Return (height, state, leaf index, root) of the latest snapshot at or below ``at_most``."""
        limit = self.height if at_most is None else at_most
        row = self.db.execute(
            "SELECT height, state, leaf_index, root FROM snapshots WHERE height <= ? "
            "ORDER BY height DESC LIMIT 1",
            (limit,),
        ).fetchone()
        if row is None:
            return None
        # The node's own files: pickle is safe here (a snapshot is never taken from a peer).
        return row[0], pickle.loads(row[1]), pickle.loads(row[2]), row[3]

    def close(self) -> None:
        self.db.close()


def fsync_directory(path: Path) -> None:
    """Make a newly created file's directory entry durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
