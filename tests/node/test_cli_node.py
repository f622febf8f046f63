"""
The node's command line, as a user runs it: ``solvent node`` in its own process, then
``order``, ``account`` and, after the node stops, ``verify`` on its data directory.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from solvent.core.tx import Deposit, PriceReport
from solvent.defaults import usd
from solvent.node.genesis import dev_address, dev_key
from solvent.sdk import Client

SOLVENT = [sys.executable, "-m", "solvent.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SOLVENT, *args], capture_output=True, text=True, timeout=120, check=False)


def test_node_order_account_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen(
        [*SOLVENT, "node", "--data", str(data), "--port", str(port), "--block-ms", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the node did not come up"
            time.sleep(0.1)
        Client(url, dev_key("operator")).submit(Deposit(dev_address("alice"), 0, "USDC", usd("100000")))
        now = Client(url).get("/meta")["time"]
        for i in (1, 2, 3):
            reporter = Client(url, dev_key(f"btc-reporter-{i}"))
            reporter.submit(PriceReport(reporter.address, "BTC", usd("100000"), now))
        placed = run("order", url, "--dev", "alice", "BTC-PERP", "buy", "0.01", "99000")
        assert placed.returncode == 0, placed.stderr
        assert json.loads(placed.stdout)["events"][0]["kind"] == "OrderPlaced"
        refused = run("order", url, "--dev", "bob", "BTC-PERP", "buy", "0.01", "99000")
        assert refused.returncode == 1 and "UnknownAccount" in refused.stderr
        shown = run("account", url, dev_address("alice"), "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["orders"][0]["price"] == usd("99000")
        prices = tmp_path / "eth.csv"
        prices.write_text(
            "ts,open,high,low,close,volume\n1,2000,2000,2000,2000,1\n2,2000,2010,1990,2010.5,1\n"
        )
        fed = run("oracle", url, "--asset", "ETH", "--file", str(prices), "--interval", "1.1")
        assert fed.returncode == 0, fed.stderr
        kept = run("keeper", url, "--dev", "keeper", "--rounds", "1", "--interval", "0")
        assert kept.returncode == 0 and "0 liquidations, 0 refused, over 1 rounds" in kept.stdout, kept.stderr
        deadline = time.monotonic() + 5
        while Client(url).get("/markets/ETH-PERP")["index"] != usd("2010.5"):
            assert time.monotonic() < deadline, "the oracle's last close never became the index"
            time.sleep(0.1)
    finally:
        node.send_signal(signal.SIGINT)
        node.wait(timeout=30)
    checked = run("verify", str(data))
    assert checked.returncode == 0 and "block roots match" in checked.stdout, checked.stdout + checked.stderr
