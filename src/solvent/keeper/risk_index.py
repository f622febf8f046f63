"""
Risk index: a vectorised, conservative screen of every margin bucket.

Introduction
------------
A keeper must find the liquidatable accounts after every price change
without valuing every account exactly. ``RiskIndex`` keeps, next to the
state, a float estimate of each bucket's health ``value_maint - MM``
(``core.margin``), in numpy arrays that are updated incrementally:

* **rows** are margin buckets: one per subaccount (its cross bucket) and one
  per isolated position. Per row: ``h`` (the health estimate minus a slack
  of one quote unit per holding), ``gross`` (open notional plus collateral
  value, the scale of the float error), ``const`` (quote balance or isolated
  margin, exact) and the number of holdings;
* **columns** are markets and collateral assets, held sparsely: per column
  the rows that hold it, their size (or amount) and funding index, and each
  holding's current contribution to ``h`` and ``gross``.

A change of a market's mark (or of its volatility, which moves the
maintenance fraction) recomputes the contributions of that market's
holders only, in numpy, and adds the differences to their rows. A
collateral asset's index or weight does the same for the rows holding it.
Account changes come from the events ``apply`` returns: every account an
event names (any ``owner/subaccount`` field: ``account``, ``taker``,
``maker``, ``keeper``, ``source``, ``destination``, ``liquidated``; a pool's
own account for pool events) is revalued from its record. Prices are compared against the state on every
``observe`` rather than read from ``IndexUpdated`` alone, because a mark
can move without an index change (the premium EMA) and ``mm_sigma`` rises
over time.

Screening is conservative: a row is a candidate when

    h < (REL_TOL + funding_drift) * gross

where ``h`` already carries one quote unit of slack per holding (the
rounding of values, notionals, requirements and funding is a few atoms
each), ``REL_TOL`` (1e-6) covers float error many times over, and
``funding_drift`` bounds the pending funding the model has not booked: per
market, the largest change of the cumulative funding index since the
holders' values were computed, as a fraction of notional. A market whose
drift exceeds ``FUNDING_RESYNC`` is recomputed. Every candidate is then
confirmed by the exact integer check of the core (``core.margin``); the
index never decides a liquidation on its own.

The model mirrors ``margin.compute_fractions`` in floats:

    notional = |size| * mark / SIZE_ONE
    value    = size * mark / SIZE_ONE - size * (cum - funding_index) / (SIZE_ONE * ONE)
    root     = sqrt(notional / size_step)
    imf      = min(1, base_imf + imf_size_factor * root + imf_vol_factor * max(0, sigma - vol_ref))
    mmf      = min(imf, base_mmf + mmf_size_factor * root + mmf_vol_factor * max(0, mm_sigma - vol_ref))
    MM       = notional * mmf

(the user's leverage cap raises only ``imf``, after ``mmf`` is taken, so
it does not enter maintenance). Collateral counts ``amount * index *
maint_weight``; a non-positive balance of any asset counts at face value,
as in ``margin.collateral_values``.

Glossary
--------
row       one margin bucket: ``(owner, subaccount, "")`` for the cross bucket,
          ``(owner, subaccount, market)`` for an isolated position
holding   one (row, column) entry: a position or a collateral balance
slack     one quote unit per holding, subtracted from ``h``
"""

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from solvent.core.events import Event, accounts_named
from solvent.core.fixed import ONE
from solvent.core.instruments import is_option
from solvent.core.margin import cross_risk, current_cum_funding
from solvent.core.state import Account, InstrumentKind, Market, OracleFeed, State, pool_account_key
from solvent.core.units import SIZE_ONE, AccountKey

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

REL_TOL = 1e-6  # ratio of gross: covers float error (about 1e-15 per operation) many times over
FUNDING_RESYNC = 1e-5  # ratio of notional: recompute a market once unbooked funding could reach it
SORT_TAIL = 4096  # holdings appended out of order before a column is re-sorted
CROSS = ""  # the bucket name of a cross row

RowKey = tuple[str, int, str]  # (owner, subaccount, "" or isolated market id)

_FUNDING_SCALE = float(SIZE_ONE) * float(ONE)


def _grow(a: NDArray[np.generic], size: int) -> NDArray[np.generic]:
    out = np.zeros(size, dtype=a.dtype)
    out[: len(a)] = a
    return out


