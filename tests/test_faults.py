"""The fault matrix: what a user sees, and what is kept, when a run goes wrong.

Every case runs real parts: the real services in this process, or `model_name` as a real
subprocess, against a real SQLite store or a real `mlflow server` on 127.0.0.1. For each case the
test checks the exit code and the one-line message; that every service that started was stopped
(the log sink is gone, no MLflow run is active, MLflow's variables are restored); the run's final
status where a run was opened; and that what was logged before the fault is on disk.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from dependency_injector import providers
from loguru import logger
from mlflow.tracking import MlflowClient

from model_name.cli import main, run_in_container
from model_name.configuration import load_configuration
from model_name.containers import Container, create_container
from model_name.containers import service as build_service
from model_name.io.services import AlertsService, LoggerService, MlflowService, Service
from model_name.jobs import JOBS
from model_name.lifecycle import service_names
from model_name.redaction import forget_secrets
from tests.helpers.doubles import broken
from tests.helpers.faults import JOB_SECONDS, assert_one_line_error, everything_recorded, runs
from tests.helpers.jobs import check_command, start_held_check
from tests.helpers.servers import MlflowServer, free_port, start_server, stop, without_coverage


def assert_everything_stopped(log: Path | None = None) -> None:
    """No MLflow run is active, MLflow's variables are gone, and the log sink was removed."""
    assert mlflow.active_run() is None
    assert {name for name in os.environ if name.startswith("MLFLOW_")} <= {
        "MLFLOW_DISABLE_TELEMETRY"
    }
    if log is not None:
        marker = f"logged after the job {time.monotonic_ns()}"
        logger.info(marker)
        assert not log.exists() or marker not in log.read_text()


# --- services that fail, in this process --------------------------------------------------------


SERVICE_TYPES: dict[str, tuple[type[Service], str]] = {
    "logger_service": (LoggerService, "logger"),
    "alerts_service": (AlertsService, "alerts"),
    "mlflow_service": (MlflowService, "mlflow"),
}


def swap_in(container: Container, name: str, service_type: type[Service]) -> None:
    """Make the container build `service_type` from the same section (it still starts and stops it)."""
    section = getattr(container.config, SERVICE_TYPES[name][1])
    uses = {} if name == "logger_service" else {"logger_service": container.logger_service}
    getattr(container, name).override(
        providers.Resource(build_service, service_type, section, **uses)
    )


def build_container(job_log: Path, tracking_uri: str, *overrides: str) -> Container:
    """A container configured as the command line would, with a file log at DEBUG."""
    flags = [
        f"logger.sink={job_log}",
        "logger.level=DEBUG",
        f"mlflow.tracking_uri={tracking_uri}",
        "alerts.enable=false",
        *overrides,
    ]
    configuration = load_configuration([], flags, {}, JOBS)
    return create_container(configuration.settings)


@pytest.mark.parametrize(
    ("service", "method", "message", "in_log", "run_status"),
    [
        ("logger_service", "start", "a service could not start: RuntimeError: LoggerService start broke", None, None),
        ("alerts_service", "start", "a service could not start: RuntimeError: AlertsService start broke", "alerts_service could not start", None),
        ("mlflow_service", "start", "a service could not start: RuntimeError: MlflowService start broke", "mlflow_service could not start", None),
        ("logger_service", "stop", "stopping a service failed: RuntimeError: LoggerService stop broke", "Job check succeeded", "FINISHED"),
        ("alerts_service", "stop", "stopping a service failed: RuntimeError: AlertsService stop broke", "alerts_service could not stop", "FINISHED"),
        ("mlflow_service", "stop", "stopping a service failed: RuntimeError: MlflowService stop broke", "mlflow_service could not stop", "FINISHED"),
    ],
)  # fmt: skip
def test_a_service_that_fails_to_start_or_stop(
    job_log: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
    service: str,
    method: str,
    message: str,
    in_log: str | None,
    run_status: str | None,
) -> None:
    # given a container whose service fails at start or at stop
    container = build_container(job_log, tracking_uri)
    swap_in(container, service, broken(SERVICE_TYPES[service][0], method))

    # when the check job runs as `model_name run check` would run it
    code = run_in_container(container, "check")

    # then it exits 1 with one line naming the service's error, and every service is stopped
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, message)
    assert not any(getattr(container, name).initialized for name in service_names(container))
    assert_everything_stopped(job_log)
    # and the log on disk tells what happened, with the traceback, while the logger ran
    if in_log is None:
        assert not job_log.exists()  # the logger itself never started
    else:
        assert in_log in job_log.read_text()
    # and a run was opened only when every service started, and it ended
    assert [run.info.status for run in runs(tracking_uri)] == ([run_status] if run_status else [])


