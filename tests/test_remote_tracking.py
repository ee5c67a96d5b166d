"""The jobs against a real `mlflow server`, found through MLFLOW_TRACKING_URI.

Each job runs as `model_name run JOB` in the test's folder, configured for tracking by nothing but
`MLFLOW_TRACKING_URI=http://127.0.0.1:PORT` (plus a unique experiment and registered model name,
as the session's server is shared): one after the other in the test's process (nothing checked
depends on a process boundary, and each process cost a Python start and its imports), and as
processes started at once. What is checked is what a user would look at in
MLflow: runs, metrics, registered versions and aliases, and artifacts, both as the server lists
them and as files in the server's artifact store (proof that nothing was written to a local
`./mlruns` or `mlflow.db` instead).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from model_name.jobs.training import PLOTS
from tests.helpers.remote_jobs import (
    LOCAL_STORES,
    assert_model_stored,
    assert_one_version_per_training,
    assert_run_artifacts,
    assert_sane_metrics,
    stored,
    train_at_once,
    unique_names,
)
from tests.helpers.servers import MlflowServer

pytestmark = pytest.mark.slow


def test_train_promote_predict_against_a_tracking_server(
    isolated: Path, mlflow_server_instance: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_name.cli import main

    # given a tracking server known to the jobs only through MLFLOW_TRACKING_URI
    server = mlflow_server_instance
    experiment, model = unique_names("remote-e2e")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MODEL_NAME_MLFLOW__EXPERIMENT_NAME", experiment)
    monkeypatch.setenv("MODEL_NAME_MLFLOW__REGISTRY_NAME", model)
    monkeypatch.setenv("MODEL_NAME_ALERTS__ENABLE", "false")

    # when a model is trained, promoted and used, one job after the other
    for job in ("training", "promotion", "inference"):
        assert main(["run", job]) == 0, job

    # then the server holds the three runs, all finished
    client = MlflowClient(tracking_uri=server.url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    assert [run.data.tags["model_name.job"] for run in runs] == [
        "training",
        "promotion",
        "inference",
    ]
    assert [run.info.status for run in runs] == ["FINISHED"] * 3
    training, promotion, inference = runs
    assert_sane_metrics(training)
    # and version 1 of the model, from the training run, is the champion
    (version,) = client.search_model_versions(f"name = '{model}'")
    assert (str(version.version), version.run_id) == ("1", training.info.run_id)
    assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
    assert training.data.tags["model_name.registered_version"] == "1"
    assert inference.data.params["model_version"] == "1"
    # and every run's artifacts are on the server, in its artifact store
    recorded = {"config.yaml", "logs/run.log"}
    assert_run_artifacts(server, client, training, recorded | set(PLOTS))
    assert_run_artifacts(server, client, promotion, recorded)
    assert_run_artifacts(server, client, inference, recorded | {"predictions/predictions.csv"})
    assert_model_stored(server, client, version)
    # and the predictions the server keeps are those written in the current folder
    local = isolated / "outputs" / "predictions.csv"
    with local.open(newline="") as predictions:
        rows = list(csv.DictReader(predictions))
    assert len(rows) == 442 and "prediction" in rows[0]
    kept = stored(server, inference.info.artifact_uri) / "predictions" / "predictions.csv"
    assert kept.read_bytes() == local.read_bytes()
    # and the recorded configuration names the server, as read from MLFLOW_TRACKING_URI
    config = yaml.safe_load(
        (stored(server, training.info.artifact_uri) / "config.yaml").read_text()
    )
    assert config["mlflow"]["tracking_uri"] == server.url
    # and nothing was tracked locally
    assert not LOCAL_STORES & {path.name for path in isolated.iterdir()}


def test_three_trainings_at_once_lose_and_duplicate_nothing(
    isolated: Path, mlflow_server_instance: MlflowServer
) -> None:
    # given a tracking server known to the jobs only through MLFLOW_TRACKING_URI
    server = mlflow_server_instance

    # when three training processes on one experiment and one registered model start at once
    experiment, model = train_at_once(server, isolated, "remote-concurrent")

    # then the registry holds versions 1 to 3, each from its own FINISHED run
    _, runs = assert_one_version_per_training(server, model)
    # and every run is in the experiment asked for, which holds no other
    client = MlflowClient(tracking_uri=server.url)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    misplaced = {
        run.info.run_id: run.info.experiment_id
        for run in runs
        if run.info.experiment_id != found.experiment_id
    }
    assert not misplaced, f"runs outside experiment {found.experiment_id}: {misplaced}"
    assert {run.info.run_id for run in client.search_runs([found.experiment_id])} == {
        run.info.run_id for run in runs
    }
    # and nothing was tracked locally
    assert not LOCAL_STORES & {path.name for path in isolated.iterdir()}
