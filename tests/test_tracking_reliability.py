"""The fault matrix of tracking: killed processes, servers that go away, offline runs.

Each case runs `model_name` as real processes against real stores (SQLite, `mlflow server` on
127.0.0.1) and checks what the user sees (exit code, one line) and what is kept (statuses,
points counted, artifacts).
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.cli import main
from tests.helpers.jobs import check_command, start_check, wait_for_run
from tests.helpers.servers import MlflowServer, free_port, start_server, stop

KILLED_JOBS = 4
"""Jobs killed with SIGKILL: enough for waves of several at once (each is a Python start)."""
AT_ONCE = 2
SERVER_DOWN_SECONDS = 10.0
"""How long the server stays away mid-run here (30 s in benchmarks/bench_outbox.py)."""
JOB_SECONDS = 180


def wait_for_outboxed_end(outbox: Path, run_id: str) -> None:
    """Wait until the run's end is written in the outbox (the log line "ends" comes before it)."""
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        if outbox.exists():
            with contextlib.closing(sqlite3.connect(outbox, timeout=30)) as connection:
                query = "SELECT COUNT(*) FROM items WHERE run_id = ? AND kind = 'end'"
                if connection.execute(query, (run_id,)).fetchone()[0]:
                    return
        time.sleep(0.1)
    raise AssertionError(f"the end of run {run_id} never reached the outbox {outbox}")


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
    # and jobs killed with SIGKILL at random moments of their runs, a few at once; they
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
                    "mlflow.reaping=false",
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


# --- the tracking server goes away mid-run, then comes back -----------------------------------


@pytest.fixture
def own_server(isolated: Path, mlflow_store_template: Path) -> Iterator[MlflowServer]:
    """A server of this test's own (it is stopped and started again), always stopped at the end."""
    folder = isolated / "server"
    folder.mkdir()
    servers = [start_server(folder, mlflow_store_template)]
    try:
        yield servers[0]
    finally:
        for server in servers:
            stop(server.process)


def restart(server: MlflowServer) -> MlflowServer:
    """Start the server again on its own store and port, as an operator would."""
    port = int(server.url.rsplit(":", 1)[1])
    return start_server(server.folder, port=port)


def beats_logged(log: Path) -> int:
    """How many heartbeat points the check job says it logged."""
    found = re.search(r"Check done: (\d+) heartbeat\(s\) logged", log.read_text())
    assert found is not None, log.read_text()
    return int(found.group(1))


def assert_run_complete(client: MlflowClient, run_id: str, beats: int, status: str) -> None:
    """The run has its status, every heartbeat point (counted), and both artifacts."""
    run = client.get_run(run_id)
    assert run.info.status == status
    history = client.get_metric_history(run_id, "heartbeat")
    assert sorted(point.step for point in history) == list(range(beats))  # 0 lost, 0 twice
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.yaml", "logs"}
    assert [a.path for a in client.list_artifacts(run_id, "logs")] == ["logs/run.log"]


@pytest.mark.slow
def test_a_server_away_mid_run_loses_nothing_and_the_job_succeeds(
    isolated: Path, own_server: MlflowServer
) -> None:
    # given a check job logging a heartbeat point every 0.5 s on a real tracking server
    log = isolated / "job.log"
    flags = [
        "--set", f"mlflow.tracking_uri={own_server.url}",
        "--set", "jobs.check.hold_seconds=8", "--set", "jobs.check.beat_seconds=0.5",
        "--set", "mlflow.metrics_flush_seconds=1", "--set", "mlflow.heartbeat_seconds=1",
    ]  # fmt: skip
    job = start_check(log, *flags)
    run_id = wait_for_run(log, job)

    # when the server goes away for a while in the middle of the run, then comes back
    time.sleep(2)
    stop(own_server.process)
    time.sleep(SERVER_DOWN_SECONDS)
    back = restart(own_server)
    try:
        _, err = job.communicate(timeout=JOB_SECONDS)

        # then the job succeeds, and every point, both artifacts and FINISHED are on the server
        assert job.returncode == 0, err
        assert "model_name: error" not in err
        assert_run_complete(MlflowClient(back.url), run_id, beats_logged(log), "FINISHED")
        assert "the tracking server cannot be reached" in log.read_text()
    finally:
        stop(back.process)


