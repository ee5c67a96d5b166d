"""uvicorn in a thread of its own, so that the job's thread keeps the signals and the MLflow run.

Signals reach Python's main thread only, and the job's MLflow run is that thread's: the job's
thread polls the alias and logs metrics, and uvicorn serves beside it. uvicorn installs no signal
handler outside the main thread; the job tells it to stop (`stop`), which closes the listening
socket (no new connection), lets the requests in flight finish for at most the grace period, then
cancels the rest.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error, and
port 0 picks a free one (`port` says which).

Example:
    server = BackgroundServer(app, "127.0.0.1", 0, grace_seconds=20)
    server.bind()     # optional: the port now, the server later
    server.start()
    ...
    server.stop()
"""

from __future__ import annotations

import math
import socket
import threading
import time
from typing import Any

from model_name.errors import ServiceError

START_SECONDS = 30.0
"""The most uvicorn may take to start answering once its thread runs."""


class BackgroundServer:
    """An ASGI application served by uvicorn in a daemon thread.

    Args:
        app: the ASGI application.
        host: the address to listen on (`0.0.0.0` for every interface).
        port: the port; 0 picks a free one.
        grace_seconds: how long requests in flight may take to finish at `stop`.
    """

    def __init__(self, app: Any, host: str, port: int, grace_seconds: float) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.grace_seconds = grace_seconds
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL, such as `http://127.0.0.1:8080`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> None:
        """Bind the listening socket (port 0: a free one, then in `port`); idempotent.

        Raises:
            ServiceError: the address cannot be bound: a port in use, an unknown address.
        """
        if self._socket is None:
            self._socket = _bind(self.host, self.port)
            self.port = int(self._socket.getsockname()[1])

    def start(self) -> None:
        """Bind if needed, start uvicorn in its thread, return once it accepts connections.

        Raises:
            ServiceError: the address cannot be bound (a port in use), or uvicorn did not start.
        """
        import uvicorn

        self.bind()
        config = uvicorn.Config(
            self.app,
            log_config=None,  # uvicorn's records go through the standard library to our sink
            access_log=False,  # the app logs one DEBUG line a request itself
            lifespan="off",
            timeout_graceful_shutdown=math.ceil(self.grace_seconds),
            timeout_keep_alive=5,
        )
        config.load()  # its imports here, in the caller's thread, not beside the job's
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="model_name-serve",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServiceError(f"the HTTP server on {self.url} did not start")
            time.sleep(0.01)

    def alive(self) -> bool:
        """Say whether the server's thread still runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> bool:
        """Stop accepting, let requests in flight finish (bounded by the grace), stop.

        Returns:
            True when the server stopped within the grace period (and a few seconds more).
        """
        stopped = True
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(self.grace_seconds + 5.0)
            stopped = not self._thread.is_alive()
        if self._socket is not None:
            self._socket.close()
        return stopped


def _bind(host: str, port: int) -> socket.socket:
    """Bind a listening socket, or say in one line why the address cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServiceError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "set jobs.serve.port to a free port, or 0 for any"
        ) from error
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
