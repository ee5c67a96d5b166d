"""The container: services as ordered resources, jobs as factories, and overriding in tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers

from model_name.containers import (
    Container,
    create_container,
    register_job,
    start_services,
    stop_services,
)
from model_name.io.services import LoggerService, MlflowService
from model_name.jobs import CheckJob, TrainingJob
from model_name.settings import AppSettings
from model_name.testing import RecordingAlertsService
from tests.jobs.test_base import EchoJob


class BrokenStopAlerts(RecordingAlertsService):
    """An alerts service whose stop raises."""

    def stop(self) -> None:
        super().stop()
        raise RuntimeError("alerts stop broke")


class BrokenStartMlflow(MlflowService):
    """An MLflow service that cannot start."""

    def start(self) -> None:
        raise ConnectionError("tracking server unreachable")


@pytest.fixture
def settings(tmp_path: Path, tracking_uri: str) -> AppSettings:
    return AppSettings(
        logger={"sink": str(tmp_path / "app.log"), "level": "DEBUG"},
        alerts={"enable": False},
        mlflow={"tracking_uri": tracking_uri, "experiment_name": "containers"},
        jobs={"check": {"hold_seconds": 0.0, "fail": False}},
    )


@pytest.fixture
def container(settings: AppSettings) -> Container:
    container = create_container(settings)
    yield container
    stop_services(container)


def test_services_are_built_from_the_configuration(container: Container) -> None:
    start_services(container)

    logger_service = container.logger_service()
    assert isinstance(logger_service, LoggerService) and logger_service.level == "DEBUG"
    assert container.mlflow_service().experiment_name == "containers"
    assert container.alerts_service().enable is False
    assert all(
        service.running
        for service in (logger_service, container.alerts_service(), container.mlflow_service())
    )


def test_a_service_resource_starts_the_logger_first(container: Container) -> None:
    # when only the MLflow resource is asked for
    container.mlflow_service.init()

    # then the logger resource it depends on was started before it
    assert container.logger_service.initialized
    assert container.logger_service().running
    assert not container.alerts_service.initialized


def test_stop_services_stops_every_service(container: Container) -> None:
    start_services(container)
    services = [container.logger_service(), container.alerts_service(), container.mlflow_service()]

    errors = stop_services(container)

    assert errors == []
    assert not any(service.running for service in services)
    assert not any(
        getattr(container, name).initialized
        for name in ("logger_service", "alerts_service", "mlflow_service")
    )


def test_a_job_gets_the_running_services_and_its_section(container: Container) -> None:
    start_services(container)

    job = container.jobs.check()

    assert isinstance(job, CheckJob)
    assert job.logger_service is container.logger_service()
    assert job.mlflow_service is container.mlflow_service()
    assert job.configuration["mlflow"]["experiment_name"] == "containers"


def test_job_parameters_come_from_the_configuration(settings: AppSettings) -> None:
    settings.jobs["check"] = {"hold_seconds": 2.5, "fail": True}
    container = create_container(settings)

    try:
        job = container.jobs.check()  # builds the job, so starts the services it is given
    finally:
        # Stopped here, not whenever the garbage collector closes the resources' generators:
        # that would undo MLflow's state in the middle of a later test.
        stop_services(container)

    assert job.hold_seconds == 2.5 and job.fail is True


def test_every_registered_job_has_a_factory(container: Container) -> None:
    assert isinstance(container.jobs.training(), TrainingJob)
    assert set(container.jobs.providers) == {
        "tuning",
        "training",
        "promotion",
        "inference",
        "check",
    }


def test_a_service_overridden_in_a_test_is_used_by_the_jobs(container: Container) -> None:
    # given a recording alerts service swapped in, as a user's test would
    recording = RecordingAlertsService()
    container.alerts_service.override(providers.Object(recording))
    register_job(container, EchoJob)
    start_services(container)

    # when a job runs through the container
    job = container.jobs.echo()
    with job:
        job.run()

    # then it alerted through the override, and the other services were the container's
    assert job.alerts_service is recording
    assert recording.sent == [("echo succeeded", "Job echo completed.")]
    assert container.logger_service().running  # still running: the container owns it


def test_stop_services_attempts_every_stop_and_returns_the_errors(container: Container) -> None:
    # given an alerts service whose stop raises, built by the container's own resource
    container.alerts_service.set_args(providers.Factory(BrokenStopAlerts), container.logger_service)
    start_services(container)
    logger_service, mlflow_service = container.logger_service(), container.mlflow_service()

    errors = stop_services(container)

    assert [str(error) for error in errors] == ["alerts stop broke"]
    assert not logger_service.running
    assert not mlflow_service.running


def test_a_failed_start_stops_the_services_already_started(container: Container) -> None:
    # given an MLflow service that cannot start
    container.mlflow_service.set_args(
        providers.Factory(BrokenStartMlflow), container.logger_service
    )

    # when the services start, then the error propagates and nothing is left running
    with pytest.raises(ConnectionError, match="unreachable"):
        start_services(container)
    assert not container.logger_service.initialized
    assert not container.alerts_service.initialized
