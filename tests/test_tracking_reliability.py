"""The fault matrix of tracking: killed processes, servers that go away, offline runs.

Each case runs `model_name` as real processes against real stores (SQLite, `mlflow server` on
127.0.0.1) and checks what the user sees (exit code, one line) and what is kept (statuses,
points counted, artifacts).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.cli import main
from tests.helpers.jobs import start_check, wait_for_run

KILLED_JOBS = 20
AT_ONCE = 5


def running(client: MlflowClient) -> list[str]:
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    return [run.info.run_id for run in found]


@pytest.mark.slow
def test_sigkilled_jobs_are_all_reaped_and_a_healthy_one_is_not_touched(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a healthy job holding its run open on a SQLite store
    store = ("--set", f"mlflow.tracking_uri={tracking_uri}")
    healthy_log = isolated / "healthy.log"
    healthy = start_check(healthy_log, *store, "--set", "jobs.check.hold_seconds=600")
    healthy_run = wait_for_run(healthy_log, healthy)
    # and 20 jobs killed with SIGKILL at random moments of their runs, a few at once; they
    # do not reap at start, so that one reap below must find every one of them
    rng = random.Random(11)
    killed: list[str] = []
    try:
        for wave in range(KILLED_JOBS // AT_ONCE):
            jobs = []
            for index in range(AT_ONCE):
                log = isolated / f"killed-{wave}-{index}.log"
                flags = (
                    "--set",
                    "jobs.check.hold_seconds=60",
                    "--set",
                    "mlflow.reap_stale_runs=false",
                )
                jobs.append((log, start_check(log, *store, *flags)))
            for log, process in jobs:
                killed.append(wait_for_run(log, process))
                time.sleep(rng.uniform(0, 1.0))
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=10)
                assert process.returncode == -signal.SIGKILL
        client = MlflowClient(tracking_uri=tracking_uri)
        assert sorted(running(client)) == sorted([*killed, healthy_run])

        # when the runs are reaped once
        code = main(["runs", "reap", *store])

        # then every killed run is KILLED with its reason, and only the healthy one still runs
        out = capsys.readouterr().out.splitlines()
        assert code == 0
        assert out[-1] == (
            f"reaped {KILLED_JOBS} run(s) in experiment 'model_name'; "
            "1 RUNNING run(s) alive, 0 without a heartbeat left alone"
        )
        assert running(client) == [healthy_run]
        for run_id in killed:
            run = client.get_run(run_id)
            assert run.info.status == "KILLED"
            assert "is gone from" in run.data.tags["model_name.reaped_reason"]
        assert "model_name.reaped" not in client.get_run(healthy_run).data.tags
    finally:
        healthy.send_signal(signal.SIGTERM)
        healthy.communicate(timeout=60)
    # and the healthy job still ends as it should, by itself
    assert healthy.returncode == 143
    run = MlflowClient(tracking_uri=tracking_uri).get_run(healthy_run)
    assert run.info.status == "KILLED"
    assert "model_name.reaped" not in run.data.tags
