"""The jobs as real processes against a real `mlflow server`, found through MLFLOW_TRACKING_URI.

Each job runs as `python -m model_name run JOB` in the test's folder, configured for tracking by
nothing but `MLFLOW_TRACKING_URI=http://127.0.0.1:PORT` (plus a unique experiment and registered
model name, as the session's server is shared). What is checked is what a user would look at in
MLflow: runs, metrics, registered versions and aliases, and artifacts, both as the server lists
them and as files in the server's artifact store (proof that nothing was written to a local
`./mlruns` or `mlflow.db` instead).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from model_name.jobs.training import PLOTS
from tests.helpers.servers import MlflowServer, without_coverage

pytestmark = pytest.mark.slow

JOB_TIMEOUT_SECONDS = 300
"""How long a job process may take, even among eight on two cores, before the test gives up."""

CONCURRENT_TRAININGS = 8

LOCAL_STORES = {"mlruns", "mlflow.db", "mlartifacts"}
"""What MLflow leaves in the current folder when it tracks or serves artifacts locally."""


def unique_names(label: str) -> tuple[str, str]:
    """Return an experiment name and a registered model name no other test uses."""
    suffix = uuid.uuid4().hex[:8]
    return f"{label}-{suffix}", f"{label}-model-{suffix}"


def job_env(server: MlflowServer, experiment: str, model: str) -> dict[str, str]:
    """The environment of a job process: the server through MLFLOW_TRACKING_URI, alerts off."""
    return {
        **without_coverage(os.environ),  # in-process tests cover the same code, and faster
        "MLFLOW_TRACKING_URI": server.url,
        "MODEL_NAME_MLFLOW__EXPERIMENT_NAME": experiment,
        "MODEL_NAME_MLFLOW__REGISTRY_NAME": model,
        "MODEL_NAME_ALERTS__ENABLE": "false",
    }


def start_job(job: str, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `python -m model_name run JOB` in `cwd`, its stdout and stderr going to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "model_name", "run", job],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for(process: subprocess.Popen[bytes], log: Path, deadline: float) -> int:
    """Wait for a job process until `deadline` (monotonic); return its exit code."""
    try:
        return process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"{log.stem} still running after {JOB_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def run_job(job: str, env: dict[str, str], cwd: Path) -> None:
    """Run one job process to its end and check that it exited 0 (its output shown otherwise)."""
    log = cwd / "job-logs" / f"{job}.log"
    process = start_job(job, env, cwd, log)
    code = wait_for(process, log, time.monotonic() + JOB_TIMEOUT_SECONDS)
    assert code == 0, f"{job} exited {code}:\n{log.read_text()}"


def stored(server: MlflowServer, artifact_uri: str) -> Path:
    """Return the folder of the server's artifact store that a `mlflow-artifacts:` URI names."""
    parsed = urlparse(artifact_uri)
    assert parsed.scheme == "mlflow-artifacts", artifact_uri  # proxied by the server
    return server.artifacts / parsed.path.lstrip("/")


