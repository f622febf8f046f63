"""
Find the Vyper contracts and deploy them with titanoboa.

Introduction
------------
The sources are found by ``solvent.chain.artifacts``; this module loads them
into titanoboa's in-process EVM, for the tests and ``bench/gas.py`` (web3
deployments use ``artifacts.artifact`` instead).

Compiling is the slow part (about a second per contract): ``deployer`` compiles
each source once per process and every ``deploy_*`` reuses it.

Glossary
--------
deployer   boa's compiled, not yet deployed contract (``boa.load_partial``)
"""

import functools
from typing import Any

import boa

from solvent.chain.artifacts import FEE_TOKEN, MOCK_TOKEN, REENTRANT_TOKEN, VAULT, source

__all__ = [
    "FEE_TOKEN",
    "MOCK_TOKEN",
    "REENTRANT_TOKEN",
    "VAULT",
    "deploy_token",
    "deploy_vault",
    "deployer",
    "tx_gas",
]


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
