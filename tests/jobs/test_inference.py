"""The inference job: the predictions file, its run artifact and the model version recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pydantic as pdt
import pytest

from model_name.errors import ModelNotFoundError
from model_name.io import datasets
from model_name.io.services import MlflowService
from model_name.jobs.inference import InferenceJob
from tests.jobs.conftest import RunsOf


def test_inference_predicts_the_diabetes_rows_with_the_champion(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    champion: str,
    runs_of: RunsOf,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a champion model and the default job, run from an empty folder
    monkeypatch.chdir(tmp_path)
    job = InferenceJob(**services)

    # when it runs
    with job:
        outputs = job.run()

    # then it wrote one prediction per diabetes row to the default file
    written = pd.read_csv(tmp_path / "outputs" / "predictions.csv")
    assert list(written.columns) == ["prediction"]
    assert len(written) == 442
    assert written["prediction"].between(0, 400).all()
    # and the run finished, naming the version it used, with the file as artifact
    (run,) = runs_of("inference")
    assert run.info.status == "FINISHED"
    assert run.data.params["model_version"] == "1"
    assert run.data.params["model_alias"] == "champion"
    assert run.data.params["model_uri"] == f"models:/{champion}/1"
    assert run.data.metrics["n_predictions"] == 442
    artifacts = mlflow_service.client().list_artifacts(run.info.run_id, "predictions")
    assert [item.path for item in artifacts] == ["predictions/predictions.csv"]
    assert outputs["n_predictions"] == 442


def test_inference_reads_a_csv_and_writes_parquet_with_an_explicit_version(
    services: dict[str, Any], champion: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given a CSV of 50 rows that still has its target column, in another column order
    inputs = tmp_path / "new.csv"
    frame = datasets.load_sample().head(50)
    frame[list(reversed(frame.columns))].to_csv(inputs, index=False)
    outputs_path = tmp_path / "deep" / "folder" / "scores.parquet"

    # when version 2 predicts for it into a Parquet file
    job = InferenceJob(
        version=2, inputs=inputs, outputs=outputs_path, prediction_column="score", **services
    )
    with job:
        job.run()

    # then the file has one score per input row, and the run names version 2 (no alias)
    written = pd.read_parquet(outputs_path)
    assert list(written.columns) == ["score"] and len(written) == 50
    run = runs_of("inference")[0]
    assert (run.data.params["model_version"], run.data.params["model_alias"]) == ("2", "none")
    assert run.data.params["inputs"] == str(inputs)


def test_inference_without_alias_nor_version_uses_the_latest_version(
    services: dict[str, Any], registered_model: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    job = InferenceJob(alias=None, outputs=tmp_path / "p.csv", **services)

    with job:
        job.run()

    assert runs_of("inference")[0].data.params["model_version"] == "2"


def test_a_missing_alias_fails_the_run_naming_the_aliases_there_are(
    services: dict[str, Any], champion: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    job = InferenceJob(alias="production", outputs=tmp_path / "p.csv", **services)

    with pytest.raises(ModelNotFoundError, match="no alias 'production'") as caught, job:
        job.run()

    assert f"cannot load the version aliased 'production' of model '{champion}'" in str(
        caught.value
    )
    assert "its aliases: champion -> 1" in str(caught.value)
    assert runs_of("inference")[0].info.status == "FAILED"
    assert not (tmp_path / "p.csv").exists()


def test_inputs_missing_a_feature_column_fail_the_run(
    services: dict[str, Any], champion: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    inputs = tmp_path / "partial.csv"
    datasets.load_sample().drop(columns=["bmi"]).to_csv(inputs, index=False)

    job = InferenceJob(inputs=inputs, outputs=tmp_path / "p.csv", **services)
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['bmi'\]"), job:
        job.run()

    assert runs_of("inference")[0].info.status == "FAILED"


@pytest.mark.parametrize(
    "fields", [{"outputs": "predictions.json"}, {"inputs": "x.xlsx"}, {"version": 0}]
)
def test_bad_paths_and_versions_are_refused_when_the_job_is_built(fields: dict[str, Any]) -> None:
    with pytest.raises(pdt.ValidationError):
        InferenceJob(**fields)
