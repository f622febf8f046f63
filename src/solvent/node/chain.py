"""
Submissions, blocks and their application: what the sequencer does and ``verify`` redoes.

Introduction
------------
A client submits a **submission**, one JSON object:

    {"tx": {"tx": "PlaceOrder", "owner": "0x…", ...},   the transaction (``core.codec``)
     "nonce": 1733100000123, "expires": 0,                the EIP-712 envelope
     "chain_id": 31337, "venue": "0x…",                   the domain it was signed for
     "signer": "0x…", "signature": "0x…65 bytes…",       who signed, and the signature
     "idempotency_key": "optional client string"}

``check_submission`` refuses a wrong domain (``WrongDomain``), a malformed
payload (``Malformed``), and a signature that does not recover, in the
node's domain, to the stated ``signer`` (``BadSignature``: a field changed
after signing, or another key signed). The core then decides what that
signer may do (``core.auth``): its own account, or an agent's grant.

A **block** is ``{"height", "time", "txs": [...]}``: each logged transaction
is its submission as received. ``apply_block`` applies the
block time (``SetTime``) and every transaction as ``Signed(signer, nonce,
expires, payload)``, and returns the receipts, the events and the state root
(``node.state_root``). The sequencer logs only transactions whose envelope
the core accepted; their payload may still have been refused (its nonce is
spent, see ``core.auth``), and replay refuses it again identically.

The genesis block (height 0) is ``{"height": 0, "time", "genesis": config}``
(``node.genesis``).
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from solvent.core.codec import decode_tx, encode_tx
from solvent.core.engine import apply
from solvent.core.errors import BadSignature, Malformed, ProtocolError
from solvent.core.events import Event
from solvent.core.state import State
from solvent.core.tx import SetTime, Signed, Tx
from solvent.node.eip712 import Domain, address_of_key, check_domain, recover, sign
from solvent.node.state_root import StateTree

MAX_IDEMPOTENCY_KEY = 64
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")


@dataclass(frozen=True, slots=True)
class Submission:
    """A signed transaction as a client sends it."""

    payload: Tx
    nonce: int
    expires: int
    chain_id: int
    venue: str
    signer: str
    signature: bytes
    idempotency_key: str | None = None
    # Its canonical JSON text as the log stores it, made where it was decoded (a verifier
    # worker, off the sequencer's core); None for one built in process (``log_text`` makes it).
    text: str | None = field(default=None, compare=False, repr=False)

    def log_text(self) -> str:
        """The submission as the log holds it: canonical JSON (sorted keys, no spaces)."""
        if self.text is not None:
            return self.text
        return canonical_json(self.to_json())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tx": encode_tx(self.payload),
            "nonce": self.nonce,
            "expires": self.expires,
            "chain_id": self.chain_id,
            "venue": self.venue,
            "signer": self.signer,
            "signature": "0x" + self.signature.hex(),
        }
        if self.idempotency_key is not None:
            out["idempotency_key"] = self.idempotency_key
        return out


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


_SUBMISSION_FIELDS = ("tx", "nonce", "expires", "chain_id", "venue", "signer", "signature", "idempotency_key")


def _int_field(obj: dict[str, Any], name: str, default: int | None = None) -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"field {name!r} must be an integer")
    return value


def decode_submission(obj: object) -> Submission:
    """Build a submission from JSON, or raise ``Malformed`` / ``BadSignature``."""
    if not isinstance(obj, dict):
        raise Malformed("a submission must be a JSON object")
    extra = sorted(set(obj) - set(_SUBMISSION_FIELDS))
    if extra:
        raise Malformed(f"a submission has no field {extra[0]!r}")
    payload = decode_tx(obj.get("tx"))
    signature = obj.get("signature")
    if not isinstance(signature, str) or not signature.startswith("0x"):
        raise BadSignature("signature must be a 0x-prefixed hex string of 65 bytes")
    try:
        raw = bytes.fromhex(signature[2:])
    except ValueError:
        raise BadSignature("signature is not hex") from None
    venue = obj.get("venue")
    if not isinstance(venue, str):
        raise Malformed("field 'venue' must be the venue's contract address")
    signer = obj.get("signer")
    if not isinstance(signer, str) or _ADDRESS.fullmatch(signer) is None:
        raise Malformed("field 'signer' must be the signing address: 0x and 40 lower-case hex digits")
    key = obj.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY):
        raise Malformed(f"idempotency_key must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return Submission(
        payload,
        _int_field(obj, "nonce"),
        _int_field(obj, "expires", 0),
        _int_field(obj, "chain_id"),
        venue,
        signer,
        raw,
        key,
        # Every field of ``obj`` was read and checked above, so decoding this text again gives
        # this submission: the log may hold the client's object as sent, in canonical form.
        canonical_json(obj),
    )


def check_submission(domain: Domain, submission: Submission) -> str:
    """Check the domain and that the signature is the stated signer's; return the signer."""
    check_domain(domain, submission.chain_id, submission.venue)
    sub = submission
    recovered = recover(domain, sub.payload, sub.nonce, sub.expires, sub.signature)
    if recovered != sub.signer:
        raise BadSignature(
            f"the signature is not {sub.signer}'s over these fields (it recovers to {recovered}): "
            "a field was changed after signing, or another key signed; sign the transaction again"
        )
    return recovered


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one submission."""

    status: str  # "applied" | "refused"
    height: int | None  # the block it is in (None: refused before any block)
    index: int | None  # its position in the block
    events: list[Event]
    error: dict[str, object] | None = None  # code, error, message

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "height": self.height, "index": self.index}
        out["events"] = [{"kind": e.kind, **e.data} for e in self.events]
        if self.error is not None:
            out["error"] = self.error
        return out


def refused_receipt(error: ProtocolError, height: int | None = None, index: int | None = None) -> Receipt:
    return Receipt("refused", height, index, [], error.to_json())


def receipt_of(events: list[Event], height: int, index: int) -> Receipt:
    """A logged transaction's receipt: refused if its payload was (a ``Refused`` event)."""
    for ev in events:
        if ev.kind == "Refused":
            error: dict[str, object] = {
                "code": ev.data["code"],
                "error": ev.data["error"],
                "message": ev.data["message"],
            }
            return Receipt("refused", height, index, events, error)
    return Receipt("applied", height, index, events)