class _Column:
    """The holders of one market or collateral asset, sorted by row except a short tail."""

    __slots__ = ("fref", "g", "hc", "n", "qty", "rows", "sorted_n")

    def __init__(self, rows: I64, qty: F64, fref: F64) -> None:
        self.n = len(rows)
        self.sorted_n = self.n  # rows[:sorted_n] ascending; the tail is unordered
        self.rows = rows
        self.qty = qty  # size atoms (markets) or asset atoms (collateral); 0 = a dead slot
        self.fref = fref  # qty * (funding index - column base) / (SIZE_ONE * ONE) (markets)
        self.hc = np.zeros(self.n)  # contribution to h: value - MM (markets), weighted value (assets)
        self.g = np.zeros(self.n)  # contribution to gross: notional, or weighted value

    @classmethod
    def empty(cls) -> "_Column":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))

    def find(self, row: int) -> int:
        """Return the slot of ``row`` (live or dead), or -1."""
        k = int(np.searchsorted(self.rows[: self.sorted_n], row))
        if k < self.sorted_n and self.rows[k] == row:
            return k
        if self.n > self.sorted_n:
            hits = np.flatnonzero(self.rows[self.sorted_n : self.n] == row)
            if len(hits):
                return self.sorted_n + int(hits[0])
        return -1

    def slot_for(self, row: int) -> int:
        """Return the slot of ``row``, appending one when it has none."""
        slot = self.find(row)
        if slot >= 0:
            return slot
        if self.n - self.sorted_n >= SORT_TAIL:
            self.compact()
        if self.n == len(self.rows):
            size = max(16, 2 * self.n)
            self.rows = _grow(self.rows, size).astype(np.int64)
            self.qty = _grow(self.qty, size).astype(np.float64)
            self.fref = _grow(self.fref, size).astype(np.float64)
            self.hc = _grow(self.hc, size).astype(np.float64)
            self.g = _grow(self.g, size).astype(np.float64)
        slot = self.n
        self.rows[slot] = row
        self.qty[slot] = 0.0
        self.fref[slot] = 0.0
        self.hc[slot] = 0.0
        self.g[slot] = 0.0
        self.n += 1
        return slot

    def compact(self) -> None:
        """Drop dead slots and sort every slot by row."""
        n = self.n
        live = np.flatnonzero(self.qty[:n] != 0.0)
        order = live[np.argsort(self.rows[live], kind="stable")]
        self.rows = self.rows[order]
        self.qty = self.qty[order]
        self.fref = self.fref[order]
        self.hc = self.hc[order]
        self.g = self.g[order]
        self.n = self.sorted_n = len(order)

    def live(self) -> int:
        return int(np.count_nonzero(self.qty[: self.n]))


@dataclass(slots=True)
class _MarketModel:
    """What a market column was last valued at."""

    market: str
    asset: str
    column: int
    cum_base: int  # funding indices are stored relative to this
    params: tuple[int, ...]  # MarginParams the model was built from
    option: "OptionParams | None" = None  # an option's terms (see ``option_terms``)
    mark: int = -1
    sigma: int = -1
    mm_sigma: int = -1
    index: int = -1  # the underlying's index (an option's requirement depends on it)
    cum_lo: int = 0  # range of cumulative funding at which holders' values were computed
    cum_hi: int = 0


@dataclass(slots=True)
class _AssetModel:
    asset: str
    column: int
    index: int = -1
    weight: int = -1
    unit: int = 1


def market_params(market: Market) -> tuple[int, ...]:
    m = market.margin
    return (
        m.base_imf,
        m.base_mmf,
        m.size_step,
        m.imf_size_factor,
        m.mmf_size_factor,
        m.vol_ref,
        m.imf_vol_factor,
        m.mmf_vol_factor,
    )


def fraction_terms(params: tuple[int, ...], sigma: int, mm_sigma: int) -> tuple[float, float, float, float]:
    """Return (imf_0, mmf_0, imf_size_factor, mmf_size_factor) as floats: the fractions'
    parts that do not depend on notional, and the factors of sqrt(notional / size_step).
    """
    base_imf, base_mmf, _, imf_sf, mmf_sf, vol_ref, imf_vf, mmf_vf = params
    imf0 = base_imf / ONE + (imf_vf / ONE) * (max(0, sigma - vol_ref) / ONE)
    mmf0 = base_mmf / ONE + (mmf_vf / ONE) * (max(0, mm_sigma - vol_ref) / ONE)
    return imf0, mmf0, imf_sf / ONE, mmf_sf / ONE


def funding_ref(qty: float, funding_index: int, base: int) -> float:
    """Return a holding's settled-funding term qty * (funding_index - base) / (SIZE_ONE * ONE)."""
    return qty * (float(funding_index - base) / _FUNDING_SCALE)


class Work:
    """Scratch arrays reused across updates: large temporaries would otherwise be mapped
    and faulted in afresh by every numpy operation, which costs more than the arithmetic.
    """

    def __init__(self) -> None:
        self.buffers: list[F64] = [np.zeros(0) for _ in range(5)]

    def get(self, n: int) -> list[F64]:
        if len(self.buffers[0]) < n:
            size = max(n, 2 * len(self.buffers[0]))
            self.buffers = [np.empty(size) for _ in range(5)]
        return [b[:n] for b in self.buffers]


