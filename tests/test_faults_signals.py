"""The fault matrix: impatient signals. A second Ctrl-C during the wrap-up does not cut it short;
a third one quits at once. Real processes, real signals, a real SQLite store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.faults import JOB_SECONDS, assert_one_line_error, runs
from tests.helpers.http_server import RecordingHTTPServer
from tests.helpers.jobs import start_held_check


def wait_for(log: Path, text: str) -> None:
    """Wait until the job's log has a text (polled every 2 ms: the wrap-up is quick)."""
    deadline = time.monotonic() + JOB_SECONDS
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_during_the_wrap_up_lets_it_finish(
    job_log: Path, tracking_uri: str, second: int
) -> None:
    # given a job holding its run open, interrupted by Ctrl-C
    process = start_held_check(
        job_log, dict(os.environ), "--set", f"mlflow.tracking_uri={tracking_uri}"
    )
    process.send_signal(signal.SIGINT)

    # when a second signal comes as the run is being ended (before its log is uploaded)
    wait_for(job_log, "ends KILLED")
    process.send_signal(second)
    _, err = process.communicate(timeout=JOB_SECONDS)

    # then the exit code is still the first signal's, with one error line and a note
    assert process.returncode == 130, err
    assert_one_line_error(err, "job check interrupted (SIGINT)")
    assert "model_name: finishing the wrap-up" in err
    # and the wrap-up finished: run KILLED, its heartbeats and its log uploaded, services stopped
    (run,) = runs(tracking_uri)
    assert run.info.status == "KILLED"
    client = MlflowClient(tracking_uri=tracking_uri)
    assert len(client.get_metric_history(run.info.run_id, "heartbeat")) >= 2
    assert "logs" in {item.path for item in client.list_artifacts(run.info.run_id)}
    assert "Alert: check interrupted" in job_log.read_text()


@pytest.mark.slow
def test_a_third_signal_quits_at_once_with_the_first_signals_code(
    job_log: Path, tracking_uri: str, http_server: RecordingHTTPServer
) -> None:
    # given a job holding its run open, whose wrap-up waits on an alert channel that never
    # answers (so the wrap-up lasts, however quick or loaded the machine), terminated
    http_server.mode = "hang"
    process = start_held_check(
        job_log,
        dict(os.environ),
        "--set",
        f"mlflow.tracking_uri={tracking_uri}",
        "--set",
        f"alerts.channels=json://{http_server.netloc}/hang",
        "--set",
        "alerts.channels_timeout_seconds=20",
    )
    process.send_signal(signal.SIGTERM)

    # when the user insists twice more during the wrap-up
    wait_for(job_log, "Alert: check interrupted")
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=JOB_SECONDS)

    # then it quits, saying so, with SIGTERM's code
    assert process.returncode == 143, err
    assert "model_name: wrap-up cut short: quitting at once" in err
