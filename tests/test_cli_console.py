"""What the terminal shows: a failure's line (not a page of traceback), a quiet success, its run."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from model_name.cli import main
from tests.helpers.faults import runs


def store(tracking_uri: str) -> list[str]:
    return ["--set", f"mlflow.tracking_uri={tracking_uri}"]


def run_log(tracking_uri: str, run_id: str, folder: Path) -> str:
    client = MlflowClient(tracking_uri)
    return Path(client.download_artifacts(run_id, "logs/run.log", str(folder))).read_text()


@pytest.fixture
def no_desktop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


def test_a_bug_shows_where_it_happened_in_a_few_lines_and_the_log_keeps_the_traceback(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # when a job raises an exception it did not expect
    code = main(["run", "check", "--set", "jobs.check.fail=true", *store(tracking_uri)])

    # then the terminal has its error lines and where it happened, no traceback
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert "model_name: error: job check failed: RuntimeError: check job asked to fail" in err
    where = [line for line in err.splitlines() if line.startswith("  at ")]
    assert (
        len(where) == 1
        and "model_name/jobs/check.py:" in where[0]
        and " in run: raise " in where[0]
    )
    assert "  (the whole traceback: the run's logs/run.log, or --traceback)" in err
    # and the run, FAILED, keeps the whole traceback in its log
    (run,) = runs(tracking_uri)
    assert run.info.status == "FAILED"
    log = run_log(tracking_uri, run.info.run_id, isolated / "artifacts")
    assert "Traceback (most recent call last)" in log and "check.py" in log


@pytest.mark.parametrize("asking", [["--traceback"], ["--set", "logger.level=DEBUG"]])
def test_the_whole_traceback_is_on_the_terminal_when_asked(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str], asking: list[str]
) -> None:
    code = main(["run", "check", "--set", "jobs.check.fail=true", *asking, *store(tracking_uri)])

    assert code == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_the_traceback_flag_is_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0

    assert "--traceback" in capsys.readouterr().out


def test_an_expected_failure_is_its_error_lines_only(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # when a promotion finds no registered model (an error model_name raises on purpose)
    code = main(["run", "promotion", *store(tracking_uri)])

    # then the terminal says so, with neither a traceback nor frames
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "  at " not in err
    errors = [line for line in err.splitlines() if "ERROR" in line or "error:" in line]
    assert len(errors) == 2
    assert errors[-1].startswith(
        "model_name: error: job promotion failed: cannot promote the latest version"
    )


def test_a_successful_default_job_prints_no_warning_and_ends_with_its_run(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str], no_desktop: None
) -> None:
    # when the default training runs on a machine without a desktop
    code = main(["run", "training", *store(tracking_uri)])

    # then no line is a WARNING, the missing desktop is said once, as information
    err = capsys.readouterr().err
    assert code == 0
    assert "WARNING" not in err, err
    assert err.count("no D-Bus session") == 1
    # and the last line gives the run, its status and how to look at it
    (run,) = runs(tracking_uri)
    run_id, experiment = run.info.run_id, run.info.experiment_id
    assert err.splitlines()[-1] == (
        f"model_name: run {run_id} FINISHED: uv run mlflow ui --backend-store-uri {tracking_uri}, "
        f"then http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id}"
    )


def test_a_plain_loguru_format_is_taken_from_the_command_line(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # when a job runs with a loguru format that is not valid YAML
    code = main(
        ["run", "check", "--set", "logger.format={level} | {message}", *store(tracking_uri)]
    )

    # then it is taken as the string it is
    assert code == 0
    assert "INFO | Job check starting" in capsys.readouterr().err.splitlines()
