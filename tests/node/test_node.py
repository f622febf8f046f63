"""
The node in process: signed submissions, blocks, the durable log, restart and verify.

ADV-20 (replay across chains and nonces), ADV-21 (agent key limits) and
ADV-23 (torn or corrupt log) with the outcomes ``ADVERSARIAL.md`` gives;
snapshot + replay equals full replay; ``verify`` finds the first bad block.
"""

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from solvent.core.errors import BadSignature, Malformed, WrongDomain
from solvent.core.tx import AuthoriseAgent, Deposit, PlaceOrder, PriceReport, RevokeAgent, Tx, Withdraw
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.chain import Receipt, Submission, block_body, decode_submission, sign_submission
from solvent.node.eip712 import Domain
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.log import DB_NAME, CorruptLog
from solvent.node.node import Node, NodeConfig
from solvent.node.state_root import StateTree
from solvent.node.verify import verify

OPERATOR = dev_key("operator")
ALICE = dev_key("alice")
BOB = dev_key("bob")
BOT = dev_key("alice-bot")
A, B, AGENT = dev_address("alice"), dev_address("bob"), dev_address("alice-bot")


class Clock:
    """A clock the test moves: block times are whole seconds from genesis."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Venue:
    """A node on a temporary directory, with nonces and helpers for the test's keys."""

    def __init__(self, directory: Path, snapshot_every: int = 1_000) -> None:
        self.directory = directory
        self.clock = Clock(GenesisConfig().time)
        self.snapshot_every = snapshot_every
        self.node = self.open()
        self.nonces: dict[bytes, int] = {}

    def open(self) -> Node:
        return Node(
            self.directory, GenesisConfig(), NodeConfig(snapshot_every=self.snapshot_every, clock=self.clock)
        )

    def restart(self) -> Node:
        self.node.close()
        self.node = self.open()
        return self.node

    def sign(self, key: bytes, tx: Tx, domain: Domain | None = None, **kw: object) -> Submission:
        nonce = self.nonces.get(key, 0) + 1
        self.nonces[key] = nonce
        return sign_submission(key, domain or self.node.domain, tx, nonce, **kw)  # type: ignore[arg-type]

    def send(self, key: bytes, tx: Tx, **kw: object) -> Receipt:
        future = self.node.submit(self.sign(key, tx, **kw))
        self.node.produce_block(force=True)
        return future.result(timeout=5)

    def prices(self, btc: str = "100000") -> None:
        """Every BTC, ETH, ALT and USDT reporter (their dev keys) reports at the block time."""
        self.clock.now += 1
        futures = []
        for asset, price in (("BTC", btc), ("ETH", "2000"), ("ALT", "2"), ("USDT", "1")):
            for i in range(1, 6):
                name = f"{asset.lower()}-reporter-{i}"  # the deployment's reporter names
                tx = PriceReport(dev_address(name), asset, usd(price), int(self.clock.now))
                futures.append(self.node.submit(self.sign(dev_key(name), tx)))
        self.node.produce_block(force=True)
        assert all(f.result(timeout=5).status == "applied" for f in futures)

    def fund(self, owner: str, amount: str) -> None:
        assert self.send(OPERATOR, Deposit(owner, 0, "USDC", usd(amount))).status == "applied"


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    v = Venue(tmp_path / "node")
    v.prices()
    v.fund(A, "100000")
    v.fund(B, "100000")
    return v