class SwallowingMlflowService(MlflowService):
    """An MLflow service whose store turns a Ctrl-C into an error of its own, as SQLAlchemy does
    when the signal lands inside a transaction (PendingRollbackError on the next statement)."""

    def start(self) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises KeyboardInterrupt here
        except KeyboardInterrupt:
            raise RuntimeError("Can't reconnect until invalid transaction is rolled back") from None


def test_a_signal_a_library_turned_into_its_own_error_still_exits_as_interrupted(
    job_log: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a service whose library swallows Ctrl-C and raises its own error instead
    container = build_container(job_log, tracking_uri)
    swap_in(container, "mlflow_service", SwallowingMlflowService)

    # when the check job runs as `model_name run check` would run it
    code = run_in_container(container, "check")

    # then it exits 130, saying it was interrupted and what the library made of it
    assert code == 130
    assert_one_line_error(
        capsys.readouterr().err,
        "job check interrupted (SIGINT), then RuntimeError: Can't reconnect until invalid "
        "transaction is rolled back",
    )
    assert not any(getattr(container, name).initialized for name in service_names(container))
    assert_everything_stopped(job_log)


def test_a_job_that_raises_fails_its_run_and_keeps_its_log(
    job_log: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a job that raises inside its run, after logging and recording a metric
    container = build_container(job_log, tracking_uri, "jobs.check.fail=true")

    # when it runs
    code = run_in_container(container, "check")

    # then it exits 1 with the error in one line; the run is FAILED with its metric
    assert code == 1
    assert_one_line_error(
        capsys.readouterr().err, "job check failed: RuntimeError: check job asked to fail"
    )
    (run,) = runs(tracking_uri)
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"heartbeat": 1.0}
    # and the log has what came before, the traceback and the failure alert
    log = job_log.read_text()
    assert log.index("Check run") < log.index("Job check failed") < log.index("Traceback")
    assert "Alert: check failed: RuntimeError: check job asked to fail" in log
    assert_everything_stopped(job_log)


def test_without_a_notification_backend_the_alert_is_logged_and_the_job_succeeds(
    job_log: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given alerts enabled on a machine without any D-Bus session
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    container = build_container(job_log, tracking_uri, "alerts.enable=true")

    # when the job runs
    code = run_in_container(container, "check")

    # then the outcome is unchanged and the alert reached the log, saying once why
    assert code == 0
    assert capsys.readouterr().err.count("model_name: error") == 0
    log = job_log.read_text()
    assert log.count("alerts go to the log") == 1
    assert "Alert: check succeeded: Job check completed." in log
    assert [run.info.status for run in runs(tracking_uri)] == ["FINISHED"]
    assert_everything_stopped(job_log)


# --- signals and tracking servers, on real processes -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGINT, 130, "KeyboardInterrupt"), (signal.SIGTERM, 143, "Terminated")],
)
def test_a_signal_mid_run_kills_the_run_and_keeps_its_record(
    job_log: Path, tracking_uri: str, signum: int, code: int, name: str
) -> None:
    # given a job holding its run open in a real process
    process = start_held_check(
        job_log, dict(os.environ), "--set", f"mlflow.tracking_uri={tracking_uri}"
    )

    # when it receives the signal
    process.send_signal(signum)
    _, err = process.communicate(timeout=JOB_SECONDS)

    # then it exits with the signal's code and says so in one line
    assert process.returncode == code, err
    reason = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    assert_one_line_error(
        err, f"job check {'interrupted' if code == 130 else 'terminated'} ({reason})"
    )
    # and the run is KILLED, with the buffered heartbeats and its log artifact
    (run,) = runs(tracking_uri)
    assert run.info.status == "KILLED"
    client = MlflowClient(tracking_uri=tracking_uri)
    assert len(client.get_metric_history(run.info.run_id, "heartbeat")) >= 2
    assert "logs" in {item.path for item in client.list_artifacts(run.info.run_id)}
    # and the log has the run's start, the interruption and its alert, then every service stopped
    log = job_log.read_text()
    assert log.index("Check run") < log.index(f"Job check interrupted ({name})")
    assert "Alert: check interrupted" in log


@pytest.mark.slow
def test_an_unreachable_tracking_server_fails_within_seconds(
    job_log: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tracking server address where nothing listens, and MLflow's retries as we set them
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")

    # when a job starts (in this process, as `model_name run check` runs it)
    started = time.monotonic()
    code = main(check_command(job_log)[3:])
    elapsed = time.monotonic() - started

    # then it fails in seconds (MLflow's own retries would take about four minutes), in one line
    err = capfd.readouterr().err
    assert code == 1, err
    assert elapsed < 45, f"took {elapsed:.1f} s"
    assert_one_line_error(err, "a service could not start: MlflowException")
    assert "Connection refused" in err
    # and the log has the retries and the error with its traceback; no local store was made
    log = job_log.read_text()
    assert "Retrying" in log and "mlflow_service could not start" in log
    assert not Path("mlflow.db").exists() and not Path("mlruns").exists()


@pytest.fixture
def own_server(tmp_path: Path, mlflow_store_template: Path) -> Iterator[MlflowServer]:
    """A tracking server for one test, which the test may stop; always stopped after it."""
    folder = tmp_path / "server"
    folder.mkdir()
    server = start_server(folder, mlflow_store_template)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.mark.slow
def test_a_tracking_server_gone_for_good_mid_run_keeps_everything_in_the_outbox(
    job_log: Path, own_server: MlflowServer
) -> None:
    # given a job holding a run open on a tracking server, that waits 2 s for its outbox at the end
    env = {**os.environ, "MLFLOW_TRACKING_URI": own_server.url}
    flags = ("--set", "jobs.check.hold_seconds=4", "--set", "mlflow.drain_seconds=2")
    process = start_held_check(job_log, env, *flags)

    # when the server goes away and does not come back
    stop(own_server.process)
    _, err = process.communicate(timeout=JOB_SECONDS)

    # then the job succeeds (nothing it logged is lost), and one line of its log (stderr by
    # default) says what waits, for which run, and how to send it
    assert process.returncode == 0, err
    assert "model_name: error" not in err
    log = job_log.read_text()
    (line,) = [line for line in log.splitlines() if "not sent to" in line]
    assert re.search(r"\d+ item\(s\) of run\(s\) \w+ not sent to http://127\.0\.0\.1", line)
    assert "`model_name runs sync` sends them" in line
    # and the outbox on disk holds the points, the artifacts and the run's end
    with sqlite3.connect(".model_name/outbox/outbox.db") as outbox:
        kinds = {kind for (kind,) in outbox.execute("SELECT kind FROM items")}
    assert kinds == {"metrics", "artifacts", "end"}
    assert log.index("Check run") < log.index("Job check succeeded") < log.index("not sent to")


# --- bad input: exit 2, one line, nothing started -----------------------------------------------


def write(path: str, content: str | bytes) -> None:
    target = Path(path)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)


BAD_INPUT: dict[str, tuple[dict[str, Any], list[str], dict[str, str], str]] = {
    # case: (files to write, arguments after `run`, environment, message)
    "missing --config": ({}, ["check", "--config", "nope.yaml"], {}, "nope.yaml does not exist"),
    "--config is a folder": ({}, ["check", "--config", "."], {}, "is a directory"),
    "--config not UTF-8": ({"c.yaml": b"\xff\xfe\x00bad"}, ["check", "--config", "c.yaml"], {}, "cannot read configuration file"),
    "empty --config": ({"c.yaml": ""}, ["check", "--config", "c.yaml"], {}, "c.yaml is empty"),
    "malformed --config": ({"c.yaml": "logger: [\n"}, ["check", "--config", "c.yaml"], {}, "c.yaml:2:1: invalid YAML"),
    "malformed containers.yaml": ({"containers.yaml": "alerts:\n  enable: true\n bad: 1\n"}, ["check"], {}, "containers.yaml:3"),
    "unknown job": ({}, ["trainig"], {}, "unknown job 'trainig'; did you mean 'training'?"),
    "unknown key in file": ({"containers.yaml": "logger:\n  levle: DEBUG\n"}, ["check"], {}, "unknown key logger.levle (from containers.yaml:2); did you mean logger.level?"),
    "wrong type in file": ({"containers.yaml": "alerts:\n  timeout: soon\n"}, ["check"], {}, "alerts.timeout (from containers.yaml:2): Input should be a valid integer"),
    "out of range in file": ({"containers.yaml": "jobs:\n  training:\n    test_size: 1.5\n"}, ["check"], {}, "jobs.training.test_size (from containers.yaml:3): Input should be less than 1"),
    "unknown key in environment": ({}, ["check"], {"MODEL_NAME_ALERTS__ENABEL": "true"}, "unknown key alerts.enabel (from environment variable MODEL_NAME_ALERTS__ENABEL); did you mean alerts.enable?"),
    "wrong type in environment": ({}, ["check"], {"MODEL_NAME_ALERTS__TIMEOUT": "soon"}, "alerts.timeout (from environment variable MODEL_NAME_ALERTS__TIMEOUT): Input should be a valid integer"),
    "out of range in environment": ({}, ["check"], {"MODEL_NAME_JOBS__CHECK__HOLD_SECONDS": "-1"}, "jobs.check.hold_seconds (from environment variable MODEL_NAME_JOBS__CHECK__HOLD_SECONDS): Input should be greater than or equal to 0"),
    "unknown key in --set": ({}, ["check", "--set", "mlflow.trackin_uri=x"], {}, "unknown key mlflow.trackin_uri (from --set mlflow.trackin_uri); did you mean mlflow.tracking_uri?"),
    "wrong type in --set": ({}, ["check", "--set", "logger.colorize=maybe"], {}, "logger.colorize (from --set logger.colorize): Input should be a valid boolean"),
    "out of range in --set": ({}, ["check", "--set", "alerts.timeout=-3"], {}, "alerts.timeout (from --set alerts.timeout): Input should be greater than or equal to 0"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("files", "arguments", "environ", "message"), BAD_INPUT.values(), ids=BAD_INPUT
)
def test_bad_input_exits_2_in_one_line_and_starts_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str | bytes],
    arguments: list[str],
    environ: dict[str, str],
    message: str,
) -> None:
    # given bad input from one source
    for path, content in files.items():
        write(path, content)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    # when a job is run with it
    code = main(["run", *arguments, "--set", "logger.sink=job.log"])

    # then the command line says what and where in one line, exits 2, and starts nothing
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, message)
    assert not Path("job.log").exists()
    assert not Path("mlflow.db").exists() and not Path("mlruns").exists()
    assert_everything_stopped()


