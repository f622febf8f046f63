"""Fixtures of the vault tests: contracts compiled once per session, a fresh chain per test."""

from collections.abc import Iterator

import boa
import pytest
from boa.contracts.vyper.vyper_contract import VyperContract
from vault_world import World

from solvent.chain.contracts import FEE_TOKEN, MOCK_TOKEN, REENTRANT_TOKEN, VAULT, deployer


@pytest.fixture(scope="session", autouse=True)
def _safe_contract_repr() -> Iterator[None]:
    """Work around a titanoboa 0.2.8 bug: on every revert boa saves ``repr(contract)``, which
    dumps storage by decoding the keccak preimages it traced; a traced preimage that only looks
    like a HashMap key path (seen after many calls in one process) raises ``AttributeError``
    inside boa and hides the revert the test expects. The repr is only for error messages."""
    original = VyperContract.__repr__

    def safe_repr(self: VyperContract) -> str:
        try:
            return original(self)
        except Exception:  # boa's own storage dump failed
            return object.__repr__(self)

    VyperContract.__repr__ = safe_repr  # type: ignore[method-assign]
    yield
    VyperContract.__repr__ = original  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _compiled() -> None:
    for name in (VAULT, MOCK_TOKEN, FEE_TOKEN, REENTRANT_TOKEN):
        deployer(name)


@pytest.fixture
def world() -> Iterator[World]:
    with boa.env.anchor():
        yield World.create()
