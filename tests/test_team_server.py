"""The README's team server, as tested: `mlflow server` on PostgreSQL takes concurrent trainings.

The server's backend store is a database on the session's PostgreSQL server; three training
processes reach it only through `MLFLOW_TRACKING_URI`, all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.postgres import PostgresServer
from tests.helpers.remote_jobs import assert_one_version_per_training, train_at_once
from tests.helpers.servers import MlflowServer, start_server, stop

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


def test_three_concurrent_trainings_on_a_postgresql_backed_server(
    isolated: Path, postgres_mlflow_server: MlflowServer
) -> None:
    # given a tracking server whose backend store is PostgreSQL
    server = postgres_mlflow_server

    # when three training processes on one experiment and one registered model start at once
    _, model = train_at_once(server, isolated, "team")

    # then the registry holds versions 1 to 3, each from its own FINISHED run with its metrics,
    # artifacts and model
    assert_one_version_per_training(server, model)
