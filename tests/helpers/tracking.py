"""Runs as another process or another machine left them, written straight into a store."""

from __future__ import annotations

import subprocess
import time

import psutil
from mlflow import MlflowClient

HOUR_MS = 3_600_000


def left_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    host: str,
    heartbeat_age_s: float,
    pid: int | None = None,
    started: float | None = None,
    name: str = "left",
) -> str:
    """Create a RUNNING run whose process record and heartbeat say what the arguments say.

    Returns:
        The run's id.
    """
    heartbeat = int(time.time() * 1000 - heartbeat_age_s * 1000)
    tags = {"model_name.host": host, "model_name.heartbeat": str(heartbeat)}
    if pid is not None:
        tags["model_name.pid"] = str(pid)
    if started is not None:
        tags["model_name.process_started"] = f"{started:.2f}"
    run = client.create_run(experiment_id, start_time=heartbeat - HOUR_MS, tags=tags, run_name=name)
    return run.info.run_id


def dead_process() -> tuple[int, float]:
    """Start a process, note its pid and start time, and let it end: return both."""
    process = subprocess.Popen(["sleep", "30"])
    try:
        started = psutil.Process(process.pid).create_time()
    finally:
        process.kill()
        process.wait()
    return process.pid, started
