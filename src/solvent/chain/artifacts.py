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
version): what ``solvent.chain.client`` deploys, so a deployment is built
from the same source the tests run. Compiling takes one to four seconds, paid
by every ``solvent chain`` command and every linked node for the ABI alone,
so the result is kept on disk (``cache_dir``) keyed by the compiler's
version and the source.
"""

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import vyper
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


def cache_dir() -> Path:
    """Where compiled contracts are kept between processes (``$SOLVENT_CACHE`` or the user's
    cache directory)."""
    base = os.environ.get("SOLVENT_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "solvent" / "contracts"


@functools.cache
def artifact(name: str) -> Artifact:
    """Compile the contract ``name`` (relative to ``contracts/``) once per process, and once per
    machine: the result is kept under ``cache_dir()``, keyed by the compiler's version and the
    source's bytes, so an edited source or another Vyper compiles again. A cache that cannot be
    read or written is ignored."""
    path = source(name)
    text = path.read_text()
    key = hashlib.sha256(f"{vyper.__version__}\0{name}\0{text}".encode()).hexdigest()
    cached = cache_dir() / f"{key}.json"
    try:
        stored = json.loads(cached.read_text())
        return Artifact(abi=list(stored["abi"]), bytecode=str(stored["bytecode"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    out = compile_code(text, str(path), output_formats=["abi", "bytecode"])
    compiled = Artifact(abi=list(out["abi"]), bytecode=str(out["bytecode"]))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"abi": compiled.abi, "bytecode": compiled.bytecode}))
        partial.replace(cached)  # atomic: a concurrent reader sees the whole file or none
    except OSError:
        pass
    return compiled