def mm_into(notional: F64, params: tuple[int, ...], sigma: int, mm_sigma: int, out: F64, tmp: F64) -> None:
    """Write the maintenance requirement notional * mmf of each holding into ``out``."""
    imf0, mmf0, imf_sf, mmf_sf = fraction_terms(params, sigma, mm_sigma)
    if not (imf_sf or mmf_sf):
        np.multiply(notional, min(mmf0, imf0, 1.0), out=out)
        return
    np.multiply(notional, 1.0 / params[2], out=out)
    np.sqrt(out, out=out)  # root
    if mmf0 <= imf0 and mmf_sf <= imf_sf:
        # mmf <= imf before imf is capped at 1, so min(mmf, min(imf, 1)) = min(mmf, 1)
        np.multiply(out, mmf_sf, out=out)
        np.add(out, mmf0, out=out)
        np.minimum(out, 1.0, out=out)
    else:
        np.multiply(out, imf_sf, out=tmp)
        np.add(tmp, imf0, out=tmp)
        np.minimum(tmp, 1.0, out=tmp)  # imf
        np.multiply(out, mmf_sf, out=out)
        np.add(out, mmf0, out=out)
        np.minimum(out, tmp, out=out)  # mmf
    np.multiply(out, notional, out=out)


def mm_scalar(notional: float, params: tuple[int, ...], sigma: int, mm_sigma: int) -> float:
    """``mm_into`` for one holding."""
    imf0, mmf0, imf_sf, mmf_sf = fraction_terms(params, sigma, mm_sigma)
    if imf_sf or mmf_sf:
        root = math.sqrt(notional * (1.0 / params[2]))
        imf = min(imf0 + imf_sf * root, 1.0)
        return notional * min(mmf0 + mmf_sf * root, imf)
    return notional * min(mmf0, imf0, 1.0)


def position_terms_into(
    qty: F64,
    fref: F64,
    mark: int,
    cum_rel: float,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
    out_h: F64,
    out_g: F64,
    tmp: F64,
    tmp2: F64,
) -> None:
    """Write per holding value - MM into ``out_h`` and notional into ``out_g`` (quote atoms).

    ``qty`` in size atoms, ``fref`` from ``funding_ref``, ``cum_rel`` the market's
    cumulative funding relative to the same base. No array is allocated.
    """
    px = mark / SIZE_ONE
    np.abs(qty, out=out_g)
    np.multiply(out_g, px, out=out_g)
    # value = qty * mark - qty * (cum - funding_index) = qty * (mark - cum) + fref
    np.multiply(qty, px - cum_rel / _FUNDING_SCALE, out=out_h)
    np.add(out_h, fref, out=out_h)
    mm_into(out_g, params, sigma, mm_sigma, tmp, tmp2)
    np.subtract(out_h, tmp, out=out_h)


def position_terms(
    qty: F64,
    fref: F64,
    mark: int,
    cum_rel: float,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
) -> tuple[F64, F64]:
    """Return per holding (value - MM, notional) in quote atoms, as new arrays."""
    n = len(qty)
    out_h, out_g, tmp, tmp2 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    position_terms_into(qty, fref, mark, cum_rel, params, sigma, mm_sigma, out_h, out_g, tmp, tmp2)
    return out_h, out_g


def position_terms_scalar(
    qty: float,
    fref: float,
    mark: int,
    cum_rel: float,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
) -> tuple[float, float]:
    """``position_terms`` for one holding, without numpy's per-call cost."""
    px = mark / SIZE_ONE
    notional = abs(qty) * px
    value = qty * (px - cum_rel / _FUNDING_SCALE) + fref
    return value - mm_scalar(notional, params, sigma, mm_sigma), notional


# --- options in simple mode ----------------------------------------------------------

OptionParams = tuple[bool, int, int, int]  # (is a call, strike, contract size, option_floor)


def option_params(market: Market) -> OptionParams | None:
    """Return what an option's requirement depends on besides prices, or None (not an option)."""
    expiry = market.expiry
    if expiry is None or not is_option(market):
        return None
    return (
        market.kind is InstrumentKind.CALL,
        expiry.strike,
        expiry.contract_size,
        market.margin.option_floor,
    )


