"""Tracking stores for the benchmarks: migrated SQLite files and a loopback MLflow server.

A fresh SQLite store runs its schema migrations on first use (1-2 s); the benchmarks migrate one
template once, then copy it for every measured run so migrations are never measured. The MLflow
server is the tests' own (`tests/helpers/servers.py`): it listens on 127.0.0.1 only and is always
stopped, even on error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness import PYTHON, REPO, BenchmarkError, clean_env, say

sys.path.insert(0, str(REPO))  # the loopback server helper the tests use
from tests.helpers.servers import start_server, stop

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


@contextlib.contextmanager
def mlflow_server(template: Path, folder: Path) -> Iterator[str]:
    """Run `mlflow server` on 127.0.0.1 for the duration of the block and yield its URL.

    The tests' own loopback server helper starts it (`tests/helpers/servers.py`): a copy of the
    migrated template as its store, its own artifacts folder, its own process group, stopped on
    every way out of the block (error, Ctrl-C included).

    Raises:
        BenchmarkError: the server exited or did not answer `/health` in time.
    """
    server_folder = folder / "server"
    server_folder.mkdir(parents=True, exist_ok=True)
    say("  starting mlflow server on 127.0.0.1 ...")
    started = time.perf_counter()
    try:
        server = start_server(server_folder, template)
    except RuntimeError as error:
        raise BenchmarkError(str(error)) from error
    say(f"  server ready on {server.url} in {time.perf_counter() - started:.1f} s")
    try:
        yield server.url
    finally:
        stop(server.process)
        say("  server stopped")
