"""
A node's genesis: a deployment, an operator key and keys for its named roles.

Introduction
------------
Deployments (``src/solvent/deployments/*.toml``) name their governor and
oracle reporters (``defaults.address_of("btc-1")``): fine for replays, but a
node needs keys that sign. ``node_genesis`` rewrites a deployment's
transactions so that every named address becomes the address of a key:

* the governor becomes the **operator** (the node's own key: it signs
  governance, and credits deposits until the chain watcher has a key);
* every other named address (reporters) becomes ``dev_address(name)``, the
  address of ``dev_key(name)`` = keccak256("solvent-dev-key:" + name).

Development keys are public by construction: anyone can derive them. They
make ``make demo`` and the tests self-contained; a real deployment passes its
own reporter addresses (``roles``) and keeps the keys with the reporters.

The genesis block (height 0) records the deployment name, chain id, venue
(the verifying contract of the EIP-712 domain), operator, role addresses,
time, ``commit_every`` and ``chain_settled``, so that ``solvent verify``
rebuilds the same state from the log alone. ``chain_settled`` (a venue
settled on chain, ``docs/settlement.md``) leaves out the deployment's
``Deposit`` and ``FundInsurance`` transactions — money the vault never
received, which a fund paying out would let users withdraw from others'
deposits — and applies ``SettleOnChain``: from height 1 a plain ``Deposit``
is refused (``DepositOnChainOnly``). Its insurance funds start empty; the
operator funds them from the vault (a deposit on chain, then
``FundInsurance``). A log written before a field existed takes its
default, which builds the state it was written with.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from solvent.core.engine import apply, genesis
from solvent.core.state import State
from solvent.core.tx import Deposit, FundInsurance, SetTime, SettleOnChain, Tx
from solvent.defaults import GENESIS, GENESIS_TIME, GOVERNOR, NAMES
from solvent.node.eip712 import Domain, address_of_key
from solvent.node.keccak import keccak256

# What a chain-settled genesis leaves out of its deployment: credits no vault holds.
UNBACKED = (Deposit, FundInsurance)

DEV_CHAIN_ID = 31337  # the chain id of local development chains (Anvil, Hardhat)
DEV_VENUE = "0x" + keccak256(b"solvent-dev-venue").hex()[:40]


def dev_key(name: str) -> bytes:
    """Return the public development key of a role name (never for real money)."""
    return keccak256(b"solvent-dev-key:" + name.encode())


def dev_address(name: str) -> str:
    return address_of_key(dev_key(name))


@dataclass(frozen=True, slots=True)
class GenesisConfig:
    deployment: str = "fixture_f"
    chain_id: int = DEV_CHAIN_ID
    venue: str = DEV_VENUE
    operator: str = field(default_factory=lambda: dev_address("operator"))
    time: int = GENESIS_TIME
    roles: dict[str, str] = field(default_factory=dict)  # deployment name -> address (default: dev)
    # EXIT leaves are refreshed (and roots committed on chain) at heights that are multiples of it.
    commit_every: int = 10
    # Settled on chain (docs/settlement.md): the deployment's unbacked Deposits (and the
    # FundInsurance they pay for) are left out and SettleOnChain is applied, so that money
    # enters only as ChainDeposit from the vault.
    chain_settled: bool = False

    def __post_init__(self) -> None:
        if self.commit_every < 1:
            raise ValueError(f"commit_every must be at least 1, was {self.commit_every}")

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.venue)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "GenesisConfig":
        """A config from its JSON; a field added since the log was written takes its default."""
        return cls(**obj)


def _rename(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, tuple):
        return tuple(_rename(v, mapping) for v in value)
    return value


def node_genesis_txs(config: GenesisConfig) -> list[Tx]:
    """The deployment's transactions with its named addresses replaced by keyed ones."""
    if config.deployment not in GENESIS:
        raise ValueError(f"unknown deployment {config.deployment!r}; one of {', '.join(GENESIS)}")
    txs = GENESIS[config.deployment]()
    mapping = {GOVERNOR: config.operator}
    for address, name in NAMES.items():
        if address != GOVERNOR:
            mapping[address] = config.roles.get(name) or dev_address(name)
    renamed: list[Tx] = []
    for tx in txs:
        changes = {f.name: _rename(getattr(tx, f.name), mapping) for f in dataclasses.fields(tx)}
        renamed.append(dataclasses.replace(tx, **changes))
    return renamed


def role_address(config: GenesisConfig, name: str) -> str:
    """The address a deployment role name has on this node."""
    return config.roles.get(name) or dev_address(name)


def genesis_state(config: GenesisConfig) -> State:
    """Build the state of height 0."""
    state = genesis(config.operator)
    apply(state, SetTime(config.time))
    for tx in node_genesis_txs(config):
        if config.chain_settled and isinstance(tx, UNBACKED):
            continue
        apply(state, tx)
    if config.chain_settled and not state.chain_settled:  # (a deployment may settle itself)
        apply(state, SettleOnChain(config.operator))
    return state
