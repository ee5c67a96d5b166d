"""The command line: its commands, exit codes and messages, in process and as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from model_name.cli import main
from tests.helpers.expected import BUILT_IN_JOBS, HEAVY_MODULES, JOB_NAMES


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
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs"]) == 0

    lines = capsys.readouterr().out.splitlines()
    kinds = [line.split()[0] for line in lines]
    assert set(kinds) == JOB_NAMES >= BUILT_IN_JOBS
    assert any(line.startswith("check") and "Check the services" in line for line in lines)


def test_config_show_prints_valid_yaml_with_secrets_masked(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["config", "show", "--set", "mlflow.tracking_token=s3cr3t-token"])

    out = capsys.readouterr().out
    assert code == 0
    assert "s3cr3t-token" not in out
    shown = yaml.safe_load(out)
    assert shown["mlflow"]["tracking_token"] == "**********"
    assert shown["logger"]["level"] == "INFO"
    assert set(shown["jobs"]) == JOB_NAMES


def test_config_show_sources_says_where_each_value_came_from(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
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
        (["config", "show", "nope"], "unknown job 'nope'"),
        (["run", "check", "--set", "oops"], "expected KEY.PATH=VALUE"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    isolated: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
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
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "check", "--dry-run"]) == 0

    assert "configuration valid; would run job check" in capsys.readouterr().out
    assert not Path("mlflow.db").exists()


# --- running jobs ----------------------------------------------------------------------------


def test_run_check_succeeds_and_records_a_finished_run(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "check", *store_flags(tracking_uri)])

    assert code == 0
    assert [run.info.status for run in runs(tracking_uri)] == ["FINISHED"]
    assert "Job check succeeded" in capsys.readouterr().err


def test_a_failing_job_exits_1_and_its_run_is_failed(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "check", "--set", "jobs.check.fail=true", *store_flags(tracking_uri)])

    err = capsys.readouterr().err
    assert code == 1
    assert "model_name: error: job check failed: RuntimeError: check job asked to fail" in err
    assert "Traceback" not in err  # the run's logs/run.log has it (tests/test_cli_console.py)
    assert [run.info.status for run in runs(tracking_uri)] == ["FAILED"]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"model_name {version('model_name')}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "arguments", [["--help"], ["jobs"], ["config", "show"], ["config", "schema"]]
)
def test_light_commands_import_no_heavy_library(arguments: list[str]) -> None:
    # given a fresh interpreter, when a light command runs in it
    heavy = list(HEAVY_MODULES)
    code = (
        "import sys\n"
        "from model_name.cli import main\n"
        "try:\n"
        f"    main({arguments!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(name for name in {heavy!r} if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    # then none of the heavy libraries was imported
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.slow
def test_a_reader_closing_the_pipe_early_gets_no_traceback() -> None:
    # given the console script writing the schema into a pipe whose reader is gone already
    script = Path(sys.executable).with_name("model_name")
    result = subprocess.run(
        f"'{script}' config schema | true",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then nothing was printed about the broken pipe
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
