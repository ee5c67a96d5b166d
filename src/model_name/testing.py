"""A pytest plugin for testing jobs with real services: `pytest_plugins = ["model_name.testing"]`.

Fixtures:
    mlflow_store_template: (session) one migrated SQLite tracking store, made once.
    tracking_uri: a fresh copy of that store for one test, as a `sqlite:///` URI.
    logger_service: a `LoggerService` writing to a file in the test's folder, at DEBUG.
    alerts_service: an `AlertsService` with notifications off (alerts go to the log).
    mlflow_service: an `MlflowService` on `tracking_uri`, experiment "tests".
    study_service: a `StudyService` on a journal file in the test's folder (tuning studies).

The services are not started: the code under test starts them (a job does, on entering). They are
stopped after the test in any case, so a failing test leaks nothing into the next one.

`RecordingAlertsService` is an alerts service that remembers what it was asked to send.

Example:
    >>> def test_my_job(logger_service, mlflow_service):  # doctest: +SKIP
    ...     job = MyJob(logger_service=logger_service, mlflow_service=mlflow_service,
    ...                 alerts_service=RecordingAlertsService())
    ...     with job:
    ...         job.run()
    ...     assert job.alerts_service.sent == [("my_job succeeded", "Job my_job completed.")]
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pydantic as pdt
import pytest

from model_name.io.services import AlertsService, LoggerService, MlflowService, StudyService


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

    def notify(self, title: str, message: str) -> None:
        """Record the alert, then send it as the base service would."""
        self._sent.append((title, message))
        super().notify(title, message)


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
def alerts_service() -> Iterator[AlertsService]:
    """Return an alerts service with notifications off: alerts go to the log (not started)."""
    service = AlertsService(enable=False)
    yield service
    service.stop()


@pytest.fixture
def mlflow_service(tracking_uri: str, tmp_path: Path) -> Iterator[MlflowService]:
    """Return an MLflow service on `tracking_uri`, experiment "tests" (not started).

    The experiment exists already, with its artifacts in `<tmp_path>/artifacts`: an experiment
    MLflow creates itself on a SQLite store keeps them under `./mlruns` in the current folder.
    """
    from mlflow import MlflowClient

    experiment = "tests"
    artifacts = (tmp_path / "artifacts").resolve().as_uri()
    MlflowClient(tracking_uri=tracking_uri).create_experiment(experiment, artifacts)
    service = MlflowService(tracking_uri=tracking_uri, experiment_name=experiment)
    yield service
    service.stop()


@pytest.fixture
def study_service(tmp_path: Path) -> Iterator[StudyService]:
    """Return a study storage on `<tmp_path>/optuna.journal` (not started)."""
    service = StudyService(storage=str(tmp_path / "optuna.journal"))
    yield service
    service.stop()
