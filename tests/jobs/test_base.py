"""The Job base: abstract, starts and stops its services, logs and alerts the outcome."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from model_name.io.services import AlertsService, LoggerService, MlflowService, Terminated
from model_name.jobs.base import Job
from model_name.testing import RecordingAlertsService
from tests.helpers.doubles import EchoJob, broken

FailingStopAlerts = broken(RecordingAlertsService, "stop")
FailingStartMlflow = broken(MlflowService, "start")


def make_job(
    logger_service: LoggerService, mlflow_service: MlflowService, **fields: Any
) -> EchoJob:
    fields.setdefault("alerts_service", RecordingAlertsService())
    return EchoJob(logger_service=logger_service, mlflow_service=mlflow_service, **fields)


def log_text(service: LoggerService) -> str:
    return Path(service.sink).read_text()


def test_job_itself_cannot_be_built() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Job()  # type: ignore[abstract]


def test_a_subclass_without_run_cannot_be_built() -> None:
    class Incomplete(Job):
        KIND = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_entering_starts_the_services_logger_first_and_exit_stops_them(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    # given a job whose services are not running
    job = make_job(logger_service, mlflow_service)
    assert not any(service.running for service in job.services())

    # when it runs
    with job:
        assert all(service.running for service in job.services())
        outputs = job.run()

    # then every service is stopped again, and the log tells the story in order
    assert not any(service.running for service in job.services())
    assert outputs["self"] is job
    text = log_text(logger_service)
    assert text.index("LoggerService started") < text.index("AlertsService started")
    assert text.index("AlertsService started") < text.index("MlflowService started")
    assert "echo: hello" in text
    assert "Job echo succeeded" in text


def test_services_started_by_someone_else_are_left_running(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    # given services started by their owner (the container, in the application)
    job = make_job(logger_service, mlflow_service)
    with logger_service, job.alerts_service:
        # when a job runs with them
        with job:
            job.run()

        # then the job does not stop what it did not start
        assert logger_service.running
        assert job.alerts_service.running
        assert not mlflow_service.running
    assert "AlertsService already running" in log_text(logger_service)


def test_success_sends_a_completion_alert(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    job = make_job(logger_service, mlflow_service)

    with job:
        job.run()

    [(title, message)] = job.alerts_service.sent
    assert title == "echo succeeded"
    assert re.fullmatch(r"Job echo completed\. Duration \d+\.\d+ s\.", message), message


def test_a_failure_is_logged_alerted_and_propagated(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    job = make_job(logger_service, mlflow_service, fail_with="error")

    with pytest.raises(ValueError, match="bad input"), job:
        job.run()

    [(title, message)] = job.alerts_service.sent
    assert title == "echo failed"
    assert re.fullmatch(r"ValueError: bad input\. Duration \d+\.\d+ s\.", message), message
    text = log_text(logger_service)
    assert "Job echo failed: ValueError: bad input" in text
    assert "Traceback" in text and 'raise ValueError("bad input")' in text
    assert not any(service.running for service in job.services())


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, Terminated])
def test_an_interruption_is_alerted_and_propagated(
    logger_service: LoggerService,
    mlflow_service: MlflowService,
    interruption: type[BaseException],
) -> None:
    job = make_job(logger_service, mlflow_service)

    with pytest.raises(interruption), job:
        raise interruption

    [(title, message)] = job.alerts_service.sent
    assert title == "echo interrupted"
    assert message.startswith(f"Job stopped by {interruption.__name__}. Duration "), message
    assert f"Job echo interrupted ({interruption.__name__})" in log_text(logger_service)


def test_which_events_alert_is_configurable(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    job = make_job(logger_service, mlflow_service, alert_on={"start", "failure"})

    with job:
        job.run()

    assert job.alerts_service.sent == [("echo started", "Job echo is running.")]


def test_every_stop_is_attempted_and_the_first_error_raised(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    # given an alerts service whose stop raises
    job = make_job(logger_service, mlflow_service, alerts_service=FailingStopAlerts())

    # when the job succeeds, then the stop error is raised after every stop was attempted
    with pytest.raises(RuntimeError, match="RecordingAlertsService stop broke"), job:
        job.run()
    assert not logger_service.running
    assert not mlflow_service.running
    assert (
        "Stopping BrokenRecordingAlertsService failed: RecordingAlertsService stop broke"
        in log_text(logger_service)
    )


def test_a_stop_error_does_not_hide_the_job_error(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    job = make_job(
        logger_service, mlflow_service, alerts_service=FailingStopAlerts(), fail_with="error"
    )

    with pytest.raises(ValueError, match="bad input"), job:
        job.run()

    assert "Stopping BrokenRecordingAlertsService failed" in log_text(logger_service)


def test_a_start_error_stops_what_was_started(
    logger_service: LoggerService, tracking_uri: str
) -> None:
    # given an MLflow service that cannot start
    job = make_job(logger_service, FailingStartMlflow(tracking_uri=tracking_uri))

    # when the job is entered, then the error propagates and the started services are stopped
    with pytest.raises(RuntimeError, match="MlflowService start broke"):
        job.__enter__()
    assert not logger_service.running
    assert not job.alerts_service.running


def test_run_config_names_tags_and_records_the_job(
    logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    job = make_job(logger_service, mlflow_service, configuration={"logger": {"level": "DEBUG"}})

    run_config = job.run_config(description="nightly", tags={"team": "ml"})

    assert run_config.name == "echo"
    assert run_config.description == "nightly"
    assert run_config.tags == {"model_name.job": "echo", "team": "ml"}
    assert run_config.config == {"logger": {"level": "DEBUG"}}


def test_a_job_runs_with_default_services_by_hand(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given only the job's own parameters, as a user in a notebook would write it
    monkeypatch.chdir(tmp_path)
    job = EchoJob(
        message="notebook",
        alerts_service=AlertsService(enable=False),
        mlflow_service=MlflowService(tracking_uri=tracking_uri),
    )

    # when it runs, then it works with its default services
    with job:
        outputs = job.run()
    assert outputs["self"].message == "notebook"
