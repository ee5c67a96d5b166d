"""The README's team server, as tested: `mlflow server` on PostgreSQL takes concurrent trainings.

The server's backend store is a database on the session's PostgreSQL server; eight training
processes reach it only through `MLFLOW_TRACKING_URI`, all at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from model_name.jobs.training import PLOTS
from tests.helpers.postgres import PostgresServer
from tests.helpers.servers import MlflowServer, start_server, stop
from tests.test_remote_tracking import (
    CONCURRENT_TRAININGS,
    JOB_TIMEOUT_SECONDS,
    assert_model_stored,
    assert_run_artifacts,
    assert_sane_metrics,
    job_env,
    start_job,
    unique_names,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres_mlflow_server(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """An `mlflow server` whose backend store is a new PostgreSQL database; stopped after."""
    database = postgres_server.create_database("mlflow")
    backend = postgres_server.url(database).replace("://", "+psycopg2://", 1)
    server = start_server(tmp_path_factory.mktemp("mlflow-pg"), backend_uri=backend)
    try:
        yield server
    finally:
        stop(server.process)


def test_eight_concurrent_trainings_on_a_postgresql_backed_server(
    isolated: Path, postgres_mlflow_server: MlflowServer
) -> None:
    # given eight training processes on one experiment and one registered model
    server = postgres_mlflow_server
    experiment, model = unique_names("team")
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
    print(f"\n{CONCURRENT_TRAININGS} trainings on PostgreSQL: {time.monotonic() - started:.1f} s")

    # then each exited 0
    failures = [
        f"{log.name}:\n{log.read_text()}" for code, log in zip(codes, logs, strict=True) if code
    ]
    assert not failures, "\n\n".join(failures)
    # and the registry holds versions 1 to 8, from eight FINISHED runs
    client = MlflowClient(tracking_uri=server.url)
    versions = client.search_model_versions(f"name = '{model}'")
    assert sorted(int(version.version) for version in versions) == list(
        range(1, CONCURRENT_TRAININGS + 1)
    )
    runs = [client.get_run(str(version.run_id)) for version in versions]
    assert [run.info.status for run in runs] == ["FINISHED"] * CONCURRENT_TRAININGS
    assert len({run.info.run_id for run in runs}) == CONCURRENT_TRAININGS
    # and each run has its metrics, artifacts and model, as the server stores them
    for version, run in zip(versions, runs, strict=True):
        assert run.data.tags["model_name.registered_version"] == str(version.version)
        assert_sane_metrics(run)
        assert_run_artifacts(server, client, run, {"config.yaml", "logs/run.log", *PLOTS})
        assert_model_stored(server, client, version)
