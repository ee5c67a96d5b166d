"""Tracking stores for the benchmarks: migrated SQLite files and a loopback MLflow server.

A fresh SQLite store runs its schema migrations on first use (1-2 s); the benchmarks migrate one
template once, then copy it for every measured run so migrations are never measured. The MLflow
server listens on 127.0.0.1 only and is always stopped, even on error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness import PYTHON, VENV_BIN, BenchmarkError, clean_env, say

SERVER_START_TIMEOUT = 90.0
"""Seconds to wait for the server's `/health` endpoint."""

SERVER_STOP_TIMEOUT = 15.0
"""Seconds to wait after SIGTERM before the server's process group is killed."""

_MIGRATE = """
import sys
from mlflow.tracking import MlflowClient
MlflowClient(tracking_uri=sys.argv[1]).search_experiments()
"""


def sqlite_uri(path: Path) -> str:
    """Return the tracking URI of a SQLite file (absolute path)."""
    return f"sqlite:///{path.resolve()}"


def migrated_template(folder: Path) -> Path:
    """Create a SQLite store in `folder` with every migration applied, and return its path.

    The migration runs in a child process, so this process never imports MLflow for it.
    """
    path = folder / "template.db"
    say(f"  migrating a template SQLite store ({path.name}) ...")
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "-c", _MIGRATE, sqlite_uri(path)],
        cwd=folder,
        env=clean_env(),
        check=True,
        timeout=180,
        capture_output=True,
    )
    say(f"  migrated in {time.perf_counter() - started:.1f} s (not measured below)")
    return path


def fresh_store(template: Path, folder: Path) -> Path:
    """Copy the migrated template into `folder` as `mlflow.db` and return the copy's path."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(template, folder / "mlflow.db"))


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def mlflow_server(template: Path, folder: Path) -> Iterator[str]:
    """Run `mlflow server` on 127.0.0.1 for the duration of the block and yield its URL.

    The server uses a copy of the migrated template and its own artifacts folder. It is started
    in a new session, so that stopping its process group also stops its workers, and it is stopped
    on every way out of the block (error, Ctrl-C included).

    Raises:
        BenchmarkError: the server exited or did not answer `/health` in time.
    """
    store = fresh_store(template, folder / "server")
    artifacts = folder / "server" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server" / "server.log"
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        sqlite_uri(store),
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = clean_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    say(f"  starting mlflow server on {url} ...")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            argv,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.perf_counter()
        _wait_healthy(server, url, log_path)
        say(f"  server ready in {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        _stop(server)
        say("  server stopped")


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(
                f"mlflow server exited with code {server.returncode}:\n{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise BenchmarkError(
        f"mlflow server not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{_tail(log_path)}"
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (it was started in its own session): TERM, then KILL."""
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=SERVER_STOP_TIMEOUT)
    # Workers may outlive the parent: kill whatever is left of the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=SERVER_STOP_TIMEOUT)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
