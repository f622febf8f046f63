"""
ADV-22, kill -9 mid-block: crash consistency of the node under signed load.

``crash_child.py`` runs a node and a client in one process and prints every
acknowledgement it receives. This test kills it with SIGKILL at a random
moment, 20 times on one data directory, and after each kill restarts the
node and checks: every acknowledged transaction is in the log exactly once
(at the height it was acknowledged with), no nonce appears twice, the
restarted node's roots equal the logged ones (``Node`` checks every replayed
block), the client resumes at the next nonce, and ``verify`` from genesis
reproduces every root.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from solvent.node.genesis import GenesisConfig
from solvent.node.node import Node
from solvent.node.verify import verify

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 20


def run_and_kill(directory: Path, seed: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """Start the child, let it acknowledge for a random while, SIGKILL it; return its acks."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    acks: list[tuple[str, int, int]] = []
    started = False
    deadline = None
    try:
        for line in child.stdout:
            if line.startswith("START"):
                started = True
                continue
            if line.startswith("ACK"):
                _, signer, nonce, height = line.split()
                acks.append((signer, int(nonce), int(height)))
                if deadline is None:
                    deadline = time.monotonic() + rng.uniform(0.05, 0.6)
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
    for line in rest.splitlines():  # acknowledged before the kill landed
        if line.startswith("ACK"):
            _, signer, nonce, height = line.split()
            acks.append((signer, int(nonce), int(height)))
    assert started, f"the child did not start: {err[-2000:]}"
    assert acks, f"no acknowledgement before the kill: {err[-2000:]}"
    return acks


def test_adv22_kill_9_mid_block_loses_nothing_acknowledged(tmp_path: Path) -> None:
    directory = tmp_path / "node"
    rng = random.Random(22)
    acknowledged: dict[tuple[str, int], int] = {}
    for run in range(KILLS):
        for signer, nonce, height in run_and_kill(directory, run, rng):
            assert (signer, nonce) not in acknowledged, f"run {run}: {signer} {nonce} acknowledged twice"
            acknowledged[(signer, nonce)] = height
        node = Node(directory, GenesisConfig())  # replays and checks every root since the snapshot
        logged: dict[tuple[str, int], int] = {}
        for record in node.log.blocks(1):
            for obj in record.json()["txs"]:
                key = (obj["signer"], obj["nonce"])
                assert key not in logged, f"run {run}: {key} is in blocks {logged[key]} and {record.height}"
                logged[key] = record.height
        missing = {k: h for k, h in acknowledged.items() if logged.get(k) != h}
        assert not missing, f"run {run}: acknowledged but not in the log as acknowledged: {missing}"
        for signer, nonce in acknowledged:
            assert node.state.nonces[signer].high >= nonce  # the client resumes above it
        node.close()
    report = verify(directory)
    assert report.ok, report.reason
    assert report.txs >= len(acknowledged) >= KILLS
