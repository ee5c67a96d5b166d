"""Alert channels end to end: what a job's alerts say on real servers, and what they never cost.

The check job runs as `model_name run check` runs it (`run_in_container` or `main`, in this
process), or as a real `python -m model_name` process where a signal matters.
The channels point at a recording HTTP server and an SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from model_name.cli import main, run_in_container
from model_name.configuration import load_configuration
from model_name.containers import create_container
from model_name.jobs import JOBS
from tests.helpers.faults import JOB_SECONDS, everything_recorded, runs
from tests.helpers.http_server import RecordingHTTPServer
from tests.helpers.jobs import check_command
from tests.helpers.servers import free_port, without_coverage
from tests.helpers.smtp_server import SMTP_PASSWORD, SmtpServer

JSON_PASSWORD = "json-pa55-7c1e9b"
WEBHOOK_TOKEN = "mmost-t0ken-5b8d2a9f"


def run_check(job_log: Path, *flags: str) -> int:
    """Run the check job as the command line would, logging at DEBUG to a file."""
    overrides = [
        f"logger.sink={job_log}",
        "logger.level=DEBUG",
        "alerts.enable=false",
        *flags,
    ]
    configuration = load_configuration([], overrides, {}, JOBS)
    return run_in_container(create_container(configuration.settings), "check")


def alert_wait(job_log: Path) -> float:
    """Seconds between a job's alert and the last channel's outcome, by the log's timestamps."""

    def when(line: str) -> float:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()

    text = job_log.read_text().splitlines()
    [alert] = [line for line in text if " - Alert: " in line]
    outcomes = [line for line in text if " - alerts: channel " in line]
    assert outcomes, f"no channel outcome in {job_log}"
    return when(outcomes[-1]) - when(alert)


def only_request(server: RecordingHTTPServer) -> dict[str, str]:
    [request] = server.requests
    payload: dict[str, str] = request.json()
    return payload


# --- one test per outcome -------------------------------------------------------------------


@pytest.mark.slow
def test_a_success_alert_gives_duration_metrics_and_a_link_to_the_run(
    isolated: Path, http_server: RecordingHTTPServer, mlflow_server: str
) -> None:
    # given a json:// channel and a tracking server with an HTTP address
    experiment = f"alerts-{time.monotonic_ns()}"

    # when the check job succeeds
    code = run_check(
        isolated / "job.log",
        f"alerts.channels=json://{http_server.netloc}/alerts",
        f"mlflow.tracking_uri={mlflow_server}",
        f"mlflow.experiment_name={experiment}",
    )

    # then the channel got the outcome, the duration, the heartbeat metric and the run's link
    assert code == 0
    client = MlflowClient(tracking_uri=mlflow_server)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    [run] = client.search_runs([found.experiment_id])
    payload = only_request(http_server)
    assert (payload["title"], payload["type"]) == ("check succeeded", "success")
    message = payload["message"]
    assert message.startswith("**Job `check` succeeded.**\n\nDuration: ")
    assert "- heartbeat: **1**" in message
    link = f"{mlflow_server}/#/experiments/{found.experiment_id}/runs/{run.info.run_id}"
    assert message.endswith(f"[Open the run in MLflow]({link})")


@pytest.mark.slow
def test_a_failure_alert_gives_the_error_line(
    isolated: Path, http_server: RecordingHTTPServer, tracking_uri: str
) -> None:
    # given a json:// channel and a local SQLite store (no UI address to link to)
    # when the check job fails
    code = run_check(
        isolated / "job.log",
        f"alerts.channels=json://{http_server.netloc}/alerts",
        f"mlflow.tracking_uri={tracking_uri}",
        "jobs.check.fail=true",
    )

    # then the job failed as always, and the channel got the error's line and no link
    assert code == 1
    payload = only_request(http_server)
    assert (payload["title"], payload["type"]) == ("check failed", "failure")
    assert (
        "Error: `RuntimeError: check job asked to fail (jobs.check.fail=true)`"
        in payload["message"]
    )
    assert "- heartbeat: **1**" in payload["message"]
    assert "#/experiments" not in payload["message"]