@pytest.mark.slow
def test_a_reaped_run_whose_outbox_arrives_later_takes_its_true_status(
    isolated: Path, own_server: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a job that ended its run while the server was away, and was then killed (SIGKILL)
    # before its outbox could be sent
    log = isolated / "job.log"
    store = ("--set", f"mlflow.tracking_uri={own_server.url}")
    flags = ["--set", "jobs.check.hold_seconds=2", "--set", "mlflow.drain_seconds=600"]
    job = start_check(log, *store, *flags)
    run_id = wait_for_run(log, job)
    stop(own_server.process)
    wait_for_outboxed_end(isolated / ".model_name" / "outbox" / "outbox.db", run_id)
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=10)
    back = restart(own_server)
    try:
        client = MlflowClient(back.url)
        assert client.get_run(run_id).info.status == "RUNNING"

        # when the run is reaped (its process is gone), then the outbox is synced
        assert main(["runs", "reap", *store]) == 0
        reaped = client.get_run(run_id)
        sync_code = main(["runs", "sync", *store])

        # then the reaper ended it KILLED, and the outbox gave it its true status and content
        assert reaped.info.status == "KILLED"
        assert sync_code == 0
        out = capsys.readouterr().out.splitlines()
        assert re.fullmatch(
            r"sent \d+ item\(s\) of 1 run\(s\) to .*; nothing left to send", out[-1]
        )
        assert_run_complete(client, run_id, beats_logged(log), "FINISHED")
        assert client.get_run(run_id).data.tags["model_name.reaped"] == "true"  # history kept
    finally:
        stop(back.process)


# --- no server at start: mode auto, then sync ----------------------------------------------------


@pytest.mark.slow
def test_server_down_at_start_in_auto_mode_tracks_offline_and_syncs_once(
    isolated: Path, mlflow_store_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a tracking server address where nothing listens yet
    folder = isolated / "server"
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = isolated / "job.log"
    flags = ["--set", f"mlflow.tracking_uri={url}", "--set", "mlflow.mode=auto"]

    # when a job runs in auto mode (in this process, as `model_name run check` runs it)
    code = main(check_command(log, *flags, "--set", "jobs.check.hold_seconds=2")[3:])

    # then it succeeds offline, and its log says so in one line
    err = capsys.readouterr().err  # and only the syncs' output below
    assert code == 0, err
    (line,) = [line for line in log.read_text().splitlines() if "tracking offline into" in line]
    assert f"the tracking server at {url} does not answer; tracking offline into" in line
    assert "`model_name runs sync` uploads the runs" in line
    assert f"Alert: tracking offline: The tracking server at {url} does not answer" in (
        log.read_text()
    )

    # when the server is up and the runs are synced twice
    server = start_server(folder, mlflow_store_template, port=port)
    try:
        first = main(["runs", "sync", *flags[:2]])
        second = main(["runs", "sync", "--to", url])

        # then the first uploads the run whole (a progress line, then the summary), the second
        # nothing (MLflow's own "View run" lines aside)
        out = [
            line
            for line in capsys.readouterr().out.splitlines()
            if line.startswith(("sent ", "uploaded "))
        ]
        assert out[1].startswith("uploaded run check (")
        assert (first, second) == (0, 0)
        assert out[2].startswith("uploaded 1 offline run(s) to http://127.0.0.1")
        assert out[-1].startswith(f"uploaded 0 offline run(s) to {url}; 1 already there")
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("model_name")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        offline = MlflowClient(f"sqlite:///{isolated / '.model_name/offline/mlflow.db'}")
        assert run.data.tags["model_name.source_run_id"] in {
            r.info.run_id for r in offline.search_runs(["1"])
        }
        assert_run_complete(client, run.info.run_id, beats_logged(log), "FINISHED")
        history = client.get_metric_history(run.info.run_id, "heartbeat")
        source = offline.get_metric_history(run.data.tags["model_name.source_run_id"], "heartbeat")
        assert sorted((p.step, p.timestamp) for p in history) == sorted(
            (p.step, p.timestamp) for p in source
        )
    finally:
        stop(server.process)


@pytest.mark.slow
def test_an_offline_training_syncs_its_model_and_version_once(
    isolated: Path, mlflow_server_instance: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a training job run offline (it logs and registers its model in the offline store)
    url = mlflow_server_instance.url
    experiment = f"offline-training-{time.monotonic_ns()}"
    model = f"offline-model-{time.monotonic_ns()}"
    flags = [
        "--set", "mlflow.mode=offline", "--set", f"mlflow.experiment_name={experiment}",
        "--set", f"mlflow.registry_name={model}", "--set", "alerts.enable=false",
        "--set", f"logger.sink={isolated / 'job.log'}",
    ]  # fmt: skip
    assert main(["run", "training", *flags]) == 0

    # when the offline runs are synced to the server twice
    first = main(["runs", "sync", "--to", url])
    second = main(["runs", "sync", "--to", url])

    # then the first registers the version once, pointing at the copied model, which loads
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith("uploaded ")]
    assert (first, second) == (0, 0)
    assert out[-2].endswith("; 1 model version(s) registered")
    assert out[-1].endswith(
        "1 already there, 0 still running offline; 0 model version(s) registered"
    )
    client = MlflowClient(url)
    (version,) = client.search_model_versions(f"name = '{model}'")
    assert version.tags["model_name.source_version"] == f"{model}/1"
    assert client.get_run(version.run_id).data.metrics["r2"] > 0.3
    import mlflow

    mlflow.set_tracking_uri(url)
    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{model}/{version.version}")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert loaded.metadata.get_input_schema() is not None  # the signature came along
