"""The fault matrix, bad days: secrets inside URIs, hostile configuration, non-ASCII.

Run as a user would: the command line in this process (`main`), or `python -m model_name` in a
real process where its time and memory are measured, against a real `mlflow server` on 127.0.0.1
or a real SQLite store. The interrupted first run, the full disk and the second Ctrl-C
have their own modules (`test_faults_first_run.py`, `test_faults_full_disk.py`,
`test_faults_signals.py`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from model_name.cli import main
from model_name.redaction import forget_secrets
from tests.helpers.faults import JOB_SECONDS, assert_one_line_error, everything_recorded, runs
from tests.helpers.jobs import check_command
from tests.helpers.servers import free_port, without_coverage

PASSWORD = "Pa55-in-the-URI"
MASKED = "bob:**********@"


def with_password(url: str) -> str:
    """The server's address with basic-auth credentials in its user-info."""
    return url.replace("http://", f"http://bob:{PASSWORD}@", 1)


@pytest.mark.slow
def test_a_password_inside_a_uri_is_never_shown_nor_recorded(
    isolated: Path,
    mlflow_server: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the tracking URI with a password, from MLflow's variable and from --set
    uri = with_password(mlflow_server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setenv("MODEL_NAME_MLFLOW__EXPERIMENT_NAME", "uri-secrets")
    argv = [
        *check_command(isolated / "job.log", "--set", f"mlflow.tracking_uri={uri}")[3:],
        "--set", f"mlflow.registry_uri={uri}", "--set", "jobs.check.fail=true",
    ]  # fmt: skip

    # when `config show --sources` prints it, and a job runs with it (and fails), each in this
    # process as the command line runs them, each remembering nothing of the other (as two
    # processes would not)
    assert main(["config", "show", "--sources"]) == 0
    shown = capfd.readouterr()
    forget_secrets()
    monkeypatch.setattr(sys, "argv", ["model_name", *argv])  # the command a run records
    code = main()
    result = capfd.readouterr()

    # then the real URI reached MLflow: the run is on the server, FAILED as the job asked
    assert code == 1, result.err
    (run,) = runs(mlflow_server, "uri-secrets")
    assert run.info.status == "FAILED"
    # and the password is nowhere: config show, console, log, tags, config.yaml, run.log
    recorded = everything_recorded(MlflowClient(mlflow_server), run, isolated / "artifacts")
    outputs = {
        "config show": shown.out + shown.err,
        "console": result.out + result.err,
        "log": (isolated / "job.log").read_text(),
        "run": recorded,
    }
    for where, text in outputs.items():
        assert PASSWORD not in text, f"the password is in {where}"
    # and the URI is still shown and recorded, its password masked
    assert f"tracking_uri: http://{MASKED}" in shown.out
    assert f"registry_uri: http://{MASKED}" in shown.out
    assert f"mlflow.tracking_uri=http://{MASKED}" in run.data.tags["model_name.command"]
    assert f"tracking_uri: http://{MASKED}" in recorded  # config.yaml


@pytest.mark.slow
def test_the_error_line_for_a_server_down_masks_the_password(
    isolated: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tracking URI with a password where no server listens
    uri = f"http://bob:{PASSWORD}@127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    # when a job starts (in this process, as `model_name run check` runs it)
    code = main(check_command(isolated / "job.log")[3:])

    # then the one error line names the server, its password masked, and so does the log
    result = capfd.readouterr()
    assert code == 1, result.err
    assert_one_line_error(result.err, f"MlflowException: API request to http://{MASKED}127.0.0.1")
    log = (isolated / "job.log").read_text()
    assert "Traceback" in log
    assert PASSWORD not in result.err + result.out + log


def billion_laughs() -> str:
    """Nine anchors, each a list of nine aliases to the previous one: a billion "lol"s."""
    lines = ['lol1: &lol1 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(2, 10):
        lines.append(f"lol{level}: &lol{level} [{','.join([f'*lol{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


MEASURED = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('peak-kib', re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.__stderr__)\n"
    "atexit.register(peak)\n"
    "runpy.run_module('model_name', run_name='__main__', alter_sys=True)\n"
)
"""`python -m model_name` that prints its peak memory when it exits.

`VmHWM` is the peak resident memory of this program alone: `ru_maxrss` of a child counts the
memory of the test process it was forked from.
"""

HOSTILE: dict[str, tuple[dict[str, str | bytes], list[str], str]] = {
    # case: (files, arguments after `run check`, message)
    "billion laughs --config": ({"c.yaml": billion_laughs()}, ["--config", "c.yaml"], "c.yaml: more than 10000 values once its aliases are expanded"),
    "deep nesting --config": ({"c.yaml": "logger: " + "[" * 20000 + "]" * 20000}, ["--config", "c.yaml"], "c.yaml:1:40: nested deeper than 32 levels"),
    "deep nesting --set": ({}, ["--set", "jobs.check.fail=" + "{a: " * 5000 + "1" + "}" * 5000], "is not a valid list or mapping: nested deeper than 32 levels"),
    "too many aliases": ({"c.yaml": "a: &a 1\nb: [" + ",".join(["*a"] * 200) + "]\n"}, ["--config", "c.yaml"], "c.yaml:2:305: more than 100 aliases"),
    "file too large": ({"c.yaml": b"#" * (2 * 1024 * 1024)}, ["--config", "c.yaml"], "c.yaml is larger than 1024 KiB"),
    "experiment name beyond MLflow's 500": ({}, ["--set", "mlflow.experiment_name=" + "e" * 501], "mlflow.experiment_name (from --set mlflow.experiment_name): String should have at most 500 characters"),
    "model name MLflow refuses": ({}, ["--set", "mlflow.registry_name=team/model"], "mlflow.registry_name (from --set mlflow.registry_name): Value error, a registered model's name must not be blank nor hold '/' or ':'"),
    "target beyond a param's 6000": ({}, ["--set", "jobs.training.target=" + "t" * 6001], "jobs.training.target (from --set jobs.training.target): String should have at most 6000 characters"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("files", "arguments", "message"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_configuration_is_refused_in_one_line_in_bounded_time_and_memory(
    isolated: Path, files: dict[str, str | bytes], arguments: list[str], message: str
) -> None:
    # given hostile configuration input
    for name, content in files.items():
        path = isolated / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    # when a job is run with it, in a real process
    started = time.monotonic()
    argv = [sys.executable, "-c", MEASURED, *check_command(isolated / "job.log")[3:], *arguments]
    result = subprocess.run(
        argv, env=without_coverage(os.environ), stderr=subprocess.PIPE, text=True,
        timeout=JOB_SECONDS, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    err = result.stderr
    peak_mib = int(re.findall(r"^peak-kib (\d+)$", err, re.MULTILINE)[-1]) / 1024

    # then it is refused in one line, exit 2, within seconds and without growing, creating nothing
    assert result.returncode == 2, err
    assert_one_line_error(err, message)
    assert elapsed < 15, f"took {elapsed:.1f} s"
    assert peak_mib < 150, f"peak {peak_mib:.0f} MiB"  # the interpreter and pydantic: ~40 MiB
    assert not (isolated / "job.log").exists()
    assert not (isolated / "mlflow.db").exists() and not (isolated / "mlruns").exists()
    print(f"{message[:40]!r}: {elapsed:.2f} s, peak RSS {peak_mib:.0f} MiB")


def test_config_show_prints_non_ascii_as_itself(capsys: pytest.CaptureFixture[str]) -> None:
    # when the configuration holds non-ASCII text
    code = main(["config", "show", "--set", "mlflow.experiment_name=🚀 fusée été"])

    # then it is printed as itself, not escaped
    assert code == 0
    assert "  experiment_name: 🚀 fusée été\n" in capsys.readouterr().out
