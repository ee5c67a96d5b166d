"""Heartbeats: every run records its process, and its heartbeat is refreshed until it ends."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import psutil

from model_name.io.services import LoggerService, MlflowService, RunConfig
from model_name.tracking.heartbeat import Heartbeat


def heartbeat(service: MlflowService, run_id: str) -> int:
    return int(service.client().get_run(run_id).data.tags["model_name.heartbeat"])


def test_a_run_records_its_host_pid_and_process_start(mlflow_service: MlflowService) -> None:
    with mlflow_service, mlflow_service.run_context(RunConfig(name="beating")) as run:
        pass

    tags = mlflow_service.client().get_run(run.info.run_id).data.tags
    assert tags["model_name.host"] == socket.gethostname()
    assert tags["model_name.pid"] == str(os.getpid())
    assert abs(float(tags["model_name.process_started"]) - psutil.Process().create_time()) < 0.1
    assert abs(int(tags["model_name.heartbeat"]) / 1000 - time.time()) < 60


def test_the_heartbeat_is_refreshed_while_the_run_is_open_and_stops_after(
    tracking_uri: str, tmp_path: Path
) -> None:
    service = MlflowService(tracking_uri=tracking_uri, heartbeat_seconds=0.2)
    with service:
        with service.run_context(RunConfig(name="beating")) as run:
            first = heartbeat(service, run.info.run_id)
            time.sleep(0.8)
            later = heartbeat(service, run.info.run_id)
        ended = heartbeat(service, run.info.run_id)
        time.sleep(0.5)
        assert heartbeat(service, run.info.run_id) == ended

    assert later - first >= 300  # refreshed, not just set once
    assert not [t for t in threading.enumerate() if t.name == "model_name-heartbeat"]


def test_a_failing_heartbeat_is_logged_once_and_never_raises(tmp_path: Path) -> None:
    # given a heartbeat whose every beat fails, as against a server that went away
    log = tmp_path / "app.log"
    attempts: list[str] = []

    def unreachable(run_id: str, time_ms: int) -> None:
        attempts.append(run_id)
        raise ConnectionError("server away")

    with LoggerService(sink=str(log), format="{level}|{message}"):
        beat = Heartbeat(0.05, unreachable)
        beat.add("run-1")
        time.sleep(0.4)
        beat.stop()

    # then it kept trying, and said so once
    assert len(attempts) >= 3
    warnings = [line for line in log.read_text().splitlines() if "heartbeat" in line]
    assert warnings == [
        "WARNING|MLflow: heartbeat of run run-1 not sent (retried every 0.05 s): "
        "ConnectionError: server away"
    ]
