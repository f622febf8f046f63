"""
The verifier pool decides exactly what ``decode_submission`` + ``check_submission`` decide.

Valid, tampered, wrong-domain and malformed submission JSON, checked by worker processes,
threads and inline (batches split over the workers), give the same submission and signer or
the same refusal (type and message) as the one-at-a-time check, in order. The checked
submissions then go through ``Node.submit_checked`` into a durable block.
"""

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from solvent.core.errors import ProtocolError
from solvent.core.tx import CancelOrder, Deposit, PlaceOrder
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.chain import Submission, check_submission, decode_submission, sign_submission
from solvent.node.eip712 import Domain
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.node import Node, NodeConfig
from solvent.node.verifier import Checked, Kind, Verifier

DOMAIN = GenesisConfig().domain
ALICE, BOB = dev_key("alice"), dev_key("bob")
A, B = dev_address("alice"), dev_address("bob")


def order(owner: str = A, price: str = "99000", client_id: int | None = None) -> PlaceOrder:
    return PlaceOrder(owner, 0, "BTC-PERP", True, SIZE_ONE // 100, usd(price), client_id=client_id)


def signed(key: bytes, tx: Any, nonce: int, domain: Domain = DOMAIN, **kw: Any) -> dict[str, Any]:
    return sign_submission(key, domain, tx, nonce, **kw).to_json()


def cases() -> list[object]:
    """A mixed batch: valid ones, each kind of tampering, other domains, malformed JSON."""
    good = signed(ALICE, order(), 1)
    other_chain = dataclasses.replace(DOMAIN, chain_id=1)
    other_venue = dataclasses.replace(DOMAIN, verifying_contract="0x" + "ab" * 20)
    signature = bytes.fromhex(good["signature"][2:])
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    high_v = signature[:64] + bytes([29])
    return [
        good,
        signed(BOB, order(B, "101000", client_id=7), 1, expires=1_900_000_000),
        signed(ALICE, CancelOrder(A, 0, "BTC-PERP", client_id=7), 2, idempotency_key="cancel-7"),
        signed(dev_key("operator"), Deposit(A, 0, "USDC", usd("5")), 3),
        # tampered after signing
        {**good, "tx": {**good["tx"], "price": usd("98000")}},
        {**good, "nonce": good["nonce"] + 1},
        {**good, "expires": 1},
        {**good, "signer": B},
        {**good, "signature": "0x" + flipped.hex()},
        {**good, "signature": "0x" + signature[:64].hex()},
        {**good, "signature": "0x" + high_v.hex()},
        {**good, "signature": "zz"},
        # another key signed, stating Alice
        {**signed(BOB, order(), 1), "signer": A},
        # other domains: stated as signed (WrongDomain), or restated as this one (BadSignature)
        signed(ALICE, order(), 4, domain=other_chain),
        signed(ALICE, order(), 5, domain=other_venue),
        {**signed(ALICE, order(), 6, domain=other_chain), "chain_id": DOMAIN.chain_id},
        # malformed
        {**good, "extra": 1},
        {**good, "nonce": "1"},
        {**good, "tx": {"tx": "Nope"}},
        [],
        "not a submission",
        good,  # the same again: the pool decides each on its own (the core refuses the replay)
    ]


def one_at_a_time(domain: Domain, objs: list[object]) -> list[Checked]:
    out: list[Checked] = []
    for obj in objs:
        try:
            submission = decode_submission(obj)
            out.append((submission, check_submission(domain, submission)))
        except ProtocolError as error:
            out.append(error)
    return out


def same(a: Checked, b: Checked) -> bool:
    if isinstance(a, ProtocolError) and isinstance(b, ProtocolError):
        return type(a) is type(b) and a.to_json() == b.to_json()
    return not isinstance(a, ProtocolError) and not isinstance(b, ProtocolError) and a == b


@pytest.mark.parametrize("kind", ["process", "thread", "inline"])
def test_the_pool_decides_as_check_submission(kind: Kind) -> None:
    objs = cases()
    expected = one_at_a_time(DOMAIN, objs)
    kinds = {type(e).__name__ if isinstance(e, ProtocolError) else "ok" for e in expected}
    assert kinds >= {"ok", "BadSignature", "WrongDomain", "Malformed"}
    with Verifier(DOMAIN, workers=2, kind=kind, min_chunk=3) as verifier:
        assert len(verifier._chunks(objs)) == 2  # the batch is split over both workers
        results = verifier.check(objs)
        assert len(results) == len(objs)
        assert (len(verifier.worker_pids()) > 0) == (kind == "process")
        assert all(same(r, e) for r, e in zip(results, expected, strict=True))
        for result in results:
            if isinstance(result, tuple):
                submission, signer = result
                assert isinstance(submission, Submission) and signer == submission.signer
        # Batches in flight at once come back each in its own order.
        futures = [verifier.submit(objs[i:]) for i in range(0, len(objs), 5)]
        for i, future in zip(range(0, len(objs), 5), futures, strict=True):
            assert all(same(r, e) for r, e in zip(future.result(), expected[i:], strict=True))


def test_a_verifier_checks_in_its_own_domain() -> None:
    obj = signed(ALICE, order(), 1)
    other = dataclasses.replace(DOMAIN, chain_id=1)
    with Verifier(other, workers=1, kind="inline") as verifier:
        (result,) = verifier.check([obj])
    (expected,) = one_at_a_time(other, [obj])
    assert isinstance(result, ProtocolError) and same(result, expected)
    assert result.to_json()["error"] == "WrongDomain"


def test_checked_submissions_are_sequenced_and_durable(tmp_path: Path) -> None:
    node = Node(tmp_path / "node", GenesisConfig(), NodeConfig())
    objs = [
        signed(dev_key("operator"), Deposit(A, 0, "USDC", usd("1000")), 1),
        signed(dev_key("operator"), Deposit(B, 0, "USDC", usd("1000")), 2, idempotency_key="b"),
        {**signed(ALICE, order(), 1), "nonce": 9},  # tampered: never queued
    ]
    with Verifier(node.domain, workers=2, kind="thread", min_chunk=1) as verifier:
        results = verifier.check(objs)
    checked = [r for r in results if isinstance(r, tuple)]
    assert len(checked) == 2 and isinstance(results[2], ProtocolError)
    futures = node.submit_checked(checked)
    assert node.submit_checked(checked[1:]) == futures[1:]  # the idempotency key's first future
    assert node.pending() == 2
    node.produce_block(force=True)
    receipts = [f.result(timeout=5) for f in futures]
    assert [r.status for r in receipts] == ["applied", "applied"]
    record = node.log.block(node.height)
    assert record is not None
    assert [tx["signer"] for tx in record.json()["txs"]] == [dev_address("operator")] * 2
    node.close()