def option_terms_into(
    qty: F64,
    mark: int,
    forward: int,
    option: OptionParams,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
    out: list[F64],
) -> None:
    """Write per option holding value - MM into ``out[0]`` and a scale into ``out[1]``
    (``out[2:5]`` are scratch).

    Mirrors ``margin._option_terms``: a long holds value = qty * mark and no
    requirement; a short of underlying notional U = |qty| * contract_size *
    forward and out-of-the-money amount OTM needs max(mmf * U - OTM, floor *
    mmf * U), mmf taken on U. The scale is |value| + U. Options pay no funding.
    """
    out_h, out_g, tmp, tmp2, tmp3 = out[:5]
    is_call, strike, contract_size, floor = option
    px = mark / SIZE_ONE
    np.multiply(qty, px, out=out_h)  # value
    np.minimum(qty, 0.0, out=tmp2)
    np.multiply(tmp2, -contract_size / SIZE_ONE, out=tmp2)  # the shorts' underlying, size atoms
    np.multiply(tmp2, forward / SIZE_ONE, out=out_g)  # U
    mm_into(out_g, params, sigma, mm_sigma, tmp, tmp3)  # mmf * U
    moneyness = (strike - forward) if is_call else (forward - strike)
    np.multiply(tmp2, max(0, moneyness) / SIZE_ONE, out=tmp2)  # OTM
    np.subtract(tmp, tmp2, out=tmp2)
    np.multiply(tmp, floor / ONE, out=tmp)
    np.maximum(tmp2, tmp, out=tmp2)  # MM
    np.subtract(out_h, tmp2, out=out_h)
    np.abs(qty, out=tmp)
    np.multiply(tmp, px, out=tmp)
    np.add(out_g, tmp, out=out_g)


def option_terms(
    qty: F64,
    mark: int,
    forward: int,
    option: OptionParams,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
) -> tuple[F64, F64]:
    """Return per option holding (value - MM, scale) as new arrays (``option_terms_into``)."""
    out = [np.empty(len(qty)) for _ in range(5)]
    option_terms_into(qty, mark, forward, option, params, sigma, mm_sigma, out)
    return out[0], out[1]


def option_terms_scalar(
    qty: float,
    mark: int,
    forward: int,
    option: OptionParams,
    params: tuple[int, ...],
    sigma: int,
    mm_sigma: int,
) -> tuple[float, float]:
    """``option_terms`` for one holding."""
    is_call, strike, contract_size, floor = option
    value = qty * (mark / SIZE_ONE)
    scale = abs(value)
    if qty >= 0:
        return value, scale
    underlying = -qty * (contract_size / SIZE_ONE)
    notional = underlying * (forward / SIZE_ONE)
    full = mm_scalar(notional, params, sigma, mm_sigma)
    moneyness = (strike - forward) if is_call else (forward - strike)
    otm = underlying * (max(0, moneyness) / SIZE_ONE)
    return value - max(full - otm, full * (floor / ONE)), scale + notional


class Screen:
    """The result of one screening: candidate rows (a superset of the liquidatable ones)."""

    __slots__ = ("_keys", "_source", "rows", "tolerance")

    def __init__(self, rows: I64, source: list[RowKey], tolerance: float) -> None:
        self.rows = rows  # row numbers, ascending
        self.tolerance = tolerance  # ratio of gross: REL_TOL + funding drift
        self._source = source  # the index's row keys (append-only)
        self._keys: list[RowKey] | None = None

    @property
    def keys(self) -> list[RowKey]:
        """The candidates' row keys (looked up on first use)."""
        if self._keys is None:
            source = self._source
            self._keys = [source[r] for r in self.rows.tolist()]
        return self._keys

    def __len__(self) -> int:
        return len(self.rows)


