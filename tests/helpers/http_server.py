"""A real HTTP server on 127.0.0.1 that records what it receives: the webhook end of alert channels.

The `http_server` fixture starts one for a test and stops it after. It answers 200 by default;
`server.mode = "refuse"` makes it answer 500, `server.mode = "hang"` makes it read the request
and never answer (until the server stops). `server.requests` holds every request received,
whatever the mode. A closed port (`tests.helpers.servers.free_port()`) is the other way to refuse.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, Literal

import pytest

Mode = Literal["answer", "refuse", "hang"]


@dataclasses.dataclass(frozen=True)
class Request:
    """A request the server received.

    Attributes:
        method: `POST`, `GET`, ...
        path: the path and query, as sent.
        headers: the headers, names lower-cased.
        body: the body, decoded as UTF-8.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class RecordingHTTPServer(http.server.ThreadingHTTPServer):
    """An HTTP server that records each request and answers, refuses or hangs.

    Attributes:
        mode: `answer` (200), `refuse` (500) or `hang` (never answers while the server runs).
        requests: every request received, in order.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode: Mode = "answer"
        self.requests: list[Request] = []
        self.released = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Its address, `http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def netloc(self) -> str:
        """`127.0.0.1:PORT`, to write into a notification URL."""
        return f"127.0.0.1:{self.server_address[1]}"

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: RecordingHTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", errors="replace")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.record(Request(self.command, self.path, headers, body))
        if self.server.mode == "hang":
            self.server.released.wait()  # until the server stops
            return
        status = 200 if self.server.mode == "answer" else 500
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Say nothing on stderr: the test reads `requests`."""


def start_http_server() -> tuple[RecordingHTTPServer, threading.Thread]:
    """Start a recording server on a free port of 127.0.0.1, in a thread."""
    server = RecordingHTTPServer()
    thread = threading.Thread(target=server.serve_forever, name="http-server", daemon=True)
    thread.start()
    return server, thread


def stop_http_server(server: RecordingHTTPServer, thread: threading.Thread) -> None:
    """Release hanging requests, stop serving and close the socket."""
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def http_server() -> Iterator[RecordingHTTPServer]:
    """A recording HTTP server on 127.0.0.1 for one test, stopped after it."""
    server, thread = start_http_server()
    try:
        yield server
    finally:
        stop_http_server(server, thread)
