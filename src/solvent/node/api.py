"""
The node's HTTP and WebSocket API (FastAPI); OpenAPI at ``/docs`` and ``/openapi.json``.

Introduction
------------
Writes are signed submissions (``node.chain``): ``POST /tx`` takes one and,
by default, answers once the block holding it is durable (``?wait=false``:
as soon as it is queued); ``POST /txs`` takes a list (one round trip for a
market maker's quotes). ``POST /preview`` runs an unsigned transaction on a
shadow of the state and returns its events and the account's margin after
it; nothing changes.

Signatures are checked off the event loop by the node's
``node.verifier.Verifier`` (``NodeServer`` gives it worker processes, so the
checks do not share the core that sequences), and the checked submissions
are queued with ``Node.submit_checked`` in the request's order. A request of
fewer than ``INLINE_BELOW`` submissions is checked on the event loop: a pool
task costs the node's process more than those few checks.

Reads (``GET``) answer from the current state under the node's lock:
markets, a market's book depth, an account with its positions, orders,
margin and ADL rank, a signer's nonce window and agent grants, insurance
funds, breakers, blocks, the state root and a Merkle proof of any account;
for settlement on chain (``docs/settlement.md``), proofs of a withdrawal, an
exit claim and the cursors against the roots of the last commit height.

Every refusal is JSON ``{"code", "error", "message"}`` with the core's
stable code: HTTP 400 for a refused transaction, 404 for an unknown
resource.

``/ws`` serves the streams of ``node.streams``: send ``{"op": "subscribe",
"stream": "book:BTC-PERP"}`` (optionally ``"from": seq`` to resume) and
``{"op": "unsubscribe", ...}``; every message carries its stream's ``seq``.
"""

import asyncio
import threading
from concurrent.futures import BrokenExecutor, Future
from typing import Any

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from solvent.core.codec import decode_tx
from solvent.core.engine import preview
from solvent.core.errors import ProtocolError
from solvent.core.units import SIZE_ONE
from solvent.node.chain import Receipt
from solvent.node.history import History
from solvent.node.merkle import DEPTH
from solvent.node.node import Node
from solvent.node.state_root import ACCOUNT, cursors_proof, exit_proof, leaf_encoding, withdrawal_proof
from solvent.node.streams import StreamHub, asyncio_deliverer
from solvent.node.verifier import Checked, Verifier, check_batch
from solvent.node.views import (
    account_view,
    book_levels,
    breakers_view,
    funds_view,
    market_view,
    risk_view,
    signer_view,
)

MAX_BATCH = 1_000
# A pool task costs the node's process ~300 µs of CPU and ~0.5 ms of latency whatever its
# size; a check here ~100 µs. Below 4 submissions checking here is both faster and cheaper.
INLINE_BELOW = 4


