"""The training job refuses data too small to split and score, and never registers NaN metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from model_name.errors import JobError
from model_name.jobs.training import check_finite
from tests.helpers.jobs import run_job


@pytest.mark.parametrize(
    ("rows", "test_size", "sizes"),
    [(2, 0.2, "leaves 1 to train on and 1 to score"), (10, 0.1, "leaves 9 to train on and 1 to score"), (3, 0.9, "leaves 0 to train on and 3 to score")],
)  # fmt: skip
def test_too_few_rows_fail_in_one_line_naming_the_sizes_and_register_nothing(
    isolated: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
    rows: int,
    test_size: float,
    sizes: str,
) -> None:
    # given a table too small for the split
    pd.DataFrame({"x": range(rows), "target": [float(i) for i in range(rows)]}).to_csv(
        "small.csv", index=False
    )

    # when the training runs on it
    code = run_job(
        "training",
        tracking_uri,
        "jobs.training.inputs=small.csv",
        f"jobs.training.test_size={test_size}",
    )

    # then it fails in one line naming the sizes, and no model is registered
    assert code == 1
    err = capsys.readouterr().err
    assert f"job training failed: small.csv has {rows} rows: test_size {test_size} {sizes}" in err
    client = MlflowClient(tracking_uri=tracking_uri)
    assert client.search_registered_models() == []
    (run,) = client.search_runs([client.get_experiment_by_name("model_name").experiment_id])  # type: ignore[union-attr]
    assert run.info.status == "FAILED"


def test_metrics_that_are_not_finite_are_refused() -> None:
    with pytest.raises(
        JobError, match=r"not finite \(\{'r2': nan\}\); the model is not registered"
    ):
        check_finite({"rmse": 1.0, "r2": float("nan")})