class RiskIndex:
    """A float estimate of every bucket's health, kept in step with a state."""

    def __init__(self, quote_unit: int = 10**6) -> None:
        self.slack = float(quote_unit)  # per holding, quote atoms
        self.keys: list[RowKey] = []
        self.row_of: dict[RowKey, int] = {}
        self.isolated_rows: dict[AccountKey, set[str]] = {}  # accounts that have had isolated rows
        self.row_cols: list[bytes | tuple[int, ...]] = []
        self.nrows = 0
        self.h = np.zeros(0)
        self.gross = np.zeros(0)
        self.const = np.zeros(0)
        self.nhold = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.columns: list[_Column] = []
        self.markets: dict[str, _MarketModel] = {}
        self.assets: dict[str, _AssetModel] = {}
        self.column_name: list[str] = []
        self.work = Work()
        self._mask = np.zeros(0, dtype=bool)
        self.exact_deps: set[int] = set()  # portfolio-margin rows, valued by the core (no columns)
        self.portfolio_keys: set[AccountKey] = set()  # accounts in portfolio mode
        self._exact_stamp: object = None  # what the exact rows were last valued at
        self._grids: set[str] = set()  # the underlyings with a portfolio grid, at that time
        self.updates = 0  # vectorised column updates, for reporting
        self.refreshed = 0  # rows revalued from their record

    # --- building -----------------------------------------------------------------

    @classmethod
    def from_state(cls, state: State) -> "RiskIndex":
        """Build the index of every account of ``state`` (one pass, then a full recompute)."""
        index = cls(state.assets[state.quote].atoms_per_unit if state.quote in state.assets else 10**6)
        index._ensure_columns(state)
        ncols = len(index.columns)
        col_rows = [array("q") for _ in range(ncols)]
        col_qty = [array("d") for _ in range(ncols)]
        col_fref = [array("d") for _ in range(ncols)]
        market_col = {m: model.column for m, model in index.markets.items()}
        market_base = {m: model.cum_base for m, model in index.markets.items()}
        asset_col = {a: model.column for a, model in index.assets.items()}
        quote = state.quote
        keys = index.keys
        row_of = index.row_of
        row_cols = index.row_cols
        consts = array("d")
        counts = array("q")
        for (owner, sub), account in state.accounts.items():
            row = len(keys)
            key = (owner, sub, CROSS)
            keys.append(key)
            row_of[key] = row
            const = 0
            cols: list[int] = []
            if account.portfolio:
                index.portfolio_keys.add((owner, sub))
            exact = is_portfolio_row(state, account)
            if exact:
                index.exact_deps.add(row)
            for symbol, amount in account.balances.items():
                if exact:
                    break  # valued by the core
                if symbol == quote or amount <= 0:
                    const += amount
                    continue
                c = asset_col[symbol]
                col_rows[c].append(row)
                col_qty[c].append(float(amount))
                col_fref[c].append(0.0)
                cols.append(c)
            isolated: list[str] = []
            for market_id, pos in account.positions.items():
                if pos.size == 0:
                    continue
                if pos.isolated:
                    isolated.append(market_id)
                    continue
                if exact:
                    continue
                c = market_col[market_id]
                col_rows[c].append(row)
                qty = float(pos.size)
                col_qty[c].append(qty)
                col_fref[c].append(funding_ref(qty, pos.funding_index, market_base[market_id]))
                cols.append(c)
            consts.append(float(const))
            counts.append(len(cols))
            row_cols.append(_pack(cols))
            for market_id in isolated:
                pos = account.positions[market_id]
                row = len(keys)
                key = (owner, sub, market_id)
                keys.append(key)
                row_of[key] = row
                c = market_col[market_id]
                col_rows[c].append(row)
                qty = float(pos.size)
                col_qty[c].append(qty)
                col_fref[c].append(funding_ref(qty, pos.funding_index, market_base[market_id]))
                consts.append(float(pos.isolated_margin))
                counts.append(1)
                row_cols.append(_pack([c]))
                index.isolated_rows.setdefault((owner, sub), set()).add(market_id)
        index.nrows = n = len(keys)
        index.const = np.frombuffer(consts, dtype=np.float64).copy()
        index.nhold = np.frombuffer(counts, dtype=np.int64).copy()
        index.alive = np.ones(n, dtype=bool)
        index.h = np.zeros(n)
        index.gross = np.zeros(n)
        for c in range(ncols):
            rows = np.frombuffer(col_rows[c], dtype=np.int64).copy()
            index.columns[c] = _Column(
                rows,
                np.frombuffer(col_qty[c], dtype=np.float64).copy(),
                np.frombuffer(col_fref[c], dtype=np.float64).copy(),
            )
        index.recompute_all(state)
        return index

    def _ensure_columns(self, state: State) -> None:
        """Add a column for every market and collateral asset the index has not seen."""
        for market_id, market in state.markets.items():
            if market_id not in self.markets:
                feed = state.feeds[market.asset]
                cum = current_cum_funding(market, feed.index_price, state.time)
                self.markets[market_id] = _MarketModel(
                    market_id,
                    market.asset,
                    len(self.columns),
                    cum,
                    market_params(market),
                    option_params(market),
                    cum_lo=cum,
                    cum_hi=cum,
                )
                self.columns.append(_Column.empty())
                self.column_name.append(market_id)
        for symbol, asset in state.assets.items():
            if symbol != state.quote and symbol not in self.assets:
                self.assets[symbol] = _AssetModel(symbol, len(self.columns), unit=asset.atoms_per_unit)
                self.columns.append(_Column.empty())
                self.column_name.append(symbol)

    def _new_row(self, key: RowKey) -> int:
        row = self.nrows
        if row == len(self.h):
            size = max(64, 2 * row)
            self.h = _grow(self.h, size).astype(np.float64)
            self.gross = _grow(self.gross, size).astype(np.float64)
            self.const = _grow(self.const, size).astype(np.float64)
            self.nhold = _grow(self.nhold, size).astype(np.int64)
            self.alive = _grow(self.alive, size).astype(bool)
        self.nrows += 1
        self.keys.append(key)
        self.row_of[key] = row
        self.row_cols.append(b"")
        self.alive[row] = True
        self.h[row] = 0.0
        self.gross[row] = 0.0
        self.const[row] = 0.0
        self.nhold[row] = 0
        return row

    # --- prices -------------------------------------------------------------------

    def sync_prices(self, state: State) -> list[str]:
        """Revalue the holders of every market and asset whose price or parameters moved;
        return the names of the columns recomputed.
        """
        self._ensure_columns(state)
        done: list[str] = []
        now = state.time
        for market_id, model in self.markets.items():
            market = state.markets[market_id]
            feed = state.feeds[market.asset]
            params = market_params(market)
            cum = current_cum_funding(market, feed.index_price, now)
            if (
                market.mark_price != model.mark
                or feed.vol_sigma != model.sigma
                or market.mm_sigma != model.mm_sigma
                or params != model.params
                or (model.option is not None and feed.index_price != model.index)
                or (model.option is not None and option_params(market) != model.option)
                or _drift(model, cum, market.mark_price) > FUNDING_RESYNC
            ):
                self._sync_market(model, market, feed, params, cum)
                done.append(market_id)
            else:
                model.cum_lo = min(model.cum_lo, cum)
                model.cum_hi = max(model.cum_hi, cum)
        for symbol, amodel in self.assets.items():
            index = state.feeds[symbol].index_price
            weight = state.assets[symbol].maint_weight
            if index != amodel.index or weight != amodel.weight:
                self._sync_asset(amodel, index, weight)
                done.append(symbol)
        if done or _exact_stamp(state) != self._exact_stamp:
            if set(state.portfolio) != self._grids:
                # A grid listed or removed: portfolio accounts move between the core and the columns.
                self.refresh(state, self.portfolio_keys)
            self._value_exact_rows(state)
        return done

    def _value_exact_rows(self, state: State) -> None:
        """Value every portfolio-margin row with the core: its scenarios have no float model."""
        self._exact_stamp = _exact_stamp(state)
        self._grids = set(state.portfolio)
        for row in sorted(self.exact_deps):
            owner, sub, _ = self.keys[row]
            self._value_exact(state, row, state.accounts[(owner, sub)])

    def _value_exact(self, state: State, row: int, account: Account) -> None:
        risk = cross_risk(state, account)
        self.h[row] = float(risk.health)
        self.gross[row] = float(abs(risk.value_maint) + risk.mm)

    def _sync_market(
        self, model: _MarketModel, market: Market, feed: OracleFeed, params: tuple[int, ...], cum: int
    ) -> None:
        _remember(model, market, feed, params, cum)
        col = self.columns[model.column]
        n = col.n
        if n == 0:
            return
        out = self.work.get(n)
        _column_terms(model, cum, col.qty[:n], col.fref[:n], out)
        self._apply_column(col, out[0], out[1], out[2])

    def _sync_asset(self, model: _AssetModel, index: int, weight: int) -> None:
        model.index = index
        model.weight = weight
        col = self.columns[model.column]
        n = col.n
        if n == 0:
            return
        value, _, tmp, *_ = self.work.get(n)
        np.multiply(col.qty[:n], index * (weight / ONE) / model.unit, out=value)
        self._apply_column(col, value, value, tmp)

    def _apply_column(self, col: _Column, hc: F64, g: F64, tmp: F64) -> None:
        """Add the holdings' changes to their rows and keep the new contributions."""
        n = col.n
        rows = col.rows[:n]
        np.subtract(hc, col.hc[:n], out=tmp)
        np.add.at(self.h, rows, tmp)
        np.copyto(col.hc[:n], hc)
        if g is not hc:
            np.subtract(g, col.g[:n], out=tmp)
            np.add.at(self.gross, rows, tmp)
            np.copyto(col.g[:n], g)
        else:
            np.add.at(self.gross, rows, tmp)
            np.copyto(col.g[:n], g)
        self.updates += 1

    def recompute_all(self, state: State) -> None:
        """Recompute every holding and every row from the columns (the full scan)."""
        self._ensure_columns(state)
        n = self.nrows
        h = self.h[:n]
        gross = self.gross[:n]
        np.multiply(self.nhold[:n], -self.slack, out=h)
        np.add(h, self.const[:n], out=h)
        gross[:] = 0.0
        now = state.time
        for market_id, model in self.markets.items():
            market = state.markets[market_id]
            feed = state.feeds[market.asset]
            cum = current_cum_funding(market, feed.index_price, now)
            _remember(model, market, feed, market_params(market), cum)
            col = self.columns[model.column]
            k = col.n
            if k:
                out = self.work.get(k)
                _column_terms(model, cum, col.qty[:k], col.fref[:k], out)
                np.copyto(col.hc[:k], out[0])
                np.copyto(col.g[:k], out[1])
                self._add_column(col)
        for symbol, amodel in self.assets.items():
            amodel.index = state.feeds[symbol].index_price
            amodel.weight = state.assets[symbol].maint_weight
            col = self.columns[amodel.column]
            k = col.n
            if k:
                np.multiply(col.qty[:k], amodel.index * (amodel.weight / ONE) / amodel.unit, out=col.hc[:k])
                np.copyto(col.g[:k], col.hc[:k])
                self._add_column(col)
        self._value_exact_rows(state)
        h[~self.alive[:n]] = np.inf
        self.updates += 1

    def _add_column(self, col: _Column) -> None:
        k = col.n
        n = self.nrows
        self.h[:n] += np.bincount(col.rows[:k], weights=col.hc[:k], minlength=n)
        self.gross[:n] += np.bincount(col.rows[:k], weights=col.g[:k], minlength=n)

    # --- accounts -----------------------------------------------------------------

    def observe(self, state: State, events: Iterable[Event]) -> None:
        """Bring the index in step with ``state`` after ``apply`` returned ``events``."""
        self.sync_prices(state)
        touched = accounts_named(state, events)
        if touched:
            self.refresh(state, touched)

    def refresh(self, state: State, keys: Iterable[AccountKey]) -> None:
        """Revalue the rows of these accounts from their records."""
        self._ensure_columns(state)
        now = state.time
        quote = state.quote
        for key in sorted(keys):
            account = state.accounts.get(key)
            if account is None:
                continue
            owner, sub = key
            if account.portfolio:
                self.portfolio_keys.add(key)
            else:
                self.portfolio_keys.discard(key)
            self._refresh_row(state, (owner, sub, CROSS), account, quote, now)
            isolated = {m for m, p in account.positions.items() if p.isolated and p.size != 0}
            old = self.isolated_rows.get(key, set())
            for market_id in sorted(old | isolated):
                self._refresh_row(state, (owner, sub, market_id), account, quote, now)
            if isolated or old:
                self.isolated_rows[key] = old | isolated

    def _refresh_row(self, state: State, key: RowKey, account: Account, quote: str, now: int) -> None:
        row = self.row_of.get(key)
        if row is None:
            row = self._new_row(key)
        # Remove the row's old holdings.
        for c in self.row_cols[row]:
            col = self.columns[c]
            slot = col.find(row)
            if slot >= 0:  # a dead slot contributes nothing, now and at every later update
                col.qty[slot] = 0.0
                col.fref[slot] = 0.0
                col.hc[slot] = 0.0
                col.g[slot] = 0.0
        bucket = key[2]
        h = 0.0
        gross = 0.0
        cols: list[int] = []
        self.exact_deps.discard(row)
        if bucket == CROSS and is_portfolio_row(state, account):
            self.row_cols[row] = b""
            self.alive[row] = True
            self.const[row] = 0.0
            self.nhold[row] = 0
            self.exact_deps.add(row)
            self._value_exact(state, row, account)
            self.refreshed += 1
            return
        if bucket == CROSS:
            const = 0
            for symbol, amount in account.balances.items():
                if symbol == quote or amount <= 0:
                    const += amount
                    continue
                amodel = self.assets[symbol]
                feed = state.feeds[symbol]
                weight = state.assets[symbol].maint_weight
                value = float(amount) * (feed.index_price * (weight / ONE) / amodel.unit)
                self._put(amodel.column, row, float(amount), 0.0, value, value)
                h += value
                gross += value
                cols.append(amodel.column)
            positions = [(m, p) for m, p in account.positions.items() if not p.isolated and p.size != 0]
        else:
            pos = account.positions.get(bucket)
            if pos is None or not pos.isolated or pos.size == 0:
                self.row_cols[row] = b""
                self.alive[row] = False
                self.h[row] = np.inf
                self.gross[row] = 0.0
                self.const[row] = 0.0
                self.nhold[row] = 0
                self.refreshed += 1
                return
            const = pos.isolated_margin
            positions = [(bucket, pos)]
        for market_id, pos in positions:
            model = self.markets[market_id]
            market = state.markets[market_id]
            feed = state.feeds[market.asset]
            cum = current_cum_funding(market, feed.index_price, now)
            model.cum_lo = min(model.cum_lo, cum)
            model.cum_hi = max(model.cum_hi, cum)
            qty = float(pos.size)
            option = option_params(market)
            if option is not None:
                fref = 0.0
                hc, g = option_terms_scalar(
                    qty,
                    market.mark_price,
                    feed.index_price,
                    option,
                    market_params(market),
                    feed.vol_sigma,
                    market.mm_sigma,
                )
            else:
                fref = funding_ref(qty, pos.funding_index, model.cum_base)
                hc, g = position_terms_scalar(
                    qty,
                    fref,
                    market.mark_price,
                    float(cum - model.cum_base),
                    market_params(market),
                    feed.vol_sigma,
                    market.mm_sigma,
                )
            self._put(model.column, row, qty, fref, hc, g)
            h += hc
            gross += g
            cols.append(model.column)
        self.row_cols[row] = _pack(cols)
        self.alive[row] = True
        self.const[row] = float(const)
        self.nhold[row] = len(cols)
        self.h[row] = float(const) - self.slack * len(cols) + h
        self.gross[row] = gross
        self.refreshed += 1

    def _put(self, c: int, row: int, qty: float, fref: float, hc: float, g: float) -> None:
        col = self.columns[c]
        slot = col.slot_for(row)
        col.qty[slot] = qty
        col.fref[slot] = fref
        col.hc[slot] = hc
        col.g[slot] = g

    # --- screening ----------------------------------------------------------------

    def funding_drift(self, state: State) -> float:
        """Return the largest unbooked funding of any market as a ratio of notional."""
        worst = 0.0
        now = state.time
        for market_id, model in self.markets.items():
            market = state.markets[market_id]
            cum = current_cum_funding(market, state.feeds[market.asset].index_price, now)
            worst = max(worst, _drift(model, cum, market.mark_price))
        return worst

    def tolerance(self, state: State) -> float:
        return REL_TOL + self.funding_drift(state)

    def screen(self, state: State) -> Screen:
        """Return every row that may be liquidatable (a superset of the exact set)."""
        self.sync_prices(state)
        tol = self.tolerance(state)
        n = self.nrows
        limit = self.work.get(n)[0]
        if len(self._mask) < n:
            self._mask = np.zeros(len(self.h), dtype=bool)
        mask = self._mask[:n]
        np.multiply(self.gross[:n], tol, out=limit)
        np.less(self.h[:n], limit, out=mask)
        return Screen(np.flatnonzero(mask), self.keys, tol)

    def estimate(self, key: RowKey) -> tuple[float, float]:
        """Return (health estimate without slack, gross) of one row."""
        row = self.row_of[key]
        return float(self.h[row] + self.slack * self.nhold[row]), float(self.gross[row])

    def holdings(self) -> int:
        return sum(col.live() for col in self.columns)


