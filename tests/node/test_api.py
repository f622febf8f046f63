"""
The API through real HTTP and WebSocket, against a node started by the test.

The SDK signs and submits; every read endpoint answers; refusals come back as
JSON with the core's code; streams give a snapshot, then deltas with gapless
sequence numbers, and a reconnect with ``from`` resumes without a gap.
Batches of submissions are checked by the server's pool of worker processes
and answered item by item, in order, exactly as checks one at a time answer.
"""

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from solvent.core.tx import AuthoriseAgent, Deposit, PlaceOrder, PriceReport, Withdraw
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.api import create_app
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.keccak import keccak256
from solvent.node.merkle import verify_proof
from solvent.node.node import NodeConfig
from solvent.node.server import NodeServer
from solvent.node.state_root import ACCOUNT
from solvent.node.verifier import Checked, Verifier
from solvent.sdk import AsyncClient, Client, NodeError

ALICE, BOB, BOT = dev_key("alice"), dev_key("bob"), dev_key("alice-bot")
A, B = dev_address("alice"), dev_address("bob")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    directory: Path = tmp_path_factory.mktemp("api") / "node"
    with NodeServer(directory, GenesisConfig(), NodeConfig(block_interval_s=0.02)) as server:
        operator = Client(server.url, dev_key("operator"))
        for owner in (A, B):
            operator.submit(Deposit(owner, 0, "USDC", usd("100000")))
        now = server.node.state.time
        for i in (1, 2, 3):
            reporter = Client(server.url, dev_key(f"btc-reporter-{i}"))
            reporter.submit(PriceReport(reporter.address, "BTC", usd("100000"), now))
        yield server


