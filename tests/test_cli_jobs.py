"""The three project jobs end to end through the command line: train, promote, predict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.jobs import run_job


def test_train_promote_and_predict_from_the_command_line(isolated: Path, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri=tracking_uri)

    # when a model is trained twice, the first version promoted, and inference run
    assert run_job("training", tracking_uri) == 0
    assert run_job("training", tracking_uri, "jobs.training.alpha=0.5") == 0
    assert run_job("promotion", tracking_uri, "jobs.promotion.version=1") == 0
    assert run_job("inference", tracking_uri, "jobs.inference.outputs=out/p.parquet") == 0

    # then MLflow holds the four finished runs, two versions and the champion alias
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [run.data.tags["model_name.job"] for run in runs] == [
        "training",
        "training",
        "promotion",
        "inference",
    ]
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert runs[0].data.metrics["r2"] > 0.3
    assert runs[1].data.params["alpha"] == "0.5"
    assert client.get_registered_model("model_name").aliases == {"champion": 1}
    assert runs[3].data.params["model_version"] == "1"
    # and the predictions are in the current folder and in the run
    assert len(pd.read_parquet(isolated / "out" / "p.parquet")) == 442
    artifacts = client.list_artifacts(runs[3].info.run_id, "predictions")
    assert [item.path for item in artifacts] == ["predictions/p.parquet"]


def test_promoting_a_missing_version_exits_1_and_the_run_failed(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_job("promotion", tracking_uri, "jobs.promotion.version=3") == 1

    err = capsys.readouterr().err
    assert "job promotion failed: cannot promote version 3" in err
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_a_bad_job_parameter_exits_2_before_anything_runs(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_job("training", tracking_uri, "jobs.training.test_size=1.5") == 2

    assert "jobs.training.test_size" in capsys.readouterr().err
