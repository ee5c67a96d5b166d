"""The command line: its commands, exit codes and messages, in process and as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from model_name.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, so nothing lands in the repository and no containers.yaml applies."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("MODEL_NAME_", "MLFLOW_")):
            monkeypatch.delenv(name)
    return tmp_path


def store_flags(tracking_uri: str) -> list[str]:
    return ["--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "alerts.enable=false"]


def runs(tracking_uri: str) -> list:  # type: ignore[type-arg]
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    return client.search_runs([experiment.experiment_id])


# --- light commands --------------------------------------------------------------------------


def test_help_lists_the_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "run" in out and "jobs" in out and "config" in out
    assert "130 interrupted (SIGINT)" in out


def test_jobs_lists_each_job_with_its_summary(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs"]) == 0

    lines = capsys.readouterr().out.splitlines()
    kinds = [line.split()[0] for line in lines]
    assert {"training", "promotion", "inference", "check"} <= set(kinds)
    assert any(line.startswith("check") and "Check the services" in line for line in lines)


def test_config_show_prints_valid_yaml_with_secrets_masked(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["config", "show", "--set", "mlflow.tracking_token=s3cr3t-token"])

    out = capsys.readouterr().out
    assert code == 0
    assert "s3cr3t-token" not in out
    shown = yaml.safe_load(out)
    assert shown["mlflow"]["tracking_token"] == "**********"
    assert shown["logger"]["level"] == "INFO"
    assert set(shown["jobs"]) == {"training", "promotion", "inference", "check"}


def test_config_show_sources_says_where_each_value_came_from(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a value at each level
    Path("containers.yaml").write_text("alerts:\n  app_name: from-file\n")
    monkeypatch.setenv("MODEL_NAME_ALERTS__TIMEOUT", "5")

    # when the configuration is shown with its sources
    code = main(["config", "show", "check", "--sources", "--set", "logger.level=DEBUG"])

    # then each line names its origin, and only the asked job is shown
    out = capsys.readouterr().out
    assert code == 0
    assert "app_name: from-file  # containers.yaml:2" in out
    assert "timeout: 5  # environment variable MODEL_NAME_ALERTS__TIMEOUT" in out
    assert "level: DEBUG  # --set logger.level" in out
    assert "serialize: false  # default" in out
    assert "check:" in out and "training:" not in out


# --- errors: exit code 2, one clear line, no traceback -----------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "trainig"], "unknown job 'trainig'; did you mean 'training'?"),
        (["config", "show", "nope"], "unknown job 'nope'"),
        (["run", "check", "--set", "logger.levle=DEBUG"], "did you mean logger.level?"),
        (
            ["run", "check", "--set", "alerts.timeout=-3"],
            "alerts.timeout (from --set alerts.timeout)",
        ),
        (["run", "check", "--set", "oops"], "expected KEY.PATH=VALUE"),
        (["run", "check", "--config", "missing.yaml"], "missing.yaml does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("model_name: error: ")
    assert "Traceback" not in err
    assert not Path("mlflow.db").exists()


def test_a_bad_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_dry_run_validates_and_starts_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "check", "--dry-run"]) == 0

    assert "configuration valid; would run job check" in capsys.readouterr().out
    assert not Path("mlflow.db").exists()


# --- running jobs ----------------------------------------------------------------------------


def test_run_check_succeeds_and_records_a_finished_run(
    workdir: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "check", *store_flags(tracking_uri)])

    assert code == 0
    assert [run.info.status for run in runs(tracking_uri)] == ["FINISHED"]
    assert "Job check succeeded" in capsys.readouterr().err


def test_a_failing_job_exits_1_and_its_run_is_failed(
    workdir: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "check", "--set", "jobs.check.fail=true", *store_flags(tracking_uri)])

    err = capsys.readouterr().err
    assert code == 1
    assert "model_name: error: job check failed: RuntimeError: check job asked to fail" in err
    assert "Traceback" in err  # the log has the traceback; the last line is the summary
    assert [run.info.status for run in runs(tracking_uri)] == ["FAILED"]


def test_an_unreachable_tracking_server_fails_cleanly(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tracking server that does not answer (a closed local port) and a short retry budget
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")

    started = time.monotonic()
    code = main(
        [
            "run",
            "check",
            "--set",
            "mlflow.tracking_uri=http://127.0.0.1:9",
            "--set",
            "alerts.enable=false",
        ]
    )

    assert code == 1
    assert time.monotonic() - started < 60
    assert "model_name: error: job check failed" in capsys.readouterr().err


# --- signals, on a real process --------------------------------------------------------------


def start_held_job(workdir: Path, tracking_uri: str) -> subprocess.Popen[str]:
    log = workdir / "job.log"
    command = [
        sys.executable, "-m", "model_name", "run", "check",
        "--set", "jobs.check.hold_seconds=60",
        "--set", f"logger.sink={log}",
        *store_flags(tracking_uri),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=workdir, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and "Check run" in log.read_text():
            return process
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.1)
    process.kill()
    pytest.fail("the job never opened its run")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGINT, 130, "KeyboardInterrupt"), (signal.SIGTERM, 143, "Terminated")],
)
def test_a_signal_mid_run_unwinds_the_job(
    workdir: Path, tracking_uri: str, signum: int, code: int, name: str
) -> None:
    # given a job holding its run open in a real process
    process = start_held_job(workdir, tracking_uri)

    # when it receives the signal
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)

    # then it exits with the signal's code, the run is KILLED, the interruption was alerted
    assert process.returncode == code, err
    assert [run.info.status for run in runs(tracking_uri)] == ["KILLED"]
    log = (workdir / "job.log").read_text()
    assert f"Job check interrupted ({name})" in log
    assert "check interrupted" in log  # the alert, sent to the log as alerts are disabled
    assert "Traceback" not in err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"model_name {version('model_name')}"
