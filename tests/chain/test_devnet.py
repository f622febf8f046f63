"""
The devnet (``solvent.chain.devnet``): one web3 flow, in process and over HTTP.

Each flow test runs twice, on ``memory_web3()`` and on a ``DevnetServer`` reached by
``HTTPProvider`` as a real RPC would be: a fresh key, funded by ``fund``, deploys the
project's own ``MockERC20`` and ``Vault`` and calls them with locally signed transactions.
Only the revert's exception differs: eth-tester's ``TransactionFailed`` in process, web3's
``ContractLogicError`` over HTTP.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
from eth_typing import ChecksumAddress
from vyper.compiler import compile_code
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from solvent.chain.contracts import MOCK_TOKEN, VAULT, source
from solvent.chain.devnet import DevnetServer, advance_time, fund, memory_web3
from solvent.chain.leaves import asset_id

FORCE_WINDOW = 3_600
USDC = asset_id("USDC")
UNLISTED = asset_id("NOPE")
K = 1_000 * 10**6

Compiled = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def compiled() -> Compiled:
    """ABI and bytecode of the vault and the test token, compiled once per module."""
    out: Compiled = {}
    for name in (VAULT, MOCK_TOKEN):
        path = source(name)
        out[name] = compile_code(
            path.read_text(), str(path), output_formats=["abi", "bytecode", "opcodes_runtime"]
        )
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[DevnetServer]:
    with DevnetServer(port=0) as running:
        yield running


@pytest.fixture(params=["memory", "http"])
def w3(request: pytest.FixtureRequest, server: DevnetServer) -> Web3:
    if request.param == "memory":
        return memory_web3()
    return Web3(HTTPProvider(server.url))


def _revert_type(w3: Web3) -> type[Exception]:
    """What a revert raises: the tester's own exception in process, web3's over HTTP."""
    return ContractLogicError if isinstance(w3.provider, HTTPProvider) else TransactionFailed


class User:
    """A fresh local key on ``w3``: funded by the devnet, signing its own transactions."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.account: LocalAccount = Account.create()
        fund(w3, self.account.address, 10**18)

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def send(self, fn: ContractFunction, gas: int | None = None) -> TxReceipt:
        """Build, sign locally, send raw, wait for the receipt (``gas``: skip the estimate)."""
        fields: dict[str, Any] = {
            "from": self.account.address,
            "nonce": self.w3.eth.get_transaction_count(self.account.address),
        }
        if gas is not None:
            fields["gas"] = gas
        return self._sign_and_send(fn.build_transaction(fields))  # type: ignore[arg-type]

    def deploy(self, art: dict[str, Any], *args: Any) -> Contract:
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        nonce = self.w3.eth.get_transaction_count(self.account.address)
        receipt = self._sign_and_send(
            factory.constructor(*args).build_transaction({"from": self.account.address, "nonce": nonce})
        )
        assert receipt["status"] == 1
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=art["abi"])

    def _sign_and_send(self, tx: Any) -> TxReceipt:
        signed = self.w3.eth.account.sign_transaction(tx, self.account.key)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)


def _vault_with_usdc(w3: Web3, compiled: Compiled) -> tuple[User, Contract, Contract]:
    admin = User(w3)
    token = admin.deploy(compiled[MOCK_TOKEN], "USDC", 6)
    vault = admin.deploy(compiled[VAULT], admin.address, FORCE_WINDOW)
    assert admin.send(vault.functions.list_asset("USDC", token.address))["status"] == 1
    return admin, token, vault


def test_the_vault_uses_cancun_opcodes(compiled: Compiled) -> None:
    # so the deposit below (@nonreentrant) really runs TSTORE/TLOAD and MCOPY on the devnet
    opcodes = compiled[VAULT]["opcodes_runtime"].split()
    assert {"TSTORE", "TLOAD", "MCOPY"} <= set(opcodes)


def test_fund_gives_a_fresh_key_ether(w3: Web3) -> None:
    key = Account.create()
    assert w3.eth.get_balance(key.address) == 0
    fund(w3, key.address, 12345)
    assert w3.eth.get_balance(key.address) == 12345


