"""
A local development EVM chain: in process, or served over HTTP JSON-RPC.

Introduction
------------
Settlement code talks to a chain with plain web3.py and nothing else: a
``Web3`` made from an RPC URL (anvil, a testnet, mainnet) or from
``memory_web3``. The tests and the demo therefore run the very code that will
later point at a real RPC by URL, on a chain that costs nothing, starts in
milliseconds and forgets everything when the process ends.

The chain is eth-tester's PyEVM backend (Prague rules, so it runs Vyper 0.4.3
bytecode for the default EVM version: transient storage for ``@nonreentrant``,
``MCOPY``), with ten unlocked accounts of a million ether each.
``memory_web3`` is it in process; ``DevnetServer`` serves one such chain as
JSON-RPC 2.0 over HTTP, so a separate process (``solvent chain devnet``, a
wallet, ``cast``) reaches it exactly as it would reach a real node.

``fund`` and ``advance_time`` are the two things a test needs that a real chain
does not offer: ether from an unlocked account, and a clock that can be moved
(anvil's ``evm_increaseTime``, else eth-tester's ``testing_timeTravel``).

What the server translates
--------------------------
eth-tester speaks Python: its results hold ``int`` quantities and snake_case
keys, and a revert is a ``TransactionFailed`` exception. The server hands each
request to the provider through the provider's own formatting middleware (hex
parameters to ints, result keys to camelCase), then writes the result the way
a node does (``int`` → ``0x`` quantity, bytes → ``0x`` data, ``logsBloom`` as
256 bytes) and a revert as geth does (code 3, ``execution reverted: <reason>``,
the ABI-encoded ``Error(string)`` as ``data``), so web3's ``HTTPProvider``
raises ``ContractLogicError``. In process, web3 lets the tester's
``TransactionFailed`` through instead. A reverting transaction that is *sent*
is mined with status 0, as on a real chain.

Glossary
--------
devnet    this chain: eth-tester on PyEVM, fresh per ``memory_web3`` or server
tester    ``eth_tester.EthereumTester``, the chain behind the provider
pending   eth-tester's block being built; its timestamp is the next block's
"""

import ast
import contextlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from eth_abi import abi
from eth_tester import EthereumTester, PyEVMBackend  # type: ignore[import-untyped]
from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse, Wei

from solvent.serving import HttpServer

METHOD_NOT_FOUND = -32601
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
SERVER_ERROR = -32000  # geth's code for a request the chain refused (nonce, balance, ...)
REVERTED = 3  # geth's code for "execution reverted", with the revert data
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
BLOOM_BYTES = 256

_REASON_PREFIX = "execution reverted: "
_SNAKE = re.compile(r"_([a-z0-9])")


class DevnetError(RuntimeError):
    """The chain refused a devnet operation (a failed funding, a clock that did not move)."""


def memory_web3() -> Web3:
    """Return a Web3 on a fresh in-process chain (PyEVM, Prague rules, ten funded accounts)."""
    return Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))


