"""Points written straight into a SQLite store read back exactly as MLflow's own `log_batch` stores them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from model_name.tracking.sqlite_metrics import write_points

POINTS = [
    ("loss", 0.5, 1000, 0),
    ("loss", 0.25, 1001, 1),
    ("loss", 0.25, 1001, 1),  # sent twice (a resend): stored once
    ("loss", 0.75, 999, 1),  # same step, earlier time: not the latest
    ("ratio", math.nan, 1000, 3),
    ("ratio", 2.0, 1000, 2),  # an earlier step, logged after: not the latest
    ("peak", math.inf, 1000, 0),
    ("floor", -math.inf, 1000, 0),
]


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri)


def stored(client: MlflowClient, run_id: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A run's latest values and every key's history, as text (NaN compares equal so)."""
    run = client.get_run(run_id)
    latest = {key: repr(value) for key, value in run.data.metrics.items()}
    history = {
        key: sorted(
            f"{point.step}|{point.timestamp}|{point.value!r}"
            for point in client.get_metric_history(run_id, key)
        )
        for key in latest
    }
    return latest, history


def test_points_read_back_as_mlflow_stores_them(client: MlflowClient, tracking_uri: str) -> None:
    # given the same points, in two batches, through MLflow's log_batch and through write_points
    experiment = client.create_experiment("points")
    by_mlflow = client.create_run(experiment).info.run_id
    direct = client.create_run(experiment).info.run_id
    for batch in (POINTS[:4], POINTS[4:]):
        client.log_batch(by_mlflow, metrics=[Metric(*point) for point in batch])
    path = Path(tracking_uri.removeprefix("sqlite:///"))
    write_points(path, [(direct, POINTS[:4])])
    write_points(path, [(direct, POINTS[4:]), (direct, POINTS[:2])])  # some again, later

    # then MLflow reads both runs back the same: latest values and every point's history
    assert stored(client, direct) == stored(client, by_mlflow)


def test_a_deleted_or_unknown_run_is_refused_as_mlflow_refuses_it(
    client: MlflowClient, tracking_uri: str
) -> None:
    # given a deleted run, and an id no run has
    experiment = client.create_experiment("refused")
    deleted = client.create_run(experiment).info.run_id
    client.delete_run(deleted)
    path = Path(tracking_uri.removeprefix("sqlite:///"))

    # then each is refused with MLflow's error code, and nothing is written
    with pytest.raises(MlflowException) as refused:
        write_points(path, [(deleted, POINTS[:1])])
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as unknown:
        write_points(path, [("0" * 32, POINTS[:1])])
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.restore_run(deleted)
    assert client.get_run(deleted).data.metrics == {}
