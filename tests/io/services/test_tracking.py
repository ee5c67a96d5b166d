"""MlflowService on a real SQLite store: start and stop, runs, buffered metrics."""

from __future__ import annotations

import os
import time
from pathlib import Path

import mlflow
import pydantic as pdt
import pytest
from mlflow import MlflowClient
from mlflow.utils.autologging_utils import get_autologging_config

from model_name.io.services import LoggerService, MlflowService, RunConfig, Terminated

# --- helpers --------------------------------------------------------------------------------


def mlflow_environ() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith("MLFLOW_")}


def artifact_text(client: MlflowClient, run_id: str, path: str, tmp_path: Path) -> str:
    local = client.download_artifacts(run_id, path, str(tmp_path / "download"))
    return Path(local).read_text()


def count_points(client: MlflowClient, run_id: str, keys: list[str]) -> int:
    return sum(len(client.get_metric_history(run_id, key)) for key in keys)


# --- MlflowService: start and stop ----------------------------------------------------------


def test_start_sets_the_uris_and_the_experiment(tmp_path: Path, tracking_uri: str) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    service = MlflowService(
        tracking_uri=tracking_uri, registry_uri=registry_uri, experiment_name="configured"
    )

    with service:
        service.start()  # idempotent
        assert mlflow.get_tracking_uri() == tracking_uri
        assert mlflow.get_registry_uri() == registry_uri
        client = service.client()
        experiment = client.get_experiment_by_name("configured")

    assert experiment is not None
    assert client.tracking_uri == tracking_uri
    assert client._registry_uri == registry_uri