def order(owner: str, is_buy: bool, price: str, size: int = SIZE_ONE // 100) -> PlaceOrder:
    return PlaceOrder(owner, 0, "BTC-PERP", is_buy, size, usd(price))


def test_orders_through_http_and_the_account_view(server: NodeServer) -> None:
    alice, bob = Client(server.url, ALICE), Client(server.url, BOB)
    placed = alice.submit(order(A, True, "99900"))
    assert placed["status"] == "applied" and placed["events"][0]["kind"] == "OrderPlaced"
    filled = bob.submit(order(B, False, "99900"))
    assert [e["kind"] for e in filled["events"]].count("Fill") == 1
    view = alice.account()
    (position,) = view["positions"]
    assert position["market"] == "BTC-PERP" and position["size"] == SIZE_ONE // 100
    assert view["risk"]["liquidatable"] is False
    assert view["liquidate_first"] == "BTC-PERP"
    assert alice.signer_info(A)["highest_nonce"] >= 1
    book = alice.book("BTC-PERP", depth=5)
    assert set(book) >= {"bids", "asks", "height"}


def test_refusals_are_json_with_the_core_code(server: NodeServer) -> None:
    alice = Client(server.url, ALICE)
    with pytest.raises(NodeError) as info:
        alice.submit(Withdraw(A, 0, "USDC", usd("100000000")))
    assert info.value.name == "InsufficientMargin" and info.value.code == 3001
    response = httpx.post(f"{server.url}/tx", json={"tx": {"tx": "Nope"}})
    assert response.status_code == 400 and response.json()["error"] == "Malformed"
    body = alice.sign(order(A, True, "99000"))
    body["chain_id"] = 1
    response = httpx.post(f"{server.url}/tx", json=body)
    assert response.status_code == 400 and response.json()["code"] == 7002  # WrongDomain
    assert httpx.get(f"{server.url}/markets/NOPE").json()["error"] == "NotFound"


def test_agent_keys_trade_but_never_withdraw(server: NodeServer) -> None:
    alice, bot = Client(server.url, ALICE), Client(server.url, BOT)
    alice.submit(AuthoriseAgent(A, bot.address, markets=("BTC-PERP",)))
    assert bot.submit(order(A, True, "95000"))["status"] == "applied"
    with pytest.raises(NodeError) as info:
        bot.submit(Withdraw(A, 0, "USDC", usd("1")))
    assert info.value.name == "Unauthorized"
    assert bot.address in alice.signer_info(A)["agents"]


def test_reads_preview_blocks_and_proofs(server: NodeServer) -> None:
    client = Client(server.url)
    meta = client.get("/meta")
    assert meta["chain_id"] == GenesisConfig().chain_id and meta["height"] >= 1
    assert {m["id"] for m in client.markets()} >= {"BTC-PERP", "ETH-PERP"}
    assert client.get("/insurance")["MAJ"] > 0
    assert isinstance(client.get("/breakers"), dict)
    latest = client.get("/blocks/latest")
    assert latest["height"] == client.get(f"/blocks/{latest['height']}")["height"]
    preview = client.preview(order(A, True, "99000", size=SIZE_ONE))
    assert preview["events"][0]["kind"] == "OrderPlaced" and preview["risk"]["im"] > 0
    proof = client.get(f"/proofs/accounts/{A}/0")
    leaf = bytes.fromhex(proof["leaf"][2:])
    siblings = [bytes.fromhex(s[2:]) for s in proof["siblings"]]
    assert int.from_bytes(leaf[:32], "big") == ACCOUNT
    assert verify_proof(bytes.fromhex(proof["root"][2:]), keccak256(leaf), proof["index"], siblings)
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert "/tx" in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_streams_snapshot_deltas_and_resume(server: NodeServer) -> None:
    async def scenario() -> None:
        client = await AsyncClient.connect(server.url, ALICE)
        url = server.url.replace("http", "ws") + "/ws"
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"op": "subscribe", "stream": "book:BTC-PERP"}))
            await socket.send(json.dumps({"op": "subscribe", "stream": f"account:{A}/0"}))
            snapshot = json.loads(await socket.recv())
            assert snapshot["type"] == "snapshot" and snapshot["stream"] == "book:BTC-PERP"
            seen = snapshot["seq"]
            account = json.loads(await socket.recv())
            assert account["type"] == "snapshot" and account["data"]["owner"] == A
            await client.submit(order(A, True, "99500"))
            delta = json.loads(await asyncio.wait_for(socket.recv(), 5))
            while delta["stream"] != "book:BTC-PERP":
                delta = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert delta["type"] == "delta" and delta["seq"] == seen + 1
            assert ["bids", usd("99500")] in [c[:2] for c in delta["data"]]
        # Disconnected: two more changes happen, then a reconnect from the next seq gets both.
        await client.submit(order(A, True, "99400"))
        await client.submit(order(A, True, "99300"))
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"op": "subscribe", "stream": "book:BTC-PERP", "from": seen + 2}))
            got = [json.loads(await asyncio.wait_for(socket.recv(), 5)) for _ in range(2)]
            assert [m["seq"] for m in got] == [seen + 2, seen + 3]
            assert all(m["type"] == "delta" for m in got)
        await client.close()

    asyncio.run(scenario())


def test_a_retry_with_an_idempotency_key_is_answered_once(server: NodeServer) -> None:
    alice = Client(server.url, ALICE)
    body = alice.sign(order(A, True, "96000"), idempotency_key="retry-me")
    first = httpx.post(f"{server.url}/tx", json=body).json()
    again = httpx.post(f"{server.url}/tx", json=body).json()
    assert first["status"] == "applied" and again["height"] == first["height"]


def test_history_of_fills_funding_pnl_and_trades(server: NodeServer) -> None:
    alice, bob = Client(server.url, ALICE), Client(server.url, BOB)
    alice.submit(order(A, True, "99800"))
    bob.submit(order(B, False, "99800"))
    time.sleep(0.1)  # the history records a block right after it is durable
    fills = alice.get(f"/accounts/{A}/0/fills", limit=5)
    assert (
        fills
        and fills[0]["market"] == "BTC-PERP"
        and A in (fills[0]["taker"].split("/")[0], fills[0]["maker"].split("/")[0])
    )
    assert fills == sorted(fills, key=lambda f: -f["height"])
    trades = alice.get("/markets/BTC-PERP/trades", limit=3)
    assert trades[0]["height"] >= fills[0]["height"]
    pnl = alice.get(f"/accounts/{A}/0/pnl", limit=1)
    view = alice.account()
    assert pnl[0]["equity"] <= view["risk"]["value_maint"] + 10**9  # marks move between reads
    assert isinstance(alice.get(f"/accounts/{A}/0/funding"), list)
    assert isinstance(alice.get("/markets/BTC-PERP/funding"), list)
    assert set(alice.get(f"/accounts/{A}/0/adl")) == {p["market"] for p in view["positions"]}


