"""A pytest plugin for testing jobs with real services: `pytest_plugins = ["model_name.testing"]`.

Install it with the `testing` extra (`model_name[testing]`, which brings pytest).

Fixtures:
    container: the application's container, configured as the command line configures it (the
        same layers: `./containers.yaml`, the environment), on this test's own SQLite store,
        logging to a file at DEBUG, alerts recorded; its services started, and always stopped
        after the test. Swap a service before it starts by overriding its fixture below.
    model_name_overrides: the `--set` flags the container is built with (add yours). They
        turn the tracking outbox off (`mlflow.outbox=false`): what a job logged is in the
        store when the job returns, for the test to read.
    tracking_uri: a fresh copy of one migrated SQLite tracking store, as a `sqlite:///` URI.
    mlflow_store_template: (session) that migrated store, made once.
    logger_service: a `LoggerService` writing to `<tmp_path>/logs/app.log` at DEBUG.
    alerts_service: a `RecordingAlertsService`: alerts recorded, and logged.
    mlflow_service: an `MlflowService` on `tracking_uri`, experiment "tests", artifacts in the
        test's folder.
    study_service: a `StudyService` on a journal file in the test's folder (tuning studies).

The three service fixtures are not started: used alone, the code under test starts them (a job
does, on entering). `container` starts its own services, swapping in `alerts_service`; a test or
a `conftest.py` that overrides `alerts_service` swaps what the container uses.

Example:
    def test_my_job(container, alerts_service):
        job = container.jobs.my_job()
        with job:
            job.run()
        assert alerts_service.sent[0][0] == "my_job succeeded"
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic as pdt

try:
    import pytest
except ImportError as missing:  # pragma: no cover - pytest is installed wherever tests run
    raise ImportError(
        "model_name.testing is a pytest plugin: install model_name[testing] (it brings pytest)"
    ) from missing

from model_name.io.services import (
    AlertsService,
    LoggerService,
    MlflowService,
    Severity,
    StudyService,
)

if TYPE_CHECKING:
    from model_name.containers import Container

TEST_EXPERIMENT = "tests"
"""The experiment the fixtures track into."""


class RecordingAlertsService(AlertsService):
    """An alerts service that records each alert; notifications are off (alerts are logged).

    Attributes:
        sent: the `(title, message)` of every `notify` call, in order.
    """

    enable: bool = False
    _sent: list[tuple[str, str]] = pdt.PrivateAttr(default_factory=list)

    @property
    def sent(self) -> list[tuple[str, str]]:
        """The `(title, message)` of every alert so far, in order."""
        return self._sent

    def notify(
        self,
        title: str,
        message: str,
        *,
        markdown: str | None = None,
        severity: Severity = "info",
    ) -> None:
        """Record the alert, then send it as the base service would."""
        self._sent.append((title, message))
        super().notify(title, message, markdown=markdown, severity=severity)


# --- MLflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create one migrated SQLite tracking store for the session and return its path.

    A fresh SQLite store runs MLflow's schema migrations (1-2 s); copying a migrated one takes
    milliseconds, and one process migrating one file never races another.
    """
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-store") / "template.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(mlflow_store_template: Path, tmp_path: Path) -> str:
    """Return the `sqlite:///` URI of a fresh copy of the migrated store, in the test's folder."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_store_template, path)
    return f"sqlite:///{path.resolve()}"


@pytest.fixture
def logger_service(tmp_path: Path) -> Iterator[LoggerService]:
    """Return a logger service writing to `<tmp_path>/logs/app.log` at DEBUG (not started)."""
    service = LoggerService(sink=str(tmp_path / "logs" / "app.log"), level="DEBUG")
    yield service
    service.stop()


@pytest.fixture
def alerts_service() -> Iterator[RecordingAlertsService]:
    """Return an alerts service that records every alert, notifications off (not started)."""
    service = RecordingAlertsService()
    yield service
    service.stop()


@pytest.fixture
def tests_experiment(tracking_uri: str, tmp_path: Path) -> str:
    """Create the "tests" experiment with its artifacts in `<tmp_path>/artifacts`; return its name.

    An experiment MLflow creates itself on a SQLite store keeps its artifacts under `./mlruns`
    in the current folder, wherever the tests run from.
    """
    from mlflow import MlflowClient

    artifacts = (tmp_path / "artifacts").resolve().as_uri()
    MlflowClient(tracking_uri=tracking_uri).create_experiment(TEST_EXPERIMENT, artifacts)
    return TEST_EXPERIMENT


@pytest.fixture
def mlflow_service(
    tracking_uri: str, tests_experiment: str, logger_service: LoggerService
) -> Iterator[MlflowService]:
    """Return an MLflow service on `tracking_uri`, experiment "tests" (not started)."""
    service = MlflowService(
        tracking_uri=tracking_uri,
        experiment_name=tests_experiment,
        logger_service=logger_service,
    )
    yield service
    service.stop()


@pytest.fixture
def study_service(tmp_path: Path) -> Iterator[StudyService]:
    """Return a study storage on `<tmp_path>/optuna.journal` (not started)."""
    service = StudyService(storage=str(tmp_path / "optuna.journal"))
    yield service
    service.stop()


@pytest.fixture
def model_name_overrides(tracking_uri: str, tests_experiment: str, tmp_path: Path) -> list[str]:
    """Return the `--set` flags `container` is built with: the test's store, a DEBUG log file.

    Override this fixture, or extend its list, to configure the container of your tests.
    """
    return [
        f"mlflow.tracking_uri={tracking_uri}",
        f"mlflow.experiment_name={tests_experiment}",
        f"logger.sink={tmp_path / 'logs' / 'app.log'}",
        "logger.level=DEBUG",
        "alerts.enable=false",
        f"optuna.storage={tmp_path / 'optuna.journal'}",
        # what the job logged is in the store when the job returns, for the test to read
        "mlflow.outbox=false",
        f"mlflow.outbox_dir={tmp_path / 'outbox'}",
    ]


@pytest.fixture
def container(
    model_name_overrides: list[str], alerts_service: AlertsService
) -> Iterator[Container]:
    """Return the application's container with its services started; stop them after the test.

    It is configured through the same layers as the command line, `model_name_overrides` on
    top, and its alerts service is the `alerts_service` fixture (a `RecordingAlertsService`).
    """
    from dependency_injector import providers

    from model_name.configuration import load_configuration
    from model_name.containers import create_container, start_services, stop_services

    configuration = load_configuration(overrides=model_name_overrides)
    built = create_container(configuration.settings)
    built.alerts_service.override(providers.Object(alerts_service))
    try:
        start_services(built)
        yield built
    finally:
        errors = stop_services(built)
    if errors:
        raise ExceptionGroup("stopping the container's services failed", errors)
