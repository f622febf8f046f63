"""
The process ``test_crash.py`` kills: a node under signed load that prints each acknowledgement.

Run as ``python crash_child.py DATA_DIR SEED``. It opens (or restarts) the node,
funds two traders on first use, then submits signed orders from three keys as
fast as blocks take them, and prints ``ACK <signer> <nonce> <height>`` for
every receipt it gets back from a durable block, flushing each line: what a
client has been told is what the parent checks after the kill. It continues
each key's nonces from the state, as a client does after a restart.
"""

import random
import sys
import time
from concurrent.futures import Future

from solvent.core.tx import Deposit, PlaceOrder, PriceReport
from solvent.core.units import SIZE_ONE
from solvent.defaults import usd
from solvent.node.chain import Receipt, sign_submission
from solvent.node.genesis import GenesisConfig, dev_address, dev_key
from solvent.node.node import Node, NodeConfig

TRADERS = ("alice", "bob", "carol")


def main() -> None:
    directory, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    node = Node(directory, GenesisConfig(), NodeConfig(block_interval_s=0.01, snapshot_every=25))
    print(f"START {node.height} {node.restart.torn_bytes}", flush=True)

    def next_nonce(name: str) -> int:
        window = node.state.nonces.get(dev_address(name))
        return (window.high if window is not None else 0) + 1

    reporters = [f"btc-reporter-{i}" for i in (1, 2, 3)]
    nonce_of = {name: next_nonce(name) for name in (*TRADERS, "operator", *reporters)}

    def send(name: str, tx: object) -> "Future[Receipt]":
        nonce = nonce_of[name]
        nonce_of[name] += 1
        return node.submit(sign_submission(dev_key(name), node.domain, tx, nonce))  # type: ignore[arg-type]

    node.start()
    setup = []
    if node.state.accounts.get((dev_address("alice"), 0)) is None:
        setup += [send("operator", Deposit(dev_address(t), 0, "USDC", usd("1000000"))) for t in TRADERS]
    now = int(time.time())
    setup += [send(r, PriceReport(dev_address(r), "BTC", usd("100000"), now)) for r in reporters]
    for future in setup:
        future.result()
    while True:
        batch: list[tuple[str, int, Future[Receipt]]] = []
        for _ in range(rng.randint(1, 40)):
            name = rng.choice(TRADERS)
            price = usd(str(rng.randint(95_000, 105_000)))
            tx = PlaceOrder(dev_address(name), 0, "BTC-PERP", rng.random() < 0.5, SIZE_ONE // 1000, price)
            batch.append((name, nonce_of[name], send(name, tx)))
        for name, nonce, future in batch:
            receipt = future.result()
            if receipt.height is not None:
                print(f"ACK {dev_address(name)} {nonce} {receipt.height}", flush=True)


if __name__ == "__main__":
    main()