# --- submissions checked in the pool ------------------------------------------------------


def mixed_batch(alice: Client) -> list[dict[str, Any]]:
    """Valid orders among every kind of refusal the check makes, and a retried idempotency key."""
    good = [alice.sign(order(A, True, str(97_000 + 10 * i))) for i in range(4)]
    keyed = alice.sign(order(A, True, "97100"), idempotency_key=f"batch-{good[0]['nonce']}")
    tampered = {**alice.sign(order(A, True, "97200")), "nonce": good[0]["nonce"] + 10**6}
    other_chain = {**alice.sign(order(A, True, "97300")), "chain_id": 1}
    return [
        good[0],
        tampered,
        good[1],
        other_chain,
        {**good[2], "extra": 1},
        keyed,
        {"tx": {"tx": "Nope"}},
        good[3],
        keyed,
    ]


EXPECTED = [None, "BadSignature", None, "WrongDomain", "Malformed", None, "Malformed", None, None]


def test_a_batch_is_checked_in_the_pool_and_answered_in_order(
    server: NodeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.verifier.kind == "process" and server.verifier.worker_pids()
    batches: list[int] = []
    submit = server.verifier.submit

    def counted(objs: Sequence[object]) -> "Future[list[Checked]]":
        batches.append(len(objs))
        return submit(objs)

    monkeypatch.setattr(server.verifier, "submit", counted)
    alice = Client(server.url, ALICE)
    body = mixed_batch(alice)
    answers = httpx.post(f"{server.url}/txs", json=body, timeout=30).json()
    assert batches == [len(body)]
    assert [a["error"]["error"] if a["status"] == "refused" else None for a in answers] == EXPECTED
    assert all(a["status"] == "applied" for a, e in zip(answers, EXPECTED, strict=True) if e is None)
    assert answers[1]["error"]["code"] == 7001 and answers[3]["error"]["code"] == 7002
    first, again = answers[5], answers[8]
    assert (again["height"], again["index"]) == (first["height"], first["index"])
    heights = [(a["height"], a["index"]) for a in answers if a["status"] == "applied"]
    assert heights[:4] == sorted(heights[:4])  # queued in the request's order
    retried = httpx.post(f"{server.url}/tx", json=body[5]).json()  # the key, in another request
    assert retried["height"] == first["height"]
    # A small request is checked on the event loop, with the same answers.
    small = httpx.post(f"{server.url}/txs", json=[body[1], body[3]]).json()
    assert batches == [len(body)] and [a["error"]["error"] for a in small] == EXPECTED[1:4:2]


def test_a_batch_without_waiting_is_queued_then_applied(server: NodeServer) -> None:
    alice = Client(server.url, ALICE)
    body = mixed_batch(alice)[:5]
    answers = httpx.post(f"{server.url}/txs", params={"wait": False}, json=body).json()
    assert [a["status"] for a in answers] == ["queued", "refused", "queued", "refused", "refused"]
    deadline = time.monotonic() + 10
    while alice.signer_info(A)["highest_nonce"] < body[2]["nonce"]:
        assert time.monotonic() < deadline, "the queued orders were never applied"
        time.sleep(0.02)


def test_a_broken_pool_leaves_the_checks_to_the_event_loop(
    server: NodeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(objs: Sequence[object]) -> "Future[list[Checked]]":
        raise BrokenProcessPool("a worker was killed")

    monkeypatch.setattr(server.verifier, "submit", broken)
    answers = httpx.post(f"{server.url}/txs", json=mixed_batch(Client(server.url, ALICE))).json()
    assert [a["error"]["error"] if a["status"] == "refused" else None for a in answers] == EXPECTED


def test_the_api_checks_in_the_node_domain(server: NodeServer) -> None:
    other = dataclasses.replace(server.node.domain, chain_id=1)
    with pytest.raises(ValueError, match="verifier"):
        create_app(server.node, verifier=Verifier(other, kind="inline"))