# --- many jobs at once on a fresh store --------------------------------------------------------


JOBS_AT_ONCE = 3
"""Jobs started together on a fresh store: more than the cores, so their migrations interleave."""


@pytest.mark.slow
def test_several_jobs_at_once_on_a_fresh_sqlite_store_all_succeed(isolated: Path) -> None:
    # given a store that does not exist yet, in a folder that does not exist yet
    store = isolated / "fresh" / "mlflow.db"
    uri = f"sqlite:///{store}"

    # when several jobs start at once, each migrating the store on first use
    processes = [
        subprocess.Popen(
            check_command(isolated / f"job{index}.log", "--set", f"mlflow.tracking_uri={uri}"),
            stderr=subprocess.PIPE,
            text=True,
            env=without_coverage(os.environ),  # several at once: coverage would triple the time
        )
        for index in range(JOBS_AT_ONCE)
    ]
    errors = [process.communicate(timeout=JOB_SECONDS)[1] for process in processes]

    # then every job succeeds, every run is FINISHED, and the store is whole
    assert [process.returncode for process in processes] == [0] * JOBS_AT_ONCE, errors
    assert [run.info.status for run in runs(uri)] == ["FINISHED"] * JOBS_AT_ONCE
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# --- secrets ------------------------------------------------------------------------------------

