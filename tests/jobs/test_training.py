"""The training job: what a user finds in MLflow after training (real store, no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic as pdt
import pytest

from model_name.io import datasets, registries
from model_name.io.services import MlflowService
from model_name.jobs.training import PLOTS, TrainingJob

RunsOf = Callable[[str], list[Any]]


def artifact_paths(mlflow_service: MlflowService, run_id: str, path: str | None = None) -> set[str]:
    return {item.path for item in mlflow_service.client().list_artifacts(run_id, path)}


def test_training_on_diabetes_logs_metrics_params_plots_and_registers_a_model(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf
) -> None:
    # given the default training job (ridge on the bundled diabetes data)
    job = TrainingJob(**services)

    # when it runs
    with job:
        outputs = job.run()

    # then its run finished with sane held-out metrics
    (run,) = runs_of("training")
    assert run.info.status == "FINISHED"
    assert run.info.run_id == outputs["run"].info.run_id
    metrics = run.data.metrics
    assert metrics["r2"] > 0.3
    assert 0 < metrics["mae"] < metrics["rmse"] < 100
    # and the parameters say what was trained on what
    params = run.data.params
    assert params["estimator"] == "ridge"
    assert params["alpha"] == "1.0"
    assert params["inputs"] == "sklearn.datasets.load_diabetes"
    assert (params["n_train"], params["n_test"], params["n_features"]) == ("353", "89", "10")
    assert "n_estimators" not in params
    # and the two plots are artifacts
    assert artifact_paths(mlflow_service, run.info.run_id, "plots") == set(PLOTS)
    # and the data set is recorded as the run's input
    assert [item.dataset.source for item in run.inputs.dataset_inputs] != []
    # and the model is registered as version 1, from this run, with a signature
    client = mlflow_service.client()
    version = registries.latest_version(client, mlflow_service.registry_name)
    assert str(version.version) == "1"
    assert version.run_id == run.info.run_id
    assert version.tags["estimator"] == "ridge"
    assert run.data.tags["model_name.registered_version"] == "1"
    with mlflow_service:
        model = registries.load_model(registries.model_uri(mlflow_service.registry_name, version=1))
    schema = model.metadata.get_input_schema()
    assert schema is not None and schema.input_names()[:3] == ["age", "sex", "bmi"]
    assert model.metadata.saved_input_example_info is not None
    frame = datasets.load_sample()
    assert len(model.predict(frame.drop(columns=["target"]))) == 442


def test_a_second_training_registers_version_2_with_its_own_estimator(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf
) -> None:
    # given a model trained once
    with TrainingJob(**services) as first:
        first.run()

    # when a gradient boosting model is trained next
    job = TrainingJob(
        estimator="gradient_boosting", n_estimators=20, max_depth=2, learning_rate=0.2, **services
    )
    with job:
        outputs = job.run()

    # then it is version 2, tracked with the hyperparameters it used
    assert str(outputs["model_version"].version) == "2"
    newest = runs_of("training")[0]
    assert newest.data.params["estimator"] == "gradient_boosting"
    assert newest.data.params["max_depth"] == "2"
    assert newest.data.params["learning_rate"] == "0.2"
    assert "alpha" not in newest.data.params
    assert newest.data.metrics["r2"] > 0.3
    # and the tree model loads back from the registry (skops trusts its types)
    with mlflow_service:
        model = registries.load_model(registries.model_uri(mlflow_service.registry_name, version=2))
    assert len(model.predict(outputs["x_test"])) == 89


def test_training_reads_a_csv_file_with_its_own_target_column(
    services: dict[str, Any], tmp_path: Path, runs_of: RunsOf
) -> None:
    # given a CSV file whose target column is called "progression"
    path = tmp_path / "diabetes.csv"
    datasets.load_sample().rename(columns={"target": "progression"}).head(200).to_csv(
        path, index=False
    )

    # when a job trains on it without registering
    job = TrainingJob(
        inputs=path, target="progression", test_size=0.25, register_version=False, **services
    )
    with job:
        outputs = job.run()

    # then the run used that file's 200 rows and nothing was registered
    (run,) = runs_of("training")
    assert run.info.status == "FINISHED"
    assert run.data.params["inputs"] == str(path)
    assert (run.data.params["n_train"], run.data.params["n_test"]) == ("150", "50")
    assert outputs["model_version"] is None
    assert "model_name.registered_version" not in run.data.tags


def test_a_missing_target_column_fails_the_run_with_the_columns_there_are(
    services: dict[str, Any], tmp_path: Path, runs_of: RunsOf
) -> None:
    # given a file without the target column
    path = tmp_path / "features.parquet"
    datasets.load_sample().drop(columns=["target"]).to_parquet(path)

    # when the job runs, then it fails naming the column and the run is FAILED
    job = TrainingJob(inputs=path, **services)
    with pytest.raises(ValueError, match=r"target column 'target' is not in .*'bmi'"), job:
        job.run()
    assert runs_of("training")[0].info.status == "FAILED"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"test_size": 1.0}, "test_size"),
        ({"test_size": 0}, "test_size"),
        ({"estimator": "svm"}, "estimator"),
        ({"alpha": -1}, "alpha"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"inputs": "data.txt"}, "inputs"),
        ({"target": ""}, "target"),
    ],
)
def test_bad_parameters_are_refused_when_the_job_is_built(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(pdt.ValidationError, match=field):
        TrainingJob(**fields)


@pytest.mark.parametrize(
    ("fields", "regressor", "hyperparameters"),
    [
        ({}, "Ridge", {"alpha": 1.0}),
        ({"estimator": "random_forest"}, "RandomForestRegressor", {"n_estimators": 100}),
        (
            {"estimator": "random_forest", "max_depth": 4},
            "RandomForestRegressor",
            {"n_estimators": 100, "max_depth": 4},
        ),
        (
            {"estimator": "gradient_boosting"},
            "GradientBoostingRegressor",
            {"n_estimators": 100, "learning_rate": 0.1},
        ),
    ],
)
def test_the_pipeline_scales_then_fits_the_chosen_regressor(
    fields: dict[str, Any], regressor: str, hyperparameters: dict[str, Any]
) -> None:
    job = TrainingJob(**fields)

    pipeline = job.build_pipeline()

    assert [type(step).__name__ for _, step in pipeline.steps] == ["StandardScaler", regressor]
    assert job.hyperparameters() == hyperparameters
    chosen = pipeline.named_steps["regressor"].get_params()
    assert {name: chosen[name] for name in hyperparameters} == hyperparameters


def test_a_dataset_logged_by_a_concurrent_run_at_the_same_moment_is_still_recorded(
    services: dict[str, Any], runs_of: RunsOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given another run inserts the same dataset between this run's lookup and its insert: the
    # race cannot be timed on demand, so the first call fails as MLflow's does then (one patch)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    log_inputs = MlflowClient.log_inputs
    races = iter([True])

    def racing_log_inputs(self: MlflowClient, *args: Any, **kwargs: Any) -> None:
        if next(races, False):
            raise MlflowException("UNIQUE constraint failed: datasets.experiment_id, ...")
        log_inputs(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_inputs", racing_log_inputs)
    job = TrainingJob(**services, register_version=False)

    # when the job trains
    with job:
        job.run()

    # then its run finished, with the dataset recorded as its input
    (run,) = runs_of("training")
    assert run.info.status == "FINISHED"
    assert [item.dataset.name for item in run.inputs.dataset_inputs] == ["diabetes"]
