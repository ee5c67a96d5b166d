"""The pytest plugin's own fixtures: a store per test, services, and a started container."""

from __future__ import annotations

import os
from pathlib import Path

from mlflow import MlflowClient

from model_name.containers import Container
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


def test_the_container_fixture_runs_a_job_on_the_tests_store(
    container: Container, alerts_service: RecordingAlertsService, tracking_uri: str
) -> None:
    # given the plugin's container: started, on this test's store, alerts recorded
    assert all(service.running for service in (container.logger_service(), alerts_service))

    # when a job runs in it
    job = container.jobs.check()
    with job:
        outputs = job.run()

    # then the run is in the test's store and the alert was recorded
    run = MlflowClient(tracking_uri).get_run(outputs["run"].info.run_id)
    assert run.info.status == "FINISHED"
    assert job.alerts_service is alerts_service
    assert [title for title, _ in alerts_service.sent] == ["check succeeded"]


def test_the_container_fixture_is_configured_through_the_same_layers(
    container: Container, tmp_path: Path
) -> None:
    assert container.config.mlflow.experiment_name() == "tests"
    assert container.config.logger.sink() == str(tmp_path / "logs" / "app.log")
    assert container.config.jobs.training.alpha() == 1.0  # a default from the job's model


def test_a_file_tracking_uri_uses_mlflow_s_file_store(tmp_path: Path) -> None:
    # given an explicit file: URI, which MLflow 3 refuses unless asked by name
    store = tmp_path / "mlruns"
    service = MlflowService(tracking_uri=store.as_uri(), experiment_name="files")

    with service, service.run_context(service.RunConfig(name="on files")) as run:
        service.log_metrics({"loss": 0.5})

    assert MlflowClient(store.as_uri()).get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # put back as it was
