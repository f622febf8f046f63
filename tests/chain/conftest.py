"""Fixtures of the vault tests: contracts compiled once per session, a fresh chain per test."""

from collections.abc import Iterator

import boa
import pytest
from vault_world import World

from solvent.chain.contracts import FEE_TOKEN, MOCK_TOKEN, REENTRANT_TOKEN, VAULT, deployer


@pytest.fixture(scope="session", autouse=True)
def _compiled() -> None:
    for name in (VAULT, MOCK_TOKEN, FEE_TOKEN, REENTRANT_TOKEN):
        deployer(name)


@pytest.fixture
def world() -> Iterator[World]:
    with boa.env.anchor():
        yield World.create()
