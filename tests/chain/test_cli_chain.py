"""
``solvent chain`` as a user runs it, against a devnet served over HTTP: deploy with a test token,
status, deposit, a ``solvent node --chain-rpc`` process that credits the deposit and commits its
roots, a withdrawal paid with the node's proof, then the escape hatch without the operator
(force, freeze and exit from a copy of the log, refund), and the errors a user meets.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from solvent.chain.client import VaultClient, connect
from solvent.chain.devnet import DevnetServer
from solvent.cli import main
from solvent.core.tx import Withdraw
from solvent.defaults import usd
from solvent.node.genesis import dev_address, dev_key
from solvent.sdk import Client, NodeError

SOLVENT = [sys.executable, "-m", "solvent.cli"]
ALICE, BOB, CAROL = dev_address("alice"), dev_address("bob"), dev_address("carol")


@pytest.fixture
def devnet() -> Iterator[DevnetServer]:
    with DevnetServer(port=0) as server:
        yield server


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str, code: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        returned = main(["chain", *argv])
        out, err = self.capsys.readouterr()
        assert returned == code, f"exit {returned}; stdout:\n{out}\nstderr:\n{err}"
        return out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def deploy(cli: Cli, url: str, tmp_path: Path) -> dict[str, Any]:
    out_file = tmp_path / "deployment.json"
    out, _ = cli(
        "deploy",
        "--rpc",
        url,
        "--dev",
        "vault-admin",
        "--test-token",
        "USDC:6",
        "--mint",
        "alice=1000000",
        "--mint",
        f"{BOB}=1000000",
        "--fund",
        "--out",
        str(out_file),
    )
    deployment: dict[str, Any] = json.loads(out)
    assert json.loads(out_file.read_text()) == deployment
    return deployment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def until(condition: Callable[[], bool], tick: Callable[[], object], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        tick()


def test_deploy_deposit_node_withdraw_then_escape(
    cli: Cli, devnet: DevnetServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = devnet.url
    deployment = deploy(cli, url, tmp_path)
    vault_address = str(deployment["vault"])
    assert deployment["rpc"] == url and deployment["sequencer"].lower() == dev_address("operator")
    w3 = connect(url)
    vault = VaultClient(w3, vault_address)
    assert vault.balance_of("USDC", ALICE) == usd("1000000")
    monkeypatch.setenv("SOLVENT_RPC", url)
    monkeypatch.setenv("SOLVENT_VAULT", vault_address)

    status = json.loads(cli("status", "--json")[0])
    assert status["address"] == vault_address and status["last_height"] is None and not status["frozen"]
    assert status["assets"] == [{"symbol": "USDC", "token": deployment["assets"]["USDC"], "holdings": 0}]
    out, _ = cli("deposit", "--dev", "alice", "USDC", "5000")
    assert out.startswith("deposit 0: 5000 USDC to " + ALICE + "/0, block ")

    data = tmp_path / "node"
    port = free_port()
    node_url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen(
        [
            *SOLVENT,
            "node",
            "--data",
            str(data),
            "--port",
            str(port),
            "--block-ms",
            "20",
            "--chain-rpc",
            url,
            "--vault",
            vault_address,
            "--chain-interval",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        until(lambda: node.poll() is not None or _up(node_url), lambda: time.sleep(0.1), "node start", 60)
        assert node.poll() is None, node.communicate()
        alice = Client(node_url, dev_key("alice"))
        carol = Client(node_url, dev_key("carol"))

        def block() -> None:  # a refused transaction still makes a block
            with contextlib.suppress(NodeError):
                carol.submit(Withdraw(CAROL, 0, "USDC", 1))

        until(lambda: alice.account()["balances"].get("USDC") == usd("5000"), block, "deposit not credited")
        receipt = alice.submit(Withdraw(ALICE, 0, "USDC", usd("1200")))
        withdrawal_id = next(e["withdrawal_id"] for e in receipt["events"] if e["kind"] == "Withdrawn")
        until(
            lambda: (vault.last_height() or 0) >= receipt["height"], block, "the node committed no new root"
        )
        out, _ = cli("withdraw", "--dev", "bob", "--node", node_url, str(withdrawal_id))
        assert out.strip() == (
            f"withdrawal {withdrawal_id}: paid 1200 USDC to {ALICE}; {ALICE} now holds 996200 USDC"
        )
        _, err = cli("withdraw", "--dev", "bob", "--node", node_url, str(withdrawal_id), code=1)
        assert "AlreadyWithdrawn" in err
        # A second withdrawal, committed but never claimed while the node runs.
        second = alice.submit(Withdraw(ALICE, 0, "USDC", usd("300")))
        unclaimed = next(e["withdrawal_id"] for e in second["events"] if e["kind"] == "Withdrawn")
        until(lambda: (vault.last_height() or 0) >= second["height"], block, "no root for the second")
    finally:
        node.send_signal(signal.SIGINT)
        stdout, stderr = node.communicate(timeout=30)
        print(f"the node's stdout:\n{stdout}\nits stderr:\n{stderr}")  # shown if the test fails
    assert "chain link: vault " + vault_address in stdout, stdout + stderr
    assert "development key" in stdout and "Traceback" not in stderr, stdout + stderr

    # The operator is gone. Bob's deposit is never credited; Alice forces a withdrawal.
    assert cli("deposit", "--dev", "bob", "USDC", "70")[0].startswith("deposit 1: 70 USDC")
    out, _ = cli("force", "--dev", "alice", "USDC", "100")
    assert out.startswith("forced withdrawal request 0: 100 USDC from " + ALICE + "/0; deadline ")
    _, err = cli("freeze", "--dev", "bob", "0", "--log", str(data), code=1)
    assert err.startswith("solvent chain freeze: ") and "DeadlineNotPassed" in err and "retry in" in err
    _, err = cli("exit", "--dev", "alice", "--log", str(data), code=1)
    assert "not frozen" in err
    before = int(w3.eth.get_block("latest")["timestamp"])
    out, _ = cli("advance", "3601")
    assert out.startswith("chain time is now ")
    assert int(w3.eth.get_block("latest")["timestamp"]) >= before + 3_601
    monkeypatch.setenv("SOLVENT_VAULT_BLOCK", str(deployment["deployed_block"]))
    out, _ = cli("freeze", "--dev", "bob", "0", "--log", str(data))
    assert out.startswith("vault frozen on request 0") and "deposits credited: 1" in out
    out, _ = cli("withdraw", "--dev", "bob", "--log", str(data), str(unclaimed))
    assert out.startswith(f"withdrawal {unclaimed}: paid 300 USDC to {ALICE}")
    out, _ = cli("exit", "--dev", "alice", "--log", str(data))
    assert f"{ALICE}/0 USDC: claimed 3500 USDC, paid 3500 USDC" in out
    out, _ = cli("exit", "--dev", "bob", "--log", str(data), "--all")
    assert "already paid: skipped" in out and "0 of 1 claims of any account paid" in out
    _, err = cli("refund", "--dev", "bob", "0", code=1)
    assert "DepositCredited" in err
    out, _ = cli("refund", "--dev", "alice", "1")
    assert out.strip() == f"deposit 1 refunded: paid 70 USDC to {BOB} (deposited 70 USDC)"
    final = json.loads(cli("status", "--json")[0])
    assert final["frozen"] and final["deposits_credited"] == 1 and final["assets"][0]["holdings"] == 0
    assert vault.balance_of("USDC", ALICE) == usd("1000000")
    assert vault.balance_of("USDC", BOB) == usd("1000000")
    shown, _ = cli("status")
    assert "last committed height" in shown and "USDC" in shown


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health").status_code == 200
    except httpx.HTTPError:
        return False


def test_errors_say_what_to_do(cli: Cli, devnet: DevnetServer, tmp_path: Path) -> None:
    url = devnet.url
    first = deploy(cli, url, tmp_path)
    vault, usdc = str(first["vault"]), first["assets"]["USDC"]
    # A second vault lists the existing token; its decimals must be the node's.
    again = ("deploy", "--rpc", url, "--dev", "vault-admin", "--sequencer", "bob")
    second = json.loads(cli(*again, "--asset", f"USDC={usdc}")[0])
    assert second["assets"] == {"USDC": usdc} and second["sequencer"].lower() == BOB
    _, err = cli(*again, "--asset", f"ETH={usdc}", code=1)
    assert f"{usdc} has 6 decimals, the node's ETH 18" in err
    on = ("--rpc", url, "--vault", vault)
    _, err = cli("deposit", *on, "--dev", "alice", "USDC", "1.0000001", code=1)
    assert err.startswith("solvent chain deposit: ") and "more than 6 decimals" in err
    _, err = cli("deposit", *on, "--dev", "alice", "BTC", "1", code=1)
    assert "BTC is not listed" in err
    _, err = cli("deposit", *on, "--dev", "alice", "USDC", "0", code=1)
    assert "above 0" in err
    _, err = cli("deposit", *on, "--dev", "alice", "USDC", "2000000", code=1)
    assert "holds 1000000 USDC" in err
    _, err = cli("deposit", *on, "--dev", "nobody", "USDC", "1", code=1)
    assert "no ether" in err
    _, err = cli("freeze", *on, "--dev", "bob", "7", "--log", str(tmp_path), code=1)
    assert err.strip().endswith(
        "UnknownRequest; no forced-withdrawal request has this id (`solvent chain status` counts them)"
    )
    _, err = cli("status", "--rpc", url, "--vault", dev_address("alice"), code=1)
    assert "no contract at" in err
    _, err = cli("status", "--rpc", "http://127.0.0.1:9", "--vault", vault, code=1)
    assert "no EVM JSON-RPC answers" in err
    _, err = cli("deploy", "--rpc", url, "--dev", "a", "--test-token", "USDC:18", code=1)
    assert "USDC has 6 decimals" in err
    _, err = cli("deploy", "--rpc", url, "--dev", "a", "--test-token", "DOGE:8", code=1)
    assert "not an asset of the node's deployment" in err
    assert "Traceback" not in err


def test_node_refuses_a_key_that_is_not_the_sequencer(
    cli: Cli, devnet: DevnetServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vault = str(deploy(cli, devnet.url, tmp_path)["vault"])
    args = ["node", "--data", str(tmp_path / "n"), "--port", "0", "--chain-rpc", devnet.url, "--vault", vault]
    assert main([*args, "--operator-key", dev_key("mallory").hex()]) == 1
    assert "the vault's sequencer is " + dev_address("operator") in capsys.readouterr().err
