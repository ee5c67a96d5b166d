"""A real `mlflow server` on 127.0.0.1 for the tests, started once per session and always stopped."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SERVER_START_SECONDS = 90

COVERAGE_VARIABLES = ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
"""What makes a child process measure coverage (`patch = ["subprocess"]` in pyproject.toml)."""


NO_BYTECODE_CACHE = "PYTHONDONTWRITEBYTECODE"
"""Set in some images and sandboxes: no `.pyc` is ever written, so every child compiles all it
imports again (about 13 s of CPU for a training, half of its cost; docs/benchmarks.md, "The first
command")."""


def caching_bytecode(env: Mapping[str, str]) -> dict[str, str]:
    """Return a child's environment in which Python writes the bytecode it compiles.

    A test process starts many children importing the same modules: the first writes their
    `.pyc` (in `.venv` and `src`, both ignored by git), the others read them. Nothing a test
    asserts depends on bytecode being cached or not.
    """
    return {name: value for name, value in env.items() if name != NO_BYTECODE_CACHE}


def without_coverage(env: Mapping[str, str]) -> dict[str, str]:
    """Return a child's environment in which coverage does not trace it, caching its bytecode.

    For processes that only repeat what other tests cover, run many at once, and would
    otherwise pay coverage's tracing on every call (several at once on two cores).
    """
    return {
        name: value
        for name, value in caching_bytecode(env).items()
        if name not in COVERAGE_VARIABLES
    }


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(
        f"mlflow server not healthy after {SERVER_START_SECONDS} s:\n{log.read_text()}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclasses.dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server` and where it keeps its data.

    Attributes:
        url: its address, `http://127.0.0.1:PORT`.
        folder: its folder: `server.db` (the backend store), `artifacts/`, `server.log`.
        process: the server's process (the leader of its own process group).
    """

    url: str
    folder: Path
    process: subprocess.Popen[bytes]
    backend: str | None = None

    @property
    def backend_uri(self) -> str:
        """The URI of its backend store, to read it directly (`sqlite:///` unless given)."""
        return self.backend or f"sqlite:///{self.folder / 'server.db'}"

    @property
    def artifacts(self) -> Path:
        """The folder its proxied artifacts land in (`--artifacts-destination`)."""
        return self.folder / "artifacts"


def start_server(
    folder: Path,
    store_template: Path | None = None,
    backend_uri: str | None = None,
    port: int | None = None,
) -> MlflowServer:
    """Start `mlflow server` on a free port with a SQLite backend in `folder`; wait until healthy.

    Args:
        folder: where the backend store, the artifacts and the server's log go.
        store_template: an already migrated SQLite store to copy as the backend (saves the
            schema migration, 1-2 s).
        backend_uri: another backend store (`postgresql+psycopg2://...`) instead of SQLite.
        port: the port to listen on (to restart a stopped server where its clients expect it);
            a free one when None.

    Raises:
        RuntimeError: the server exited or was not healthy in time (it is stopped then).
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    if store_template is not None:
        shutil.copyfile(store_template, folder / "server.db")
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", backend_uri or f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",  # 127.0.0.1 only
    }
    # Not the project's code: coverage's subprocess tracing would only slow its start.
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        NO_BYTECODE_CACHE,
        *COVERAGE_VARIABLES,
    ):
        env.pop(name, None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_until_healthy(url, process, log)
    except BaseException:
        stop(process)
        raise
    return MlflowServer(url=url, folder=folder, process=process, backend=backend_uri)


@pytest.fixture(scope="session")
def mlflow_server_instance(
    tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path
) -> Iterator[MlflowServer]:
    """Start one `mlflow server` for the session (SQLite backend, local artifacts); yield it."""
    server = start_server(tmp_path_factory.mktemp("mlflow-server"), mlflow_store_template)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_instance: MlflowServer) -> str:
    """The URL of the session's `mlflow server`: use unique experiment and model names."""
    return mlflow_server_instance.url
