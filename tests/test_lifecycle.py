"""The services' lifecycle in a container: checks first, starts in order, undone on failure, every
stop attempted, and the pitfalls of dependency-injector's resources handled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

from model_name.containers import Container, create_container, given, service
from model_name.errors import ConfigurationError
from model_name.io.services import AlertsService, LoggerService, MlflowService
from model_name.lifecycle import service_names
from model_name.settings import AppSettings
from model_name.testing import RecordingAlertsService
from tests.helpers.doubles import broken, service_states


@pytest.fixture
def container(tmp_path: Path, tracking_uri: str) -> Iterator[Container]:
    settings = AppSettings(
        logger={"sink": str(tmp_path / "app.log"), "level": "DEBUG"},
        alerts={"enable": False},
        mlflow={"tracking_uri": tracking_uri, "experiment_name": "lifecycle"},
    )
    container = create_container(settings)
    yield container
    with contextlib.suppress(ExceptionGroup):  # a test that broke a stop on purpose said so
        container.shutdown_resources()


def test_init_resources_starts_them_all_and_shutdown_resources_stops_them_all(
    container: Container,
) -> None:
    container.init_resources()
    services = [container.logger_service(), container.alerts_service(), container.mlflow_service()]
    started = service_states(*services)

    container.shutdown_resources()

    assert started == [True, True, True]
    assert service_states(*services) == [False, False, False]


def test_the_services_start_in_declaration_order_and_stop_in_reverse(
    container: Container, tmp_path: Path
) -> None:
    # given services that write when they start and stop (dependency-injector alone would start
    # the independent ones in an order that changes between runs)
    events: list[str] = []
    for name, service_type in (
        ("study_service", "StudyService"),
        ("alerts_service", "AlertsService"),
        ("mlflow_service", "MlflowService"),
    ):
        container.override_providers(**{name: given(recording(service_type, events, tmp_path))})

    # when the container starts and stops them, ten times
    for _ in range(10):
        container.init_resources()
        container.shutdown_resources()

    # then always in the same order
    once = ["StudyService start", "AlertsService start", "MlflowService start",
            "MlflowService stop", "AlertsService stop", "StudyService stop"]  # fmt: skip
    assert events == once * 10


def recording(service_type: str, events: list[str], tmp_path: Path) -> AlertsService:
    """A service whose start and stop append to `events` (an AlertsService under another name)."""

    class Recording(AlertsService):
        def start(self) -> None:
            if not self.running:
                events.append(f"{service_type} start")
            super().start()

        def stop(self) -> None:
            if self.running:
                events.append(f"{service_type} stop")
            super().stop()

    return Recording(enable=False)


def test_a_service_swapped_as_an_object_is_left_to_whoever_made_it(container: Container) -> None:
    # given an alerts service the test starts itself, swapped in as a plain object
    recording = RecordingAlertsService()
    container.alerts_service.override(providers.Object(recording))

    # when the container starts and stops its services around the test's own start and stop
    with recording:
        container.init_resources()
        container.shutdown_resources()
        still_running = recording.running

    # then the container used it as it was, and left its stop to the test
    assert still_running and not recording.running


def test_a_resource_given_a_service_that_starts_itself_starts_and_stops_it_once(
    container: Container, tmp_path: Path
) -> None:
    # given a hook that starts the service it returns (dependency-injector enters what a hook
    # returns when it is a context manager, as a service is: it would start it a second time)
    events: list[str] = []
    started = recording("AlertsService", events, tmp_path)

    def start_and_return() -> AlertsService:
        started.start()
        return started

    container.alerts_service.override(providers.Resource(start_and_return))

    # when the container starts and stops it
    container.init_resources()
    container.shutdown_resources()

    # then it started once and stopped once: a service's start and stop are idempotent
    assert events == ["AlertsService start", "AlertsService stop"]


def test_a_failed_stop_does_not_keep_the_others_running(container: Container) -> None:
    # given an alerts service whose stop raises
    container.alerts_service.override(given(broken(AlertsService, "stop")()))
    container.init_resources()
    logger_service, mlflow_service = container.logger_service(), container.mlflow_service()

    # when the services stop, then the error is raised after every stop was attempted
    with pytest.raises(ExceptionGroup) as caught:
        container.shutdown_resources()
    assert [str(error) for error in caught.value.exceptions] == ["AlertsService stop broke"]
    assert service_states(logger_service, mlflow_service) == [False, False]


def test_a_failed_start_stops_the_services_already_started(container: Container) -> None:
    # given an MLflow service that cannot start, declared after the logger and the alerts
    container.mlflow_service.override(
        providers.Resource(
            service,
            broken(MlflowService, "start"),
            container.config.mlflow,
            logger_service=container.logger_service,
        )
    )

    # when the services start, then the error propagates and nothing is left running
    with pytest.raises(RuntimeError, match="MlflowService start broke"):
        container.init_resources()
    assert not any(provider.initialized for provider in resources(container))


def test_every_check_runs_before_any_start(container: Container, tmp_path: Path) -> None:
    # given an alerts service whose channel URL Apprise refuses, and a log file not yet made
    container.alerts_service.override(
        given(AlertsService(enable=False, channels=["nope://not-a-channel"]))
    )

    # when the services start, then the check refuses it before the logger made its file
    with pytest.raises(ConfigurationError, match=r"alerts\.channels"):
        container.init_resources()
    assert not (tmp_path / "app.log").exists()
    assert not any(provider.initialized for provider in resources(container))


def resources(container: Container) -> list[providers.Resource]:
    return [getattr(container, name) for name in service_names(container)]


def test_the_container_logs_its_services_into_an_overriding_logger(
    container: Container, tmp_path: Path
) -> None:
    # given a logger of the test's own, swapped in with one line
    log = tmp_path / "own.log"
    container.logger_service.override(given(LoggerService(sink=str(log), level="DEBUG")))

    # when the container starts and stops its services
    container.init_resources()
    container.shutdown_resources()

    # then the container's own lines went to that logger
    assert "alerts_service started" in log.read_text()