def fund(w3: Web3, address: str, wei: int) -> None:
    """Send ``wei`` to ``address`` from the chain's first unlocked account; wait until mined."""
    sender = w3.eth.accounts[0]
    tx_hash = w3.eth.send_transaction(
        {"from": sender, "to": Web3.to_checksum_address(address), "value": Wei(wei)}
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    if receipt["status"] != 1:
        raise DevnetError(f"funding {address} with {wei} wei failed")


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the chain's clock ``seconds`` forward and mine a block; return its timestamp.

    ``evm_increaseTime`` + ``evm_mine`` (anvil, hardhat, ``DevnetServer``); where that method
    does not exist (the in-process provider), ``testing_timeTravel`` to the target time +
    ``evm_mine``. Raises ``DevnetError`` unless the new block is ``seconds`` or more later.
    """
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    before = _latest_timestamp(w3)
    response = w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    if "error" in response:
        if not _is_unknown_method(response):
            raise DevnetError(f"evm_increaseTime failed: {response['error']}")
        # eth-tester: time_travel(t) mines a block at t - 1 and leaves the pending one at t, so
        # the block mined next is at t; t must not be before the pending block.
        pending = int(w3.eth.get_block("pending")["timestamp"])
        target = before + seconds
        if target > pending:
            _request(w3, "testing_timeTravel", [target])
    _request(w3, "evm_mine", [])
    after = _latest_timestamp(w3)
    if after < before + seconds:
        raise DevnetError(f"the clock moved {after - before} s, not {seconds} s")
    return after


def _latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _is_unknown_method(response: RPCResponse) -> bool:
    error = response.get("error")
    return isinstance(error, Mapping) and error.get("code") == METHOD_NOT_FOUND


def _request(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in response:
        raise DevnetError(f"{method} failed: {response['error']}")
    return response.get("result")


# ---------------------------------------------------------------------------------------------
# The HTTP server


class DevnetServer:
    """One in-process chain served as JSON-RPC 2.0 over HTTP on ``host:port`` (0: any free port).

    The port is bound on construction, so ``url`` is known before ``start``. Requests are
    answered one at a time (eth-tester is not thread-safe).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8546) -> None:
        self.provider = EthereumTesterProvider(EthereumTester(PyEVMBackend()))
        self.tester: Any = self.provider.ethereum_tester
        # The provider's own middleware turns JSON-RPC parameters (hex quantities, camelCase)
        # into eth-tester's and its results' keys back to camelCase; no other middleware.
        self._w3 = Web3(self.provider, middleware=[])
        self._call: Callable[[RPCEndpoint, Any], RPCResponse] = self.provider.request_func(
            self._w3, self._w3.middleware_onion
        )
        self._lock = threading.Lock()
        self._time_offset = 0
        self.app = self._create_app()
        self.http = HttpServer(self.app, host, port, "solvent-devnet")
        self.host, self.port = self.http.host, self.http.port

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def accounts(self) -> list[str]:
        """The unlocked, funded dev accounts (``eth_accounts``)."""
        return [str(account) for account in self.tester.get_accounts()]

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (Ctrl-C)."""
        try:
            self.http.run()
        finally:
            self.http.socket.close()

    def start(self) -> "DevnetServer":
        """Serve from a background thread; return once requests are accepted."""
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> "DevnetServer":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- JSON-RPC -------------------------------------------------------------------------------

    def _create_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/")
        async def rpc(request: Request) -> Response:
            body = await request.body()
            answer = await run_in_threadpool(self.handle, body)
            if answer is None:  # notifications only
                return Response(status_code=204)
            return JSONResponse(answer)

        return app

    def handle(self, body: bytes) -> Any:
        """Answer one HTTP body: a request, or a batch of them (``None``: notifications only)."""
        try:
            message = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return _error(None, PARSE_ERROR, f"parse error: {error}")
        if isinstance(message, list):
            if not message:
                return _error(None, INVALID_REQUEST, "empty batch")
            answers = [self._answer(item) for item in message]
            kept = [answer for answer in answers if answer is not None]
            return kept or None
        return self._answer(message)

    def _answer(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return _error(None, INVALID_REQUEST, "invalid request")
        request_id = message.get("id")
        params = message.get("params", [])
        if not isinstance(params, list):
            answer = _error(request_id, INVALID_PARAMS, "params must be an array")
        else:
            with self._lock:
                answer = self._dispatch(request_id, message["method"], params)
        return answer if "id" in message else None

    def _dispatch(self, request_id: Any, method: str, params: list[Any]) -> dict[str, Any]:
        try:
            if method in ("evm_increaseTime", "evm_mine"):
                try:
                    argument = _quantity(params[0]) if params else None
                except (TypeError, ValueError) as error:
                    return _error(request_id, INVALID_PARAMS, f"invalid params: {error}")
                if method == "evm_mine":
                    return _result(request_id, self._mine(argument))
                if argument is None or argument < 0:
                    return _error(request_id, INVALID_PARAMS, "invalid params: seconds, zero or more")
                return _result(request_id, self._increase_time(argument))
            response = self._call(RPCEndpoint(method), params)
            if "error" in response:
                return {"jsonrpc": "2.0", "id": request_id, "error": dict(response["error"])}
            return _result(request_id, response.get("result"))
        except TransactionFailed as failure:
            return _revert(request_id, failure)
        except Exception as error:  # the chain refused it (nonce, balance, gas), as a node does
            return _error(request_id, SERVER_ERROR, str(error))

    def _increase_time(self, seconds: int) -> int:
        """anvil's ``evm_increaseTime``: the next block is ``seconds`` later than it would be.

        eth-tester has no clock offset, only ``time_travel(t)``, which mines a block at t - 1
        and leaves the pending block at t: one extra empty block per call.
        """
        if seconds > 0:
            pending = int(self.tester.get_block_by_number("pending")["timestamp"])
            self.tester.time_travel(pending + seconds)
        self._time_offset += seconds
        return self._time_offset

    def _mine(self, timestamp: int | None) -> int:
        """``evm_mine``, optionally at ``timestamp`` (hardhat's form); returns 0 as anvil does."""
        if timestamp is not None:
            pending = int(self.tester.get_block_by_number("pending")["timestamp"])
            if timestamp > pending:
                self.tester.time_travel(timestamp)
        self.tester.mine_blocks(1)
        return 0


def _quantity(value: Any) -> int:
    """A JSON-RPC quantity: a JSON number or a ``0x`` hex string."""
    if isinstance(value, bool):
        raise TypeError("a quantity, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith(("0x", "0X")) else int(value)
    raise TypeError(f"a quantity, not {value!r}")


def _result(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": _to_json(result)}


def _error(request_id: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _revert(request_id: Any, failure: TransactionFailed) -> dict[str, Any]:
    """A revert as geth reports it: code 3, ``execution reverted: <reason>``, the revert data."""
    data = _revert_data(failure)
    reason = _revert_reason(data)
    message = "execution reverted" if reason is None else _REASON_PREFIX + reason
    return _error(request_id, REVERTED, message, "0x" + data.hex())


def _revert_data(failure: TransactionFailed) -> bytes:
    """The revert data, raw where eth-tester kept it, else ``Error(reason)`` re-encoded.

    web3's tester provider re-raises every revert as ``TransactionFailed("execution reverted:
    <reason>")``; the original is its context. ``estimate_gas`` keeps the raw bytes (the
    original wraps py-evm's ``Revert(data)``); ``call`` has already decoded ``Error(string)``
    to its reason.
    """
    seen: BaseException | None = failure
    while seen is not None:
        for argument in seen.args:
            if isinstance(argument, bytes):
                return argument
            if isinstance(argument, BaseException) and argument.args and isinstance(argument.args[0], bytes):
                return argument.args[0]
        seen = seen.__context__
    message = str(failure.args[0]) if failure.args else ""
    reason = message.removeprefix(_REASON_PREFIX)
    if reason.startswith(("b'", 'b"')):  # data that is not Error(string), printed as Python bytes
        try:
            data = ast.literal_eval(reason)
        except (SyntaxError, ValueError):
            data = None
        if isinstance(data, bytes):
            return data
    if not reason:
        return b""
    return ERROR_SELECTOR + abi.encode(["string"], [reason])


def _revert_reason(data: bytes) -> str | None:
    if data[:4] != ERROR_SELECTOR:
        return None
    try:
        return str(abi.decode(["string"], data[4:])[0])
    except Exception:  # malformed Error(string): report the data only
        return None


def _to_json(value: Any, key: str = "") -> Any:
    """Write a tester result as a node does: ``0x`` quantities and data, camelCase keys."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if key == "logsBloom":
            return "0x" + value.to_bytes(BLOOM_BYTES, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {_camel(str(name)): _to_json(item, _camel(str(name))) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON-RPC")


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def serve(host: str, port: int) -> None:
    """Serve a devnet on ``host:port`` until Ctrl-C, after printing its URL and dev accounts."""
    server = DevnetServer(host, port)
    chain_id = int(server.provider.make_request(RPCEndpoint("eth_chainId"), [])["result"])
    print(f"Solvent devnet (eth-tester, chain id {chain_id}) at {server.url}")
    print("Unlocked dev accounts (eth_sendTransaction from any of them):")
    for account in server.accounts:
        ether = int(server.tester.get_balance(account)) // 10**18
        print(f"  {account}  {ether:,} ETH")
    print("Ctrl-C to stop; the chain is not kept.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
