"""
The vault through web3: deploy it, call it with a local key, read its events.

Introduction
------------
Everything Solvent does on chain goes through ``VaultClient``, on a ``Web3``
that is either a real EVM RPC (``connect("http://…")``) or the in-process
development chain (``connect("memory")``, ``solvent.chain.devnet``): the same
code in the tests, the demo and production. Keys are local
(``eth_account``): every transaction is signed here and sent raw, so any
RPC works, none needs unlocked accounts.

Each call is first simulated (``eth_call``): a revert becomes a
``ChainError`` carrying the contract's reason (``"InvalidProof"``,
``"DeadlineNotPassed"``…, the strings of ``contracts/Vault.vy``) and no
transaction is sent, so a refused call costs no gas and tells the user why.

The proof arguments are the JSON the node serves (``/proofs/withdrawals/{id}``,
``/proofs/exits/…``, ``/proofs/cursors``; ``node.state_root``) or that
``solvent.chain.escape`` rebuilds from a copy of the log: the vault takes the
32 siblings, the leaf index and the root height as they are.

Amounts are token units, which are the node's atoms of the asset (the vault
lists a token for an asset only if their decimals agree: ``list_asset``).

Glossary
--------
asset id   bytes32 keccak256 of an asset's symbol (``leaves.asset_id``)
"""

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, Web3Exception
from web3.logs import DISCARD
from web3.types import TxReceipt

from solvent.chain.artifacts import MOCK_TOKEN, VAULT, artifact
from solvent.chain.leaves import asset_id

LOG_CHUNK = 2_000  # blocks per eth_getLogs: public RPCs cap the range of one query
DEPTH = 32


