"""Heartbeats: how a run says which process runs it, and that this process is still alive.

MLflow has no heartbeat (its issues #3932, #7078): a run whose process was killed with SIGKILL
stays RUNNING forever. `MlflowService.run_context` therefore tags every run it opens with
`process_tags()` (host, process id, process start time, first heartbeat), and a `Heartbeat`
thread rewrites the tag `model_name.heartbeat` every `mlflow.heartbeat_seconds` until the run
ends. A tag, not a metric: `search_runs` returns tags with each run, so the reaper
(`model_name.tracking.reaper`) reads every RUNNING run's heartbeat in one query per page.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

HOST_TAG = "model_name.host"
PID_TAG = "model_name.pid"
PROCESS_STARTED_TAG = "model_name.process_started"
HEARTBEAT_TAG = "model_name.heartbeat"
"""The time of the run's last heartbeat, in milliseconds since the epoch (as MLflow's times)."""

PROCESS_START_TOLERANCE_SECONDS = 1.0
"""How far two readings of one process's start time may differ (the kernel counts in ticks)."""


def now_ms() -> int:
    """Return the time now in milliseconds since the epoch, MLflow's unit for times."""
    return int(time.time() * 1000)


def process_started(pid: int | None = None) -> float | None:
    """Return when a process started (seconds since the epoch), or None when it does not exist.

    With its pid, the start time tells a process from a later one that reuses its pid.
    """
    import psutil  # type: ignore[import-untyped]  # no stubs in the lock

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # pragma: no cover - Linux lets anyone read /proc/PID/stat
        return None


def process_tags() -> dict[str, str]:
    """Return the tags that say which process runs a run, with its first heartbeat.

    Returns:
        `model_name.host`, `model_name.pid`, `model_name.process_started` (seconds since the
        epoch, to 0.01 s) and `model_name.heartbeat` (now, in milliseconds since the epoch).
    """
    started = process_started()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_STARTED_TAG: f"{started:.2f}" if started is not None else "",
        HEARTBEAT_TAG: str(now_ms()),
    }


def process_alive(pid: int, started: float) -> bool:
    """Say whether the process `pid` that started at `started` still runs on this machine."""
    current = process_started(pid)
    return current is not None and abs(current - started) <= PROCESS_START_TOLERANCE_SECONDS


class Heartbeat:
    """A daemon thread that refreshes the heartbeat tag of the runs it is given.

    `beat` is called with a run id and the time in milliseconds; it is the service's MLflow
    client's `set_tag`. A failed beat (the server is away) is logged once at WARNING and retried
    at the next beat: a heartbeat never fails a job.

    Args:
        interval: seconds between two beats.
        beat: sets the heartbeat of one run.
    """

    def __init__(self, interval: float, beat: Callable[[str, int], object]) -> None:
        self._interval = interval
        self._beat = beat
        self._runs: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()  # one per thread: a new thread never sees an old set()
        self._warned = False

    def add(self, run_id: str) -> None:
        """Keep `run_id`'s heartbeat fresh from now on (its first one is set with its tags)."""
        with self._lock:
            self._runs.append(run_id)
            if self._thread is None:
                self._wake = threading.Event()
                self._thread = threading.Thread(
                    target=self._loop, args=(self._wake,), name="model_name-heartbeat", daemon=True
                )
                self._thread.start()

    def remove(self, run_id: str) -> None:
        """Stop refreshing `run_id`'s heartbeat; the thread ends with the last run."""
        with self._lock:
            if run_id in self._runs:
                self._runs.remove(run_id)
            thread = self._thread if not self._runs else None
            if thread is not None:
                self._thread = None
                self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._interval + 5)

    def stop(self) -> None:
        """Stop refreshing every run and end the thread."""
        with self._lock:
            runs = list(self._runs)
        for run_id in runs:
            self.remove(run_id)

    def _loop(self, wake: threading.Event) -> None:
        while not wake.wait(self._interval):
            with self._lock:
                runs = list(self._runs)
            for run_id in runs:
                try:
                    self._beat(run_id, now_ms())
                except Exception as error:
                    if not self._warned:
                        self._warned = True
                        from loguru import logger

                        logger.warning(
                            "MLflow: heartbeat of run {} not sent (retried every {} s): {}: {}",
                            run_id,
                            self._interval,
                            type(error).__name__,
                            error,
                        )
