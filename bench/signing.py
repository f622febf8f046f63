"""Time of an order's EIP-712 digest and signer recovery: the node's signature cost per transaction.

What it measures
----------------
1. Orders: ``--orders`` distinct ``PlaceOrder``s (default 2,000) from ``--keys`` owners (default
   50), as a book's flow looks: random side, size and subaccount, a limit price on BTC-PERP's
   tick within 1% of 100,000 (one in ten a market order with or without a worst price), a
   client id on half of them, every time in force. Each is signed by its owner with
   ``eip712.sign`` (not timed) under a millisecond-clock nonce and a deadline 60 s ahead.
2. Digest (``hash_us``): ``eip712.signing_hash`` per order: mean over one pass of all orders;
   the figure is the median of ``--repeats`` passes (the best is printed too). Distinct orders
   keep the memoised parts honest: strings and addresses repeat as they do in a real flow,
   prices and client ids mostly do not.
3. Recover (``recover_us``): ``eip712.recover``, which computes the digest and recovers the
   signer (libsecp256k1 through coincurve, then keccak of the public key): what the node
   spends per signed transaction. Split into the digest and ``recover_digest_us`` (the
   recovery alone). Every recovered address is checked against its owner.
4. Reference, in the same run: eth-account on the first ``--reference-orders`` orders (default
   200): ``eth_account_hash_us`` = ``typed_data`` (the JSON it needs) + ``encode_typed_data``
   + its EIP-191 hash; ``eth_account_recover_us`` = ``Account.recover_message`` on the encoded
   message (encoding included, as ``recover`` includes the digest). Its digests must equal ours.

``signed_per_s_one_core`` = 1e6 / ``recover_us``: signed transactions one core can check.

Goal of the issue: digest + recovery <= 60 us for a PlaceOrder (``recover_us``).

Run
---
    .venv/bin/python bench/signing.py [--orders 2000] [--keys 50] [--repeats 7]
                                      [--reference-orders 200] [--seed 7] [--quick]

The last line printed is one JSON object of the figures.
"""

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import coincurve
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from solvent.core.state import TimeInForce
from solvent.core.tx import PlaceOrder
from solvent.defaults import GENESIS_TIME
from solvent.node import eip712
from solvent.node.eip712 import Domain

GOAL_US = 60.0
DOMAIN = Domain(chain_id=42161, verifying_contract="0x" + "5e" * 20)
MID = 100_000 * 10**6  # BTC-PERP price in quote atoms
TICK = 100_000


@dataclass(frozen=True, slots=True)
class Signed:
    """One order as the node receives it."""

    tx: PlaceOrder
    nonce: int
    deadline: int
    signature: bytes


def make_orders(count: int, keys: int, seed: int) -> list[Signed]:
    """Distinct orders from ``keys`` owners, each signed by its owner (see the module docstring)."""
    rng = random.Random(seed)
    secrets = [rng.randbytes(32) for _ in range(keys)]
    owners = [eip712.address_of_key(secret) for secret in secrets]
    orders: list[Signed] = []
    clock_ms = GENESIS_TIME * 1000
    for i in range(count):
        who = rng.randrange(keys)
        is_buy = rng.random() < 0.5
        price: int | None = MID + rng.randint(-1000, 1000) * TICK
        worst: int | None = None
        if rng.random() < 0.1:  # a market order, half of them with a worst price
            price, worst = None, (price if rng.random() < 0.5 else None)
        tx = PlaceOrder(
            owner=owners[who],
            subaccount=rng.choice((0, 0, 0, 1, 2)),
            market="BTC-PERP",
            is_buy=is_buy,
            size=rng.randint(1, 5_000) * 10_000,
            price=price,
            tif=rng.choice(list(TimeInForce)),
            reduce_only=rng.random() < 0.1,
            client_id=rng.getrandbits(63) if rng.random() < 0.5 else None,
            worst_price=worst,
        )
        nonce, deadline = clock_ms + i, GENESIS_TIME + 60
        orders.append(Signed(tx, nonce, deadline, eip712.sign(secrets[who], DOMAIN, tx, nonce, deadline)))
    return orders


def per_call_us(orders: list[Signed], call: Callable[[Signed], object], repeats: int) -> list[float]:
    """Mean microseconds per order of each of ``repeats`` passes over all orders."""
    passes: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for order in orders:
            call(order)
        passes.append((time.perf_counter() - start) / len(orders) * 1e6)
    return passes