def block_body(height: int, time: int, txs: list[str]) -> bytes:
    """The block as logged: canonical JSON of ``{"height", "time", "txs"}``, joined from each
    transaction's canonical text (the same bytes as encoding the whole object at once)."""
    return f'{{"height":{height:d},"time":{time:d},"txs":[{",".join(txs)}]}}'.encode()


@dataclass(slots=True)
class BlockResult:
    root: bytes
    withdrawals_root: bytes
    receipts: list[Receipt]
    events: list[Event]


class ReplayMismatch(Exception):
    """A logged transaction did not replay as it was sequenced."""


def apply_block(
    state: State, tree: StateTree, block: dict[str, Any], domain: Domain, check_signatures: bool
) -> BlockResult:
    """Apply a logged block to ``state`` and ``tree``; return its root and receipts.

    With ``check_signatures`` every signature is recovered again and must give the logged
    signer (``verify``); without, the logged signer is trusted (the node's own log, whose
    digests it checked).
    """
    height = block["height"]
    events: list[Event] = apply(state, SetTime(block["time"]))
    receipts: list[Receipt] = []
    signers: set[str] = set()
    for index, obj in enumerate(block["txs"]):
        submission = decode_submission(obj)
        signer = submission.signer
        if check_signatures:
            try:
                check_submission(domain, submission)
            except ProtocolError as error:
                raise ReplayMismatch(f"block {height} tx {index}: {error.message}") from None
        signed = Signed(signer, submission.nonce, submission.expires, submission.payload)
        try:
            tx_events = apply(state, signed)
        except ProtocolError as error:
            raise ReplayMismatch(
                f"block {height} tx {index} was logged as accepted but is refused on replay: {error.name}"
            ) from None
        events += tx_events
        signers.add(signer)
        receipts.append(receipt_of(tx_events, height, index))
    root = tree.after_block(state, events, signers, height)
    return BlockResult(root, tree.withdrawals_root(), receipts, events)


def sign_submission(
    private_key: bytes,
    domain: Domain,
    payload: Tx,
    nonce: int,
    expires: int = 0,
    idempotency_key: str | None = None,
) -> Submission:
    """Sign a transaction for a venue's domain (what the SDK does for its user)."""
    signature = sign(private_key, domain, payload, nonce, expires)
    signer = address_of_key(private_key)
    chain, venue = domain.chain_id, domain.verifying_contract
    return Submission(payload, nonce, expires, chain, venue, signer, signature, idempotency_key)