def is_portfolio_row(state: State, account: Account) -> bool:
    """Return whether the core margins the account's cross bucket by scenarios: it is in
    portfolio mode and holds a cross position on an underlying with a grid."""
    if not account.portfolio or not state.portfolio:
        return False
    return any(
        pos.size and not pos.isolated and state.markets[market_id].asset in state.portfolio
        for market_id, pos in account.positions.items()
    )


def _exact_stamp(state: State) -> tuple[object, ...]:
    """What a portfolio-margin requirement depends on beyond the columns' prices: the clock
    (time to expiry, funding), the smiles and the grids."""
    smiles = tuple((f.id, f.atm_vol, f.skew, f.curvature) for f in state.vol_feeds.values())
    grids = tuple((asset, repr(params)) for asset, params in sorted(state.portfolio.items()))
    return (state.time, smiles, grids)


def _remember(
    model: _MarketModel, market: Market, feed: OracleFeed, params: tuple[int, ...], cum: int
) -> None:
    """Record the prices and parameters a market's holdings are about to be valued at."""
    model.mark = market.mark_price
    model.sigma = feed.vol_sigma
    model.index = feed.index_price
    model.mm_sigma = market.mm_sigma
    model.params = params
    model.option = option_params(market)
    model.cum_lo = model.cum_hi = cum


