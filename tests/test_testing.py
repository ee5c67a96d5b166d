"""The pytest plugin's own fixtures: a store per test, services that are not started."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from model_name.io.services import AlertsService, LoggerService, MlflowService, RunConfig
from model_name.testing import RecordingAlertsService


def test_each_test_gets_a_migrated_copy_of_the_template(
    tracking_uri: str, mlflow_store_template: Path, tmp_path: Path
) -> None:
    assert tracking_uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert (tmp_path / "mlflow.db").read_bytes() == mlflow_store_template.read_bytes()
    names = [experiment.name for experiment in MlflowClient(tracking_uri).search_experiments()]
    assert names == ["Default"]


def test_the_services_are_built_but_not_started(
    logger_service: LoggerService,
    alerts_service: AlertsService,
    mlflow_service: MlflowService,
    tmp_path: Path,
) -> None:
    assert not any(s.running for s in (logger_service, alerts_service, mlflow_service))
    assert Path(logger_service.sink).parent == tmp_path / "logs"
    assert logger_service.level == "DEBUG"
    assert alerts_service.enable is False
    assert mlflow_service.experiment_name == "tests"


def test_the_runs_artifacts_stay_in_the_tests_folder(
    mlflow_service: MlflowService, tmp_path: Path
) -> None:
    with mlflow_service, mlflow_service.run_context(RunConfig(name="artifacts")) as run:
        pass

    assert run.info.artifact_uri.startswith((tmp_path / "artifacts").resolve().as_uri())
    assert (tmp_path / "artifacts" / run.info.run_id / "artifacts" / "logs" / "run.log").exists()


def test_the_recording_alerts_service_remembers_every_alert() -> None:
    alerts = RecordingAlertsService()

    with alerts:
        alerts.notify("one", "first")
        alerts.notify("two", "second")

    assert alerts.sent == [("one", "first"), ("two", "second")]
    assert alerts.enable is False