@pytest.mark.slow
def test_an_interrupted_job_alerts_the_interruption(
    isolated: Path, http_server: RecordingHTTPServer, tracking_uri: str
) -> None:
    # given a real job process holding its run open, with a json:// channel
    job_log = isolated / "job.log"
    argv = [
        sys.executable, "-m", "model_name", "run", "check",
        "--set", f"logger.sink={job_log}", "--set", "alerts.enable=false",
        "--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "jobs.check.hold_seconds=60",
        "--set", f"alerts.channels=json://{http_server.netloc}/alerts",
    ]  # fmt: skip
    env = without_coverage(os.environ)
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + JOB_SECONDS
        while not (job_log.exists() and "Check run" in job_log.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, "no run opened"
            time.sleep(0.1)

        # when it is interrupted (Ctrl-C)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=JOB_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # then it exits 130 as always, and the channel was told, as a warning
    assert process.returncode == 130, err
    payload = only_request(http_server)
    assert (payload["title"], payload["type"]) == ("check interrupted", "warning")
    assert "Job stopped by KeyboardInterrupt." in payload["message"]


# --- never in the way ------------------------------------------------------------------------


@pytest.mark.slow
def test_dead_channels_cost_at_most_the_bound_and_change_no_exit_code(
    isolated: Path, http_server: RecordingHTTPServer, tracking_uri: str
) -> None:
    # given a channel that never answers and one where nothing listens, bounded to 2 s
    http_server.mode = "hang"
    dead = [
        f"alerts.channels=json://{http_server.netloc}/hang mmost://127.0.0.1:{free_port()}/x1y2z3",
        "alerts.channels_timeout_seconds=2",
    ]

    # when the same job runs with them, succeeding, then failing
    codes = {
        name: run_check(isolated / f"{name}.log", f"mlflow.tracking_uri={tracking_uri}", *flags)
        for name, flags in {"dead": dead, "dead, failing": [*dead, "jobs.check.fail=true"]}.items()
    }

    # then the exit codes are the job's own, and the alert waited for the bound and no more
    # (timed by the log's own clock, from the alert to the channels' failures: what the job pays
    # after its work, whatever the machine's load before it)
    assert codes == {"dead": 0, "dead, failing": 1}
    for name in codes:
        waited = alert_wait(isolated / f"{name}.log")
        assert 1.9 <= waited < 2.0 + 1.5, f"{name}: {waited:.3f} s"
    log = (isolated / "dead.log").read_text()
    assert "alerts: channel 0 (json://" in log and "failed: no answer within 2 s" in log
    assert "alerts: channel 1 (mmost://" in log and "Connection refused" in log


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_secret_parts_of_the_channels_appear_in_no_output(
    isolated: Path,
    http_server: RecordingHTTPServer,
    smtp_server: SmtpServer,
    tracking_uri: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given three channels with secrets: a json:// password, a webhook token (on a closed
    # port, so it fails and is logged), and an SMTP password; given on the command line
    channels = " ".join(
        [
            f"json://model_name:{JSON_PASSWORD}@{http_server.netloc}/alerts",
            f"mmost://127.0.0.1:{free_port()}/{WEBHOOK_TOKEN}",
            smtp_server.mailto(),
        ]
    )
    job_log = isolated / "job.log"
    argv = check_command(
        job_log,
        "--set", f"mlflow.tracking_uri={tracking_uri}",
        "--set", f"alerts.channels={channels}",
    )[3:]  # fmt: skip

    # when the job runs as the command line runs it (in this process, its output captured)
    monkeypatch.setattr(sys, "argv", ["model_name", *argv])  # the command its run records
    code = main()
    result = capfd.readouterr()

    # then it succeeded and the two live channels received the alert
    assert code == 0, result.err
    assert only_request(http_server)["title"] == "check succeeded"
    assert [mail["Subject"] for mail in smtp_server.messages] == ["check succeeded"]
    # and no secret is in its output, its log, or its run's params, tags and artifacts
    [run] = runs(tracking_uri)
    recorded = [
        result.out,
        result.err,
        job_log.read_text(),
        everything_recorded(MlflowClient(tracking_uri), run, isolated / "artifacts"),
    ]
    assert "alerts: channel 1 (mmost://" in job_log.read_text()  # the failure was logged
    assert "alerts.channels=**********" in run.data.tags["model_name.command"]
    for secret in (JSON_PASSWORD, WEBHOOK_TOKEN, SMTP_PASSWORD):
        assert not [text for text in recorded if secret in text], secret


def test_a_malformed_channel_exits_2_in_one_line_before_anything_starts(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a second channel without a scheme, holding a secret, from the environment
    monkeypatch.setenv("MODEL_NAME_ALERTS__CHANNELS", "json://127.0.0.1:9/x t0ken-without-scheme")

    # when the job is run
    code = main(["run", "check", "--set", "logger.sink=job.log"])

    # then it exits 2 with one line naming the key, its index and its origin, not the URL
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "model_name: error: alerts.channels[1] (from environment variable "
        "MODEL_NAME_ALERTS__CHANNELS): Value error, not a notification URL: expected "
        "scheme://... (slack://..., mailto://..., json://...)"
    ]
    assert not (isolated / "job.log").exists() and not (isolated / "mlflow.db").exists()


def test_a_channel_apprise_cannot_use_exits_2_before_any_service_starts(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a channel of an unknown service, holding a secret
    flags = ["--set", "logger.sink=job.log", "--set", "alerts.channels=nosuch://t0p-s3cret@x"]

    # when the job is run, and when it is only dry-run
    codes = [main(["run", "check", *flags]), main(["run", "check", "--dry-run", *flags])]

    # then both exit 2 in one line, without the secret, and nothing was started
    err = capsys.readouterr().err
    assert codes == [2, 2]
    assert err.splitlines() == 2 * [
        "model_name: error: alerts.channels[0]: Apprise cannot use this nosuch:// URL (an "
        "unknown service, or a part missing or malformed; see https://github.com/caronc/apprise/wiki)"
    ]
    assert not (isolated / "job.log").exists() and not (isolated / "mlflow.db").exists()


def test_channels_come_from_the_environment_through_the_file_and_show_masked(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a file listing two channels as ${VAR}, set in the environment
    (isolated / "containers.yaml").write_text(
        "alerts:\n  channels:\n    - ${SLACK_URL}\n    - ${MAIL_URL}\n", encoding="utf-8"
    )
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    mail = f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:25?mode=insecure&to=team@example.org"
    environ = {"SLACK_URL": slack, "MAIL_URL": mail}

    # when the configuration is loaded, and shown
    configuration = load_configuration(None, [], environ, JOBS)
    os.environ.update(environ)
    try:
        code = main(["config", "show", "--sources"])
    finally:
        for name in environ:
            del os.environ[name]

    # then both URLs are read whole, and `config show` masks them
    channels = configuration.settings.alerts.channels
    assert [url.get_secret_value() for url in channels] == [slack, mail]
    out = capsys.readouterr().out
    assert code == 0
    assert "  channels: ['**********', '**********']  # containers.yaml:3" in out.splitlines()
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in out and SMTP_PASSWORD not in out
