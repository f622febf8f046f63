"""
Find the Vyper contracts and deploy them with titanoboa.

Introduction
------------
The sources live in the repository's top-level ``contracts/`` (``Vault.vy``;
test tokens in ``contracts/test/``). ``src/solvent/contracts`` is a symbolic
link to it, listed as package data, so a wheel carries copies of the files
inside the ``solvent`` package. ``contracts_dir`` looks there first (an
installed package, or a checkout through the link) and then in the checkout's
top level (a checkout where the link was not kept, e.g. ``core.symlinks=false``).

Compiling is the slow part (about a second per contract): ``deployer`` compiles
each source once per process and every ``deploy_*`` reuses it.

Glossary
--------
deployer   boa's compiled, not yet deployed contract (``boa.load_partial``)
"""

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import boa

VAULT = "Vault.vy"
MOCK_TOKEN = "test/MockERC20.vy"
FEE_TOKEN = "test/FeeToken.vy"
REENTRANT_TOKEN = "test/ReentrantToken.vy"


class ContractsNotFoundError(FileNotFoundError):
    """The Vyper sources are neither in the package nor in a checkout."""


def contracts_dir() -> Path:
    """Return the directory holding ``Vault.vy`` (package data first, then the checkout)."""
    packaged = Path(str(resources.files("solvent"))) / "contracts"
    checkout = Path(__file__).resolve().parents[3] / "contracts"
    for place in (packaged, checkout):
        if (place / VAULT).is_file():
            return place
    raise ContractsNotFoundError(f"{VAULT} is in neither {packaged} nor {checkout}")


def source(name: str) -> Path:
    """Return the path of a contract's source, ``name`` relative to ``contracts/``."""
    return contracts_dir() / name


@functools.cache
def deployer(name: str) -> Any:
    """Return the compiled contract ``name`` (compiled once per process)."""
    return boa.load_partial(str(source(name)))


def deploy_vault(sequencer: str, force_window: int, admin: str | None = None) -> Any:
    """Deploy a vault; ``admin`` (default: boa's current sender) lists assets."""
    if admin is None:
        return deployer(VAULT).deploy(sequencer, force_window)
    return deployer(VAULT).deploy(sequencer, force_window, sender=admin)


def deploy_token(symbol: str, decimals: int = 6, name: str = MOCK_TOKEN) -> Any:
    """Deploy a test token (``MOCK_TOKEN``, ``FEE_TOKEN`` or ``REENTRANT_TOKEN``)."""
    return deployer(name).deploy(symbol, decimals)


def tx_gas(fn: Any, *args: Any, sender: str) -> int:
    """Call a contract function as one transaction and return the gas it would be charged.

    21,000 + calldata (16 a non-zero byte, 4 a zero byte) + execution, less the refund (at
    most a fifth of the total, EIP-3529), with every account and slot cold at the start.
    """
    calldata = fn.prepare_calldata(*args)
    # boa keeps accounts and slots warm from one call to the next; start this one cold, as a
    # transaction does, on a fresh access journal (boa.env.reset_gas_used would replace the
    # journal for good and break the checkpoints of an enclosing boa.env.anchor()).
    accounts = boa.env.evm.vm.state._account_db
    journal = accounts._journal_accessed_state
    accounts._reset_access_counters()
    try:
        fn(*args, sender=sender)
    finally:
        accounts._journal_accessed_state = journal
    computation = fn.contract._computation
    gross = 21_000 + sum(16 if byte else 4 for byte in calldata) + computation.get_gas_used()
    return int(gross - min(computation.get_gas_refund(), gross // 5))