def test_an_experiment_created_by_another_process_meanwhile_is_still_used(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given another process creates the experiment just after MLflow looked it up: the race
    # cannot be timed on demand, so MLflow's first lookup is made to miss (the one patch here)
    MlflowClient(tracking_uri=tracking_uri).create_experiment("shared")
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    lookup = TrackingServiceClient.get_experiment_by_name
    misses = iter([True])

    def late_lookup(self: TrackingServiceClient, name: str) -> object:
        return None if next(misses, False) else lookup(self, name)

    monkeypatch.setattr(TrackingServiceClient, "get_experiment_by_name", late_lookup)
    service = MlflowService(tracking_uri=tracking_uri, experiment_name="shared")

    # when the service starts (MLflow's create fails: the experiment exists) and opens a run
    with service, service.run_context(RunConfig(name="racer")) as run:
        pass

    # then the run is in the configured experiment, not in MLflow's Default one
    shared = MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name("shared")
    assert shared is not None and run.info.experiment_id == shared.experiment_id


def test_the_registry_defaults_to_the_tracking_store(mlflow_service: MlflowService) -> None:
    with mlflow_service:
        assert mlflow.get_registry_uri() == mlflow_service.tracking_uri
        assert mlflow_service.client()._registry_uri == mlflow_service.tracking_uri


def test_every_autolog_option_reaches_mlflow(tracking_uri: str) -> None:
    # given every autolog option set away from MLflow's default
    options = {
        "disable": False,
        "disable_for_unsupported_versions": True,
        "exclusive": True,
        "log_input_examples": True,
        "log_model_signatures": False,
        "log_models": False,
        "log_datasets": False,
        "silent": True,
    }
    service = MlflowService.model_validate({"tracking_uri": tracking_uri, "autolog": options})

    # when the service starts, then mlflow.autolog received each of them
    with service:
        received = {key: get_autologging_config("mlflow", key) for key in options}
    assert received == options
    # and autologging is off again after stop
    assert get_autologging_config("mlflow", "disable") is True


def test_stop_restores_the_mlflow_environment(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an MLflow variable of the user's, and credentials in the settings
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    before, uri_before = mlflow_environ(), mlflow.get_tracking_uri()
    service = MlflowService(
        tracking_uri=tracking_uri,
        tracking_username="user",
        tracking_password=pdt.SecretStr("password"),
        tracking_token=pdt.SecretStr("token"),
    )

    # when it runs, MLflow's settings and the credentials are in the environment
    with service:
        during = mlflow_environ()
    assert during["MLFLOW_TRACKING_URI"] == tracking_uri
    assert "MLFLOW_EXPERIMENT_ID" in during
    assert during["MLFLOW_TRACKING_USERNAME"] == "user"
    assert during["MLFLOW_TRACKING_PASSWORD"] == "password"
    assert during["MLFLOW_TRACKING_TOKEN"] == "token"

    # then after stop every MLFLOW_* variable, and MLflow's URI, are as before
    assert mlflow_environ() == before
    assert mlflow.get_tracking_uri() == uri_before


def test_a_failed_start_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a tracking server that does not answer
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    before = mlflow_environ()
    service = MlflowService(tracking_uri="http://127.0.0.1:9", tracking_username="user")

    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        service.start()

    assert not service.running
    assert mlflow_environ() == before


def test_stop_ends_a_run_left_open_as_failed(
    mlflow_service: MlflowService, logger_service: LoggerService
) -> None:
    # given a run opened without run_context and never ended
    with logger_service:
        mlflow_service.start()
        run = mlflow.start_run()
        mlflow_service.log_metrics({"loss": 1.0})

        # when the service stops
        mlflow_service.stop()

    # then the run is FAILED, its buffered metric was sent, and a warning says so
    client = mlflow_service.client()
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    assert count_points(client, run.info.run_id, ["loss"]) == 1
    assert f"MLflow run {run.info.run_id} was left open" in Path(logger_service.sink).read_text()
    assert mlflow.active_run() is None


# --- MlflowService: runs --------------------------------------------------------------------


def test_a_run_needs_a_started_service(mlflow_service: MlflowService) -> None:
    with (
        pytest.raises(RuntimeError, match="not started"),
        mlflow_service.run_context(RunConfig(name="too early")),
    ):
        pass  # pragma: no cover - never entered


def test_a_run_has_its_name_description_and_tags(mlflow_service: MlflowService) -> None:
    config = RunConfig(name="training", description="nightly", tags={"team": "ml"})

    with mlflow_service, mlflow_service.run_context(config) as run:
        run_id = run.info.run_id

    finished = mlflow_service.client().get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert finished.info.run_name == "training"
    assert finished.data.tags["mlflow.note.content"] == "nightly"
    assert finished.data.tags["team"] == "ml"
    experiment = mlflow_service.client().get_experiment(finished.info.experiment_id)
    assert experiment.name == "tests"


def test_an_exception_ends_the_run_failed_and_propagates(mlflow_service: MlflowService) -> None:
    with (
        mlflow_service,
        pytest.raises(ValueError, match="bad"),
        mlflow_service.run_context(RunConfig(name="failing")) as run,
    ):
        raise ValueError("bad")

    assert mlflow_service.client().get_run(run.info.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, Terminated])
def test_an_interruption_ends_the_run_killed_and_propagates(
    mlflow_service: MlflowService, interruption: type[KeyboardInterrupt]
) -> None:
    with (
        mlflow_service,
        pytest.raises(interruption),
        mlflow_service.run_context(RunConfig(name="interrupted")) as run,
    ):
        raise interruption

    assert mlflow_service.client().get_run(run.info.run_id).info.status == "KILLED"


def test_a_run_inside_a_run_is_nested(mlflow_service: MlflowService) -> None:
    with (
        mlflow_service,
        mlflow_service.run_context(RunConfig(name="parent")) as parent,
        mlflow_service.run_context(RunConfig(name="child")) as child,
    ):
        assert mlflow.active_run().info.run_id == child.info.run_id  # type: ignore[union-attr]

    client = mlflow_service.client()
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.info.status == "FINISHED"
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


def test_a_run_left_open_inside_the_context_is_ended_failed(
    mlflow_service: MlflowService,
) -> None:
    with mlflow_service, mlflow_service.run_context(RunConfig(name="outer")) as outer:
        inner = mlflow.start_run(nested=True)

    client = mlflow_service.client()
    assert client.get_run(inner.info.run_id).info.status == "FAILED"
    assert client.get_run(outer.info.run_id).info.status == "FINISHED"


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_every_run_records_where_it_comes_from(
    mlflow_service: MlflowService,
    logger_service: LoggerService,
    tmp_path: Path,
    outcome: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a run started from the project's git checkout, with a secret in its configuration
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    config = {
        "mlflow": {"tracking_token": pdt.SecretStr("s3cr3t"), "experiment_name": "tests"},
        "jobs": {"training": {"alpha": 0.5, "path": tmp_path}},
    }

    # when a run logs a message and succeeds or fails
    with logger_service, mlflow_service:
        try:
            with mlflow_service.run_context(RunConfig(name="recorded", config=config)) as run:
                logger_service.logger().info("inside the run")
                if outcome == "failure":
                    raise RuntimeError("job failed")
        except RuntimeError:
            pass
        logger_service.logger().info("after the run")

    # then the run has the record tags, the masked configuration and its own log
    client = mlflow_service.client()
    recorded = client.get_run(run.info.run_id)
    assert recorded.info.status == ("FINISHED" if outcome == "success" else "FAILED")
    tags = recorded.data.tags
    assert tags["model_name.version"] != ""
    assert tags["model_name.command"] != ""
    assert tags["model_name.host"] != ""
    assert len(tags["model_name.git_commit"]) == 40  # the tests run in the project's checkout
    assert tags["model_name.git_dirty"] in ("true", "false")
    text = artifact_text(client, run.info.run_id, "config.yaml", tmp_path)
    assert "s3cr3t" not in text
    assert "tracking_token: '**********'" in text
    assert "alpha: 0.5" in text
    run_log = artifact_text(client, run.info.run_id, "logs/run.log", tmp_path)
    assert "inside the run" in run_log
    assert "after the run" not in run_log


def test_outside_a_git_checkout_no_git_tags_are_recorded(
    mlflow_service: MlflowService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with mlflow_service, mlflow_service.run_context(RunConfig(name="no git")) as run:
        pass

    tags = mlflow_service.client().get_run(run.info.run_id).data.tags
    assert "model_name.git_commit" not in tags
    assert "model_name.version" in tags
    paths = [item.path for item in mlflow_service.client().list_artifacts(run.info.run_id)]
    assert "config.yaml" not in paths  # no configuration given: none recorded


def test_a_run_with_system_metrics_finishes_with_them(
    mlflow_service: MlflowService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")

    with (
        mlflow_service,
        mlflow_service.run_context(RunConfig(name="system", log_system_metrics=True)) as run,
    ):
        time.sleep(0.6)

    finished = mlflow_service.client().get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert any(key.startswith("system/") for key in finished.data.metrics)


# --- MlflowService: buffered metrics --------------------------------------------------------


KEYS = [f"metric_{index}" for index in range(5)]


def log_points(service: MlflowService, steps: int) -> None:
    for step in range(steps):
        service.log_metrics({key: float(step) for key in KEYS}, step=step)


@pytest.mark.parametrize("ending", [None, RuntimeError, KeyboardInterrupt])
def test_every_buffered_point_is_stored_however_the_run_ends(
    mlflow_service: MlflowService, ending: type[BaseException] | None
) -> None:
    # given 2,500 points logged (above the flush size, so some go before the end, some at it)
    with mlflow_service:
        try:
            with mlflow_service.run_context(RunConfig(name="metrics")) as run:
                log_points(mlflow_service, 500)
                if ending is not None:
                    raise ending
        except (RuntimeError, KeyboardInterrupt):
            pass

    # then all of them are stored
    client = mlflow_service.client()
    assert count_points(client, run.info.run_id, KEYS) == 2500
    history = client.get_metric_history(run.info.run_id, "metric_0")
    assert sorted(point.step for point in history) == list(range(500))


def test_the_buffer_is_sent_when_it_is_full(mlflow_service: MlflowService) -> None:
    service = mlflow_service.model_copy(update={"metrics_flush_size": 10})

    with service, service.run_context(RunConfig(name="full")) as run:
        log_points(service, 2)  # 10 points: the buffer is full
        assert service.drain(30)  # the outbox's sender ships them
        sent = count_points(service.client(), run.info.run_id, KEYS)
        log_points(service, 1)  # 5 more: buffered
        assert service.drain(30)
        buffered = count_points(service.client(), run.info.run_id, KEYS)

    assert (sent, buffered) == (10, 10)
    assert count_points(service.client(), run.info.run_id, KEYS) == 15


def test_the_buffer_is_sent_after_the_flush_interval(mlflow_service: MlflowService) -> None:
    service = mlflow_service.model_copy(update={"metrics_flush_seconds": 0.05})

    with service, service.run_context(RunConfig(name="interval")) as run:
        service.log_metrics({"a": 1.0})
        assert service.drain(30)
        early = count_points(service.client(), run.info.run_id, ["a"])
        time.sleep(0.06)
        service.log_metrics({"a": 2.0}, step=1)
        assert service.drain(30)
        late = count_points(service.client(), run.info.run_id, ["a"])

    assert (early, late) == (0, 2)


def test_a_large_buffer_is_sent_in_batches_mlflow_accepts(mlflow_service: MlflowService) -> None:
    service = mlflow_service.model_copy(update={"metrics_flush_size": 10_000})

    with service, service.run_context(RunConfig(name="large")) as run:
        log_points(service, 700)  # 3,500 points, more than one log_batch may carry
        service.flush_metrics()
        assert service.drain(30)
        assert count_points(service.client(), run.info.run_id, KEYS) == 3500


def test_log_metrics_needs_an_active_run(mlflow_service: MlflowService) -> None:
    with mlflow_service, pytest.raises(RuntimeError, match="active MLflow run"):
        mlflow_service.log_metrics({"a": 1.0})


def test_metrics_mlflow_rejects_at_the_end_fail_a_successful_run(
    mlflow_service: MlflowService,
) -> None:
    # given an invalid metric name, that MLflow only rejects when the buffer is sent
    with (
        mlflow_service,
        pytest.raises(Exception, match="bad name!"),
        mlflow_service.run_context(RunConfig(name="bad metric")) as run,
    ):
        mlflow_service.log_metrics({"bad name!": 1.0})

    # then the error reached the job and the run ended FAILED: its metrics were not stored
    assert mlflow_service.client().get_run(run.info.run_id).info.status == "FAILED"


def test_metrics_mlflow_rejects_after_a_failure_are_logged_not_raised(
    mlflow_service: MlflowService, logger_service: LoggerService
) -> None:
    # given a run failing with bad metrics in the buffer
    def failing_job() -> None:
        with mlflow_service.run_context(RunConfig(name="bad metric")) as run:
            run_ids.append(run.info.run_id)
            mlflow_service.log_metrics({"bad name!": 1.0})
            raise RuntimeError("the job's own error")

    run_ids: list[str] = []
    with logger_service, mlflow_service, pytest.raises(RuntimeError, match="job's own error"):
        failing_job()
    [run_id] = run_ids

    # then the job's error is the one raised, the lost metrics are logged, and the run FAILED
    assert mlflow_service.client().get_run(run_id).info.status == "FAILED"
    assert "could not send the buffered metrics" in Path(logger_service.sink).read_text()
