"""
An ASGI app served by uvicorn on a socket bound up front: in the calling thread or in a
background one.

Both ``node.server.NodeServer`` (the API) and ``chain.devnet.DevnetServer`` (a JSON-RPC chain)
serve this way: the port is bound on construction, so ``url`` is known before any request (port
0 picks a free one), and ``start`` returns only once requests are accepted.
"""

import socket
import threading
import time
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0


class HttpServer:
    """One app on ``host:port``."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for a
        # socket created with it; without, each keep-alive request waits ~40 ms for a delayed ACK.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        self.name = name
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def run(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C) or ``stop``."""
        self.server.run(sockets=[self.socket])

    def start(self) -> None:
        """Serve from a background thread; return once requests are accepted."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving (after the requests in flight) and close the socket."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
            self._thread = None
        self.socket.close()