class ChainError(Exception):
    """The chain refused a call: ``reason`` is the contract's revert string (or the cause)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action} refused on chain: {reason}")
        self.action = action
        self.reason = reason


def connect(url: str) -> Web3:
    """A Web3 on an RPC URL (http, https, ws) or on ``"memory"``, a new in-process devnet."""
    if url == "memory":
        from solvent.chain.devnet import memory_web3  # noqa: PLC0415 (eth-tester: a second to load)

        w3: Web3 = memory_web3()
        return w3
    if url.startswith(("ws://", "wss://")):
        raise ValueError("use an http(s) RPC URL: the watcher polls, it needs no subscription")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise ChainError("connect", f"no EVM RPC answers at {url}")
    return w3


def account(private_key: bytes | str) -> LocalAccount:
    """The signing account of a private key (32 bytes, or 0x hex)."""
    key: Any = Account.from_key(private_key)
    return key  # type: ignore[no-any-return]


def _reason(error: Exception) -> str:
    text = str(error.args[0]) if error.args else str(error)
    for prefix in ("execution reverted: ", "execution reverted"):
        if text.startswith(prefix):
            return text[len(prefix) :] or "reverted"
    return text


@functools.cache
def _reverts() -> tuple[type[Exception], ...]:
    """The exceptions that mean "the contract reverted": web3's, and the in-process tester's."""
    try:
        from eth_tester.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
            TransactionFailed,  # (a second to load; a client of a real RPC never needs it)
        )
    except ImportError:  # pragma: no cover - eth-tester is a dependency
        return (ContractLogicError,)
    return (ContractLogicError, TransactionFailed)


def _hex32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}")
    return raw


def _siblings(proof: dict[str, Any]) -> list[bytes]:
    siblings = [_hex32(s) for s in proof["siblings"]]
    if len(siblings) != DEPTH:
        raise ValueError(f"a proof has {DEPTH} siblings, this one {len(siblings)}")
    return siblings


@dataclass(frozen=True, slots=True)
class DepositEvent:
    """A ``Deposited`` event: what the watcher credits as a ``ChainDeposit``."""

    deposit_id: int
    owner: str  # lower-case 0x address, as the node writes addresses
    subaccount: int
    asset: bytes  # asset id
    amount: int
    block_number: int
    block_hash: str  # 0x + 64 hex


@dataclass(frozen=True, slots=True)
class ForcedRequest:
    """A ``ForcedWithdrawalRequested`` event: what the watcher serves as a ``ForcedWithdrawal``."""

    request_id: int
    owner: str
    subaccount: int
    asset: bytes
    amount: int
    deadline: int  # chain seconds
    block_number: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class AssetLine:
    symbol: str
    token: str
    holdings: int  # the vault's own books: deposits in, payments out


@dataclass(frozen=True, slots=True)
class VaultStatus:
    """What ``solvent chain status`` prints."""

    address: str
    chain_id: int
    block: int
    timestamp: int
    admin: str
    sequencer: str
    force_window: int
    frozen: bool
    last_height: int | None  # None: nothing committed yet
    state_root: str
    deposits: int
    requests: int
    deposits_credited: int  # read at freeze; 0 before
    assets: tuple[AssetLine, ...]


class VaultClient:
    """One deployed vault on one chain."""

    def __init__(self, w3: Web3, address: str, start_block: int = 0) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.start_block = start_block  # no event of the vault is older: where scans begin
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact(VAULT).abi)
        self._lock = threading.Lock()  # one nonce sequence per sender, whatever thread sends
        self._symbols: dict[bytes, str] = {}

    # --- deployment ---------------------------------------------------------------------

    @classmethod
    def deploy(cls, w3: Web3, admin: LocalAccount, sequencer: str, force_window: int) -> "VaultClient":
        """Deploy a vault; ``admin`` lists its assets, ``sequencer`` commits its roots."""
        address = deploy_contract(w3, admin, VAULT, Web3.to_checksum_address(sequencer), force_window)
        return cls(w3, address, int(w3.eth.block_number))

    def deployed_at_block(self) -> int:
        """The vault's creation block, found by bisection on its code; 0 if the RPC keeps no
        state that old (not an archive node): then pass the block from the deployment record."""
        low, high = 0, int(self.w3.eth.block_number)
        try:
            while low < high:
                mid = (low + high) // 2
                if self.w3.eth.get_code(self.address, block_identifier=mid):
                    high = mid
                else:
                    low = mid + 1
        except (Web3Exception, ValueError, OSError):
            return 0
        return low

    def list_asset(self, admin: LocalAccount, symbol: str, token: str, decimals: int | None = None) -> None:
        """List ``token`` as the asset ``symbol``; with ``decimals``, first check the token's agree
        (a token unit must be one atom of the node's asset)."""
        token_contract = self.token_at(token)
        if decimals is not None:
            actual = int(token_contract.functions.decimals().call())
            if actual != decimals:
                raise ChainError(
                    "list_asset", f"{token} has {actual} decimals, the node's {symbol} {decimals}"
                )
        self.send(admin, self.contract.functions.list_asset(symbol, token_contract.address), "list_asset")

    # --- sending ------------------------------------------------------------------------

    def send(self, sender: LocalAccount, fn: ContractFunction, action: str) -> TxReceipt:
        return send(self.w3, sender, fn, action, self._lock)

    # --- the user's calls ---------------------------------------------------------------

    def deposit(self, user: LocalAccount, symbol: str, amount: int, subaccount: int = 0) -> DepositEvent:
        """Approve the vault if needed and deposit; returns the event (its id is the node's)."""
        token = self.token(symbol)
        allowance = int(token.functions.allowance(user.address, self.address).call())
        if allowance < amount:
            self.send(user, token.functions.approve(self.address, amount), "approve")
        receipt = self.send(
            user, self.contract.functions.deposit(asset_id(symbol), amount, subaccount), "deposit"
        )
        (log,) = self.contract.events.Deposited().process_receipt(receipt, errors=DISCARD)
        return _deposit_event(log)

    def withdraw(self, sender: LocalAccount, proof: dict[str, Any]) -> TxReceipt:
        """Pay a withdrawal to its owner with the node's proof (anyone may send it)."""
        fn = self.contract.functions.withdraw(
            int(proof["withdrawal_id"]),
            Web3.to_checksum_address(proof["owner"]),
            asset_id(proof["asset"]),
            int(proof["amount"]),
            _siblings(proof),
            int(proof["height"]),
        )
        return self.send(sender, fn, f"withdraw {proof['withdrawal_id']}")

    def request_forced(
        self, user: LocalAccount, symbol: str, amount: int, subaccount: int = 0
    ) -> ForcedRequest:
        """Ask on chain for a withdrawal the operator must serve before the deadline."""
        fn = self.contract.functions.request_forced_withdrawal(subaccount, asset_id(symbol), amount)
        receipt = self.send(user, fn, "request_forced_withdrawal")
        (log,) = self.contract.events.ForcedWithdrawalRequested().process_receipt(receipt, errors=DISCARD)
        return _forced_request(log)

    def freeze(self, sender: LocalAccount, request_id: int, cursors: dict[str, Any] | None) -> TxReceipt:
        """Freeze the vault for an overdue request; ``cursors`` is the CURSORS proof at the last
        committed root (None before any commitment: the vault then ignores it)."""
        if cursors is None:
            args: tuple[int, int, int, list[bytes]] = (0, 0, 0, [bytes(32)] * DEPTH)
        else:
            args = (
                int(cursors["deposits_credited"]),
                int(cursors["forced_served"]),
                int(cursors["index"]),
                _siblings(cursors),
            )
        return self.send(
            sender, self.contract.functions.freeze(request_id, *args), f"freeze on request {request_id}"
        )

    def exit(self, sender: LocalAccount, proof: dict[str, Any]) -> int:
        """Pay an EXIT leaf of the final root to its owner; returns the amount paid."""
        fn = self.contract.functions.exit(
            Web3.to_checksum_address(proof["owner"]),
            int(proof["subaccount"]),
            asset_id(proof["asset"]),
            int(proof["amount"]),
            int(proof["index"]),
            _siblings(proof),
            int(proof["height"]),
        )
        receipt = self.send(sender, fn, f"exit {proof['owner']}/{proof['subaccount']}/{proof['asset']}")
        (log,) = self.contract.events.Exited().process_receipt(receipt, errors=DISCARD)
        return int(log["args"]["paid"])

    def refund(self, sender: LocalAccount, deposit: DepositEvent) -> int:
        """Return a deposit the final root had not credited; returns the amount paid."""
        fn = self.contract.functions.refund(
            deposit.deposit_id,
            Web3.to_checksum_address(deposit.owner),
            deposit.subaccount,
            deposit.asset,
            deposit.amount,
        )
        receipt = self.send(sender, fn, f"refund of deposit {deposit.deposit_id}")
        (log,) = self.contract.events.Refunded().process_receipt(receipt, errors=DISCARD)
        return int(log["args"]["paid"])

    # --- the sequencer's call -----------------------------------------------------------

    def commit(
        self, sequencer: LocalAccount, height: int, state_root: bytes, withdrawals_root: bytes
    ) -> TxReceipt:
        fn = self.contract.functions.commit(height, state_root, withdrawals_root)
        return self.send(sequencer, fn, f"commit of height {height}")

    # --- reading ------------------------------------------------------------------------

    def last_height(self) -> int | None:
        """The last committed height; None before the first commitment."""
        following = int(self.contract.functions.next_height().call())
        return following - 1 if following else None

    def frozen(self) -> bool:
        return bool(self.contract.functions.frozen().call())

    def token_at(self, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(MOCK_TOKEN).abi)

    def token(self, symbol: str) -> Contract:
        address = self.contract.functions.token_of(asset_id(symbol)).call()
        if int(address, 16) == 0:
            raise ChainError("token", f"{symbol} is not listed on the vault {self.address}")
        return self.token_at(address)

    def balance_of(self, symbol: str, owner: str) -> int:
        return int(self.token(symbol).functions.balanceOf(Web3.to_checksum_address(owner)).call())

    def symbols(self) -> dict[bytes, str]:
        """Asset id -> symbol of every listed asset (from ``AssetListed``; listing is for good)."""
        logs = self._logs(self.contract.events.AssetListed, self.start_block, self.w3.eth.block_number)
        for log in logs:
            self._symbols[bytes(log["args"]["asset"])] = str(log["args"]["symbol"])
        return dict(self._symbols)

    def symbol_of(self, asset: bytes) -> str | None:
        if asset not in self._symbols:
            self.symbols()
        return self._symbols.get(asset)

    def deposits(self, from_block: int, to_block: int) -> list[DepositEvent]:
        """The ``Deposited`` events of blocks ``from_block`` … ``to_block``, in id order."""
        logs = self._logs(self.contract.events.Deposited, from_block, to_block)
        return sorted((_deposit_event(log) for log in logs), key=lambda d: d.deposit_id)

    def forced_requests(self, from_block: int, to_block: int) -> list[ForcedRequest]:
        """The ``ForcedWithdrawalRequested`` events of those blocks, in id order."""
        logs = self._logs(self.contract.events.ForcedWithdrawalRequested, from_block, to_block)
        return sorted((_forced_request(log) for log in logs), key=lambda r: r.request_id)

    def _logs(self, event: Any, from_block: int, to_block: int) -> list[Any]:
        out: list[Any] = []
        for start, end in _chunks(from_block, to_block, LOG_CHUNK):
            out.extend(event.get_logs(from_block=start, to_block=end))
        return out

    def status(self) -> VaultStatus:
        fns = self.contract.functions
        block = self.w3.eth.get_block("latest")
        assets = []
        for asset, symbol in sorted(self.symbols().items(), key=lambda kv: kv[1]):
            token = fns.token_of(asset).call()
            assets.append(AssetLine(symbol, str(token), int(fns.holdings(token).call())))
        return VaultStatus(
            address=self.address,
            chain_id=int(self.w3.eth.chain_id),
            block=int(block["number"]),
            timestamp=int(block["timestamp"]),
            admin=str(fns.admin().call()),
            sequencer=str(fns.sequencer().call()),
            force_window=int(fns.force_window().call()),
            frozen=bool(fns.frozen().call()),
            last_height=self.last_height(),
            state_root="0x" + bytes(fns.state_root().call()).hex(),
            deposits=int(fns.deposit_count().call()),
            requests=int(fns.request_count().call()),
            deposits_credited=int(fns.deposits_credited().call()),
            assets=tuple(assets),
        )


def _chunks(start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    while start <= end:
        yield start, min(end, start + size - 1)
        start += size


def _deposit_event(log: Any) -> DepositEvent:
    args = log["args"]
    return DepositEvent(
        deposit_id=int(args["deposit_id"]),
        owner=str(args["owner"]).lower(),
        subaccount=int(args["subaccount"]),
        asset=bytes(args["asset"]),
        amount=int(args["amount"]),
        block_number=int(log["blockNumber"]),
        block_hash="0x" + bytes(log["blockHash"]).hex(),
    )


def _forced_request(log: Any) -> ForcedRequest:
    args = log["args"]
    return ForcedRequest(
        request_id=int(args["request_id"]),
        owner=str(args["owner"]).lower(),
        subaccount=int(args["subaccount"]),
        asset=bytes(args["asset"]),
        amount=int(args["amount"]),
        deadline=int(args["deadline"]),
        block_number=int(log["blockNumber"]),
        block_hash="0x" + bytes(log["blockHash"]).hex(),
    )


def send(
    w3: Web3, sender: LocalAccount, fn: ContractFunction, action: str, lock: "threading.Lock | None" = None
) -> TxReceipt:
    """Simulate ``fn`` from ``sender`` (a revert raises ``ChainError`` with its reason, nothing is
    sent), then sign it locally, send it and wait for its receipt."""
    reverts = _reverts()
    with lock or threading.Lock():
        try:
            fn.call({"from": sender.address})
            tx = fn.build_transaction(_tx_fields(w3, sender))
        except reverts as error:
            raise ChainError(action, _reason(error)) from error
        return _send_signed(w3, sender, tx, action)


def _tx_fields(w3: Web3, sender: LocalAccount) -> Any:
    """The fields web3 does not fill in for a locally signed transaction."""
    return {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
    }


def _send_signed(w3: Web3, sender: LocalAccount, tx: Any, action: str) -> TxReceipt:
    signed = sender.sign_transaction(tx)
    try:
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except _reverts() as error:
        raise ChainError(action, _reason(error)) from error
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise ChainError(action, f"transaction 0x{bytes(tx_hash).hex()} reverted")
    return receipt


def deploy_contract(w3: Web3, sender: LocalAccount, name: str, *args: Any) -> str:
    """Deploy the contract ``name`` (relative to ``contracts/``); returns its address."""
    compiled = artifact(name)
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    tx = factory.constructor(*args).build_transaction(_tx_fields(w3, sender))
    receipt = _send_signed(w3, sender, tx, f"deploy {name}")
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deploy {name}", "the receipt has no contract address")
    return str(address)


def deploy_test_token(w3: Web3, sender: LocalAccount, symbol: str, decimals: int) -> str:
    """Deploy a mintable ERC-20 for a development chain (``contracts/test/MockERC20.vy``)."""
    return deploy_contract(w3, sender, MOCK_TOKEN, symbol, decimals)


def mint(w3: Web3, sender: LocalAccount, token: str, to: str, amount: int) -> None:
    """Mint test tokens (development chains only: the mock token lets anyone mint)."""
    contract = w3.eth.contract(address=Web3.to_checksum_address(token), abi=artifact(MOCK_TOKEN).abi)
    send(w3, sender, contract.functions.mint(Web3.to_checksum_address(to), amount), "mint")
