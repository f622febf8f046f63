"""
The Python SDK: sign transactions with your key and talk to a node.

Introduction
------------
``Client(url, private_key)`` (synchronous, httpx) and ``AsyncClient`` (the
same methods as coroutines, plus ``stream``) read the venue's domain from
``/meta``, sign each transaction as EIP-712 typed data for it
(``node.eip712``), choose nonces, submit, and return the receipt as JSON::

    from solvent.sdk import Client
    from solvent.core.tx import PlaceOrder

    with Client("http://127.0.0.1:8545", key) as client:
        receipt = client.submit(PlaceOrder(client.address, 0, "BTC-PERP", True, 10**6, 100_000 * 10**6))
        client.account()          # balances, positions, orders, margin

Nonces: the first is the node's ``next_nonce`` for the key, or the current
time in milliseconds if that is larger; each later one is the previous + 1.
So concurrent clients of one key do not collide (the core accepts any
unused nonce within 64 of the highest) and a restarted client starts above
every nonce it used. A refused submission raises ``NodeError`` with the
core's code, name and message; ``submit(..., wait=False)`` returns once the
node has queued the transaction.
"""

import itertools
import json
import threading
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
import websockets

from solvent.core.codec import encode_tx
from solvent.core.tx import Tx
from solvent.node.chain import sign_submission
from solvent.node.eip712 import Domain, address_of_key


