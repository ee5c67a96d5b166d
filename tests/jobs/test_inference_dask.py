"""Inference on a real Dask cluster: a scheduler and two workers on 127.0.0.1, one of them killed."""

from __future__ import annotations

import concurrent.futures
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model_name.batches.predict import loaded_models
from model_name.io.services import MlflowService
from model_name.jobs.inference import InferenceJob
from tests.helpers.dask_cluster import DaskCluster
from tests.helpers.logs import lines
from tests.jobs.test_inference_batches import (
    expected_predictions,
    features_table,
    kill_once_parts_are_written,
)

pytestmark = pytest.mark.slow


def test_the_batches_run_as_tasks_on_the_cluster_and_each_worker_loads_the_model_once(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    champion: str,
    dask_cluster: DaskCluster,
    tmp_path: Path,
) -> None:
    # given 2,000 rows in 20 row groups, and a scheduler with two workers
    inputs = tmp_path / "customers.parquet"
    frame = features_table(2000)
    frame.to_parquet(inputs, index=False, row_group_size=100)
    outputs = tmp_path / "scores.csv"

    # when the job runs on the cluster
    job = InferenceJob(
        inputs=inputs, outputs=outputs, batch_rows=100, passthrough=["customer"],
        engine="dask", scheduler=dask_cluster.address, **services,
    )  # fmt: skip
    with job:
        job.run()

    # then each row is there once, predicted as the model predicts the whole table
    written = pd.read_csv(outputs)
    assert written["customer"].tolist() == frame["customer"].tolist()
    np.testing.assert_allclose(
        written["prediction"], expected_predictions(mlflow_service, champion, 1, frame)
    )
    # and every worker holds one model at most, loaded from a local folder
    from distributed import Client

    with Client(dask_cluster.address) as client:
        held = client.run(loaded_models)
    assert all(len(models) <= 1 for models in held.values()), held
    assert sum(len(models) for models in held.values()) >= 1


def test_a_worker_killed_mid_run_has_its_batches_run_elsewhere_each_row_once(
    services: dict[str, Any], champion: str, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    # given 6,000 rows in 60 batches, and a watcher that kills one worker (SIGKILL) as soon as
    # three parts are written
    inputs = tmp_path / "customers.parquet"
    frame = features_table(6000)
    frame.to_parquet(inputs, index=False, row_group_size=100)
    outputs = tmp_path / "scores.parquet"
    parts = tmp_path / "scores.parquet.parts"
    victim = dask_cluster.workers[0]
    watcher = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    killed_at = watcher.submit(kill_once_parts_are_written, victim, parts, 3, seconds=300)

    # when the job runs on the cluster
    job = InferenceJob(
        inputs=inputs, outputs=outputs, batch_rows=100, passthrough=["customer"],
        engine="dask", scheduler=dask_cluster.address, **services,
    )  # fmt: skip
    with job:
        job.run()
    written_when_killed = killed_at.result(timeout=10)
    watcher.shutdown()

    # then the worker died mid-run, and the output still has every row exactly once
    assert written_when_killed is not None and written_when_killed < 60, written_when_killed
    assert victim.wait(timeout=10) == -signal.SIGKILL
    written = pd.read_parquet(outputs)
    assert written["customer"].tolist() == frame["customer"].tolist()
    log = "\n".join(lines(tmp_path / "logs" / "app.log"))
    assert "Wrote 6000 predictions to" in log


def test_with_no_scheduler_a_local_cluster_is_started_and_closed(
    services: dict[str, Any], champion: str, tmp_path: Path
) -> None:
    # given the bundled sample and no scheduler address
    job = InferenceJob(
        outputs=tmp_path / "p.csv", batch_rows=200, engine="dask", workers=1, **services
    )

    # when it runs
    with job:
        job.run()

    # then the predictions are all there
    assert len(pd.read_csv(tmp_path / "p.csv")) == 442
