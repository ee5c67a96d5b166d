"""`model_name runs reap` and `runs sync` as a user runs them: output lines and exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.cli import main
from tests.helpers.servers import free_port
from tests.helpers.tracking import left_run


@pytest.fixture
def experiment(tracking_uri: str, tmp_path: Path) -> str:
    client = MlflowClient(tracking_uri=tracking_uri)
    return client.create_experiment("model_name", (tmp_path / "artifacts").as_uri())


def test_reap_says_each_run_and_a_summary(
    tracking_uri: str, experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient(tracking_uri=tracking_uri)
    dead = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600, name="old")
    left_run(client, experiment, host="gpu-07", heartbeat_age_s=1)

    code = main(["runs", "reap", "--grace", "60", "--set", f"mlflow.tracking_uri={tracking_uri}"])

    assert code == 0
    out = capsys.readouterr().out.splitlines()
    # the heartbeat's age is read a moment after it was written: 600 s, or 601 on a slow machine
    assert re.fullmatch(
        rf"reaped run {dead} \(old\): no heartbeat for 60[01] s \(grace 60 s\), last from gpu-07",
        out[0],
    )
    assert out[1:] == [
        "reaped 1 run(s) in experiment 'model_name'; 1 RUNNING run(s) alive, "
        "0 without a heartbeat left alone",
    ]
    assert client.get_run(dead).info.status == "KILLED"


def test_reap_dry_run_changes_nothing(
    tracking_uri: str, experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient(tracking_uri=tracking_uri)
    dead = left_run(client, experiment, host="gpu-07", heartbeat_age_s=600, name="old")

    code = main(["runs", "reap", "--dry-run", "--set", f"mlflow.tracking_uri={tracking_uri}"])

    assert code == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"would reap run {dead} (old)")
    assert client.get_run(dead).info.status == "RUNNING"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--experiment", "nope"], "no experiment named 'nope' at sqlite:///"),
        (["--grace", "0"], "--grace must be a positive number of seconds, not 0"),
    ],
)
def test_reap_bad_input_is_one_line_and_exit_2(
    tracking_uri: str,
    experiment: str,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    code = main(["runs", "reap", *arguments, "--set", f"mlflow.tracking_uri={tracking_uri}"])

    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("model_name: error: ") and message in err[0]


def test_sync_with_nothing_left_says_so(
    tracking_uri: str, experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["runs", "sync", "--set", f"mlflow.tracking_uri={tracking_uri}"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"sent 0 item(s) of 0 run(s) to {tracking_uri}; nothing left to send"
    ]


@pytest.mark.slow
def test_sync_sends_what_a_dead_job_left_in_the_outbox(
    tracking_uri: str, experiment: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a process that wrote a run's points and end into the outbox, then died unsent
    # (its sender stopped at once, as if the server had been away all along)
    script = f"""
from model_name.io.services import MlflowService, RunConfig
service = MlflowService(tracking_uri={tracking_uri!r}, drain_seconds=0, heartbeat_seconds=60)
service.start()
service._writer.delivery.sender.stop()  # the sender never ships: as if the server had been away all along
with service.run_context(RunConfig(name="left")) as run:
    for step in range(300):
        service.log_metrics({{"loss": step / 10}}, step=step)
print(run.info.run_id)
import os; os._exit(0)  # die without stopping anything
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    run_id = result.stdout.split()[-1]
    client = MlflowClient(tracking_uri=tracking_uri)
    assert client.get_run(run_id).info.status == "RUNNING"

    # when the outbox is synced, twice
    first = main(["runs", "sync", "--set", f"mlflow.tracking_uri={tracking_uri}"])
    second = main(["runs", "sync", "--set", f"mlflow.tracking_uri={tracking_uri}"])

    # then the first sends everything, the second nothing, and the run is whole
    out = capsys.readouterr().out.splitlines()
    assert (first, second) == (0, 0)
    assert out[0].startswith(
        f"sent 302 item(s) of 1 run(s) to {tracking_uri}"
    )  # 300 points, log, end
    assert out[1] == f"sent 0 item(s) of 0 run(s) to {tracking_uri}; nothing left to send"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run_id, "loss")) == 300
    assert {a.path for a in client.list_artifacts(run_id)} == {"logs"}


def test_sync_against_a_server_that_does_not_answer_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    url = f"http://user:s3cr3t@127.0.0.1:{free_port()}"

    code = main(["runs", "sync", "--set", f"mlflow.tracking_uri={url}"])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("model_name: error: MlflowException: ")
    assert "s3cr3t" not in err[0]


def test_a_password_in_the_store_uri_is_masked_in_the_error_line(
    mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a store URI with a password in it, on a real server
    uri = mlflow_server.replace("http://", "http://me:s3cr3t@")

    # when the experiment asked for does not exist there
    code = main(["runs", "reap", "--experiment", "nope", "--set", f"mlflow.tracking_uri={uri}"])

    # then the one error line names the store with its password masked as everywhere else
    err = capsys.readouterr().err
    assert code == 2
    masked = mlflow_server.replace("http://", "http://me:**********@")
    assert err.splitlines()[-1] == f"model_name: error: no experiment named 'nope' at {masked}"
    assert "s3cr3t" not in err