class NodeError(Exception):
    """A node refused a request: ``code`` and ``name`` are the core's stable error."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(f"{name} ({code}): {message}")
        self.code = code
        self.name = name
        self.message = message


def _raise_for(response: httpx.Response) -> Any:
    body = response.json()
    if response.status_code >= 400:
        raise NodeError(
            int(body.get("code", response.status_code)), body.get("error", "Error"), body.get("message", "")
        )
    return body


class _Signer:
    """Nonces and signatures for one key on one venue."""

    def __init__(self, private_key: bytes, domain: Domain, first_nonce: int) -> None:
        self.key = private_key
        self.domain = domain
        self.address = address_of_key(private_key)
        self._nonces = itertools.count(max(first_nonce, int(time.time() * 1000)))
        self._lock = threading.Lock()

    def sign(self, tx: Tx, expires: int = 0, idempotency_key: str | None = None) -> dict[str, Any]:
        with self._lock:
            nonce = next(self._nonces)
        return sign_submission(self.key, self.domain, tx, nonce, expires, idempotency_key).to_json()


class Client:
    """A synchronous client of one node for one key (the key may be None: reads only)."""

    def __init__(self, url: str, private_key: bytes | None = None, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.meta = _raise_for(self.http.get("/meta"))
        self.domain = Domain(self.meta["chain_id"], self.meta["venue"])
        self.signer: _Signer | None = None
        if private_key is not None:
            address = address_of_key(private_key)
            first = self.signer_info(address)["next_nonce"]
            self.signer = _Signer(private_key, self.domain, first)

    @property
    def address(self) -> str:
        if self.signer is None:
            raise ValueError("this client has no key")
        return self.signer.address

    def sign(self, tx: Tx, expires: int = 0, idempotency_key: str | None = None) -> dict[str, Any]:
        if self.signer is None:
            raise ValueError("this client has no key: pass private_key to sign")
        return self.signer.sign(tx, expires, idempotency_key)

    def submit(
        self, tx: Tx, wait: bool = True, expires: int = 0, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and submit one transaction; return its receipt (raise ``NodeError`` if refused)."""
        body = self.sign(tx, expires, idempotency_key)
        receipt: dict[str, Any] = _raise_for(self.http.post("/tx", params={"wait": wait}, json=body))
        if receipt.get("status") == "refused":
            error = receipt["error"]
            raise NodeError(error["code"], error["error"], error["message"])
        return receipt

    def submit_many(self, txs: list[Tx], wait: bool = True) -> list[dict[str, Any]]:
        """Sign and submit several transactions in one request; return every receipt."""
        bodies = [self.sign(tx) for tx in txs]
        result: list[dict[str, Any]] = _raise_for(self.http.post("/txs", params={"wait": wait}, json=bodies))
        return result

    def preview(self, tx: Tx) -> dict[str, Any]:
        result: dict[str, Any] = _raise_for(self.http.post("/preview", json=encode_tx(tx)))
        return result

    def get(self, path: str, **params: Any) -> Any:
        return _raise_for(self.http.get(path, params=params))

    def markets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/markets")
        return result

    def book(self, market: str, depth: int = 20) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/markets/{market}/book", depth=depth)
        return result

    def account(self, owner: str | None = None, subaccount: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/accounts/{owner or self.address}/{subaccount}")
        return result

    def signer_info(self, address: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/signers/{address}")
        return result

    def withdrawal_proof(self, withdrawal_id: int) -> dict[str, Any]:
        """The WITHDRAWAL leaf of ``withdrawal_id`` with its proof against the withdrawals root of
        the last commit height (what ``Vault.withdraw`` takes)."""
        result: dict[str, Any] = self.get(f"/proofs/withdrawals/{withdrawal_id}")
        return result

    def exit_proof(self, asset: str, owner: str | None = None, subaccount: int = 0) -> dict[str, Any]:
        """The EXIT leaf of an account and asset with its proof against the state root of the last
        commit height (what ``Vault.exit`` takes)."""
        result: dict[str, Any] = self.get(f"/proofs/exits/{owner or self.address}/{subaccount}/{asset}")
        return result

    def cursors_proof(self) -> dict[str, Any]:
        """The CURSORS leaf with its proof at the last commit height (what ``Vault.freeze`` takes)."""
        result: dict[str, Any] = self.get("/proofs/cursors")
        return result

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """The asynchronous client: ``await AsyncClient.connect(url, key)``."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, meta: dict[str, Any], signer: _Signer | None
    ) -> None:
        self.url = url
        self.http = http
        self.meta = meta
        self.domain = Domain(meta["chain_id"], meta["venue"])
        self.signer = signer

    @classmethod
    async def connect(
        cls, url: str, private_key: bytes | None = None, timeout: float = 30.0
    ) -> "AsyncClient":
        http = httpx.AsyncClient(base_url=url, timeout=timeout)
        meta = _raise_for(await http.get("/meta"))
        signer = None
        if private_key is not None:
            info = _raise_for(await http.get(f"/signers/{address_of_key(private_key)}"))
            signer = _Signer(private_key, Domain(meta["chain_id"], meta["venue"]), info["next_nonce"])
        return cls(url, http, meta, signer)

    async def submit(self, tx: Tx, wait: bool = True, idempotency_key: str | None = None) -> dict[str, Any]:
        if self.signer is None:
            raise ValueError("this client has no key: pass private_key to sign")
        body = self.signer.sign(tx, 0, idempotency_key)
        receipt: dict[str, Any] = _raise_for(await self.http.post("/tx", params={"wait": wait}, json=body))
        if receipt.get("status") == "refused":
            error = receipt["error"]
            raise NodeError(error["code"], error["error"], error["message"])
        return receipt

    async def get(self, path: str, **params: Any) -> Any:
        return _raise_for(await self.http.get(path, params=params))

    async def stream(
        self, *streams: str, start: dict[str, int] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the messages of these streams (``start``: stream -> seq to resume from)."""
        ws_url = self.url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
        async with websockets.connect(ws_url) as socket:
            for name in streams:
                request: dict[str, Any] = {"op": "subscribe", "stream": name}
                if start and name in start:
                    request["from"] = start[name]
                await socket.send(json.dumps(request))
            async for raw in socket:
                message: dict[str, Any] = json.loads(raw)
                yield message

    async def close(self) -> None:
        await self.http.aclose()
