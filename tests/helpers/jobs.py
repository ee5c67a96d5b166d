"""Jobs from the command line: in this process, or `model_name run check` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_name.cli import main
from tests.helpers.servers import without_coverage

OPEN_SECONDS = 120
"""The most a job may take to open its run (several start at once on two shared cores)."""


def run_job(job: str, tracking_uri: str, *settings: str) -> int:
    """Run `model_name run JOB` in this process on a store, alerts off; return its exit code."""
    flags = ["--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "alerts.enable=false"]
    for setting in settings:
        flags += ["--set", setting]
    return main(["run", job, *flags])


def job_command(job: str, log: Path, *flags: str) -> list[str]:
    """`python -m model_name run JOB` logging to a file at DEBUG, without desktop alerts."""
    return [
        sys.executable, "-m", "model_name", "run", job,
        "--set", f"logger.sink={log}", "--set", "logger.level=DEBUG",
        "--set", "alerts.enable=false", *flags,
    ]  # fmt: skip


def check_command(log: Path, *flags: str) -> list[str]:
    """`python -m model_name run check` logging to a file at DEBUG, without desktop alerts."""
    return job_command("check", log, *flags)


def start_check(log: Path, *flags: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start a check job (untraced by coverage: in-process tests cover the same code)."""
    return subprocess.Popen(
        check_command(log, *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=without_coverage(os.environ),
    )


def wait_for_run(log: Path, process: subprocess.Popen[str]) -> str:
    """Wait until the job's log says its run is open; return the run's id.

    Raises:
        AssertionError: the job ended first, or took longer than `OPEN_SECONDS`.
    """
    deadline = time.monotonic() + OPEN_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "Check run " in text:
            return text.split("Check run ", 1)[1].split()[0]
        if process.poll() is not None:
            raise AssertionError(f"the job ended before opening its run: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the job never opened its run")


def start_held_check(log: Path, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    """Start a check job that holds its run open for a minute; return once the run is open.

    Its stderr is a pipe, read by `communicate()`; its stdout is this process's.
    """
    argv = check_command(log, "--set", "jobs.check.hold_seconds=60", *flags)
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + OPEN_SECONDS
    while time.monotonic() < deadline:
        if log.exists() and "Check run" in log.read_text():
            time.sleep(1.5)  # a heartbeat or two in the buffer
            return process
        if process.poll() is not None:
            pytest.fail(f"the job ended before opening its run: {process.communicate()[1]}")
        time.sleep(0.1)
    process.kill()
    pytest.fail("the job never opened its run")