def all_resolved(futures: "list[Future[Receipt]]") -> "asyncio.Future[None]":
    """Resolved on the running loop once every future is: one wake-up of the loop for them all
    (``asyncio.wrap_future`` each costs a write to the loop's pipe per receipt, from the
    sequencer thread, ~50 µs of the node's process under load)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    left = [len(futures)]
    lock = threading.Lock()

    def resolve() -> None:
        if not done.done():  # the client may have gone and the request been cancelled
            done.set_result(None)

    def one(_: "Future[Receipt]") -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        if not loop.is_closed():  # a receipt resolved after the server stopped
            loop.call_soon_threadsafe(resolve)

    if not futures:
        done.set_result(None)
    for future in futures:
        future.add_done_callback(one)
    return done


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def create_app(
    node: Node,
    hub: StreamHub | None = None,
    history: History | None = None,
    verifier: Verifier | None = None,
    inline_below: int = INLINE_BELOW,
) -> FastAPI:
    """Build the API of a running node. Submissions are checked by ``verifier`` (its owner
    closes it; None: on the event loop), those of a request with fewer than ``inline_below``
    on the event loop."""
    checks = verifier or Verifier(node.domain, kind="inline")
    if checks.domain != node.domain:
        raise ValueError(f"the verifier checks for {checks.domain}, the node is {node.domain}")
    hub = hub or StreamHub(node)
    history = history or History(node)
    app = FastAPI(
        title="Solvent node",
        version="1",
        description="Signed transactions in, blocks, state and proofs out. Amounts are integers in atoms.",
    )

    @app.exception_handler(ProtocolError)
    async def refused(_: Request, error: ProtocolError) -> JSONResponse:
        return JSONResponse(error.to_json(), status_code=400)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        body = {"code": 404, "error": "NotFound", "message": f"{error.what} does not exist"}
        return JSONResponse(body, status_code=404)

    async def settle(future: Any, wait: bool) -> dict[str, Any]:
        if not wait:
            return {"status": "queued"}
        receipt: Receipt = await asyncio.wrap_future(future)
        return receipt.to_json()

    async def check(objs: list[Any]) -> list[Checked]:
        if len(objs) < inline_below:
            return check_batch(checks.domain, objs)
        try:
            return await asyncio.wrap_future(checks.submit(objs))
        except BrokenExecutor:
            # A worker died (killed, out of memory) and the pool refuses every task from now
            # on; the node still answers, checking here as it did before it had a pool.
            return check_batch(checks.domain, objs)

    def queue(results: list[Checked]) -> list["Future[Receipt] | ProtocolError"]:
        futures = iter(node.submit_checked([r for r in results if isinstance(r, tuple)]))
        return [r if isinstance(r, ProtocolError) else next(futures) for r in results]

    # --- writes -----------------------------------------------------------------------

    @app.post("/tx", summary="Submit one signed transaction")
    async def submit(body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        (item,) = queue(await check([body]))
        if isinstance(item, ProtocolError):
            raise item
        return await settle(item, wait)

    @app.post("/txs", summary="Submit a list of signed transactions (each checked on its own)")
    async def submit_many(body: list[dict[str, Any]], wait: bool = True) -> list[dict[str, Any]]:
        if len(body) > MAX_BATCH:
            raise ProtocolError(f"at most {MAX_BATCH} transactions per request")
        items = queue(await check(body))
        if wait:
            await all_resolved([item for item in items if not isinstance(item, ProtocolError)])
        out = []
        for item in items:
            if isinstance(item, ProtocolError):
                out.append({"status": "refused", "height": None, "index": None, "error": item.to_json()})
            else:
                out.append(item.result().to_json() if wait else {"status": "queued"})
        return out

    @app.post("/preview", summary="What a transaction would do (unsigned; nothing changes)")
    def what_if(body: dict[str, Any]) -> dict[str, Any]:
        tx = decode_tx(body)
        with node.lock:
            result = preview(node.state, tx)
        return {
            "events": [{"kind": e.kind, **e.data} for e in result.events],
            "account": None if result.account is None else f"{result.account[0]}/{result.account[1]}",
            "risk": None if result.risk is None else risk_view(result.risk),
            "market_risk": None if result.market_risk is None else risk_view(result.market_risk),
            "liquidation_price": result.liquidation_price,
        }

    # --- reads ------------------------------------------------------------------------

    @app.get("/meta", summary="The venue: domain, genesis, height, root, units")
    def meta() -> dict[str, Any]:
        with node.lock:
            return {
                "chain_id": node.domain.chain_id,
                "venue": node.domain.verifying_contract,
                "genesis": node.genesis.to_json(),
                "height": node.height,
                "time": node.state.time,
                "root": "0x" + node.tree.root().hex(),
                "quote": node.state.quote,
                "units": {
                    "size": SIZE_ONE,
                    "ratio": 10**18,
                    **{s: a.atoms_per_unit for s, a in sorted(node.state.assets.items())},
                },
            }

    @app.get("/markets", summary="Every market")
    def markets() -> list[dict[str, Any]]:
        with node.lock:
            return [market_view(node.state, m) for _, m in sorted(node.state.markets.items())]

    @app.get("/markets/{market_id}", summary="One market")
    def market(market_id: str) -> dict[str, Any]:
        with node.lock:
            m = node.state.markets.get(market_id)
            if m is None:
                raise NotFound(f"market {market_id}")
            return market_view(node.state, m)

    @app.get("/markets/{market_id}/book", summary="Aggregated depth: [[price, size, orders], ...]")
    def book(market_id: str, depth: int = Query(20, ge=1, le=500)) -> dict[str, Any]:
        with node.lock:
            m = node.state.markets.get(market_id)
            if m is None:
                raise NotFound(f"market {market_id}")
            return {"market": market_id, "height": node.height, **book_levels(m, depth)}

    @app.get("/accounts/{owner}/{subaccount}", summary="Balances, positions, orders, margin, ADL rank")
    def account(owner: str, subaccount: int) -> dict[str, Any]:
        with node.lock:
            view = account_view(node.state, (owner.lower(), subaccount))
        if view is None:
            raise NotFound(f"account {owner}/{subaccount}")
        return view

    @app.get("/accounts/{owner}/{subaccount}/fills", summary="The account's fills, newest first")
    def account_fills(
        owner: str, subaccount: int, limit: int = Query(100, ge=1, le=1000), before: int | None = None
    ) -> list[dict[str, Any]]:
        return history.fills(f"{owner.lower()}/{subaccount}", limit, before)

    @app.get("/accounts/{owner}/{subaccount}/funding", summary="Funding the account paid (> 0) or received")
    def account_funding(
        owner: str, subaccount: int, limit: int = Query(100, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        return history.funding(f"{owner.lower()}/{subaccount}", limit)

    @app.get(
        "/accounts/{owner}/{subaccount}/pnl", summary="Realised, unrealised PnL and equity, block by block"
    )
    def account_pnl(
        owner: str, subaccount: int, limit: int = Query(100, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        return history.pnl(f"{owner.lower()}/{subaccount}", limit)

    @app.get("/accounts/{owner}/{subaccount}/adl", summary="The ADL rank of each of the account's positions")
    def account_adl(owner: str, subaccount: int) -> dict[str, Any]:
        with node.lock:
            view = account_view(node.state, (owner.lower(), subaccount))
        if view is None:
            raise NotFound(f"account {owner}/{subaccount}")
        return {p["market"]: p["adl_rank"] for p in view["positions"]}

    @app.get("/markets/{market_id}/trades", summary="Recent fills of a market, newest first")
    def market_trades(market_id: str, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return history.trades(market_id, limit)

    @app.get("/markets/{market_id}/funding", summary="Funding rate changes of a market, newest first")
    def market_funding(market_id: str, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return history.rates(market_id, limit)

    @app.get("/signers/{address}", summary="Nonce window and agent grants of a key")
    def signer(address: str) -> dict[str, Any]:
        with node.lock:
            return signer_view(node.state, address.lower())

    @app.get("/insurance", summary="Insurance fund of every risk domain")
    def insurance() -> dict[str, int]:
        with node.lock:
            return funds_view(node.state)

    @app.get("/breakers", summary="Circuit breakers in force, per market")
    def breakers() -> dict[str, dict[str, str]]:
        with node.lock:
            return breakers_view(node.state)

    @app.get("/blocks/latest", summary="The last block")
    def latest_block() -> dict[str, Any]:
        return block(node.height)

    @app.get("/blocks/{height}", summary="One block: its transactions and state root")
    def block(height: int) -> dict[str, Any]:
        record = node.log.block(height)
        if record is None:
            raise NotFound(f"block {height}")
        return {**record.json(), "root": "0x" + record.root.hex(), "digest": "0x" + record.digest.hex()}

    @app.get(
        "/proofs/accounts/{owner}/{subaccount}", summary="Merkle proof of an account at the current root"
    )
    def proof(owner: str, subaccount: int) -> dict[str, Any]:
        key = (ACCOUNT, owner.lower(), subaccount)
        with node.lock:
            if key not in node.tree.index:
                raise NotFound(f"account {owner}/{subaccount}")
            index, siblings = node.tree.proof(key)
            encoding = leaf_encoding(node.state, key)
            return {
                "height": node.height,
                "root": "0x" + node.tree.root().hex(),
                "index": index,
                "depth": DEPTH,
                "leaf": "0x" + encoding.hex(),
                "siblings": ["0x" + s.hex() for s in siblings],
            }

    @app.get(
        "/proofs/withdrawals/{withdrawal_id}",
        summary="Merkle proof of a withdrawal against the withdrawals root of the last commit height",
    )
    def proof_withdrawal(withdrawal_id: int) -> dict[str, Any]:
        with node.lock:
            out = withdrawal_proof(node.tree, withdrawal_id)
        if out is None:
            raise NotFound(
                f"withdrawal {withdrawal_id} at the last commit height (it may come with the next)"
            )
        return out

    @app.get(
        "/proofs/exits/{owner}/{subaccount}/{asset}",
        summary="Merkle proof of an EXIT leaf against the state root of the last commit height",
    )
    def proof_exit(owner: str, subaccount: int, asset: str) -> dict[str, Any]:
        with node.lock:
            out = exit_proof(node.tree, owner.lower(), subaccount, asset)
        if out is None:
            raise NotFound(f"an exit claim of {owner}/{subaccount} on {asset} at the last commit height")
        return out

    @app.get("/proofs/cursors", summary="Merkle proof of the CURSORS leaf at the last commit height")
    def proof_cursors() -> dict[str, Any]:
        with node.lock:
            out = cursors_proof(node.tree)
        if out is None:
            raise NotFound("a commit height since the node started (wait for the next one)")
        return out

    @app.get("/health", summary="Liveness: height and pending submissions")
    def health() -> dict[str, Any]:
        return {"height": node.height, "pending": node.pending()}

    # --- streams ----------------------------------------------------------------------

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        deliver = asyncio_deliverer(loop, queue)
        subscribed: set[str] = set()

        async def pump() -> None:
            while True:
                await socket.send_json(await queue.get())

        sender = asyncio.create_task(pump())
        try:
            while True:
                request = await socket.receive_json()
                op = request.get("op") if isinstance(request, dict) else None
                name = request.get("stream") if isinstance(request, dict) else None
                if op == "subscribe" and isinstance(name, str):
                    start = request.get("from")
                    try:
                        hub.subscribe(name, deliver, start if isinstance(start, int) else None)
                    except ValueError as error:
                        await queue.put({"error": "BadStream", "message": str(error)})
                        continue
                    subscribed.add(name)
                elif op == "unsubscribe" and isinstance(name, str):
                    hub.unsubscribe(name, deliver)
                    subscribed.discard(name)
                else:
                    await queue.put(
                        {"error": "BadRequest", "message": 'send {"op": "subscribe", "stream": ...}'}
                    )
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            for name in subscribed:
                hub.unsubscribe(name, deliver)

    return app
