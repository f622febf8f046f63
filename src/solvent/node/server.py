"""
Running a node: the sequencer thread plus the API on uvicorn, in one process.

``NodeServer`` is what ``solvent node`` runs (``serve_forever``) and what
tests and the demo start in a background thread (``start`` / ``stop``, or as
a context manager): it binds the port first, so ``url`` is known before any
request, and stops the sequencer after the last request is answered.

It owns the API's signature checker (``node.verifier.Verifier``):
``verifier_workers`` worker processes by default, started (and their imports
done) before the first request is accepted and shut down after the last is
answered; ``verifier_kind="thread"`` or ``"inline"`` (on the event loop, no
processes) for tests and small machines.
"""

import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from solvent.node.api import create_app
from solvent.node.genesis import GenesisConfig
from solvent.node.history import History
from solvent.node.node import Node, NodeConfig
from solvent.node.streams import StreamHub
from solvent.node.verifier import Kind, Verifier


class NodeServer:
    """A node and its API on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        directory: str | Path,
        genesis: GenesisConfig | None = None,
        config: NodeConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verifier_workers: int = 2,
        verifier_kind: Kind = "process",
    ) -> None:
        self.node = Node(directory, genesis, config)
        self.hub = StreamHub(self.node)
        self.history = History(self.node)
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for a
        # socket created with it; without, each keep-alive request waits ~40 ms for a delayed ACK.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        self.verifier = Verifier(self.node.domain, verifier_workers, verifier_kind)
        self.app = create_app(self.node, self.hub, self.history, self.verifier)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (Ctrl-C)."""
        self.verifier.warm()
        self.node.start()
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.verifier.close()
            self.node.close()

    def start(self) -> "NodeServer":
        """Serve from a background thread; return once requests are accepted."""
        self.verifier.warm()
        self.node.start()
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="solvent-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.verifier.close()
        self.node.close()
        self.history.close()
        self.socket.close()

    def __enter__(self) -> "NodeServer":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
