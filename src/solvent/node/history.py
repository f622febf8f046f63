"""
History: fills, funding payments, funding rates and PnL, for the API's history endpoints.

Introduction
------------
The state holds the present; traders also want the past. ``History`` is a
listener of the node's blocks that writes, into its own SQLite file
(``history.db`` next to the log, not part of the state root):

* ``fills``: every ``Fill`` (market, taker, maker, side, size, notional, fees);
* ``funding``: every ``FundingPaid`` (account, market, amount; > 0 paid);
* ``rates``: every ``FundingRate`` change of a market;
* ``pnl``: after each block, for each account its events named: realised PnL
  (the sum of its positions' ``realised_pnl``), unrealised PnL at the marks,
  and equity (the cross bucket's maintenance value).

It is derived data: if the file is missing or behind the log (a crash
between the block and its history), ``catch_up`` replays the log from
genesis in a private state and records what it missed, so the history is
always exactly what the log implies. It is written right after the block's
receipts are sent (acknowledgements do not wait for it), so a read just
after a receipt may miss that block for a few milliseconds.
"""

import sqlite3
import threading
from pathlib import Path
from typing import Any

from solvent.core.events import Event
from solvent.core.margin import cross_risk
from solvent.core.state import State
from solvent.core.units import SIZE_ONE, parse_account
from solvent.node.chain import apply_block
from solvent.node.genesis import genesis_state
from solvent.node.node import BlockInfo, Node
from solvent.node.state_root import StateTree

HISTORY_DB = "history.db"
MAX_ROWS = 1_000


