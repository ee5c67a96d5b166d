"""The jobs and their data contracts: training checks the declared one, the others the model's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from model_name.cli import main
from model_name.errors import ContractViolation
from model_name.io.services import MlflowService
from model_name.jobs import EvaluationJob, ExplanationsJob, TrainingJob
from tests.contracts.conftest import CONTRACT_YAML, diabetes_table
from tests.jobs.conftest import RunsOf


def violations_of(client: Any, run_id: str, folder: Path) -> dict[str, Any]:
    """The `contract/violations.json` artifact of a run, read back from the store."""
    local = client.download_artifacts(run_id, "contract/violations.json", str(folder))
    return dict(json.loads(Path(local).read_text()))


def test_training_on_data_that_breaks_its_contract_fails_in_one_line_with_the_report(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the contract in containers.yaml, and a table with bmi out of range on line 9
    from mlflow import MlflowClient

    (isolated / "containers.yaml").write_text(CONTRACT_YAML)
    diabetes_table(isolated / "data.csv", bmi=([7], 1.7))

    # when it trains on it
    code = main(["run", "training", "--set", "jobs.training.inputs=data.csv", "--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "alerts.enable=false"])  # fmt: skip

    # then the job fails with one line naming the file, column, check, count, line and value
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 1
    assert errors == [
        "model_name: error: job training failed: data.csv: column 'bmi' fails "
        "less_than_or_equal_to(0.5) in 1 of 100 rows: line 9 (1.7)"
    ]
    # and its run FAILED with the whole report as an artifact, and no model was registered
    client = MlflowClient(tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    assert run.info.status == "FAILED"
    report = violations_of(client, run.info.run_id, isolated / "downloaded")
    assert report["source"] == "data.csv"
    assert report["failures"] == [
        {"column": "bmi", "check": "less_than_or_equal_to(0.5)", "count": 1, "rows": [7], "values": [1.7]}
    ]  # fmt: skip
    assert client.search_registered_models() == []


def test_a_dry_run_checks_a_parquet_footer_against_the_contract_and_starts_nothing(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the contract, and a Parquet file whose s3 is text and has no s6
    from model_name.io import datasets

    (isolated / "containers.yaml").write_text(CONTRACT_YAML)
    frame = datasets.load_sample().drop(columns=["s6"]).astype({"s3": str})
    frame.to_parquet(isolated / "data.parquet")

    # when a dry run is asked for
    code = main(["run", "training", "--set", "jobs.training.inputs=data.parquet", "--dry-run"])

    # then it fails from the footer alone, names both problems, and nothing was created
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "model_name: error: data.parquet: column 's3' is large_string, the contract says "
        "dtype('float') (and 1 more failed check(s): 's6' column_in_dataframe)"
    ) in err.splitlines()
    assert not (isolated / "mlflow.db").exists()


def test_a_dry_run_of_a_table_that_keeps_the_contract_passes(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "containers.yaml").write_text(CONTRACT_YAML)
    diabetes_table(isolated / "data.parquet")

    code = main(["run", "training", "--set", "jobs.training.inputs=data.parquet", "--dry-run"])

    assert code == 0, capsys.readouterr().err


@pytest.fixture
def trained_with_contract(services: dict[str, Any]) -> None:
    """Version 1, trained on the diabetes set with the README's contract."""
    contract = yaml.safe_load(CONTRACT_YAML)["jobs"]["training"]["contract"]
    with TrainingJob(contract=contract, **services) as job:
        job.run()


@pytest.mark.usefixtures("trained_with_contract")
def test_evaluation_checks_its_table_against_the_versions_contract_with_no_configuration(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given an evaluation table whose target is negative on its rows 3 and 4 (lines 5, 6)
    path = diabetes_table(tmp_path / "holdout.csv", rows=50, target=([3, 4], -5.0))

    # when version 1 is evaluated on it, nothing said about contracts
    job = EvaluationJob(version=1, inputs=path, plots=False, **services)
    message = f"{path}: column 'target' fails greater_than_or_equal_to(0.0) in 2 of 50 rows: lines 5 (-5.0), 6 (-5.0)"  # fmt: skip
    with pytest.raises(ContractViolation, match=re.escape(message)), job:
        job.run()

    # then the run FAILED with the report, and the table is its dataset input
    (run,) = runs_of("evaluation")
    assert run.info.status == "FAILED"
    report = violations_of(mlflow_service.client(), run.info.run_id, tmp_path / "downloaded")
    assert report["failures"][0]["rows"] == [3, 4]


@pytest.mark.usefixtures("trained_with_contract")
def test_evaluation_and_explanations_of_tables_that_keep_the_contract_log_them_as_inputs(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf, tmp_path: Path
) -> None:
    path = diabetes_table(tmp_path / "holdout.parquet", rows=60)

    with EvaluationJob(version=1, inputs=path, plots=False, champion_alias=None, **services) as job:
        job.run()
    with ExplanationsJob(version=1, alias=None, inputs=path, sample_size=20, background_size=10, **services) as job:  # fmt: skip
        job.run()

    for kind in ("evaluation", "explanations"):
        (run,) = runs_of(kind)
        assert run.info.status == "FINISHED"
        inputs = mlflow_service.client().get_run(run.info.run_id).inputs.dataset_inputs
        # (evaluation also has mlflow.models.evaluate's own: the targets and predictions)
        (table,) = [item for item in inputs if item.dataset.name == "holdout"]
        assert {tag.key: tag.value for tag in table.tags}["mlflow.data.context"] == kind


@pytest.mark.usefixtures("trained_with_contract")
def test_explanations_refuse_a_table_that_breaks_the_versions_contract(
    services: dict[str, Any], runs_of: RunsOf, tmp_path: Path
) -> None:
    path = diabetes_table(tmp_path / "new.parquet", rows=30, s2=([0], 9.0))

    job = ExplanationsJob(version=1, alias=None, inputs=path, **services)
    with pytest.raises(ContractViolation, match=re.escape("column 's2' fails less_than_or_equal_to(0.5) in 1 of 30 rows: row 1 (9.0)")), job:  # fmt: skip
        job.run()

    assert runs_of("explanations")[0].info.status == "FAILED"


@pytest.mark.usefixtures("trained_with_contract")
def test_the_default_evaluation_checks_and_records_the_training_table_it_splits_again(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf
) -> None:
    with EvaluationJob(version=1, plots=False, champion_alias=None, **services) as job:
        job.run()

    (run,) = runs_of("evaluation")
    inputs = mlflow_service.client().get_run(run.info.run_id).inputs.dataset_inputs
    (table,) = [item for item in inputs if item.dataset.name == "diabetes"]
    training = runs_of("training")[0]
    (trained_on,) = mlflow_service.client().get_run(training.info.run_id).inputs.dataset_inputs
    assert table.dataset.digest == trained_on.dataset.digest