def check(orders: list[Signed], reference: list[Signed]) -> None:
    """Every signature recovers to its owner; eth-account computes the same digests."""
    for order in orders:
        if eip712.recover(DOMAIN, order.tx, order.nonce, order.deadline, order.signature) != order.tx.owner:
            raise SystemExit(f"a signature did not recover to its owner: {order}")
    for order in reference:
        message = encode_typed_data(
            full_message=eip712.typed_data(DOMAIN, order.tx, order.nonce, order.deadline)
        )
        theirs = bytes(keccak(b"\x19" + message.version + message.header + message.body))
        if theirs != eip712.signing_hash(DOMAIN, order.tx, order.nonce, order.deadline):
            raise SystemExit(f"eth-account computes another digest for {order}")


def ours_hash(order: Signed) -> object:
    return eip712.signing_hash(DOMAIN, order.tx, order.nonce, order.deadline)


def ours_recover(order: Signed) -> object:
    return eip712.recover(DOMAIN, order.tx, order.nonce, order.deadline, order.signature)


def eth_account_hash(order: Signed) -> object:
    full = eip712.typed_data(DOMAIN, order.tx, order.nonce, order.deadline)
    message = encode_typed_data(full_message=full)
    return keccak(b"\x19" + message.version + message.header + message.body)


def eth_account_recover(order: Signed) -> object:
    full = eip712.typed_data(DOMAIN, order.tx, order.nonce, order.deadline)
    return Account.recover_message(encode_typed_data(full_message=full), signature=order.signature)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-orders", type=int, default=200, help="orders timed with eth-account")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--quick", action="store_true", help="a small run: 200 orders, 20 reference, 2 passes"
    )
    args = parser.parse_args()
    if args.quick:
        args.orders, args.reference_orders, args.repeats = 200, 20, 2
    if args.orders <= 0 or args.keys <= 0 or args.repeats <= 0 or args.reference_orders <= 0:
        parser.error("--orders, --keys, --repeats and --reference-orders must be positive")

    orders = make_orders(args.orders, args.keys, args.seed)
    reference = orders[: args.reference_orders]
    check(orders, reference)
    # Also warms the memoised strings and addresses, as a running node has them.
    digests = [eip712.signing_hash(DOMAIN, o.tx, o.nonce, o.deadline) for o in orders]
    recover_only = list(zip(digests, (order.signature for order in orders), strict=True))

    hashes = per_call_us(orders, ours_hash, args.repeats)
    recovers = per_call_us(orders, ours_recover, args.repeats)
    recover_digest_passes: list[float] = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for digest, signature in recover_only:
            eip712.recover_digest(digest, signature)
        recover_digest_passes.append((time.perf_counter() - start) / len(recover_only) * 1e6)
    reference_repeats = max(1, min(3, args.repeats))
    theirs_hash = per_call_us(reference, eth_account_hash, reference_repeats)
    theirs_recover = per_call_us(reference, eth_account_recover, reference_repeats)

    hash_us = statistics.median(hashes)
    recover_us = statistics.median(recovers)
    recover_digest_us = statistics.median(recover_digest_passes)
    eth_hash_us = statistics.median(theirs_hash)
    eth_recover_us = statistics.median(theirs_recover)
    print(
        f"Python {platform.python_version()} on {platform.machine()}; coincurve {coincurve.__version__}; "
        f"keccak {eip712.keccak256.__module__}"
    )
    print(
        f"{len(orders):,} distinct PlaceOrders from {args.keys} owners, each signed and recovered to its "
        f"owner; the first {len(reference):,} hash alike in eth-account"
    )
    print(
        f"signing_hash: {hash_us:.1f} us median of {args.repeats} passes (best {min(hashes):.1f}); "
        f"eth-account (typed_data + encode + hash): {eth_hash_us:.0f} us, {eth_hash_us / hash_us:.0f}x"
    )
    print(
        f"recover (digest + signer): {recover_us:.1f} us median (best {min(recovers):.1f}), of which "
        f"recovery alone {recover_digest_us:.1f} us; eth-account: {eth_recover_us:.0f} us, "
        f"{eth_recover_us / recover_us:.0f}x"
    )
    print(
        f"one core checks {1e6 / recover_us:,.0f} signed transactions per second; "
        f"goal digest + recovery <= {GOAL_US:.0f} us: " + ("met" if recover_us <= GOAL_US else "MISSED")
    )
    print(
        json.dumps(
            {
                "orders": len(orders),
                "hash_us": round(hash_us, 2),
                "recover_us": round(recover_us, 2),
                "recover_digest_us": round(recover_digest_us, 2),
                "eth_account_hash_us": round(eth_hash_us, 1),
                "eth_account_recover_us": round(eth_recover_us, 1),
                "signed_per_s_one_core": round(1e6 / recover_us),
                "goal_us": GOAL_US,
            }
        )
    )


if __name__ == "__main__":
    main()