def _column_terms(model: _MarketModel, cum: int, qty: F64, fref: F64, out: list[F64]) -> None:
    """Write the holdings' value - MM into ``out[0]`` and their scale into ``out[1]``."""
    if model.option is not None:
        option_terms_into(
            qty, model.mark, model.index, model.option, model.params, model.sigma, model.mm_sigma, out
        )
        return
    position_terms_into(
        qty,
        fref,
        model.mark,
        float(cum - model.cum_base),
        model.params,
        model.sigma,
        model.mm_sigma,
        *out[:4],
    )


def _drift(model: _MarketModel, cum: int, mark: int) -> float:
    """Unbooked funding of a market as a ratio of notional: the largest change of the
    cumulative index since any holder's value was computed, per quote of notional.
    """
    spread = max(cum - model.cum_lo, model.cum_hi - cum)
    if spread <= 0:
        return 0.0
    return spread / (float(ONE) * max(mark, 1))


def _pack(cols: list[int]) -> bytes | tuple[int, ...]:
    if all(c < 256 for c in cols):
        return bytes(cols)
    return tuple(cols)


def cross_key(key: AccountKey) -> RowKey:
    return (key[0], key[1], CROSS)


def pool_row(pool_id: str) -> RowKey:
    owner, sub = pool_account_key(pool_id)
    return (owner, sub, CROSS)
