"""A real Dask cluster on 127.0.0.1: `dask scheduler` and worker processes, always stopped.

The fixture `dask_cluster` starts a scheduler (`--port 0`, its address read from the scheduler
file) and two workers of one process and one thread each, without a nanny: a worker killed by a
test stays dead (a nanny would start it again). Every process runs in its own process group and
is stopped (SIGTERM, then SIGKILL) when the test ends, failed or not.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import without_coverage

START_SECONDS = 120
"""The most the scheduler and its workers may take to be ready (two shared, busy cores)."""


@dataclasses.dataclass
class DaskCluster:
    """A running scheduler and its workers.

    Attributes:
        address: the scheduler's address, `tcp://127.0.0.1:PORT`.
        scheduler: the scheduler's process.
        workers: the workers' processes (one Dask worker each).
        folder: where their logs are (`scheduler.log`, `worker-N.log`).
    """

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    folder: Path

    def logs(self) -> str:
        """Every process's log, for a failing test's message."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )


def dask_program() -> str:
    """The `dask` command of the running interpreter's environment."""
    return str(Path(sys.executable).parent / "dask")


def _start(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=without_coverage(os.environ),
            start_new_session=True,  # its own group: stopped whole, never by the test's Ctrl-C
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:  # a worker may wait for its scheduler a while: it holds nothing worth waiting for
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for_address(scheduler_file: Path, process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited {process.returncode}:\n{log.read_text()}")
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"dask scheduler not ready after {START_SECONDS} s:\n{log.read_text()}")


def _wait_for_workers(cluster: DaskCluster, count: int) -> None:
    from distributed import Client

    with Client(cluster.address, timeout=START_SECONDS) as client:  # type: ignore[no-untyped-call]
        try:
            client.wait_for_workers(count, timeout=START_SECONDS)
        except TimeoutError:
            raise RuntimeError(f"{count} dask workers not ready:\n{cluster.logs()}") from None


def start_cluster(folder: Path, workers: int = 2) -> DaskCluster:
    """Start a scheduler and `workers` workers on 127.0.0.1; stop them with `stop_cluster`."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    dask = dask_program()
    log = folder / "scheduler.log"
    scheduler = _start(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        log, folder,
    )  # fmt: skip
    cluster = DaskCluster("", scheduler, [], folder)
    try:
        cluster.address = _wait_for_address(scheduler_file, scheduler, log)
        for number in range(workers):
            command = [
                dask, "worker", cluster.address, "--host", "127.0.0.1", "--nthreads", "1",
                "--no-nanny", "--no-dashboard", "--name", f"worker-{number}",
            ]  # fmt: skip
            cluster.workers.append(_start(command, folder / f"worker-{number}.log", folder))
        _wait_for_workers(cluster, workers)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: DaskCluster) -> None:
    """Stop the workers, then the scheduler, each even when another one's stop raised."""
    try:
        for worker in cluster.workers:
            _stop(worker)
    finally:
        _stop(cluster.scheduler)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, stopped after the test."""
    cluster = start_cluster(tmp_path / "dask")
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
