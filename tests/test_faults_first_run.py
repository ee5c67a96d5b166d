"""The fault matrix: a first run interrupted while it creates the SQLite store.

Real processes, real signals, at random moments of the store's creation; then the store must
work. Before creation was made all or nothing, about half of these attempts left a store that
every later run refused.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.cli import main
from tests.helpers.faults import JOB_SECONDS
from tests.helpers.jobs import check_command
from tests.helpers.servers import without_coverage

ATTEMPTS = 2
"""Interrupted first runs, started at once, each in its own folder."""

LATEST_SIGNAL_SECONDS = 1.5
"""The signal comes at a random moment up to this long after the store's file appears (the
creation's start: `mlflow.db`, or the file it is built in aside); creating it takes 1 to 9 s."""


def creating(folder: Path) -> bool:
    """Whether the store's creation has begun: its file, or its temporary file, exists."""
    return (folder / "mlflow.db").exists() or any(folder.glob(".mlflow.db.*"))


def interrupt_during_creation(folder: Path, signum: int, delay: float) -> subprocess.Popen[str]:
    """Start a first run in a fresh folder; signal it `delay` s after its store's creation began."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    process = subprocess.Popen(
        check_command(folder / "job.log", "--set", f"mlflow.tracking_uri={uri}"),
        cwd=folder, env=without_coverage(os.environ), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + JOB_SECONDS
    while not creating(folder) and time.monotonic() < deadline:
        if process.poll() is not None:
            return process
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signum)
    return process


@pytest.mark.slow
def test_a_first_run_interrupted_while_creating_the_store_leaves_a_store_that_works(
    isolated: Path,
) -> None:
    # given first runs, each interrupted (SIGINT or SIGTERM) at a random moment of the creation
    seeded = random.Random(int(os.environ.get("BAD_DAYS_SEED", time.time_ns())))
    folders = [isolated / f"attempt{index}" for index in range(ATTEMPTS)]
    processes = []
    for index, folder in enumerate(folders):
        folder.mkdir()
        signum = (signal.SIGINT, signal.SIGTERM)[index % 2]
        delay = seeded.uniform(0, LATEST_SIGNAL_SECONDS)
        processes.append(interrupt_during_creation(folder, signum, delay))
    outcomes = [
        (process.wait(timeout=JOB_SECONDS), process.communicate()[1]) for process in processes
    ]

    # then each ended as interrupted, or finished before the signal came; never with a traceback
    for code, err in outcomes:
        assert code in (0, 130, 143), err
        assert "Traceback" not in err
    # and every store works: the next run finds it whole, or builds it, and can use it
    broken = []
    for folder in folders:
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        if not (folder / "mlflow.db").exists():  # interrupted before it was moved into place
            assert not list(folder.glob(".mlflow.db.*")), "a temporary store was left behind"
            continue
        try:  # MLflow alone, without initialize_sqlite_store's repair of a half-made store
            MlflowClient(tracking_uri=uri).create_experiment("after")
        except Exception as error:
            broken.append(f"{folder.name}: {type(error).__name__}: {str(error)[:200]}")
            continue
        with sqlite3.connect(folder / "mlflow.db") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert not [path.name for path in folder.iterdir() if ".tmp" in path.name]
    assert not broken, f"{len(broken)} of {ATTEMPTS} stores refused: {broken}"
    # and a real next run on the last one succeeds (in this process, as `model_name run` runs it)
    store = f"mlflow.tracking_uri=sqlite:///{folders[-1] / 'mlflow.db'}"
    assert main(check_command(folders[-1] / "job2.log", "--set", store)[3:]) == 0