SECRET = "s3cr3t-Value-42"

SECRET_SOURCES: dict[str, tuple[str, list[str], dict[str, str]]] = {
    # source: (containers.yaml, flags, environment)
    "file": (f"mlflow:\n  tracking_password: {SECRET}\n", [], {}),
    "file via ${VAR}": ("mlflow:\n  tracking_token: ${MY_TOKEN}\n", [], {"MY_TOKEN": SECRET}),
    "environment": ("", [], {"MODEL_NAME_MLFLOW__TRACKING_PASSWORD": SECRET}),
    "--set": ("", ["--set", f"mlflow.tracking_token={SECRET}"], {}),
    "MLflow's variable": ("", [], {"MLFLOW_TRACKING_TOKEN": SECRET}),
}


@pytest.mark.slow
def test_a_secret_from_any_source_is_never_shown_nor_recorded(
    isolated: Path,
    mlflow_server: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    for index, (source, (config, flags, environ)) in enumerate(SECRET_SOURCES.items()):
        # given a secret in one source, for a job tracked on a real server (credentials sent
        # over HTTP), run in this process as `model_name run check` runs it, in its own folder
        folder = isolated / f"source{index}"
        folder.mkdir()
        if config:
            (folder / "containers.yaml").write_text(config)
        argv = [*check_command(folder / "job.log", *flags)[3:], "--set", "jobs.check.fail=true"]
        forget_secrets()  # what the previous job remembered must not mask this one's output
        capfd.readouterr()

        # when the job runs (and fails, so the failure path is searched too)
        with monkeypatch.context() as scoped:
            scoped.chdir(folder)
            for name, value in {
                **environ,
                "MLFLOW_TRACKING_URI": mlflow_server,
                "MODEL_NAME_MLFLOW__EXPERIMENT_NAME": f"secrets-{index}",
            }.items():
                scoped.setenv(name, value)
            scoped.setattr(sys, "argv", ["model_name", *argv])  # the command a run records
            code = main()
        out, err = capfd.readouterr()
        assert code == 1, (source, err)
        (run,) = runs(mlflow_server, f"secrets-{index}")

        # then the secret is nowhere: output, log, params, tags, artifacts
        recorded = everything_recorded(client, run, folder / "artifacts")
        for where, text in {
            "stdout": out,
            "stderr": err,
            "log": (folder / "job.log").read_text(),
            "run": recorded,
        }.items():
            assert SECRET not in text, f"secret from {source} found in {where}"
        # and the recorded configuration says a secret was set, without its value
        if (
            source != "MLflow's variable"
        ):  # MLflow reads its own variable; our settings never hold it
            assert ": '**********'" in recorded
