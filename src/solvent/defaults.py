"""
Embedded deployments and the names that stand for addresses.

Introduction
------------
A deployment is a file of genesis transactions in ``src/solvent/deployments/``
(TOML, in the human units of scenario files): every parameter of the venue
(quorum, staleness, bands, penalty split, weights, caps, funds) is
configuration there, not a constant in code. ``fixture_f.toml`` is Fixture F
of the adversarial catalogue and the default: quote USDC; BTC-PERP and
ETH-PERP in domain MAJ, ALT-PERP in domain ALT; five reporters per asset,
quorum 3, stale after 60 s; insurance funds MAJ 1,000,000 and ALT 20,000
paid in by a treasury account at genesis. The pool starts empty.

Names stand for addresses: ``address_of("maker")`` is a fixed address
derived from the name, so scenarios can say ``"owner": "maker"``.
"""

import hashlib
import tomllib
from collections.abc import Callable
from functools import partial
from importlib import resources
from typing import Any

from solvent.core.codec import decode_tx
from solvent.core.engine import apply, genesis
from solvent.core.fixed import ONE
from solvent.core.state import State
from solvent.core.tx import SetTime, Tx
from solvent.core.units import QUOTE_ONE

GENESIS_TIME = 1_700_000_000


NAMES: dict[str, str] = {}  # address -> the name it was derived from, for display


def address_of(name: str) -> str:
    """Return the address a scenario name stands for: 0x + sha256(name)[:40]."""
    if name.startswith("0x"):
        return name.lower()
    address = "0x" + hashlib.sha256(name.encode()).hexdigest()[:40]
    NAMES[address] = name
    return address


def name_of(account: str) -> str:
    """Return ``name/sub`` for an ``address/sub`` derived from a name, else the input."""
    address, sep, sub = account.partition("/")
    name = NAMES.get(address)
    return f"{name}{sep}{sub}" if name is not None else account


GOVERNOR = address_of("governor")
TREASURY = address_of("treasury")  # pays in the insurance funds at genesis


def pct(text: str) -> int:
    """Return a percentage string such as ``"0.5"`` as a ratio (0.5% = 5 * 10**15)."""
    whole, _, frac = text.partition(".")
    digits = int(whole + frac)
    return digits * ONE // (100 * int(10 ** len(frac)))


def reporters(asset: str, count: int = 5) -> tuple[str, ...]:
    """Return the default reporter addresses of an asset: names ``<asset>-reporter-<i>``."""
    return tuple(address_of(name) for name in _reporter_names(asset, count))


def usd(text: str) -> int:
    """Return a USD amount or price string as quote atoms."""
    whole, _, frac = text.partition(".")
    return int(whole) * QUOTE_ONE + int((frac or "0").ljust(6, "0")[:6])


def load_deployment(name: str) -> list[Tx]:
    """Return the genesis transactions of ``src/solvent/deployments/<name>.toml``.

    Each ``[[tx]]`` entry is a transaction in scenario units, completed by the
    file's ``[oracle]``, ``[domain]`` and ``[market]`` tables for the
    transaction types they apply to; reporters default to five per asset.
    ``include = "<name>"`` first loads another deployment (with its own tables).
    """
    from solvent.scenario import convert_tx  # noqa: PLC0415 (scenario imports this module)

    state = genesis(GOVERNOR)
    apply(state, SetTime(GENESIS_TIME))
    return _load_into(state, name, convert_tx)


def _load_into(
    state: State, name: str, convert_tx: Callable[[State, dict[str, Any]], dict[str, Any]]
) -> list[Tx]:
    """Apply deployment ``name`` (after the one it ``include``s) to ``state``; return its transactions."""
    text = resources.files("solvent.deployments").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    txs: list[Tx] = []
    if "include" in config:
        txs += _load_into(state, config["include"], convert_tx)
    for entry in config["tx"]:
        kind = entry["tx"]
        base: dict[str, Any] = {}
        if kind == "ListOracle" or (kind == "ListAsset" and entry["symbol"] != state.quote):
            asset = entry.get("asset", entry.get("symbol"))
            base = {**config.get("oracle", {}), "reporters": _reporter_names(asset)}
        elif kind == "ListDomain":
            base = dict(config.get("domain", {}))
        elif kind == "ListMarket":
            base = dict(config.get("market", {}))
        tx = decode_tx(convert_tx(state, {**base, **entry}))
        apply(state, tx)
        txs.append(tx)
    return txs


def _reporter_names(asset: str, count: int = 5) -> list[str]:
    return [f"{asset.lower()}-reporter-{i}" for i in range(1, count + 1)]


def fixture_f() -> list[Tx]:
    """Return the genesis transactions of Fixture F (``deployments/fixture_f.toml``)."""
    return load_deployment("fixture_f")


def deployments() -> list[str]:
    """Return the names of the deployment files shipped with Solvent."""
    folder = resources.files("solvent.deployments")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


GENESIS: dict[str, Callable[[], list[Tx]]] = {
    **{name: partial(load_deployment, name) for name in deployments()},
    "default": fixture_f,
    "empty": list,
}
