"""The reaper on a real SQLite store: which RUNNING runs it ends, and what it records on them."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from model_name.cli import main
from model_name.io.services import LoggerService, MlflowService
from model_name.tracking.reaper import reap_stale_runs
from tests.helpers.jobs import start_held_check
from tests.helpers.servers import without_coverage
from tests.helpers.tracking import dead_process, left_run

HOST = socket.gethostname()
ME = os.getpid()
MY_START = psutil.Process().create_time()


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def experiment(client: MlflowClient, tmp_path: Path) -> str:
    return client.create_experiment("reaped", (tmp_path / "artifacts").as_uri())


def status(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.status


def test_a_stale_heartbeat_from_another_host_is_reaped_with_when_and_why(
    client: MlflowClient, experiment: str
) -> None:
    # given a run on another machine whose heartbeat stopped ten minutes ago
    run_id = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600)

    # when the reaper runs with a two-minute grace
    report = reap_stale_runs(client, [experiment], grace_seconds=120)

    # then the run is KILLED at its last heartbeat, tagged reaped, when, why and by whom
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    heartbeat = int(run.data.tags["model_name.heartbeat"])
    assert run.info.end_time == heartbeat
    assert run.data.tags["model_name.reaped"] == "true"
    assert run.data.tags["model_name.reaped_at"].startswith(time.strftime("%Y-", time.gmtime()))
    reason = run.data.tags["model_name.reaped_reason"]
    assert reason.startswith("no heartbeat for 600 s (grace 120 s)") and "gpu-07" in reason
    assert run.data.tags["model_name.reaped_by"] == f"{HOST} pid {ME}"
    assert [reaped.run_id for reaped in report.reaped] == [run_id]


def test_a_fresh_heartbeat_from_another_host_is_never_touched(
    client: MlflowClient, experiment: str
) -> None:
    run_id = left_run(client, experiment, host="gpu-07", heartbeat_age_s=5, pid=ME)

    report = reap_stale_runs(client, [experiment], grace_seconds=120)

    assert status(client, run_id) == "RUNNING"
    assert "model_name.reaped" not in client.get_run(run_id).data.tags
    assert (report.reaped, report.alive) == ([], 1)


def test_a_run_whose_process_is_gone_from_this_host_is_reaped_at_once(
    client: MlflowClient, experiment: str
) -> None:
    # given a run of a process of this machine that has ended, with a fresh heartbeat
    pid, started = dead_process()
    run_id = left_run(client, experiment, host=HOST, heartbeat_age_s=1, pid=pid, started=started)

    reap_stale_runs(client, [experiment], grace_seconds=3600)

    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["model_name.reaped_reason"].startswith(f"process {pid} (started ")


def test_a_reused_pid_does_not_keep_a_dead_run_alive(client: MlflowClient, experiment: str) -> None:
    # given a run whose pid is now this test's process, which started later than the run's
    run_id = left_run(
        client, experiment, host=HOST, heartbeat_age_s=1, pid=ME, started=MY_START - 600
    )

    reap_stale_runs(client, [experiment], grace_seconds=3600)

    assert status(client, run_id) == "KILLED"


def test_a_live_process_of_this_host_keeps_its_run_whatever_its_heartbeat(
    client: MlflowClient, experiment: str
) -> None:
    # given a run of this very process whose heartbeat is old (its server was away, say)
    run_id = left_run(client, experiment, host=HOST, heartbeat_age_s=3600, pid=ME, started=MY_START)

    report = reap_stale_runs(client, [experiment], grace_seconds=60)

    assert status(client, run_id) == "RUNNING"
    assert report.alive == 1


def test_runs_without_a_heartbeat_and_ended_runs_are_left_alone(
    client: MlflowClient, experiment: str
) -> None:
    foreign = client.create_run(experiment).info.run_id
    ended = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600)
    client.set_terminated(ended, "FINISHED")

    report = reap_stale_runs(client, [experiment], grace_seconds=1)

    assert (status(client, foreign), status(client, ended)) == ("RUNNING", "FINISHED")
    assert (report.reaped, report.unknown) == ([], 1)


def test_a_dry_run_changes_nothing(client: MlflowClient, experiment: str) -> None:
    run_id = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600)

    report = reap_stale_runs(client, [experiment], grace_seconds=120, dry_run=True)

    assert [reaped.run_id for reaped in report.reaped] == [run_id]
    assert status(client, run_id) == "RUNNING"


def test_the_time_limit_stops_the_reap_and_says_so(client: MlflowClient, experiment: str) -> None:
    run_id = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600)

    report = reap_stale_runs(client, [experiment], grace_seconds=120, time_limit=0)

    assert not report.complete
    assert status(client, run_id) == "RUNNING"


def test_start_reaps_its_experiment_and_logs_each_run(
    tracking_uri: str, client: MlflowClient, tmp_path: Path
) -> None:
    # given a dead run in the service's experiment and one in another experiment
    mine = client.create_experiment("mine", (tmp_path / "a").as_uri())
    other = client.create_experiment("other", (tmp_path / "b").as_uri())
    dead_here = left_run(client, mine, host="gpu-07", heartbeat_age_s=600)
    dead_there = left_run(client, other, host="gpu-07", heartbeat_age_s=600)
    log = tmp_path / "app.log"

    # when the service starts
    with (
        LoggerService(sink=str(log), format="{level}|{message}"),
        MlflowService(tracking_uri=tracking_uri, experiment_name="mine"),
    ):
        pass

    # then only its own experiment's dead run is reaped, and the log says so
    assert (status(client, dead_here), status(client, dead_there)) == ("KILLED", "RUNNING")
    assert f"WARNING|MLflow run left ({dead_here}) ended KILLED: no heartbeat" in log.read_text()


def test_start_leaves_runs_alone_when_reaping_is_off(
    tracking_uri: str, client: MlflowClient, tmp_path: Path
) -> None:
    mine = client.create_experiment("mine", (tmp_path / "a").as_uri())
    dead = left_run(client, mine, host="gpu-07", heartbeat_age_s=600)

    with MlflowService(tracking_uri=tracking_uri, experiment_name="mine", reaping=False):
        pass

    assert status(client, dead) == "RUNNING"


@pytest.mark.slow
def test_the_log_a_killed_job_left_is_attached_to_its_reaped_run(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a job killed with SIGKILL while its run is open: its log is left in $TMPDIR
    temporary = isolated / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again, here too
    process = start_held_check(isolated / "job.log", without_coverage(os.environ))
    process.kill()
    process.communicate()
    assert len(list(temporary.glob("model_name-run-*"))) == 1

    # when the dead runs of the store are reaped
    code = main(["runs", "reap"])

    # then the reaped run carries that log as logs/run.log, and the folder is gone
    assert code == 0
    assert "the log it left is attached as logs/run.log" in capsys.readouterr().out
    client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("model_name").experiment_id])
    assert run.info.status == "KILLED"
    log = client.download_artifacts(run.info.run_id, "logs/run.log", str(isolated / "down"))
    assert "Check run" in Path(log).read_text(encoding="utf-8")
    assert list(temporary.glob("model_name-run-*")) == []
