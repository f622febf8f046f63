"""
The Vyper sources and their compiled ABI and bytecode, for web3.

Introduction
------------
The sources live in the repository's top-level ``contracts/`` (``Vault.vy``;
test tokens in ``contracts/test/``). ``src/solvent/contracts`` is a symbolic
link to it, listed as package data, so a wheel carries copies of the files
inside the ``solvent`` package. ``contracts_dir`` looks there first (an
installed package, or a checkout through the link) and then in the checkout's
top level (a checkout where the link was not kept, e.g. ``core.symlinks=false``).

``artifact`` compiles a source with the pinned Vyper (for the default EVM
version) once per process, about a second each: what ``solvent.chain.client``
deploys, so a deployment is built from the same source the tests run.
"""

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from vyper.compiler import compile_code

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


@dataclass(frozen=True, slots=True)
class Artifact:
    """A compiled contract: its ABI and its deployment bytecode (0x hex)."""

    abi: list[dict[str, Any]]
    bytecode: str


@functools.cache
def artifact(name: str) -> Artifact:
    """Compile the contract ``name`` (relative to ``contracts/``) once per process."""
    path = source(name)
    out = compile_code(path.read_text(), str(path), output_formats=["abi", "bytecode"])
    return Artifact(abi=list(out["abi"]), bytecode=str(out["bytecode"]))