def order(owner: str = A, sub: int = 0, is_buy: bool = True, price: str = "99000") -> PlaceOrder:
    return PlaceOrder(owner, sub, "BTC-PERP", is_buy, SIZE_ONE // 100, usd(price))


def test_a_signed_order_is_sequenced_logged_and_provable(venue: Venue) -> None:
    receipt = venue.send(ALICE, order())
    assert receipt.status == "applied" and [e.kind for e in receipt.events] == ["OrderPlaced"]
    node = venue.node
    assert receipt.height == node.height
    record = node.log.block(node.height)
    assert record is not None and record.root == node.root()
    assert record.json()["txs"][0]["signer"] == A
    assert node.root() == StateTree.build(node.state, node.tree.index).root()


# --- ADV-20: replay across chains and nonces ------------------------------------------


def test_adv20_a_signature_for_another_chain_or_venue_is_wrong_domain(venue: Venue) -> None:
    other_chain = dataclasses.replace(venue.node.domain, chain_id=1)
    other_venue = dataclasses.replace(venue.node.domain, verifying_contract="0x" + "ab" * 20)
    for domain in (other_chain, other_venue):
        with pytest.raises(WrongDomain):
            venue.node.submit(venue.sign(ALICE, order(), domain=domain))
    # Stating this venue's domain while having signed another's: the signature is not Alice's.
    forged = dataclasses.replace(
        venue.sign(ALICE, order(), domain=other_chain), chain_id=venue.node.domain.chain_id
    )
    with pytest.raises(BadSignature):
        venue.node.submit(forged)


def test_adv20_the_same_transaction_twice_is_nonce_used(venue: Venue) -> None:
    submission = venue.sign(ALICE, order())
    first = venue.node.submit(submission)
    venue.node.produce_block(force=True)
    assert first.result().status == "applied"
    height = venue.node.height
    second = venue.node.submit(submission)
    venue.node.produce_block(force=True)
    receipt = second.result()
    assert receipt.status == "refused" and receipt.error is not None and receipt.error["error"] == "NonceUsed"
    assert receipt.height is None  # never in a block
    block = venue.node.log.block(height + 1)
    assert block is not None and block.json()["txs"] == []


def test_adv20_a_field_edited_after_signing_is_bad_signature(venue: Venue) -> None:
    submission = venue.sign(ALICE, order())
    for tampered in (
        dataclasses.replace(submission, payload=order(price="98000")),
        dataclasses.replace(submission, payload=dataclasses.replace(order(), size=SIZE_ONE)),
        dataclasses.replace(submission, nonce=submission.nonce + 1),
        dataclasses.replace(submission, expires=1),
        dataclasses.replace(submission, signer=B),
    ):
        with pytest.raises(BadSignature):
            venue.node.submit(tampered)
    with pytest.raises(BadSignature):
        venue.node.submit(dataclasses.replace(submission, signature=submission.signature[:64]))


def test_malformed_submissions_are_refused_with_a_clear_error(venue: Venue) -> None:
    good = venue.sign(ALICE, order()).to_json()
    for bad, error in (
        ({**good, "nonce": "1"}, Malformed),
        ({**good, "extra": 1}, Malformed),
        ({**good, "signer": "alice"}, Malformed),
        ({**good, "signature": "zz"}, BadSignature),
        ({**good, "tx": {"tx": "Nope"}}, Malformed),
        ([], Malformed),
    ):
        with pytest.raises(error):
            decode_submission(bad)


# --- ADV-21: agent keys -----------------------------------------------------------------


def test_adv21_agent_key_limits(venue: Venue) -> None:
    assert venue.send(ALICE, AuthoriseAgent(A, AGENT, subaccounts=(0,))).status == "applied"
    assert venue.send(BOT, order()).status == "applied"
    withdraw = venue.send(BOT, Withdraw(A, 0, "USDC", usd("1")))
    assert (
        withdraw.error is not None and withdraw.error["error"] == "Unauthorized" and withdraw.height is None
    )
    other_sub = venue.send(BOT, order(sub=1))
    assert other_sub.error is not None and other_sub.error["error"] == "Unauthorized"
    assert venue.send(ALICE, RevokeAgent(A, AGENT)).status == "applied"
    after = venue.send(BOT, order())
    assert after.error is not None and after.error["error"] == "Unauthorized"


# --- idempotency ------------------------------------------------------------------------


def test_a_retried_submission_with_its_idempotency_key_gets_the_first_receipt(venue: Venue) -> None:
    submission = venue.sign(ALICE, order(), idempotency_key="order-1")
    first = venue.node.submit(submission)
    assert venue.node.submit(submission) is first  # a retry before the block: the same future
    venue.node.produce_block(force=True)
    assert first.result().status == "applied"
    assert venue.node.submit(submission).result().height == first.result().height
    venue.restart()  # the key is in the log
    assert venue.node.submit(submission).result().height == first.result().height


# --- restart, snapshots, verify -----------------------------------------------------------


def trade_some(venue: Venue, rounds: int) -> None:
    for i in range(rounds):
        venue.clock.now += 1
        venue.send(ALICE, order(price=str(99_000 + 10 * i)))
        venue.send(BOB, order(owner=B, is_buy=False, price=str(99_000 + 10 * i)))


def test_restart_replays_to_the_same_root_and_verify_agrees(venue: Venue) -> None:
    trade_some(venue, 5)
    height, root = venue.node.height, venue.node.root()
    node = venue.restart()
    assert (node.height, node.root()) == (height, root)
    assert node.restart.snapshot == 0 and node.restart.replayed == height
    report = verify(venue.directory)
    assert report.ok and report.blocks == height + 1 and report.root == "0x" + root.hex()
    assert report.txs == sum(len(b.json().get("txs", [])) for b in node.log.blocks(1))


def test_snapshot_plus_replay_equals_full_replay(tmp_path: Path) -> None:
    venue = Venue(tmp_path / "snap", snapshot_every=4)
    venue.prices()
    venue.fund(A, "100000")
    venue.fund(B, "100000")
    trade_some(venue, 6)
    root = venue.node.root()
    node = venue.restart()
    assert node.restart.snapshot is not None and node.restart.snapshot > 0
    assert node.root() == root
    # Without snapshots: only genesis, everything replayed.
    db = sqlite3.connect(venue.directory / DB_NAME)
    db.execute("DELETE FROM snapshots WHERE height > 0")
    db.commit()
    db.close()
    node = venue.restart()
    assert node.restart.snapshot == 0 and node.root() == root


# --- ADV-23: torn or corrupt log ---------------------------------------------------------


def test_adv23_one_flipped_byte_in_a_committed_block_refuses_to_start(venue: Venue) -> None:
    trade_some(venue, 2)
    venue.node.close()
    db = sqlite3.connect(venue.directory / DB_NAME)
    height, body = db.execute("SELECT height, body FROM blocks WHERE height = 3").fetchone()
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    db.execute("UPDATE blocks SET body = ? WHERE height = ?", (bytes(flipped), height))
    db.commit()
    db.close()
    with pytest.raises(CorruptLog, match="block 3 does not match its digest"):
        venue.open()
    report = verify(venue.directory)
    assert report.first_bad == 3 and not report.ok


def test_adv23_a_torn_tail_is_dropped_and_reported(venue: Venue, tmp_path: Path) -> None:
    """The files as a crash in the middle of writing the last block leaves them: the block's
    WAL frames cut in half. (A crash cannot be placed inside SQLite's commit from a test, so
    the image is made by copying the files with the last block's frames truncated.)"""
    trade_some(venue, 2)
    before = venue.node.height
    wal = venue.directory / (DB_NAME + "-wal")
    size_before = wal.stat().st_size
    venue.clock.now += 1
    venue.send(ALICE, order(price="99500"))
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / DB_NAME).write_bytes((venue.directory / DB_NAME).read_bytes())
    data = wal.read_bytes()
    (crashed / (DB_NAME + "-wal")).write_bytes(data[: size_before + (len(data) - size_before) // 2])
    node = Node(crashed, GenesisConfig(), NodeConfig(clock=venue.clock))
    assert node.restart.torn_bytes > 0
    assert node.height == before  # the torn block is gone, every block before it is there
    node.close()
    assert verify(crashed).ok


def test_the_log_holds_each_submission_as_canonical_json_that_decodes_to_it() -> None:
    """The sequencer joins the texts made where submissions were decoded; the bytes are those of
    encoding the whole block at once, and decoding a logged text gives the submission back."""
    domain = GenesisConfig().domain
    signed = sign_submission(ALICE, domain, Withdraw(A, 0, "USDC", usd("1")), 7, idempotency_key="k-1")
    sent = signed.to_json()
    del sent["expires"]  # a client may leave the default (0) out: the log keeps the object as sent
    decoded = decode_submission(sent)
    assert decoded == signed and decoded.text is not None
    assert decode_submission(json.loads(decoded.text)) == signed
    txs = [decoded.log_text(), signed.log_text()]
    whole = {"height": 3, "time": 1_700_000_000, "txs": [json.loads(t) for t in txs]}
    at_once = json.dumps(whole, sort_keys=True, separators=(",", ":")).encode()
    assert block_body(3, 1_700_000_000, txs) == at_once