def test_signed_deposit_and_its_event_logs(w3: Web3, compiled: Compiled) -> None:
    admin, token, vault = _vault_with_usdc(w3, compiled)
    user = User(w3)
    assert w3.eth.get_code(vault.address) != b""
    assert user.send(token.functions.mint(user.address, 5 * K))["status"] == 1
    assert user.send(token.functions.approve(vault.address, 2 * K))["status"] == 1
    receipt = user.send(vault.functions.deposit(USDC, 2 * K, 7))
    assert receipt["status"] == 1
    assert vault.functions.deposit_count().call() == 1
    assert vault.functions.holdings(token.address).call() == 2 * K
    assert token.functions.balanceOf(user.address).call() == 3 * K

    transfers = token.events.Transfer.get_logs(from_block=0)
    assert [(log["args"]["sender"], log["args"]["receiver"], log["args"]["value"]) for log in transfers] == [
        ("0x" + "00" * 20, user.address, 5 * K),
        (user.address, vault.address, 2 * K),
    ]
    into_vault = token.events.Transfer.get_logs(from_block=0, argument_filters={"receiver": vault.address})
    assert [log["args"]["value"] for log in into_vault] == [2 * K]
    assert token.events.Transfer.get_logs(from_block=0, argument_filters={"receiver": admin.address}) == []
    (deposited,) = vault.events.Deposited.get_logs(from_block=0)
    assert deposited["args"]["owner"] == user.address
    assert (deposited["args"]["subaccount"], deposited["args"]["asset"], deposited["args"]["amount"]) == (
        7,
        USDC,
        2 * K,
    )
    assert deposited["transactionHash"] == receipt["transactionHash"]


def test_a_revert_reason_reaches_the_caller(w3: Web3, compiled: Compiled) -> None:
    user, _, vault = _vault_with_usdc(w3, compiled)
    request = vault.functions.request_forced_withdrawal(0, UNLISTED, K)
    with pytest.raises(_revert_type(w3), match="execution reverted: UnknownAsset") as call:
        request.call({"from": user.address})
    with pytest.raises(_revert_type(w3), match="execution reverted: UnknownAsset"):
        user.send(request)  # the gas estimate reverts before anything is sent
    if isinstance(call.value, ContractLogicError):
        assert isinstance(call.value.data, str)
        assert call.value.data.startswith("0x08c379a0")
        assert bytes.fromhex(call.value.data[2:]).rstrip(b"\0").endswith(b"UnknownAsset")
    # sent anyway (gas given, no estimate): mined and failed, as on a real chain
    nonce = w3.eth.get_transaction_count(user.address)
    assert user.send(request, gas=200_000)["status"] == 0
    assert w3.eth.get_transaction_count(user.address) == nonce + 1


def test_advance_time_moves_block_timestamp_past_a_deadline(w3: Web3, compiled: Compiled) -> None:
    user, _, vault = _vault_with_usdc(w3, compiled)
    assert user.send(vault.functions.request_forced_withdrawal(0, USDC, K))["status"] == 1
    deadline = vault.functions.request_deadline(0).call()
    freeze = vault.functions.freeze(0, 0, 0, 0, [b"\0" * 32] * 32)
    with pytest.raises(_revert_type(w3), match="DeadlineNotPassed"):
        freeze.call({"from": user.address})

    before = w3.eth.get_block("latest")["timestamp"]
    after = advance_time(w3, FORCE_WINDOW + 1)
    assert after == w3.eth.get_block("latest")["timestamp"]
    assert after >= before + FORCE_WINDOW + 1
    assert after > deadline
    assert advance_time(w3, 1) >= after + 1

    receipt = user.send(freeze)
    assert receipt["status"] == 1
    assert vault.functions.frozen().call()
    (frozen,) = vault.events.VaultFrozen.get_logs(from_block=0)
    assert frozen["args"]["request_id"] == 0


# The JSON-RPC envelope, over raw HTTP


def _post(server: DevnetServer, body: Any) -> Any:
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    response = httpx.post(server.url, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    return response.json()


def test_http_batch_keeps_each_request_id(server: DevnetServer) -> None:
    answers = _post(
        server,
        [
            {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": "b", "method": "eth_blockNumber"},
            {"jsonrpc": "2.0", "id": 9, "method": "no_suchMethod", "params": []},
        ],
    )
    assert [answer["id"] for answer in answers] == [7, "b", 9]
    assert answers[0]["result"] == hex(memory_web3().eth.chain_id)
    assert answers[1]["result"].startswith("0x")
    assert answers[2]["error"]["code"] == -32601


def test_http_errors(server: DevnetServer) -> None:
    assert _post(server, {"jsonrpc": "2.0", "id": 1, "method": "foo_bar", "params": []})["error"]["code"] == (
        -32601
    )
    malformed = _post(server, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert (malformed["id"], malformed["error"]["code"]) == (None, -32700)
    assert _post(server, [])["error"]["code"] == -32600
    bad = _post(server, {"jsonrpc": "2.0", "id": 2, "method": "evm_increaseTime", "params": ["soon"]})
    assert bad["error"]["code"] == -32602


def test_http_results_are_json_rpc_shaped(server: DevnetServer) -> None:
    block = _post(
        server, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0x0", False]}
    )
    result = block["result"]
    assert result["number"] == "0x0"
    assert result["timestamp"].startswith("0x")
    assert len(result["logsBloom"]) == 2 + 2 * 256
    assert "parentHash" in result and "parent_hash" not in result
    (account, *_) = _post(server, {"jsonrpc": "2.0", "id": 2, "method": "eth_accounts"})["result"]
    balance = _post(
        server, {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [account, "latest"]}
    )
    assert int(balance["result"], 16) > 0