def listed(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    """Return the paths of a run's artifacts under `path`, as the server lists them."""
    return {item.path for item in client.list_artifacts(run_id, path)}


def assert_run_artifacts(
    server: MlflowServer, client: MlflowClient, run: Run, expected: set[str]
) -> None:
    """Check that the server lists each of a run's artifacts and holds it in its store."""
    run_id = run.info.run_id
    folders = {path.partition("/")[0] for path in expected if "/" in path}
    found = listed(client, run_id) | {
        path for folder in folders for path in listed(client, run_id, folder)
    }
    assert expected <= found, f"run {run_id} lacks {expected - found}"
    folder = stored(server, run.info.artifact_uri)
    for path in expected:
        assert (folder / path).is_file(), f"{path} of run {run_id} is not in {folder}"


def assert_model_stored(server: MlflowServer, client: MlflowClient, version: ModelVersion) -> None:
    """Check that the model of a version comes from its run, and its files are in the store."""
    assert version.source is not None
    model_id = version.source.removeprefix("models:/")  # MLflow 3: the version's logged model
    assert model_id.startswith("m-"), version.source
    logged = client.get_logged_model(model_id)
    assert logged.source_run_id == version.run_id
    files = {item.path for item in client.list_logged_model_artifacts(model_id)}
    assert {"MLmodel", "model.skops", "requirements.txt"} <= files, files
    folder = stored(server, logged.artifact_location)
    assert (folder / "MLmodel").is_file()
    assert (folder / "model.skops").is_file()


def assert_sane_metrics(run: Run) -> None:
    metrics = run.data.metrics
    assert metrics["r2"] > 0.3
    assert 0 < metrics["mae"] < metrics["rmse"] < 100


def test_train_promote_predict_against_a_tracking_server(
    isolated: Path, mlflow_server_instance: MlflowServer
) -> None:
    # given a tracking server known to the jobs only through MLFLOW_TRACKING_URI
    server = mlflow_server_instance
    experiment, model = unique_names("remote-e2e")
    env = job_env(server, experiment, model)

    # when a model is trained, promoted and used, each job in its own process
    for job in ("training", "promotion", "inference"):
        run_job(job, env, isolated)

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


def test_eight_trainings_at_once_lose_and_duplicate_nothing(
    isolated: Path, mlflow_server_instance: MlflowServer
) -> None:
    # given eight training processes on one experiment and one registered model
    server = mlflow_server_instance
    experiment, model = unique_names("remote-concurrent")
    env = job_env(server, experiment, model)
    logs = [
        isolated / "job-logs" / f"training-{index}.log" for index in range(CONCURRENT_TRAININGS)
    ]

    # when they all start at once
    started = time.monotonic()
    processes = [start_job("training", env, isolated, log) for log in logs]
    try:
        deadline = started + JOB_TIMEOUT_SECONDS
        codes = [
            wait_for(process, log, deadline) for process, log in zip(processes, logs, strict=True)
        ]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    elapsed = time.monotonic() - started
    print(f"\n{CONCURRENT_TRAININGS} concurrent trainings against {server.url}: {elapsed:.1f} s")

    # then each exited 0
    failures = {
        index: f"exit {code}:\n{logs[index].read_text()}"
        for index, code in enumerate(codes)
        if code != 0
    }
    assert not failures, "\n\n".join(f"training-{i} {text}" for i, text in failures.items())
    # and the registry holds versions 1 to 8, none lost and none doubled
    client = MlflowClient(tracking_uri=server.url)
    versions = client.search_model_versions(f"name = '{model}'")
    assert sorted(int(version.version) for version in versions) == list(
        range(1, CONCURRENT_TRAININGS + 1)
    )
    # and they come from eight distinct runs, all in the experiment asked for
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = [client.get_run(str(version.run_id)) for version in versions]
    assert len({run.info.run_id for run in runs}) == CONCURRENT_TRAININGS
    misplaced = {
        run.info.run_id: run.info.experiment_id
        for run in runs
        if run.info.experiment_id != found.experiment_id
    }
    assert not misplaced, f"runs outside experiment {found.experiment_id}: {misplaced}"
    assert {run.info.run_id for run in client.search_runs([found.experiment_id])} == {
        run.info.run_id for run in runs
    }
    # and each run finished with its metrics, its artifacts and its own model
    for version, run in zip(versions, runs, strict=True):
        assert run.info.status == "FINISHED"
        assert run.data.tags["model_name.job"] == "training"
        assert run.data.tags["model_name.registered_version"] == str(version.version)
        assert_sane_metrics(run)
        assert_run_artifacts(server, client, run, {"config.yaml", "logs/run.log", *PLOTS})
        assert_model_stored(server, client, version)
    assert len({version.source for version in versions}) == CONCURRENT_TRAININGS
    # and nothing was tracked locally
    assert not LOCAL_STORES & {path.name for path in isolated.iterdir()}
