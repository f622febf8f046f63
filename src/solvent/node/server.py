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

from pathlib import Path
from types import TracebackType

from solvent.node.api import create_app
from solvent.node.genesis import GenesisConfig
from solvent.node.history import History
from solvent.node.node import Node, NodeConfig
from solvent.node.streams import StreamHub
from solvent.node.verifier import Kind, Verifier
from solvent.serving import HttpServer


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
        self.verifier = Verifier(self.node.domain, verifier_workers, verifier_kind)
        self.app = create_app(self.node, self.hub, self.history, self.verifier)
        self.http = HttpServer(self.app, host, port, "solvent-api")
        self.host, self.port = self.http.host, self.http.port

    @property
    def url(self) -> str:
        return self.http.url

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (Ctrl-C)."""
        self.verifier.warm()
        self.node.start()
        try:
            self.http.run()
        finally:
            self.verifier.close()
            self.node.close()

    def start(self) -> "NodeServer":
        """Serve from a background thread; return once requests are accepted."""
        self.verifier.warm()
        self.node.start()
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()
        self.verifier.close()
        self.node.close()
        self.history.close()

    def __enter__(self) -> "NodeServer":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
