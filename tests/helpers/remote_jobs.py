"""Jobs as real processes against a real `mlflow server`, and what a user checks on the server.

A job process is configured for tracking by nothing but `MLFLOW_TRACKING_URI` (plus a unique
experiment and registered model name, as a session's server is shared). The checks look at the
server as a user would (runs, metrics, versions, artifacts as listed) and at the files in its
artifact store (proof that nothing was written to a local `./mlruns` or `mlflow.db` instead).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from model_name.jobs.training import PLOTS
from tests.helpers.servers import MlflowServer, without_coverage

JOB_TIMEOUT_SECONDS = 300
"""How long a job process may take, even among several on two cores, before the test gives up."""

CONCURRENT_TRAININGS = 3
"""Training processes started at once: three race for versions as well as eight did, at 3/8
of the CPU (each is a Python start, MLflow and scikit-learn imports, a fit and its plots)."""

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


def train_at_once(server: MlflowServer, cwd: Path, label: str) -> tuple[str, str]:
    """Start `CONCURRENT_TRAININGS` training processes at once; check that each exited 0.

    Returns:
        The experiment and registered model names they used.
    """
    experiment, model = unique_names(label)
    env = job_env(server, experiment, model)
    logs = [cwd / "job-logs" / f"training-{index}.log" for index in range(CONCURRENT_TRAININGS)]
    started = time.monotonic()
    processes = [start_job("training", env, cwd, log) for log in logs]
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
    failures = [
        f"{log.name} exited {code}:\n{log.read_text()}"
        for code, log in zip(codes, logs, strict=True)
        if code
    ]
    assert not failures, "\n\n".join(failures)
    return experiment, model


def assert_one_version_per_training(
    server: MlflowServer, model: str
) -> tuple[list[ModelVersion], list[Run]]:
    """Check versions 1 to `CONCURRENT_TRAININGS`, none lost or doubled, each from its own run.

    Each run finished with its metrics, its artifacts and its own model, as the server stores
    them. Returns the versions and their runs, in the same order.
    """
    client = MlflowClient(tracking_uri=server.url)
    versions = client.search_model_versions(f"name = '{model}'")
    assert sorted(int(version.version) for version in versions) == list(
        range(1, CONCURRENT_TRAININGS + 1)
    )
    runs = [client.get_run(str(version.run_id)) for version in versions]
    assert len({run.info.run_id for run in runs}) == CONCURRENT_TRAININGS
    assert len({version.source for version in versions}) == CONCURRENT_TRAININGS
    for version, run in zip(versions, runs, strict=True):
        assert run.info.status == "FINISHED"
        assert run.data.tags["model_name.job"] == "training"
        assert run.data.tags["model_name.registered_version"] == str(version.version)
        assert_sane_metrics(run)
        assert_run_artifacts(server, client, run, {"config.yaml", "logs/run.log", *PLOTS})
        assert_model_stored(server, client, version)
    return versions, runs
