"""A pipeline killed with SIGKILL in step k resumes at step k when the same command runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.servers import without_coverage
from tests.pipelines.helpers import run_pipeline

pytestmark = pytest.mark.slow

PIPELINE = """
pipelines:
  checks:
    steps:
      - {job: check, name: first, overrides: {hold_seconds: 0}}
      - {job: check, name: second}
"""


def test_a_pipeline_killed_in_its_second_step_resumes_there(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    (isolated / "containers.yaml").write_text(PIPELINE)
    log = isolated / "pipeline.log"
    flags = [
        "--set", f"mlflow.tracking_uri={tracking_uri}",
        "--set", "alerts.enable=false",
        "--set", f"logger.sink={log}",
    ]  # fmt: skip
    # given a pipeline whose second step holds its run open, killed with SIGKILL meanwhile
    argv = [sys.executable, "-m", "model_name", "run", "pipeline", "checks", *flags]
    held = ["--set", "jobs.check.hold_seconds=120"]
    process = subprocess.Popen(argv + held, env=without_coverage(os.environ), cwd=isolated)
    deadline = time.monotonic() + 120
    while (not log.exists() or log.read_text().count("Check run ") < 2) and process.poll() is None:
        assert time.monotonic() < deadline, "the second step never opened its run"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # when the same command runs again (the step no longer held), with no flag
    code, statuses = run_pipeline(capsys, "checks", *flags)
    # then the first step is reused, the second runs, and the killed step's run ended KILLED
    assert (code, statuses) == (0, {"first": "reused", "second": "ran"})
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    killed = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`model_name.pipeline.step` = 'second' and attributes.status = 'KILLED'",
    )
    assert len(killed) == 1
