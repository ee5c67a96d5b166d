"""The container: services wired by what they use, one lifecycle, jobs as factories, overrides."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

from model_name.configuration import load_configuration
from model_name.containers import (
    Container,
    create_container,
    given,
    register_job,
    service,
)
from model_name.errors import ConfigurationError
from model_name.io.services import LoggerService
from model_name.jobs import JOBS, CheckJob, TrainingJob
from model_name.lifecycle import service_names
from model_name.settings import AppSettings
from model_name.testing import RecordingAlertsService
from tests.helpers.doubles import ClockJob, ClockService, EchoJob, service_states


@pytest.fixture
def settings(tmp_path: Path, tracking_uri: str) -> AppSettings:
    return AppSettings(
        logger={"sink": str(tmp_path / "app.log"), "level": "DEBUG"},
        alerts={"enable": False},
        mlflow={"tracking_uri": tracking_uri, "experiment_name": "containers"},
        jobs={"check": {"hold_seconds": 0.0, "fail": False}},
    )


@pytest.fixture
def container(settings: AppSettings) -> Iterator[Container]:
    container = create_container(settings)
    yield container
    with contextlib.suppress(ExceptionGroup):  # a test that broke a stop on purpose said so
        container.shutdown_resources()


def test_every_service_is_a_resource_provider(container: Container) -> None:
    for name in ("logger_service", "study_service", "alerts_service", "mlflow_service"):
        assert isinstance(getattr(container, name), providers.Resource), name


def test_services_are_built_from_their_sections_with_what_they_use(container: Container) -> None:
    logger_service = container.logger_service()

    assert isinstance(logger_service, LoggerService) and logger_service.level == "DEBUG"
    assert container.mlflow_service().experiment_name == "containers"
    assert container.alerts_service().enable is False
    # the logger is given to the services that write through it, not found at run time
    assert container.mlflow_service().logger_service is logger_service
    assert container.alerts_service().logger_service is logger_service


def test_the_services_are_listed_once_in_dependency_order(container: Container) -> None:
    assert service_names(container) == (
        "logger_service",
        "study_service",
        "alerts_service",
        "mlflow_service",
    )


def test_a_job_gets_the_running_services_and_its_section(container: Container) -> None:
    container.init_resources()

    job = container.jobs.check()

    assert isinstance(job, CheckJob)
    assert job.logger_service is container.logger_service()
    assert job.mlflow_service is container.mlflow_service()
    assert job.configuration["mlflow"]["experiment_name"] == "containers"


def test_a_job_from_the_container_leaves_the_services_to_the_container(
    container: Container,
) -> None:
    # given a container whose services run
    container.init_resources()
    job = container.jobs.check()

    # when the job runs and ends
    with job:
        job.run()

    # then its services still run: the container stops them, once, at its shutdown
    assert service_states(*job.services()) == [True, True, True]
    container.shutdown_resources()
    assert service_states(*job.services()) == [False, False, False]


def test_job_parameters_come_from_the_configuration(settings: AppSettings) -> None:
    settings.jobs["check"] = {"hold_seconds": 2.5, "fail": True}
    container = create_container(settings)

    job = container.jobs.check()

    assert job.hold_seconds == 2.5 and job.fail is True
    container.shutdown_resources()


def test_job_sections_given_in_python_are_validated_too(settings: AppSettings) -> None:
    settings.jobs["training"] = {"alpha": "oops"}

    with pytest.raises(ConfigurationError, match=r"jobs\.training\.alpha .*valid number"):
        create_container(settings)


def test_every_registered_job_has_a_factory(container: Container) -> None:
    assert isinstance(container.jobs.training(), TrainingJob)
    assert set(container.jobs.providers) == set(JOBS)


def test_a_service_swapped_with_one_line_is_started_stopped_and_used(container: Container) -> None:
    # given a recording alerts service swapped in with one line, as a user's test would
    recording = RecordingAlertsService()
    container.alerts_service.override(given(recording))
    register_job(container, EchoJob)

    # when the container runs a job
    container.init_resources()
    job = container.jobs.echo()
    with job:
        job.run()
    was_running = recording.running
    container.shutdown_resources()

    # then the container started and stopped the replacement, and the job alerted through it
    assert was_running and not recording.running
    assert job.alerts_service is recording
    assert [title for title, _ in recording.sent] == ["echo succeeded"]
    assert recording.sent[0][1].startswith("Job echo completed. Duration ")


# --- a fourth service ----------------------------------------------------------------------------


class ClockContainer(Container):
    """The application's container plus a fourth service: one line."""

    clock_service = providers.Resource(
        service, ClockService, Container.config.clock, logger_service=Container.logger_service
    )


def test_a_fourth_service_is_one_line_and_the_container_drives_it(settings: AppSettings) -> None:
    # given a container with one more line, and a section for it
    container = ClockContainer()
    container.config.from_dict({**settings.model_dump(), "clock": {"tick_seconds": 0.5}})
    register_job(container, ClockJob)
    ClockService.events.clear()

    # when a job that declares the service runs in the container
    container.init_resources()
    try:
        job = container.jobs.clock()
        outputs = job.run()
    finally:
        container.shutdown_resources()

    # then the service was built from its section, started after the logger, stopped before it
    assert service_names(container)[-1] == "clock_service"
    assert job.clock_service.tick_seconds == 0.5
    assert outputs["ticking"] is True
    assert ClockService.events == [
        "clock started, logger running: True",
        "clock stopped, logger running: True",
    ]


# --- one way in --------------------------------------------------------------------------------


DISAGREEING_ENVIRONMENT = {
    "MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
    "MODEL_NAME_JOBS__TRAINING__ALPHA": "oops",
}


def test_the_command_line_the_container_and_the_plugin_read_the_same_layers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from model_name.cli import main

    # given the environment a new user had, which the entry points used to read two ways
    for name, value in DISAGREEING_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    message = "jobs.training.alpha (from environment variable MODEL_NAME_JOBS__TRAINING__ALPHA)"

    # when each entry point builds the configuration, then each refuses the same value
    assert main(["config", "show"]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(ConfigurationError) as from_container:
        create_container()
    assert message in str(from_container.value)
    with pytest.raises(ConfigurationError) as from_plugin:
        load_configuration(overrides=["alerts.enable=false"])  # what the plugin calls
    assert message in str(from_plugin.value)

    # and without the bad value they all take the tracking URI from MLflow's variable
    monkeypatch.delenv("MODEL_NAME_JOBS__TRAINING__ALPHA")
    assert AppSettings().mlflow.tracking_uri == "http://127.0.0.1:5999"
    assert create_container().config.mlflow.tracking_uri() == "http://127.0.0.1:5999"
    assert main(["config", "show", "--sources"]) == 0
    assert (
        "tracking_uri: http://127.0.0.1:5999  # environment variable MLFLOW_TRACKING_URI"
        in capsys.readouterr().out
    )
