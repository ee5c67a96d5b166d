"""What an alert says: composed from a job's outcome, duration, metrics, error and run."""

from __future__ import annotations

import pytest

from model_name.jobs.messages import compose, duration, headline, run_url


def test_a_success_says_the_job_the_duration_the_metrics_and_the_link() -> None:
    alert = compose(
        "training",
        "success",
        seconds=83.2,
        metrics={"rmse": 53.1234, "r2": 0.4567},
        run_url="http://127.0.0.1:5000/#/experiments/1/runs/ab12",
    )
    assert (alert.title, alert.body.severity) == ("training succeeded", "success")
    assert alert.body == (
        "Job training completed. Duration 1 min 23 s. Metrics: rmse 53.12, r2 0.4567. "
        "Run: http://127.0.0.1:5000/#/experiments/1/runs/ab12"
    )
    assert alert.body.markdown == (
        "**Job `training` succeeded.**\n\n"
        "Duration: 1 min 23 s\n\n"
        "- rmse: **53.12**\n- r2: **0.4567**\n\n"
        "[Open the run in MLflow](http://127.0.0.1:5000/#/experiments/1/runs/ab12)"
    )


def test_a_failure_gives_the_error_in_one_line() -> None:
    alert = compose("check", "failure", seconds=0.5, error=ValueError("bad\n  `input`"))
    assert (alert.title, alert.body.severity) == ("check failed", "failure")
    assert alert.body == "ValueError: bad `input`. Duration 0.5 s."
    assert alert.body.markdown == (
        "**Job `check` failed.**\n\nError: `ValueError: bad 'input'`\n\nDuration: 0.5 s"
    )


def test_an_interruption_names_the_signal() -> None:
    alert = compose("check", "interrupted", seconds=12.0, error=KeyboardInterrupt())
    assert (alert.title, alert.body.severity) == ("check interrupted", "warning")
    assert alert.body == "Job stopped by KeyboardInterrupt. Duration 12 s."


def test_a_start_says_the_job_is_running() -> None:
    alert = compose("check", "start")
    assert (alert.title, alert.body, alert.body.severity) == (
        "check started",
        "Job check is running.",
        "info",
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/#/experiments/7/runs/r1"),
        ("https://u:p4ss@mlflow.example.org/base/", "https://mlflow.example.org/base/#/experiments/7/runs/r1"),
        ("sqlite:///mlflow.db", None),
        ("databricks", None),
    ],
)  # fmt: skip
def test_the_run_link_needs_an_http_tracking_uri_and_drops_credentials(
    uri: str, expected: str | None
) -> None:
    assert run_url(uri, "7", "r1") == expected


def test_headline_keeps_the_declared_order_and_skips_missing_metrics() -> None:
    assert headline({"mae": 1.0, "r2": 0.5, "rmse": 2.0}, ("rmse", "r2", "mape")) == {
        "rmse": 2.0,
        "r2": 0.5,
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.042, "0.042 s"), (3.25, "3.2 s"), (59.4, "59 s"), (60, "1 min"), (3725, "1 h 02 min")],
)
def test_durations_read_like_a_person_says_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text