class History:
    """Fills, funding and PnL of every account, block by block."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.lock = threading.Lock()
        self.db = sqlite3.connect(node.directory / HISTORY_DB, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # derived data: catch_up redoes what a crash loses
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS progress (id INTEGER PRIMARY KEY CHECK (id = 0), height INTEGER);
            CREATE TABLE IF NOT EXISTS fills (height INTEGER, time INTEGER, market TEXT, taker TEXT,
                maker TEXT, taker_is_buy INTEGER, size TEXT, notional TEXT, taker_fee TEXT, maker_fee TEXT);
            CREATE INDEX IF NOT EXISTS fills_taker ON fills (taker, height);
            CREATE INDEX IF NOT EXISTS fills_maker ON fills (maker, height);
            CREATE INDEX IF NOT EXISTS fills_market ON fills (market, height);
            CREATE TABLE IF NOT EXISTS funding (height INTEGER, time INTEGER, account TEXT, market TEXT,
                amount TEXT);
            CREATE INDEX IF NOT EXISTS funding_account ON funding (account, height);
            CREATE TABLE IF NOT EXISTS rates (height INTEGER, time INTEGER, market TEXT, rate TEXT);
            CREATE INDEX IF NOT EXISTS rates_market ON rates (market, height);
            CREATE TABLE IF NOT EXISTS pnl (height INTEGER, time INTEGER, account TEXT, realised TEXT,
                unrealised TEXT, equity TEXT);
            CREATE INDEX IF NOT EXISTS pnl_account ON pnl (account, height);
            """
        )
        row = self.db.execute("SELECT height FROM progress WHERE id = 0").fetchone()
        self.height = row[0] if row is not None else 0
        self.catch_up()
        node.listeners.append(self.record_block)

    # --- writing ----------------------------------------------------------------------

    def catch_up(self) -> None:
        """Record the blocks the node has and the history does not (replaying from genesis)."""
        if self.height >= self.node.height:
            return
        state = genesis_state(self.node.genesis)
        tree = StateTree.build(state, commit_every=self.node.genesis.commit_every)
        for record in self.node.log.blocks(1):
            body = record.json()
            result = apply_block(state, tree, body, self.node.domain, check_signatures=False)
            if record.height > self.height:
                self._record(state, record.height, body["time"], result.events)

    def record_block(self, info: BlockInfo) -> None:
        with self.node.lock:
            self._record(self.node.state, info.height, info.time, info.events)

    def _record(self, state: State, height: int, time: int, events: list[Event]) -> None:
        fills, funding, rates = [], [], []
        touched: set[tuple[str, int]] = set()
        for ev in events:
            d = ev.data
            if ev.kind == "Fill":
                amounts = tuple(str(d[k]) for k in ("size", "notional", "taker_fee", "maker_fee"))
                side = int(bool(d["taker_is_buy"]))
                fills.append((height, time, d["market"], d["taker"], d["maker"], side, *amounts))
            elif ev.kind == "FundingPaid":
                funding.append((height, time, d["account"], d["market"], str(d["amount"])))
            elif ev.kind == "FundingRate":
                rates.append((height, time, d["market"], str(d["rate"])))
            for value in d.values():
                if isinstance(value, str) and (key := parse_account(value)) and key[0].startswith("0x"):
                    touched.add(key)
        pnl = []
        for key in sorted(touched):
            account = state.accounts.get(key)
            if account is None:
                continue
            realised = sum(p.realised_pnl for p in account.positions.values())
            unrealised = sum(
                (p.size * state.markets[m].mark_price) // SIZE_ONE - p.cost
                for m, p in account.positions.items()
            )
            equity = cross_risk(state, account).value_maint
            pnl.append((height, time, f"{key[0]}/{key[1]}", str(realised), str(unrealised), str(equity)))
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fills)
            self.db.executemany("INSERT INTO funding VALUES (?, ?, ?, ?, ?)", funding)
            self.db.executemany("INSERT INTO rates VALUES (?, ?, ?, ?)", rates)
            self.db.executemany("INSERT INTO pnl VALUES (?, ?, ?, ?, ?, ?)", pnl)
            self.db.execute("INSERT OR REPLACE INTO progress (id, height) VALUES (0, ?)", (height,))
            self.db.execute("COMMIT")
            self.height = height

    # --- reading ----------------------------------------------------------------------

    def _rows(self, sql: str, args: tuple[Any, ...], names: tuple[str, ...]) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute(sql, args).fetchall()
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            for name in ("size", "notional", "taker_fee", "maker_fee", "amount", "rate", "realised"):
                if name in item:
                    item[name] = int(item[name])
            for name in ("unrealised", "equity"):
                if name in item:
                    item[name] = int(item[name])
            if "taker_is_buy" in item:
                item["taker_is_buy"] = bool(item["taker_is_buy"])
            out.append(item)
        return out

    _FILL = ("height", "time", "market", "taker", "maker", "taker_is_buy", "size", "notional", "taker_fee")
    _FILL_NAMES = (*_FILL, "maker_fee")

    def fills(self, account: str, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """The account's fills, newest first (``before``: only blocks below that height)."""
        top = before if before is not None else 2**62
        sql = (
            "SELECT * FROM fills WHERE (taker = ? OR maker = ?) AND height < ? "
            "ORDER BY height DESC, rowid DESC LIMIT ?"
        )
        return self._rows(sql, (account, account, top, min(limit, MAX_ROWS)), self._FILL_NAMES)

    def trades(self, market: str, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM fills WHERE market = ? ORDER BY height DESC, rowid DESC LIMIT ?"
        return self._rows(sql, (market, min(limit, MAX_ROWS)), self._FILL_NAMES)

    def funding(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM funding WHERE account = ? ORDER BY height DESC, rowid DESC LIMIT ?"
        return self._rows(
            sql, (account, min(limit, MAX_ROWS)), ("height", "time", "account", "market", "amount")
        )

    def rates(self, market: str, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM rates WHERE market = ? ORDER BY height DESC, rowid DESC LIMIT ?"
        return self._rows(sql, (market, min(limit, MAX_ROWS)), ("height", "time", "market", "rate"))

    def pnl(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM pnl WHERE account = ? ORDER BY height DESC, rowid DESC LIMIT ?"
        names = ("height", "time", "account", "realised", "unrealised", "equity")
        return self._rows(sql, (account, min(limit, MAX_ROWS)), names)

    def close(self) -> None:
        self.db.close()


def history_path(directory: Path) -> Path:
    return directory / HISTORY_DB
